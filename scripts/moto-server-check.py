"""Checks that scripts/moto-server.py changes none of moto's answers: moto's own SQS methods and
the replacements, each on its own backend, are driven by the same random operations (sends with
delays and attributes, receives, deletes and visibility changes with live, old, deleted and
unknown handles, purges, clock ticks) on standard, redriving and FIFO queues, on a fake clock and
moto's random seeded alike; every answer and every queue's state (messages in order with their
handles, counts and times; pending; deleted handles; attributes) must be equal after every
operation. Threads are not exercised. Run it after changing moto's pin or moto-server.py:

  $TRIAGE_UPSTREAMS_DIR/sqs/venv/bin/python scripts/moto-server-check.py [SEEDS [OPS]]

(the venv scripts/upstreams.sh installs). Prints "equal: …" or the first difference, exit 1."""
import importlib.util
import json
import os
import random as pyrandom
import sys
import types

import moto.sqs.models as models
from moto.moto_api._internal import mock_random
from moto.sqs.models import Queue, SQSBackend, sqs_backends

ORIG = {
    "send_message": SQSBackend.send_message,
    "receive_message": SQSBackend.receive_message,
    "change_message_visibility": SQSBackend.change_message_visibility,
    "is_message_valid_based_on_retention_period": SQSBackend.is_message_valid_based_on_retention_period,
}
ORIG_DELETE = Queue.delete_message
class OrigQueue(Queue):  # moto's own properties and delete, whatever the patch does to Queue
    __module__ = "moto.sqs.models"
    messages = Queue.__dict__["messages"]
    approximate_number_of_messages_not_visible = Queue.__dict__["approximate_number_of_messages_not_visible"]
    approximate_number_of_messages_delayed = Queue.__dict__["approximate_number_of_messages_delayed"]
    delete_message = Queue.__dict__["delete_message"]

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto-server.py")
spec = importlib.util.spec_from_file_location("moto_server_patch", SERVER)
patch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(patch)  # patches the classes (its main() is under __main__ only)

CLOCK = [1_800_000_000_000.0]
def fake_millis(dt=None):
    return CLOCK[0]
def fake_secs(dt=None):
    return CLOCK[0] / 1000.0
for mod in (models, patch):
    mod.unix_time_millis = fake_millis
    mod.unix_time = fake_secs

REGION = "us-east-1"

