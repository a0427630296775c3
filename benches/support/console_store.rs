//! The seeded store of the console benchmarks (`console`, `console_pty`): 1,000,000 dead letters
//! and 100,000 incidents by default, built once and kept under target/.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use triage::domain::*;
use triage::store::{Store, SyncBatch};

pub const CONNECTORS: usize = 8;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

pub fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn dead_letter(n: usize) -> DeadLetter {
    let at = t0() + chrono::Duration::seconds(n as i64);
    DeadLetter {
        upstream: "bench".into(),
        id: format!("dl-{n:08}"),
        connector: format!("connector-{}", n % CONNECTORS),
        payload: format!(
            "{{\"order\":{n},\"email\":\"lead{n}@example.com\",\"note\":\"{}\"}}",
            "x".repeat(700)
        )
        .into_bytes(),
        content_type: Some("application/json".into()),
        headers: vec![("content-type".into(), "application/json".into())],
        error: DeadLetterError {
            code: "INVALID_FIELD".into(),
            message: "No such column 'lead_source'".into(),
            http_status: Some(400),
            vendor_response: None,
        },
        attempts: 5,
        first_failed_at: at,
        last_failed_at: at,
        state: DeadLetterState::Dead,
        updated_at: at,
    }
}

pub fn incident(n: usize) -> Incident {
    let at = t0() + chrono::Duration::seconds(n as i64);
    Incident {
        upstream: "bench".into(),
        id: format!("inc-{n:07}"),
        connector: format!("connector-{}", n % CONNECTORS),
        kind: "dlq_growth".into(),
        severity: if n.is_multiple_of(3) {
            Severity::Critical
        } else {
            Severity::Major
        },
        status: if n.is_multiple_of(4) {
            IncidentStatus::Acknowledged
        } else {
            IncidentStatus::Open
        },
        title: format!("DLQ growing on connector-{}", n % CONNECTORS),
        detail: String::new(),
        opened_at: at,
        updated_at: at,
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: Some(at + chrono::Duration::minutes(15)),
        escalation_level: 0,
        labels: Default::default(),
        links: Vec::new(),
    }
}

/// The seeded store, built once and kept under target/.
pub fn big_store(dead_letters: usize, incidents: usize) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/bench-console-{dead_letters}-{incidents}.db"
    ));
    if path.exists() {
        // A store seeded before the search index (schema V10) existed: migrate and index it,
        // as the sync of an operator's store would have.
        let store = Store::open(&path).expect("open bench store");
        if store.search_index_behind().expect("search index") > 0 {
            store
                .catch_up_search_index(u64::MAX)
                .expect("catch the search index up");
        }
        return path;
    }
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut store = Store::open(&tmp).expect("open bench store");
    let reports: Vec<ConnectorReport> = (0..CONNECTORS)
        .map(|c| ConnectorReport {
            id: format!("connector-{c}"),
            name: format!("Connector {c}"),
            status: ConnectorStatus::Failing,
            stats: QueueStats {
                ready: 10,
                in_flight: 2,
                retrying: 1,
                dead: (dead_letters / CONNECTORS) as u64,
                rate_in: 3.0,
                rate_out: 2.0,
                rate_fail: 1.0,
            },
            last_error: None,
            updated_at: t0(),
        })
        .collect();
    let batch_size = 1_000;
    let batches = dead_letters.max(incidents).div_ceil(batch_size);
    for b in 0..batches {
        let range = b * batch_size..(b + 1) * batch_size;
        let batch = SyncBatch {
            upstream: "bench".into(),
            at: t0() + chrono::Duration::seconds(b as i64),
            connectors: b.is_multiple_of(100).then(|| reports.clone()),
            incidents: range
                .clone()
                .filter(|&n| n < incidents)
                .map(incident)
                .collect(),
            dead_letters: range
                .filter(|&n| n < dead_letters)
                .map(dead_letter)
                .collect(),
            cursors: Vec::new(),
            state: ConnectionState::Live { last_ok: t0() },
        };
        store.write_sync_batch(&batch).expect("seed batch");
    }
    // The search index, caught up as sync does after its batches.
    store
        .catch_up_search_index(u64::MAX)
        .expect("catch the search index up");
    drop(store);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    std::fs::rename(&tmp, &path).expect("keep the seeded store");
    path
}
