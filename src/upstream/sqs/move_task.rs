//! The server-side redrive: `StartMessageMoveTask` moves a DLQ's messages back to their source
//! queue inside SQS, far faster than receive, send and delete. Used only when a batch replays
//! *everything*: every action is a plain replay (no `--to`, no edited payload) and together they
//! name every live letter of a standard DLQ that has one source queue. Real AWS takes this path;
//! a server that does not serve it (moto answers 500 to the move-task calls; an error that is not
//! throttling or unavailability) is remembered and the batched sends take over, as they do for
//! every other selection.
//!
//! **A run's stage** ([`Upstream::whole_queues`](crate::upstream::Upstream::whole_queues)): the
//! driver asks once per stage which of its planned letters are whole DLQs. The answer is read
//! from the server, not from memory: `ListMessageMoveTasks` (does the server serve move tasks; is
//! one already running on that DLQ — someone's redrive from the AWS console) and then one
//! complete receive pass over each candidate DLQ, released at once; a DLQ qualifies when that
//! pass saw every message it holds and each is one of the stage's letters. The driver then hands
//! them over in one batch ([`RunBatch::whole`]), and before starting the task the batch's own
//! pass checks again that the DLQ holds exactly those letters. When it does not (a letter arrived
//! or left meanwhile), or the server refuses the task, the batch is *recalled*, not sent here at
//! full speed: the driver plans its members again and paces them through the batched sends.
//!
//! A batch outside a run (or a run's paced batch) that happens to be everything takes the task
//! too, on the adapter's memory: the last pass read the DLQ completely and its depth is exactly
//! that many (nothing in flight, nothing newer).
//!
//! A run's batch ([`RunBatch`]) passes the run's rate as `MaxNumberOfMessagesPerSecond` (SQS
//! takes 1 to [`MAX_RATE`]). The task is watched with `ListMessageMoveTasks` (each listing
//! reported to the run as a [`ServerMove`]) until it ends, for at most [`WATCH`] or twice the
//! time its rate needs; one still running then is cancelled (`CancelMessageMoveTask` with its
//! handle) and what it left is replayed one batch at a time. When the run stops while the task
//! runs, the task is cancelled at once and what it left is *not* replayed here — those letters
//! stay in the DLQ, as AWS's own "cancel redrive" leaves them — and their actions are answered
//! by how the run stopped ([`RunStop`]):
//! - **paused**: recalled ([`UpstreamError::Recalled`]: not done, not failed). The outbox closes
//!   each as `recalled` and the run plans its member again, so `triage runs resume` sends each
//!   of them once, as a new action: by a new move task when they are still everything in the
//!   DLQ, else by the batched sends and deletes.
//! - **cancelled**: answered not ok, "not replayed: run … was cancelled …; the letter is still in
//!   the dead-letter queue" — the run is over; a new run or `triage replay` sends them.
//!
//! The letters the task moved are answered replayed either way. Moved messages are new messages
//! in the source queue (SQS copies them) and carry no `x-triage-replay-id`; each letter of the
//! batch gets a receipt naming the task's handle, written as soon as the task started: a crash
//! while it runs is answered "already replayed", and so is a later replay (a resumed run's new
//! action) of a letter the task still took after the run recalled it (a cancel that came late,
//! or a pass after the task that could not see the whole DLQ) — never "no longer in the
//! dead-letter queue", and never sent twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::ListMessageMoveTasksResultEntry;

use super::Sqs;
use super::actions::{Answer, answered};
use super::client::upstream_error;
use super::memory::Memory;
use super::queues::DeadLetterQueue;
use super::receipts::Receipt;
use super::whole::movable;
use crate::domain::{Action, ActionKind, DeadLetterState};
use crate::upstream::UpstreamError;
use crate::upstream::run_batch::{RunBatch, RunStop, ServerMove, WHOLE_WATCH_MIN, whole_watch};

/// How long a cancel may take to stop a task.
const WATCH: Duration = WHOLE_WATCH_MIN;
/// How often a running task is listed.
const LIST_EVERY: Duration = Duration::from_millis(500);
/// SQS's highest `MaxNumberOfMessagesPerSecond`.
pub const MAX_RATE: i32 = 500;

/// What a move task did.
#[derive(Debug, Default)]
pub(super) struct MoveOutcome {
    /// Targets no longer in the DLQ afterwards.
    pub moved: HashSet<String>,
    /// Set when the run stopped the task (how, as the run last said): the rest is not replayed
    /// here — recalled to the run (paused) or answered not replayed (cancelled).
    pub stopped: Option<RunStop>,
}

