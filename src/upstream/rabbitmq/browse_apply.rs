//! Browse and act in ONE cycling pass over a connector's DLQ: every message is read (in order) as
//! a dead letter, and the ones selected for replay or discard are republished to their `x-death`
//! origin or dropped instead of being copied to the tail. A 100k-message DLQ browsed completely
//! with one replay from its middle thus costs one pass, not two. The snapshot served by
//! `dead_letters` is refreshed for this connector; the next browse reports the replayed/discarded
//! letters as tombstones with what triage did.

use std::collections::HashMap;

use chrono::Utc;

use super::RabbitMq;
use super::actions::destination;
use super::amqp::{Fate, PassReport};
use super::message;
use crate::domain::{Action, ActionKind, ActionOutcome, DeadLetter, DeadLetterState, sanitize};
use crate::upstream::UpstreamError;

/// One replay or discard to apply during a browse pass.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `Replay` or `Discard` of the dead letter `action.target` (message id or fingerprint).
    pub action: Action,
    /// Sent as `x-triage-replay-id` on a replay.
    pub idempotency_key: String,
}

/// What one browse-and-apply pass saw and did.
#[derive(Debug, Clone)]
pub struct AppliedPass {
    /// Every message the pass visited, in DLQ order; acted-on ones carry their new state.
    pub letters: Vec<DeadLetter>,
    pub report: PassReport,
    /// One outcome per selection, in selection order: `(target, outcome)`.
    pub outcomes: Vec<(String, ActionOutcome)>,
}

/// Where the pass sent one selected message.
struct Hit {
    index: usize,
    exchange: String,
    routing_key: String,
}

impl RabbitMq {
    /// Reads `connector`'s whole DLQ (as deep as it was when the pass began) in one pass and applies
    /// `selections` on the way: replays go to their origin with confirms, discards are dropped,
    /// everything else keeps its place. Unroutable replays stay in the DLQ (outcome not ok).
    pub async fn browse_and_apply(
        &self,
        connector: &str,
        selections: &[Selection],
    ) -> Result<AppliedPass, UpstreamError> {
        if let Some(other) = selections
            .iter()
            .find(|s| !matches!(s.action.kind, ActionKind::Replay | ActionKind::Discard))
        {
            return Err(UpstreamError::Unsupported {
                upstream: self.id.clone(),
                message: format!(
                    "a browse pass can only replay or discard dead letters, not {} ({})",
                    other.action.kind.as_str(),
                    other.action.target
                ),
            });
        }
        let binding = self.binding(connector)?.clone();
        let dlq = self
            .dead_letter_queue(&binding, None)
            .await?
            .ok_or_else(|| UpstreamError::Unsupported {
                upstream: self.id.clone(),
                message: format!(
                    "queue {} has no dead-letter queue (no x-dead-letter-exchange, none set)",
                    binding.queue
                ),
            })?;
        let by_target: HashMap<&str, &Selection> = selections
            .iter()
            .map(|s| (s.action.target.as_str(), s))
            .collect();
        let mut memory = self.memory.lock().await;
        let now = Utc::now();
        let mut letters = Vec::new();
        let mut hits: HashMap<String, Hit> = HashMap::new();
        let report = self
            .broker
            .cycle(&dlq, |index, payload, properties| {
                let letter = message::dead_letter(&self.id, connector, payload, properties, now);
                let selected = by_target
                    .get(letter.id.as_str())
                    .filter(|_| !hits.contains_key(&letter.id));
                let fate = match selected {
                    None => Fate::Keep,
                    Some(selection) => {
                        let (exchange, routing_key) = destination(&binding, properties);
                        let fate = match selection.action.kind {
                            ActionKind::Discard => Fate::Discard,
                            _ => Fate::Replay {
                                exchange: exchange.clone(),
                                routing_key: routing_key.clone(),
                                payload: selection
                                    .action
                                    .payload
                                    .clone()
                                    .unwrap_or_else(|| payload.to_vec()),
                                properties: message::replay_properties(
                                    properties,
                                    &selection.action.operator,
                                    &selection.idempotency_key,
                                ),
                            },
                        };
                        let hit = Hit {
                            index,
                            exchange,
                            routing_key,
                        };
                        hits.insert(letter.id.clone(), hit);
                        fate
                    }
                };
                letters.push(letter);
                fate
            })
            .await?;
        let mut outcomes = Vec::with_capacity(selections.len());
        for selection in selections {
            let target = selection.action.target.clone();
            let outcome = match hits.get(&target) {
                None => ActionOutcome {
                    ok: false,
                    summary: sanitize::line(&format!(
                        "dead letter {target} is not in {dlq} (already handled or never there)"
                    )),
                    response: serde_json::json!({ "found": false }),
                },
                Some(hit) => {
                    let response = serde_json::json!({
                        "queue": dlq, "exchange": hit.exchange, "routing_key": hit.routing_key,
                        "replay_id": selection.idempotency_key, "confirmed": true,
                        "position": hit.index,
                    });
                    if report.unroutable.contains(&hit.index) {
                        ActionOutcome {
                            ok: false,
                            summary: sanitize::line(&format!(
                                "exchange {:?} has no queue bound for key {:?}; the message stays in {dlq}",
                                hit.exchange, hit.routing_key
                            )),
                            response,
                        }
                    } else {
                        let state = if selection.action.kind == ActionKind::Discard {
                            DeadLetterState::Discarded
                        } else {
                            DeadLetterState::Replayed
                        };
                        memory.handled.insert(target.clone(), state);
                        if let Some(letter) = letters.get_mut(hit.index) {
                            letter.state = state;
                            letter.updated_at = Utc::now();
                        }
                        let summary = match state {
                            DeadLetterState::Discarded => format!("discarded from {dlq}"),
                            _ => format!(
                                "confirmed by the broker: published to exchange {:?} key {:?}",
                                hit.exchange, hit.routing_key
                            ),
                        };
                        ActionOutcome {
                            ok: true,
                            summary: sanitize::line(&summary),
                            response,
                        }
                    }
                }
            };
            outcomes.push((target, outcome));
        }
        // The snapshot is this pass's view (acted-on letters with their new state); the next
        // browse turns those into tombstones, as after a browse followed by `perform`.
        memory.replace_connector(connector, letters.clone(), report.kept as u64);
        Ok(AppliedPass {
            letters,
            report,
            outcomes,
        })
    }
}
