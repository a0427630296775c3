//! A recalled action (a run paused before the upstream acted on it) and the V11 migration that
//! brought the `recalled` outbox state: on a store migrated from V10 with a run in flight, a
//! recall closes the action without a failure, plans its member again with the reason, audits
//! `replay.recalled`, and the member goes out again as a new action with a new key; after a
//! cancel the recalled member is skipped like every planned one.

use chrono::Utc;
use rusqlite::Connection;

use super::outbox::{OutcomeRecord, Recording};
use super::schema::{MIGRATIONS, supported_version};
use super::{AuditVerification, Store};
use crate::domain::run::{FailureLimit, MemberState, Run, RunMember, RunState};
use crate::domain::{ActionKind, ActionOutcome, OutboxEntry, OutboxState};

pub(super) fn run(id: &str) -> Run {
    let now = Utc::now();
    Run {
        id: id.into(),
        kind: ActionKind::Replay,
        selection: "connector:orders".into(),
        operator: "ana".into(),
        state: RunState::Running,
        reason: None,
        stages: vec![3],
        max_failures: FailureLimit::Percent(10.0),
        rate: None,
        concurrency: 500,
        force: false,
        destination: None,
        drop_ttl: false,
        created_at: now,
        updated_at: now,
    }
}

pub(super) fn members(n: usize) -> Vec<RunMember> {
    (0..n)
        .map(|seq| RunMember {
            seq,
            upstream: "aws".into(),
            target: format!("m{seq}"),
            connector: "orders".into(),
            stage: 0,
            state: MemberState::Planned,
            note: None,
        })
        .collect()
}

pub(super) fn recalled(entry: &OutboxEntry) -> (OutboxEntry, Recording) {
    let reason = "recalled: run r1 was paused while SQS moved orders-dlq (its move task was cancelled); the letter is still in the dead-letter queue and is sent when the run resumes";
    (
        entry.clone(),
        Recording::Recalled {
            reason: reason.into(),
        },
    )
}

pub(super) fn replayed(entry: &OutboxEntry) -> (OutboxEntry, Recording) {
    let outcome = ActionOutcome {
        ok: true,
        summary: "moved back to its source queue".into(),
        response: serde_json::Value::Null,
    };
    (
        entry.clone(),
        Recording::Outcome {
            answer: OutcomeRecord::new(outcome),
            incident: None,
            dead_letter: None,
            letter_state: None,
        },
    )
}

/// A store at V10 (the schema before recalls), on disk.
fn v10_store(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("triage.db");
    let conn = Connection::open(&path).unwrap();
    for migration in &MIGRATIONS[..10] {
        conn.execute_batch(migration).unwrap();
    }
    conn.pragma_update(None, "user_version", 10).unwrap();
    path
}

#[test]
fn a_v10_store_migrates_and_a_recall_plans_the_member_again_without_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = v10_store(&dir);
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), supported_version());
    assert!(supported_version() >= 11);

    store.create_run(&run("r1"), &members(3)).unwrap();
    let now = Utc::now();
    let batch = store
        .enqueue_run_members("r1", 0, 3, now, Some(now))
        .unwrap();
    assert_eq!(batch.len(), 3);
    // The move task moved m0; the run was paused before it moved m1 and m2.
    let answers = vec![
        replayed(&batch[0]),
        recalled(&batch[1]),
        recalled(&batch[2]),
    ];
    assert_eq!(store.record_run_answers("r1", &answers, now).unwrap(), 3);
    assert!(
        store
            .set_run_state("r1", RunState::Paused, Some("by ana"), "ana", now)
            .unwrap()
    );

    let progress = store.run_progress("r1", None).unwrap();
    assert_eq!(
        (
            progress.sent,
            progress.failed,
            progress.planned,
            progress.queued
        ),
        (1, 0, 2, 0),
        "{progress:?}"
    );
    let listed = store.run_members("r1", 0).unwrap();
    assert!(
        listed[1]
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("recalled: run r1 was paused")),
        "{:?}",
        listed[1]
    );
    assert!(store.run_failures("r1", None).unwrap().is_empty());
    let action = store.outbox_entry(&batch[1].id).unwrap().unwrap();
    assert_eq!(action.state, OutboxState::Recalled);
    assert!(action.lease.is_none(), "its lease is released");
    assert_eq!(
        store.pending_action_count().unwrap(),
        0,
        "nothing left pending"
    );
    let audit = store.page_audit(None, 50).unwrap();
    let recalls = audit
        .iter()
        .filter(|a| a.event == "replay.recalled")
        .count();
    assert_eq!(recalls, 2);

    // Resumed: each recalled member goes out once more, as a new action with a new key.
    assert!(
        store
            .set_run_state("r1", RunState::Running, None, "ana", now)
            .unwrap()
    );
    let again = store
        .enqueue_run_members("r1", 0, 10, now, Some(now))
        .unwrap();
    let targets: Vec<&str> = again.iter().map(|e| e.action.target.as_str()).collect();
    assert_eq!(targets, ["m1", "m2"]);
    assert!(
        again
            .iter()
            .all(|e| e.idempotency_key != batch[1].idempotency_key
                && e.idempotency_key != batch[2].idempotency_key)
    );
    let answers: Vec<_> = again.iter().map(replayed).collect();
    store.record_run_answers("r1", &answers, now).unwrap();
    let progress = store.run_progress("r1", None).unwrap();
    assert_eq!(
        (progress.sent, progress.failed, progress.remaining()),
        (3, 0, 0)
    );
    assert!(matches!(
        store.verify_audit_chain().unwrap(),
        AuditVerification::Intact { .. }
    ));
}

#[test]
fn a_recall_answered_after_a_cancel_skips_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    store.create_run(&run("r2"), &members(2)).unwrap();
    let now = Utc::now();
    let batch = store
        .enqueue_run_members("r2", 0, 2, now, Some(now))
        .unwrap();
    // Paused, the adapter recalls; the operator cancels before the answers are recorded.
    store
        .set_run_state("r2", RunState::Paused, None, "ana", now)
        .unwrap();
    store
        .set_run_state("r2", RunState::Cancelled, None, "ana", now)
        .unwrap();
    let answers: Vec<_> = batch.iter().map(recalled).collect();
    store.record_run_answers("r2", &answers, now).unwrap();
    let listed = store.run_members("r2", 0).unwrap();
    assert!(
        listed
            .iter()
            .all(|m| m.state == MemberState::Skipped && m.note.as_deref() == Some("cancelled")),
        "{listed:?}"
    );
    let progress = store.run_progress("r2", None).unwrap();
    assert_eq!((progress.failed, progress.remaining()), (0, 0));
}
