//! Whole runs whose batch is "everything" of an SQS DLQ, served by a move task, paused or
//! cancelled while the task runs (issue #16). The run is driven in this process by the real
//! driver (`sync::runs::drive`) on a real store, through an adapter that browsed the DLQ; the
//! move task is played by `support::sqs_proxy` with `MoveScript::Move`, whose tasks move
//! messages for real in the SQS-compatible server (moto): the first moves one letter and runs
//! on until it is cancelled, a later one moves everything.
//! - Paused mid-task: the letter moved is sent; the two left in the DLQ are recalled — not
//!   failed, nothing pending —, the run is paused with them planned. Resumed: a new move task
//!   sends them; each of the three is in the source queue exactly once, the DLQ is empty, the
//!   run done, the audit chain intact.
//! - Cancelled mid-task: the two left stay in the DLQ, answered not replayed (failed, saying
//!   the run was cancelled), and the run is cancelled.
//!
//! Ignored by plain `cargo test`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use triage::domain::run::{FailureLimit, MemberState, Run, RunMember, RunState, new_run_id};
use triage::domain::{ActionKind, OutboxState};
use triage::store::{AuditVerification, Store};
use triage::sync::runs::{Driven, RunStatus, drive};
use triage::sync::{StoreWriter, Upstreams};
use triage::upstream::Upstream;

use crate::support::sqs::{PATIENT, Redrive, adapter_at, browse_all, depth, drain_look, send};
use crate::support::sqs_proxy::{MoveProxy, MoveScript};

/// A DLQ of three letters, an adapter that browsed it (behind the move-task listener), and a
/// run replaying all three in one stage, in a store of its own.
struct MoveRun {
    q: Redrive,
    proxy: MoveProxy,
    upstreams: Upstreams,
    writer: StoreWriter,
    path: PathBuf,
    id: String,
    _dir: tempfile::TempDir,
}

impl MoveRun {
    async fn new(name: &str, holds: &'static [usize]) -> MoveRun {
        let q = Redrive::new(name, 1, 2, false).await;
        let url = q.sources[0].1.clone();
        for n in 0..3 {
            send(&q.client, &url, &format!("m{n}"), &[], None).await;
        }
        q.fail_all(0).await;
        let proxy = MoveProxy::start(&q.endpoint, MoveScript::Move(holds)).await;
        let adapter = Arc::new(adapter_at(
            &proxy.endpoint,
            vec![q.binding(0, "orders")],
            None,
            PATIENT,
        ));
        let letters = browse_all(&adapter).await;
        assert_eq!(letters.len(), 3);
        let mut upstreams = Upstreams::default();
        upstreams.insert(adapter.clone() as Arc<dyn Upstream>);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("triage.db");
        let mut store = Store::open(&path).expect("store");
        let now = Utc::now();
        let run = Run {
            id: new_run_id(now),
            kind: ActionKind::Replay,
            selection: "connector:orders".into(),
            operator: "tester".into(),
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
        };
        let members: Vec<RunMember> = letters
            .iter()
            .enumerate()
            .map(|(seq, l)| RunMember {
                seq,
                upstream: l.upstream.clone(),
                target: l.id.clone(),
                connector: l.connector.clone(),
                stage: 0,
                state: MemberState::Planned,
                note: None,
            })
            .collect();
        store.create_run(&run, &members).expect("run");
        MoveRun {
            q,
            proxy,
            upstreams,
            writer: StoreWriter::new(store),
            path,
            id: run.id,
            _dir: dir,
        }
    }

    /// Drives the run until it ends. With `stop`, once the move task is reported running with
    /// a letter moved, another connection pauses or cancels the run (as `triage runs pause|cancel`
    /// does from another process).
    async fn drive(&self, stop: Option<RunState>) -> (Driven, Vec<RunStatus>) {
        let (changes, _) = tokio::sync::broadcast::channel(16);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunStatus>();
        let driving = async {
            drive(
                &self.id,
                &self.writer,
                &self.upstreams,
                &changes,
                move |s| {
                    let _ = tx.send(s.clone());
                },
            )
            .await
            .expect("the run is driven")
        };
        let operating = async {
            let mut seen = Vec::new();
            let mut stop = stop;
            while let Some(status) = rx.recv().await {
                let moving = status
                    .moving
                    .as_ref()
                    .is_some_and(|m| m.status == "RUNNING" && m.moved >= 1);
                if moving && let Some(state) = stop.take() {
                    let mut other = Store::open(&self.path).expect("another connection");
                    assert!(
                        other
                            .set_run_state(
                                &self.id,
                                state,
                                Some("by the test"),
                                "tester",
                                Utc::now()
                            )
                            .expect("state")
                    );
                }
                seen.push(status);
            }
            assert!(stop.is_none(), "the move task was never seen moving");
            seen
        };
        tokio::time::timeout(Duration::from_secs(180), async {
            futures::join!(driving, operating)
        })
        .await
        .expect("the run ends within 3 minutes")
    }

    fn store(&self) -> Store {
        Store::open(&self.path).expect("store")
    }
}

