//! What triage shows and acts on for a DLQ built the way real teams build them, against a real
//! RabbitMQ 3.10 (scripts/upstreams.sh) and through the real binary: two work queues sharing one
//! DLQ, an empty payload, binary and 2 MiB payloads, two messages with the same `message_id`,
//! byte-identical twins without one, a message that died twice, one from a queue no connector
//! binds. Every letter is listed once under the connector it died from, counted once, and a
//! replay acts on exactly the message that was shown. Ignored by plain `cargo test`.

use crate::support::rabbitmq as support;
use crate::support::rabbitmq_cli;

use std::collections::HashSet;

use futures::StreamExt;
use lapin::BasicProperties;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use rabbitmq_cli::Cli;
use support::Topology;

/// A second work queue that dead-letters into `t`'s DLQ (same DLX and routing key).
async fn second_work_queue(t: &Topology, name: &str) -> String {
    let queue = format!("{}.{name}", t.work);
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(t.dlx.as_str().into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(t.work.as_str().into()),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    t.channel
        .queue_declare(queue.as_str().into(), durable, args)
        .await
        .expect("second work queue");
    t.channel
        .queue_bind(
            queue.as_str().into(),
            t.exchange.as_str().into(),
            queue.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("bind");
    queue
}

/// Publishes to `queue` (through the work exchange) and rejects, so RabbitMQ dead-letters them.
async fn dead_letter_from(t: &Topology, queue: &str, messages: &[(Vec<u8>, BasicProperties)]) {
    for (payload, properties) in messages {
        t.channel
            .basic_publish(
                t.exchange.as_str().into(),
                queue.into(),
                BasicPublishOptions::default(),
                payload,
                properties.clone(),
            )
            .await
            .expect("publish");
    }
    t.channel.wait_for_confirms().await.expect("confirms");
    let channel = t.channel.clone();
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    for _ in messages {
        let delivery = consumer.next().await.expect("delivery").expect("ok");
        delivery
            .acker
            .reject(BasicRejectOptions { requeue: false })
            .await
            .expect("reject");
    }
    channel
        .basic_cancel(consumer.tag(), Default::default())
        .await
        .expect("cancel");
}

fn props(message_id: Option<&str>) -> BasicProperties {
    let p = BasicProperties::default().with_delivery_mode(2);
    match message_id {
        Some(id) => p.with_message_id(id.into()),
        None => p,
    }
}

/// A message that died in `first` (twice) then in `second` (once), with its own TTL moved into
/// `original-expiration`, sent by user `guest`: published straight to the DLQ.
fn died_twice(t: &Topology, first: &str, second: &str, message_id: &str) -> BasicProperties {
    let entry = |queue: &str, count: i64, expiration: Option<&str>| {
        let mut e = FieldTable::default();
        e.insert("reason".into(), AMQPValue::LongString("rejected".into()));
        e.insert("queue".into(), AMQPValue::LongString(queue.into()));
        e.insert(
            "exchange".into(),
            AMQPValue::LongString(t.exchange.as_str().into()),
        );
        e.insert("count".into(), AMQPValue::LongLongInt(count));
        e.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(queue.into())])),
        );
        if let Some(ttl) = expiration {
            e.insert(
                "original-expiration".into(),
                AMQPValue::LongString(ttl.into()),
            );
        }
        AMQPValue::FieldTable(e)
    };
    let mut headers = FieldTable::default();
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![
            entry(second, 1, Some("86400000")),
            entry(first, 2, None),
        ])),
    );
    BasicProperties::default()
        .with_headers(headers)
        .with_user_id("guest".into())
        .with_message_id(message_id.into())
}

