//! Reading a batch answer: each item's result becomes exactly the answer its single-item call
//! would have produced, and an answer that cannot be matched to its items becomes
//! [`UpstreamError::Uncertain`] for every item (pending, resent with the same keys).

use super::{ConnectorApi, delivered_outcome, discarded_outcome, refused_outcome};
use crate::api::{
    BatchDiscardResult, BatchItemStatus, BatchReplayResult, ReplayOutcome, ReplayResponse,
};
use crate::domain::{Action, DeadLetterState, sanitize};
use crate::upstream::{ActionResult, Upstream, UpstreamError};

pub(super) type Answer = Result<ActionResult, UpstreamError>;

impl ConnectorApi {
    /// Why the results cannot be matched to the items (count, or the first out of place).
    pub(super) fn mismatch(
        &self,
        chunk: &[&(Action, String)],
        results: usize,
        first_mismatch: impl FnOnce() -> Option<usize>,
    ) -> Option<String> {
        if results != chunk.len() {
            return Some(format!(
                "{results} results for {} items; every item needs its result",
                chunk.len()
            ));
        }
        first_mismatch().map(|i| {
            format!(
                "result {i} does not answer item {i} (dead letter {:?})",
                chunk[i].0.target
            )
        })
    }

    /// A batch request that failed as a whole: `Ok` with the error every item gets (pending
    /// when transient or unreadable), `Err` when the items should be sent one by one instead.
    pub(super) fn whole_request(
        &self,
        error: UpstreamError,
        n: usize,
    ) -> Result<Vec<Answer>, UpstreamError> {
        let each = match error {
            UpstreamError::Malformed { url, message, .. } => self.uncertain(&url, &message),
            // Credentials: the single-item requests would be refused alike.
            UpstreamError::Status {
                status: 401 | 403, ..
            } => error,
            ref e if e.is_transient() => error,
            UpstreamError::Status { .. } => return Err(error),
            other => other,
        };
        Ok(vec![Err(each); n])
    }

    pub(super) fn all_uncertain(&self, url: &str, message: &str, n: usize) -> Vec<Answer> {
        vec![Err(self.uncertain(url, message)); n]
    }

    fn uncertain(&self, url: &str, message: &str) -> UpstreamError {
        UpstreamError::Uncertain {
            upstream: self.id().to_string(),
            url: url.to_string(),
            message: sanitize::line(message),
        }
        .redacted()
    }

    /// An item the upstream did not apply: the error its single-item request would have got.
    fn item_refused(
        &self,
        url: &str,
        id: &str,
        status: BatchItemStatus,
        detail: Option<String>,
        retry_after: Option<u64>,
    ) -> UpstreamError {
        let code = status.http_status();
        let reason = reqwest::StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        let detail = detail.unwrap_or_default();
        UpstreamError::Status {
            upstream: self.id().to_string(),
            method: "POST".to_string(),
            url: url.to_string(),
            status: code,
            message: sanitize::line(&format!("dead letter {id}: {reason}: {detail}")),
            retry_after,
        }
        .redacted()
    }

    pub(super) fn replay_item(&self, url: &str, result: BatchReplayResult) -> Answer {
        let outcome = match result.status {
            BatchItemStatus::Delivered => ReplayOutcome::Delivered,
            BatchItemStatus::Failed => ReplayOutcome::Failed,
            BatchItemStatus::NotFound
            | BatchItemStatus::Conflict
            | BatchItemStatus::Invalid
            | BatchItemStatus::Unavailable => {
                return Err(self.item_refused(
                    url,
                    &result.id,
                    result.status,
                    result.detail,
                    result.retry_after,
                ));
            }
            BatchItemStatus::Discarded | BatchItemStatus::Unknown => {
                return Err(self.uncertain(
                    url,
                    &format!("dead letter {}: a status replays do not have", result.id),
                ));
            }
        };
        let Some(dead_letter) = result.dead_letter else {
            // A minimal answer (`Prefer: return=minimal`).
            let response = result.response.unwrap_or_default();
            return Ok(match outcome {
                // Delivered means replayed.
                ReplayOutcome::Delivered => self.minimal_result(
                    result.id,
                    DeadLetterState::Replayed,
                    delivered_outcome(&response),
                ),
                // The contract keeps the letter in a failed result, but RFC 7240 leaves what
                // "minimal" means to the server: the refusal is certain all the same (it is
                // recorded failed, not retried), the letter stays dead, and the next poll
                // brings its new error.
                ReplayOutcome::Failed => ActionResult {
                    outcome: refused_outcome(
                        &response,
                        result.detail.as_deref().unwrap_or("no detail given"),
                    ),
                    incident: None,
                    dead_letter: None,
                    letter_state: None,
                },
            });
        };
        self.replay_result(ReplayResponse {
            outcome,
            idempotency_key: result.idempotency_key,
            dead_letter,
            response: result.response.unwrap_or_default(),
        })
    }

    pub(super) fn discard_item(&self, url: &str, result: BatchDiscardResult) -> Answer {
        match (result.status, result.dead_letter) {
            (BatchItemStatus::Discarded, Some(dead_letter)) => self.discard_result(dead_letter),
            // A minimal answer (`Prefer: return=minimal`): the letter is discarded.
            (BatchItemStatus::Discarded, None) => Ok(self.minimal_result(
                result.id,
                DeadLetterState::Discarded,
                discarded_outcome(DeadLetterState::Discarded),
            )),
            (
                status @ (BatchItemStatus::NotFound
                | BatchItemStatus::Conflict
                | BatchItemStatus::Invalid
                | BatchItemStatus::Unavailable),
                _,
            ) => Err(self.item_refused(
                url,
                &result.id,
                status,
                result.detail,
                result.retry_after,
            )),
            (status, _) => Err(self.uncertain(
                url,
                &format!(
                    "dead letter {}: {status:?} is not a discard's answer (or lacks the dead letter)",
                    result.id
                ),
            )),
        }
    }
}
