//! Driving a run (`sync::runs`): stage by stage, at the run's rate, through the outbox — as a
//! pipeline. Each step sends the batch prepared by the step before while the store records the
//! batch answered before that, settles the members, checks the stage gate and prepares the next
//! batch (members handed to the outbox, their actions born leased to this process so no other
//! transaction is needed to claim them). At most `concurrency` members are in flight at once
//! and at most as many more are prepared behind them. Retries and actions left by a driver that
//! died go out through the outbox's own round (`process_due_up_to`) in the same step.
//!
//! State lives in the store: a driver killed at any point leaves members either planned (never
//! sent) or queued with exactly one action, which the next driver (or any outbox worker) sends
//! with its key — a dead process's leases are taken over at once. A pause or cancel that lands
//! while a batch is in flight is passed to the batch's adapter ([`RunStop`]); what a paused
//! batch left undone comes back *recalled* and its members are planned again when the answers
//! are recorded, so a resume sends them as new actions.
//!
//! Whole queues: once per stage (when nothing of it is in flight), a plain replay run asks each
//! upstream that can move whole queues itself ([`Upstream::whole_queues`]) which of the stage's
//! planned letters are *every* letter of their queue. Those go out in one unpaced batch marked
//! [`RunBatch::whole`] — the server moves them at the run's rate (SQS's move task) — leased for
//! as long as such a move may take ([`whole_bound`]); the rest of the stage is paced as usual. So
//! "replay everything in this DLQ" with stages `1,10%,rest` sends the canary and the 10 % by
//! the adapter's own sends and hands the rest to the server. An adapter that finds it cannot
//! move them after all recalls them, and they are planned again and paced.
//!
//! [`Upstream::whole_queues`]: crate::upstream::Upstream::whole_queues

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tokio::sync::{Notify, broadcast};

use super::outbox::{self as worker, answer_claimed_in, record};
use super::run_lease::RunLease;
use super::run_pace::{Meter, Pacer};
use super::{StoreWriter, Upstreams};
use crate::domain::run::{Run, RunProgress, RunState};
use crate::domain::run_tally::RunTally;
use crate::domain::{ActionKind, OutboxEntry};
use crate::store::{ChangeNotice, LockHolder, NextBatch, Recording, StoreError};
use crate::upstream::run_batch::{RunBatch, RunBatchControl, RunStop, ServerMove, whole_bound};

/// Where a run stands, for gauges and progress lines.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub run: String,
    pub state: RunState,
    pub reason: Option<String>,
    pub progress: RunProgress,
    /// 1-based current stage and the number of stages.
    pub stage: Option<usize>,
    pub stages: usize,
    /// Members answered per second over the last few seconds.
    pub rate: f64,
    /// The rate the driver sends at now (lowered while the upstream asks to wait).
    pub sending_rate: Option<f64>,
    pub eta_secs: Option<f64>,
    /// A move the upstream makes itself for the batch in flight (SQS's move task), as it last
    /// reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moving: Option<ServerMove>,
}

/// How a drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driven {
    /// The run is done, paused or cancelled (by this driver or another process).
    Ended(RunState),
    /// Another live process drives it (it was already, or took it over when this one stalled).
    Elsewhere(LockHolder),
}

/// Drives run `id` until it is done, paused or cancelled, calling `report` after every step —
/// unless another live process drives it (`run_lease`). Returns how it ended.
pub async fn drive(
    id: &str,
    store: &StoreWriter,
    upstreams: &Upstreams,
    changes: &broadcast::Sender<ChangeNotice>,
    report: impl FnMut(&RunStatus),
) -> Result<Driven, StoreError> {
    let mut lease = match RunLease::take(store, id).await? {
        Ok(lease) => lease,
        Err(other) => return Ok(Driven::Elsewhere(other)),
    };
    let result = drive_leased(id, store, upstreams, changes, report, &mut lease).await;
    if !matches!(result, Ok(Driven::Elsewhere(_))) {
        lease.release(store).await;
    }
    result
}