fn header<'a>(letter: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    letter["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_shared_dlq_lists_every_message_once_under_its_origin_and_replays_exactly_it() {
    let t = Topology::new("truth").await;
    let ads = second_work_queue(&t, "ads").await;
    let twin = b"{\"same\":\"bytes\"}".to_vec();
    let crm_messages = vec![
        (Vec::new(), props(Some("crm-empty"))),
        (b"crm payload".to_vec(), props(Some("dup-id"))),
        (twin.clone(), props(None)),
        (twin.clone(), props(None)),
    ];
    let big = vec![0xA5u8; 2 * 1024 * 1024];
    let ads_messages = vec![
        (b"ads payload".to_vec(), props(Some("dup-id"))),
        (
            vec![0x00, 0xFF, 0x00, 0x1B, b'['],
            props(Some("ads-binary")),
        ),
        (big.clone(), props(Some("ads-big"))),
    ];
    dead_letter_from(&t, &t.work, &crm_messages).await;
    dead_letter_from(&t, &ads, &ads_messages).await;
    t.publish_to_dlq([
        (b"twice".to_vec(), died_twice(&t, &ads, &t.work, "twice")),
        (
            b"twice-b".to_vec(),
            died_twice(&t, &ads, &t.work, "twice-b"),
        ),
        (
            b"legacy".to_vec(),
            t.dead_properties("legacy-1", "legacy.work")
                .with_headers(legacy_death(&t)),
        ),
    ])
    .await;
    let cli = Cli::new(&t, &[("crm-work", &t.work), ("ads-work", &ads)]);
    cli.ok(&["sync", "--once"]);

    // Point 1: the empty payload lists in the table and as JSON.
    let table = cli.ok(&["dead-letters", "--limit", "0"]);
    assert!(
        table.contains("crm-work") && table.contains("ads-work"),
        "{table}"
    );
    let all = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(all.len(), 10, "every message once: {all:#?}");
    let ids: HashSet<&str> = all.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids.len(), 10, "identities never collide");
    let by_message_id = |mid: &str| -> Vec<&serde_json::Value> {
        all.iter()
            .filter(|d| header(d, "amqp.message_id") == Some(mid))
            .collect()
    };
    let empty = by_message_id("crm-empty");
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0]["payload"], "");

    // Point 2: each letter under the connector it died from; the DLQ counted once, split.
    let connector_of = |d: &serde_json::Value| d["connector"].as_str().unwrap_or("").to_string();
    assert_eq!(connector_of(empty[0]), "crm-work");
    assert_eq!(connector_of(by_message_id("ads-binary")[0]), "ads-work");
    assert_eq!(
        connector_of(by_message_id("twice")[0]),
        "crm-work",
        "its latest death"
    );
    let legacy = by_message_id("legacy-1");
    assert_eq!(connector_of(legacy[0]), format!("dlq:{}", t.dlq));
    assert!(
        legacy[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no connector is bound to queue legacy.work")),
        "{}",
        legacy[0]["error"]
    );
    let crm = cli.json(&["dead-letters", "--json", "--connector", "crm-work"]);
    assert_eq!(
        crm.len(),
        6,
        "4 from crm.work + the two that died there last"
    );
    let connectors = cli.json(&["connectors", "--json"]);
    let dead_of = |id: &str| {
        connectors
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["stats"]["dead"].clone())
    };
    assert_eq!(dead_of("crm-work"), Some(serde_json::json!(6)));
    assert_eq!(dead_of("ads-work"), Some(serde_json::json!(3)));

    // Point 3: same message_id, different messages: two rows, each its own payload.
    let dups = by_message_id("dup-id");
    assert_eq!(dups.len(), 2);
    let payloads: HashSet<&str> = dups.iter().filter_map(|d| d["payload"].as_str()).collect();
    assert_eq!(payloads, HashSet::from(["crm payload", "ads payload"]));
    let twins: Vec<&serde_json::Value> = all
        .iter()
        .filter(|d| d["payload"] == "{\"same\":\"bytes\"}")
        .collect();
    assert_eq!(twins.len(), 2, "byte-identical twins are two letters");
    assert_ne!(twins[0]["id"], twins[1]["id"]);

    // Point 8: attempts summed over x-death, user_id shown, the detail lists each death.
    let twice = by_message_id("twice")[0];
    assert_eq!(twice["attempts"], 3);
    assert_eq!(header(twice, "amqp.user_id"), Some("guest"));
    let deaths = header(twice, "x-death").unwrap_or("");
    assert!(
        deaths.contains(&ads) && deaths.contains(&t.work),
        "{deaths}"
    );
    let big_letter = by_message_id("ads-big")[0];
    assert_eq!(big_letter["payload_encoding"], "base64");

    // Replaying the ads `dup-id` delivers the ads payload, byte-exact, and nothing else.
    let ads_dup = dups
        .iter()
        .find(|d| d["payload"] == "ads payload")
        .and_then(|d| d["id"].as_str())
        .expect("ads dup");
    cli.ok(&["replay", ads_dup]);
    let to_ads = t.broker().peek(&ads, 10).await.expect("ads queue");
    assert_eq!(to_ads.len(), 1);
    assert_eq!(to_ads[0].0, b"ads payload");
    assert_eq!(t.broker().message_count(&t.work).await.expect("crm"), 0);
    // The message that died twice goes back to its latest origin with its TTL restored.
    let twice_id = twice["id"].as_str().expect("id");
    cli.ok(&["replay", twice_id]);
    let back = t.broker().peek(&t.work, 10).await.expect("crm queue");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0, b"twice");
    assert_eq!(
        back[0].1.expiration().as_ref().map(|e| e.as_str()),
        Some("86400000"),
        "the message's own TTL is restored"
    );
    assert_eq!(
        back[0].1.user_id().as_ref().map(|u| u.as_str()),
        Some("guest")
    );
    // Another destination: the first death's queue, without the TTL…
    let twice_b = by_message_id("twice-b")[0]["id"].as_str().expect("id");
    cli.ok(&["replay", twice_b, "--to", "first-origin", "--no-ttl"]);
    let to_ads = t.broker().peek(&ads, 10).await.expect("ads queue");
    assert_eq!(to_ads.len(), 2);
    assert_eq!(to_ads[1].0, b"twice-b");
    assert_eq!(to_ads[1].1.expiration(), &None, "--no-ttl drops the TTL");
    // … a letter whose origin no queue takes stays (refused), then goes to a queue named.
    let legacy_id = legacy[0]["id"].as_str().expect("id");
    let refused = cli.run(&["replay", legacy_id]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    cli.ok(&["replay", legacy_id, "--to", &format!("queue:{ads}")]);
    let to_ads = t.broker().peek(&ads, 10).await.expect("ads queue");
    assert_eq!(to_ads.len(), 3);
    assert_eq!(to_ads[2].0, b"legacy");
    let bad = cli.run(&["replay", legacy_id, "--to", "nowhere"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected first-origin, queue:NAME"));
    // The rest stays, each once, listed truthfully after the next sync.
    cli.ok(&["sync", "--once"]);
    let left = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(left.len(), 6);
    assert_eq!(t.broker().message_count(&t.dlq).await.expect("dlq"), 6);
    let replayed = cli.json(&["dead-letters", "--json", "--state", "replayed"]);
    let replayed_ids: HashSet<&str> = replayed.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(
        replayed_ids,
        HashSet::from([ads_dup, twice_id, twice_b, legacy_id])
    );
    let _ = t
        .channel
        .queue_delete(ads.as_str().into(), QueueDeleteOptions::default())
        .await;
    t.cleanup().await;
}

/// `x-death` of a message that died in `legacy.work`, a queue no connector binds.
fn legacy_death(t: &Topology) -> FieldTable {
    let mut e = FieldTable::default();
    e.insert("reason".into(), AMQPValue::LongString("expired".into()));
    e.insert("queue".into(), AMQPValue::LongString("legacy.work".into()));
    e.insert(
        "exchange".into(),
        AMQPValue::LongString(t.exchange.as_str().into()),
    );
    e.insert("count".into(), AMQPValue::LongLongInt(1));
    let mut headers = FieldTable::default();
    headers.insert(
        "x-death".into(),
        AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(e)])),
    );
    headers
}

