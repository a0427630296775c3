//! The SQS adapter against a real SQS-compatible server (moto, from scripts/upstreams.sh): the
//! server's own redrive after `maxReceiveCount`, every attribute type and a 256 KiB body intact,
//! FIFO groups, replay of one message from the middle, browsing 1,000 without hiding them, shared
//! DLQs, discard and duplicate actions, the source queue's counts as the connector's stats.
//! Faults are in `sqs_faults`. Ignored by plain
//! `cargo test`; scripts/test-all.sh runs them.

use std::time::{Duration, Instant};

use crate::support::sqs::{
    Redrive, binary, browse_all, depth, drain_look, header, hold_one, send, string, typed,
};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use triage::domain::{Action, ActionKind, ConnectorStatus, DeadLetterState};
use triage::upstream::Upstream;
use triage::upstream::sqs::message::REPLAY_ID_ATTRIBUTE;

pub fn action(kind: ActionKind, target: &str, destination: Option<&str>) -> Action {
    Action {
        kind,
        upstream: "sqs".into(),
        target: target.into(),
        operator: "maria@oncall".into(),
        note: None,
        level: None,
        payload: None,
        destination: destination.map(str::to_string),
        drop_ttl: false,
    }
}

/// 256 KiB of text: the largest message SQS took before 2025.
fn big_body() -> String {
    let line = "{\"lead\":\"ünïcödé\",\"n\":12345}\n";
    let mut body = String::new();
    while body.len() + line.len() <= 256 * 1024 {
        body.push_str(line);
    }
    body
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn redriven_messages_are_listed_under_their_connector_with_every_attribute_intact() {
    let q = Redrive::new("attrs", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let hostile = b"\x00\x1b[2J\xff\xfe\x9b31m";
    let typed_id = send(
        &q.client,
        &url,
        "{\"email\":\"a@example.com\"}",
        &[
            ("kind", string("lead.created")),
            ("score", typed("Number", "12.5")),
            ("blob", binary(hostile)),
            ("tenant", typed("String.custom", "acme ☃")),
            ("retries", typed("Number.int", "3")),
        ],
        None,
    )
    .await;
    let big = big_body();
    let big_id = send(&q.client, &url, &big, &[], None).await;
    let text = "Grüße aus Köln — 東京 🚀 \u{202e}evil";
    let text_id = send(&q.client, &url, text, &[("lang", string("de"))], None).await;
    let empty_id = send(&q.client, &url, "", &[], None).await;
    q.fail_all(0).await;
    assert_eq!(
        depth(&q.client, &q.dlq_url).await,
        (4, 0, 0),
        "moto redrove them"
    );

    let adapter = q.adapter(vec![q.binding(0, "orders")], None);
    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 4, "{letters:#?}");
    let by_id = |id: &str| {
        letters
            .iter()
            .find(|l| l.id == id)
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    for letter in &letters {
        assert_eq!(letter.connector, "orders");
        assert_eq!(letter.attempts, 2, "receive count before the browse");
        assert_eq!(letter.error.code, "max_receive_count");
        assert!(
            letter.error.message.contains("(maxReceiveCount 2)"),
            "{}",
            letter.error.message
        );
        assert_eq!(
            header(letter, "sqs.source_queue"),
            Some(q.sources[0].0.as_str())
        );
        assert!(header(letter, "sqs.SentTimestamp").is_some());
        assert!(header(letter, "sqs.ApproximateFirstReceiveTimestamp").is_some());
        assert_eq!(
            header(letter, "sqs.dead_letter_queue"),
            Some(q.dlq.as_str())
        );
    }
    let typed_letter = by_id(&typed_id);
    assert_eq!(typed_letter.payload, b"{\"email\":\"a@example.com\"}");
    assert_eq!(header(typed_letter, "kind"), Some("lead.created"));
    assert_eq!(header(typed_letter, "score"), Some("12.5"));
    assert_eq!(header(typed_letter, "retries"), Some("3"));
    assert_eq!(header(typed_letter, "tenant"), Some("acme ☃"));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hostile);
    assert_eq!(
        header(typed_letter, "blob"),
        Some(format!("base64:{b64}").as_str())
    );
    assert_eq!(
        header(typed_letter, "sqs.attribute_types"),
        Some("blob=Binary, kind=String, retries=Number.int, score=Number, tenant=String.custom")
    );
    assert_eq!(by_id(&big_id).payload, big.as_bytes());
    assert_eq!(by_id(&text_id).payload, text.as_bytes());
    assert_eq!(by_id(&empty_id).payload, b"");

    // Browsing hid nothing: all four are visible again at once.
    assert_eq!(depth(&q.client, &q.dlq_url).await, (4, 0, 0));
    let reports = adapter.connectors().await.expect("connectors");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].id, "orders");
    assert_eq!(reports[0].stats.dead, 4);
    assert_eq!(reports[0].stats.ready, 0);
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn replaying_one_from_the_middle_sends_exactly_it_and_the_dlq_keeps_the_rest() {
    let q = Redrive::new("middle", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = send(
            &q.client,
            &url,
            &format!("{{\"n\":{n}}}"),
            &[
                ("n", typed("Number", &n.to_string())),
                ("raw", binary(&[n as u8, 0, 255])),
                ("who", typed("String.custom", "crm")),
            ],
            None,
        )
        .await;
        ids.push(id);
    }
    q.fail_all(0).await;
    let adapter = q.adapter(vec![q.binding(0, "orders")], None);
    let before = browse_all(&adapter).await;
    assert_eq!(before.len(), 5);
    let watermark = chrono::Utc::now();

    let key = "0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    let result = adapter
        .perform(&action(ActionKind::Replay, &ids[2], None), key)
        .await
        .expect("replay answered");
    assert!(result.outcome.ok, "{:?}", result.outcome);
    assert_eq!(
        result.dead_letter.as_ref().map(|d| d.state),
        Some(DeadLetterState::Replayed)
    );

    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 1, "exactly the one replayed");
    let copy = &arrived[0];
    assert_eq!(copy.body(), Some("{\"n\":2}"));
    let attributes = copy.message_attributes().expect("attributes");
    assert_eq!(attributes.len(), 4);
    assert_eq!(attributes["n"].string_value(), Some("2"));
    assert_eq!(attributes["n"].data_type(), "Number");
    assert_eq!(
        attributes["raw"]
            .binary_value()
            .map(|b| b.as_ref().to_vec()),
        Some(vec![2, 0, 255])
    );
    assert_eq!(attributes["who"].data_type(), "String.custom");
    assert_eq!(attributes[REPLAY_ID_ATTRIBUTE].string_value(), Some(key));

    let left: Vec<String> = drain_look(&q.client, &q.dlq_url)
        .await
        .iter()
        .filter_map(|m| m.message_id().map(str::to_string))
        .collect();
    let mut expected: Vec<String> = ids.clone();
    expected.remove(2);
    let mut left_sorted = left.clone();
    left_sorted.sort();
    expected.sort();
    assert_eq!(left_sorted, expected, "the DLQ keeps the other four");

    // The poller learns the removal as a tombstone; the others are unchanged (not re-sent).
    let page = adapter
        .dead_letters(Some(watermark), None)
        .await
        .expect("watermarked poll");
    let states: Vec<(String, DeadLetterState)> =
        page.items.iter().map(|l| (l.id.clone(), l.state)).collect();
    assert_eq!(states, vec![(ids[2].clone(), DeadLetterState::Replayed)]);

    // The same action again (a retry with the same key) is answered, not sent twice.
    let again = adapter
        .perform(&action(ActionKind::Replay, &ids[2], None), key)
        .await
        .expect("answered");
    assert!(again.outcome.ok);
    assert!(
        again.outcome.summary.contains("already replayed"),
        "{}",
        again.outcome.summary
    );
    assert_eq!(
        depth(&q.client, &url).await,
        (1, 0, 0),
        "the one replay, nothing sent twice"
    );
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn fifo_dead_letters_keep_their_groups_and_replay_into_the_same_group_once() {
    let q = Redrive::new("fifo", 1, 2, true).await;
    let url = q.sources[0].1.clone();
    let a = send(
        &q.client,
        &url,
        "a1",
        &[("g", string("a"))],
        Some("group-a"),
    )
    .await;
    let b = send(
        &q.client,
        &url,
        "b1",
        &[("g", string("b"))],
        Some("group-b"),
    )
    .await;
    q.fail_all(0).await;
    let adapter = q.adapter(vec![q.binding(0, "fifo-orders")], None);
    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 2, "{letters:#?}");
    let letter_b = letters.iter().find(|l| l.id == b).expect("b listed");
    assert_eq!(header(letter_b, "sqs.MessageGroupId"), Some("group-b"));
    assert!(header(letter_b, "sqs.MessageDeduplicationId").is_some());
    assert!(header(letter_b, "sqs.SequenceNumber").is_some());
    assert_eq!(letter_b.connector, "fifo-orders");

    let key = "0197a1b2-0000-7e5f-8a9b-0c1d2e3f4a5b";
    let done = adapter
        .perform(&action(ActionKind::Replay, &b, None), key)
        .await
        .expect("replay");
    assert!(done.outcome.ok, "{:?}", done.outcome);
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 1);
    let attrs = arrived[0].attributes().expect("system attributes");
    use aws_sdk_sqs::types::MessageSystemAttributeName as N;
    assert_eq!(
        attrs.get(&N::MessageGroupId).map(String::as_str),
        Some("group-b")
    );
    assert_eq!(
        attrs.get(&N::MessageDeduplicationId).cloned(),
        Some(triage::upstream::sqs::message::deduplication_id(key))
    );
    // A second send with the same key (a crash between send and delete) is dropped by SQS's
    // deduplication: the same id within 5 minutes.
    send_replay_again(&q, &url, key, "b1", "group-b").await;
    assert_eq!(drain_look(&q.client, &url).await.len(), 1, "deduplicated");
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), Some(a.as_str()));
    q.delete().await;
}

