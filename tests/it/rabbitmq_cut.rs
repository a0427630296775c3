//! A replay pass whose AMQP stream is cut at an exact frame, as a `kill -9` of triage cuts it
//! anywhere (made deterministic by a relay, `support::amqp_cut`): the broker holds a replay's
//! receipt but not what was sent after it, or a replay but not its receipt. The next process
//! retries the same actions with the same keys: no dead letter is lost. Against a real RabbitMQ
//! 3.10; ignored by plain `cargo test`, run by scripts/test-all.sh.

use crate::support::amqp_cut::{AmqpCut, CutAfter};
use crate::support::rabbitmq::{Topology, browse_all, id_of, mixed_messages};

use std::time::Duration;

use lapin::types::AMQPValue;
use triage::domain::{Action, ActionKind};
use triage::upstream::Upstream;
use triage::upstream::rabbitmq::message::REPLAY_ID_HEADER;

fn replay(target: &str) -> Action {
    Action {
        kind: ActionKind::Replay,
        upstream: "rmq".into(),
        target: target.into(),
        operator: "maria@oncall".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    }
}

/// Waits until the broker dropped the cut connection: no consumer on `queue` and `depth` ready.
async fn wait_released(t: &Topology, queue: &str, depth: u32) {
    for _ in 0..600 {
        if t.broker().counts(queue).await.expect("counts") == (depth, 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{queue} never came back to {depth} ready messages without consumers");
}

/// Replays msg-5 and msg-9 of 20 through a relay that cuts the stream after the first complete
/// publish to `cut_key`; then another adapter retries the same actions and reads the DLQ.
/// Returns the DLQ's and the work queue's messages (payload, replay id) afterwards.
async fn replay_cut_after(
    t: &Topology,
    cut_key: &str,
) -> (Vec<Vec<u8>>, Vec<(Vec<u8>, String)>, Vec<Vec<u8>>) {
    let messages = mixed_messages(20);
    t.dead_letter(&messages).await;
    let listed = browse_all(&t.adapter()).await;
    let batch: Vec<(Action, String)> = ["msg-5", "msg-9"]
        .iter()
        .map(|mid| (replay(&id_of(&listed, mid)), format!("key-{mid}")))
        .collect();
    let relay = AmqpCut::start(
        &t.amqp,
        CutAfter {
            routing_key: cut_key.to_string(),
            nth: 1,
        },
    )
    .await;
    let cut = t.adapter_via(&relay.url);
    let _ = cut.perform_batch(&batch).await;
    assert!(relay.has_cut(), "the relay cut the pass's stream");
    wait_released(t, &t.dlq, 20).await;
    // The next process (`sync --once`): the poller reads the DLQ, the outbox retries both
    // actions with their keys.
    let next = t.adapter();
    browse_all(&next).await;
    let retried = next.perform_batch(&batch).await;
    for answer in &retried {
        let result = answer.as_ref().expect("answered");
        assert!(result.outcome.ok, "{:?}", result.outcome);
    }
    t.wait_until_settled(&t.dlq).await;
    let dlq: Vec<Vec<u8>> = t
        .broker()
        .peek(&t.dlq, 100)
        .await
        .expect("dlq")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let work: Vec<(Vec<u8>, String)> = t
        .broker()
        .peek(&t.work, 100)
        .await
        .expect("work")
        .into_iter()
        .map(|(p, properties)| {
            let key = match properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REPLAY_ID_HEADER))
            {
                Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into(),
                _ => String::new(),
            };
            (p, key)
        })
        .collect();
    let all = messages.into_iter().map(|(p, _)| p).collect();
    (dlq, work, all)
}

/// Every one of `all` is in the DLQ or the work queue; msg-5 and msg-9 (indexes 5 and 9) are
/// in the work queue, under their own keys, and not in the DLQ.
fn assert_nothing_lost(dlq: &[Vec<u8>], work: &[(Vec<u8>, String)], all: &[Vec<u8>]) {
    for (i, payload) in all.iter().enumerate() {
        let in_dlq = dlq.iter().filter(|p| *p == payload).count();
        let replays: Vec<&String> = work
            .iter()
            .filter(|(p, _)| p == payload)
            .map(|(_, k)| k)
            .collect();
        match i {
            5 | 9 => {
                assert_eq!(in_dlq, 0, "msg-{i} left the DLQ");
                assert!(!replays.is_empty(), "msg-{i} was replayed, not lost");
                assert!(
                    replays.iter().all(|k| **k == format!("key-msg-{i}")),
                    "msg-{i}: every delivery carries its action's key: {replays:?}"
                );
            }
            _ => {
                assert_eq!((in_dlq, replays.len()), (1, 0), "msg-{i} stays, once");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_cut_right_after_a_replays_receipt_loses_nothing_and_delivers_it_once() {
    let t = Topology::new("cut-receipt").await;
    let receipts = triage::upstream::rabbitmq::amqp::receipts_queue(&t.dlq);
    let (dlq, work, all) = replay_cut_after(&t, &receipts).await;
    assert_nothing_lost(&dlq, &work, &all);
    assert_eq!(work.len(), 2, "each replay delivered once: {work:?}");
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_cut_between_a_replay_and_its_receipt_sends_it_again_under_the_same_key() {
    // The price of never losing one: the broker holds the replay but no receipt says so, so the
    // retry sends it again — a duplicate its consumer can tell by `x-triage-replay-id`.
    let t = Topology::new("cut-replay").await;
    let work = t.work.clone();
    let (dlq, work, all) = replay_cut_after(&t, &work).await;
    assert_nothing_lost(&dlq, &work, &all);
    let keys: Vec<&str> = work.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(keys, ["key-msg-5", "key-msg-5", "key-msg-9"], "{work:?}");
    t.cleanup().await;
}
