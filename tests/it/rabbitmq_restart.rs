//! A 5,000-message replay through the outbox cut by `kill -9` of triage and by a broker restart
//! (by PID, `scripts/upstreams.sh restart-rabbitmq`) at several moments each, against a real
//! RabbitMQ 3.10: afterwards every message was replayed and none is left in the DLQ — once, or,
//! for the one replay a cut may separate from its receipt, twice under the same replay key —
//! every action is sent, and triage's listing matches the DLQ. One test (it restarts the shared
//! broker), run by scripts/test-all.sh; ignored by plain `cargo test`.
//!
//! To run some cuts many times (a cut that fails now and then): `TRIAGE_TEST_CUTS` names them,
//! comma-separated, each `kill@<moment>` or `restart@<moment>` with the moment `<n>ms`,
//! `holding`, `receipts-arriving`, `replays-confirmed` or `copies-arriving`;
//! `TRIAGE_TEST_CUT_REPEAT` runs the list that many times (default: every cut below, once).
//! E.g. `TRIAGE_TEST_CUTS=kill@receipts-arriving,kill@1800ms TRIAGE_TEST_CUT_REPEAT=20 cargo
//! test --test it rabbitmq_restart:: -- --include-ignored --nocapture`. A failing cut prints
//! what the broker, the outbox, the audit and the receipts say about the messages concerned,
//! and copies triage's logs and store to a directory it names.

use crate::support::rabbitmq as support;
use crate::support::rabbitmq_cli;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rabbitmq_cli::Cli;
use support::Topology;
use triage::domain::{Action, ActionKind, OutboxState};
use triage::upstream::rabbitmq::message::REPLAY_ID_HEADER;

const N: usize = 5_000;

