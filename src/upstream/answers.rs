//! Answers every dead-letter adapter gives alike: "already done by triage" for an action whose
//! letter triage replayed or discarded before — known from the adapter's memory or from a
//! receipt an earlier attempt left (RabbitMQ's and SQS's receipts queues).

use crate::domain::{ActionOutcome, DeadLetterState};
use crate::upstream::ActionResult;

/// "Already `done` by triage" (ok: nothing is sent again), with `how` it is known appended to
/// the summary (empty, or e.g. " (an earlier attempt's receipt: …)").
pub fn already_handled(done: DeadLetterState, key: &str, how: &str) -> ActionResult {
    ActionResult {
        outcome: ActionOutcome {
            ok: true,
            summary: format!("already {} by triage{how}", done.as_str()),
            response: serde_json::json!({ "state": done.as_str(), "replay_id": key }),
        },
        incident: None,
        dead_letter: None,
        letter_state: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_handled_is_ok_and_names_the_state_and_key() {
        let answer = already_handled(DeadLetterState::Discarded, "k1", " (a receipt)");
        assert!(answer.outcome.ok);
        assert_eq!(
            answer.outcome.summary,
            "already discarded by triage (a receipt)"
        );
        assert_eq!(answer.outcome.response["state"], "discarded");
        assert_eq!(answer.outcome.response["replay_id"], "k1");
        assert!(answer.dead_letter.is_none() && answer.incident.is_none());
    }
}
