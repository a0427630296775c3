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
//! And the choice of the move task by the run, stage by stage (`Upstream::whole_queues`):
//! - A staged run (`1,10%,rest`) over a whole DLQ: the canary and the 10 % go by the adapter's
//!   own sends, the rest by one move task at the run's rate; each letter delivered once.
//! - A run over part of a DLQ never starts a move task.
//! - A whole batch the DLQ no longer matches (a letter arrived after the stage was read) is
//!   recalled, not sent at full speed; the stage is no longer whole.
//! - A DLQ another consumer is reading is never whole.
//! - A server that refuses the move task: the stage handed over whole comes back recalled and
//!   goes out paced; each letter delivered once.
//! - The CLI (`triage replay --where connector:… --stages 1,10%,rest --rate 50/s --yes`, a fresh
//!   process that browsed nothing): the last stage goes to one move task at 50/s, its progress in
//!   the JSON lines.
//! - The CLI killed (`kill -9`) while its move task runs, then `triage runs resume`: each letter
//!   delivered once.
//!
//! Ignored by plain `cargo test`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use triage::domain::run::{FailureLimit, MemberState, Run, RunMember, RunState, new_run_id};
use triage::domain::{Action, ActionKind, OutboxState};
use triage::store::{AuditVerification, Store};
use triage::sync::runs::{Driven, RunStatus, drive};
use triage::sync::{StoreWriter, Upstreams};
use triage::upstream::run_batch::RunBatch;
use triage::upstream::{Upstream, UpstreamError};

use crate::support::sqs::{
    PATIENT, Redrive, SqsCli, adapter_at, browse_all, depth, drain_look, hold_one, send,
};
use crate::support::sqs_proxy::{MoveProxy, MoveScript};

/// How a test's run is made.
struct Plan {
    script: MoveScript,
    /// Letters in the DLQ.
    letters: usize,
    /// How many of them (the first, in browse order) the run replays.
    selected: usize,
    stages: Vec<usize>,
    rate: Option<f64>,
    concurrency: usize,
}

/// A DLQ of letters, an adapter that browsed it (behind the move-task listener), and a run
/// replaying some or all of them, in a store of its own.
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
    /// Three letters, all replayed in one stage by a move task that moves `holds` (see
    /// `MoveScript::Move`).
    async fn new(name: &str, holds: &'static [usize]) -> MoveRun {
        let plan = Plan {
            script: MoveScript::Move(holds),
            letters: 3,
            selected: 3,
            stages: vec![3],
            rate: None,
            concurrency: 500,
        };
        MoveRun::with(name, plan).await
    }

    async fn with(name: &str, plan: Plan) -> MoveRun {
        let q = Redrive::new(name, 1, 2, false).await;
        let url = q.sources[0].1.clone();
        for n in 0..plan.letters {
            send(&q.client, &url, &format!("m{n}"), &[], None).await;
        }
        q.fail_all(0).await;
        let proxy = MoveProxy::start(&q.endpoint, plan.script).await;
        let adapter = Arc::new(adapter_at(
            &proxy.endpoint,
            vec![q.binding(0, "orders")],
            None,
            PATIENT,
        ));
        let letters = browse_all(&adapter).await;
        assert_eq!(letters.len(), plan.letters);
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
            stages: plan.stages.clone(),
            max_failures: FailureLimit::Percent(10.0),
            rate: plan.rate,
            concurrency: plan.concurrency,
            force: false,
            destination: None,
            drop_ttl: false,
            created_at: now,
            updated_at: now,
        };
        // Stage of each member: the plan's stage sizes in order.
        let stage_of: Vec<usize> = plan
            .stages
            .iter()
            .enumerate()
            .flat_map(|(stage, n)| std::iter::repeat_n(stage, *n))
            .collect();
        assert_eq!(stage_of.len(), plan.selected, "stages cover the selection");
        let members: Vec<RunMember> = letters
            .iter()
            .take(plan.selected)
            .enumerate()
            .map(|(seq, l)| RunMember {
                seq,
                upstream: l.upstream.clone(),
                target: l.id.clone(),
                connector: l.connector.clone(),
                stage: stage_of[seq],
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

    /// Drives the run to its end, which must be done.
    async fn drive_done(&self) {
        let (driven, seen) = self.drive(None).await;
        assert_eq!(driven, Driven::Ended(RunState::Done), "{seen:?}");
    }

    /// Deletes the test's queues.
    async fn delete(self) {
        self.q.delete().await;
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
    m.drive_done().await;
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
    m.delete().await;
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
    m.delete().await;
}

/// The outbox actions of the run's members, answered, with their stage (from the action's note,
/// "<run> stage N") and whether a move task sent them.
fn moved_by_stage(store: &Store) -> BTreeMap<(String, bool), usize> {
    let mut counted = BTreeMap::new();
    for entry in store
        .page_outbox(&[OutboxState::Sent], None, 1_000)
        .expect("outbox")
    {
        let stage = entry
            .action
            .note
            .as_deref()
            .and_then(|n| n.rsplit_once(' '))
            .map(|(_, n)| n.to_string())
            .unwrap_or_default();
        let moved = entry
            .outcome
            .as_ref()
            .is_some_and(|o| o.summary.contains("StartMessageMoveTask"));
        *counted.entry((stage, moved)).or_insert(0) += 1;
    }
    counted
}

/// The run left nothing pending, the DLQ empty, and `m0`…`m{n-1}` each once in `source`, the
/// audit chain intact.
async fn all_delivered_once(store: &Store, q: &Redrive, source: &str, n: usize) {
    assert_eq!(store.pending_action_count().expect("pending"), 0);
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0), "DLQ empty");
    assert_eq!(bodies(q, source).await, each_once(n));
    audit_intact(store);
}

