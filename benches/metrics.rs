//! Metrics benchmarks: `Store::metrics_report` (the metrics view's first frame and `triage
//! report`) over 100,000 incidents opened in 30 days on 50 connectors, 5 % of them escalated,
//! 2,000 replays, with a month of 30-second queue polls already downsampled; and the queue
//! history's maintenance: the one-off catch-up of a month of raw polls (printed with the file
//! size before and after) and the steady hourly pass.
//!
//! `cargo bench --bench metrics` (`TRIAGE_BENCH_INCIDENTS` changes the incident count;
//! `TRIAGE_BENCH_QUEUE=demo` makes every queue number move like the demo upstream's).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::params;
use triage::domain::metrics::MetricsWindow;
use triage::domain::{ConnectionState, Incident, IncidentStatus, Severity};
use triage::store::{EscalationStepRecord, Store, SyncBatch};

const CONNECTORS: usize = 50;
const POLL_MS: i64 = 30_000;
const DAY_MS: i64 = 86_400_000;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn now() -> DateTime<Utc> {
    start() + TimeDelta::days(30)
}

fn incidents() -> usize {
    std::env::var("TRIAGE_BENCH_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Incident `n` of `total`, spread evenly over the 30 days; most acked and resolved.
fn incident(n: usize, total: usize) -> Incident {
    let open = n.is_multiple_of(10);
    let opened = start() + TimeDelta::milliseconds((n as i64) * 30 * DAY_MS / total as i64);
    let minutes = |m: i64| opened + TimeDelta::minutes(m);
    Incident {
        upstream: "bench".into(),
        id: format!("inc-{n:07}"),
        connector: format!("c{:02}", n % CONNECTORS),
        kind: "delivery_failures".into(),
        severity: Severity::Major,
        status: if open {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        },
        title: format!("incident {n}"),
        detail: "detail ".repeat(20),
        opened_at: opened,
        updated_at: opened,
        acked_by: (!open).then(|| "maria".to_string()),
        acked_at: (!open).then(|| minutes((n % 37) as i64)),
        resolved_at: (!open).then(|| minutes(40 + (n % 300) as i64)),
        ack_deadline: Some(minutes(15)),
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    }
}

fn batch(at: DateTime<Utc>, incidents: Vec<Incident>) -> SyncBatch {
    SyncBatch {
        upstream: "bench".into(),
        at,
        connectors: None,
        incidents,
        dead_letters: vec![],
        cursors: vec![],
        state: ConnectionState::Live { last_ok: at },
    }
}

/// Raw 30-second polls for every connector in `[from, to)`, straight into the file: the DLQ
/// climbs by one each poll to 499 and falls back, the rest holds still; with
/// `TRIAGE_BENCH_QUEUE=demo` every number moves like the demo upstream's (each poll a baseline
/// times 0.8–1.2, rates to 0.01 msg/s).
fn polls(path: &Path, from: i64, to: i64) {
    use rand::{Rng, SeedableRng};
    let demo = std::env::var("TRIAGE_BENCH_QUEUE").is_ok_and(|v| v == "demo");
    let mut rng = rand::rngs::StdRng::seed_from_u64(from as u64);
    let Ok(mut conn) = rusqlite::Connection::open(path) else {
        panic!("open")
    };
    let Ok(tx) = conn.transaction() else {
        panic!("tx")
    };
    {
        let Ok(mut insert) = tx.prepare(
            "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
                rate_out, rate_fail)
             SELECT key, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM queue_series
             WHERE upstream = 'bench' AND connector = ?1",
        ) else {
            panic!("prepare")
        };
        // ready, in flight, retrying, rate in, out, failed (assets/demo/scenario.toml).
        let baselines = [
            [38.0, 6.0, 14.0, 3.4, 2.1, 1.3],
            [120.0, 24.0, 3.0, 18.0, 17.2, 0.8],
            [410.0, 50.0, 0.0, 7.5, 7.5, 0.0],
            [75.0, 10.0, 22.0, 2.2, 1.6, 0.6],
            [900.0, 120.0, 8.0, 45.0, 43.5, 1.5],
        ];
        for c in 0..CONNECTORS {
            let id = format!("c{c:02}");
            for at in (from..to).step_by(POLL_MS as usize) {
                let v: [f64; 6] = if demo {
                    baselines[c % 5].map(|b| b * rng.random_range(0.8..1.2))
                } else {
                    [1.0, 0.0, 0.0, 2.0, 1.0, 0.0]
                };
                let rate = |r: f64| (r * 100.0).round() / 100.0;
                let row = params![
                    id,
                    at,
                    v[0].round() as i64,
                    v[1].round() as i64,
                    v[2].round() as i64,
                    (at / POLL_MS) % 500,
                    rate(v[3]),
                    rate(v[4]),
                    rate(v[5])
                ];
                if let Err(e) = insert.execute(row) {
                    panic!("insert: {e}");
                }
            }
        }
    }
    if let Err(e) = tx.commit() {
        panic!("commit: {e}");
    }
}

/// The file's size once the WAL is folded in and free pages dropped, and the queue history's
/// part of it.
fn compact_size(path: &Path) -> (u64, u64) {
    let Ok(conn) = rusqlite::Connection::open(path) else {
        panic!("open")
    };
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;") {
        panic!("vacuum: {e}");
    }
    drop(conn);
    let Ok(store) = Store::open(path) else {
        panic!("store")
    };
    let history = store.queue_history_bytes().unwrap_or(0);
    (
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        history,
    )
}

