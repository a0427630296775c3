//! What triage shows and acts on for a DLQ built the way real teams build them, against a real
//! RabbitMQ 3.10 (scripts/upstreams.sh) and through the real binary: two work queues sharing one
//! DLQ, an empty payload, binary and 2 MiB payloads, two messages with the same `message_id`,
//! byte-identical twins without one, a message that died twice, one from a queue no connector
//! binds. Every letter is listed once under the connector it died from, counted once, and a
//! replay acts on exactly the message that was shown. Ignored by plain `cargo test`.

#[allow(dead_code)]
#[path = "support/rabbitmq.rs"]
mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use futures::StreamExt;
use lapin::BasicProperties;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use support::Topology;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Cli {
    config: PathBuf,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(t: &Topology, ads_queue: &str) -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let connector = |id: &str, queue: &str| {
            format!(
                "[[connector]]\nid = \"{id}\"\nupstream = \"rmq\"\nqueue = \"{queue}\"\nsource = \"s\"\n\
                 destination = \"d\"\ndirection = \"inbound\"\npurpose = \"p\"\nowner = \"maria\"\n"
            )
        };
        let text = format!(
            "operator = \"ana@bastion\"\n[[upstream]]\nid = \"rmq\"\nkind = \"rabbitmq\"\n\
             url = \"{http}\"\namqp_url = \"{amqp}\"\nusername = \"guest\"\n\
             token_env = \"TRIAGE_TEST_RMQ_PASSWORD\"\n{crm}{ads}[[person]]\nid = \"maria\"\n\
             name = \"Maria\"\n",
            http = t.http,
            amqp = t.amqp,
            crm = connector("crm-work", &t.work),
            ads = connector("ads-work", ads_queue),
        );
        std::fs::write(&config, text).expect("config");
        let store = dir.path().join("triage.db");
        Cli {
            config,
            store,
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env(
                "XDG_STATE_HOME",
                self.store.parent().expect("dir").join("state"),
            )
            .env("TRIAGE_TEST_RMQ_PASSWORD", "guest")
            .output()
            .expect("run triage")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triage {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

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
fn died_twice(t: &Topology, first: &str, second: &str) -> BasicProperties {
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
        .with_message_id("twice".into())
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
        (b"twice".to_vec(), died_twice(&t, &ads, &t.work)),
        (
            b"legacy".to_vec(),
            t.dead_properties("legacy-1", "legacy.work")
                .with_headers(legacy_death(&t)),
        ),
    ])
    .await;
    let cli = Cli::new(&t, &ads);
    cli.ok(&["sync", "--once"]);

    // Point 1: the empty payload lists in the table and as JSON.
    let table = cli.ok(&["dead-letters", "--limit", "0"]);
    assert!(
        table.contains("crm-work") && table.contains("ads-work"),
        "{table}"
    );
    let all = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(all.len(), 9, "every message once: {all:#?}");
    let ids: HashSet<&str> = all.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(ids.len(), 9, "identities never collide");
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
        5,
        "4 from crm.work + the one that died there last"
    );
    let connectors = cli.json(&["connectors", "--json"]);
    let dead_of = |id: &str| {
        connectors
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["stats"]["dead"].clone())
    };
    assert_eq!(dead_of("crm-work"), Some(serde_json::json!(5)));
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
    // The rest stays, each once, listed truthfully after the next sync.
    cli.ok(&["sync", "--once"]);
    let left = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(left.len(), 7);
    assert_eq!(t.broker().message_count(&t.dlq).await.expect("dlq"), 7);
    let replayed = cli.json(&["dead-letters", "--json", "--state", "replayed"]);
    let replayed_ids: HashSet<&str> = replayed.iter().filter_map(|d| d["id"].as_str()).collect();
    assert_eq!(replayed_ids, HashSet::from([ads_dup, twice_id]));
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
