//! Schema V12 (cheaper rows per replayed letter): a V11 store migrates with its counts exact and
//! its actions found through the partial outbox indexes; the split count triggers keep the
//! counts exact through every kind of change; an upstream's answer in a new state writes only
//! the letter's state, and an answer that changed the letter still writes all of it.

use chrono::{Duration, TimeZone, Utc};
use rusqlite::{Connection, params};

use super::dead_letters::upsert_dead_letter;
use super::schema::{MIGRATIONS, supported_version};
use super::{AuditVerification, Store};
use crate::domain::{
    Action, ActionKind, ActionOutcome, DeadLetter, DeadLetterError, DeadLetterState, Timestamp,
};

pub(super) fn letter(id: &str, connector: &str, state: DeadLetterState) -> DeadLetter {
    let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    DeadLetter {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        payload: format!(r#"{{"order":"{id}","total":12}}"#).into_bytes(),
        content_type: Some("application/json".into()),
        headers: vec![("x-request-id".into(), id.into())],
        error: DeadLetterError {
            code: "E_TIMEOUT".into(),
            message: "destination timed out".into(),
            http_status: Some(504),
            vendor_response: None,
        },
        attempts: 3,
        first_failed_at: at,
        last_failed_at: at,
        state,
        updated_at: at,
    }
}

/// `connector_counts.dead_letters` per (upstream, connector), the rows that are not 0.
fn counted(conn: &Connection) -> Vec<(String, String, i64)> {
    conn.prepare(
        "SELECT upstream, connector, dead_letters FROM connector_counts
          WHERE dead_letters <> 0 ORDER BY 1, 2",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// The same, counted from the letters themselves.
fn recounted(conn: &Connection) -> Vec<(String, String, i64)> {
    conn.prepare(
        "SELECT upstream, connector, count(*) FROM dead_letters WHERE state = 'dead'
          GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .unwrap()
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

fn indexes(conn: &Connection) -> Vec<String> {
    conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' ORDER BY 1",
    )
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// A letter inserted as a triage before V13 did: a plain insert, counted by the store's
/// `AFTER INSERT` trigger (V13 counts in `upsert_dead_letter` instead).
fn insert_as_before_v13(conn: &Connection, d: &DeadLetter) {
    conn.execute(
        "INSERT INTO dead_letters (upstream, id, connector, payload, content_type, headers,
            error_code, error_message, http_status, vendor_response, attempts, first_failed_ms,
            last_failed_ms, state, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, '[]', ?6, ?7, ?8, NULL, ?9, ?10, ?10, ?11, ?10)",
        params![
            d.upstream,
            d.id,
            d.connector,
            d.payload,
            d.content_type,
            d.error.code,
            d.error.message,
            d.error.http_status,
            d.attempts,
            ms(d.first_failed_at),
            d.state.as_str(),
        ],
    )
    .unwrap();
}

fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

#[test]
fn a_v11_store_migrates_with_exact_counts_and_its_actions_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let now = Utc::now();
    {
        let conn = Connection::open(&path).unwrap();
        for migration in &MIGRATIONS[..11] {
            conn.execute_batch(migration).unwrap();
        }
        conn.pragma_update(None, "user_version", 11).unwrap();
        for (id, connector, state) in [
            ("a1", "orders", DeadLetterState::Dead),
            ("a2", "orders", DeadLetterState::Dead),
            ("a3", "orders", DeadLetterState::Dead),
            ("a4", "orders", DeadLetterState::Replayed),
            ("b1", "billing", DeadLetterState::Dead),
            ("b2", "billing", DeadLetterState::Discarded),
        ] {
            insert_as_before_v13(&conn, &letter(id, connector, state));
        }
        // Actions as a V11 triage left them: due, held back, failed lately, failed long ago, sent.
        for (id, state, next, updated) in [
            ("o-due", "pending", ms(now) - 1_000, ms(now) - 1_000),
            ("o-later", "pending", ms(now) + 60_000, ms(now) - 1_000),
            ("o-failed", "failed", ms(now) - 5_000, ms(now) - 5_000),
            ("o-failed-old", "failed", 0, 0),
            ("o-sent", "sent", ms(now) - 9_000, ms(now) - 9_000),
        ] {
            conn.execute(
                "INSERT INTO outbox (id, idempotency_key, kind, upstream, target, action, state,
                    next_attempt_ms, created_ms, updated_ms)
                 VALUES (?1, 'key-' || ?1, 'replay', 'demo', 'a1',
                    '{\"kind\":\"replay\",\"upstream\":\"demo\",\"target\":\"a1\",\"operator\":\"ana\"}',
                    ?2, ?3, ?4, ?4)",
                params![id, state, next, updated],
            )
            .unwrap();
        }
        assert!(indexes(&conn).contains(&"outbox_by_state_due".to_string()));
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), supported_version());
    let names = indexes(&store.conn);
    for gone in ["outbox_by_state_due", "outbox_by_state_updated"] {
        assert!(!names.contains(&gone.to_string()), "{names:?}");
    }
    for kept in [
        "outbox_pending_due",
        "outbox_failed_updated",
        "outbox_newest",
        "outbox_by_target",
    ] {
        assert!(names.contains(&kept.to_string()), "{names:?}");
    }
    assert_eq!(
        counted(&store.conn),
        vec![
            ("demo".into(), "billing".into(), 1),
            ("demo".into(), "orders".into(), 3)
        ]
    );
    assert_eq!(counted(&store.conn), recounted(&store.conn));

    let due: Vec<String> = store
        .due_actions(now, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, ["o-due"]);
    let open: Vec<String> = store
        .open_actions(now - Duration::minutes(1))
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(open.len(), 3, "{open:?}");
    for id in ["o-due", "o-later", "o-failed"] {
        assert!(open.contains(&id.to_string()), "{open:?}");
    }
    assert_eq!(store.pending_action_count().unwrap(), 2);
    // What the run's driver asks while it waits: whether any action waits for a retry.
    let waiting: bool = store
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending'
                AND next_attempt_ms > ?1 AND attempts = 0)",
            [ms(now)],
            |r| r.get(0),
        )
        .unwrap();
    assert!(waiting);
}

