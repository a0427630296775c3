//! The RabbitMQ adapter against a real RabbitMQ 3.10 (scripts/upstreams.sh): stats on new queues,
//! complete loss-free browsing, selective replay and discard, a dropped connection between
//! confirm and ack, a pass dropped midway, bulk replay, a 100k DLQ. Ignored by plain
//! `cargo test`; scripts/test-all.sh runs them.

use crate::support::rabbitmq as support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lapin::types::AMQPValue;
use support::{Topology, browse_all, id_of, message_id_of, mixed_messages};
use triage::domain::{Action, ActionKind, ConnectorStatus, DeadLetterState};
use triage::upstream::rabbitmq::message::{REPLAY_ID_HEADER, REPLAYED_BY_HEADER, STAMP_HEADER};
use triage::upstream::rabbitmq::{Fate, FaultPoint, Selection};
use triage::upstream::{Upstream, UpstreamError};

fn action(kind: ActionKind, target: &str) -> Action {
    Action {
        kind,
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

fn is_stamp(id: &str) -> bool {
    id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn selection(kind: ActionKind, target: &str, key: &str) -> Selection {
    Selection {
        action: action(kind, target),
        idempotency_key: key.into(),
    }
}

fn header<'a>(properties: &'a lapin::BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(key))
}

fn text(value: Option<&AMQPValue>) -> String {
    match value {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn stats_tolerate_a_brand_new_queue_and_find_the_dlq() {
    let t = Topology::new("stats").await;
    let adapter = t.adapter();
    let reports = adapter
        .connectors()
        .await
        .expect("stats of a brand-new queue");
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].stats.ready, reports[0].stats.dead), (0, 0));
    assert_eq!(
        reports[0].status,
        ConnectorStatus::Degraded,
        "no consumers yet: {:?}",
        reports[0].last_error
    );
    assert_eq!(
        adapter.dead_letter_queue_of("orders").await.expect("dlq"),
        Some(t.dlq.clone())
    );
    t.dead_letter(&mixed_messages(5)[..2]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let reports = adapter.connectors().await.expect("stats");
    assert_eq!(reports[0].stats.dead, 2);
    let ack = adapter.perform(&action(ActionKind::Ack, "x"), "k").await;
    assert!(
        matches!(ack, Err(UpstreamError::Unsupported { .. })),
        "{ack:?}"
    );
    assert!(
        adapter
            .incidents(None, None)
            .await
            .expect("incidents")
            .items
            .is_empty()
    );
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_1000_message_dlq_is_browsed_completely_and_left_unchanged() {
    let t = Topology::new("browse").await;
    let messages = mixed_messages(1000);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let depth = t.broker().message_count(&t.dlq).await.expect("depth");
    let letters = browse_all(&adapter).await;
    assert_eq!((depth, letters.len()), (1000, 1000));
    {
        for (letter, (payload, properties)) in letters.iter().zip(&messages) {
            assert_eq!(&letter.payload, payload, "payload of {}", letter.id);
            assert!(is_stamp(&letter.id), "a stamped identity: {}", letter.id);
            assert_eq!(
                message_id_of(letter),
                properties.message_id().as_ref().map(|m| m.as_str()),
                "message_id shown as a field"
            );
        }
        let ids: HashSet<&str> = letters.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.len(), 1000, "identities never collide");
        // A second browse (another process: a new adapter) lists the same identities.
        let again = browse_all(&t.adapter()).await;
        assert!(
            again
                .iter()
                .map(|d| &d.id)
                .eq(letters.iter().map(|d| &d.id)),
            "identities are stable across passes and processes"
        );
        let first = &letters[0];
        assert_eq!(message_id_of(first), Some("msg-0"));
        assert_eq!(first.error.code, "rejected");
        assert_eq!(
            first.error.message,
            format!(
                "rejected from queue {} via exchange {} (routing key {}), once",
                t.work, t.exchange, t.work
            )
        );
        assert_eq!(first.attempts, 1);
        assert_eq!(first.content_type.as_deref(), Some("application/json"));
        assert!(
            first
                .headers
                .contains(&("meta.trace.span".to_string(), "0".to_string())),
            "{:?}",
            first.headers
        );
        assert!(
            first
                .headers
                .contains(&("meta.tenant".to_string(), "acme".to_string()))
        );
        assert_eq!(letters[2].payload[..2], [0x00, 0xFF]);
        assert_eq!(message_id_of(&letters[2]), None, "no message_id");
        assert_eq!(letters[3].payload.len(), 1024 * 1024);
        let after = t.broker().peek(&t.dlq, 2000).await.expect("peek");
        assert_eq!(after.len(), 1000, "count unchanged");
        let order: Vec<&Vec<u8>> = after.iter().map(|(p, _)| p).collect();
        let expected: Vec<&Vec<u8>> = messages.iter().map(|(p, _)| p).collect();
        assert!(order == expected, "order unchanged");
    }
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn one_pass_browses_everything_replays_and_discards_and_keeps_the_rest_in_order() {
    let t = Topology::new("onepass").await;
    let messages = mixed_messages(1000);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let listed = browse_all(&adapter).await;
    let (id500, id7) = (id_of(&listed, "msg-500"), id_of(&listed, "msg-7"));
    let selections = [
        selection(ActionKind::Replay, &id500, "one-pass-500"),
        selection(ActionKind::Discard, &id7, "one-pass-7"),
        selection(ActionKind::Replay, "msg-nope", "one-pass-nope"),
    ];
    let pass = adapter
        .browse_and_apply("orders", &selections)
        .await
        .expect("browse + apply");
    assert_eq!(pass.letters.len(), 1000, "every message browsed");
    assert_eq!((pass.report.committed.len(), pass.report.commits), (2, 1));
    assert_eq!(pass.letters[500].state, DeadLetterState::Replayed);
    assert_eq!(pass.letters[7].state, DeadLetterState::Discarded);
    assert_eq!(pass.letters[8].state, DeadLetterState::Dead);
    let oks: Vec<(&str, bool)> = pass
        .outcomes
        .iter()
        .map(|(target, o)| (target.as_str(), o.ok))
        .collect();
    assert_eq!(
        oks,
        vec![
            (id500.as_str(), true),
            (id7.as_str(), true),
            ("msg-nope", false)
        ]
    );
    let delivered = t.broker().peek(&t.work, 10).await.expect("work queue");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, messages[500].0, "replayed byte-exact");
    assert_eq!(
        text(header(&delivered[0].1, REPLAY_ID_HEADER)),
        "one-pass-500"
    );
    let rest = t.broker().peek(&t.dlq, 2000).await.expect("dlq");
    let expected: Vec<&Vec<u8>> = messages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 500 && *i != 7)
        .map(|(_, (p, _))| p)
        .collect();
    assert!(
        rest.iter().map(|(p, _)| p).collect::<Vec<_>>() == expected,
        "the other 998 stay in order"
    );
    // The next browse reports the two as tombstones with what triage did.
    let letters = browse_all(&adapter).await;
    let state_of = |id: &str| letters.iter().find(|d| d.id == id).map(|d| d.state);
    assert_eq!(state_of(&id500), Some(DeadLetterState::Replayed));
    assert_eq!(state_of(&id7), Some(DeadLetterState::Discarded));
    // Replaying it again through `perform` is answered from memory, not a second replay.
    let again = adapter
        .perform(&action(ActionKind::Replay, &id500), "one-pass-500")
        .await
        .expect("again");
    assert!(
        again.outcome.summary.contains("already"),
        "{}",
        again.outcome.summary
    );
    assert_eq!(t.broker().message_count(&t.work).await.expect("count"), 1);
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn replaying_message_500_delivers_it_byte_exact_and_keeps_the_rest_in_order() {
    let t = Topology::new("replay").await;
    let messages = mixed_messages(1000);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let listed = browse_all(&adapter).await;
    let result = adapter
        .perform(
            &action(ActionKind::Replay, &id_of(&listed, "msg-500")),
            "replay-key-500",
        )
        .await
        .expect("replay");
    assert!(result.outcome.ok, "{:?}", result.outcome);
    assert!(
        result.outcome.summary.contains("committed by the broker"),
        "{}",
        result.outcome.summary
    );
    assert_eq!(
        result.dead_letter.map(|d| d.state),
        Some(DeadLetterState::Replayed)
    );
    let delivered = t.broker().peek(&t.work, 10).await.expect("work queue");
    assert_eq!(delivered.len(), 1);
    let (payload, properties) = &delivered[0];
    let (original_payload, original) = &messages[500];
    assert_eq!(payload, original_payload);
    assert_eq!(properties.content_type(), original.content_type());
    assert_eq!(properties.message_id(), original.message_id());
    assert_eq!(header(properties, "meta"), header(original, "meta"));
    assert_eq!(text(header(properties, REPLAY_ID_HEADER)), "replay-key-500");
    assert_eq!(text(header(properties, REPLAYED_BY_HEADER)), "maria@oncall");
    assert_eq!(
        header(properties, STAMP_HEADER),
        None,
        "the replay is not the dead letter: should it die again it gets a new identity"
    );
    let rest = t.broker().peek(&t.dlq, 2000).await.expect("dlq");
    let expected: Vec<&Vec<u8>> = messages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 500)
        .map(|(_, (p, _))| p)
        .collect();
    assert!(
        rest.iter().map(|(p, _)| p).collect::<Vec<_>>() == expected,
        "the other 999 stay in order"
    );
    // Discard: acked without republishing.
    let discarded = adapter
        .perform(
            &action(ActionKind::Discard, &id_of(&listed, "msg-7")),
            "discard-7",
        )
        .await
        .expect("discard");
    assert!(discarded.outcome.ok);
    t.wait_for_depth(&t.dlq, 998).await;
    assert_eq!(t.broker().message_count(&t.work).await.expect("count"), 1);
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_connection_dropped_before_the_acks_commit_leaves_one_replay_and_the_next_pass_removes_the_original()
 {
    let t = Topology::new("fault").await;
    let messages = mixed_messages(1000);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let listed = browse_all(&adapter).await;
    let id500 = id_of(&listed, "msg-500");
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    adapter.set_fault_hook(Some(Arc::new(move |point| {
        point == FaultPoint::BeforeCommit && counter.fetch_add(1, Ordering::SeqCst) == 0
    })));
    // The replay and its receipt were confirmed before the acks' commit: the replay happened,
    // and the answer says so, though the original is still in the DLQ.
    let interrupted = adapter
        .perform(&action(ActionKind::Replay, &id500), "replay-key-500")
        .await
        .expect("a confirmed replay is an answer");
    assert!(interrupted.outcome.ok, "{:?}", interrupted.outcome);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the drop happened");
    assert_eq!(
        t.wait_until_settled(&t.dlq).await,
        1000,
        "original not acked"
    );
    adapter.set_fault_hook(None);
    // Another process (no memory of the pass) reads the DLQ: the pass is recorded as unsettled
    // and the receipt names it, so the original is removed, not listed as a new letter.
    let other = t.adapter();
    let relisted = browse_all(&other).await;
    assert_eq!(relisted.len(), 999, "the original is gone");
    assert!(relisted.iter().all(|d| d.id != id500));
    t.wait_for_depth(&t.dlq, 999).await;
    let after = t.broker().peek(&t.dlq, 2000).await.expect("peek");
    assert!(
        after.iter().map(|(p, _)| p).eq(messages
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 500)
            .map(|(_, (p, _))| p)),
        "every other message once, in order"
    );
    // The outbox's retry of the same action finds it done; nothing is sent twice.
    let retried = other
        .perform(&action(ActionKind::Replay, &id500), "replay-key-500")
        .await
        .expect("retry");
    assert!(retried.outcome.ok, "{:?}", retried.outcome);
    assert!(
        retried.outcome.summary.contains("already replayed"),
        "{}",
        retried.outcome.summary
    );
    let replayed = t.broker().peek(&t.work, 10).await.expect("work");
    assert_eq!(replayed.len(), 1, "replayed exactly once");
    assert_eq!(replayed[0].0, messages[500].0);
    assert_eq!(
        text(header(&replayed[0].1, REPLAY_ID_HEADER)),
        "replay-key-500"
    );
    let unsettled = triage::upstream::rabbitmq::amqp::unsettled_queue(&t.dlq);
    assert!(
        t.broker().message_count(&unsettled).await.is_err(),
        "the complete pass settled the interrupted one"
    );
    t.cleanup().await;
}

