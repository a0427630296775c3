//! Replay and discard of dead letters. The outbox's replays and discards for this upstream come
//! as one batch, served with ONE pass per DLQ (`pass`, `browse_apply`): the chosen messages are
//! republished byte-exact to their origin (from `x-death`) with `x-triage-replayed-by` /
//! `x-triage-replay-id` (= each action's idempotency key) and removed once confirmed, or
//! dropped; every other message keeps its place. A single `perform` is a batch of one. Bulk
//! replay (`replay_all`) sends a whole DLQ back in one pipelined pass.

use std::collections::{HashMap, HashSet};

use super::amqp::{Fate, PassReport};
use super::browse_apply::outcome;
use super::message;
use super::pass::{Selection, destination};
use super::snapshot::BrowseMemory;
use super::{QueueBinding, RabbitMq};
use crate::domain::{Action, ActionKind, ActionOutcome, DeadLetter, DeadLetterState, sanitize};
use crate::upstream::answers::already_handled;
use crate::upstream::{ActionResult, UpstreamError};

/// How long a redrive waits for the management API's size of its DLQ before it goes ahead
/// with the default prefetch.
const SIZE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl RabbitMq {
    /// Replays or discards dead letters (`(action, idempotency key)`, targets = triage
    /// identities): one answer per action, in order. Targets already handled by triage are
    /// answered from memory; the others are grouped by the DLQ that held them at the last browse,
    /// each group served by one pass over that DLQ; targets never browsed are looked for in every
    /// DLQ in turn. Two actions on one target are served one after the other (the second then
    /// finds it already handled).
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
        let mut previous: HashMap<usize, DeadLetter> = HashMap::new();
        for &i in round {
            let (action, key) = &actions[i];
            if let Some(done) = memory.handled.get(&action.target).copied() {
                answers[i] = Ok(already_handled(done, key, ""));
                continue;
            }
            if action.kind == ActionKind::Replay
                && memory.receipt_keys.get(&action.target) == Some(key)
            {
                // Its replay went out in a pass that failed before removing the original: the
                // original, found again, is a leftover.
                memory
                    .handled
                    .insert(action.target.clone(), DeadLetterState::Replayed);
                answers[i] = Ok(already_handled(
                    DeadLetterState::Replayed,
                    key,
                    " (an earlier attempt's receipt: its pass failed before removing the original)",
                ));
                continue;
            }
            if action.target.starts_with('~') {
                answers[i] = Ok(ActionResult {
                    outcome: ActionOutcome {
                        ok: false,
                        summary: sanitize::line(&format!(
                            "dead letter {} has no triage identity yet (its DLQ has another \
                             consumer, so triage only reads its head): detach that consumer and \
                             sync, then act on the id it gets",
                            action.target
                        )),
                        response: serde_json::json!({ "found": false, "provisional": true }),
                    },
                    incident: None,
                    dead_letter: None,
                    letter_state: None,
                });
                continue;
            }
            if let Some(letter) = memory.last_seen(&action.target) {
                previous.insert(i, letter);
            }
            match memory.queue_of(&action.target) {
                Some(dlq) => known.entry(dlq).or_default().push(i),
                None => unknown.push(i),
            }
        }
        let queues = match self.management.queues().await {
            Ok(queues) => queues,
            Err(e) => {
                for i in known.into_values().flatten().chain(unknown) {
                    answers[i] = Err(e.clone());
                }
                return;
            }
        };
        let mut dlqs: Vec<String> = Vec::new();
        for binding in &self.bindings {
            if let Ok(Some(dlq)) = self.dead_letter_queue(binding, Some(&queues)).await
                && !dlqs.contains(&dlq)
            {
                dlqs.push(dlq);
            }
        }
        let mut missing: Vec<usize> = known
            .iter()
            .filter(|(dlq, _)| !dlqs.contains(dlq))
            .flat_map(|(_, group)| group.iter().copied())
            .collect();
        for dlq in &dlqs {
            let mut group = known.remove(dlq).unwrap_or_default();
            let own = group.len();
            group.extend(unknown.iter().copied());
            if group.is_empty() {
                continue;
            }
            let selections: Vec<Selection> = group
                .iter()
                .map(|&i| Selection {
                    action: actions[i].0.clone(),
                    idempotency_key: actions[i].1.clone(),
                })
                .collect();
            let pass = match self.apply_to(memory, dlq, &selections).await {
                Ok(pass) => pass,
                Err(e) => {
                    for &i in &group {
                        answers[i] = Err(e.clone());
                    }
                    unknown.clear();
                    continue;
                }
            };
            let mut still_unknown = Vec::new();
            for (number, &i) in group.iter().enumerate() {
                let found = pass
                    .hits
                    .get(&number)
                    .and_then(|h| pass.letters.get(h.index));
                if let Some(held_off) = pass.held_off.as_ref().filter(|_| number < own) {
                    answers[i] = Err(UpstreamError::Status {
                        upstream: self.id.clone(),
                        method: "AMQP".to_string(),
                        url: dlq.clone(),
                        status: 503,
                        message: held_off.clone(),
                        retry_after: Some(30),
                    });
                } else if pass.done.contains(&number) || pass.unroutable.contains(&number) {
                    answers[i] = Ok(ActionResult {
                        outcome: outcome(&pass, number, &selections[number]),
                        incident: None,
                        dead_letter: found.cloned(),
                        letter_state: None,
                    });
                } else if let Some(error) = pass.error.clone().filter(|_| found.is_some()) {
                    answers[i] = Err(error);
                } else if let Some(error) = pass.error.clone().filter(|_| number < own) {
                    answers[i] = Err(error);
                } else if found.is_some() {
                    answers[i] = Err(UpstreamError::Status {
                        upstream: self.id.clone(),
                        method: "AMQP".to_string(),
                        url: dlq.clone(),
                        status: 503,
                        message: format!(
                            "{} was found but not changed; will retry",
                            actions[i].0.target
                        ),
                        retry_after: Some(2),
                    });
                } else if number < own {
                    missing.push(i);
                } else {
                    still_unknown.push(i);
                }
            }
            unknown = still_unknown;
        }
        missing.extend(unknown);
        // Receipts of earlier passes (maybe of a process that died before recording them).
        let mut receipts = Vec::new();
        // Receipts that could not be read leave a target without one undecided (retried), not
        // judged gone: its receipt may be among them.
        let mut unread = None;
        if !missing.is_empty() {
            for dlq in &dlqs {
                match self.broker.receipts(dlq).await {
                    Ok(found) => receipts.extend(found),
                    Err(e) => unread = Some(e),
                }
            }
        }
        let receipts = super::amqp::settled(&receipts);
        for i in missing {
            let (action, key) = &actions[i];
            let receipt = receipts
                .get(action.target.as_str())
                .filter(|r| match action.kind {
                    ActionKind::Replay => r.key.as_deref() == Some(key.as_str()),
                    _ => r.state == "discarded",
                });
            answers[i] = match (memory.uncertain.remove(&action.target), receipt) {
                (Some(done), _) => Ok(already_handled(
                    done,
                    key,
                    " (the broker's answer to that commit was lost; it is gone from the DLQ)",
                )),
                (None, Some(receipt)) => {
                    let done = if receipt.state == "discarded" {
                        DeadLetterState::Discarded
                    } else {
                        DeadLetterState::Replayed
                    };
                    memory.handled.insert(action.target.clone(), done);
                    Ok(already_handled(
                        done,
                        key,
                        " (an earlier attempt's receipt: its process stopped before recording it)",
                    ))
                }
                (None, None) => match &unread {
                    Some(e) => Err(e.clone()),
                    None => self.not_found(&action.target, previous.remove(&i)),
                },
            };
        }
    }

    /// A target no pass found: transient when the last browse saw it (it may be on its way back
    /// to the queue), else gone for good (not ok).
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
            letter_state: None,
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
        let average_body = self.average_message_bytes(&dlq).await;
        let mut memory = self.memory.lock().await;
        let mut replayed = Vec::new();
        let report = self
            .broker
            .cycle(&dlq, average_body, |_, payload, properties| {
                let id = message::identity(payload, properties);
                let (exchange, routing_key) = destination(Some(&binding.queue), properties)
                    .unwrap_or_else(|| (String::new(), binding.queue.clone()));
                let properties =
                    message::replay_properties(properties, operator, &format!("{key}:{id}"), true);
                replayed.push(id.clone());
                Fate::Replay {
                    exchange,
                    routing_key,
                    payload: payload.to_vec(),
                    properties,
                    identity: id,
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

    /// The average body of `queue`'s messages as the broker counts them, which sizes a
    /// redrive's prefetch ([`amqp::prefetch_for`](super::amqp::prefetch_for)); `None` when the
    /// queue is empty or the management API does not answer within [`SIZE_WAIT`] (the default
    /// prefetch then: a slow management API never holds a redrive back).
    pub async fn average_message_bytes(&self, queue: &str) -> Option<u64> {
        match tokio::time::timeout(SIZE_WAIT, self.management.average_message_bytes(queue)).await {
            Ok(Ok(average)) => average,
            Ok(Err(error)) => {
                tracing::debug!(upstream = %self.id, "size of {queue:?} unknown: {error}");
                None
            }
            Err(_) => {
                tracing::debug!(upstream = %self.id, "size of {queue:?} unknown: no answer in {SIZE_WAIT:?}");
                None
            }
        }
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
