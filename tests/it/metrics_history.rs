//! Queue history that stays small (`store::queue_history`): a month of 30-second polls for 50
//! connectors ends with exactly a day of raw polls, six days of 1-minute points and the rest in
//! 15-minute points, in under 5 MB; spikes survive the roll-ups; points past 90 days are
//! dropped. Also the V8
//! records the metrics read: reopen times and escalation steps with their operator.

use chrono::{Duration, TimeZone, Utc};
use rusqlite::params;
use triage::domain::Timestamp;
use triage::domain::metrics::MetricsWindow;
use triage::store::Store;

pub const CONNECTORS: usize = 50;
pub const POLL_SECS: i64 = 30;

/// The size a month of 30-second polls on 50 connectors may take, every table and index of the
/// queue history counted (`Store::queue_history_bytes`, after VACUUM).
const MONTH_BOUND_BYTES: u64 = 5_000_000;

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
}

/// The demo upstream's connector baselines (assets/demo/scenario.toml): ready, in flight,
/// retrying, and the rates in, out and failed.
const BASELINES: [(f64, f64, f64, f64, f64, f64); 5] = [
    (38.0, 6.0, 14.0, 3.4, 2.1, 1.3),
    (120.0, 24.0, 3.0, 18.0, 17.2, 0.8),
    (410.0, 50.0, 0.0, 7.5, 7.5, 0.0),
    (75.0, 10.0, 22.0, 2.2, 1.6, 0.6),
    (900.0, 120.0, 8.0, 45.0, 43.5, 1.5),
];

