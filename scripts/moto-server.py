"""moto's server (the SQS-compatible server of the tests) without its lost-delete race, and with
its SQS calls at the cost of the batch instead of the queue's depth — every answer moto's own.

moto's server answers each HTTP request on its own thread, but moto 5.2.5's
`Queue.delete_message` rebuilds the queue's message list from a snapshot and assigns it back:
a delete, a send or a redrive to the DLQ that lands on another thread in between is undone
(a deleted message comes back; a sent one vanishes). Measured: 1,000 messages deleted by 8
threads (DeleteMessageBatch, 10 per call, every entry answered successful) left 17 in the queue.
Real SQS has no such race, and triage sends up to 8 calls at once as AWS allows.

So this runs moto's own `main` with that method replaced by the same logic done in place,
under the lock moto's `add_message` already takes to append. (Serializing every call instead was
tried: sends queued behind slow receives timed out.)

The other replacements are for speed. moto's SQS does work proportional to the queue's depth on
every call — Python-level, each message's visibility and delay read through a `datetime`-based
clock — so a replay's calls (receive 10, send 10 to the source queue and 10 receipts to another,
delete 10; 8 such rounds at a time) ran at ≈ 23 messages/s against 1,000-message queues. Each
replacement below is moto 5.2.5's method copied line for line with only the marked lines
changed; none changes an answer, a side effect or an order, only what it costs:

- `SQSBackend.is_message_valid_based_on_retention_period`: for each message a receive hands out,
  moto built *all* of the queue's attributes (three counts, each a scan of the queue) to read one,
  `MessageRetentionPeriod`. The replacement reads the queue's retention period directly.
- `SQSBackend.send_message`: for every message sent, moto built all of the queue's attributes to
  read `ContentBasedDeduplication` — 3 scans of the destination queue per message, 30 per batch.
  The replacement reads it from the queue the way `attributes` does (`None` for a standard queue,
  `"true"`/`"false"` for a FIFO one). (FIFO sends still build the attributes in moto's
  `_validate_message` and `Queue.add_message`, whose deduplication scan is O(depth) too: not
  replaced, the tests' FIFO queues hold a handful of messages.)
- `SQSBackend.receive_message`: moto iterated `queue.messages`, a list of every visible,
  undelayed message built by reading the clock twice per message of the queue, to take the first
  ten; and copied the FIFO groups in flight (O(messages in flight)) for every queue. The
  replacement takes the same snapshot of the message list (a C-level copy of pointers), reads the
  clock once, and filters lazily, so it looks at the messages before the tenth it hands out (and
  those it moves to the DLQ) and no further; it copies the groups in flight only for FIFO queues,
  the only ones that read them. Everything else — visibility checks, pending messages, the
  `maxReceiveCount` redrive to the DLQ (the message moved with its handles and counts), receive
  counts, new handles, retention, order — is moto's code. It also notes each handle it hands out
  in the queue's handle index (below) and drops a redriven message's handles from it.
- `Queue.delete_message` (the in-place delete above) and `SQSBackend.change_message_visibility`:
  moto found a handle's message by asking every message of the queue whether it ever had it (a
  list built per message), per handle. The replacements look the handle up in the queue's index
  (handle -> the message received with it there) and use it if that message is still in the queue
  (an identity check); otherwise — a handle given in another queue before a redrive (moto honours
  it), a purged message's, an unknown one — they take moto's scan, so every answer, including
  `ReceiptHandleIsInvalid`, is moto's. A handle is 185 random letters given to one message, so
  the scan can only ever find that one message.

- `Queue.messages`, `Queue.approximate_number_of_messages_not_visible` and
  `…_delayed` (`GetQueueAttributes`, which triage asks of the DLQ and the source queue on every
  batch, and the long poll's wait): a count of the whole queue is its answer, so these stay
  O(depth), but moto read its `datetime`-based clock once or twice per message (≈ 25 ms per
  `GetQueueAttributes` of a 1,000-message queue). The replacements read it once per count and
  compare each message's `visible_at`/`delayed_until` exactly as `Message.visible`/`delayed` do:
  the count of the messages visible (in flight, delayed) at that instant, where moto's was over
  the few milliseconds of its scan.

Thread safety is moto's: the delete runs under the queue's lock, the receive (like moto's) does
not, and the index is a dict whose single operations are atomic under the GIL; it is only ever a
shortcut checked against the queue. `tests/it/sqs_bulk.rs` (`the_test_server_…`) pins plain moto's
answers for each replaced behaviour (those tests pass against `moto_server` itself), and
`scripts/moto-server-check.py` drives moto's methods and these alike and compares every answer.
Usage: moto-server.py [moto_server's arguments]  (run with the venv's python)
"""