/// Every kind of change a letter can go through, each checked against a count of the letters.
#[test]
fn the_split_count_triggers_keep_every_count_exact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("triage.db")).unwrap();
    let conn = &store.conn;
    for (id, connector, state) in [
        ("a1", "orders", DeadLetterState::Dead),
        ("a2", "orders", DeadLetterState::Dead),
        ("a3", "orders", DeadLetterState::Replayed),
        ("b1", "billing", DeadLetterState::Dead),
    ] {
        upsert_dead_letter(conn, &letter(id, connector, state)).unwrap();
    }
    let changes = [
        // Leaves the live DLQ on its connector (a replay): the one-statement trigger.
        "UPDATE dead_letters SET state = 'replayed' WHERE id = 'a1'",
        // Comes back (failed again).
        "UPDATE dead_letters SET state = 'dead' WHERE id = 'a1'",
        // Dead, moved to a connector that has no counts row yet.
        "UPDATE dead_letters SET connector = 'shipping' WHERE id = 'a2'",
        // Leaves the live DLQ while moving to another connector.
        "UPDATE dead_letters SET state = 'discarded', connector = 'billing' WHERE id = 'a2'",
        // Enters the live DLQ on a connector other than its own before.
        "UPDATE dead_letters SET state = 'dead', connector = 'returns' WHERE id = 'a3'",
        // Not dead before or after, moved: nothing counted.
        "UPDATE dead_letters SET connector = 'orders' WHERE id = 'a2'",
        // Dead, to another upstream.
        "UPDATE dead_letters SET upstream = 'am' WHERE id = 'b1'",
        // Unchanged state written again: nothing.
        "UPDATE dead_letters SET state = 'dead' WHERE id = 'b1'",
        // Leaves from the other upstream, then a delete of a dead one and of a replayed one.
        "UPDATE dead_letters SET state = 'replayed' WHERE id = 'b1'",
        "DELETE FROM dead_letters WHERE id = 'a1'",
        "DELETE FROM dead_letters WHERE id = 'b1'",
    ];
    assert_eq!(counted(conn), recounted(conn));
    for change in changes {
        assert_eq!(conn.execute(change, []).unwrap(), 1, "{change}");
        assert_eq!(counted(conn), recounted(conn), "after {change}");
    }
    assert_eq!(
        counted(conn),
        vec![("demo".into(), "returns".into(), 1)],
        "only a3 is still dead"
    );
    // A connector a letter entered got its counts row; one that emptied keeps it at 0.
    let shipping: i64 = conn
        .query_row(
            "SELECT dead_letters FROM connector_counts WHERE connector = 'shipping'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(shipping, 0);
}