/// Every body `m0`…`m{n-1}` once.
fn each_once(n: usize) -> BTreeMap<String, usize> {
    (0..n).map(|i| (format!("m{i}"), 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_staged_run_of_a_whole_dlq_hands_only_its_last_stage_to_one_move_task() {
    let m = MoveRun::with(
        "move-staged",
        Plan {
            script: MoveScript::Move(&[]),
            letters: 30,
            selected: 30,
            stages: vec![1, 3, 26],
            rate: Some(10.0),
            concurrency: 4,
        },
    )
    .await;
    let source = m.q.sources[0].1.clone();
    m.drive_done().await;
    let started = m.proxy.requests("StartMessageMoveTask");
    assert_eq!(started.len(), 1, "one move task, for the last stage");
    assert_eq!(
        started[0]["MaxNumberOfMessagesPerSecond"], 10,
        "at the run's rate: {started:?}"
    );
    let store = m.store();
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!((progress.sent, progress.failed), (30, 0), "{progress:?}");
    let by_stage = moved_by_stage(&store);
    let want: BTreeMap<(String, bool), usize> = [
        (("1".to_string(), false), 1),
        (("2".to_string(), false), 3),
        (("3".to_string(), true), 26),
    ]
    .into();
    assert_eq!(
        by_stage, want,
        "canary and 10 % by the adapter's sends, the rest by the task"
    );
    assert_eq!(recalled_actions(&store), 0);
    all_delivered_once(&store, &m.q, &source, 30).await;
    drop(store);
    m.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_run_over_part_of_a_dlq_never_starts_a_move_task() {
    let m = MoveRun::with(
        "move-part",
        Plan {
            script: MoveScript::Move(&[]),
            letters: 12,
            selected: 9,
            stages: vec![1, 8],
            rate: None,
            concurrency: 4,
        },
    )
    .await;
    let source = m.q.sources[0].1.clone();
    m.drive_done().await;
    assert!(m.proxy.requests("StartMessageMoveTask").is_empty());
    let store = m.store();
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!((progress.sent, progress.failed), (9, 0), "{progress:?}");
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (3, 0, 0),
        "3 not selected"
    );
    assert_eq!(bodies(&m.q, &source).await.len(), 9);
    audit_intact(&store);
    drop(store);
    m.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_whole_batch_the_dlq_no_longer_matches_is_recalled_not_sent() {
    let m = MoveRun::with(
        "move-race",
        Plan {
            script: MoveScript::Move(&[]),
            letters: 5,
            selected: 5,
            stages: vec![5],
            rate: Some(5.0),
            concurrency: 4,
        },
    )
    .await;
    let adapter = m.upstreams.all().next().expect("the adapter").clone();
    let members = m.store().run_members(&m.id, 0).expect("members");
    let targets: Vec<String> = members.iter().map(|m| m.target.clone()).collect();
    let mut whole = adapter.whole_queues(&targets).await;
    whole.sort();
    let mut sorted = targets.clone();
    sorted.sort();
    assert_eq!(whole, sorted, "the five are the whole DLQ");
    // Another letter dies after the stage was read, before its batch is served.
    send(&m.q.client, &m.q.dlq_url, "late", &[], None).await;
    let actions: Vec<(Action, String)> = targets
        .iter()
        .enumerate()
        .map(|(n, target)| {
            let action = Action {
                kind: ActionKind::Replay,
                upstream: adapter.id().to_string(),
                target: target.clone(),
                operator: "tester".into(),
                note: None,
                level: None,
                payload: None,
                destination: None,
                drop_ttl: false,
            };
            (action, format!("key-{n}"))
        })
        .collect();
    let (mut batch, _control) = RunBatch::new(&m.id, Some(5.0));
    batch.whole = true;
    let answers = adapter.perform_run_batch(&actions, &batch).await;
    assert_eq!(answers.len(), 5);
    for answer in &answers {
        assert!(
            matches!(answer, Err(UpstreamError::Recalled { message, .. }) if message.contains("paced batches")),
            "{answer:?}"
        );
    }
    assert!(m.proxy.requests("StartMessageMoveTask").is_empty());
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (6, 0, 0),
        "nothing sent, nothing hidden"
    );
    assert_eq!(depth(&m.q.client, &m.q.sources[0].1).await, (0, 0, 0));
    assert!(
        adapter.whole_queues(&targets).await.is_empty(),
        "no longer whole"
    );
    m.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_stage_the_server_will_not_move_comes_back_and_goes_out_paced() {
    let m = MoveRun::with(
        "move-refused",
        Plan {
            script: MoveScript::Refuse,
            letters: 20,
            selected: 20,
            stages: vec![1, 19],
            rate: Some(20.0),
            concurrency: 4,
        },
    )
    .await;
    let source = m.q.sources[0].1.clone();
    m.drive_done().await;
    assert_eq!(m.proxy.requests("StartMessageMoveTask").len(), 1);
    let store = m.store();
    let progress = store.run_progress(&m.id, None).expect("progress");
    assert_eq!((progress.sent, progress.failed), (20, 0), "{progress:?}");
    assert_eq!(recalled_actions(&store), 19, "the stage came back once");
    let by_stage = moved_by_stage(&store);
    let want: BTreeMap<(String, bool), usize> = [
        (("1".to_string(), false), 1),
        (("2".to_string(), false), 19),
    ]
    .into();
    assert_eq!(by_stage, want);
    all_delivered_once(&store, &m.q, &source, 20).await;
    drop(store);
    m.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_cli_hands_the_last_stage_of_a_whole_dlq_to_a_move_task_at_the_runs_rate() {
    let q = Redrive::new("move-cli", 1, 2, false).await;
    let (source, url) = q.sources[0].clone();
    for n in 0..25 {
        send(&q.client, &url, &format!("m{n}"), &[], None).await;
    }
    q.fail_all(0).await;
    let proxy = MoveProxy::start(&q.endpoint, MoveScript::Move(&[])).await;
    // A fresh process for each command, as an operator runs them: the replay's adapter has
    // browsed nothing itself.
    let cli = Arc::new(SqsCli::new(&proxy.endpoint, &source, "orders", ""));
    let run = |args: &'static [&'static str]| {
        let cli = cli.clone();
        tokio::task::spawn_blocking(move || cli.ok(args))
    };
    run(&["sync", "--once"]).await.expect("sync");
    let out = run(&[
        "replay",
        "--where",
        "connector:orders",
        "--yes",
        "--stages",
        "1,10%,rest",
        "--rate",
        "50/s",
        "--json",
    ])
    .await
    .expect("replay");
    let started = proxy.requests("StartMessageMoveTask");
    assert_eq!(started.len(), 1, "one move task: {out}");
    assert_eq!(started[0]["MaxNumberOfMessagesPerSecond"], 50);
    assert!(
        out.lines().any(|l| l.contains("\"moving\"")),
        "the progress lines show the move: {out}"
    );
    let store = Store::open(&cli.store).expect("store");
    let by_stage = moved_by_stage(&store);
    let want: BTreeMap<(String, bool), usize> = [
        (("1".to_string(), false), 1),
        (("2".to_string(), false), 3),
        (("3".to_string(), true), 21),
    ]
    .into();
    assert_eq!(by_stage, want, "{out}");
    all_delivered_once(&store, &q, &url, 25).await;
    drop(store);
    q.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_dlq_another_consumer_is_reading_is_never_whole() {
    let m = MoveRun::with(
        "move-held",
        Plan {
            script: MoveScript::Move(&[]),
            letters: 5,
            selected: 5,
            stages: vec![5],
            rate: None,
            concurrency: 4,
        },
    )
    .await;
    let adapter = m.upstreams.all().next().expect("the adapter").clone();
    let targets: Vec<String> = m
        .store()
        .run_members(&m.id, 0)
        .expect("members")
        .iter()
        .map(|m| m.target.clone())
        .collect();
    // Another consumer holds one of the five: a pass cannot see the whole DLQ, so a move task
    // (which would take that one too, or race its consumer) is not offered.
    assert_eq!(hold_one(&m.q.client, &m.q.dlq_url).await, 1);
    assert!(adapter.whole_queues(&targets).await.is_empty());
    assert!(m.proxy.requests("StartMessageMoveTask").is_empty());
    assert_eq!(
        depth(&m.q.client, &m.q.dlq_url).await,
        (4, 1, 0),
        "nothing else hidden"
    );
    m.delete().await;
}

/// `kill -9` of the CLI while its run's move task runs: the task (which the listener holds after
/// it moved 5 of 20, still listed running) has taken some letters, the rest are still in the
/// DLQ, the run's actions are leased by a process that no longer exists. `triage runs resume`
/// in a fresh process takes them over: the 5 the task moved are answered by the receipts written
/// before it started, the 15 left go by batched sends (no second task while one is listed
/// running); each of the 20 reaches the source queue exactly once, the DLQ is empty, the run
/// done, nothing pending, the audit chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_run_whose_driver_is_killed_while_its_move_task_runs_resumes_and_sends_each_once() {
    let q = Redrive::new("move-kill", 1, 2, false).await;
    let (source, url) = q.sources[0].clone();
    for n in 0..20 {
        send(&q.client, &url, &format!("m{n}"), &[], None).await;
    }
    q.fail_all(0).await;
    let proxy = MoveProxy::start(&q.endpoint, MoveScript::Move(&[5])).await;
    let cli = Arc::new(SqsCli::new(&proxy.endpoint, &source, "orders", ""));
    let synced = cli.clone();
    tokio::task::spawn_blocking(move || synced.ok(&["sync", "--once"]))
        .await
        .expect("sync");
    let mut child = crate::support::demo_cli::Killed(
        cli.command(&[
            "replay",
            "--where",
            "connector:orders",
            "--yes",
            "--stages",
            "rest",
            "--rate",
            "50/s",
            "--json",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("replay"),
    );
    // Until the task has moved its 5 (the DLQ holds 15).
    let deadline = std::time::Instant::now() + PATIENT;
    loop {
        let moving = proxy.requests("StartMessageMoveTask").len() == 1;
        let (visible, in_flight, _) = depth(&q.client, &q.dlq_url).await;
        if moving && visible + in_flight == 15 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the move task never moved its 5: {:?}",
            depth(&q.client, &q.dlq_url).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // kill -9: no chance to tidy up.
    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut out = Vec::new();
    if let Some(mut stdout) = child.0.stdout.take() {
        let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
    }
    let run = crate::support::demo_cli::json_lines(&out)
        .iter()
        .find_map(|l| l["progress"]["run"].as_str().map(String::from))
        .expect("the run's id came out before the cut");
    let resumer = cli.clone();
    let resumed_run = run.clone();
    let resumed = tokio::task::spawn_blocking(move || {
        resumer.ok(&["runs", "resume", &resumed_run, "--json"])
    })
    .await
    .expect("resume");
    let store = Store::open(&cli.store).expect("store");
    let progress = store.run_progress(&run, None).expect("progress");
    assert_eq!((progress.sent, progress.failed), (20, 0), "{resumed}");
    let shown = store.run(&run).expect("run").expect("the run");
    assert_eq!(shown.state, RunState::Done, "{resumed}");
    assert_eq!(
        proxy.requests("StartMessageMoveTask").len(),
        1,
        "the resumed run starts no second task while the first is listed running: {resumed}"
    );
    all_delivered_once(&store, &q, &url, 20).await;
    drop(store);
    q.delete().await;
}
