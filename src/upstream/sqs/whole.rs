//! A run's stage as whole queues (`Upstream::whole_queues`, the `move_task` module doc): which
//! of a stage's letters are every letter of their DLQ, read from the server now, and what a
//! whole batch that no move task took is answered (recalled: the run paces it).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How long a refused move-task call keeps runs on batched sends. A server that does not serve
/// move tasks (moto answers 500) is asked again this rarely; a real SQS's passing 500
/// (`InternalFailure`) does not turn them off for the rest of a long-running console or watch.
pub(super) const MOVE_REFUSAL_TTL: Duration = Duration::from_secs(15 * 60);

/// When a move-task call was last refused (not throttled), if it was.
#[derive(Debug, Default)]
pub(super) struct MoveRefusal {
    at: Mutex<Option<Instant>>,
}

impl MoveRefusal {
    /// Whether move tasks may be tried at `now`: none refused within [`MOVE_REFUSAL_TTL`].
    pub(super) fn allows(&self, now: Instant) -> bool {
        let at = self.at.lock().unwrap_or_else(|p| p.into_inner());
        at.is_none_or(|at| now.saturating_duration_since(at) >= MOVE_REFUSAL_TTL)
    }

    pub(super) fn refuse(&self, now: Instant) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
    }
}

impl Sqs {
    /// Whether move tasks may be served here (none refused lately).
    pub(super) fn moves(&self) -> bool {
        self.move_refusal.allows(Instant::now())
    }

    /// Remembers a refused move-task call for [`MOVE_REFUSAL_TTL`] unless it was throttling or
    /// unavailability (then the next batch may try again); true when it is remembered.
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
            tracing::info!(
                "{}: move tasks refused ({error}); batched sends for the next {} min",
                self.id,
                MOVE_REFUSAL_TTL.as_secs() / 60
            );
            self.move_refusal.refuse(Instant::now());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_move_task_is_tried_again_once_the_refusal_expires() {
        let refusal = MoveRefusal::default();
        let start = Instant::now();
        assert!(refusal.allows(start), "nothing refused yet");
        refusal.refuse(start);
        assert!(!refusal.allows(start));
        assert!(!refusal.allows(start + MOVE_REFUSAL_TTL - Duration::from_secs(1)));
        assert!(
            refusal.allows(start + MOVE_REFUSAL_TTL),
            "expired: asked again"
        );
        // Refused again: another full period.
        let later = start + MOVE_REFUSAL_TTL;
        refusal.refuse(later);
        assert!(!refusal.allows(later + Duration::from_secs(60)));
        // A clock read before the refusal (another thread's `now`) does not panic or allow.
        assert!(!refusal.allows(start));
    }
}