async fn drive_leased(
    id: &str,
    store: &StoreWriter,
    upstreams: &Upstreams,
    changes: &broadcast::Sender<ChangeNotice>,
    mut report: impl FnMut(&RunStatus),
    lease: &mut RunLease,
) -> Result<Driven, StoreError> {
    let mut driver = Driver {
        id: id.to_string(),
        store,
        upstreams,
        changes,
        pacer: None,
        meter: Meter::default(),
        rate: None,
        whole_asked: HashSet::new(),
        concurrency: None,
        expect_stage: None,
        settle_all: true,
    };
    let mut prepared: Vec<OutboxEntry> = Vec::new();
    // The prepared batch is whole queues (see the module doc).
    let mut prepared_whole = false;
    let mut answered: Vec<(OutboxEntry, Recording)> = Vec::new();
    let mut last_status: Option<RunStatus> = None;
    loop {
        if let Err(other) = lease.keep(store).await? {
            // Stalled past the lease and adopted elsewhere: what is in flight keeps its keys.
            driver.record(std::mem::take(&mut answered)).await;
            return Ok(Driven::Elsewhere(other));
        }
        let sending = std::mem::take(&mut prepared);
        let in_flight = sending.len();
        let to_record = std::mem::take(&mut answered);
        let sent = !sending.is_empty();
        let (mut batch, control) = RunBatch::new(id, driver.rate);
        batch.whole = std::mem::take(&mut prepared_whole);
        let done = Notify::new();
        let sending_it = async {
            let answers = answer_claimed_in(upstreams, sending, Some(&batch)).await;
            done.notify_one();
            answers
        };
        let watching = watch_batch(
            store,
            id,
            sent,
            &done,
            control,
            last_status.clone(),
            &mut report,
            &mut *lease,
        );
        let (answers, step, ()) =
            futures::join!(sending_it, driver.step(to_record, in_flight), watching);
        answered = answers;
        let step = match step {
            Ok(step) => step,
            Err(e) => {
                // The batch in flight was answered: keep what the upstream said.
                driver.record(std::mem::take(&mut answered)).await;
                return Err(e);
            }
        };
        prepared = step.prepared;
        prepared_whole = step.whole;
        match step.finished {
            // Answers still to record (a pause or cancel landed while a batch was in flight):
            // one more step records them before the driver stops.
            Some(_) if !answered.is_empty() || !prepared.is_empty() => {}
            Some(state) => {
                report(&step.status);
                let _ = changes.send(ChangeNotice::Outbox);
                return Ok(Driven::Ended(state));
            }
            None => {
                report(&step.status);
                last_status = Some(step.status.clone());
                if !sent && prepared.is_empty() && answered.is_empty() && step.handled == 0 {
                    let wait = driver.pacer.as_ref().map_or(Duration::ZERO, Pacer::wait);
                    tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
                }
            }
        }
    }
}