/// `MaxNumberOfMessagesPerSecond` for a run's rate: at least 1, at most [`MAX_RATE`].
pub fn move_rate(rate: Option<f64>) -> Option<i32> {
    rate.filter(|r| r.is_finite() && *r > 0.0)
        .map(|r| (r.ceil().min(f64::from(MAX_RATE)) as i32).max(1))
}

fn progress(dlq: &str, entry: &ListMessageMoveTasksResultEntry) -> ServerMove {
    ServerMove {
        queue: dlq.to_string(),
        status: entry.status().unwrap_or("UNKNOWN").to_string(),
        moved: u64::try_from(entry.approximate_number_of_messages_moved()).unwrap_or(0),
        to_move: entry
            .approximate_number_of_messages_to_move()
            .and_then(|n| u64::try_from(n).ok()),
    }
}

impl Sqs {
    /// Starts and watches a move task when the batch is "everything" (module doc); `None` when
    /// no task ran.
    pub(super) async fn try_move_task(
        &self,
        memory: &mut Memory,
        dlq: &DeadLetterQueue,
        actions: &[(Action, String)],
        group: &[usize],
        run: Option<&RunBatch>,
    ) -> Option<MoveOutcome> {
        let whole = run.is_some_and(|r| r.whole);
        if !self.moves()
            || !movable(dlq)
            || (!whole
                && (memory.partial.contains_key(&dlq.facts.name) || !memory.knows(&dlq.facts.name)))
        {
            return None;
        }
        let plain = group.iter().all(|&i| {
            let action = &actions[i].0;
            action.kind == ActionKind::Replay
                && action.payload.is_none()
                && action.destination.is_none()
        });
        let targets: HashSet<String> = group.iter().map(|&i| actions[i].0.target.clone()).collect();
        if !plain || run.is_some_and(|r| r.stopped().is_some()) {
            return None;
        }
        if whole {
            // The run's whole queue: what the server holds now, not what a pass once saw.
            if !self.holds_exactly(dlq, &targets).await {
                return None;
            }
        } else {
            let live: HashSet<String> = memory
                .live
                .iter()
                .filter(|(_, l)| l.dlq == dlq.facts.name)
                .map(|(id, _)| id.clone())
                .collect();
            if targets != live || dlq.facts.depth.total() != live.len() as u64 {
                return None;
            }
        }
        let client = self.client().await.ok()?;
        let rate = move_rate(run.and_then(|r| r.rate));
        let started = client
            .start_message_move_task()
            .source_arn(&dlq.facts.arn)
            .set_max_number_of_messages_per_second(rate)
            .send()
            .await;
        let handle = match started {
            Ok(out) => out.task_handle().map(str::to_string),
            Err(e) => {
                let error = upstream_error(&self.id, &dlq.facts.url, "StartMessageMoveTask", e);
                let remembered = self.refused(&error);
                tracing::info!(
                    "{}: StartMessageMoveTask for {} refused ({error}); replaying with batched sends{}",
                    self.id,
                    dlq.facts.name,
                    if remembered { " from now on" } else { "" }
                );
                return None;
            }
        };
        tracing::info!(
            "{}: moving {} messages of {} back to their source with StartMessageMoveTask ({}, task {})",
            self.id,
            targets.len(),
            dlq.facts.name,
            rate.map_or("at SQS's pace".to_string(), |r| format!("{r}/s")),
            handle.as_deref().unwrap_or("without a handle")
        );
        self.receipt_moves(memory, dlq, actions, group, handle.as_deref())
            .await;
        let watch = whole_watch(targets.len(), rate.map(f64::from));
        let stopped = self
            .watch_move(client, dlq, handle.as_deref(), watch, run)
            .await;
        // What is still in the DLQ is replayed by the caller (unless the run stopped); the rest
        // was moved.
        let depth = self.facts(&dlq.facts.url).await.ok()??.depth;
        let pass = self.receive_pass(&dlq.facts.url, depth, None).await.ok()?;
        self.release(&dlq.facts.url, &pass.messages).await;
        let mut outcome = MoveOutcome {
            moved: HashSet::new(),
            // The latest word: a pause turned into a cancel meanwhile is a cancel.
            stopped: stopped.map(|how| run.and_then(RunBatch::stopped).unwrap_or(how)),
        };
        if pass.complete {
            let remaining: HashSet<String> =
                pass.messages.into_iter().map(|m| m.message_id).collect();
            outcome.moved = targets.difference(&remaining).cloned().collect();
        }
        Some(outcome)
    }