fn connectors_rows(path: &Path) {
    let Ok(conn) = rusqlite::Connection::open(path) else {
        panic!("open")
    };
    for c in 0..CONNECTORS {
        let sql = "INSERT INTO connectors (upstream, id, name, dead, updated_ms) VALUES ('bench', ?1, ?1, 7, 0)";
        if let Err(e) = conn.execute(sql, [format!("c{c:02}")]) {
            panic!("connector: {e}");
        }
        let sql = "INSERT INTO queue_series (upstream, connector) VALUES ('bench', ?1)";
        if let Err(e) = conn.execute(sql, [format!("c{c:02}")]) {
            panic!("series: {e}");
        }
    }
}

/// A month of polls: rows and size raw, the catch-up pass, rows and size after.
fn history_month(path: &Path) -> Store {
    let Ok(store) = Store::open(path) else {
        panic!("store")
    };
    drop(store);
    connectors_rows(path);
    let t0 = start().timestamp_millis();
    polls(path, t0, t0 + 30 * DAY_MS);
    let (raw_size, raw_history) = compact_size(path);
    let Ok(mut store) = Store::open(path) else {
        panic!("store")
    };
    let began = Instant::now();
    let pass = store.downsample_queue_history(now());
    let took = began.elapsed();
    let tiers = store.queue_history_tiers();
    let rows: u64 = tiers
        .as_ref()
        .map(|t| t.iter().map(|(_, n)| n).sum())
        .unwrap_or(0);
    drop(store);
    let (size, history) = compact_size(path);
    if let Ok(conn) = rusqlite::Connection::open(path) {
        let sql = "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8";
        let tables: Vec<(String, i64)> = conn
            .prepare(sql)
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .unwrap_or_default();
        let sql = "SELECT resolution_ms, COUNT(*), SUM(LENGTH(data)) FROM queue_blocks
                   GROUP BY resolution_ms";
        let blocks: Vec<(i64, i64, i64)> = conn
            .prepare(sql)
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .unwrap_or_default();
        eprintln!("pages by table: {tables:?}; blocks (tier, rows, blob bytes): {blocks:?}");
    }
    eprintln!(
        "queue history, {CONNECTORS} connectors × 30 d of 30 s polls: raw file {:.1} MB \
         (history {:.1} MB, {} polls); catch-up pass {took:.2?} ({pass:?}); after: file {:.2} MB, \
         history {:.2} MB ({rows} points: {tiers:?})",
        raw_size as f64 / 1e6,
        raw_history as f64 / 1e6,
        CONNECTORS as i64 * 30 * DAY_MS / POLL_MS,
        size as f64 / 1e6,
        history as f64 / 1e6,
    );
    let Ok(store) = Store::open(path) else {
        panic!("store")
    };
    store
}

fn fill_incidents(store: &mut Store, total: usize) {
    for from in (0..total).step_by(1000) {
        let rows = (from..(from + 1000).min(total))
            .map(|n| incident(n, total))
            .collect();
        if let Err(e) = store.write_sync_batch(&batch(now(), rows)) {
            panic!("incidents: {e}");
        }
    }
    let teams = ["growth".to_string()];
    for n in (0..total).step_by(20) {
        let i = incident(n, total);
        let step = EscalationStepRecord {
            upstream: "bench",
            incident: &i.id,
            cycle_started_at: i.opened_at,
            level: 1,
            operator: "watch",
            why: "bench",
            actions: &[],
            teams: &teams,
        };
        if let Err(e) = store.record_escalation(&step, i.opened_at + TimeDelta::minutes(16)) {
            panic!("escalation: {e}");
        }
    }
}

fn bench_metrics(c: &mut Criterion) {
    let Ok(dir) = tempfile::tempdir() else {
        panic!("tempdir")
    };
    let path = dir.path().join("triage.db");
    let mut store = history_month(&path);
    let total = incidents();
    let began = Instant::now();
    fill_incidents(&mut store, total);
    eprintln!(
        "{total} incidents (+{} escalation steps) written in {:.2?}",
        total / 20,
        began.elapsed()
    );

    let mut group = c.benchmark_group("metrics_report");
    group.sample_size(20);
    for (label, days) in [("24h", 1), ("7d", 7), ("30d (every incident)", 30)] {
        let window = MetricsWindow::last(Duration::from_secs(days * 86_400), now());
        group.bench_function(
            format!("{total} incidents, 50 connectors, window {label}"),
            |b| {
                b.iter(|| match store.metrics_report(black_box(window), None) {
                    Ok(report) => report,
                    Err(e) => panic!("report: {e}"),
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("queue_history");
    group.sample_size(10);
    let mut hour = 0i64;
    group.bench_function("hourly pass, 50 connectors (1 h of polls in)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                hour += 1;
                let t = now().timestamp_millis() + (hour - 1) * 3_600_000;
                polls(&path, t, t + 3_600_000);
                let at = now() + TimeDelta::hours(hour);
                let began = Instant::now();
                if let Err(e) = store.downsample_queue_history(at) {
                    panic!("pass: {e}");
                }
                spent += began.elapsed();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