/// A process that read the DLQ's receipts before another process's pass was cut between its
/// publishes and its acks (a console beside a CLI run, sharing the outbox) retries that pass's
/// replay with the same key: it reads the receipts again and removes the original instead of
/// replaying it a second time.
#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_process_that_read_receipts_before_another_s_cut_pass_does_not_replay_its_original_again()
{
    let t = Topology::new("stale-receipts").await;
    let messages = mixed_messages(20);
    t.dead_letter(&messages).await;
    // The console's adapter reads the DLQ (and its receipts: none yet).
    let console = t.adapter();
    let listed = browse_all(&console).await;
    let id5 = id_of(&listed, "msg-5");
    // A CLI's pass replays msg-5 and is cut before its acks' commit.
    let cli = t.adapter();
    browse_all(&cli).await;
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    cli.set_fault_hook(Some(Arc::new(move |point| {
        point == FaultPoint::BeforeCommit && counter.fetch_add(1, Ordering::SeqCst) == 0
    })));
    let cut = cli
        .perform(&action(ActionKind::Replay, &id5), "replay-key-5")
        .await
        .expect("a confirmed replay is an answer");
    assert!(cut.outcome.ok, "{:?}", cut.outcome);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the cut happened");
    assert_eq!(t.wait_until_settled(&t.dlq).await, 20, "original not acked");
    // The console's outbox retries the same action (same key).
    let retried = console
        .perform(&action(ActionKind::Replay, &id5), "replay-key-5")
        .await
        .expect("retry");
    assert!(retried.outcome.ok, "{:?}", retried.outcome);
    t.wait_until_settled(&t.dlq).await;
    let replayed = t.broker().peek(&t.work, 10).await.expect("work");
    assert_eq!(replayed.len(), 1, "replayed exactly once");
    assert_eq!(replayed[0].0, messages[5].0);
    assert_eq!(
        text(header(&replayed[0].1, REPLAY_ID_HEADER)),
        "replay-key-5"
    );
    let dlq = t.broker().peek(&t.dlq, 100).await.expect("dlq");
    assert!(
        dlq.iter().map(|(p, _)| p).eq(messages
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 5)
            .map(|(_, (p, _))| p)),
        "every other message once, in order; the original gone"
    );
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn bulk_replay_of_1000_drains_the_dlq_byte_exact() {
    let t = Topology::new("bulk").await;
    let messages = mixed_messages(1000);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let started = Instant::now();
    let report = adapter
        .replay_all("orders", "maria@oncall", "bulk-1")
        .await
        .expect("bulk replay");
    let elapsed = started.elapsed();
    println!(
        "bulk replay of 1000 (1 MiB one included): {elapsed:?} = {:.0} msg/s",
        1000.0 / elapsed.as_secs_f64()
    );
    assert_eq!((report.replayed, report.unroutable.len()), (1000, 0));
    t.wait_for_depth(&t.dlq, 0).await;
    let delivered = t.broker().peek(&t.work, 2000).await.expect("work queue");
    assert_eq!(delivered.len(), 1000);
    for ((payload, properties), (original_payload, original)) in delivered.iter().zip(&messages) {
        assert_eq!(payload, original_payload);
        assert_eq!(properties.message_id(), original.message_id());
        assert!(text(header(properties, REPLAY_ID_HEADER)).starts_with("bulk-1:"));
    }
    t.cleanup().await;
}

