//! Queue history that stays small (`store::queue_history`): a month of 30-second polls for 50
//! connectors ends with exactly a day of raw polls, six days of 1-minute points and the rest in
//! 15-minute points; spikes survive the roll-ups; points past 90 days are dropped. Also the V8
//! records the metrics read: reopen times and escalation steps with their operator.

use chrono::{Duration, TimeZone, Utc};
use rusqlite::params;
use triage::domain::Timestamp;
use triage::domain::metrics::MetricsWindow;
use triage::store::Store;

pub const CONNECTORS: usize = 50;
pub const POLL_SECS: i64 = 30;

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
}

/// `days` of raw polls every 30 s for 50 connectors (`c00`…`c49` on upstream `mq`), written
/// straight into the file in one transaction (the sync path would take minutes in a debug build).
pub fn fill_month(path: &std::path::Path, days: i64) {
    drop(Store::open(path).unwrap());
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut connector = tx
            .prepare("INSERT INTO connectors (upstream, id, name, dead, updated_ms) VALUES ('mq', ?1, ?1, 0, 0)")
            .unwrap();
        let mut snapshot = tx
            .prepare(
                "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight, retrying,
                    dead, rate_in, rate_out, rate_fail) VALUES ('mq', ?1, ?2, 1, 0, 0, ?3, 2.0, 1.0, 0.0)",
            )
            .unwrap();
        let t0 = start().timestamp_millis();
        for c in 0..CONNECTORS {
            let id = format!("c{c:02}");
            connector.execute([&id]).unwrap();
            for k in 0..(days * 86_400 / POLL_SECS) {
                let at = t0 + k * POLL_SECS * 1000;
                // c00 spikes to 999 for one poll, ten days in (a 15-minute point later).
                let dead = if c == 0 && k == 10 * 2880 + 7 {
                    999
                } else {
                    k % 100
                };
                snapshot.execute(params![id, at, dead]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

#[test]
fn a_month_of_30_second_polls_rolls_into_three_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    fill_month(&path, 30);
    {
        // A stray point older than the 90-day retention.
        let conn = rusqlite::Connection::open(&path).unwrap();
        let old = (start() - Duration::days(61)).timestamp_millis();
        conn.execute(
            "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight, retrying, dead,
                rate_in, rate_out, rate_fail) VALUES ('mq', 'c01', ?1, 0, 0, 0, 0, 0, 0, 0)",
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
    // The next hour, as sync's hourly pass sees it (from where the last pass stopped): an hour
    // of polls in, an hour of each tier moves on.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for c in 0..CONNECTORS {
            for k in 0..(3600 / POLL_SECS) {
                conn.execute(
                    "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight,
                        retrying, dead, rate_in, rate_out, rate_fail) VALUES ('mq', ?1, ?2, 0, 0, 0, 1, 0, 0, 0)",
                    params![format!("c{c:02}"), (now + Duration::seconds(k * POLL_SECS)).timestamp_millis()],
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
