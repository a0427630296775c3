"""moto's server (the SQS-compatible server of the tests) with one SQS call at a time.

moto's server answers each HTTP request on its own thread, but its SQS queues are not safe for
that: `Queue.delete_message` rebuilds the queue's message list from a snapshot and assigns it
back, so a send, a delete or a redrive to the DLQ running at the same moment on another thread
is undone. Measured on moto 5.2.5: 1,000 messages deleted by 8 threads (DeleteMessageBatch, 10
per call, every entry answered successful) left 17 of them in the queue; a bulk replay of 1,000
left about 400. Real SQS has no such race, and triage sends up to 8 calls at once as AWS allows.

So this runs moto's own `main` with every SQS action serialized (one lock around the response's
`call_action`); a long poll (`WaitTimeSeconds`) gives the lock up while it waits, so a send can
land and wake it. moto is bound by Python's GIL, so this costs it little throughput.
Usage: moto-server.py [moto_server's arguments]  (run with the venv's python)
"""

import sys
import threading

from moto.server import main
from moto.sqs.models import Queue
from moto.sqs.responses import SQSResponse

_one_call = threading.Lock()
_holding = threading.local()

_call_action = SQSResponse.call_action
_wait_for_messages = Queue.wait_for_messages


def _serialized_call_action(self):
    with _one_call:
        _holding.held = True
        try:
            return _call_action(self)
        finally:
            _holding.held = False


def _wait_without_the_lock(self, timeout):
    if not getattr(_holding, "held", False):
        return _wait_for_messages(self, timeout)
    _holding.held = False
    _one_call.release()
    try:
        return _wait_for_messages(self, timeout)
    finally:
        _one_call.acquire()
        _holding.held = True


SQSResponse.call_action = _serialized_call_action
Queue.wait_for_messages = _wait_without_the_lock

if __name__ == "__main__":
    main(sys.argv[1:])
