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

#[allow(dead_code)] // shared test helpers, partly used here
#[path = "../tests/it/support/demo_cli.rs"]
mod demo_cli;

use std::time::{Duration, Instant};

use demo_cli::Demo;
use futures::StreamExt;

const CONNECTOR: &str = "hubspot-form-to-salesforce";
/// The outbox's requests at once to one upstream (`upstream::BATCH_CONCURRENCY`).
const CONCURRENCY: usize = 8;

/// A fresh demo (the release binary) with `n` more dead letters on the connector, fixed
/// (replays succeed), synced into a fresh store.
fn demo_with(n: usize, extra: &[&str]) -> Demo {
    let demo = Demo::start(extra);
    demo.post(&format!("/demo/connectors/{CONNECTOR}/fix"), "");
    demo.post(
        &format!("/demo/connectors/{CONNECTOR}/dead-letters"),
        &format!(r#"{{"count": {n}}}"#),
    );
    demo.ok(&["sync", "--once"]);
    demo
}

/// The connector's live dead letters that conform to its contract (what a run sends).
fn sendable_ids(demo: &Demo) -> Vec<String> {
    let plan = demo.ok(&[
        "replay",
        "--where",
        &format!("connector:{CONNECTOR}"),
        "--plan",
        "--json",
    ]);
    let plan: serde_json::Value = serde_json::from_str(plan.trim()).unwrap_or_default();
    let skipped: std::collections::HashSet<String> = plan["plan"]["violation_examples"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|e| e[0].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let listed = demo.ok(&[
        "dead-letters",
        "--json",
        "--limit",
        "0",
        "--connector",
        CONNECTOR,
    ]);
    demo_cli::json_lines(listed.as_bytes())
        .iter()
        .filter_map(|d| d["id"].as_str().map(String::from))
        .filter(|id| !skipped.contains(id))
        .collect()
}

/// Flushes what the set-up wrote (the sync of N letters: tens of MB still dirty in the page
/// cache) and lets the writeback finish, so a timed section does not pay for the command before
/// it — the bare loop and the triage runs alike.
fn settle_disk() {
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(std::time::Duration::from_millis(300));
}

fn token(demo: &Demo) -> Option<String> {
    std::fs::read_to_string(demo.dir.path().join("demo.token"))
        .ok()
        .map(|t| t.trim().to_string())
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
    let out = demo.ok(&[
        "replay",
        "--where",
        &format!("connector:{CONNECTOR}"),
        "--yes",
        "--json",
        "--stages",
        "rest",
    ]);
    let took = started.elapsed();
    let last = demo_cli::json_lines(out.as_bytes())
        .pop()
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
            let demo = demo_with(n, &[]);
            let ids = sendable_ids(&demo);
            settle_disk();
            let started = Instant::now();
            let ok = bare_loop(demo.port, token(&demo), &ids).await;
            let bare_took = started.elapsed();
            assert_eq!(ok, ids.len(), "every bare replay succeeded");
            bare.push(ok as f64 / bare_took.as_secs_f64());
            // Each timed section beside its own demo alone (a demo keeps its simulation going).
            drop(demo);

            let demo = demo_with(n, &[]);
            settle_disk();
            let (sent, took) = triage_run(&demo);
            batched.push(sent as f64 / took.as_secs_f64());
            drop(demo);

            let demo = demo_with(n, &["--no-batch"]);
            settle_disk();
            let (sent_single, took_single) = triage_run(&demo);
            single.push(sent_single as f64 / took_single.as_secs_f64());
            println!(
                "run {run}/{runs}: bare loop {:.0}/s ({ok} in {bare_took:.2?}), triage run with \
                 the batch endpoint {:.0}/s ({sent} in {took:.2?}), without it {:.0}/s \
                 ({sent_single} in {took_single:.2?})",
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
    let area = format!("bulk replay ({n} letters, median of {runs})");
    println!(
        "bench-row|{area}|triage run, batch endpoint, replays/s|{t:.0}|bare reqwest loop, {CONCURRENCY} at a time: {b:.0}|{:.2}|≥ 0.9",
        t / b
    );
    println!(
        "bench-row|{area}|triage run, one request per letter, replays/s|{s:.0}|bare reqwest loop, {CONCURRENCY} at a time: {b:.0}|{:.2}|",
        s / b
    );
}
