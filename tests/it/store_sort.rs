//! Sorting by a column in the store (`store::sort`): every sortable column of the Incidents and
//! Dead letters lists, both ways, paged forward and backward in small pages over rows with many
//! ties, gives exactly the order a plain sort of all rows gives — no row skipped or repeated.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use triage::domain::{
    ConnectionState, DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus,
    Severity, Timestamp,
};
use triage::store::{
    DeadLetterPageQuery, IncidentPageQuery, PageDir, SortBy, SortColumn, SortList, Store, SyncBatch,
};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap()
}

const CONNECTORS: [&str; 3] = ["crm-sync", "ads", "billing"];

fn letters(n: usize) -> Vec<DeadLetter> {
    (0..n)
        .map(|i| DeadLetter {
            upstream: "demo".into(),
            id: format!("dl-{i:04}"),
            connector: CONNECTORS[i % 3].into(),
            payload: vec![b'x'; (i * 7) % 11],
            content_type: None,
            headers: vec![],
            error: DeadLetterError {
                code: ["HTTP_500", "INVALID_FIELD", "TIMEOUT", "DUP"][i % 4].into(),
                message: "failed".into(),
                http_status: None,
                vendor_response: None,
            },
            attempts: (i % 5) as u32 + 1,
            first_failed_at: t0() + Duration::seconds((i / 3) as i64),
            last_failed_at: t0() + Duration::seconds((i % 17) as i64),
            state: DeadLetterState::Dead,
            updated_at: t0(),
        })
        .collect()
}

fn incidents(n: usize) -> Vec<Incident> {
    let severities = [
        Severity::Critical,
        Severity::Major,
        Severity::Warning,
        Severity::Info,
    ];
    let statuses = [
        IncidentStatus::Open,
        IncidentStatus::Acknowledged,
        IncidentStatus::Suppressed,
    ];
    (0..n)
        .map(|i| Incident {
            upstream: "demo".into(),
            id: format!("inc-{i:04}"),
            connector: CONNECTORS[i % 3].into(),
            kind: "delivery_failures".into(),
            severity: severities[i % 4],
            status: statuses[i % 3],
            title: format!("incident {i}"),
            detail: String::new(),
            opened_at: t0() + Duration::minutes((i % 13) as i64),
            updated_at: t0(),
            acked_by: None,
            acked_at: None,
            resolved_at: None,
            ack_deadline: (i % 4 != 0).then(|| t0() + Duration::minutes((i % 9) as i64)),
            escalation_level: 0,
            labels: BTreeMap::new(),
            links: vec![],
        })
        .collect()
}

fn store_with(
    incidents: Vec<Incident>,
    dead_letters: Vec<DeadLetter>,
) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    store
        .write_sync_batch(&SyncBatch {
            upstream: "demo".into(),
            at: t0(),
            connectors: None,
            incidents,
            dead_letters,
            cursors: vec![],
            state: ConnectionState::Live { last_ok: t0() },
        })
        .unwrap();
    (dir, store)
}

/// Every id of the list, walked forward in pages of `limit`, then backward from the end.
fn walk<K: Clone>(
    mut page: impl FnMut(Option<K>, PageDir) -> Vec<(K, String)>,
) -> (Vec<String>, Vec<String>) {
    let mut forward = Vec::new();
    let mut anchor = None;
    loop {
        let rows = page(anchor.clone(), PageDir::Forward);
        let Some(last) = rows.last() else { break };
        anchor = Some(last.0.clone());
        forward.extend(rows.into_iter().map(|(_, id)| id));
    }
    let mut backward = Vec::new();
    let mut anchor = None;
    loop {
        let rows = page(anchor.clone(), PageDir::Backward);
        let Some(first) = rows.first() else { break };
        anchor = Some(first.0.clone());
        let mut ids: Vec<String> = rows.into_iter().map(|(_, id)| id).collect();
        ids.extend(backward);
        backward = ids;
    }
    (forward, backward)
}

fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Critical => 0,
        Severity::Major => 1,
        Severity::Warning => 2,
        Severity::Info => 3,
    }
}

