//! The server-side redrive: `StartMessageMoveTask` moves a DLQ's messages back to their source
//! queue inside SQS (at `MaxNumberOfMessagesPerSecond` when given), far faster than receive, send
//! and delete. Used only when a batch replays *everything*: every action is a plain replay (no
//! `--to`, no edited payload) and together they name every live letter of a standard DLQ that has
//! one source queue, that the last pass read completely, and whose depth is exactly that many
//! (nothing in flight, nothing newer). Real AWS takes this path; a server that does not serve it
//! (moto answers 500) is remembered and the batched sends take over, as they do for every other
//! selection. The task is watched with `ListMessageMoveTasks` for up to [`WATCH`]; one still
//! running then is cancelled (`CancelMessageMoveTask`) and what it left is replayed one batch at
//! a time. Moved messages are new messages in the source queue (SQS copies them) and carry no
//! `x-triage-replay-id`.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Sqs;
use super::client::upstream_error;
use super::memory::Memory;
use super::queues::DeadLetterQueue;
use crate::domain::{Action, ActionKind};

/// Longest a batch waits for a move task.
const WATCH: Duration = Duration::from_secs(30);

impl Sqs {
    /// Starts and watches a move task when the batch is "everything" (module doc); returns the
    /// targets no longer in the DLQ afterwards, or `None` when no task ran.
    pub(super) async fn try_move_task(
        &self,
        memory: &Memory,
        dlq: &DeadLetterQueue,
        actions: &[(Action, String)],
        group: &[usize],
    ) -> Option<HashSet<String>> {
        if self.move_unsupported.load(Ordering::Relaxed)
            || dlq.facts.fifo
            || dlq.sources.len() != 1
            || dlq.facts.arn.is_empty()
            || memory.partial.contains_key(&dlq.facts.name)
            || !memory.knows(&dlq.facts.name)
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
        let live: HashSet<String> = memory
            .live
            .iter()
            .filter(|(_, l)| l.dlq == dlq.facts.name)
            .map(|(id, _)| id.clone())
            .collect();
        if !plain || targets != live || dlq.facts.depth.total() != live.len() as u64 {
            return None;
        }
        let client = self.client().await.ok()?;
        let started = client
            .start_message_move_task()
            .source_arn(&dlq.facts.arn)
            .send()
            .await;
        let handle = match started {
            Ok(out) => out.task_handle().map(str::to_string),
            Err(e) => {
                let error = upstream_error(&self.id, &dlq.facts.url, "StartMessageMoveTask", e);
                tracing::info!(
                    "{}: StartMessageMoveTask is not served here ({error}); replaying with batched sends",
                    self.id
                );
                self.move_unsupported.store(true, Ordering::Relaxed);
                return None;
            }
        };
        let begun = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let listed = client
                .list_message_move_tasks()
                .source_arn(&dlq.facts.arn)
                .max_results(1)
                .send()
                .await;
            let status = listed.ok().and_then(|out| {
                out.results()
                    .first()
                    .and_then(|r| r.status().map(str::to_string))
            });
            if status.as_deref() != Some("RUNNING") {
                break;
            }
            if begun.elapsed() > WATCH {
                if let Some(handle) = &handle {
                    let _ = client
                        .cancel_message_move_task()
                        .task_handle(handle)
                        .send()
                        .await;
                }
                break;
            }
        }
        // What is still in the DLQ is replayed by the caller; the rest was moved.
        let depth = self.facts(&dlq.facts.url).await.ok()??.depth;
        let pass = self.receive_pass(&dlq.facts.url, depth, None).await.ok()?;
        self.release(&dlq.facts.url, &pass.messages).await;
        if !pass.complete {
            return Some(HashSet::new());
        }
        let remaining: HashSet<String> = pass.messages.into_iter().map(|m| m.message_id).collect();
        Some(targets.difference(&remaining).cloned().collect())
    }
}