/// While a batch is in flight: every second, whether the run is still running — a pause or a
/// cancel (any process's store write) tells the batch's adapter at once and which it was, so a
/// server-side move is cancelled instead of running to its end and what it left is recalled
/// (pause) or answered not done (cancel) — and each progress report of a server-side move,
/// passed on as a status with `moving`. The run's lease is renewed meanwhile: a server's move
/// of a whole queue runs for minutes.
#[allow(clippy::too_many_arguments)]
async fn watch_batch(
    store: &StoreWriter,
    id: &str,
    sent: bool,
    done: &Notify,
    mut control: RunBatchControl,
    last: Option<RunStatus>,
    report: &mut impl FnMut(&RunStatus),
    lease: &mut RunLease,
) {
    if !sent {
        return;
    }
    let every = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut stopped: Option<RunStop> = None;
    loop {
        tokio::select! {
            _ = done.notified() => return,
            changed = control.progress.changed() => {
                if changed.is_err() {
                    done.notified().await;
                    return;
                }
                let moving = control.progress.borrow_and_update().clone();
                if let Some(status) = &last {
                    report(&RunStatus { moving, ..status.clone() });
                }
            }
            // After a pause, still looked at: a cancel that follows is the adapter's last word.
            _ = tick.tick() => {
                // Taken over elsewhere: the driver's loop finds it once the batch is answered.
                match lease.keep(store).await {
                    Ok(Ok(())) => {}
                    Ok(Err(other)) => tracing::warn!("run {id}: taken over by {}", other.holder),
                    Err(e) => tracing::warn!("run {id}: lease not renewed: {e}"),
                }
                if stopped == Some(RunStop::Cancelled) {
                    continue;
                }
                let run_id = id.to_string();
                let state = store
                    .call(move |s| s.run(&run_id))
                    .await
                    .map(|run| run.map(|r| r.state));
                let how = match state {
                    Ok(Some(RunState::Running)) | Err(_) => None,
                    Ok(Some(RunState::Paused)) => Some(RunStop::Paused),
                    Ok(Some(RunState::Cancelled | RunState::Done) | None) => Some(RunStop::Cancelled),
                };
                if let Some(how) = how.filter(|how| stopped != Some(*how)) {
                    control.stop(how);
                    stopped = Some(how);
                }
            }
        }
    }
}

/// What one step did and found.
struct Step {
    status: RunStatus,
    /// The run stopped in this state (done, paused, cancelled) — once nothing is in flight.
    finished: Option<RunState>,
    /// The next batch, in the outbox and leased to this process: sent by the next step.
    prepared: Vec<OutboxEntry>,
    /// Actions the outbox's own round answered (retries, a dead driver's actions).
    handled: usize,
    /// `prepared` is whole queues, handed over unpaced (module doc).
    whole: bool,
}

/// What the store says at the start of a step.
struct Found {
    run: Option<Run>,
    tally: RunTally,
    held_back: usize,
    /// The next batch, prepared with the answers (`Store::run_step`).
    prepared: Option<Vec<OutboxEntry>>,
}

pub(super) struct Driver<'a> {
    pub(super) id: String,
    pub(super) store: &'a StoreWriter,
    upstreams: &'a Upstreams,
    changes: &'a broadcast::Sender<ChangeNotice>,
    pacer: Option<Pacer>,
    meter: Meter,
    /// The run's rate, once read: handed to the upstreams with each batch.
    rate: Option<f64>,
    /// Stages whose whole queues this driver asked for (once per stage).
    whole_asked: HashSet<usize>,
    /// The run's concurrency, once read.
    concurrency: Option<usize>,
    /// The stage the last step prepared a paced batch of (or found no room in): the next step
    /// may prepare the following batch with the answers.
    expect_stage: Option<usize>,
    /// The next step settles every queued member, not only those it records the answers of
    /// (`Store::run_step`): at first, and whenever some may have been answered elsewhere.
    settle_all: bool,
}