/// A consumer that takes one message from `queue` every `every` and acks it; returns what it
/// took, in order, when told to stop.
fn slow_consumer(
    t: &Topology,
    queue: &str,
    every: std::time::Duration,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Vec<Vec<u8>>>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let amqp = t.amqp.clone();
    let queue = queue.to_string();
    let task = tokio::spawn(async move {
        let connection = lapin::Connection::connect(&amqp, Default::default())
            .await
            .expect("connect");
        let channel = connection.create_channel().await.expect("channel");
        channel.basic_qos(1, Default::default()).await.expect("qos");
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "slow".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let mut taken = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                next = consumer.next() => {
                    let Some(Ok(delivery)) = next else { break };
                    tokio::time::sleep(every).await;
                    taken.push(delivery.data.clone());
                    delivery.acker.ack(Default::default()).await.expect("ack");
                }
            }
        }
        // Take what the broker already sent ahead (prefetch): closing with it unacked would hand
        // it back, and a quorum queue puts what comes back at its tail.
        let _ = channel
            .basic_cancel("slow".into(), Default::default())
            .await;
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(std::time::Duration::from_millis(300), consumer.next()).await
        {
            taken.push(delivery.data.clone());
            delivery.acker.ack(Default::default()).await.expect("ack");
        }
        let _ = channel.close(200, "done".into()).await;
        let _ = connection.close(200, "done".into()).await;
        taken
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_20000_dlq_another_client_consumes_is_never_rotated_and_says_so() {
    use triage::upstream::Upstream;
    let t = Topology::new("other").await;
    let payload = |i: usize| format!("other-{i:05}").into_bytes();
    t.publish_to_dlq(
        (0..20_000).map(|i| (payload(i), t.dead_properties(&format!("o-{i}"), &t.work))),
    )
    .await;
    let adapter = t.adapter();
    let (stop, consumer) = slow_consumer(&t, &t.dlq, std::time::Duration::from_millis(50));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let letters = support::browse_all(&adapter).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a held-off browse does not stall: {:?}",
        started.elapsed()
    );
    assert!(
        !letters.is_empty() && letters.len() <= triage::upstream::rabbitmq::PEEK_LIMIT,
        "the head only: {}",
        letters.len()
    );
    // Nothing is stamped (nothing moves): each message is shown under the identity a hold pass
    // will give it — its content's, as none of these has a twin.
    assert!(
        letters
            .iter()
            .all(|d| d.id.len() == 26 && d.id.starts_with('h')),
        "content identities while another consumer holds the DLQ"
    );
    let reports = adapter.connectors().await.expect("report");
    let said = reports[0].last_error.clone().unwrap_or_default();
    assert!(
        said.contains(&format!("{} has another consumer", t.dlq))
            && said.contains("without touching order"),
        "{said}"
    );
    // Acting on one waits (a retryable refusal naming the consumer), and nothing moves.
    let last_shown = letters.last().expect("shown").clone();
    let refused = adapter
        .perform(
            &triage::domain::Action {
                kind: triage::domain::ActionKind::Replay,
                upstream: "rmq".into(),
                target: last_shown.id.clone(),
                operator: "ana".into(),
                note: None,
                level: None,
                payload: None,
                destination: None,
                drop_ttl: false,
            },
            "k",
        )
        .await
        .expect_err("held off: retried later");
    assert!(
        refused.to_string().contains("has another consumer"),
        "{refused}"
    );
    let _ = stop.send(());
    let taken = consumer.await.expect("consumer");
    // Nothing lost or doubled, and what is left is in its original order: no rotation (the
    // consumer may have been handed a later message while triage read the head, for ms).
    let left: Vec<Vec<u8>> = t
        .broker()
        .peek(&t.dlq, 30_000)
        .await
        .expect("left")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut seen: Vec<Vec<u8>> = taken.iter().chain(&left).cloned().collect();
    seen.sort();
    let expected: Vec<Vec<u8>> = (0..20_000).map(payload).collect();
    assert!(seen == expected, "every message once: {} seen", seen.len());
    assert!(left.is_sorted(), "the DLQ keeps its order");
    assert!(!taken.is_empty(), "the other consumer kept working");
    // Once it detaches, the next browse reads everything.
    let all: Vec<_> = support::browse_all(&adapter)
        .await
        .into_iter()
        .filter(|d| d.state == triage::domain::DeadLetterState::Dead)
        .collect();
    assert_eq!(
        all.len(),
        t.broker().message_count(&t.dlq).await.expect("depth") as usize
    );
    assert!(all.iter().all(|d| !d.id.starts_with('~')));
    // The letter shown during the head-only read has the same identity now (unless the other
    // consumer took it meanwhile).
    if let Some(now) = all.iter().find(|d| d.payload == last_shown.payload) {
        assert_eq!(
            now.id, last_shown.id,
            "identities hold from the head-only read on"
        );
    }
    let reports = adapter.connectors().await.expect("report");
    assert!(
        !reports[0]
            .last_error
            .clone()
            .unwrap_or_default()
            .contains("another consumer")
    );
    t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn arrivals_during_a_pass_end_up_after_the_originals_in_their_order() {
    const N: usize = 20_000;
    let t = Topology::new("arrivals").await;
    let original = |i: usize| format!("orig-{i:06}").into_bytes();
    t.publish_to_dlq((0..N).map(|i| (original(i), t.dead_properties(&format!("o{i}"), &t.work))))
        .await;
    // A publisher adds 100 msg/s to the DLQ while triage reads it.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let amqp = t.amqp.clone();
    let dlq = t.dlq.clone();
    let props = t.dead_properties("arrival", &t.work);
    let publisher = tokio::spawn(async move {
        let connection = lapin::Connection::connect(&amqp, Default::default())
            .await
            .expect("connect");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(Default::default())
            .await
            .expect("confirms");
        let mut sent = 0usize;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {
                    channel
                        .basic_publish(
                            "".into(),
                            dlq.as_str().into(),
                            BasicPublishOptions::default(),
                            format!("arrival-{sent:06}").as_bytes(),
                            props.clone(),
                        )
                        .await
                        .expect("publish")
                        .await
                        .expect("confirm");
                    sent += 1;
                }
            }
        }
        let _ = connection.close(200, "done".into()).await;
        sent
    });
    let adapter = t.adapter();
    for _ in 0..2 {
        let letters = support::browse_all(&adapter).await;
        assert!(letters.len() >= N);
    }
    let _ = stop.send(());
    let sent = publisher.await.expect("publisher");
    assert!(sent > 50, "arrivals came during the passes: {sent}");
    // One more pass after the publisher stopped ("cycling the arrivals once more").
    support::browse_all(&adapter).await;
    let mut order = Vec::new();
    t.broker()
        .hold_pass(&t.dlq, |_, payload, _| {
            order.push(payload.to_vec());
            triage::upstream::rabbitmq::Fate::Keep
        })
        .await
        .expect("read back");
    let expected: Vec<Vec<u8>> = (0..N)
        .map(original)
        .chain((0..sent).map(|i| format!("arrival-{i:06}").into_bytes()))
        .collect();
    assert_eq!(order.len(), expected.len(), "nothing lost, nothing doubled");
    let first_wrong = order.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        first_wrong.is_none(),
        "originals in order, then the arrivals in theirs; first difference at {first_wrong:?}: {:?}",
        first_wrong.map(|i| String::from_utf8_lossy(&order[i]).into_owned())
    );
    t.cleanup().await;
}

