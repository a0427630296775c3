//! Schema V13: a new dead letter is counted, and marked pending for the search index when it
//! takes an indexed `row_id` again, and a new incident counted, by the insert itself rather than
//! by `AFTER INSERT` triggers.

use chrono::{TimeZone, Utc};
use rusqlite::Connection;

use super::Store;
use super::dead_letters::upsert_dead_letter;
use super::incidents::upsert_incident;
use super::v12_tests::letter;
use crate::domain::{DeadLetterState, Incident, IncidentStatus, Severity};

fn count(conn: &Connection, connector: &str) -> Option<i64> {
    conn.query_row(
        "SELECT dead_letters FROM connector_counts WHERE upstream = 'demo' AND connector = ?1",
        [connector],
        |r| r.get(0),
    )
    .ok()
}

fn pending(conn: &Connection) -> Vec<i64> {
    conn.prepare("SELECT row_id FROM dead_letter_search_pending ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn an_insert_counts_itself_and_an_update_or_a_rewrite_does_not_count_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("triage.db")).unwrap();
    let conn = &store.conn;
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'
              AND name IN ('dead_letters_count_insert', 'dead_letters_search_insert')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(triggers, 0, "V13 drops the insert triggers");

    assert_eq!(count(conn, "orders"), None, "no counts row before a letter");
    assert!(upsert_dead_letter(conn, &letter("a1", "orders", DeadLetterState::Dead)).unwrap());
    assert_eq!(
        count(conn, "orders"),
        Some(1),
        "the row made, the letter counted"
    );
    assert!(upsert_dead_letter(conn, &letter("a2", "orders", DeadLetterState::Dead)).unwrap());
    // The same letter again: nothing written, nothing counted.
    assert!(!upsert_dead_letter(conn, &letter("a2", "orders", DeadLetterState::Dead)).unwrap());
    assert_eq!(count(conn, "orders"), Some(2));
    // A letter that is not live is stored, not counted.
    assert!(upsert_dead_letter(conn, &letter("a3", "orders", DeadLetterState::Replayed)).unwrap());
    assert_eq!(count(conn, "orders"), Some(2));
    // An update through the upsert (the letter replayed upstream) is counted by the update
    // trigger, once — the upsert's insert path is not taken.
    assert!(upsert_dead_letter(conn, &letter("a1", "orders", DeadLetterState::Replayed)).unwrap());
    assert_eq!(count(conn, "orders"), Some(1));
    // After an insert, an update that does not insert must not look like one: the last insert's
    // row id is forgotten before each statement.
    assert!(upsert_dead_letter(conn, &letter("b1", "billing", DeadLetterState::Dead)).unwrap());
    assert!(
        upsert_dead_letter(conn, &letter("b1", "billing", DeadLetterState::Discarded)).unwrap()
    );
    assert!(upsert_dead_letter(conn, &letter("b1", "billing", DeadLetterState::Dead)).unwrap());
    assert_eq!(count(conn, "billing"), Some(1));
    assert!(
        pending(conn).is_empty(),
        "nothing indexed yet, nothing pending"
    );
}

#[test]
fn an_insert_that_takes_an_indexed_row_id_again_goes_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("triage.db")).unwrap();
    let conn = &store.conn;
    for id in ["a1", "a2", "a3"] {
        upsert_dead_letter(conn, &letter(id, "orders", DeadLetterState::Dead)).unwrap();
    }
    store.catch_up_search_index(u64::MAX).unwrap();
    assert_eq!(store.search_index_behind().unwrap(), 0);
    // The last letter deleted (its index entry dropped by the next catch-up): its row id is
    // free, at the watermark, and SQLite hands it out again.
    conn.execute("DELETE FROM dead_letters WHERE id = 'a3'", [])
        .unwrap();
    store.catch_up_search_index(u64::MAX).unwrap();
    assert!(pending(conn).is_empty());
    upsert_dead_letter(conn, &letter("a4", "orders", DeadLetterState::Dead)).unwrap();
    let row_id: i64 = conn
        .query_row("SELECT row_id FROM dead_letters WHERE id = 'a4'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(row_id, 3, "the deleted letter's row id");
    assert_eq!(
        pending(conn),
        vec![3],
        "the insert marked it: the index may hold a3's text"
    );
    assert_eq!(store.search_index_behind().unwrap(), 1);
    // Above the watermark: the tail, never pending.
    upsert_dead_letter(conn, &letter("a5", "orders", DeadLetterState::Dead)).unwrap();
    assert_eq!(pending(conn), vec![3]);
    assert_eq!(count(conn, "orders"), Some(4), "a1, a2, a4, a5");
    store.catch_up_search_index(u64::MAX).unwrap();
    assert!(pending(conn).is_empty());
    assert_eq!(store.search_index_behind().unwrap(), 0);
}

