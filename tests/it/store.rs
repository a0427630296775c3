//! The local store: migrations, file mode, keyset paging over large tables, urgency order,
//! maintained counts, change-aware sync batches, the outbox lifecycle and the audit chain.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, TimeZone, Utc};
use triage::domain::{
    Action, ActionKind, ActionOutcome, ConnectionState, ConnectorReport, ConnectorStatus,
    DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus, OutboxEntry,
    OutboxState, QueueStats, Severity, Timestamp,
};
use triage::store::{
    AuditVerification, DeadLetterPageQuery, IncidentPageQuery, OutboxKey, OutboxPageQuery, PageDir,
    Store, StoreError, SyncBatch,
};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap()
}

fn dead_letter(upstream: &str, n: usize, connector: &str) -> DeadLetter {
    DeadLetter {
        upstream: upstream.into(),
        id: format!("dl-{n:07}"),
        connector: connector.into(),
        payload: format!("{{\"order\":{n}}}").into_bytes(),
        content_type: Some("application/json".into()),
        headers: vec![("x-b".into(), "2".into()), ("x-a".into(), "1".into())],
        error: DeadLetterError {
            code: "http_422".into(),
            message: "rejected".into(),
            http_status: Some(422),
            vendor_response: None,
        },
        attempts: 3,
        first_failed_at: t0() + Duration::seconds(n as i64),
        // Pairs share a timestamp so the rowid tie-breaker matters.
        last_failed_at: t0() + Duration::seconds((n / 2) as i64),
        state: DeadLetterState::Dead,
        updated_at: t0(),
    }
}

fn incident(
    id: &str,
    connector: &str,
    status: IncidentStatus,
    deadline_min: Option<i64>,
) -> Incident {
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        kind: "delivery_failures".into(),
        severity: Severity::Major,
        status,
        title: format!("incident {id}"),
        detail: "details".into(),
        opened_at: t0(),
        updated_at: t0(),
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: deadline_min.map(|m| t0() + Duration::minutes(m)),
        escalation_level: 0,
        labels: BTreeMap::from([("team".to_string(), "billing".to_string())]),
        links: vec![],
    }
}

fn batch(incidents: Vec<Incident>, dead_letters: Vec<DeadLetter>) -> SyncBatch {
    SyncBatch {
        upstream: "demo".into(),
        at: t0(),
        connectors: None,
        incidents,
        dead_letters,
        cursors: vec![],
        state: ConnectionState::Live { last_ok: t0() },
    }
}

fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("nested/dir/triage.db")).unwrap();
    (dir, store)
}

#[test]
fn migrates_from_empty_and_reopens_with_data_kept() {
    let (dir, mut store) = open_temp();
    let version = store.schema_version().unwrap();
    assert!(version >= 1);
    store
        .write_sync_batch(&batch(
            vec![incident("i-1", "crm", IncidentStatus::Open, None)],
            vec![],
        ))
        .unwrap();
    drop(store);
    let store = Store::open(&dir.path().join("nested/dir/triage.db")).unwrap();
    assert_eq!(store.schema_version().unwrap(), version);
    assert_eq!(
        store.incident("demo", "i-1").unwrap().unwrap().title,
        "incident i-1"
    );
}