/// Bodies of the messages in the queue at `url`, counted.
async fn bodies(q: &Redrive, url: &str) -> BTreeMap<String, usize> {
    let mut counted = BTreeMap::new();
    for m in drain_look(&q.client, url).await {
        *counted
            .entry(m.body().unwrap_or_default().to_string())
            .or_insert(0) += 1;
    }
    counted
}

fn recalled_actions(store: &Store) -> usize {
    store
        .page_outbox(&[OutboxState::Recalled], None, 100)
        .expect("outbox")
        .len()
}

fn audit_intact(store: &Store) {
    assert!(
        matches!(
            store.verify_audit_chain().expect("verify"),
            AuditVerification::Intact { .. }
        ),
        "audit --verify"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_run_paused_while_its_move_task_runs_keeps_the_leftovers_and_a_resume_sends_each_once() {
    let m = MoveRun::new("move-pause", &[1]).await;
    let source = m.q.sources[0].1.clone();

    let (driven, seen) = m.drive(Some(RunState::Paused)).await;
    assert_eq!(driven, Driven::Ended(RunState::Paused), "{seen:?}");
    assert_eq!(m.proxy.requests("CancelMessageMoveTask").len(), 1);
    let store = m.store();
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!(
        (
            progress.sent,
            progress.failed,
            progress.planned,
            progress.queued
        ),
        (1, 0, 2, 0),
        "the moved letter sent, the two left planned again: {progress:?}"
    );
    assert_eq!(
        store.run(&m.id).expect("run").expect("run").state,
        RunState::Paused
    );
    assert!(
        store
            .run_failures(&m.id, None)
            .expect("failures")
            .is_empty()
    );
    let members = store.run_members(&m.id, 0).expect("members");
    let waiting: Vec<&RunMember> = members
        .iter()
        .filter(|m| m.state == MemberState::Planned)
        .collect();
    assert_eq!(waiting.len(), 2);
    assert!(
        waiting
            .iter()
            .all(|w| w.note.as_deref().is_some_and(
                |n| n.contains("was paused") && n.contains("sent when the run resumes")
            )),
        "{waiting:?}"
    );
    assert_eq!(recalled_actions(&store), 2);
    assert_eq!(
        store.pending_action_count().expect("pending"),
        0,
        "nothing left pending"
    );
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (2, 0, 0),
        "left in the DLQ"
    );
    assert_eq!(depth(&m.q.client, &source).await, (1, 0, 0), "one moved");
    audit_intact(&store);
    drop(store);

    // Resumed: a new move task (the two are still everything in the DLQ) sends them.
    assert!(
        m.store()
            .set_run_state(&m.id, RunState::Running, None, "tester", Utc::now())
            .expect("resume")
    );
    let (driven, seen) = m.drive(None).await;
    assert_eq!(driven, Driven::Ended(RunState::Done), "{seen:?}");
    assert_eq!(m.proxy.requests("StartMessageMoveTask").len(), 2);
    let store = m.store();
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!(
        (progress.sent, progress.failed, progress.remaining()),
        (3, 0, 0),
        "{progress:?}"
    );
    assert_eq!(store.pending_action_count().expect("pending"), 0);
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (0, 0, 0),
        "DLQ empty"
    );
    let arrived = bodies(&m.q, &source).await;
    let want: BTreeMap<String, usize> = (0..3).map(|n| (format!("m{n}"), 1)).collect();
    assert_eq!(arrived, want, "each letter delivered exactly once");
    let recalls = store
        .page_audit(None, 500)
        .expect("audit")
        .iter()
        .filter(|a| a.event == "replay.recalled")
        .count();
    assert_eq!(recalls, 2);
    audit_intact(&store);
    drop(store);
    let MoveRun { q, .. } = m;
    q.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_run_cancelled_while_its_move_task_runs_leaves_the_rest_in_the_dlq() {
    let m = MoveRun::new("move-cancel", &[1]).await;
    let source = m.q.sources[0].1.clone();

    let (driven, seen) = m.drive(Some(RunState::Cancelled)).await;
    assert_eq!(driven, Driven::Ended(RunState::Cancelled), "{seen:?}");
    assert_eq!(m.proxy.requests("CancelMessageMoveTask").len(), 1);
    let store = m.store();
    assert_eq!(
        store.run(&m.id).expect("run").expect("run").state,
        RunState::Cancelled
    );
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!(
        (
            progress.sent,
            progress.failed,
            progress.planned,
            progress.queued
        ),
        (1, 2, 0, 0),
        "{progress:?}"
    );
    let failures = store.run_failures(&m.id, None).expect("failures");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (words, n) = &failures[0];
    assert_eq!(*n, 2);
    assert!(
        words.starts_with("not replayed: run ")
            && words.contains("was cancelled while SQS moved")
            && words.contains("still in the dead-letter queue"),
        "{words}"
    );
    assert_eq!(recalled_actions(&store), 0, "a cancel recalls nothing");
    assert_eq!(store.pending_action_count().expect("pending"), 0);
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (2, 0, 0),
        "left in the DLQ"
    );
    assert_eq!(depth(&m.q.client, &source).await, (1, 0, 0));
    audit_intact(&store);
    drop(store);
    let MoveRun { q, .. } = m;
    q.delete().await;
}
