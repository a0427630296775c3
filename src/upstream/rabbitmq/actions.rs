//! Replay and discard of dead letters. The outbox's replays and discards for this upstream come
//! as one batch, served with ONE browse-and-apply pass per connector's DLQ (`browse_apply`): the
//! chosen messages are republished byte-exact to their origin (from `x-death`) with
//! `x-triage-replayed-by`/`x-triage-replay-id` (= each action's idempotency key), or dropped;
//! every other message keeps its place. A single `perform` is a batch of one. Bulk replay
//! (`replay_all`) sends a whole DLQ back in one pipelined pass.

use std::collections::{HashMap, HashSet};

use lapin::BasicProperties;

use super::amqp::{Fate, PassReport};
use super::browse_apply::Selection;
use super::message::{self, DeathRecord};
use super::snapshot::BrowseMemory;
use super::{QueueBinding, RabbitMq};
use crate::domain::{Action, ActionKind, ActionOutcome, DeadLetter, DeadLetterState, sanitize};
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

/// "Already done by triage": answered from memory, without a pass.
fn already(done: DeadLetterState, key: &str) -> ActionResult {
    let outcome = ActionOutcome {
        ok: true,
        summary: format!("already {} by triage", done.as_str()),
        response: serde_json::json!({ "state": done.as_str(), "replay_id": key }),
    };
    ActionResult {
        outcome,
        incident: None,
        dead_letter: None,
    }
}

impl RabbitMq {
    /// Replays or discards dead letters (`(action, idempotency key)`, targets = message id or
    /// fingerprint): one answer per action, in order. Targets already handled by triage are
    /// answered from memory; the others are grouped by the connector whose DLQ held them at the
    /// last browse, each group served by one pass over that DLQ; targets never browsed are looked
    /// for in every connector's DLQ in turn (riding along the passes made anyway). Two actions on
    /// one target are served one after the other (the second then finds it already handled).
    pub(super) async fn act_on_dead_letters(
        &self,
        actions: &[(Action, String)],
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        let mut answers: Vec<Result<ActionResult, UpstreamError>> = actions
            .iter()
            .map(|(action, _)| {
                Err(UpstreamError::Unsupported {
                    upstream: self.id.clone(),
                    message: format!(
                        "RabbitMQ has no incidents: {} is not available here",
                        action.kind.as_str()
                    ),
                })
            })
            .collect();
        let mut open: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, (action, _))| {
                matches!(action.kind, ActionKind::Replay | ActionKind::Discard)
            })
            .map(|(index, _)| index)
            .collect();
        let mut memory = self.memory.lock().await;
        while !open.is_empty() {
            let mut targets = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = open
                .into_iter()
                .partition(|&i| targets.insert(actions[i].0.target.clone()));
            self.serve_round(&mut memory, actions, &round, &mut answers)
                .await;
            open = later;
        }
        answers
    }

    /// Serves actions on distinct targets (`round` = their indexes in `actions`) into `answers`.
    async fn serve_round(
        &self,
        memory: &mut BrowseMemory,
        actions: &[(Action, String)],
        round: &[usize],
        answers: &mut [Result<ActionResult, UpstreamError>],
    ) {
        let mut known: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unknown: Vec<usize> = Vec::new();
        // What the last browse saw, taken before a pass refreshes it.
        let mut previous: HashMap<usize, DeadLetter> = HashMap::new();
        for &i in round {
            let (action, key) = &actions[i];
            if let Some(done) = memory.handled.get(&action.target).copied() {
                answers[i] = Ok(already(done, key));
                continue;
            }
            if let Some(letter) = memory.last_seen(&action.target) {
                previous.insert(i, letter);
            }
            match memory.connector_of(&action.target) {
                Some(connector) => match self.binding(&connector) {
                    Ok(_) => known.entry(connector).or_default().push(i),
                    Err(e) => answers[i] = Err(e),
                },
                None => unknown.push(i),
            }
        }
        let mut missing: Vec<usize> = Vec::new();
        for binding in &self.bindings {
            let mut group = known.remove(&binding.connector).unwrap_or_default();
            let own = group.len();
            group.extend(unknown.iter().copied());
            if group.is_empty() {
                continue;
            }
            let dlq = match self.dead_letter_queue(binding, None).await {
                Ok(Some(dlq)) => dlq,
                Ok(None) => {
                    missing.extend(group.iter().take(own));
                    continue;
                }
                Err(e) => {
                    for &i in &group {
                        answers[i] = Err(e.clone());
                    }
                    unknown.clear();
                    continue;
                }
            };
            let selections: Vec<Selection> = group
                .iter()
                .map(|&i| Selection {
                    action: actions[i].0.clone(),
                    idempotency_key: actions[i].1.clone(),
                })
                .collect();
            match self
                .apply_pass(memory, binding, &dlq, &selections, false)
                .await
            {
                Err(e) => {
                    for &i in &group {
                        answers[i] = Err(e.clone());
                    }
                    unknown.clear();
                }
                Ok(pass) => {
                    let mut still_unknown = Vec::new();
                    let served = pass.found.into_iter().zip(pass.outcomes);
                    for (number, (&i, (found, (_, outcome)))) in
                        group.iter().zip(served).enumerate()
                    {
                        match found {
                            Some(letter) => {
                                answers[i] = Ok(ActionResult {
                                    outcome,
                                    incident: None,
                                    dead_letter: Some(letter),
                                });
                            }
                            None if number < own => missing.push(i),
                            None => still_unknown.push(i),
                        }
                    }
                    unknown = still_unknown;
                }
            }
        }
        missing.extend(unknown);
        for i in missing {
            answers[i] = self.not_found(&actions[i].0.target, previous.remove(&i));
        }
    }

    /// A target no pass found: transient when the last browse saw it (it may be on its way back
    /// to the queue, a requeue after a dropped connection), else gone for good (not ok).
    fn not_found(
        &self,
        target: &str,
        previous: Option<DeadLetter>,
    ) -> Result<ActionResult, UpstreamError> {
        if previous.is_some() {
            return Err(UpstreamError::Status {
                upstream: self.id.clone(),
                method: "AMQP".to_string(),
                url: "dead-letter queue".to_string(),
                status: 503,
                message: format!("dead letter {target} was not found in its DLQ now; will retry"),
                retry_after: Some(2),
            });
        }
        let outcome = ActionOutcome {
            ok: false,
            summary: sanitize::line(&format!(
                "dead letter {target} is no longer in the dead-letter queue"
            )),
            response: serde_json::json!({ "found": false }),
        };
        Ok(ActionResult {
            outcome,
            incident: None,
            dead_letter: None,
        })
    }

    /// The DLQ of `binding`, or why there is none.
    pub(super) async fn required_dead_letter_queue(
        &self,
        binding: &QueueBinding,
    ) -> Result<String, UpstreamError> {
        self.dead_letter_queue(binding, None)
            .await?
            .ok_or_else(|| UpstreamError::Unsupported {
                upstream: self.id.clone(),
                message: format!(
                    "queue {} has no dead-letter queue (no x-dead-letter-exchange, none set)",
                    binding.queue
                ),
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
        let dlq = self.required_dead_letter_queue(&binding).await?;
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
