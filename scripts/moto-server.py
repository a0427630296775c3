"""moto's server (the SQS-compatible server of the tests) without its lost-delete race.

moto's server answers each HTTP request on its own thread, but moto 5.2.5's
`Queue.delete_message` rebuilds the queue's message list from a snapshot and assigns it back:
a delete, a send or a redrive to the DLQ that lands on another thread in between is undone
(a deleted message comes back; a sent one vanishes). Measured: 1,000 messages deleted by 8
threads (DeleteMessageBatch, 10 per call, every entry answered successful) left 17 in the queue.
Real SQS has no such race, and triage sends up to 8 calls at once as AWS allows.

So this runs moto's own `main` with that one method replaced by the same logic done in place,
under the lock moto's `add_message` already takes to append. (Serializing every call instead was
tried: sends queued behind slow receives timed out.)

One more method is replaced for speed, with the same answer: for each message a receive hands
out, moto checks its retention by building *all* of the queue's attributes three times over —
each count a scan of the whole queue — so one receive of 10 from a 1,000-message queue cost
about a second (≈ 10 messages/s, slower with the suite beside it). The replacement reads the
queue's retention period directly. Nothing else of moto changes.
Usage: moto-server.py [moto_server's arguments]  (run with the venv's python)
"""

import sys

from moto.server import main
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.core.utils import unix_time
from moto.sqs.models import Queue, SQSBackend


def _delete_message_in_place(self, receipt_handle):
    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            # Already deleted: moto answers success again, as before.
            return
        doomed = [m for m in self._messages if m.had_receipt_handle(receipt_handle)]
        if not doomed:
            raise ReceiptHandleIsInvalid()
        for message in doomed:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            try:
                self._messages.remove(message)
            except ValueError:
                pass  # moved to a DLQ by a receive on another thread meanwhile


def _retained(self, queue_name, message):
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return retain_until > unix_time()


Queue.delete_message = _delete_message_in_place
SQSBackend.is_message_valid_based_on_retention_period = _retained

if __name__ == "__main__":
    main(sys.argv[1:])