/// Adds connector `id` of upstream `mq` to the queue history; its key.
pub fn series(conn: &rusqlite::Connection, id: &str) -> i64 {
    conn.query_row(
        "INSERT INTO queue_series (upstream, connector) VALUES ('mq', ?1) RETURNING key",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

/// `days` of raw polls every 30 s for 50 connectors (`c00`…`c49` on upstream `mq`), written
/// straight into the file in one transaction (the sync path would take minutes in a debug
/// build). Queue numbers move like the demo upstream's (`demo::sim`: each poll a baseline times
/// 0.8–1.2, rates to 0.01 msg/s), a noisier history than a real queue's; the DLQ climbs and
/// falls back every 100 polls.
pub fn fill_month(path: &std::path::Path, days: i64) {
    use rand::{Rng, SeedableRng};
    drop(Store::open(path).unwrap());
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    {
        let mut connector = tx
            .prepare("INSERT INTO connectors (upstream, id, name, dead, updated_ms) VALUES ('mq', ?1, ?1, 0, 0)")
            .unwrap();
        let mut snapshot = tx
            .prepare(
                "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
                    rate_out, rate_fail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .unwrap();
        let t0 = start().timestamp_millis();
        for c in 0..CONNECTORS {
            let id = format!("c{c:02}");
            connector.execute([&id]).unwrap();
            let key = series(&tx, &id);
            let base = BASELINES[c % BASELINES.len()];
            for k in 0..(days * 86_400 / POLL_SECS) {
                let at = t0 + k * POLL_SECS * 1000;
                let mut wobble = |v: f64| v * rng.random_range(0.8..1.2);
                let count = |v: f64| v.round() as i64;
                let rate = |v: f64| (v * 100.0).round() / 100.0;
                // c00 spikes to 999 for one poll, ten days in (a 15-minute point later).
                let dead = if c == 0 && k == 10 * 2880 + 7 {
                    999
                } else {
                    k % 100
                };
                let values = (
                    count(wobble(base.0)),
                    count(wobble(base.1)),
                    count(wobble(base.2)),
                    rate(wobble(base.3)),
                    rate(wobble(base.4)),
                    rate(wobble(base.5)),
                );
                snapshot
                    .execute(params![
                        key, at, values.0, values.1, values.2, dead, values.3, values.4, values.5
                    ])
                    .unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

/// The queue history's bytes once the file is compacted (VACUUM with the store closed).
fn compact_history_bytes(path: &std::path::Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;")
        .unwrap();
    drop(conn);
    let store = Store::open(path).unwrap();
    let file = std::fs::metadata(path).unwrap().len();
    (store.queue_history_bytes().unwrap(), file)
}

#[test]
fn a_month_of_30_second_polls_rolls_into_three_tiers_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    fill_month(&path, 30);
    {
        // A stray point older than the 90-day retention.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let old = (start() - Duration::days(61)).timestamp_millis();
        conn.execute(
            "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
                rate_out, rate_fail)
             SELECT key, ?1, 0, 0, 0, 0, 0, 0, 0 FROM queue_series WHERE connector = 'c01'",
            [old],
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let now = start() + Duration::days(30);
    let n = CONNECTORS as u64;
    assert_eq!(store.queue_history_tiers().unwrap(), [(0, 86_400 * n + 1)]);
    let pass = store.downsample_queue_history(now).unwrap();
    // Raw: the last day (2,880 polls). 1-minute: days 23–29 (6 × 1,440). 15-minute: days 0–23
    // (23 × 96).
    assert_eq!(
        store.queue_history_tiers().unwrap(),
        [(0, 2_880 * n), (60_000, 8_640 * n), (900_000, 2_208 * n)]
    );
    assert_eq!(pass.dropped, 1, "the point past 90 days");
    // A second pass at the same time changes nothing: every bucket is rolled once.
    let again = store.downsample_queue_history(now).unwrap();
    assert_eq!((again.rolled, again.written, again.dropped), (0, 0, 0));
    // The whole month, with its hourly depths, in a few MB.
    drop(store);
    let (bytes, file) = compact_history_bytes(&path);
    eprintln!(
        "a month of 30 s polls on {CONNECTORS} connectors: queue history {bytes} B, file {file} B"
    );
    assert!(bytes < MONTH_BOUND_BYTES, "queue history takes {bytes} B");
    assert!(
        bytes > 100_000,
        "{bytes} B: is dbstat counting the right tables?"
    );
    let mut store = Store::open(&path).unwrap();
    // The next hour, as sync's hourly pass sees it (from where the last pass stopped): an hour
    // of polls in, an hour of each tier moves on.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for c in 0..CONNECTORS {
            for k in 0..(3600 / POLL_SECS) {
                conn.execute(
                    "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead,
                        rate_in, rate_out, rate_fail)
                     SELECT key, ?2, 0, 0, 0, 1, 0, 0, 0 FROM queue_series WHERE connector = ?1",
                    params![
                        format!("c{c:02}"),
                        (now + Duration::seconds(k * POLL_SECS)).timestamp_millis()
                    ],
                )
                .unwrap();
            }
        }
    }
    let hour = store
        .downsample_queue_history(now + Duration::hours(1))
        .unwrap();
    assert_eq!(
        store.queue_history_tiers().unwrap(),
        [(0, 2_880 * n), (60_000, 8_640 * n), (900_000, 2_212 * n)]
    );
    assert_eq!(
        (hour.rolled, hour.written),
        ((120 + 60) * CONNECTORS, (60 + 4) * CONNECTORS)
    );
    // The spike survives in its 15-minute point, and the report's DLQ series sees it.
    let window = MetricsWindow::last(std::time::Duration::from_secs(30 * 86_400), now);
    let report = store.metrics_report(window, Some("c00")).unwrap();
    let series = &report.dlq_series[0];
    assert_eq!(series.points.iter().map(|p| p.dead).max(), Some(999));
    assert_eq!(series.first.map(|p| p.at), Some(start()));
    assert!(series.points.len() <= 120, "{}", series.points.len());
}

#[test]
fn reopen_times_and_escalation_steps_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("triage.toml");
    let path = dir.path().join("triage.db");
    super::metrics_fixture::write_fixture(&config, &path);
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let reopens: Vec<(String, i64)> = conn
        .prepare("SELECT id, at_ms FROM incident_reopens ORDER BY at_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let at = |hours: i64, minutes: i64| {
        (start() + Duration::days(28) + Duration::hours(hours) + Duration::minutes(minutes))
            .timestamp_millis()
    };
    // i2 reopened 90 min after it opened (at 02:00); i5 twice, at 72 h + 22 and + 26 min.
    assert_eq!(
        reopens,
        [
            ("i2".to_string(), at(2, 90)),
            ("i5".into(), at(72, 22)),
            ("i5".into(), at(72, 26))
        ]
    );
    let steps: Vec<(String, i64, String)> = conn
        .prepare("SELECT id, level, operator FROM escalation_steps ORDER BY at_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps,
        [
            ("i2".to_string(), 1, "watch".to_string()),
            ("i3".into(), 1, "watch".into()),
            ("i3".into(), 2, "watch".into())
        ]
    );
    let teams: Vec<String> = conn
        .prepare("SELECT team FROM notified_teams ORDER BY at_ms")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        teams,
        ["growth", "growth", "growth"],
        "the backup dev is on growth"
    );
}

/// An upstream's answer to an ack carries no deadline (adapters do not route): the deadline
/// routing gave at sync stays, so ack-within-SLA can still be judged.
#[test]
fn an_ack_answer_without_a_deadline_keeps_the_routed_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let opened = start();
    let mut incident = triage::domain::Incident {
        upstream: "demo".into(),
        id: "i1".into(),
        connector: "crm".into(),
        kind: "k".into(),
        severity: triage::domain::Severity::Major,
        status: triage::domain::IncidentStatus::Open,
        title: "t".into(),
        detail: String::new(),
        opened_at: opened,
        updated_at: opened,
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: Some(opened + Duration::minutes(15)),
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    };
    let batch = |incident: &triage::domain::Incident| triage::store::SyncBatch {
        upstream: "demo".into(),
        at: opened,
        connectors: None,
        incidents: vec![incident.clone()],
        dead_letters: vec![],
        cursors: vec![],
        state: triage::domain::ConnectionState::Live { last_ok: opened },
    };
    store.write_sync_batch(&batch(&incident)).unwrap();
    incident.status = triage::domain::IncidentStatus::Acknowledged;
    incident.acked_at = Some(opened + Duration::minutes(5));
    incident.ack_deadline = None;
    store.write_sync_batch(&batch(&incident)).unwrap();
    let stored = store.incident("demo", "i1").unwrap().unwrap();
    assert_eq!(stored.ack_deadline, Some(opened + Duration::minutes(15)));
    let window = MetricsWindow::last(
        std::time::Duration::from_secs(86_400),
        opened + Duration::hours(1),
    );
    let report = store.metrics_report(window, None).unwrap();
    assert_eq!(report.total.acked_within_sla, 1);
}