/// A redrive sizes its prefetch from the DLQ's average message as the broker counts it: large
/// messages are never pulled a thousand at a time into triage's memory, small ones flow in long
/// runs (`amqp::prefetch_for`). An empty queue has no size.
#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_redrive_sizes_its_prefetch_from_the_dlq_s_messages() {
    use triage::upstream::rabbitmq::amqp::prefetch_for;
    let t = Topology::new("prefetch").await;
    let adapter = t.adapter();
    assert_eq!(adapter.average_message_bytes(&t.dlq).await, None, "empty");
    let big = vec![b'x'; 512 * 1024];
    t.publish_to_dlq(
        (0..8).map(|i| (big.clone(), t.dead_properties(&format!("big-{i}"), &t.work))),
    )
    .await;
    let mut average = None;
    // The management API's numbers lag the broker by up to its stats interval.
    for _ in 0..100 {
        average = adapter.average_message_bytes(&t.dlq).await;
        if average.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(average, Some(512 * 1024));
    assert_eq!(prefetch_for(average), 127);
    let report = adapter
        .replay_all("orders", "maria@oncall", "big-redrive")
        .await
        .expect("redrive");
    assert_eq!((report.replayed, report.unroutable.len()), (8, 0));
    t.wait_for_depth(&t.work, 8).await;
    t.cleanup().await;
}