async fn send_replay_again(q: &Redrive, url: &str, key: &str, body: &str, group: &str) {
    q.client
        .send_message()
        .queue_url(url)
        .message_body(body)
        .message_group_id(group)
        .message_deduplication_id(triage::upstream::sqs::message::deduplication_id(key))
        .send()
        .await
        .expect("resend");
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn browsing_a_thousand_leaves_all_of_them_visible_within_seconds() {
    let q = Redrive::new("thousand", 1, 2, false).await;
    for batch in 0..100 {
        let entries: Vec<SendMessageBatchRequestEntry> = (0..10)
            .map(|n| {
                SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(format!("{{\"n\":{}}}", batch * 10 + n))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = q
            .client
            .send_message_batch()
            .queue_url(&q.dlq_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("batch");
        assert!(out.failed().is_empty());
    }
    // moto scans its whole queue several times per received message (≈ 1–2 s per receive of
    // ten from 1,000 on this machine; AWS answers in ≈ 20 ms): the pass gets the time it needs.
    let adapter = q
        .adapter(vec![q.binding(0, "bulk")], None)
        .with_visibility(Duration::from_secs(1800))
        .with_pass_time(Duration::from_secs(900));
    let started = Instant::now();
    let letters = browse_all(&adapter).await;
    let took = started.elapsed();
    assert_eq!(letters.len(), 1000);
    let mut ids: Vec<&str> = letters.iter().map(|l| l.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000, "each once");
    // Visible again within seconds of the browse's end (at once, in fact).
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = depth(&q.client, &q.dlq_url).await;
        if now == (1000, 0, 0) {
            break;
        }
        assert!(Instant::now() < deadline, "still hidden after 3 s: {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("browsed 1,000 in {took:?}");
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn two_sources_sharing_a_dlq_are_split_by_origin_and_never_guessed() {
    let q = Redrive::new("shared", 2, 2, false).await;
    let (src0, url0) = q.sources[0].clone();
    let (src1, url1) = q.sources[1].clone();
    let tagged = send(
        &q.client,
        &url0,
        "from-0",
        &[("origin", string(&src0))],
        None,
    )
    .await;
    let untagged = send(&q.client, &url1, "from-1", &[], None).await;
    q.fail_all(0).await;
    q.fail_all(1).await;
    let adapter = q.adapter(
        vec![q.binding(0, "hubspot"), q.binding(1, "salesforce")],
        Some("origin"),
    );
    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 2);
    let first = letters.iter().find(|l| l.id == tagged).expect("tagged");
    assert_eq!(first.connector, "hubspot");
    let second = letters.iter().find(|l| l.id == untagged).expect("untagged");
    assert_eq!(second.connector, format!("dlq:{}", q.dlq));
    assert_eq!(second.error.code, "unattributed");
    assert!(
        second
            .error
            .message
            .contains("does not say which one it came from")
            && second.error.message.contains(&src0)
            && second.error.message.contains(&src1),
        "{}",
        second.error.message
    );
    // Each connector counts its own share, not the DLQ's depth.
    let reports = adapter.connectors().await.expect("connectors");
    let dead: Vec<(String, u64)> = reports
        .iter()
        .map(|r| (r.id.clone(), r.stats.dead))
        .collect();
    assert_eq!(dead, vec![("hubspot".into(), 1), ("salesforce".into(), 0)]);

    // No source known: refused with the way out; with --to it goes where asked.
    let refused = adapter
        .perform(&action(ActionKind::Replay, &untagged, None), "k-1")
        .await
        .expect("answered");
    assert!(!refused.outcome.ok);
    assert!(
        refused.outcome.summary.contains("--to queue:NAME"),
        "{}",
        refused.outcome.summary
    );
    assert_eq!(
        depth(&q.client, &q.dlq_url).await,
        (2, 0, 0),
        "nothing moved"
    );
    let to = format!("queue:{src1}");
    let sent = adapter
        .perform(&action(ActionKind::Replay, &untagged, Some(&to)), "k-2")
        .await
        .expect("answered");
    assert!(sent.outcome.ok, "{:?}", sent.outcome);
    let arrived = drain_look(&q.client, &url1).await;
    assert_eq!(arrived.len(), 1);
    assert_eq!(arrived[0].body(), Some("from-1"));
    // The attributed one goes back to its own source.
    let back = adapter
        .perform(&action(ActionKind::Replay, &tagged, None), "k-3")
        .await
        .expect("answered");
    assert!(back.outcome.ok, "{:?}", back.outcome);
    assert_eq!(drain_look(&q.client, &url0).await.len(), 1);
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0));
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn discard_deletes_once_and_a_missing_letter_is_said_to_be_gone() {
    let q = Redrive::new("discard", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let keep = send(&q.client, &url, "keep", &[], None).await;
    let drop = send(&q.client, &url, "drop", &[], None).await;
    q.fail_all(0).await;
    let adapter = q.adapter(vec![q.binding(0, "orders")], None);
    assert_eq!(browse_all(&adapter).await.len(), 2);
    let done = adapter
        .perform(&action(ActionKind::Discard, &drop, None), "d-1")
        .await
        .expect("discard");
    assert!(done.outcome.ok, "{:?}", done.outcome);
    assert_eq!(
        done.dead_letter.map(|d| d.state),
        Some(DeadLetterState::Discarded)
    );
    let again = adapter
        .perform(&action(ActionKind::Discard, &drop, None), "d-1")
        .await
        .expect("answered");
    assert!(again.outcome.summary.contains("already discarded"));
    let left = drain_look(&q.client, &q.dlq_url).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].message_id(), Some(keep.as_str()));
    assert_eq!(
        depth(&q.client, &url).await,
        (0, 0, 0),
        "a discard sends nothing"
    );

    // A fresh process asked about a letter that is not there: gone, not retried forever.
    let fresh = q.adapter(vec![q.binding(0, "orders")], None);
    let gone = fresh
        .perform(&action(ActionKind::Replay, "no-such-message", None), "d-2")
        .await
        .expect("answered");
    assert!(!gone.outcome.ok);
    assert!(
        gone.outcome
            .summary
            .contains("no longer in the dead-letter queue")
    );
    // A connector whose source has no redrive policy, and one whose queue is missing.
    let plain =
        crate::support::sqs::create_queue(&q.client, &format!("{}-plain", q.dlq), &[]).await;
    let lonely = q.adapter(
        vec![
            triage::upstream::sqs::QueueBinding {
                connector: "plain".into(),
                name: "plain".into(),
                queue: format!("{}-plain", q.dlq),
                dead_letter_queue: None,
            },
            triage::upstream::sqs::QueueBinding {
                connector: "ghost".into(),
                name: "ghost".into(),
                queue: "no-such-queue-anywhere".into(),
                dead_letter_queue: None,
            },
        ],
        None,
    );
    let reports = lonely.connectors().await.expect("connectors");
    assert_eq!(reports[0].status, ConnectorStatus::Degraded);
    assert!(
        reports[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("no redrive policy")
    );
    assert_eq!(reports[1].status, ConnectorStatus::Failing);
    assert!(
        reports[1]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("not found")
    );
    let _ = q.client.delete_queue().queue_url(plain).send().await;
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_source_queues_visible_in_flight_and_delayed_counts_are_its_connectors_stats() {
    let q = Redrive::new("counts", 1, 5, false).await;
    let url = q.sources[0].1.clone();
    for n in 0..3 {
        send(&q.client, &url, &format!("ready-{n}"), &[], None).await;
    }
    q.client
        .send_message()
        .queue_url(&url)
        .message_body("later")
        .delay_seconds(300)
        .send()
        .await
        .expect("a delayed send");
    // Another consumer holds one.
    assert_eq!(hold_one(&q.client, &url).await, 1);
    let adapter = q.adapter(vec![q.binding(0, "orders")], None);
    let reports = adapter.connectors().await.expect("connectors");
    let stats = &reports[0].stats;
    assert_eq!(
        (stats.ready, stats.in_flight, stats.retrying, stats.dead),
        (2, 1, 1, 0),
        "{stats:?}"
    );
    q.delete().await;
}