import hashlib
import string
import sys
from copy import deepcopy

from moto.server import main
from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid
from moto.core.utils import unix_time, unix_time_millis
from moto.moto_api._internal import mock_random as random
from moto.sqs.models import (
    MAXIMUM_MESSAGE_DELAY,
    Message,
    Queue,
    SQSBackend,
    _filter_message_attributes,
)


def _handles(queue):
    """The queue's index of receipt handles: handle -> the message received with it here."""
    index = queue.__dict__.get("_triage_handles")
    if index is None:
        index = queue.__dict__.setdefault("_triage_handles", {})
    return index


def _holders(queue, receipt_handle):
    """The messages of `queue` that ever had `receipt_handle`, in queue order — what moto's scan
    `[m for m in queue._messages if m.had_receipt_handle(receipt_handle)]` finds. A handle is
    185 random letters given to one message, so at most one does: the one the index names, if it
    is still in the queue. Anything else (a handle given in another queue before a redrive, a
    purged or unknown handle) takes moto's scan."""
    message = _handles(queue).get(receipt_handle)
    if message is not None and message in queue._messages:  # identity: Message has no __eq__
        return [message]
    return [m for m in queue._messages if m.had_receipt_handle(receipt_handle)]


def _delete_message_in_place(self, receipt_handle):
    with self._messages_lock:
        if receipt_handle in self.deleted_messages:
            # Already deleted: moto answers success again, as before.
            return
        doomed = _holders(self, receipt_handle)
        if not doomed:
            raise ReceiptHandleIsInvalid()
        index = _handles(self)
        for message in doomed:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            for handle in message.all_receipt_handles:
                index.pop(handle, None)
            try:
                self._messages.remove(message)
            except ValueError:
                pass  # moved to a DLQ by a receive on another thread meanwhile


def _retained(self, queue_name, message):
    queue = self.get_queue(queue_name)
    retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
    return retain_until > unix_time()


def _content_based_deduplication(queue):
    """What `queue.attributes.get("ContentBasedDeduplication")` answers, without the counts."""
    if not queue.fifo_queue:
        return None  # `attributes` lists the FIFO attributes of FIFO queues only
    value = queue.content_based_deduplication
    return str(value).lower() if isinstance(value, bool) else value


def _send_message(
    self,
    queue_name,
    message_body,
    message_attributes=None,
    delay_seconds=None,
    deduplication_id=None,
    group_id=None,
    system_attributes=None,
    validate_group_id=True,
):
    # moto 5.2.5's SQSBackend.send_message, line for line, but for the one marked line.
    queue = self.get_queue(queue_name)

    self._validate_message(
        queue,
        message_body=message_body,
        delay_seconds=int(delay_seconds or 0),
        deduplication_id=deduplication_id,
        group_id=group_id,
        validate_group_id=validate_group_id,
    )

    if delay_seconds is not None:
        delay_seconds = int(delay_seconds)
    else:
        delay_seconds = queue.delay_seconds

    message_id = str(random.uuid4())
    message = Message(message_id, message_body, system_attributes)

    # if content based deduplication is set then set sha256 hash of the message
    # as the deduplication_id
    if _content_based_deduplication(queue) == "true":  # moto: queue.attributes.get(…)
        sha256 = hashlib.sha256()
        sha256.update(message_body.encode("utf-8"))
        message.deduplication_id = sha256.hexdigest()

    # Attributes, but not *message* attributes
    if deduplication_id is not None:
        message.deduplication_id = deduplication_id
        message.sequence_number = "".join(
            random.choice(string.digits) for _ in range(20)
        )

    if group_id is not None:
        message.group_id = group_id

    if message_attributes:
        message.message_attributes = message_attributes

    if delay_seconds > MAXIMUM_MESSAGE_DELAY:
        msg = (
            f"Value {delay_seconds} for parameter DelaySeconds is invalid. "
            "Reason: DelaySeconds must be >= 0 and <= 900."
        )
        raise InvalidParameterValue(msg)

    message.mark_sent(delay_seconds=delay_seconds)

    queue.add_message(message)

    return message


def _visible_now(queue):
    """The messages `queue.messages` lists (visible, not delayed), one at a time as asked."""
    now = unix_time_millis()
    for message in list(queue._messages):  # a snapshot, as `queue.messages` is
        if now > message.visible_at and not now < message.delayed_until:
            yield message