/// A management API that accepts the connection and never answers costs the sizing of a
/// redrive's prefetch two seconds, not the upstream's 30 s timeout: the size is unknown and the
/// default prefetch is used. (Finding the DLQ itself needs that API, so a redrive still waits
/// for it there.)
#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_silent_management_api_leaves_the_prefetch_at_its_default_in_two_seconds() {
    use triage::upstream::rabbitmq::amqp::prefetch_for;
    let t = Topology::new("silent-mgmt").await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let management = format!("http://{}", silent.local_addr().expect("addr"));
    let adapter = t.adapter_with(&t.amqp, &management);
    let started = Instant::now();
    let average = adapter.average_message_bytes(&t.dlq).await;
    let waited = started.elapsed();
    assert_eq!(average, None);
    assert_eq!(prefetch_for(average), 1000, "the former fixed prefetch");
    assert!(
        waited < std::time::Duration::from_secs(10),
        "given up after 2 s, not the 30 s timeout: {waited:?}"
    );
    drop(silent);
    t.cleanup().await;
}

/// A 100,000-message DLQ browsed completely and one message from its middle replayed in one
/// pass: every letter read in order, the replayed one delivered byte-exact with its replay id,
/// the rest still there in order (checked by a further full read). Correctness only; the timing
/// is `cargo bench --bench rabbitmq` (docs/PERFORMANCE.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn big_dlq_of_100k_is_browsed_and_replayed_from_the_middle() {
    const N: usize = 100_000;
    let t = Topology::new("big").await;
    let payload = |i: usize| format!(r#"{{"order":{i},"pad":"{}"}}"#, "p".repeat(100)).into_bytes();
    t.publish_to_dlq((0..N).map(|i| (payload(i), t.dead_properties(&format!("big-{i}"), &t.work))))
        .await;
    let adapter = t.adapter();
    // First sight: one pass stamps every message, in order.
    let first = browse_all(&adapter).await;
    assert_eq!(first.len(), N);
    let target = id_of(&first[50_000..50_001], "big-50000");
    let pass = adapter
        .browse_and_apply(
            "orders",
            &[selection(ActionKind::Replay, &target, "big-replay")],
        )
        .await
        .expect("browse + replay in one pass");
    assert!(pass.outcomes[0].1.ok, "{:?}", pass.outcomes);
    assert_eq!(pass.report.visited, N);
    let letters = pass.letters;
    assert_eq!(letters.len(), N);
    assert!(
        letters
            .iter()
            .zip(&first)
            .enumerate()
            .all(|(i, (d, f))| d.id == f.id
                && message_id_of(d) == Some(format!("big-{i}").as_str())
                && d.payload == payload(i)),
        "browse order, identities and payloads"
    );
    assert_eq!(letters[50_000].state, DeadLetterState::Replayed);
    let delivered = t.broker().peek(&t.work, 10).await.expect("work queue");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, payload(50_000), "replayed byte-exact");
    assert_eq!(
        delivered[0].1.message_id().as_ref().map(|m| m.as_str()),
        Some("big-50000")
    );
    assert_eq!(
        text(header(&delivered[0].1, REPLAY_ID_HEADER)),
        "big-replay"
    );
    let mut order = Vec::with_capacity(N);
    t.broker()
        .cycle(&t.dlq, None, |_, _, props| {
            order.push(
                props
                    .message_id()
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            );
            triage::upstream::rabbitmq::Fate::Keep
        })
        .await
        .expect("verify pass");
    let expected: Vec<String> = (0..N)
        .filter(|i| *i != 50_000)
        .map(|i| format!("big-{i}"))
        .collect();
    assert!(
        order == expected,
        "count and order kept: {} messages",
        order.len()
    );
    t.cleanup().await;
}