    /// Lists the task until it is no longer running; cancels it when the run stops (then
    /// returns how) or after `watch`.
    async fn watch_move(
        &self,
        client: &aws_sdk_sqs::Client,
        dlq: &DeadLetterQueue,
        handle: Option<&str>,
        watch: Duration,
        run: Option<&RunBatch>,
    ) -> Option<RunStop> {
        let begun = Instant::now();
        let mut cancelled: Option<Instant> = None;
        let mut stopped = None;
        loop {
            let stopping = async {
                match run {
                    Some(run) if stopped.is_none() => run.stopping().await,
                    _ => std::future::pending().await,
                }
            };
            let by_run = tokio::select! {
                _ = tokio::time::sleep(LIST_EVERY) => None,
                how = stopping => Some(how),
            };
            if by_run.is_some() {
                stopped = by_run;
            }
            let listed = client
                .list_message_move_tasks()
                .source_arn(&dlq.facts.arn)
                .max_results(1)
                .send()
                .await;
            let entry = listed.ok().and_then(|out| out.results().first().cloned());
            if let (Some(entry), Some(run)) = (&entry, run) {
                run.report(progress(&dlq.facts.name, entry));
            }
            let status = entry.as_ref().and_then(|e| e.status().map(str::to_string));
            if !matches!(status.as_deref(), Some("RUNNING" | "CANCELLING")) {
                return stopped;
            }
            let overdue = begun.elapsed() > watch;
            if cancelled.is_none() && (stopped.is_some() || overdue) {
                if let Some(handle) = handle {
                    let answer = client
                        .cancel_message_move_task()
                        .task_handle(handle)
                        .send()
                        .await;
                    if let Err(e) = answer {
                        tracing::warn!(
                            "{}: CancelMessageMoveTask {handle} failed: {}",
                            self.id,
                            upstream_error(&self.id, &dlq.facts.url, "CancelMessageMoveTask", e)
                        );
                    }
                }
                cancelled = Some(Instant::now());
            }
            // A cancel takes a moment; never wait for it forever.
            if cancelled.is_some_and(|at| at.elapsed() > WATCH) {
                return stopped;
            }
        }
    }

    /// The answer for a letter a move task left in `dlq` when the run stopped it: a pause
    /// recalls the action (not done: the run plans its member again and sends it, once, when
    /// resumed), a cancel answers it not replayed for good — the letter stays in the DLQ either
    /// way, as AWS's own "cancel redrive" leaves it.
    pub(super) fn left_by_stopped_move(
        &self,
        dlq: &str,
        how: RunStop,
        run: Option<&RunBatch>,
    ) -> Answer {
        let run = run.map_or("the run".to_string(), |r| format!("run {}", r.run));
        match how {
            RunStop::Paused => Err(UpstreamError::Recalled {
                upstream: self.id.clone(),
                message: format!(
                    "recalled: {run} was paused while SQS moved {dlq} (its move task was cancelled); the letter is still in the dead-letter queue and is sent when the run resumes"
                ),
            }),
            RunStop::Cancelled => Ok(answered(
                false,
                format!(
                    "not replayed: {run} was cancelled while SQS moved {dlq} (its move task was cancelled); the letter is still in the dead-letter queue — a new run or `triage replay` sends it"
                ),
                serde_json::json!({ "found": true, "sent": false, "move_task": "cancelled" }),
            )),
        }
    }

    /// Receipts for the targets a move task takes, as soon as it started: a process that dies
    /// while it runs has its retries answered "already replayed" (the letters are gone).
    async fn receipt_moves(
        &self,
        memory: &mut Memory,
        dlq: &DeadLetterQueue,
        actions: &[(Action, String)],
        group: &[usize],
        handle: Option<&str>,
    ) {
        let Ok(Some(url)) = self.receipts_url(memory, &dlq.facts.name).await else {
            return;
        };
        let receipts: Vec<(usize, Receipt)> = group
            .iter()
            .map(|&i| {
                let (action, key) = &actions[i];
                let mut receipt = Receipt::new(
                    &action.target,
                    DeadLetterState::Replayed,
                    key,
                    &dlq.facts.name,
                );
                receipt.move_task = handle.map(str::to_string);
                (i, receipt)
            })
            .collect();
        let failed = self.write_receipts(&url, receipts).await;
        if let Some(e) = failed.values().next() {
            tracing::warn!(
                "{}: {} receipts of the move task on {} not written ({e})",
                self.id,
                failed.len(),
                dlq.facts.name
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runs_rate_becomes_a_whole_number_sqs_accepts() {
        assert_eq!(move_rate(None), None);
        assert_eq!(move_rate(Some(7.0)), Some(7));
        assert_eq!(move_rate(Some(0.5)), Some(1));
        assert_eq!(move_rate(Some(2.2)), Some(3));
        assert_eq!(move_rate(Some(900.0)), Some(MAX_RATE));
        assert_eq!(move_rate(Some(0.0)), None);
        assert_eq!(move_rate(Some(f64::INFINITY)), None);
    }
}
