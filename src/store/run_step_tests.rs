//! `Store::run_step`: one transaction records a batch's answers, settles the members, reads the
//! run and prepares the next batch only while the run is running in the stage asked for; the
//! audit rows of a prepared action carry the hash of the action as stored (made when it was
//! stored, not read back), and the chain verifies.

use chrono::Utc;

use super::outbox::{OutcomeRecord, Recording};
use super::run_recall_tests::{members, recalled, replayed, run};
use super::run_step::NextBatch;
use super::{AuditVerification, Store};
use crate::domain::ActionOutcome;
use crate::domain::run::{MemberState, RunState};

fn store_with_run(dir: &tempfile::TempDir, n: usize) -> Store {
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let mut r = run("r1");
    r.stages = vec![n];
    r.concurrency = 2;
    store.create_run(&r, &members(n)).unwrap();
    store
}

fn next(stage: usize) -> Option<NextBatch> {
    Some(NextBatch {
        stage,
        concurrency: 2,
        lease_until: Utc::now() + chrono::Duration::seconds(60),
    })
}

#[test]
fn a_step_records_the_answers_and_prepares_the_next_batch_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_run(&dir, 5);
    let now = Utc::now();
    // Nothing answered yet: the first batch, as many as the concurrency.
    let first = store.run_step("r1", &[], now, next(0), false).unwrap();
    assert_eq!(first.recorded, 0);
    let first = first.prepared.expect("a batch");
    assert_eq!(
        first
            .iter()
            .map(|e| e.action.target.as_str())
            .collect::<Vec<_>>(),
        ["m0", "m1"]
    );
    // Two in flight: two more fit behind them.
    let second = store.run_step("r1", &[], now, next(0), false).unwrap();
    assert_eq!(second.prepared.map(|p| p.len()), Some(2));
    // Four queued: no room until answers come back.
    let full = store.run_step("r1", &[], now, next(0), false).unwrap();
    assert_eq!(full.prepared.map(|p| p.len()), Some(0));
    assert_eq!(full.tally.whole().queued, 4);

    // The first batch answered: m0 sent, m1 recalled (planned again); the last member goes out
    // with m1 behind it, in the same transaction.
    let answers = vec![replayed(&first[0]), recalled(&first[1])];
    let step = store.run_step("r1", &answers, now, next(0), false).unwrap();
    assert_eq!(step.recorded, 2);
    let progress = step.tally.whole();
    assert_eq!(
        (progress.sent, progress.queued, progress.planned),
        (1, 2, 2),
        "read before the batch was prepared: {progress:?}"
    );
    let prepared = step.prepared.expect("a batch");
    assert_eq!(
        prepared
            .iter()
            .map(|e| e.action.target.as_str())
            .collect::<Vec<_>>(),
        ["m1", "m4"]
    );
    let members = store.run_members("r1", 0).unwrap();
    assert_eq!(
        members.iter().map(|m| m.state).collect::<Vec<_>>(),
        [
            MemberState::Sent,
            MemberState::Queued,
            MemberState::Queued,
            MemberState::Queued,
            MemberState::Queued
        ]
    );

    // Each action's rows carry one hash, that of the action as stored; the chain verifies.
    let audit = store.page_audit(None, 100).unwrap();
    for entry in first.iter().chain(&prepared) {
        let stored = store.outbox_entry(&entry.id).unwrap().unwrap();
        let expected = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(
                serde_json::to_string(&stored.action).unwrap(),
            ))
        };
        let rows: Vec<_> = audit
            .iter()
            .filter(|a| a.outbox_id.as_deref() == Some(entry.id.as_str()))
            .collect();
        assert!(!rows.is_empty());
        assert!(
            rows.iter()
                .all(|a| a.payload_hash.as_deref() == Some(expected.as_str())),
            "{rows:?}"
        );
    }
    assert!(matches!(
        store.verify_audit_chain().unwrap(),
        AuditVerification::Intact { .. }
    ));
}

#[test]
fn no_batch_is_prepared_for_another_stage_or_a_run_that_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_run(&dir, 3);
    let now = Utc::now();
    // The run is in stage 0: a step that expected stage 1 leaves the decision to the driver.
    let other = store.run_step("r1", &[], now, next(1), false).unwrap();
    assert!(other.prepared.is_none());
    assert_eq!(other.tally.whole().planned, 3);
    // Not asked: nothing prepared.
    assert!(
        store
            .run_step("r1", &[], now, None, false)
            .unwrap()
            .prepared
            .is_none()
    );

    let batch = store
        .run_step("r1", &[], now, next(0), false)
        .unwrap()
        .prepared
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert!(
        store
            .set_run_state("r1", RunState::Paused, Some("by ana"), "ana", now)
            .unwrap()
    );
    // Paused while the batch was out: its answers are recorded, nothing more is prepared.
    let answers: Vec<_> = batch.iter().map(replayed).collect();
    let step = store.run_step("r1", &answers, now, next(0), false).unwrap();
    assert_eq!(step.recorded, 2);
    assert_eq!(step.run.map(|r| r.state), Some(RunState::Paused));
    assert!(step.prepared.is_none());
    let progress = step.tally.whole();
    assert_eq!(
        (progress.sent, progress.planned, progress.queued),
        (2, 1, 0)
    );
}

#[test]
fn a_step_settles_the_members_it_answers_and_every_queued_one_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_run(&dir, 4);
    let now = Utc::now();
    let batch = store
        .run_step("r1", &[], now, next(0), false)
        .unwrap()
        .prepared
        .unwrap();
    assert_eq!(
        batch.iter().map(|e| e.stored.member).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    // m1's action is answered elsewhere (another worker, the outbox's round): refused.
    let refusal = ActionOutcome {
        ok: false,
        summary: "INVALID_FIELD: LeadSource".into(),
        response: serde_json::Value::Null,
    };
    store
        .record_action_outcome(&batch[1].id, &refusal, None, None, now)
        .unwrap();
    // This step answers m0 only: m1 stays queued until every queued member is looked at.
    let step = store
        .run_step("r1", &[replayed(&batch[0])], now, None, false)
        .unwrap();
    let p = step.tally.whole();
    assert_eq!((p.sent, p.failed, p.queued), (1, 0, 1), "{p:?}");
    let step = store.run_step("r1", &[], now, None, false).unwrap();
    let p = step.tally.whole();
    assert_eq!((p.sent, p.failed, p.queued), (1, 1, 0), "{p:?}");
    let members = store.run_members("r1", 0).unwrap();
    assert_eq!(
        members[1].note.as_deref(),
        Some("INVALID_FIELD: LeadSource")
    );

    // Answers about entries read back from the store (they do not say their member) settle
    // every queued member, as does `settle_all`.
    let batch = store
        .run_step("r1", &[], now, next(0), false)
        .unwrap()
        .prepared
        .unwrap();
    let read_back = store.outbox_entry(&batch[0].id).unwrap().unwrap();
    assert_eq!(read_back.stored.member, None);
    store
        .record_action_outcome(&batch[1].id, &refusal, None, None, now)
        .unwrap();
    let failed = (
        read_back,
        Recording::Outcome {
            answer: OutcomeRecord::new(refusal.clone()),
            incident: None,
            dead_letter: None,
            letter_state: None,
        },
    );
    let step = store.run_step("r1", &[failed], now, None, false).unwrap();
    let p = step.tally.whole();
    assert_eq!(
        (p.sent, p.failed, p.queued, p.planned),
        (1, 3, 0, 0),
        "{p:?}"
    );
}
