//! The outbox's replays and discards against a real RabbitMQ 3.10 (scripts/upstreams.sh): many
//! actions on one DLQ are served by ONE pass (counted by the broker: `deliver_get` of the DLQ,
//! where a pass reads every message once), the poller's next watermarked read is served by that
//! pass, and the single-action semantics (already handled, seen but gone, never seen by this
//! process, unroutable, one replay id per action) hold in a batch. Targets are triage identities
//! (`x-triage-id`, stamped by the first pass that saw a message), found by `message_id` with
//! `id_of`. Ignored by plain `cargo test`; scripts/test-all.sh runs them.

#[allow(dead_code)] // shared helpers, partly used here
use crate::support::rabbitmq as support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::Utc;
use lapin::BasicProperties;
use lapin::options::BasicGetOptions;
use lapin::types::AMQPValue;
use support::{Topology, browse_all, id_of, mixed_messages};
use triage::domain::{Action, ActionKind, DeadLetter, DeadLetterState, OutboxState, Timestamp};
use triage::upstream::rabbitmq::message::{self, REPLAY_ID_HEADER, STAMP_HEADER};
use triage::upstream::rabbitmq::{FaultPoint, RabbitMq};
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

fn replay_id(properties: &BasicProperties) -> String {
    match properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(REPLAY_ID_HEADER))
    {
        Some(AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Every page of `dead_letters(since, …)`, following cursors.
async fn read_all(adapter: &RabbitMq, since: Option<Timestamp>) -> Vec<DeadLetter> {
    let mut page = adapter.dead_letters(since, None).await.expect("browse");
    let mut all = std::mem::take(&mut page.items);
    while let Some(cursor) = page.next_cursor.take() {
        page = adapter
            .dead_letters(since, Some(&cursor))
            .await
            .expect("next page");
        all.append(&mut page.items);
    }
    all
}

/// Removes the DLQ's head outside triage (as another consumer or a shovel would).
async fn take_head(t: &Topology) -> Vec<u8> {
    t.channel
        .basic_get(t.dlq.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
        .expect("a message")
        .delivery
        .data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn twenty_five_outbox_actions_in_a_3000_dlq_take_one_pass_which_also_serves_the_poller() {
    const N: usize = 3000;
    let t = Topology::new("batch").await;
    let messages = mixed_messages(N);
    t.dead_letter(&messages).await;
    let adapter = Arc::new(t.adapter());
    // Client-side counts of the passes the adapter makes and the transactions it commits (the
    // broker's `deliver_get` statistics lose the deliveries of a channel closed within its 1 s
    // statistics interval, which a pass's channel often is).
    let (passes, commits) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (pass_counter, commit_counter) = (passes.clone(), commits.clone());
    adapter.set_fault_hook(Some(Arc::new(move |point| {
        match point {
            FaultPoint::PassStarted => pass_counter.fetch_add(1, Ordering::SeqCst),
            FaultPoint::BeforeCommit => commit_counter.fetch_add(1, Ordering::SeqCst),
            _ => 0,
        };
        false
    })));

    // The poller's first browse: one pass that changes nothing (every message, seen for the first
    // time, is identified by its content; none has a twin, so nothing is moved or committed).
    let browsed = read_all(&adapter, None).await;
    assert_eq!(browsed.len(), N);
    assert_eq!(
        (
            passes.load(Ordering::SeqCst),
            commits.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    commits.store(0, Ordering::SeqCst);
    let first_id = browsed[0].id.clone();
    assert_eq!(first_id, id_of(&browsed, "msg-0"));
    // Meanwhile the head goes elsewhere outside triage, and five new letters arrive.
    assert_eq!(take_head(&t).await, messages[0].0);
    let late: Vec<(Vec<u8>, BasicProperties)> = (0..5)
        .map(|i| {
            let id = format!("late-{i}");
            (id.clone().into_bytes(), t.dead_properties(&id, &t.work))
        })
        .collect();
    t.publish_to_dlq(late.clone()).await;

    // 24 replays and discards spread over the DLQ (the 1 MiB message and ones without a
    // message_id included), and one target that never existed, enqueued as the console does.
    let mut picks: Vec<(usize, ActionKind)> = vec![(3, ActionKind::Replay)];
    for k in 1..=23 {
        let kind = if k % 2 == 0 {
            ActionKind::Replay
        } else {
            ActionKind::Discard
        };
        picks.push((k * 125 + k % 4, kind));
    }
    assert!(
        picks
            .iter()
            .any(|(i, _)| messages[*i].1.message_id().is_none())
    );
    let mut actions: Vec<Action> = picks
        .iter()
        .map(|(i, kind)| action(*kind, &browsed[*i].id))
        .collect();
    actions.insert(12, action(ActionKind::Replay, "msg-nope"));
    assert_eq!(actions.len(), 25);
    let dir = tempfile::tempdir().expect("tempdir");
    let store_path = dir.path().join("triage.db");
    let writer = triage::sync::StoreWriter::open(&store_path).expect("store");
    let mut upstreams = triage::sync::Upstreams::default();
    upstreams.insert(adapter.clone());
    let mut entries = Vec::new();
    for a in actions {
        let entry = writer
            .call(move |s| s.enqueue_action(&a, Utc::now()))
            .await
            .expect("enqueue");
        entries.push(entry);
    }
    let (changes, _) = tokio::sync::broadcast::channel(64);
    let handled = triage::sync::outbox::process_due(&upstreams, &writer, &changes)
        .await
        .expect("outbox");
    assert_eq!(handled, 25);
    let first_error = triage::store::Store::open(&store_path)
        .expect("reader")
        .outbox_entry(&entries[0].id)
        .expect("get")
        .and_then(|e| e.last_error);
    assert_eq!(
        commits.load(Ordering::SeqCst),
        1,
        "every change of the batch (24 actions) in one transaction; first action's error: \
         {first_error:?}"
    );

    // ONE pass for the 25 actions (which also reads the five late letters, seen for the first
    // time).
    assert_eq!(passes.load(Ordering::SeqCst), 2);

    // Each outbox row is done with its own audit rows; the missing target is not ok.
    let store = triage::store::Store::open(&store_path).expect("reader");
    let audit = store.page_audit(None, 200).expect("audit");
    for entry in &entries {
        let done = store.outbox_entry(&entry.id).expect("get").expect("row");
        let events: Vec<&str> = audit
            .iter()
            .rev()
            .filter(|e| e.outbox_id.as_deref() == Some(entry.id.as_str()))
            .map(|e| e.event.as_str())
            .collect();
        let kind = entry.action.kind.as_str();
        if entry.action.target == "msg-nope" {
            assert_eq!(done.state, OutboxState::Failed, "{done:?}");
            let outcome = done.outcome.expect("outcome");
            assert!(!outcome.ok);
            assert!(
                outcome
                    .summary
                    .contains("no longer in the dead-letter queue"),
                "{}",
                outcome.summary
            );
            assert_eq!(
                events,
                vec![format!("{kind}.requested"), format!("{kind}.failed")]
            );
            continue;
        }
        assert_eq!(done.state, OutboxState::Sent, "{done:?}");
        assert_eq!(
            events,
            vec![format!("{kind}.requested"), format!("{kind}.sent")]
        );
        let state = store
            .dead_letter("rmq", &entry.action.target)
            .expect("dead letter")
            .map(|d| d.state);
        let expected = match entry.action.kind {
            ActionKind::Discard => DeadLetterState::Discarded,
            _ => DeadLetterState::Replayed,
        };
        assert_eq!(state, Some(expected), "{}", entry.action.target);
    }

    // The poller's next watermarked read is that pass's snapshot, without another pass: the
    // acted-on letters with their new state, the head gone outside triage as a tombstone, the
    // late letters; then nothing.
    let since = Utc::now() - chrono::Duration::hours(1);
    let polled = read_all(&adapter, Some(since)).await;
    let state_of: HashMap<&str, DeadLetterState> =
        polled.iter().map(|d| (d.id.as_str(), d.state)).collect();
    assert_eq!(polled.len(), N + 5, "N - 1 visited + 5 late + 1 tombstone");
    assert_eq!(
        state_of.get(first_id.as_str()),
        Some(&DeadLetterState::Discarded)
    );
    for i in 0..5 {
        let late_id = id_of(&polled, &format!("late-{i}"));
        assert!(
            browsed.iter().all(|d| d.id != late_id),
            "a new letter gets a new identity"
        );
        assert_eq!(state_of.get(late_id.as_str()), Some(&DeadLetterState::Dead));
    }
    for (i, kind) in &picks {
        let expected = match kind {
            ActionKind::Discard => DeadLetterState::Discarded,
            _ => DeadLetterState::Replayed,
        };
        assert_eq!(state_of.get(browsed[*i].id.as_str()), Some(&expected));
    }
    assert!(!state_of.contains_key("msg-nope"));
    let dead = polled
        .iter()
        .filter(|d| d.state == DeadLetterState::Dead)
        .count();
    assert_eq!(dead, N - 1 - picks.len() + 5);
    assert!(
        adapter
            .dead_letters(Some(since), None)
            .await
            .expect("poll")
            .items
            .is_empty(),
        "served once"
    );
    assert_eq!(passes.load(Ordering::SeqCst), 2, "no pass for the poller");

    // The work queue holds exactly the replayed messages, byte-exact, in DLQ order, each with
    // its own action's replay id; the DLQ keeps the rest in order, the late ones last.
    let key_of: HashMap<&str, &str> = entries
        .iter()
        .map(|e| (e.action.target.as_str(), e.idempotency_key.as_str()))
        .collect();
    let mut replayed: Vec<usize> = picks
        .iter()
        .filter(|(_, kind)| *kind == ActionKind::Replay)
        .map(|(i, _)| *i)
        .collect();
    replayed.sort_unstable();
    let delivered = t.broker().peek(&t.work, 100).await.expect("work queue");
    assert_eq!(delivered.len(), replayed.len());
    for ((payload, properties), i) in delivered.iter().zip(&replayed) {
        let (original_payload, original) = &messages[*i];
        assert!(payload == original_payload, "message {i} byte-exact");
        assert_eq!(properties.message_id(), original.message_id());
        assert_eq!(
            properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("meta")),
            original
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("meta"))
        );
        assert_eq!(
            replay_id(properties),
            key_of[browsed[*i].id.as_str()],
            "message {i}"
        );
        assert!(
            properties
                .headers()
                .as_ref()
                .is_none_or(|h| !h.inner().contains_key(STAMP_HEADER)),
            "message {i}: the replay does not carry the dead letter's identity"
        );
    }
    let picked: Vec<usize> = picks.iter().map(|(i, _)| *i).collect();
    let expected: Vec<&Vec<u8>> = messages
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && !picked.contains(i))
        .map(|(_, (p, _))| p)
        .chain(late.iter().map(|(p, _)| p))
        .collect();
    let rest = t.broker().peek(&t.dlq, 2 * N).await.expect("dlq");
    assert!(
        rest.iter().map(|(p, _)| p).collect::<Vec<_>>() == expected,
        "the other {} stay in order ({} now)",
        expected.len(),
        rest.len()
    );
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn targets_never_browsed_are_looked_for_in_every_dlq_with_one_pass_each() {
    let a = Topology::new("multi-a").await;
    let b = Topology::new("multi-b").await;
    for (t, prefix) in [(&a, "a"), (&b, "b")] {
        t.publish_to_dlq((0..30).map(|i| {
            let id = format!("{prefix}-{i}");
            (id.clone().into_bytes(), t.dead_properties(&id, &t.work))
        }))
        .await;
    }
    // Identities exist only once a pass stamped them: another process (another adapter
    // instance) browsed both DLQs first. The adapter acting below never browsed anything, so it
    // does not know which DLQ holds which target.
    let stamped = browse_all(&Topology::adapter_for(&[("orders", &a), ("billing", &b)])).await;
    assert_eq!(stamped.len(), 60);
    let (a5, b7, b20, a1) = (
        id_of(&stamped, "a-5"),
        id_of(&stamped, "b-7"),
        id_of(&stamped, "b-20"),
        id_of(&stamped, "a-1"),
    );
    let adapter = Topology::adapter_for(&[("orders", &a), ("billing", &b)]);
    let passes = Arc::new(AtomicUsize::new(0));
    let counter = passes.clone();
    adapter.set_fault_hook(Some(Arc::new(move |point| {
        if point == FaultPoint::PassStarted {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        false
    })));
    let batch: Vec<(Action, String)> = [
        (ActionKind::Replay, a5.as_str(), "k1"),
        (ActionKind::Discard, b7.as_str(), "k2"),
        (ActionKind::Replay, b20.as_str(), "k3"),
        (ActionKind::Replay, "zz-missing", "k4"),
        (ActionKind::Discard, a5.as_str(), "k5"),
        (ActionKind::Ack, a1.as_str(), "k6"),
    ]
    .into_iter()
    .map(|(kind, target, key)| (action(kind, target), key.to_string()))
    .collect();
    let answers = adapter.perform_batch(&batch).await;
    assert_eq!(answers.len(), batch.len());
    let summary = |i: usize| match &answers[i] {
        Ok(result) => (result.outcome.ok, result.outcome.summary.clone()),
        Err(e) => panic!("answer {i}: {e}"),
    };
    let (ok, text) = summary(0);
    assert!(ok && text.contains("committed by the broker"), "{text}");
    let letter = answers[0]
        .as_ref()
        .ok()
        .and_then(|r| r.dead_letter.clone())
        .expect("the replayed letter");
    assert_eq!(
        (letter.id.as_str(), letter.state),
        (a5.as_str(), DeadLetterState::Replayed)
    );
    assert_eq!(letter.connector, "orders");
    let (ok, text) = summary(1);
    assert!(ok && text == format!("discarded from {}", b.dlq), "{text}");
    assert!(summary(2).0);
    let (ok, text) = summary(3);
    assert!(
        !ok && text.contains("no longer in the dead-letter queue"),
        "{text}"
    );
    let (ok, text) = summary(4);
    assert!(ok && text == "already replayed by triage", "{text}");
    assert!(matches!(answers[5], Err(UpstreamError::Unsupported { .. })));
    // One pass over each DLQ, no more (both read for the targets never browsed by this
    // adapter).
    assert_eq!(passes.load(Ordering::SeqCst), 2);
    let to_a = a.broker().peek(&a.work, 10).await.expect("work a");
    let to_b = b.broker().peek(&b.work, 10).await.expect("work b");
    assert_eq!(to_a.len(), 1);
    assert_eq!(
        (to_a[0].0.as_slice(), replay_id(&to_a[0].1).as_str()),
        (&b"a-5"[..], "k1")
    );
    assert_eq!(to_b.len(), 1);
    assert_eq!(
        (to_b[0].0.as_slice(), replay_id(&to_b[0].1).as_str()),
        (&b"b-20"[..], "k3")
    );
    assert_eq!(a.broker().message_count(&a.dlq).await.expect("a"), 29);
    assert_eq!(b.broker().message_count(&b.dlq).await.expect("b"), 28);
    a.cleanup().await;
    b.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_letter_seen_at_the_last_browse_but_gone_is_retried_then_reported_gone() {
    let t = Topology::new("gone").await;
    let messages = mixed_messages(20);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    let listed = read_all(&adapter, None).await;
    assert_eq!(listed.len(), 20);
    let id0 = id_of(&listed, "msg-0");
    take_head(&t).await;
    let first = adapter
        .perform(&action(ActionKind::Replay, &id0), "gone-0")
        .await;
    match &first {
        Err(e) => {
            assert!(e.is_transient(), "{e}");
            assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(2)));
        }
        Ok(result) => panic!("expected a transient error: {result:?}"),
    }
    // That pass refreshed what the adapter saw: the retry learns the letter is gone for good.
    let retried = adapter
        .perform(&action(ActionKind::Replay, &id0), "gone-0")
        .await
        .expect("retry");
    assert!(!retried.outcome.ok);
    assert!(
        retried
            .outcome
            .summary
            .contains("no longer in the dead-letter queue"),
        "{}",
        retried.outcome.summary
    );
    assert_eq!(t.broker().message_count(&t.work).await.expect("work"), 0);
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn an_unroutable_replay_in_a_batch_stays_in_the_dlq_and_is_not_ok() {
    let t = Topology::new("unroutable").await;
    let routes = [
        ("m-0", t.work.clone()),
        ("m-1", "nowhere".to_string()),
        ("m-2", t.work.clone()),
    ];
    t.publish_to_dlq(
        routes
            .iter()
            .map(|(id, key)| (id.as_bytes().to_vec(), t.dead_properties(id, key))),
    )
    .await;
    let adapter = t.adapter();
    // The first browse gives the identities the actions name.
    let listed = browse_all(&adapter).await;
    let (m1, m2) = (id_of(&listed, "m-1"), id_of(&listed, "m-2"));
    let batch = vec![
        (action(ActionKind::Replay, &m1), "u-1".to_string()),
        (action(ActionKind::Replay, &m2), "u-2".to_string()),
    ];
    let answers = adapter.perform_batch(&batch).await;
    let first = answers[0].as_ref().expect("answered");
    assert!(!first.outcome.ok);
    assert!(
        first
            .outcome
            .summary
            .contains("has no queue bound for key \"nowhere\""),
        "{}",
        first.outcome.summary
    );
    assert_eq!(
        first.dead_letter.as_ref().map(|d| (d.id.as_str(), d.state)),
        Some((m1.as_str(), DeadLetterState::Dead))
    );
    assert!(answers[1].as_ref().is_ok_and(|r| r.outcome.ok));
    let work = t.broker().peek(&t.work, 10).await.expect("work");
    assert_eq!(
        work.iter().map(|(p, _)| p.as_slice()).collect::<Vec<_>>(),
        vec![&b"m-2"[..]]
    );
    let dlq = t.broker().peek(&t.dlq, 10).await.expect("dlq");
    assert_eq!(
        dlq.iter().map(|(p, _)| p.as_slice()).collect::<Vec<_>>(),
        vec![&b"m-0"[..], &b"m-1"[..]],
        "kept, in order"
    );
    assert_eq!(
        message::identity(&dlq[1].0, &dlq[1].1),
        m1,
        "put back as it was, with its identity"
    );
    // Not handled: asking again tries again (and fails again), it is not "already replayed".
    let again = adapter
        .perform(&action(ActionKind::Replay, &m1), "u-1")
        .await
        .expect("again");
    assert!(
        !again.outcome.ok && again.outcome.summary.contains("no queue bound"),
        "{:?}",
        again.outcome
    );
    t.cleanup().await;
}

/// Regression (found while porting to hold passes): the adapter decides "another client consumes
/// the DLQ" from the management API's `consumers`, a statistic that still counts triage's own
/// hold-pass consumer after the pass closed its channel. A replay right after a browse must not be
/// held off by the adapter's own, finished pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_replay_right_after_a_browse_is_not_held_off_by_triages_own_pass() {
    let t = Topology::new("own-consumer").await;
    let messages = mixed_messages(200);
    t.dead_letter(&messages).await;
    let adapter = t.adapter();
    for round in 0..3 {
        let listed = browse_all(&adapter).await;
        let dead = listed
            .iter()
            .filter(|d| d.state == DeadLetterState::Dead)
            .count();
        assert_eq!(dead, 200 - round, "round {round}: the whole DLQ browsed");
        let target = id_of(&listed, &format!("msg-{}", 4 * round + 1));
        let result = adapter
            .perform(
                &action(ActionKind::Replay, &target),
                &format!("own-{round}"),
            )
            .await;
        match result {
            Ok(result) => assert!(result.outcome.ok, "round {round}: {:?}", result.outcome),
            Err(e) => panic!("round {round}: replay held off: {e}"),
        }
    }
    assert_eq!(t.broker().message_count(&t.work).await.expect("work"), 3);
    t.cleanup().await;
}
