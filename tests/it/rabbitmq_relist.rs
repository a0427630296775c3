//! The RabbitMQ adapter keeps its tombstones (what left a DLQ since the last browse) in memory
//! only. Messages taken out of a DLQ while triage was not running would therefore stay `dead` in
//! the store forever; the first poll of each process relists the DLQs and reconciles them.
//! Ignored by plain `cargo test`; scripts/test-all.sh runs it against a real RabbitMQ.

#[allow(dead_code)] // shared helpers, partly used here
use crate::support::rabbitmq as support;

use std::time::Duration;

use lapin::options::BasicGetOptions;
use support::{Topology, mixed_messages};
use tokio::sync::broadcast;
use triage::config::{Config, RoutingConfig};
use triage::domain::DeadLetterState;
use triage::store::{DeadLetterPageQuery, PageDir, Store};
use triage::sync::StoreWriter;
use triage::sync::poller::{PollContext, poll_once};
use triage::upstream::rabbitmq::message;

fn config(dir: &std::path::Path, t: &Topology) -> Config {
    let text = format!(
        r#"
operator = "alice@bastion"
[[upstream]]
id = "rmq"
kind = "rabbitmq"
url = "{http}"
amqp_url = "{amqp}"
[[connector]]
id = "orders"
upstream = "rmq"
queue = "{work}"
source = "Shop"
destination = "ERP"
direction = "outbound"
purpose = "orders to the ERP"
owner = "maria"
[[person]]
id = "maria"
name = "Maria Lopez"
"#,
        http = t.http,
        amqp = t.amqp,
        work = t.work,
    );
    let path = dir.join("triage.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(&path).expect("config loads")
}

fn dead_ids(store: &Store) -> Vec<String> {
    let query = DeadLetterPageQuery {
        limit: 100,
        dir: PageDir::Forward,
        ..Default::default()
    };
    let mut ids: Vec<String> = store
        .page_dead_letters(&query)
        .expect("page")
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ: run scripts/test-all.sh"]
async fn a_new_process_relists_and_reconciles_messages_taken_while_it_was_away() {
    let t = Topology::new("relist").await;
    let messages = mixed_messages(6);
    t.dead_letter(&messages).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path(), &t);
    let store_path = dir.path().join("triage.db");
    let store = Store::open(&store_path).expect("store");
    let writer = StoreWriter::open(&store_path).expect("writer");
    let (changes, _) = broadcast::channel(64);

    // First process: everything in the DLQ is dead in the store.
    let first = t.adapter();
    let ctx = PollContext::new(&config, &RoutingConfig::default(), Duration::from_secs(1));
    poll_once(&first, &writer, &ctx, &changes)
        .await
        .expect("poll");
    let before = dead_ids(&store);
    assert_eq!(before.len(), 6);
    // A watermarked poll of the same process does not relist (nothing changed).
    poll_once(&first, &writer, &ctx, &changes)
        .await
        .expect("poll");
    drop(first);

    // While triage is away, someone takes the two oldest messages out of the DLQ. The first
    // process listed them under their identities (their content's: nothing was stamped).
    let mut taken = Vec::new();
    for _ in 0..2 {
        let got = t
            .channel
            .basic_get(t.dlq.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("get")
            .expect("a message");
        taken.push(message::identity(
            &got.delivery.data,
            &got.delivery.properties,
        ));
    }
    t.wait_for_depth(&t.dlq, 4).await;

    // A new process (new adapter, new poll context): its first poll relists and reconciles.
    let second = t.adapter();
    let ctx = PollContext::new(&config, &RoutingConfig::default(), Duration::from_secs(1));
    let summary = poll_once(&second, &writer, &ctx, &changes)
        .await
        .expect("poll");
    assert!(summary.dead_letters_changed >= 2, "{summary:?}");
    let live = dead_ids(&store);
    assert_eq!(live.len(), 4, "{live:?}");
    assert!(
        live.iter().all(|id| before.contains(id)),
        "the four left keep the identities the first process listed: {live:?} vs {before:?}"
    );
    for id in &taken {
        assert!(!live.contains(id), "{id} was taken out of the DLQ");
        let letter = store
            .dead_letter("rmq", id)
            .expect("get")
            .expect("still known");
        assert_eq!(letter.state, DeadLetterState::Discarded, "{id}");
    }
    // The DLQ itself is untouched by the relist: count kept.
    t.wait_for_depth(&t.dlq, 4).await;
    t.cleanup().await;
}