fn replay_of(target: &str) -> Action {
    Action {
        kind: ActionKind::Replay,
        upstream: "demo".into(),
        target: target.into(),
        operator: "ana".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    }
}

fn delivered() -> ActionOutcome {
    ActionOutcome {
        ok: true,
        summary: "delivered (201)".into(),
        response: serde_json::Value::Null,
    }
}

#[test]
fn an_answer_in_a_new_state_writes_the_state_and_a_changed_letter_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    for id in ["a1", "a2", "a3"] {
        upsert_dead_letter(&store.conn, &letter(id, "orders", DeadLetterState::Dead)).unwrap();
    }
    store.catch_up_search_index(100).unwrap();
    assert_eq!(store.search_index_behind().unwrap(), 0);
    // Stored to the millisecond.
    let now = Utc
        .timestamp_millis_opt(Utc::now().timestamp_millis())
        .unwrap();

    // The usual answer: the same letter, replayed.
    let entry = store.enqueue_action(&replay_of("a1"), now).unwrap();
    let mut answered = letter("a1", "orders", DeadLetterState::Replayed);
    answered.updated_at = now;
    store
        .record_action_outcome(&entry.id, &delivered(), None, Some(&answered), now)
        .unwrap();
    let stored = store.dead_letter("demo", "a1").unwrap().unwrap();
    assert_eq!(stored, answered);
    assert_eq!(
        counted(&store.conn),
        vec![("demo".into(), "orders".into(), 2)]
    );
    // Its text did not change: the search index still holds it.
    assert_eq!(store.search_index_behind().unwrap(), 0);

    // The upstream counted one more attempt and changed the payload: all of it is written,
    // and the search index reads the letter again.
    let entry = store.enqueue_action(&replay_of("a2"), now).unwrap();
    let mut changed = letter("a2", "orders", DeadLetterState::Replayed);
    changed.payload = br#"{"order":"a2","total":13}"#.to_vec();
    changed.attempts = 4;
    changed.updated_at = now;
    store
        .record_action_outcome(&entry.id, &delivered(), None, Some(&changed), now)
        .unwrap();
    assert_eq!(store.dead_letter("demo", "a2").unwrap().unwrap(), changed);
    assert_eq!(store.search_index_behind().unwrap(), 1);
    assert_eq!(
        counted(&store.conn),
        vec![("demo".into(), "orders".into(), 1)]
    );

    // A letter the store did not have yet is inserted.
    let entry = store.enqueue_action(&replay_of("z9"), now).unwrap();
    let unknown = letter("z9", "orders", DeadLetterState::Replayed);
    store
        .record_action_outcome(&entry.id, &delivered(), None, Some(&unknown), now)
        .unwrap();
    assert_eq!(store.dead_letter("demo", "z9").unwrap().unwrap(), unknown);

    // The same answer recorded twice changes nothing the second time.
    let entry = store.enqueue_action(&replay_of("a1"), now).unwrap();
    store
        .record_action_outcome(&entry.id, &delivered(), None, Some(&answered), now)
        .unwrap();
    assert_eq!(store.dead_letter("demo", "a1").unwrap().unwrap(), answered);
    assert_eq!(counted(&store.conn), recounted(&store.conn));
    assert!(matches!(
        store.verify_audit_chain().unwrap(),
        AuditVerification::Intact { rows: 8 }
    ));
}

/// A store whose version was set back to V11 (as some tests and tools do) migrates again, to the
/// same objects: each trigger and index once, the counts still exact.
#[test]
fn v12_runs_again_over_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    {
        let store = Store::open(&path).unwrap();
        upsert_dead_letter(&store.conn, &letter("a1", "orders", DeadLetterState::Dead)).unwrap();
        store.conn.pragma_update(None, "user_version", 11).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), supported_version());
    let objects: Vec<String> = store
        .conn
        .prepare(
            "SELECT name FROM sqlite_master
              WHERE name LIKE 'dead_letters_count_%' OR name LIKE 'outbox_%' ORDER BY 1",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        objects,
        [
            "dead_letters_count_delete",
            "dead_letters_count_leave",
            "dead_letters_count_update",
            "outbox_by_target",
            "outbox_failed_updated",
            "outbox_newest",
            "outbox_pending_due"
        ]
    );
    store
        .conn
        .execute("UPDATE dead_letters SET state = 'replayed'", [])
        .unwrap();
    assert_eq!(counted(&store.conn), recounted(&store.conn));
}