impl Driver<'_> {
    /// Records `answered`, reads where the run stands, opens (or holds) the stage gate, runs the
    /// outbox's round and prepares the next batch.
    async fn step(
        &mut self,
        answered: Vec<(OutboxEntry, Recording)>,
        in_flight: usize,
    ) -> Result<Step, StoreError> {
        let run_id = self.id.clone();
        let settle_all = self.settle_all;
        // Still in the stage the last step prepared a batch of, at no rate: the next batch is
        // prepared in the same transaction as the answers (`Store::run_step`) — the gate of
        // that stage is open and its whole queues were asked for. Otherwise the store says
        // where the run stands and the rest of this step decides.
        let next = match (self.expect_stage.take(), self.concurrency) {
            (Some(stage), Some(concurrency))
                if self.pacer.as_ref().is_some_and(Pacer::unlimited) =>
            {
                Some(NextBatch {
                    stage,
                    concurrency,
                    lease_until: worker::lease_until(Utc::now(), concurrency, 2),
                })
            }
            _ => None,
        };
        // One trip to the store: the answers recorded and the members settled in one
        // transaction, then where the run stands. The answers come back to be dropped here,
        // off the store's thread.
        let (found, recorded, _answered) = self
            .store
            .call(move |s| {
                let step = match s.run_step(&run_id, &answered, Utc::now(), next, settle_all) {
                    Ok(step) => step,
                    // As the outbox's round does: the actions stay pending (with their keys)
                    // and are sent again; the run goes on.
                    Err(e) if !answered.is_empty() => {
                        tracing::error!("run {run_id}: answers not recorded: {e}");
                        s.run_step(&run_id, &[], Utc::now(), None, true)?
                    }
                    Err(e) => return Err(e),
                };
                let found = Found {
                    run: step.run,
                    tally: step.tally,
                    held_back: step.held_back,
                    prepared: step.prepared,
                };
                Ok((found, step.recorded, answered))
            })
            .await?;
        if recorded > 0 {
            worker::notify_answered(self.changes);
        }
        let progress = found.tally.whole();
        // Queued members beyond the batch in flight were answered elsewhere, or wait for a
        // retry: the next step looks at every queued member.
        self.settle_all = progress.queued > in_flight;
        let Some(run) = found.run else {
            let status = self.status(&self.id.clone(), 0, RunState::Cancelled, None, &progress);
            return Ok(Step::finished(status, RunState::Cancelled));
        };
        self.meter.note(progress.finished());
        if self.pacer.is_none() {
            self.pacer = Some(Pacer::new(run.rate));
        }
        self.rate = run.rate;
        self.concurrency = Some(run.concurrency);
        if run.state != RunState::Running {
            let status = self.status(
                &run.id,
                run.stages.len(),
                run.state,
                run.reason.clone(),
                &progress,
            );
            return Ok(Step::finished(status, run.state));
        }
        let Some(stage) = progress.stage else {
            let reason = format!(
                "{} sent, {} failed, {} skipped",
                progress.sent, progress.failed, progress.skipped
            );
            self.set_state(&run, RunState::Done, &reason).await?;
            let status = self.status(
                &run.id,
                run.stages.len(),
                RunState::Done,
                Some(reason),
                &progress,
            );
            return Ok(Step::finished(status, RunState::Done));
        };
        // A stage starts only when the one before stayed within its failure limit (or the
        // operator resumed after it paused the run).
        if stage > 0
            && found.prepared.is_none()
            && let Some(reason) = self.gate(stage, run.max_failures, &found.tally).await?
        {
            self.set_state(&run, RunState::Paused, &reason).await?;
            let status = self.status(
                &run.id,
                run.stages.len(),
                RunState::Paused,
                Some(reason),
                &progress,
            );
            return Ok(Step::finished(status, RunState::Paused));
        }
        // The outbox's own round first: retries that came due, and actions a driver that died
        // left behind (their leases are taken over at once). This driver's batches are leased,
        // so the round leaves them alone.
        let round = run.concurrency.max(worker::DUE_LIMIT);
        let handled =
            worker::process_due_up_to(self.upstreams, self.store, self.changes, round).await?;
        // The round may have answered this run's actions (retries, a dead driver's).
        self.settle_all |= handled > 0;
        let (prepared, whole) = match found.prepared {
            Some(prepared) => {
                self.expect_stage = Some(stage);
                (prepared, false)
            }
            None => {
                self.prepare(&run, stage, &found.tally, found.held_back)
                    .await?
            }
        };
        let status = self.status(
            &run.id,
            run.stages.len(),
            RunState::Running,
            None,
            &progress,
        );
        Ok(Step {
            status,
            finished: None,
            prepared,
            handled,
            whole,
        })
    }

    /// The next batch the long way (no batch came with the answers): the stage's whole queues
    /// once, while nothing of it is in flight (a letter in flight is still in its queue, and not
    /// planned), else paced members; and whether it is whole queues.
    async fn prepare(
        &mut self,
        run: &Run,
        stage: usize,
        tally: &RunTally,
        held_back: usize,
    ) -> Result<(Vec<OutboxEntry>, bool), StoreError> {
        let in_stage = tally.stage(stage);
        if in_stage.queued == 0 && in_stage.planned > 0 && self.whole_asked.insert(stage) {
            let prepared = self.whole_batch(run, stage).await?;
            if !prepared.is_empty() {
                return Ok((prepared, true));
            }
        }
        // At most `concurrency` in flight and as many prepared behind them: the batch in
        // flight now is queued in the store, so it counts.
        let room = (2 * run.concurrency)
            .saturating_sub(in_stage.queued)
            .min(run.concurrency)
            .min(in_stage.planned);
        let pacer = self.pacer.get_or_insert_with(|| Pacer::new(run.rate));
        pacer.held_back(held_back > 0);
        let take = pacer.take(room);
        let mut prepared = Vec::new();
        if take > 0 {
            let run_id = self.id.clone();
            let now = Utc::now();
            // Leased for its own send and the one it waits behind, plus the time to record.
            let lease_until = worker::lease_until(now, take, 2);
            prepared = self
                .store
                .call(move |s| s.enqueue_run_members(&run_id, stage, take, now, Some(lease_until)))
                .await?;
            pacer.spent(prepared.len());
        }
        self.expect_stage = Some(stage);
        Ok((prepared, false))
    }

    /// The planned members of `stage` that are whole queues of an upstream that moves them
    /// itself (module doc), in the outbox and leased for as long as the move may take. Only a
    /// plain replay (no `--to`) is moved by a server.
    async fn whole_batch(&self, run: &Run, stage: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut prepared = Vec::new();
        if run.kind != ActionKind::Replay || run.destination.is_some() {
            return Ok(prepared);
        }
        for upstream in self.upstreams.all().filter(|u| u.moves_whole_queues()) {
            let (run_id, upstream_id) = (self.id.clone(), upstream.id().to_string());
            let targets = self
                .store
                .call(move |s| s.planned_run_targets(&run_id, stage, &upstream_id))
                .await?;
            if targets.is_empty() {
                continue;
            }
            let whole = upstream.whole_queues(&targets).await;
            if whole.is_empty() {
                continue;
            }
            let (run_id, upstream_id) = (self.id.clone(), upstream.id().to_string());
            let now = Utc::now();
            let bound = whole_bound(whole.len(), run.rate);
            let lease_until =
                now + chrono::Duration::from_std(bound).unwrap_or(chrono::Duration::hours(24));
            let entries = self
                .store
                .call(move |s| {
                    s.enqueue_run_members_of(
                        &run_id,
                        stage,
                        &upstream_id,
                        &whole,
                        now,
                        Some(lease_until),
                    )
                })
                .await?;
            tracing::info!(
                "run {}: stage {} hands {} letters on {} over as whole queues",
                self.id,
                stage + 1,
                entries.len(),
                upstream.id()
            );
            prepared.extend(entries);
        }
        Ok(prepared)
    }

    /// Records a batch's answers (one transaction) and tells same-process readers.
    async fn record(&self, answered: Vec<(OutboxEntry, Recording)>) {
        if record(self.store, answered).await > 0 {
            worker::notify_answered(self.changes);
        }
    }

    fn status(
        &self,
        run: &str,
        stages: usize,
        state: RunState,
        reason: Option<String>,
        progress: &RunProgress,
    ) -> RunStatus {
        let rate = self.meter.rate();
        RunStatus {
            run: run.to_string(),
            state,
            reason,
            progress: progress.clone(),
            stage: progress.stage.map(|s| s + 1),
            stages,
            rate,
            sending_rate: self.pacer.as_ref().and_then(|p| p.current),
            eta_secs: (rate > 0.0).then(|| progress.remaining() as f64 / rate),
            moving: None,
        }
    }
}

impl Step {
    fn finished(status: RunStatus, state: RunState) -> Step {
        Step {
            status,
            finished: Some(state),
            prepared: Vec::new(),
            handled: 0,
            whole: false,
        }
    }
}
