//! A 5,000-message replay through the outbox cut by `kill -9` of triage and by a broker restart
//! (by PID, `scripts/upstreams.sh restart-rabbitmq`) at three moments each, against a real
//! RabbitMQ 3.10: afterwards the DLQ and the work queue hold the 5,000 exactly once, every action
//! is sent, and triage's listing matches the DLQ. One test (it restarts the shared broker), run by
//! scripts/test-all.sh; ignored by plain `cargo test`.

#[allow(dead_code)]
#[path = "support/rabbitmq.rs"]
mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Topology;
use triage::domain::{Action, ActionKind, OutboxState};
use triage::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const N: usize = 5_000;

struct Cli {
    config: PathBuf,
    store: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(t: &Topology) -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let text = format!(
            "operator = \"ana@bastion\"\n[[upstream]]\nid = \"rmq\"\nkind = \"rabbitmq\"\n\
             url = \"{http}\"\namqp_url = \"{amqp}\"\nusername = \"guest\"\n\
             token_env = \"TRIAGE_TEST_RMQ_PASSWORD\"\ntimeout = \"5s\"\n[[connector]]\n\
             id = \"orders\"\nupstream = \"rmq\"\nqueue = \"{work}\"\nsource = \"s\"\n\
             destination = \"d\"\ndirection = \"inbound\"\npurpose = \"p\"\nowner = \"maria\"\n\
             [[person]]\nid = \"maria\"\nname = \"Maria\"\n",
            http = t.http,
            amqp = t.amqp,
            work = t.work,
        );
        std::fs::write(&config, text).expect("config");
        let store = dir.path().join("triage.db");
        Cli {
            config,
            store,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env(
                "XDG_STATE_HOME",
                self.store.parent().expect("dir").join("state"),
            )
            .env("TRIAGE_TEST_RMQ_PASSWORD", "guest");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run triage")
    }

    fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    fn open(&self) -> Store {
        Store::open(&self.store).expect("store")
    }
}

fn payload(i: usize) -> Vec<u8> {
    format!(r#"{{"order":{i:05},"pad":"{}"}}"#, "x".repeat(200)).into_bytes()
}

/// Stamps and lists the 5,000, then enqueues a replay of each (as 5,000 `replay --no-wait`).
fn prepare(cli: &Cli) {
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

/// Every message exactly once across the DLQ and the work queue; every action sent; the
/// listing matches the DLQ.
async fn check(t: &Topology, cli: &Cli, what: &str) {
    let dlq: Vec<Vec<u8>> = t
        .broker()
        .peek(&t.dlq, 2 * N)
        .await
        .expect("dlq")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let work: Vec<Vec<u8>> = t
        .broker()
        .peek(&t.work, 2 * N)
        .await
        .expect("work")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        (dlq.len() + work.len(), work.len()),
        (N, N),
        "{what}: every message once, all replayed (dlq {}, work {})",
        dlq.len(),
        work.len()
    );
    let unique: HashSet<&Vec<u8>> = work.iter().collect();
    assert_eq!(unique.len(), N, "{what}: no duplicate delivery");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs RabbitMQ (restarts it): run scripts/test-all.sh"]
async fn a_5000_replay_cut_by_kill_9_or_a_broker_restart_delivers_each_message_once() {
    for (moment, kill) in [
        (Duration::from_millis(150), true),
        (Duration::from_millis(700), true),
        (Duration::from_millis(1800), true),
        (Duration::from_millis(150), false),
        (Duration::from_millis(700), false),
        (Duration::from_millis(1800), false),
    ] {
        let what = format!(
            "{} after {moment:?}",
            if kill {
                "kill -9 of triage"
            } else {
                "broker restart"
            }
        );
        let t = Topology::new("cut").await;
        t.publish_to_dlq(
            // Persistent, as a DLQ that survives a broker restart holds them.
            (0..N).map(|i| {
                let properties = t.dead_properties(&format!("m{i}"), &t.work);
                (payload(i), properties.with_delivery_mode(2))
            }),
        )
        .await;
        let cli = Cli::new(&t);
        prepare(&cli);
        let mut sender = cli
            .command(&["sync", "--once"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sync");
        std::thread::sleep(moment);
        if kill {
            let _ = sender.kill();
            let _ = sender.wait();
        } else {
            restart_broker();
            let _ = sender.wait();
        }
        finish(&cli);
        check(&t, &cli, &what).await;
        // A fresh connection: the topology's own one died with a restarted broker.
        let t = Topology::reconnect(t).await;
        t.cleanup().await;
    }
}