/// Content identities: a message without a stamp is known by its bytes, and nothing moves on a
/// first read. A byte-identical twin gets a stamp of its own (moved behind, once); a message with
/// the bytes of one triage already discarded is another message, listed as new, never taken for
/// the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn content_identities_hold_twins_get_stamps_and_a_handled_content_coming_back_is_new() {
    use triage::domain::{Action, ActionKind, DeadLetterState};
    use triage::upstream::Upstream;
    use triage::upstream::rabbitmq::message;
    let t = Topology::new("content").await;
    let ping = b"{\"event\":\"ping\"}".to_vec();
    t.publish_to_dlq([
        (ping.clone(), props(None)),
        (b"other".to_vec(), props(None)),
        (ping.clone(), props(None)),
    ])
    .await;
    let adapter = t.adapter();
    let first = support::browse_all(&adapter).await;
    assert_eq!(first.len(), 3);
    let is_content = |id: &str| id.len() == 26 && id.starts_with('h');
    let is_stamp = |id: &str| id.len() == 26 && id.starts_with(|c: char| c.is_ascii_digit());
    assert!(
        is_content(&first[0].id) && is_content(&first[1].id),
        "{first:?}"
    );
    assert!(
        is_stamp(&first[2].id),
        "the twin is stamped: {}",
        first[2].id
    );
    let dlq = t.broker().peek(&t.dlq, 10).await.expect("dlq");
    let order: Vec<String> = dlq.iter().map(|(p, q)| message::identity(p, q)).collect();
    assert_eq!(
        order,
        first.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        "the DLQ holds each once, in the order listed"
    );
    assert_eq!(
        message::stamp(&dlq[0].1),
        None,
        "the first one is not moved"
    );
    // Read again (another process, too): the same identities.
    let again = support::browse_all(&t.adapter()).await;
    assert_eq!(
        again.iter().map(|d| &d.id).collect::<Vec<_>>(),
        first.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
    // Discard the unstamped ping; then the same bytes arrive again: a new letter.
    let discard = Action {
        kind: ActionKind::Discard,
        upstream: "rmq".into(),
        target: first[0].id.clone(),
        operator: "ana".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let done = adapter.perform(&discard, "d-1").await.expect("discarded");
    assert!(done.outcome.ok, "{}", done.outcome.summary);
    t.publish_to_dlq([(ping.clone(), props(None))]).await;
    // A new process learns what triage handled from the DLQ's receipts.
    let fresh = support::browse_all(&t.adapter()).await;
    assert_eq!(fresh.len(), 3, "{fresh:?}");
    assert!(
        is_stamp(&fresh[2].id) && fresh[2].payload == ping,
        "the newcomer is new to another process too: {:?}",
        fresh[2].id
    );
    assert!(!fresh.iter().any(|d| d.id == first[0].id));
    let after = support::browse_all(&adapter).await;
    let dead: Vec<_> = after
        .iter()
        .filter(|d| d.state == DeadLetterState::Dead)
        .collect();
    assert_eq!(dead.len(), 3, "{after:?}");
    let newcomer = dead.last().expect("the new ping");
    assert_eq!(newcomer.payload, ping);
    assert_eq!(
        newcomer.id, fresh[2].id,
        "stamped once, by the first pass that met it"
    );
    assert!(!dead.iter().any(|d| d.id == first[0].id));
    assert!(
        after
            .iter()
            .any(|d| d.id == first[0].id && d.state == DeadLetterState::Discarded),
        "the discarded one stays discarded"
    );
    // Acting on the discarded identity again answers "already", and the newcomer stays.
    let twice = adapter.perform(&discard, "d-1").await.expect("answered");
    assert!(
        twice.outcome.summary.contains("already"),
        "{}",
        twice.outcome.summary
    );
    assert_eq!(t.broker().message_count(&t.dlq).await.expect("depth"), 3);
    t.cleanup().await;
}

/// A quorum DLQ (the type many teams now declare by default) counts every redelivery in the
/// `x-delivery-count` header, and every pass that keeps a message redelivers it: identities, the
/// order and a replay of exactly the letter shown hold all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_quorum_dlq_keeps_identities_and_order_across_passes() {
    use triage::domain::{Action, ActionKind};
    use triage::upstream::Upstream;
    const N: usize = 1000;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    let t = Topology::with_dlq_arguments("quorum", arguments).await;
    let payload = |i: usize| format!("q-{i:04}").into_bytes();
    t.publish_to_dlq((0..N).map(|i| (payload(i), t.dead_properties(&format!("q{i}"), &t.work))))
        .await;
    t.publish_to_dlq([
        (b"twin".to_vec(), props(None)),
        (b"twin".to_vec(), props(None)),
    ])
    .await;
    let ids = |letters: &[triage::domain::DeadLetter]| -> Vec<String> {
        letters.iter().map(|d| d.id.clone()).collect()
    };
    let first = support::browse_all(&t.adapter()).await;
    assert_eq!(first.len(), N + 2);
    assert!(
        first[..N]
            .iter()
            .enumerate()
            .all(|(i, d)| d.payload == payload(i)),
        "in order"
    );
    assert_ne!(first[N].id, first[N + 1].id, "twins told apart");
    // Read twice more, by other processes: each read redelivers every message.
    let adapter = t.adapter();
    let second = support::browse_all(&adapter).await;
    let differ: Vec<(usize, &str, &str)> = first
        .iter()
        .zip(&second)
        .enumerate()
        .filter(|(_, (a, b))| a.id != b.id)
        .map(|(i, (a, b))| (i, a.id.as_str(), b.id.as_str()))
        .take(5)
        .collect();
    assert!(
        differ.is_empty() && first.len() == second.len(),
        "same identities, same order: {} then {} letters, first differences {differ:?}, \
         payloads {:?}",
        first.len(),
        second.len(),
        differ.first().map(|(i, _, _)| (
            String::from_utf8_lossy(&first[*i].payload).into_owned(),
            String::from_utf8_lossy(&second[*i].payload).into_owned()
        ))
    );
    let third = support::browse_all(&t.adapter()).await;
    assert_eq!(ids(&third), ids(&first));
    let counted = third.iter().any(|d| {
        d.headers
            .iter()
            .any(|(k, _)| k.contains("x-delivery-count"))
    });
    assert!(
        counted,
        "the broker counted the redeliveries: {:?}",
        third[0].headers
    );
    // Another consumer: its head cannot be read without reordering it, so it is not read.
    let (stop, consumer) = slow_consumer(&t, &t.dlq, std::time::Duration::from_secs(1));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let held_off = t.adapter();
    let shown = support::browse_all(&held_off).await;
    let said = held_off.connectors().await.expect("report")[0]
        .last_error
        .clone()
        .unwrap_or_default();
    let _ = stop.send(());
    let taken = consumer.await.expect("consumer");
    assert!(shown.is_empty(), "nothing read: {}", shown.len());
    assert!(
        said.contains("quorum queue") && said.contains("counts only"),
        "{said}"
    );
    // What the consumer held went back; whatever it took is gone from the expected order.
    let taken_ids: Vec<String> = taken
        .iter()
        .map(|p| {
            first
                .iter()
                .find(|d| &d.payload == p)
                .map(|d| d.id.clone())
                .unwrap_or_default()
        })
        .collect();
    assert!(
        taken_ids.iter().all(|id| id != &first[500].id),
        "{taken_ids:?}"
    );
    let replay = Action {
        kind: ActionKind::Replay,
        upstream: "rmq".into(),
        target: first[500].id.clone(),
        operator: "ana".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let done = adapter.perform(&replay, "q-r").await.expect("replayed");
    assert!(done.outcome.ok, "{}", done.outcome.summary);
    let work = t.broker().peek(&t.work, 10).await.expect("work");
    assert_eq!(
        work.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        vec![payload(500)],
        "exactly the letter shown"
    );
    let after = support::browse_all(&t.adapter()).await;
    let mut expected = ids(&first);
    expected.remove(500);
    expected.retain(|id| !taken_ids.contains(id));
    // The other consumer (prefetch 1) had the next message in hand when it went away: a quorum
    // queue puts it back at the tail. That is its doing, not triage's: leave it out of the order.
    let in_hand = taken_ids
        .last()
        .and_then(|last| first.iter().position(|d| &d.id == last))
        .map_or(0, |i| i + 1);
    let in_hand = first[in_hand].id.clone();
    let mut got = ids(&after);
    assert_eq!(got.len(), expected.len(), "every message once");
    got.retain(|id| id != &in_hand);
    expected.retain(|id| id != &in_hand);
    assert!(
        got == expected,
        "the rest, in order: taken {taken_ids:?}; got {} starting {:?} ending {:?}; expected {} \
         starting {:?}",
        got.len(),
        &got[..3.min(got.len())],
        &got[got.len().saturating_sub(3)..],
        expected.len(),
        &expected[..3.min(expected.len())]
    );
    t.cleanup().await;
}

/// A bulk run through the real binary: 10,000 letters chosen by `--where` from a 100,000-message
/// DLQ are replayed — exactly those, byte-exact, in their order — and the 90,000 others stay in
/// the DLQ in theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_run_of_10000_chosen_by_where_from_a_100k_dlq_replays_exactly_those() {
    use triage::upstream::rabbitmq::Fate;
    // 100,000 (the issue's check) takes ≈ 6 min in a debug build: the suite runs a fifth of it,
    // `TRIAGE_TEST_RUN_N=100000 cargo test --release …` the whole.
    let n: usize = std::env::var("TRIAGE_TEST_RUN_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let t = Topology::new("run100k").await;
    let payload = |i: usize| format!(r#"{{"order":{i},"pad":"{}"}}"#, "p".repeat(60)).into_bytes();
    let chosen = |i: usize| i % 10 == 3;
    let properties = |i: usize| {
        let base = t.dead_properties(&format!("m{i}"), &t.work);
        let mut headers = base.headers().clone().unwrap_or_default();
        let batch = if chosen(i) { "a" } else { "b" };
        headers.insert("batch".into(), AMQPValue::LongString(batch.into()));
        base.with_headers(headers)
    };
    t.publish_to_dlq((0..n).map(|i| (payload(i), properties(i))))
        .await;
    let cli = Cli::new(&t, &[("orders", &t.work)]);
    let started = std::time::Instant::now();
    cli.ok(&["sync", "--once"]);
    eprintln!("sync of {n}: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let plan = cli.json(&["replay", "--where", "header:batch=a", "--plan", "--json"]);
    assert_eq!(plan[0]["plan"]["to_send"], n / 10, "{}", plan[0]);
    eprintln!("plan: {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let mut child = cli
        .command(&[
            "replay",
            "--where",
            "header:batch=a",
            "--yes",
            "--json",
            "--stages",
            "1,10%,rest",
            "--concurrency",
            &(n / 10).to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("replay");
    let mut lines = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) {
                let p = &value["progress"];
                eprintln!(
                    "{:?}: stage {} state {} sent {} queued {}",
                    started.elapsed(),
                    p["stage"],
                    p["state"],
                    p["progress"]["sent"],
                    p["progress"]["queued"]
                );
                lines.push(value);
            }
        }
    }
    let status = child.wait().expect("wait");
    eprintln!("run: {:?}", started.elapsed());
    let last = lines.last().cloned().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{last}");
    assert_eq!(last["progress"]["state"], "done");
    assert_eq!(last["progress"]["progress"]["sent"], n / 10);
    let read = |queue: String| {
        let broker = t.broker();
        async move {
            let mut payloads = Vec::new();
            broker
                .hold_pass(&queue, |_, p, _| {
                    payloads.push(p.to_vec());
                    Fate::Keep
                })
                .await
                .expect("read");
            payloads
        }
    };
    let work = read(t.work.clone()).await;
    let expected: Vec<Vec<u8>> = (0..n).filter(|i| chosen(*i)).map(payload).collect();
    assert!(
        work == expected,
        "exactly the chosen, byte-exact, in order: {} in the work queue",
        work.len()
    );
    let left = read(t.dlq.clone()).await;
    let rest: Vec<Vec<u8>> = (0..n).filter(|i| !chosen(*i)).map(payload).collect();
    assert!(left == rest, "the rest in order: {} left", left.len());
    t.cleanup().await;
}

/// Receipts are kept a day; the store keeps what triage did for good. A process (the CLI) that
/// finds the same bytes again after the receipts expired still tells the newcomer from the letter
/// it discarded: the store's record goes to the adapter when the process starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn the_same_bytes_after_the_receipts_expired_are_a_new_letter_not_the_discarded_one() {
    use lapin::options::QueuePurgeOptions;
    let t = Topology::new("forever").await;
    let ping = b"{\"event\":\"ping\"}".to_vec();
    t.publish_to_dlq([
        (ping.clone(), props(None)),
        (b"other".to_vec(), props(None)),
    ])
    .await;
    let cli = Cli::new(&t, &[("orders", &t.work)]);
    cli.ok(&["sync", "--once"]);
    let listed = cli.json(&["dead-letters", "--json"]);
    let old = listed
        .iter()
        .find(|d| d["payload"] == "{\"event\":\"ping\"}")
        .and_then(|d| d["id"].as_str())
        .expect("the ping")
        .to_string();
    cli.ok(&["discard", &old]);
    // A day later: the receipts are gone; the same bytes arrive.
    let receipts = triage::upstream::rabbitmq::amqp::receipts_queue(&t.dlq);
    t.channel
        .queue_purge(receipts.as_str().into(), QueuePurgeOptions::default())
        .await
        .expect("purge receipts");
    t.publish_to_dlq([(ping.clone(), props(None))]).await;
    cli.ok(&["sync", "--once"]);
    let dead = cli.json(&["dead-letters", "--json"]);
    assert_eq!(dead.len(), 2, "{dead:#?}");
    let newcomer = dead
        .iter()
        .find(|d| d["payload"] == "{\"event\":\"ping\"}")
        .and_then(|d| d["id"].as_str())
        .expect("the new ping");
    assert_ne!(newcomer, old, "a new identity");
    let discarded = cli.json(&["dead-letters", "--json", "--state", "discarded"]);
    assert!(
        discarded.iter().any(|d| d["id"] == old.as_str()),
        "the discarded letter stays discarded: {discarded:#?}"
    );
    t.cleanup().await;
}