#[test]
fn dead_letters_sort_by_every_column_both_ways_and_page_without_gaps() {
    let all = letters(101);
    let (_dir, store) = store_with(vec![], all.clone());
    let default_order = {
        let (ids, _) = walk(|anchor, dir| {
            store
                .page_dead_letters(&DeadLetterPageQuery {
                    anchor,
                    dir,
                    limit: 7,
                    ..Default::default()
                })
                .unwrap()
                .into_iter()
                .map(|r| (r.key, r.id))
                .collect()
        });
        ids
    };
    assert_eq!(default_order.len(), 101);
    let position = |id: &str| default_order.iter().position(|d| d == id).unwrap();
    for &column in SortColumn::for_list(SortList::DeadLetters) {
        for reverse in [false, true] {
            let sort = SortBy { column, reverse };
            let (forward, backward) = walk(|anchor, dir| {
                store
                    .page_dead_letters(&DeadLetterPageQuery {
                        sort,
                        anchor,
                        dir,
                        limit: 7,
                        ..Default::default()
                    })
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.key, r.id))
                    .collect()
            });
            // The expected order: the column's natural direction, ties in the default order;
            // reversed: all of it the other way round.
            let mut expected: Vec<&DeadLetter> = all.iter().collect();
            expected.sort_by(|a, b| {
                let by = match column {
                    SortColumn::Default => std::cmp::Ordering::Equal,
                    SortColumn::Age => b.first_failed_at.cmp(&a.first_failed_at),
                    SortColumn::Connector => a.connector.cmp(&b.connector),
                    SortColumn::Error => a.error.code.cmp(&b.error.code),
                    SortColumn::Attempts => b.attempts.cmp(&a.attempts),
                    SortColumn::Size => b.payload.len().cmp(&a.payload.len()),
                    other => panic!("{other:?} is not a dead-letter column"),
                };
                by.then(position(&a.id).cmp(&position(&b.id)))
            });
            if reverse {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|d| d.id.clone()).collect();
            assert_eq!(forward, expected, "{sort:?} forward");
            assert_eq!(backward, expected, "{sort:?} backward");
        }
    }
}

#[test]
fn incidents_sort_by_every_column_both_ways_and_page_without_gaps() {
    let all = incidents(64);
    let (_dir, store) = store_with(all.clone(), vec![]);
    let page = |sort: SortBy, anchor, dir| -> Vec<(triage::store::IncidentKey, String)> {
        store
            .page_incidents(&IncidentPageQuery {
                sort,
                anchor,
                dir,
                limit: 5,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|(k, i)| (k, i.id))
            .collect()
    };
    let (urgency, _) = walk(|a, d| page(SortBy::default(), a, d));
    assert_eq!(urgency.len(), 64);
    let position = |id: &str| urgency.iter().position(|d| d == id).unwrap();
    let status_rank = |s: IncidentStatus| s as i64;
    for &column in SortColumn::for_list(SortList::Incidents) {
        for reverse in [false, true] {
            let sort = SortBy { column, reverse };
            let (forward, backward) = walk(|a, d| page(sort, a, d));
            let mut expected: Vec<&Incident> = all.iter().collect();
            expected.sort_by(|a, b| {
                let by = match column {
                    SortColumn::Default => std::cmp::Ordering::Equal,
                    SortColumn::Severity => {
                        severity_rank(a.severity).cmp(&severity_rank(b.severity))
                    }
                    SortColumn::Age => b.opened_at.cmp(&a.opened_at),
                    SortColumn::Status => status_rank(a.status).cmp(&status_rank(b.status)),
                    SortColumn::Connector => a.connector.cmp(&b.connector),
                    other => panic!("{other:?} is not an incident column"),
                };
                by.then(position(&a.id).cmp(&position(&b.id)))
            });
            if reverse {
                expected.reverse();
            }
            let expected: Vec<String> = expected.into_iter().map(|i| i.id.clone()).collect();
            assert_eq!(forward, expected, "{sort:?} forward");
            assert_eq!(backward, expected, "{sort:?} backward");
        }
    }
    // The title's words.
    assert_eq!(
        SortBy {
            column: SortColumn::Severity,
            reverse: false
        }
        .label(SortList::Incidents),
        Some("sorted by severity ↑".into())
    );
    assert_eq!(
        SortBy {
            column: SortColumn::Attempts,
            reverse: false
        }
        .label(SortList::DeadLetters),
        Some("sorted by attempts ↓".into())
    );
    assert_eq!(SortBy::default().label(SortList::Incidents), None);
}
