//! Replay and discard of dead letters, served by one cycling pass over the DLQ that holds them:
//! the chosen message is republished byte-exact to its origin (from `x-death`) with
//! `x-triage-replayed-by`/`x-triage-replay-id`, or dropped; every other message keeps its place.
//! Bulk replay (`replay_all`) sends a whole DLQ back in one pipelined pass.

use chrono::Utc;
use lapin::BasicProperties;

use super::amqp::{Fate, PassReport};
use super::message::{self, DeathRecord};
use super::{QueueBinding, RabbitMq};
use crate::domain::{Action, ActionKind, ActionOutcome, DeadLetterState, sanitize};
use crate::upstream::{ActionResult, UpstreamError};

/// Where a replay of this message goes: its latest `x-death` origin, else the work queue.
pub(super) fn destination(
    binding: &QueueBinding,
    properties: &BasicProperties,
) -> (String, String) {
    message::deaths(properties).first().map_or_else(
        || (String::new(), binding.queue.clone()),
        DeathRecord::origin,
    )
}

impl RabbitMq {
    /// Replays or discards the dead letter `action.target` (message id or fingerprint).
    pub(super) async fn act_on_dead_letter(
        &self,
        action: &Action,
        key: &str,
    ) -> Result<ActionResult, UpstreamError> {
        let mut memory = self.memory.lock().await;
        if let Some(done) = memory.handled.get(&action.target).copied() {
            let outcome = ActionOutcome {
                ok: true,
                summary: format!("already {} by triage", done.as_str()),
                response: serde_json::json!({ "state": done.as_str(), "replay_id": key }),
            };
            return Ok(ActionResult {
                outcome,
                incident: None,
                dead_letter: None,
            });
        }
        let candidates: Vec<QueueBinding> = match memory.connector_of(&action.target) {
            Some(connector) => vec![self.binding(&connector)?.clone()],
            None => self.bindings.clone(),
        };
        for binding in candidates {
            let Some(dlq) = self.dead_letter_queue(&binding, None).await? else {
                continue;
            };
            let mut found = None;
            let report = self
                .broker
                .cycle(&dlq, |index, payload, properties| {
                    if found.is_some() || message::message_key(payload, properties) != action.target
                    {
                        return Fate::Keep;
                    }
                    let letter = message::dead_letter(
                        &self.id,
                        &binding.connector,
                        payload,
                        properties,
                        Utc::now(),
                    );
                    let (exchange, routing_key) = destination(&binding, properties);
                    found = Some((index, letter, exchange.clone(), routing_key.clone()));
                    match action.kind {
                        ActionKind::Discard => Fate::Discard,
                        _ => Fate::Replay {
                            exchange,
                            routing_key,
                            payload: action.payload.clone().unwrap_or_else(|| payload.to_vec()),
                            properties: message::replay_properties(
                                properties,
                                &action.operator,
                                key,
                            ),
                        },
                    }
                })
                .await?;
            let Some((index, mut letter, exchange, routing_key)) = found else {
                continue;
            };
            let response = serde_json::json!({
                "queue": dlq, "exchange": exchange, "routing_key": routing_key,
                "replay_id": key, "confirmed": true, "position": index,
            });
            if report.unroutable.contains(&index) {
                let summary = format!(
                    "exchange {exchange:?} has no queue bound for key {routing_key:?}; the message stays in {dlq}"
                );
                let outcome = ActionOutcome {
                    ok: false,
                    summary: sanitize::line(&summary),
                    response,
                };
                return Ok(ActionResult {
                    outcome,
                    incident: None,
                    dead_letter: Some(letter),
                });
            }
            let state = if action.kind == ActionKind::Discard {
                DeadLetterState::Discarded
            } else {
                DeadLetterState::Replayed
            };
            memory.handled.insert(action.target.clone(), state);
            letter.state = state;
            letter.updated_at = Utc::now();
            let summary = match state {
                DeadLetterState::Discarded => format!("discarded from {dlq}"),
                _ => format!(
                    "confirmed by the broker: published to exchange {exchange:?} key {routing_key:?}"
                ),
            };
            let outcome = ActionOutcome {
                ok: true,
                summary: sanitize::line(&summary),
                response,
            };
            return Ok(ActionResult {
                outcome,
                incident: None,
                dead_letter: Some(letter),
            });
        }
        let previous = memory.last_seen(&action.target);
        if previous.is_some() {
            // Seen at the last browse: it may be on its way back to the queue (a requeue after a
            // dropped connection); transient, so the outbox retries.
            return Err(UpstreamError::Status {
                upstream: self.id.clone(),
                method: "AMQP".to_string(),
                url: "dead-letter queue".to_string(),
                status: 503,
                message: format!(
                    "dead letter {} was not found in its DLQ now; will retry",
                    action.target
                ),
                retry_after: Some(2),
            });
        }
        let outcome = ActionOutcome {
            ok: false,
            summary: sanitize::line(&format!(
                "dead letter {} is no longer in the dead-letter queue",
                action.target
            )),
            response: serde_json::json!({ "found": false }),
        };
        Ok(ActionResult {
            outcome,
            incident: None,
            dead_letter: previous,
        })
    }

    /// Replays every message of `connector`'s DLQ (as deep as it was when the pass began) to its
    /// origin, pipelined with many confirms outstanding; each carries `x-triage-replay-id` =
    /// `<key>:<message id>`. Unroutable ones stay in the DLQ (`PassReport::unroutable`).
    pub async fn replay_all(
        &self,
        connector: &str,
        operator: &str,
        key: &str,
    ) -> Result<PassReport, UpstreamError> {
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
        let mut memory = self.memory.lock().await;
        let mut replayed = Vec::new();
        let report = self
            .broker
            .cycle(&dlq, |_, payload, properties| {
                let id = message::message_key(payload, properties);
                let (exchange, routing_key) = destination(&binding, properties);
                let properties =
                    message::replay_properties(properties, operator, &format!("{key}:{id}"));
                replayed.push(id);
                Fate::Replay {
                    exchange,
                    routing_key,
                    payload: payload.to_vec(),
                    properties,
                }
            })
            .await?;
        for (index, id) in replayed.into_iter().enumerate() {
            if !report.unroutable.contains(&index) {
                memory.handled.insert(id, DeadLetterState::Replayed);
            }
        }
        Ok(report)
    }

    /// The dead-letter queue bound to `connector` (explicit or derived), if any.
    pub async fn dead_letter_queue_of(
        &self,
        connector: &str,
    ) -> Result<Option<String>, UpstreamError> {
        let binding = self.binding(connector)?.clone();
        self.dead_letter_queue(&binding, None).await
    }
}