pub(super) fn incident(id: &str, status: IncidentStatus) -> Incident {
    let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: "orders".into(),
        kind: "dlq_growth".into(),
        severity: Severity::Major,
        status,
        title: format!("incident {id}"),
        detail: String::new(),
        opened_at: at,
        updated_at: at,
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    }
}

/// (open, unacked) incidents of the connector: as counted, and as recounted from the rows.
fn incident_counts(conn: &Connection) -> ((i64, i64), (i64, i64)) {
    let counted = conn
        .query_row(
            "SELECT open_incidents, unacked_incidents FROM connector_counts
              WHERE upstream = 'demo' AND connector = 'orders'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let recounted = conn
        .query_row(
            "SELECT count(*) FILTER (WHERE status_rank < 3), count(*) FILTER (WHERE status_rank = 0)
               FROM incidents WHERE upstream = 'demo' AND connector = 'orders'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    (counted, recounted)
}

#[test]
fn a_new_incident_is_counted_by_its_insert_in_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("triage.db")).unwrap();
    let conn = &store.conn;
    let trigger: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'incidents_count_insert'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(trigger, 0, "V13 drops the insert trigger");
    for (id, status) in [
        ("o", IncidentStatus::Open),
        ("a", IncidentStatus::Acknowledged),
        ("s", IncidentStatus::Suppressed),
        ("r", IncidentStatus::Resolved),
    ] {
        assert!(upsert_incident(conn, &incident(id, status)).unwrap());
    }
    assert_eq!(incident_counts(conn), ((3, 1), (3, 1)));
    // Unchanged: not written. Changed: the update trigger counts, the insert path is not taken.
    assert!(!upsert_incident(conn, &incident("o", IncidentStatus::Open)).unwrap());
    assert!(upsert_incident(conn, &incident("o", IncidentStatus::Acknowledged)).unwrap());
    assert!(upsert_incident(conn, &incident("r", IncidentStatus::Open)).unwrap());
    let (counted, recounted) = incident_counts(conn);
    assert_eq!(counted, recounted);
    assert_eq!(counted, (4, 1));
}

/// A sync batch counts its new letters once per connector at its end: exact when a batch holds
/// the same new letter twice (the second time replayed: its `UPDATE` trigger takes it out of a
/// counts row the batch made), letters of a connector new to the store, and letters already
/// stored.
#[test]
fn a_batch_counts_its_new_letters_once_per_connector_and_exactly() {
    use crate::domain::ConnectionState;
    use crate::store::SyncBatch;
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let batch = |letters| SyncBatch {
        upstream: "demo".into(),
        at: Utc::now(),
        connectors: None,
        incidents: vec![],
        dead_letters: letters,
        cursors: vec![],
        state: ConnectionState::Connecting,
    };
    store
        .write_sync_batch(&batch(vec![
            letter("a1", "orders", DeadLetterState::Dead),
            letter("a2", "orders", DeadLetterState::Dead),
        ]))
        .unwrap();
    let summary = store
        .write_sync_batch(&batch(vec![
            letter("a2", "orders", DeadLetterState::Dead),
            letter("a3", "orders", DeadLetterState::Dead),
            letter("n1", "new", DeadLetterState::Dead),
            letter("n1", "new", DeadLetterState::Replayed),
            letter("n2", "new", DeadLetterState::Dead),
            letter("n3", "new", DeadLetterState::Discarded),
            letter("a1", "orders", DeadLetterState::Replayed),
            letter("m1", "moved", DeadLetterState::Dead),
            letter("m1", "orders", DeadLetterState::Dead),
        ]))
        .unwrap();
    assert_eq!(
        summary.dead_letters_changed, 8,
        "a2 was already stored as it is"
    );
    let conn = &store.conn;
    for connector in ["orders", "new", "moved"] {
        let live: i64 = conn
            .query_row(
                "SELECT count(*) FROM dead_letters WHERE connector = ?1 AND state = 'dead'",
                [connector],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(count(conn, connector).unwrap_or(0), live, "{connector}");
    }
    assert_eq!(
        (
            count(conn, "orders"),
            count(conn, "new"),
            count(conn, "moved")
        ),
        (Some(3), Some(1), Some(0))
    );
}