def make(account, original):
    backend = sqs_backends[account][REGION]
    if original:
        for name, fn in ORIG.items():
            setattr(backend, name, types.MethodType(fn, backend))
    def create(name, **attrs):
        q = backend.create_queue(name, **attrs)
        if original:
            q.__class__ = OrigQueue
        return q
    arn = lambda n: f"arn:aws:sqs:{REGION}:{account}:{n}"
    create("dlq")
    create("src", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn("dlq"), "maxReceiveCount": 2}), VisibilityTimeout="0")
    create("plain", VisibilityTimeout="2")
    create("fdlq.fifo", FifoQueue="true")
    create("fsrc.fifo", FifoQueue="true", RedrivePolicy=json.dumps({"deadLetterTargetArn": arn("fdlq.fifo"), "maxReceiveCount": 1}))
    create("cbd.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    create("short", MessageRetentionPeriod="60")
    return backend

QUEUES = ["dlq", "src", "plain", "fdlq.fifo", "fsrc.fifo", "cbd.fifo", "short"]

def norm(x, account):
    return json.loads(json.dumps(x, default=str).replace(account, "ACCOUNT"))

def msg_view(m):
    return [m.id, m.body, m.receipt_handle, m.approximate_receive_count, m.approximate_first_receive_timestamp,
            m.visible_at, m.delayed_until, m.sent_timestamp, m.group_id, m.deduplication_id, m.sequence_number,
            sorted(m.message_attributes), list(m._old_receipt_handles)]

def state(backend, account):
    out = {}
    for name in QUEUES:
        q = backend.queues[name]
        out[name] = {
            "messages": [msg_view(m) for m in q._messages],
            "pending": sorted(m.id for m in q.pending_messages),
            "deleted": sorted(h or "" for h in q.deleted_messages),
            "attributes": backend.get_queue_attributes(name, ["All"]),
        }
    return norm(out, account)

def run(op, backend, account, seed):
    mock_random.seed(seed)
    kind, args = op
    try:
        if kind == "send_batch":
            msgs, failed = backend.send_message_batch(args["queue"], json.loads(json.dumps(args["entries"])))
            ans = [[m.id, m.user_id, m.body_md5, m.sequence_number, m.deduplication_id] for m in msgs], failed
        elif kind == "send":
            m = backend.send_message(args["queue"], args["body"], message_attributes=args.get("attrs"),
                                     delay_seconds=args.get("delay"), deduplication_id=args.get("dedup"),
                                     group_id=args.get("group"))
            ans = [m.id, m.body_md5, m.sequence_number, m.deduplication_id]
        elif kind == "receive":
            got = backend.receive_message(args["queue"], args["count"], 0, args["visibility"], args["attr_names"])
            ans = [msg_view(m) for m in got]
        elif kind == "delete_batch":
            ans = backend.delete_message_batch(args["queue"], args["entries"])
        elif kind == "delete":
            backend.delete_message(args["queue"], args["handle"]); ans = "ok"
        elif kind == "visibility_batch":
            ans = backend.change_message_visibility_batch(args["queue"], args["entries"])
        elif kind == "purge":
            backend.purge_queue(args["queue"]); ans = "ok"
        elif kind == "attributes":
            ans = backend.get_queue_attributes(args["queue"], ["All"])
        else:
            raise AssertionError(kind)
    except Exception as e:  # the answer is the error
        ans = ["error", type(e).__name__, str(e)]
    return norm(ans, account)

def gen_op(rng, handles, n):
    q = rng.choice(QUEUES + ["src", "dlq", "fsrc.fifo", "fdlq.fifo"])  # redrives more often
    fifo = q.endswith(".fifo")
    r = rng.random()
    def entry(i):
        e = {"Id": f"e{i}", "MessageBody": f"body-{n}-{i}-" + rng.choice(["a", "b", "c"]),
             "MessageAttributes": {}, "DelaySeconds": None}
        if rng.random() < 0.3:
            e["MessageAttributes"] = {"k": {"DataType": "String", "StringValue": rng.choice(["x", "y"])}}
        if fifo:
            e["MessageGroupId"] = rng.choice(["g1", "g2", "g3"])
            if q != "cbd.fifo" or rng.random() < 0.5:
                e["MessageDeduplicationId"] = rng.choice(["d1", "d2", f"d{n}-{i}", f"d{n}-{i}"])
        elif rng.random() < 0.2:
            e["DelaySeconds"] = rng.choice([0, 1, 3, 1000])
        return e
    if r < 0.3:
        return ("send_batch", {"queue": q, "entries": {str(i): entry(i) for i in range(rng.randint(1, 10))}})
    if r < 0.35:
        e = entry(0)
        return ("send", {"queue": q, "body": e["MessageBody"], "attrs": e["MessageAttributes"],
                         "delay": e["DelaySeconds"], "dedup": e.get("MessageDeduplicationId"), "group": e.get("MessageGroupId")})
    if r < 0.6:
        return ("receive", {"queue": q, "count": rng.randint(1, 10), "visibility": rng.choice([0, 0, 1, 2, 5, 30]),
                            "attr_names": rng.choice([[], ["All"], ["k"]])})
    # This queue's handles, recent ones of every queue (a redriven message keeps its source
    # queue's handles), and an unknown one.
    pool = handles.get(q, [])[-40:] + [h for hs in handles.values() for h in hs[-10:]] + ["bogus"]
    if r < 0.8:
        hs = list(dict.fromkeys(rng.choice(pool) for _ in range(rng.randint(1, 10))))
        return ("delete_batch", {"queue": q, "entries": [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(hs)]})
    if r < 0.83:
        return ("delete", {"queue": q, "handle": rng.choice(pool)})
    if r < 0.93:
        hs = list(dict.fromkeys(rng.choice(pool) for _ in range(rng.randint(1, 10))))
        return ("visibility_batch", {"queue": q, "entries": [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": rng.choice([0, 0, 3, 60, 50000])} for i, h in enumerate(hs)]})
    if r < 0.935:
        return ("purge", {"queue": q})
    if r < 0.95:
        return ("attributes", {"queue": q})
    return ("tick", {"ms": rng.choice([1, 500, 1000, 2000, 2500, 3000, 5000, 30_000, 70_000])})

def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    nops = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    counts = {}
    for seed in range(seeds):
        a_acc, b_acc = f"{seed:06d}000001", f"{seed:06d}000002"
        a, b = make(a_acc, True), make(b_acc, False)
        rng = pyrandom.Random(seed)
        handles = {}
        for n in range(nops):
            op = gen_op(rng, handles, n)
            counts[op[0]] = counts.get(op[0], 0) + 1
            if op[0] == "tick":
                CLOCK[0] += op[1]["ms"]
                continue
            ra = run(op, a, a_acc, seed * 100000 + n)
            rb = run(op, b, b_acc, seed * 100000 + n)
            if ra != rb:
                print("ANSWER DIFFERS", seed, n, op, "\n moto:", ra, "\n ours:", rb); sys.exit(1)
            sa, sb = state(a, a_acc), state(b, b_acc)
            if sa != sb:
                print("STATE DIFFERS", seed, n, op)
                for k in sa:
                    if sa[k] != sb[k]: print(k, "\n moto:", sa[k], "\n ours:", sb[k])
                sys.exit(1)
            if op[0] == "receive":
                handles.setdefault(op[1]["queue"], []).extend(m[2] for m in ra)
    print("equal:", seeds, "seeds x", nops, "ops", counts)

main()
