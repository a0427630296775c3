//! SQS faults against the real SQS-compatible server: the server going away between a replay's
//! send and its delete, a receipt handle that goes stale while another consumer takes the
//! message, another consumer holding messages of the DLQ, and a crash between send and delete
//! (a duplicate with the same key, never a loss), and a crash after the delete (the receipt
//! answers the retry: "already replayed", nothing sent again). Ignored by plain `cargo test`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sqs::action;
use crate::support::sqs::{Redrive, Relay, adapter_at, browse_all, depth, drain_look, send};
use futures::FutureExt;
use triage::domain::ActionKind;
use triage::upstream::Upstream;
use triage::upstream::sqs::message::REPLAY_ID_ATTRIBUTE;
use triage::upstream::sqs::{FaultPoint, Sqs};

/// Performs until the adapter answers (transient errors retried, as the outbox would), at most
/// `within`; returns every transient error seen on the way.
async fn until_answered(
    adapter: &Sqs,
    target: &str,
    key: &str,
    within: Duration,
) -> (triage::upstream::ActionResult, Vec<String>) {
    until_kind_answered(adapter, ActionKind::Replay, target, key, within).await
}

async fn until_kind_answered(
    adapter: &Sqs,
    kind: ActionKind,
    target: &str,
    key: &str,
    within: Duration,
) -> (triage::upstream::ActionResult, Vec<String>) {
    let deadline = Instant::now() + within;
    let mut errors = Vec::new();
    loop {
        match adapter.perform(&action(kind, target, None), key).await {
            Ok(result) => return (result, errors),
            Err(e) => {
                assert!(e.is_transient(), "a permanent error: {e}");
                errors.push(e.to_string());
            }
        }
        assert!(Instant::now() < deadline, "never answered: {errors:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_server_going_away_mid_replay_keeps_the_action_pending_and_the_retry_only_deletes() {
    let q = Redrive::new("away", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let ids = [
        send(&q.client, &url, "one", &[], None).await,
        send(&q.client, &url, "two", &[], None).await,
    ];
    q.fail_all(0).await;
    let relay = Arc::new(Relay::start(&q.endpoint).await);
    let adapter = adapter_at(
        &relay.endpoint,
        vec![q.binding(0, "orders")],
        None,
        Duration::from_secs(5),
    )
    .with_visibility(Duration::from_secs(4));
    assert_eq!(browse_all(&adapter).await.len(), 2);

    let cut = relay.clone();
    adapter.set_fault_hook(Some(Arc::new(move |point| {
        let cut = cut.clone();
        async move {
            if point == FaultPoint::AfterSend {
                cut.cut();
            }
        }
        .boxed()
    })));
    let error = adapter
        .perform(&action(ActionKind::Replay, &ids[0], None), "key-away")
        .await
        .expect_err("the delete could not be confirmed");
    assert!(error.is_transient(), "stays pending: {error}");
    // A broken upstream is a state, not a panic: every call answers with an error.
    let down = adapter.connectors().await.expect_err("unreachable");
    assert!(down.is_transient(), "{down}");
    assert!(adapter.dead_letters(None, None).await.is_err());

    adapter.set_fault_hook(None);
    relay.restore();
    let (result, _) = until_answered(&adapter, &ids[0], "key-away", Duration::from_secs(15)).await;
    assert!(result.outcome.ok, "{:?}", result.outcome);
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 1, "sent once: the retry only deleted");
    assert_eq!(arrived[0].body(), Some("one"));
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), Some(ids[1].as_str()));
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_stale_receipt_handle_is_never_used_and_the_retry_refinds_the_message_by_its_id() {
    let q = Redrive::new("stale", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let target = send(&q.client, &url, "target", &[], None).await;
    let other = send(&q.client, &url, "other", &[], None).await;
    q.fail_all(0).await;
    let adapter = q
        .adapter(vec![q.binding(0, "orders")], None)
        .with_visibility(Duration::from_secs(2));
    assert_eq!(browse_all(&adapter).await.len(), 2);

    // While the replay is being sent, its visibility runs out and another consumer of the DLQ
    // receives the message: the adapter's handle is stale now.
    let consumer = q.client.clone();
    let dlq_url = q.dlq_url.clone();
    adapter.set_fault_hook(Some(Arc::new(move |point| {
        let consumer = consumer.clone();
        let dlq_url = dlq_url.clone();
        async move {
            if point != FaultPoint::AfterSend {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let got = consumer
                .receive_message()
                .queue_url(&dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(1)
                .send()
                .await
                .expect("other consumer receives");
            assert!(!got.messages().is_empty(), "the other consumer got them");
        }
        .boxed()
    })));
    let error = adapter
        .perform(&action(ActionKind::Replay, &target, None), "key-stale")
        .await
        .expect_err("not deleted with a stale handle");
    assert!(error.to_string().contains("may be stale"), "{error}");
    adapter.set_fault_hook(None);
    // The stale handle was not used: the message is still in the DLQ (held by the other one).
    let (visible, in_flight, _) = depth(&q.client, &q.dlq_url).await;
    assert_eq!(
        visible + in_flight,
        2,
        "nothing deleted with the stale handle"
    );

    let (result, _) = until_answered(&adapter, &target, "key-stale", Duration::from_secs(15)).await;
    assert!(result.outcome.ok, "{:?}", result.outcome);
    assert!(
        result
            .outcome
            .summary
            .contains("sent by an earlier attempt"),
        "{}",
        result.outcome.summary
    );
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 1, "sent once");
    assert_eq!(arrived[0].body(), Some("target"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1, "only the target left the DLQ");
    assert_eq!(left[0].message_id(), Some(other.as_str()));
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_crash_between_send_and_delete_duplicates_with_the_same_key_and_never_loses() {
    let q = Redrive::new("crash", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let target = send(&q.client, &url, "payload", &[], None).await;
    q.fail_all(0).await;
    let first = q
        .adapter(vec![q.binding(0, "orders")], None)
        .with_visibility(Duration::from_secs(2));
    assert_eq!(browse_all(&first).await.len(), 1);
    first.set_fault_hook(Some(Arc::new(|point| {
        async move {
            if point == FaultPoint::AfterSend {
                futures::future::pending::<()>().await;
            }
        }
        .boxed()
    })));
    // The process "dies" right after the send: its future is dropped before the delete.
    let cut = tokio::time::timeout(
        Duration::from_secs(3),
        first.perform(&action(ActionKind::Replay, &target, None), "key-crash"),
    )
    .await;
    assert!(cut.is_err(), "stopped mid-action");
    drop(first);

    let second = q.adapter(vec![q.binding(0, "orders")], None);
    let (result, _) = until_answered(&second, &target, "key-crash", Duration::from_secs(15)).await;
    assert!(result.outcome.ok, "{:?}", result.outcome);
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 2, "a duplicate, never a loss");
    for copy in &arrived {
        assert_eq!(copy.body(), Some("payload"));
        let key = copy
            .message_attributes()
            .and_then(|a| a.get(REPLAY_ID_ATTRIBUTE))
            .and_then(|v| v.string_value());
        assert_eq!(key, Some("key-crash"), "both carry the action's key");
    }
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0));
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn another_consumer_holding_dlq_messages_hides_nothing_and_gone_is_never_guessed() {
    let q = Redrive::new("consumer", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    for n in 0..5 {
        send(&q.client, &url, &format!("m{n}"), &[], None).await;
    }
    q.fail_all(0).await;
    let adapter = q.adapter(vec![q.binding(0, "orders")], None);
    let all = browse_all(&adapter).await;
    assert_eq!(all.len(), 5);
    // Another consumer takes two and holds them.
    let held = q
        .client
        .receive_message()
        .queue_url(&q.dlq_url)
        .max_number_of_messages(2)
        .visibility_timeout(30)
        .send()
        .await
        .expect("other consumer");
    let held_ids: Vec<String> = held
        .messages()
        .iter()
        .filter_map(|m| m.message_id().map(str::to_string))
        .collect();
    assert_eq!(held_ids.len(), 2);
    let watermark = chrono::Utc::now() - chrono::Duration::hours(1);
    let page = adapter
        .dead_letters(Some(watermark), None)
        .await
        .expect("poll");
    assert!(
        page.items
            .iter()
            .all(|l| l.state == triage::domain::DeadLetterState::Dead),
        "held messages are not taken as gone: {:?}",
        page.items
            .iter()
            .map(|l| (&l.id, l.state))
            .collect::<Vec<_>>()
    );
    let reports = adapter.connectors().await.expect("connectors");
    assert_eq!(reports[0].stats.dead, 5);
    assert!(
        reports[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("in flight elsewhere"),
        "{:?}",
        reports[0].last_error
    );
    // An action on a held message waits (transient), it is not "gone".
    let error = adapter
        .perform(&action(ActionKind::Replay, &held_ids[0], None), "key-held")
        .await
        .expect_err("held by another consumer");
    assert!(error.is_transient(), "{error}");
    assert_eq!(depth(&q.client, &url).await, (0, 0, 0), "nothing sent");
    assert_eq!(depth(&q.client, &q.dlq_url).await, (3, 2, 0));
    q.delete().await;
}

/// Performs `kind` on `target` with `key`, and "kills the process" when it reaches `point`: the
/// hook never returns and the action's future is dropped there (nothing after it runs).
async fn die_at(adapter: &Sqs, point: FaultPoint, kind: ActionKind, target: &str, key: &str) {
    let reached = Arc::new(tokio::sync::Notify::new());
    let signal = reached.clone();
    adapter.set_fault_hook(Some(Arc::new(move |at| {
        let signal = signal.clone();
        async move {
            if at == point {
                signal.notify_one();
                futures::future::pending::<()>().await;
            }
        }
        .boxed()
    })));
    let act = action(kind, target, None);
    let perform = adapter.perform(&act, key);
    tokio::select! {
        _ = reached.notified() => {}
        answer = perform => panic!("answered instead of dying at {point:?}: {answer:?}"),
    }
    adapter.set_fault_hook(None);
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_crash_after_the_delete_is_answered_already_replayed_from_the_receipt() {
    let q = Redrive::new("receipt", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let target = send(&q.client, &url, "payload", &[], None).await;
    let other = send(&q.client, &url, "other", &[], None).await;
    q.fail_all(0).await;
    let first = q.adapter(vec![q.binding(0, "orders")], None);
    assert_eq!(browse_all(&first).await.len(), 2);
    // Sent, receipt written, deleted from the DLQ — and the process dies before answering.
    die_at(
        &first,
        FaultPoint::AfterDelete,
        ActionKind::Replay,
        &target,
        "key-receipt",
    )
    .await;
    drop(first);
    let (visible, in_flight, _) = depth(&q.client, &q.dlq_url).await;
    assert_eq!(visible + in_flight, 1, "the target is gone from the DLQ");

    // The outbox retries with the same key in a new process: the letter is gone, the receipt says
    // this very replay happened.
    let second = q.adapter(vec![q.binding(0, "orders")], None);
    let (result, errors) =
        until_answered(&second, &target, "key-receipt", Duration::from_secs(60)).await;
    assert!(
        result.outcome.ok,
        "not failed: {:?} ({errors:?})",
        result.outcome
    );
    assert!(
        result.outcome.summary.contains("already replayed"),
        "{}",
        result.outcome.summary
    );
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 1, "delivered exactly once");
    assert_eq!(arrived[0].body(), Some("payload"));
    let key = arrived[0]
        .message_attributes()
        .and_then(|a| a.get(REPLAY_ID_ATTRIBUTE))
        .and_then(|v| v.string_value());
    assert_eq!(key, Some("key-receipt"));
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), Some(other.as_str()));

    // The receipts queue is triage's own: SQS drops receipts after a day, and it is never listed.
    let receipts = q.receipts_url().await.expect("the receipts queue exists");
    let retention = q
        .client
        .get_queue_attributes()
        .queue_url(&receipts)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod)
                .cloned()
        });
    assert_eq!(retention.as_deref(), Some("86400"));
    assert_eq!(
        drain_look(&q.client, &receipts).await.len(),
        1,
        "one receipt"
    );
    let listed: Vec<String> = browse_all(&second)
        .await
        .into_iter()
        .filter(|l| l.state == triage::domain::DeadLetterState::Dead)
        .map(|l| l.id)
        .collect();
    assert_eq!(listed, vec![other.clone()], "receipts are not dead letters");
    let reports = second.connectors().await.expect("connectors");
    assert_eq!(reports[0].stats.dead, 1);

    // Another replay of the gone letter (another key) is not the one the receipt names.
    let third = q.adapter(vec![q.binding(0, "orders")], None);
    let (gone, _) = until_answered(&third, &target, "key-other", Duration::from_secs(60)).await;
    assert!(!gone.outcome.ok, "{:?}", gone.outcome);
    assert!(
        gone.outcome
            .summary
            .contains("no longer in the dead-letter queue"),
        "{}",
        gone.outcome.summary
    );
    assert_eq!(
        drain_look(&q.client, &url).await.len(),
        1,
        "nothing sent again"
    );
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_crash_after_a_discards_delete_is_answered_already_discarded_from_the_receipt() {
    let q = Redrive::new("receipt-discard", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let target = send(&q.client, &url, "drop me", &[], None).await;
    let keep = send(&q.client, &url, "keep me", &[], None).await;
    q.fail_all(0).await;
    let first = q.adapter(vec![q.binding(0, "orders")], None);
    assert_eq!(browse_all(&first).await.len(), 2);
    die_at(
        &first,
        FaultPoint::AfterDelete,
        ActionKind::Discard,
        &target,
        "key-discard",
    )
    .await;
    drop(first);

    let second = q.adapter(vec![q.binding(0, "orders")], None);
    let (result, errors) = until_kind_answered(
        &second,
        ActionKind::Discard,
        &target,
        "key-discard",
        Duration::from_secs(60),
    )
    .await;
    assert!(
        result.outcome.ok,
        "not failed: {:?} ({errors:?})",
        result.outcome
    );
    assert!(
        result.outcome.summary.contains("already discarded"),
        "{}",
        result.outcome.summary
    );
    assert_eq!(
        depth(&q.client, &url).await,
        (0, 0, 0),
        "a discard sends nothing"
    );
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), Some(keep.as_str()));
    q.delete().await;
}
