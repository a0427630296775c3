//! Browse and act in ONE cycling pass over a connector's DLQ: every message is read (in order) as
//! a dead letter, and the ones selected for replay or discard are republished to their `x-death`
//! origin or dropped instead of being copied to the tail. A 100k-message DLQ browsed completely
//! with one replay from its middle thus costs one pass, not two. The snapshot served by
//! `dead_letters` is refreshed for this connector; the next browse reports the replayed/discarded
//! letters as tombstones with what triage did.

use std::collections::HashMap;

use chrono::Utc;

use super::actions::destination;
use super::amqp::{Fate, PassReport};
use super::message;
use super::snapshot::BrowseMemory;
use super::{QueueBinding, RabbitMq};
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

/// What [`RabbitMq::apply_pass`] saw and did.
pub(super) struct ServedPass {
    pub report: PassReport,
    /// One outcome per selection, in selection order: `(target, outcome)`.
    pub outcomes: Vec<(String, ActionOutcome)>,
    /// Per selection: the dead letter it acted on (with its new state when done), `None` when
    /// the pass did not find it (a target selected twice is applied once, for the first).
    pub found: Vec<Option<DeadLetter>>,
    /// Every letter of the pass, when asked for (the snapshot in `memory` has them anyway).
    pub letters: Option<Vec<DeadLetter>>,
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
        let dlq = self.required_dead_letter_queue(&binding).await?;
        let mut memory = self.memory.lock().await;
        let served = self
            .apply_pass(&mut memory, &binding, &dlq, selections, true)
            .await?;
        Ok(AppliedPass {
            letters: served.letters.unwrap_or_default(),
            report: served.report,
            outcomes: served.outcomes,
        })
    }

    /// The pass of [`RabbitMq::browse_and_apply`] over `dlq`, for a caller holding `memory`
    /// (selections are replays or discards). Refreshes `memory` for this connector; with
    /// `all_letters`, returns every letter too.
    pub(super) async fn apply_pass(
        &self,
        memory: &mut BrowseMemory,
        binding: &QueueBinding,
        dlq: &str,
        selections: &[Selection],
        all_letters: bool,
    ) -> Result<ServedPass, UpstreamError> {
        let connector = binding.connector.as_str();
        let mut by_target: HashMap<&str, usize> = HashMap::new();
        for (number, selection) in selections.iter().enumerate() {
            by_target
                .entry(selection.action.target.as_str())
                .or_insert(number);
        }
        let now = Utc::now();
        let mut letters = Vec::new();
        // Selection number → where the pass sent its message.
        let mut hits: HashMap<usize, Hit> = HashMap::new();
        let report = self
            .broker
            .cycle(dlq, |index, payload, properties| {
                let letter = message::dead_letter(&self.id, connector, payload, properties, now);
                let selected = by_target
                    .get(letter.id.as_str())
                    .copied()
                    .filter(|number| !hits.contains_key(number));
                letters.push(letter);
                match selected.and_then(|n| selections.get(n).map(|s| (n, s))) {
                    None => Fate::Keep,
                    Some((number, selection)) => {
                        let (exchange, routing_key) = destination(binding, properties);
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
                        hits.insert(number, hit);
                        fate
                    }
                }
            })
            .await?;
        let mut outcomes = Vec::with_capacity(selections.len());
        let mut found = Vec::with_capacity(selections.len());
        for (number, selection) in selections.iter().enumerate() {
            let target = selection.action.target.clone();
            let hit = hits.get(&number);
            let outcome = match hit {
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
            found.push(hit.and_then(|hit| letters.get(hit.index).cloned()));
            outcomes.push((target, outcome));
        }
        // The snapshot is this pass's view (acted-on letters with their new state), served to the
        // next watermarked poll without another pass (see `snapshot`); the browse after that turns
        // the acted-on letters into tombstones. Copied only for a caller that wants them all.
        let copies = all_letters.then(|| letters.clone());
        memory.replace_connector(connector, letters, report.kept as u64);
        Ok(ServedPass {
            report,
            outcomes,
            found,
            letters: copies,
        })
    }
}
