//! Bulk replay against the demo upstream (`harness = false`): N dead letters (default 10,000)
//! replayed by a triage run (`triage replay --where … --yes --stages rest`, the release binary:
//! plan, store, outbox, audit — everything), beside a bare reqwest loop POSTing each replay at the
//! outbox's concurrency (8) to a fresh demo with the same letters. Once with the batch endpoint
//! (Connector API 1.1) and once against a demo without it (`--no-batch`: one request per letter,
//! like the bare loop).
//!
//! ```sh
//! cargo bench --bench runs            # TRIAGE_BENCH_RUNS_N=10000, TRIAGE_BENCH_RUNS=3
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const CONNECTOR: &str = "hubspot-form-to-salesforce";
/// The outbox's requests at once to one upstream (`upstream::BATCH_CONCURRENCY`).
const CONCURRENCY: usize = 8;

struct Demo {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
    port: u16,
    server: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

impl Demo {
    /// A fresh demo with `n` more dead letters on the connector, fixed (replays succeed), synced
    /// into a fresh store.
    async fn start(n: usize, extra: &[&str]) -> Demo {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("triage.toml");
        let port = free_port();
        let server = Command::new(BIN)
            .args([
                "demo",
                "--serve-only",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--write-config")
            .arg(&config)
            .args(extra)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("demo: {e}"));
        let demo = Demo {
            store: dir.path().join("triage.db"),
            dir,
            config,
            port,
            server,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(demo.config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(Instant::now() < deadline, "demo did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        let client = reqwest::Client::new();
        let admin = |path: String, body: String| {
            let client = client.clone();
            async move {
                let answer = client
                    .post(format!("http://127.0.0.1:{port}{path}"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{path}: {e}"));
                assert!(answer.status().is_success(), "{path}: {}", answer.status());
            }
        };
        admin(format!("/demo/connectors/{CONNECTOR}/fix"), String::new()).await;
        admin(
            format!("/demo/connectors/{CONNECTOR}/dead-letters"),
            format!(r#"{{"count": {n}}}"#),
        )
        .await;
        demo.triage(&["sync", "--once"]);
        demo
    }

    fn triage(&self, args: &[&str]) -> std::process::Output {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("triage: {e}"));
        assert!(
            out.status.success(),
            "triage {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The connector's live dead letters that conform to its contract (what a run sends).
    fn sendable_ids(&self) -> Vec<String> {
        let out = self.triage(&[
            "replay",
            "--where",
            &format!("connector:{CONNECTOR}"),
            "--plan",
            "--json",
        ]);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let skipped: std::collections::HashSet<String> = plan["plan"]["violation_examples"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|e| e[0].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let out = self.triage(&[
            "dead-letters",
            "--json",
            "--limit",
            "0",
            "--connector",
            CONNECTOR,
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|d| d["id"].as_str().map(String::from))
            .filter(|id| !skipped.contains(id))
            .collect()
    }

    fn token(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("demo.token"))
            .ok()
            .map(|t| t.trim().to_string())
    }
}

/// POSTs each replay, `CONCURRENCY` at a time, on one client; returns how many succeeded.
async fn bare_loop(port: u16, token: Option<String>, ids: &[String]) -> usize {
    let client = reqwest::Client::new();
    futures::stream::iter(ids.iter().enumerate())
        .map(|(i, id)| {
            let client = client.clone();
            let token = token.clone();
            async move {
                let mut request = client
                    .post(format!(
                        "http://127.0.0.1:{port}/v1/dead-letters/{id}/replay"
                    ))
                    .json(&serde_json::json!({
                        "operator": "bench", "idempotency_key": format!("bare-{i}")
                    }));
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                request.send().await.is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await
}

/// A triage run over the connector's letters; (sent, time).
fn triage_run(demo: &Demo) -> (u64, Duration) {
    let started = Instant::now();
    let out = demo.triage(&[
        "replay",
        "--where",
        &format!("connector:{CONNECTOR}"),
        "--yes",
        "--json",
        "--stages",
        "rest",
    ]);
    let took = started.elapsed();
    let last: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    assert_eq!(last["progress"]["state"], "done", "{last}");
    (
        last["progress"]["progress"]["sent"].as_u64().unwrap_or(0),
        took,
    )
}

fn number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / `--list`: nothing to run here.
    }
    triage::upstream::http::install_crypto_provider();
    let n = number("TRIAGE_BENCH_RUNS_N", 10_000);
    let runs = number("TRIAGE_BENCH_RUNS", 3).max(1);
    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let (mut bare, mut batched, mut single) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        runtime.block_on(async {
            let demo = Demo::start(n, &[]).await;
            let ids = demo.sendable_ids();
            let started = Instant::now();
            let ok = bare_loop(demo.port, demo.token(), &ids).await;
            let took = started.elapsed();
            assert_eq!(ok, ids.len(), "every bare replay succeeded");
            bare.push(ok as f64 / took.as_secs_f64());

            let demo = Demo::start(n, &[]).await;
            let (sent, took) = triage_run(&demo);
            batched.push(sent as f64 / took.as_secs_f64());

            let demo = Demo::start(n, &["--no-batch"]).await;
            let (sent_single, took_single) = triage_run(&demo);
            single.push(sent_single as f64 / took_single.as_secs_f64());
            println!(
                "run {run}/{runs}: bare loop {:.0}/s ({ok} in {took:.2?}), triage run with the \
                 batch endpoint {:.0}/s ({sent}), without it {:.0}/s ({sent_single})",
                bare[bare.len() - 1],
                batched[batched.len() - 1],
                single[single.len() - 1],
            );
        });
    }
    let (b, t, s) = (median(bare), median(batched), median(single));
    println!();
    println!("| {n} replays to the demo, median of {runs} | replays/s | vs bare loop |");
    println!("|---|---|---|");
    println!("| bare reqwest loop, {CONCURRENCY} at a time | {b:.0} | 1.00 |");
    println!(
        "| triage run (plan, store, outbox, audit), batch endpoint | {t:.0} | {:.2} |",
        t / b
    );
    println!(
        "| triage run, one request per letter (`--no-batch` demo) | {s:.0} | {:.2} |",
        s / b
    );
}