def _receive_message(
    self,
    queue_name,
    count,
    wait_seconds_timeout,
    visibility_timeout,
    message_attribute_names=None,
):
    # moto 5.2.5's SQSBackend.receive_message, line for line, but for the marked lines.
    if message_attribute_names is None:
        message_attribute_names = []
    queue = self.get_queue(queue_name)
    result = []
    previous_result_count = len(result)

    polling_end = unix_time() + wait_seconds_timeout
    # moto: computed for every queue; only FIFO queues read it.
    currently_pending_groups = (
        deepcopy(queue.pending_message_groups) if queue.fifo_queue else set()
    )

    # queue.messages only contains visible messages
    while True:
        if result or (wait_seconds_timeout and unix_time() > polling_end):
            break

        messages_to_dlq = []

        for message in _visible_now(queue):  # moto: queue.messages
            if not message.visible:
                continue

            if message in queue.pending_messages:
                # The message is pending but is visible again, so the
                # consumer must have timed out.
                queue.pending_messages.remove(message)
                if queue.fifo_queue:  # moto: for every queue
                    currently_pending_groups = deepcopy(queue.pending_message_groups)

            if message.group_id and queue.fifo_queue:
                if message.group_id in currently_pending_groups:
                    # A previous call is still processing messages in this group, so we cannot deliver this one.
                    continue

            if (
                queue.dead_letter_queue is not None
                and queue.redrive_policy
                and message.approximate_receive_count
                >= queue.redrive_policy["maxReceiveCount"]
            ):
                messages_to_dlq.append(message)
                continue

            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            _handles(queue)[message.receipt_handle] = message  # moto: no index
            # Create deepcopy to not mutate the message state when filtering for attributes
            message_copy = deepcopy(message)
            _filter_message_attributes(message_copy, message_attribute_names)
            if not self.is_message_valid_based_on_retention_period(
                queue_name, message
            ):
                break
            result.append(message_copy)
            if len(result) >= count:
                break

        for message in messages_to_dlq:
            queue._messages.remove(message)
            for handle in message.all_receipt_handles:  # moto: no index
                _handles(queue).pop(handle, None)
            queue.dead_letter_queue.add_message(message)

        if previous_result_count == len(result):
            if wait_seconds_timeout == 0:
                # There is no timeout and no additional results,
                # so break to avoid an infinite loop.
                break

            queue.wait_for_messages(1)
            continue

        previous_result_count = len(result)

    return result


def _change_message_visibility(self, queue_name, receipt_handle, visibility_timeout):
    # moto 5.2.5's SQSBackend.change_message_visibility, line for line, but for the marked line.
    queue = self.get_queue(queue_name)
    for message in _holders(queue, receipt_handle):  # moto: queue._messages, had_receipt_handle
        visibility_timeout_msec = int(visibility_timeout) * 1000
        given_visibility_timeout = unix_time_millis() + visibility_timeout_msec
        if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:
            raise InvalidParameterValue(
                f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )

        message.change_visibility(visibility_timeout)
        if message.visible and message in queue.pending_messages:
            # If the message is visible again, remove it from pending
            # messages.
            queue.pending_messages.remove(message)
        return
    raise ReceiptHandleIsInvalid


def _messages_now(self):
    # moto 5.2.5's Queue.messages, but for the clock: read once, not twice per message.
    now = unix_time_millis()
    return [
        message
        for message in list(self._messages)
        if now > message.visible_at and not now < message.delayed_until
    ]


def _not_visible_now(self):
    # moto 5.2.5's Queue.approximate_number_of_messages_not_visible, the clock read once.
    now = unix_time_millis()
    return len([m for m in list(self._messages) if not now > m.visible_at])


def _delayed_now(self):
    # moto 5.2.5's Queue.approximate_number_of_messages_delayed, the clock read once.
    now = unix_time_millis()
    return len([m for m in list(self._messages) if now < m.delayed_until])


Queue.delete_message = _delete_message_in_place
SQSBackend.is_message_valid_based_on_retention_period = _retained
SQSBackend.send_message = _send_message
SQSBackend.receive_message = _receive_message
SQSBackend.change_message_visibility = _change_message_visibility
Queue.messages = property(_messages_now)
Queue.approximate_number_of_messages_not_visible = property(_not_visible_now)
Queue.approximate_number_of_messages_delayed = property(_delayed_now)

if __name__ == "__main__":
    main(sys.argv[1:])