fn payload(i: usize) -> Vec<u8> {
    format!(r#"{{"order":{i:05},"pad":"{}"}}"#, "x".repeat(200)).into_bytes()
}

/// Stamps and lists the 5,000, then enqueues a replay of each (as 5,000 `replay --no-wait`).
/// Returns each payload's dead letter id.
fn prepare(cli: &Cli) -> HashMap<Vec<u8>, String> {
    let out = cli.run(&["sync", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let letters = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(letters.len(), N);
    let mut store = cli.open();
    let now = chrono::Utc::now();
    for letter in &letters {
        let action = Action {
            kind: ActionKind::Replay,
            upstream: "rmq".into(),
            target: letter["id"].as_str().expect("id").into(),
            operator: "ana@bastion".into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        };
        store.enqueue_action(&action, now).expect("enqueue");
    }
    letters
        .iter()
        .map(|l| {
            let payload = l["payload"].as_str().expect("utf8 payload");
            (
                payload.as_bytes().to_vec(),
                l["id"].as_str().expect("id").into(),
            )
        })
        .collect()
}

/// Runs `sync --once` until nothing is pending (retries wait for their backoff).
fn finish(cli: &Cli) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let _ = cli.run(&["sync", "--once"]);
        let pending = cli.open().pending_action_count().expect("count");
        if pending == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{pending} actions still pending");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every message replayed once (a cut between a replay and its receipt may send that one again,
/// under the same key: see below); every action sent; the listing matches the DLQ.
async fn check(t: &Topology, cli: &Cli, ids: &HashMap<Vec<u8>, String>, what: &str) {
    let dlq: Vec<Vec<u8>> = t
        .broker()
        .peek(&t.dlq, 2 * N)
        .await
        .expect("dlq")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let replays: Vec<(Vec<u8>, String)> = t
        .broker()
        .peek(&t.work, 2 * N)
        .await
        .expect("work")
        .into_iter()
        .map(|(p, properties)| (p, replay_id(&properties)))
        .collect();
    let work: Vec<Vec<u8>> = replays.iter().map(|(p, _)| p.clone()).collect();
    let mut keys: HashMap<&[u8], HashSet<&str>> = HashMap::new();
    for (p, key) in &replays {
        keys.entry(p.as_slice()).or_default().insert(key.as_str());
    }
    // A `kill -9` or a restart can cut the stream between a replay and its receipt: the broker
    // took the replay but holds no receipt of it, so the retry sends it again (never the other
    // way round, which lost the message). One message at most per cut, and its two deliveries
    // carry the same `x-triage-replay-id`, which its consumer can deduplicate on.
    let once = dlq.is_empty()
        && keys.len() == N
        && work.len() - keys.len() <= 1
        && keys.values().all(|k| k.len() == 1 && !k.contains(""));
    if !once {
        let diagnosis = diagnose(t, cli, ids, &dlq, &work).await;
        panic!(
            "{what}: every message replayed, once or (one of them) twice under the same key \
             (dlq {}, work {}, distinct in work {})\n{diagnosis}",
            dlq.len(),
            work.len(),
            keys.len()
        );
    }
    if work.len() > N {
        eprintln!("{what}: one replay sent twice under the same key (cut before its receipt)");
    }
    let expected: HashSet<Vec<u8>> = (0..N).map(payload).collect();
    assert!(work.iter().all(|p| expected.contains(p)), "{what}");
    let store = cli.open();
    assert_eq!(store.pending_action_count().expect("pending"), 0, "{what}");
    let failed = store
        .page_outbox(&[OutboxState::Failed], None, 100)
        .expect("outbox");
    assert!(
        failed.is_empty(),
        "{what}: every action sent: {:?}",
        failed.first()
    );
    let out = cli.run(&["sync", "--once"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(
        listed.len(),
        dlq.len(),
        "{what}: the listing matches the DLQ"
    );
    let audit = cli.run(&["audit", "--verify"]);
    assert!(audit.status.success(), "{what}: audit chain");
    let unsettled = triage::upstream::rabbitmq::amqp::unsettled_queue(&t.dlq);
    assert!(
        t.broker().message_count(&unsettled).await.is_err(),
        "{what}: a complete pass settles every pass before it (no {unsettled} left)"
    );
}

/// What the broker, the outbox and the audit say about the messages missing from (or doubled
/// across) both queues: the failure message of a cut that lost or duplicated one.
async fn diagnose(
    t: &Topology,
    cli: &Cli,
    ids: &HashMap<Vec<u8>, String>,
    dlq: &[Vec<u8>],
    work: &[Vec<u8>],
) -> String {
    use std::fmt::Write;
    triage::upstream::http::install_crypto_provider();
    let mut out = String::new();
    let receipts = triage::upstream::rabbitmq::amqp::receipts_queue(&t.dlq);
    let unsettled = triage::upstream::rabbitmq::amqp::unsettled_queue(&t.dlq);
    for queue in [&t.dlq, &t.work, &receipts, &unsettled] {
        let url = format!("{}/api/queues/%2f/{queue}", t.http);
        let stats: serde_json::Value = match reqwest::Client::new()
            .get(&url)
            .basic_auth("guest", Some("guest"))
            .send()
            .await
        {
            Ok(answer) => answer.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let live = t.broker().counts(queue).await.ok();
        let _ = writeln!(
            out,
            "{queue}: live (ready, consumers) {live:?}; management messages {} ready {} \
             unacked {} consumers {}",
            stats["messages"],
            stats["messages_ready"],
            stats["messages_unacknowledged"],
            stats["consumers"]
        );
    }
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for p in dlq.iter().chain(work) {
        *seen.entry(p.as_slice()).or_default() += 1;
    }
    let odd: Vec<(usize, &Vec<u8>, &String)> = (0..N)
        .map(payload)
        .filter_map(|p| {
            let n = seen.get(p.as_slice()).copied().unwrap_or(0);
            let (payload, id) = ids.get_key_value(&p)?;
            (n != 1).then_some((n, payload, id))
        })
        .collect();
    let store = cli.open();
    let mut outbox = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = store
            .page_outbox(&[], before.as_deref(), 1000)
            .expect("outbox");
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        outbox.extend(page);
    }
    let mut audit = Vec::new();
    let mut before_seq = None;
    loop {
        let page = store.page_audit(before_seq, 1000).expect("audit");
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        audit.extend(page);
    }
    let held = t.broker().receipts(&t.dlq).await.unwrap_or_default();
    for (n, payload, id) in odd.iter().take(5) {
        let _ = writeln!(
            out,
            "{} (id {id}) is there {n} times: in dlq {}, in work {}",
            String::from_utf8_lossy(&payload[..12]),
            dlq.iter().filter(|p| p == payload).count(),
            work.iter().filter(|p| p == payload).count()
        );
        for entry in outbox.iter().filter(|e| &e.action.target == *id) {
            let _ = writeln!(
                out,
                "  outbox {} {:?} attempts {} error {:?} outcome {:?}",
                entry.id, entry.state, entry.attempts, entry.last_error, entry.outcome
            );
        }
        for row in audit.iter().rev().filter(|a| &a.target == *id) {
            let _ = writeln!(
                out,
                "  audit {} {} {} {}",
                row.seq, row.at, row.event, row.detail
            );
        }
        for receipt in held.iter().filter(|r| &r.identity == *id) {
            let _ = writeln!(out, "  receipt {receipt:?}");
        }
    }
    // A message the killed client still held comes back when the broker requeues it: look again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = |queue: String| async move {
        t.broker()
            .peek(&queue, 2 * N)
            .await
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "3 s later: dlq {}, work {}",
        again(t.dlq.clone()).await,
        again(t.work.clone()).await
    );
    let logs = cli.store.parent().expect("dir").join("state");
    let keep = std::env::temp_dir().join(format!("rabbitmq-restart-logs-{}", std::process::id()));
    let _ = Command::new("cp").arg("-r").arg(&logs).arg(&keep).status();
    let _ = std::fs::copy(&cli.store, keep.join("triage.db"));
    let _ = writeln!(out, "logs and store copied to {}", keep.display());
    out
}

/// The `x-triage-replay-id` a replay carries (empty when none).
fn replay_id(properties: &lapin::BasicProperties) -> String {
    match properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(REPLAY_ID_HEADER))
    {
        Some(lapin::types::AMQPValue::LongString(s)) => {
            String::from_utf8_lossy(s.as_bytes()).into_owned()
        }
        _ => String::new(),
    }
}

fn restart_broker() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/upstreams.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("restart-rabbitmq")
        .output()
        .expect("restart");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every cut (the moment, and `true` for a `kill -9` of triage, `false` for a broker restart),
/// or those `TRIAGE_TEST_CUTS` names, `TRIAGE_TEST_CUT_REPEAT` times (see the module doc).
fn cuts() -> Vec<(Moment, bool)> {
    let all = [
        (Moment::After(Duration::from_millis(150)), true),
        (Moment::After(Duration::from_millis(700)), true),
        (Moment::Holding, true),
        (Moment::ReceiptsArriving, true),
        (Moment::After(Duration::from_millis(1800)), true),
        (Moment::ReplaysConfirmed, true),
        (Moment::CopiesArriving, true),
        (Moment::After(Duration::from_millis(150)), false),
        (Moment::After(Duration::from_millis(700)), false),
        (Moment::After(Duration::from_millis(1800)), false),
        (Moment::ReplaysConfirmed, false),
        (Moment::CopiesArriving, false),
    ];
    let chosen: Vec<(Moment, bool)> = match std::env::var("TRIAGE_TEST_CUTS") {
        Ok(names) if !names.trim().is_empty() => names
            .split(',')
            .map(|name| parse_cut(name.trim()))
            .collect(),
        _ => all.to_vec(),
    };
    let repeat: usize = std::env::var("TRIAGE_TEST_CUT_REPEAT")
        .ok()
        .map(|n| n.parse().expect("TRIAGE_TEST_CUT_REPEAT: a number"))
        .unwrap_or(1);
    chosen.repeat(repeat)
}

/// `kill@1800ms`, `restart@copies-arriving`…
fn parse_cut(name: &str) -> (Moment, bool) {
    let usage = "TRIAGE_TEST_CUTS: kill@<moment> or restart@<moment>, moment = <n>ms, holding, \
                 receipts-arriving, replays-confirmed or copies-arriving";
    let (how, when) = name.split_once('@').expect(usage);
    let kill = match how {
        "kill" => true,
        "restart" => false,
        _ => panic!("{usage}: {name}"),
    };
    let moment = match when {
        "holding" => Moment::Holding,
        "replays-confirmed" => Moment::ReplaysConfirmed,
        "copies-arriving" => Moment::CopiesArriving,
        "receipts-arriving" => Moment::ReceiptsArriving,
        ms => Moment::After(Duration::from_millis(
            ms.strip_suffix("ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{usage}: {name}")),
        )),
    };
    (moment, kill)
}

/// When the cut comes.
#[derive(Debug, Clone, Copy)]
enum Moment {
    After(Duration),
    /// Right after the sending pass began holding the DLQ (its ready count fell).
    Holding,
    /// The first replays are in the work queue: the pass is awaiting their confirms and has not
    /// committed its acks.
    ReplaysConfirmed,
    /// The pass's first receipts are in the receipts queue: it is still publishing replays and
    /// their receipts, one after the other, as it reads the DLQ.
    ReceiptsArriving,
    /// Replays confirmed and the pass's copies arriving at the DLQ's tail while the originals
    /// are still held: copies and originals stand side by side until the acks' commit.
    CopiesArriving,
}

impl Moment {
    fn describe(self) -> String {
        match self {
            Moment::After(d) => format!("after {d:?}"),
            Moment::Holding => "right after the pass began holding the DLQ".into(),
            Moment::ReplaysConfirmed => "with replays confirmed, before the acks' commit".into(),
            Moment::CopiesArriving => "while the pass's copies reach the DLQ's tail".into(),
            Moment::ReceiptsArriving => "while the pass publishes replays and receipts".into(),
        }
    }

    async fn wait(self, t: &Topology) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let depth = |queue: String| async move {
            t.broker().message_count(&queue).await.unwrap_or(0) as usize
        };
        loop {
            let reached = match self {
                Moment::After(d) => {
                    std::thread::sleep(d);
                    true
                }
                Moment::Holding => depth(t.dlq.clone()).await < N,
                Moment::ReplaysConfirmed => depth(t.work.clone()).await > 0,
                Moment::ReceiptsArriving => {
                    depth(triage::upstream::rabbitmq::amqp::receipts_queue(&t.dlq)).await > 0
                }
                Moment::CopiesArriving => {
                    depth(t.work.clone()).await > 0 && depth(t.dlq.clone()).await > 0
                }
            };
            if reached {
                return;
            }
            assert!(Instant::now() < deadline, "{} never came", self.describe());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ to itself (restarts it): scripts/test-all.sh runs it alone"]
async fn a_5000_replay_cut_by_kill_9_or_a_broker_restart_replays_each_message_and_loses_none() {
    // Each outbox batch of 500 is one pass that reads the whole DLQ, publishes 500 replays with
    // receipts and moves the other messages to the tail, and only then commits the acks of what
    // it read: the cuts below land before, inside and after that window.
    let cuts = cuts();
    for (round, (moment, kill)) in cuts.iter().copied().enumerate() {
        let what = format!(
            "{} {}",
            if kill {
                "kill -9 of triage"
            } else {
                "broker restart"
            },
            moment.describe()
        );
        eprintln!("cut {} of {}: {what}", round + 1, cuts.len());
        let t = Topology::new("cut").await;
        t.publish_to_dlq(
            // Persistent, as a DLQ that survives a broker restart holds them.
            (0..N).map(|i| {
                let properties = t.dead_properties(&format!("m{i}"), &t.work);
                (payload(i), properties.with_delivery_mode(2))
            }),
        )
        .await;
        let cli = Cli::new(&t, &[("orders", &t.work)]);
        let ids = prepare(&cli);
        let mut sender = cli
            .command(&["sync", "--once"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync");
        moment.wait(&t).await;
        if kill {
            let _ = sender.kill();
            let _ = sender.wait();
        } else {
            restart_broker();
            let _ = sender.wait();
        }
        finish(&cli);
        check(&t, &cli, &ids, &what).await;
        // A fresh connection: the topology's own one died with a restarted broker.
        let t = Topology::reconnect(t).await;
        t.cleanup().await;
    }
}