/// A replay sent through the outbox (as the console and CLI send it) is recorded with the
/// broker's confirm: the audit log holds `replay.requested` then `replay.sent` whose detail is
/// the confirmed outcome, and the outbox entry is sent.
#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_replay_through_the_outbox_audits_the_brokers_confirm() {
    let t = Topology::new("audit").await;
    let messages = mixed_messages(20);
    t.dead_letter(&messages).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store_path = dir.path().join("triage.db");
    let writer = triage::sync::StoreWriter::open(&store_path).expect("store");
    let mut upstreams = triage::sync::Upstreams::default();
    let target = id_of(&browse_all(&t.adapter()).await, "msg-8");
    upstreams.insert(Arc::new(t.adapter()));
    let entry = writer
        .call(move |s| s.enqueue_action(&action(ActionKind::Replay, &target), chrono::Utc::now()))
        .await
        .expect("enqueue");
    let (changes, _) = tokio::sync::broadcast::channel(16);
    triage::sync::outbox::process_due(&upstreams, &writer, &changes)
        .await
        .expect("outbox");
    let store = triage::store::Store::open(&store_path).expect("reader");
    let sent = store.outbox_entry(&entry.id).expect("get").expect("exists");
    assert_eq!(sent.state, triage::domain::OutboxState::Sent, "{sent:?}");
    let audit = store.page_audit(None, 10).expect("audit");
    let events: Vec<&str> = audit.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, vec!["replay.sent", "replay.requested"]);
    assert!(
        audit[0].detail.contains("committed by the broker"),
        "{}",
        audit[0].detail
    );
    assert!(audit[0].payload_hash.is_some());
    let delivered = t.broker().peek(&t.work, 10).await.expect("work queue");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, messages[8].0, "byte-exact");
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_pass_dropped_midway_strands_nothing_and_loses_nothing() {
    // The outbox bounds a batch's pass with a timeout; when it fires the pass future is dropped
    // with deliveries unacked and copies in flight, on a connection that stays cached for the
    // next pass. Its channels must close with it, so every message is back in the DLQ (at most
    // duplicated), nothing is held unacked, and the same connection serves the next pass.
    let t = Topology::new("cutoff").await;
    let messages = mixed_messages(3000);
    t.dead_letter(&messages).await;
    let broker = t.broker();
    let (cut, cut_off) = tokio::sync::oneshot::channel::<()>();
    let mut cut = Some(cut);
    let pass = broker.cycle(&t.dlq, None, |index, _, _| {
        if index == 1200 {
            cut.take().map(|c| c.send(()));
        }
        Fate::Keep
    });
    tokio::select! {
        finished = pass => panic!("the pass should have been cut off: {finished:?}"),
        _ = cut_off => {}
    }
    let depth = t.wait_until_settled(&t.dlq).await;
    assert!(
        depth as usize >= messages.len(),
        "{depth} ready in the DLQ after the cut-off: deliveries are stranded unacked"
    );
    let present = broker
        .peek(&t.dlq, depth as usize + 10)
        .await
        .expect("peek");
    assert_eq!(
        present.len(),
        depth as usize,
        "every ready message readable"
    );
    let all: HashSet<&Vec<u8>> = messages.iter().map(|(p, _)| p).collect();
    let seen: HashSet<&Vec<u8>> = present.iter().map(|(p, _)| p).collect();
    assert!(
        all.is_subset(&seen),
        "{} messages lost",
        all.difference(&seen).count()
    );
    let report = broker
        .cycle(&t.dlq, None, |_, _, _| Fate::Keep)
        .await
        .expect("the next pass on the same connection");
    assert_eq!(report.visited, depth as usize);
    assert_eq!(t.wait_until_settled(&t.dlq).await, depth);
    t.cleanup().await;
}

