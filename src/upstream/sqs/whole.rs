//! A run's stage as whole queues (`Upstream::whole_queues`, the `move_task` module doc): which
//! of a stage's letters are every letter of their DLQ, read from the server now, and what a
//! whole batch that no move task took is answered (recalled: the run paces it).

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::Sqs;
use super::actions::Answer;
use super::client::upstream_error;
use super::queues::DeadLetterQueue;
use crate::upstream::UpstreamError;
use crate::upstream::run_batch::RunBatch;

/// A DLQ a move task could serve: standard, one source queue, an ARN to name it by.
pub(super) fn movable(dlq: &DeadLetterQueue) -> bool {
    !dlq.facts.fifo && dlq.sources.len() == 1 && !dlq.facts.arn.is_empty()
}

impl Sqs {
    /// Whether move tasks may be served here (none refused so far).
    pub(super) fn moves(&self) -> bool {
        !self.move_unsupported.load(Ordering::Relaxed)
    }

    /// Remembers a refused move-task call unless it was throttling or unavailability (then the
    /// next batch may try again); true when it is remembered.
    pub(super) fn refused(&self, error: &UpstreamError) -> bool {
        let passing = matches!(
            error,
            UpstreamError::Unreachable { .. }
                | UpstreamError::Status {
                    status: 429 | 503,
                    ..
                }
        );
        if !passing {
            self.move_unsupported.store(true, Ordering::Relaxed);
        }
        !passing
    }

    /// Of a run stage's `targets`, every letter of each DLQ that holds nothing else, read from
    /// the server now (module doc).
    pub(super) async fn whole_queues(&self, targets: &[String]) -> Vec<String> {
        let mut whole = Vec::new();
        if !self.moves() || targets.is_empty() {
            return whole;
        }
        let wanted: HashSet<&str> = targets.iter().map(String::as_str).collect();
        // Passes over one upstream never interleave.
        let _memory = self.memory.lock().await;
        let Ok(topology) = self.topology().await else {
            return whole;
        };
        let Ok(client) = self.client().await else {
            return whole;
        };
        for dlq in topology.dlqs.iter().filter(|d| movable(d)) {
            if dlq.facts.depth.total() == 0 || dlq.facts.depth.total() > wanted.len() as u64 {
                continue;
            }
            let listed = client
                .list_message_move_tasks()
                .source_arn(&dlq.facts.arn)
                .max_results(1)
                .send()
                .await;
            match listed {
                Ok(out) => {
                    let busy = out
                        .results()
                        .first()
                        .is_some_and(|t| matches!(t.status(), Some("RUNNING" | "CANCELLING")));
                    if busy {
                        tracing::info!(
                            "{}: a move task already runs on {}; its letters go by batched sends",
                            self.id,
                            dlq.facts.name
                        );
                        continue;
                    }
                }
                Err(e) => {
                    let error = upstream_error(&self.id, &dlq.facts.url, "ListMessageMoveTasks", e);
                    if self.refused(&error) {
                        tracing::info!(
                            "{}: move tasks are not served here ({error}); runs use batched sends",
                            self.id
                        );
                        return Vec::new();
                    }
                    continue;
                }
            }
            let Ok(pass) = self
                .receive_pass(&dlq.facts.url, dlq.facts.depth, None)
                .await
            else {
                continue;
            };
            self.release(&dlq.facts.url, &pass.messages).await;
            let ids: HashSet<&str> = pass
                .messages
                .iter()
                .map(|m| m.message_id.as_str())
                .collect();
            if pass.complete && !ids.is_empty() && ids.iter().all(|id| wanted.contains(id)) {
                whole.extend(ids.into_iter().map(str::to_string));
            }
        }
        whole
    }

    /// Whether `dlq` holds exactly `targets`, by a complete pass now (released at once).
    pub(super) async fn holds_exactly(
        &self,
        dlq: &DeadLetterQueue,
        targets: &HashSet<String>,
    ) -> bool {
        let Ok(pass) = self
            .receive_pass(&dlq.facts.url, dlq.facts.depth, None)
            .await
        else {
            return false;
        };
        self.release(&dlq.facts.url, &pass.messages).await;
        let ids: HashSet<String> = pass.messages.into_iter().map(|m| m.message_id).collect();
        pass.complete && &ids == targets
    }

    /// The answer for a letter of a whole batch ([`RunBatch::whole`]) no move task took: the
    /// DLQ no longer held exactly the batch, or the server refused the task. Recalled, so the
    /// run plans it again and paces it — unless the run stopped meanwhile
    /// ([`Sqs::left_by_stopped_move`]).
    pub(super) fn not_moved(&self, dlq: &str, run: &RunBatch) -> Answer {
        if let Some(how) = run.stopped() {
            return self.left_by_stopped_move(dlq, how, Some(run));
        }
        Err(UpstreamError::Recalled {
            upstream: self.id.clone(),
            message: format!(
                "recalled: SQS did not move {dlq} as a whole for run {} (it no longer held exactly the stage's letters, or refused the move task); the run sends the letter in paced batches",
                run.run
            ),
        })
    }
}