#[cfg(unix)]
#[test]
fn new_store_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = open_temp();
    let mode = std::fs::metadata(dir.path().join("nested/dir/triage.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn store_from_a_newer_triage_is_refused() {
    let (dir, store) = open_temp();
    let supported = store.schema_version().unwrap();
    drop(store);
    let path = dir.path().join("nested/dir/triage.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", supported + 1)
        .unwrap();
    drop(conn);
    match Store::open(&path) {
        Err(StoreError::TooNew {
            found,
            supported: s,
            ..
        }) => assert_eq!((found, s), (supported + 1, supported)),
        Err(other) => panic!("expected TooNew, got {other}"),
        Ok(_) => panic!("expected TooNew, the store opened"),
    }
}

#[test]
fn hundred_thousand_dead_letters_page_forward_and_backward() {
    let (_dir, mut store) = open_temp();
    const TOTAL: usize = 100_000;
    for chunk in (0..TOTAL).collect::<Vec<_>>().chunks(5_000) {
        let letters = chunk
            .iter()
            .map(|&n| dead_letter("demo", n, if n % 2 == 0 { "crm" } else { "erp" }))
            .collect();
        let summary = store.write_sync_batch(&batch(vec![], letters)).unwrap();
        assert_eq!(summary.dead_letters_changed, chunk.len());
    }
    let mut seen = Vec::with_capacity(TOTAL);
    let mut pages = Vec::new();
    let mut anchor = None;
    loop {
        let page = store
            .page_dead_letters(&DeadLetterPageQuery {
                anchor: anchor.clone(),
                limit: 50,
                ..Default::default()
            })
            .unwrap();
        assert!(page.len() <= 50);
        let Some(last) = page.last() else { break };
        anchor = Some(last.key.clone());
        pages.push(page.iter().map(|s| s.key.clone()).collect::<Vec<_>>());
        seen.extend(page.into_iter().map(|s| (s.key, s.id)));
    }
    assert_eq!(seen.len(), TOTAL);
    let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(unique.len(), TOTAL, "every id exactly once");
    assert!(
        seen.windows(2)
            .all(|w| (w[0].0.last_failed_ms, w[0].0.rowid) > (w[1].0.last_failed_ms, w[1].0.rowid))
    );
    // Newest failure first; within a shared timestamp the later row first.
    assert_eq!(seen[0].1, "dl-0099999");
    assert_eq!(seen[1].1, "dl-0099998");

    // Backward from the first row of page 10 gives page 9, in display order.
    let back = store
        .page_dead_letters(&DeadLetterPageQuery {
            anchor: Some(pages[10][0].clone()),
            dir: PageDir::Backward,
            limit: 50,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        back.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
        pages[9]
    );

    // Connector filter and the maintained counts agree with what was inserted.
    let crm = store
        .page_dead_letters(&DeadLetterPageQuery {
            connector: Some("crm".into()),
            limit: 5000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(crm.len(), 1000, "limit is clamped to 1000");
    assert!(crm.iter().all(|s| s.connector == "crm"));
    let counts = store.connector_counts().unwrap();
    assert_eq!(
        counts.iter().map(|c| c.dead_letters).sum::<u64>(),
        TOTAL as u64
    );
}

#[test]
fn incidents_page_by_urgency() {
    let (_dir, mut store) = open_temp();
    let incidents = vec![
        incident("resolved", "crm", IncidentStatus::Resolved, Some(1)),
        incident("ack-soon", "crm", IncidentStatus::Acknowledged, Some(5)),
        incident("open-none", "erp", IncidentStatus::Open, None),
        incident("open-late", "crm", IncidentStatus::Open, Some(30)),
        incident("open-soon", "erp", IncidentStatus::Open, Some(10)),
        incident("ack-none", "erp", IncidentStatus::Acknowledged, None),
    ];
    store.write_sync_batch(&batch(incidents, vec![])).unwrap();
    let want = [
        "open-soon",
        "open-late",
        "open-none",
        "ack-soon",
        "ack-none",
        "resolved",
    ];
    let mut got = Vec::new();
    let mut anchor = None;
    loop {
        let page = store
            .page_incidents(&IncidentPageQuery {
                anchor: anchor.clone(),
                limit: 2,
                ..Default::default()
            })
            .unwrap();
        let Some((key, _)) = page.last() else { break };
        anchor = Some(key.clone());
        got.extend(page.into_iter().map(|(_, i)| i.id));
    }
    assert_eq!(got, want);
    // Backward from "ack-soon" gives the two before it, in display order.
    let all = store
        .page_incidents(&IncidentPageQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    let back = store
        .page_incidents(&IncidentPageQuery {
            anchor: Some(all[3].0.clone()),
            dir: PageDir::Backward,
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        back.iter().map(|(_, i)| i.id.as_str()).collect::<Vec<_>>(),
        ["open-late", "open-none"]
    );
    let open_erp = store
        .page_incidents(&IncidentPageQuery {
            connector: Some("erp".into()),
            statuses: vec![IncidentStatus::Open],
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        open_erp
            .iter()
            .map(|(_, i)| i.id.as_str())
            .collect::<Vec<_>>(),
        ["open-soon", "open-none"]
    );
    let found = store.find_incidents("ack-soon").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].labels["team"], "billing");
}

#[test]
fn connector_counts_follow_inserts_state_changes_and_deletes() {
    let (dir, mut store) = open_temp();
    let letters: Vec<_> = (0..5).map(|n| dead_letter("demo", n, "crm")).collect();
    let incidents = vec![
        incident("a", "crm", IncidentStatus::Open, None),
        incident("b", "crm", IncidentStatus::Acknowledged, None),
        incident("c", "crm", IncidentStatus::Resolved, None),
    ];
    store
        .write_sync_batch(&batch(incidents, letters.clone()))
        .unwrap();
    let crm = |store: &Store| {
        store
            .connector_counts()
            .unwrap()
            .into_iter()
            .find(|c| c.connector == "crm")
            .unwrap()
    };
    let c = crm(&store);
    assert_eq!(
        (c.dead_letters, c.open_incidents, c.unacked_incidents),
        (5, 2, 1)
    );

    let mut replayed = letters[0].clone();
    replayed.state = DeadLetterState::Replayed;
    let mut acked = incident("a", "crm", IncidentStatus::Acknowledged, None);
    acked.acked_by = Some("ana".into());
    store
        .write_sync_batch(&batch(vec![acked], vec![replayed]))
        .unwrap();
    let c = crm(&store);
    assert_eq!(
        (c.dead_letters, c.open_incidents, c.unacked_incidents),
        (4, 2, 0)
    );

    let path = dir.path().join("nested/dir/triage.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "DELETE FROM dead_letters WHERE id IN ('dl-0000001', 'dl-0000000')",
        [],
    )
    .unwrap();
    conn.execute("DELETE FROM incidents WHERE id = 'b'", [])
        .unwrap();
    let c = crm(&store);
    assert_eq!(
        (c.dead_letters, c.open_incidents, c.unacked_incidents),
        (3, 1, 0)
    );
}

#[test]
fn sync_batch_counts_only_changed_rows() {
    let (_dir, mut store) = open_temp();
    let letters: Vec<_> = (0..10).map(|n| dead_letter("demo", n, "crm")).collect();
    let incidents: Vec<_> = (0..4)
        .map(|n| incident(&format!("i{n}"), "crm", IncidentStatus::Open, Some(n)))
        .collect();
    let mut first = batch(incidents.clone(), letters.clone());
    first.connectors = Some(vec![ConnectorReport {
        id: "crm".into(),
        name: "CRM sync".into(),
        status: ConnectorStatus::Failing,
        stats: QueueStats {
            dead: 10,
            ready: 3,
            ..Default::default()
        },
        last_error: Some("422".into()),
        updated_at: t0(),
    }]);
    first.cursors = vec![("incidents".into(), "c-1".into())];
    let s = store.write_sync_batch(&first).unwrap();
    assert_eq!(
        (s.connectors, s.incidents_changed, s.dead_letters_changed),
        (1, 4, 10)
    );

    let again = store
        .write_sync_batch(&batch(incidents.clone(), letters.clone()))
        .unwrap();
    assert_eq!(
        (again.incidents_changed, again.dead_letters_changed),
        (0, 0)
    );

    let mut changed_letters = letters.clone();
    changed_letters[3].attempts += 1;
    let mut changed_incidents = incidents.clone();
    changed_incidents[2].title = "renamed".into();
    let third = store
        .write_sync_batch(&batch(changed_incidents, changed_letters))
        .unwrap();
    assert_eq!(
        (third.incidents_changed, third.dead_letters_changed),
        (1, 1)
    );

    assert_eq!(
        store.sync_cursor("demo", "incidents").unwrap().as_deref(),
        Some("c-1")
    );
    let connectors = store.connectors().unwrap();
    assert_eq!(connectors.len(), 1);
    assert_eq!(
        (
            connectors[0].name.as_str(),
            connectors[0].status,
            connectors[0].stats.dead
        ),
        ("CRM sync", ConnectorStatus::Failing, 10)
    );
    let history = store
        .dlq_history("demo", "crm", t0() - Duration::hours(1), 10)
        .unwrap();
    assert_eq!(history.iter().map(|p| p.dead).collect::<Vec<_>>(), [10]);
    assert_eq!(
        store.upstream_states().unwrap(),
        vec![("demo".to_string(), ConnectionState::Live { last_ok: t0() })]
    );
}

#[test]
fn payload_bytes_round_trip_exactly() {
    let (_dir, mut store) = open_temp();
    let mut letter = dead_letter("demo", 1, "crm");
    letter.payload = vec![0x00, 0xFF, 0x1B, b'[', 0x00, 0xFE, 0x80, 0x00];
    store
        .write_sync_batch(&batch(vec![], vec![letter.clone()]))
        .unwrap();
    let stored = store.dead_letter("demo", &letter.id).unwrap().unwrap();
    assert_eq!(stored, letter);
    let page = store
        .page_dead_letters(&DeadLetterPageQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page[0].preview, letter.payload);
    assert_eq!(page[0].payload_len, 8);
}

/// A store read through a memory map (what a bulk run's command does) reads what another
/// connection wrote after the map was made, including pages that grew the file, and writes.
#[test]
fn a_mapped_store_sees_other_writers_and_writes() {
    let (dir, store) = open_temp();
    store.map_reads(1 << 20).unwrap();
    let mut other = Store::open(&dir.path().join("nested/dir/triage.db")).unwrap();
    let letters: Vec<DeadLetter> = (0..2_000).map(|n| dead_letter("demo", n, "crm")).collect();
    other
        .write_sync_batch(&batch(vec![], letters.clone()))
        .unwrap();
    for letter in [&letters[0], &letters[1_999]] {
        assert_eq!(
            store.dead_letter("demo", &letter.id).unwrap().as_ref(),
            Some(letter)
        );
    }
    let mut store = store;
    let mut changed = letters[7].clone();
    changed.attempts += 1;
    store
        .write_sync_batch(&batch(vec![], vec![changed.clone()]))
        .unwrap();
    assert_eq!(
        other.dead_letter("demo", &changed.id).unwrap(),
        Some(changed)
    );
}

#[test]
fn an_empty_payload_lists_and_opens_with_the_others() {
    let (_dir, mut store) = open_temp();
    let mut empty = dead_letter("rmq", 1, "crm");
    empty.payload = Vec::new();
    let other = dead_letter("rmq", 2, "crm");
    store
        .write_sync_batch(&batch(vec![], vec![empty.clone(), other]))
        .unwrap();
    assert_eq!(
        store.dead_letter("rmq", &empty.id).unwrap(),
        Some(empty.clone())
    );
    for connector in [None, Some("crm".to_string())] {
        let page = store
            .page_dead_letters(&DeadLetterPageQuery {
                limit: 10,
                connector,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(page.len(), 2);
        let listed = page.iter().find(|d| d.id == empty.id).unwrap();
        assert!(listed.preview.is_empty());
        assert_eq!(listed.payload_len, 0);
    }
}

#[test]
fn outbox_lifecycle_is_audited_and_tampering_is_detected() {
    let (dir, mut store) = open_temp();
    let dl = dead_letter("demo", 7, "crm");
    store
        .write_sync_batch(&batch(vec![], vec![dl.clone()]))
        .unwrap();
    let action = Action {
        kind: ActionKind::Replay,
        upstream: "demo".into(),
        target: dl.id.clone(),
        operator: "ana".into(),
        note: Some("vendor fixed the schema".into()),
        level: None,
        payload: Some(vec![0, 1, 2]),
        destination: None,
        drop_ttl: false,
    };
    let entry = store.enqueue_action(&action, t0()).unwrap();
    assert_eq!(entry.state, OutboxState::Pending);
    assert_ne!(entry.id, entry.idempotency_key);
    assert_eq!(store.pending_action_count().unwrap(), 1);

    let due = store.due_actions(t0(), 10).unwrap();
    assert_eq!(
        due.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [entry.id.as_str()]
    );
    assert!(
        store
            .claim_action(&entry.id, t0(), t0() + Duration::minutes(2))
            .unwrap()
    );
    assert!(
        !store
            .claim_action(&entry.id, t0(), t0() + Duration::minutes(2))
            .unwrap(),
        "second claim"
    );
    assert!(
        store.due_actions(t0(), 10).unwrap().is_empty(),
        "leased actions are not due"
    );

    let retry_at = t0() + Duration::seconds(30);
    store
        .record_action_error(&entry.id, "connection refused", Some(retry_at), t0())
        .unwrap();
    let pending = store.outbox_entry(&entry.id).unwrap().unwrap();
    assert_eq!(
        (pending.state, pending.attempts, pending.next_attempt_at),
        (OutboxState::Pending, 1, retry_at)
    );
    assert!(store.due_actions(t0(), 10).unwrap().is_empty());
    assert_eq!(store.due_actions(retry_at, 10).unwrap().len(), 1);
    assert!(
        store
            .claim_action(&entry.id, retry_at, retry_at + Duration::minutes(2))
            .unwrap()
    );

    let outcome = ActionOutcome {
        ok: true,
        summary: "delivered".into(),
        response: serde_json::json!({"status": 200}),
    };
    let mut replayed = dl.clone();
    replayed.state = DeadLetterState::Replayed;
    store
        .record_action_outcome(&entry.id, &outcome, None, Some(&replayed), retry_at)
        .unwrap();
    let sent = store.outbox_entry(&entry.id).unwrap().unwrap();
    assert_eq!(
        (sent.state, sent.outcome.as_ref()),
        (OutboxState::Sent, Some(&outcome))
    );
    assert_eq!(
        store.dead_letter("demo", &dl.id).unwrap().unwrap().state,
        DeadLetterState::Replayed
    );
    assert_eq!(store.pending_action_count().unwrap(), 0);
    assert_eq!(
        store
            .page_outbox(&[OutboxState::Sent], None, 10)
            .unwrap()
            .len(),
        1
    );

    let audit = store.page_audit(None, 10).unwrap();
    let events: Vec<_> = audit.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(events, ["replay.sent", "replay.retry", "replay.requested"]);
    assert!(
        audit
            .iter()
            .all(|a| a.outbox_id.as_deref() == Some(entry.id.as_str()) && a.operator == "ana")
    );
    let expected_hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            serde_json::to_string(&action).unwrap(),
        ))
    };
    // Every row of the action carries the stored action's hash (the later ones read it back).
    assert!(
        audit
            .iter()
            .all(|a| a.payload_hash.as_deref() == Some(expected_hash.as_str())),
        "{audit:?}"
    );
    assert_eq!(audit[2].prev_hash, "0".repeat(64));
    assert_eq!(
        store.verify_audit_chain().unwrap(),
        AuditVerification::Intact { rows: 3 }
    );

    let conn = rusqlite::Connection::open(dir.path().join("nested/dir/triage.db")).unwrap();
    conn.execute(
        "UPDATE audit SET detail = 'nothing to see' WHERE seq = 2",
        [],
    )
    .unwrap();
    match store.verify_audit_chain().unwrap() {
        AuditVerification::Broken { seq, .. } => assert_eq!(seq, 2),
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn an_outage_is_audited_once_per_change_of_reason_not_once_per_retry() {
    let (_dir, mut store) = open_temp();
    let action = Action {
        kind: ActionKind::Replay,
        upstream: "rmq".into(),
        target: "01jq".into(),
        operator: "ana".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let entry = store.enqueue_action(&action, t0()).unwrap();
    let later = |s: i64| t0() + Duration::seconds(s);
    for attempt in 0..500 {
        // Same reason; the port and the seconds in the text change from try to try.
        let error = format!(
            "cannot reach amqp://127.0.0.1:{}: Connection refused after {attempt}s",
            5672 + attempt % 3
        );
        store
            .record_action_error(&entry.id, &error, Some(later(attempt + 1)), later(attempt))
            .unwrap();
    }
    store
        .record_action_error(
            &entry.id,
            "503 broker starting",
            Some(later(600)),
            later(599),
        )
        .unwrap();
    store
        .record_action_outcome(
            &entry.id,
            &ActionOutcome {
                ok: true,
                summary: "committed by the broker".into(),
                response: serde_json::Value::Null,
            },
            None,
            None,
            later(601),
        )
        .unwrap();
    let audit = store.page_audit(None, 100).unwrap();
    let events: Vec<&str> = audit.iter().map(|a| a.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "replay.sent",
            "replay.retry",
            "replay.retry",
            "replay.requested"
        ],
        "one row when the outage starts, one when its reason changes, one at the end"
    );
    assert!(
        audit[0].detail.contains("after 502 attempts"),
        "{}",
        audit[0].detail
    );
    assert_eq!(
        store.outbox_entry(&entry.id).unwrap().unwrap().attempts,
        502
    );
}

#[test]
fn failed_action_without_retry_is_final() {
    let (_dir, mut store) = open_temp();
    let action = Action {
        kind: ActionKind::Ack,
        upstream: "demo".into(),
        target: "i-1".into(),
        operator: "ana".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let entry = store.enqueue_action(&action, t0()).unwrap();
    store
        .record_action_error(&entry.id, "401 unauthorized", None, t0())
        .unwrap();
    let failed = store.outbox_entry(&entry.id).unwrap().unwrap();
    assert_eq!(failed.state, OutboxState::Failed);
    assert!(
        store
            .due_actions(t0() + Duration::hours(1), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.open_actions(t0()).unwrap().len(), 1);
    assert!(
        store
            .open_actions(t0() + Duration::seconds(1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.page_audit(None, 10).unwrap()[0].event, "ack.failed");
    assert!(matches!(
        store.record_action_error("nope", "x", None, t0()),
        Err(StoreError::UnknownAction { .. })
    ));
}

fn report(dead: u64) -> ConnectorReport {
    ConnectorReport {
        id: "crm".into(),
        name: "crm (as reported)".into(),
        status: ConnectorStatus::Degraded,
        stats: QueueStats {
            dead,
            ..Default::default()
        },
        last_error: None,
        updated_at: t0(),
    }
}

fn poll_at(store: &mut Store, at: Timestamp, dead: u64) {
    let mut b = batch(vec![], vec![]);
    b.at = at;
    b.connectors = Some(vec![report(dead)]);
    store.write_sync_batch(&b).unwrap();
}

#[test]
fn dlq_history_downsamples_evenly_and_old_snapshots_are_pruned() {
    let (_dir, mut store) = open_temp();
    poll_at(&mut store, t0() - Duration::days(91), 99);
    for minute in 0..10 {
        poll_at(
            &mut store,
            t0() + Duration::minutes(minute),
            minute as u64 * 10,
        );
    }
    // The first poll over an hour after the last pruning dropped the snapshot older than the
    // queue history's 90 days (`store::queue_history`).
    let all = store
        .dlq_history("demo", "crm", t0() - Duration::days(30), 100)
        .unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].at, t0());
    let five = store
        .dlq_history("demo", "crm", t0() - Duration::days(30), 5)
        .unwrap();
    assert_eq!(
        five.iter().map(|p| p.dead).collect::<Vec<_>>(),
        [10, 30, 50, 70, 90],
        "max of each run"
    );
    assert_eq!(five.last().unwrap().at, t0() + Duration::minutes(9));
    assert!(
        store
            .dlq_history("demo", "crm", t0() + Duration::hours(1), 5)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn inventory_names_win_and_reported_stats_are_kept() {
    let (_dir, mut store) = open_temp();
    let inventory = triage::domain::Connector {
        id: "crm".into(),
        upstream: "demo".into(),
        name: "CRM → billing".into(),
        source: Some("crm".into()),
        destination: Some("billing".into()),
        direction: Some(triage::domain::Direction::Outbound),
        purpose: None,
        owner: Some("ana".into()),
        backup: None,
        ack_sla: Some(std::time::Duration::from_secs(900)),
        runbook: None,
        contract: None,
        status: ConnectorStatus::Unknown,
        stats: QueueStats::default(),
        last_error: None,
        updated_at: None,
    };
    store
        .sync_inventory(std::slice::from_ref(&inventory))
        .unwrap();
    poll_at(&mut store, t0(), 7);
    store
        .sync_inventory(std::slice::from_ref(&inventory))
        .unwrap();
    let got = store.connectors().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].name.as_str(),
            got[0].owner.as_deref(),
            got[0].stats.dead
        ),
        ("CRM → billing", Some("ana"), 7)
    );
    assert_eq!(got[0].ack_sla, inventory.ack_sla);
    assert_eq!(got[0].direction, inventory.direction);
    // Dropped from the config: inventory fields go, the upstream's report stays.
    store.sync_inventory(&[]).unwrap();
    let got = store.connectors().unwrap();
    assert_eq!((got[0].owner.as_deref(), got[0].stats.dead), (None, 7));
}

#[test]
fn the_filter_searches_whole_payloads_and_headers_and_pages_through_matches() {
    let (_dir, mut store) = open_temp();
    let mut letters: Vec<DeadLetter> = (0..3000)
        .map(|n| dead_letter("demo", n, if n % 2 == 0 { "crm" } else { "erp" }))
        .collect();
    // Every 7th letter names the order deep in a 4 KiB payload (far past the list's preview),
    // in mixed case; letter 5 has it only in a header, letter 6 in binary bytes.
    for (n, letter) in letters.iter_mut().enumerate().filter(|(n, _)| n % 7 == 0) {
        letter.payload = format!(
            "{{\"pad\":\"{}\",\"ref\":\"ORD-7731/{n}\"}}",
            "x".repeat(4096)
        )
        .into_bytes();
    }
    letters[5]
        .headers
        .push(("x-order".into(), "ord-7731".into()));
    letters[6].payload = b"\x00\xff\x10Ord-7731\x00".to_vec();
    store.write_sync_batch(&batch(vec![], letters)).unwrap();

    let query = |text: &str, anchor, connector: Option<&str>| DeadLetterPageQuery {
        text: Some(text.into()),
        connector: connector.map(str::to_string),
        anchor,
        limit: 50,
        ..Default::default()
    };
    let mut matched = Vec::new();
    let mut anchor = None;
    loop {
        let page = store
            .page_dead_letters(&query("ord-7731", anchor.clone(), None))
            .unwrap();
        let Some(last) = page.last() else { break };
        anchor = Some(last.key.clone());
        matched.extend(page.into_iter().map(|s| s.id));
    }
    let want: HashSet<String> = (0..3000)
        .filter(|n| n % 7 == 0 || *n == 5 || *n == 6)
        .map(|n| format!("dl-{n:07}"))
        .collect();
    assert_eq!(matched.len(), want.len(), "every match, each once");
    assert_eq!(matched.iter().cloned().collect::<HashSet<_>>(), want);

    // Other columns: id, error text; connector narrowing still applies; no wildcards.
    let ids = |text: &str, connector: Option<&str>| -> Vec<String> {
        store
            .page_dead_letters(&query(text, None, connector))
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    assert_eq!(ids("DL-0002999", None), ["dl-0002999"]);
    assert_eq!(ids("REJECTED", None).len(), 50);
    assert!(
        ids("ord-7731", Some("erp"))
            .iter()
            .all(|id| id[3..].parse::<usize>().unwrap() % 2 == 1)
    );
    assert!(ids("ord_7731", None).is_empty(), "`_` is not a wildcard");
    assert!(ids("%", None).is_empty(), "`%` is not a wildcard");
    assert_eq!(ids("", None).len(), 50, "empty text = every row");
}

#[test]
fn the_filter_finds_incidents_by_title_and_ack_author() {
    let (_dir, mut store) = open_temp();
    let mut acked = incident("inc-2", "erp", IncidentStatus::Acknowledged, Some(5));
    acked.acked_by = Some("Dana".into());
    let incidents = vec![
        incident("inc-1", "crm", IncidentStatus::Open, Some(10)),
        acked,
        incident("inc-3", "erp", IncidentStatus::Open, None),
    ];
    store.write_sync_batch(&batch(incidents, vec![])).unwrap();
    let ids = |text: &str| -> Vec<String> {
        store
            .page_incidents(&IncidentPageQuery {
                text: Some(text.into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|(_, i)| i.id)
            .collect()
    };
    assert_eq!(ids("dana"), ["inc-2"]);
    assert_eq!(ids("INCIDENT INC-3"), ["inc-3"]);
    assert_eq!(ids("erp"), ["inc-3", "inc-2"], "urgency order: open first");
    assert_eq!(ids("acknowledged"), ["inc-2"]);
    assert!(ids("nobody").is_empty());
}

#[test]
fn the_outbox_pages_newest_first_both_ways_and_filters_in_the_store() {
    let (_dir, mut store) = open_temp();
    let mut ids = Vec::new();
    for n in 0..450 {
        let action = Action {
            kind: if n % 3 == 0 {
                ActionKind::Ack
            } else {
                ActionKind::Replay
            },
            upstream: "demo".into(),
            target: format!("dl-{n:04}"),
            operator: if n % 50 == 0 { "Dana" } else { "ana" }.into(),
            note: (n == 7).then(|| "vendor fixed ORD-7731".to_string()),
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        };
        // Pairs share a timestamp: the id breaks the tie.
        let entry = store
            .enqueue_action(&action, t0() + Duration::seconds(n / 2))
            .unwrap();
        ids.push(entry.id);
    }
    let page = |anchor: Option<OutboxKey>, dir, text: Option<&str>| {
        store
            .page_outbox_keyset(&OutboxPageQuery {
                text: text.map(str::to_string),
                anchor,
                dir,
                limit: 200,
            })
            .unwrap()
    };
    let key = |e: &OutboxEntry| OutboxKey {
        created_ms: e.created_at.timestamp_millis(),
        id: e.id.clone(),
    };
    let mut seen = Vec::new();
    let mut anchor = None;
    let mut pages = Vec::new();
    loop {
        let rows = page(anchor.clone(), PageDir::Forward, None);
        let Some(last) = rows.last() else { break };
        anchor = Some(key(last));
        pages.push(rows.iter().map(key).collect::<Vec<_>>());
        seen.extend(rows.into_iter().map(|e| (e.created_at, e.id)));
    }
    assert_eq!(seen.len(), 450, "every entry once");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, ties by id"
    );
    let back = page(Some(pages[1][0].clone()), PageDir::Backward, None);
    assert_eq!(back.iter().map(key).collect::<Vec<_>>(), pages[0]);

    let targets = |text: &str| -> Vec<String> {
        page(None, PageDir::Forward, Some(text))
            .into_iter()
            .map(|e| e.action.target)
            .collect()
    };
    assert_eq!(targets("dana").len(), 9, "operator, ASCII case ignored");
    assert_eq!(targets("ord-7731"), ["dl-0007"], "the note");
    assert_eq!(targets("DL-0449"), ["dl-0449"], "the target");
    assert_eq!(targets("ack").len(), 150, "the kind");
    assert!(
        targets("operator").is_empty(),
        "JSON field names do not match"
    );
}

#[test]
fn a_held_action_is_not_due_until_its_hold_ends_and_undo_withdraws_it_until_claimed() {
    use triage::store::Undo;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let now = chrono::Utc::now();
    let action = Action {
        kind: ActionKind::Resolve,
        upstream: "demo".into(),
        target: "inc-1".into(),
        operator: "maria".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let held = store
        .enqueue_held(&action, now, now + chrono::Duration::seconds(10))
        .unwrap();
    let due = |store: &Store, at| {
        store
            .due_actions(at, 100)
            .unwrap()
            .iter()
            .any(|e| e.id == held.id)
    };
    assert!(!due(&store, now), "held: not due yet");
    assert!(due(&store, now + chrono::Duration::seconds(11)));
    assert_eq!(
        store.undo_action(&held.id, "maria", now).unwrap(),
        Undo::Withdrawn
    );
    assert_eq!(
        store.undo_action(&held.id, "maria", now).unwrap(),
        Undo::TooLate,
        "once"
    );
    assert!(
        !due(&store, now + chrono::Duration::seconds(11)),
        "withdrawn: never sent"
    );
    let audit = store.page_audit(None, 10).unwrap();
    assert!(
        audit.iter().any(|a| a.event == "resolve.undone"),
        "{audit:?}"
    );
    // A claimed one (a worker is sending it) is too late.
    let other = store.enqueue_action(&action, now).unwrap();
    assert!(
        store
            .claim_action(&other.id, now, now + chrono::Duration::seconds(30))
            .unwrap()
    );
    assert_eq!(
        store.undo_action(&other.id, "maria", now).unwrap(),
        Undo::TooLate
    );
    assert!(matches!(
        store.verify_audit_chain().unwrap(),
        AuditVerification::Intact { .. }
    ));
}