/// A process that dies after the broker committed its replays but before the outbox recorded the
/// answers: the next process's retry (same idempotency keys) finds the letters gone from the DLQ
/// and answers from the receipts the pass wrote in the same transaction — sent, not failed, and
/// nothing delivered twice.
#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_retry_after_a_lost_answer_is_answered_by_the_receipt_not_replayed_again() {
    let t = Topology::new("receipt").await;
    let messages = mixed_messages(40);
    t.dead_letter(&messages).await;
    let listed = browse_all(&t.adapter()).await;
    let batch: Vec<(Action, String)> = [("msg-5", "k-5"), ("msg-9", "k-9")]
        .iter()
        .map(|(mid, key)| {
            (
                action(ActionKind::Replay, &id_of(&listed, mid)),
                key.to_string(),
            )
        })
        .chain([(
            action(ActionKind::Discard, &id_of(&listed, "msg-13")),
            "k-13".to_string(),
        )])
        .collect();
    // The first process: the broker commits; its answers are never recorded (it "died").
    let first = t.adapter().perform_batch(&batch).await;
    assert!(
        first.iter().all(|a| a.as_ref().is_ok_and(|r| r.outcome.ok)),
        "{first:?}"
    );
    // The next process retries the same actions with the same keys.
    let retried = t.adapter().perform_batch(&batch).await;
    for answer in &retried {
        let result = answer.as_ref().expect("answered");
        assert!(result.outcome.ok, "{:?}", result.outcome);
        assert!(
            result.outcome.summary.contains("receipt"),
            "{}",
            result.outcome.summary
        );
    }
    let delivered = t.broker().peek(&t.work, 10).await.expect("work");
    assert_eq!(delivered.len(), 2, "each replay delivered once");
    assert_eq!(t.broker().message_count(&t.dlq).await.expect("dlq"), 37);
    // A replay with another key on a letter that is simply gone is still not ok.
    let other = t
        .adapter()
        .perform(
            &action(ActionKind::Replay, &id_of(&listed, "msg-5")),
            "another-key",
        )
        .await
        .expect("answered");
    assert!(!other.outcome.ok, "{:?}", other.outcome);
    t.cleanup().await;
}
