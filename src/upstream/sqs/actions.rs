//! Replay and discard. The outbox's replays and discards for this upstream come as one batch:
//! per DLQ, one receive pass finds the targets by `MessageId` (fresh receipt handles: a handle is
//! never kept from an earlier pass, so a stale one cannot act — or act on another message), the
//! replays are sent to their source queue (or `--to queue:NAME`) with `SendMessageBatch` (10 per
//! call, ≤ 256 KiB), and only the originals whose send succeeded are deleted with
//! `DeleteMessageBatch` — each after its receipt is written to the DLQ's receipts queue
//! (`receipts`); everything else is made visible again. A replay sent whose delete did not
//! happen is remembered (`Memory::sent`): its retry (same idempotency key) only deletes. A crash
//! between the send and the receipt sends again after a restart — a duplicate carrying the same
//! key (`x-triage-replay-id`; on FIFO queues the same deduplication id, which SQS drops within 5
//! minutes) — never a loss; a crash after the delete is answered by the receipt ("already
//! replayed", nothing sent again). A handle older than half the visibility timeout is not used:
//! the action waits for the next pass, which re-finds the message by its id.

use std::collections::{HashMap, HashSet};

use super::batches::SendFailure;
use super::memory::Memory;
use super::message::{Origin, Received, ReplayEntry};
use super::queues::{DeadLetterQueue, Topology};
use super::receipts::{Receipt, ReceiptsRead};
use super::{FaultPoint, Sqs};
use crate::domain::{
    Action, ActionKind, ActionOutcome, DeadLetterState, ReplayDestination, sanitize,
};
use crate::upstream::answers::already_handled;
use crate::upstream::run_batch::RunBatch;
use crate::upstream::{ActionResult, UpstreamError};

pub(super) type Answer = Result<ActionResult, UpstreamError>;

pub(super) fn answered(ok: bool, summary: String, response: serde_json::Value) -> ActionResult {
    ActionResult {
        outcome: ActionOutcome {
            ok,
            summary: sanitize::line(&summary),
            response,
        },
        incident: None,
        dead_letter: None,
        letter_state: None,
    }
}

/// The actions one DLQ serves: the batch, and the indexes of those that are its own.
#[derive(Clone, Copy)]
struct Share<'a> {
    actions: &'a [(Action, String)],
    group: &'a [usize],
}

/// A found target on its way: the action's index, the message, and (replays) where it goes.
struct Found {
    index: usize,
    message: Received,
    destination: Option<(String, String)>,
}

impl Sqs {
    /// Replays or discards dead letters (targets = MessageIds): one answer per action, in order.
    /// Two actions on one target are served one after the other.
    pub(super) async fn act(
        &self,
        actions: &[(Action, String)],
        run: Option<&RunBatch>,
    ) -> Vec<Answer> {
        let mut answers: Vec<Answer> = actions
            .iter()
            .map(|(action, _)| {
                Err(UpstreamError::Unsupported {
                    upstream: self.id.clone(),
                    message: format!(
                        "SQS has no incidents: {} is not available here",
                        action.kind.as_str()
                    ),
                })
            })
            .collect();
        let mut open: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, (a, _))| matches!(a.kind, ActionKind::Replay | ActionKind::Discard))
            .map(|(i, _)| i)
            .collect();
        let mut memory = self.memory.lock().await;
        while !open.is_empty() {
            let mut targets = HashSet::new();
            let (round, later): (Vec<usize>, Vec<usize>) = open
                .into_iter()
                .partition(|&i| targets.insert(actions[i].0.target.clone()));
            self.serve_round(&mut memory, actions, &round, &mut answers, run)
                .await;
            open = later;
        }
        answers
    }

    async fn serve_round(
        &self,
        memory: &mut Memory,
        actions: &[(Action, String)],
        round: &[usize],
        answers: &mut [Answer],
        run: Option<&RunBatch>,
    ) {
        let mut known: HashMap<String, Vec<usize>> = HashMap::new();
        let mut unknown: Vec<usize> = Vec::new();
        for &i in round {
            let (action, key) = &actions[i];
            if let Some(done) = memory.handled.get(&action.target).copied() {
                answers[i] = Ok(already_handled(done, key, ""));
                continue;
            }
            match memory.live.get(&action.target) {
                Some(live) => known.entry(live.dlq.clone()).or_default().push(i),
                None => unknown.push(i),
            }
        }
        if known.is_empty() && unknown.is_empty() {
            return;
        }
        let topology = match self.topology().await {
            Ok(topology) => topology,
            Err(e) => {
                for i in known.into_values().flatten().chain(unknown) {
                    answers[i] = Err(e.clone());
                }
                return;
            }
        };
        let mut missing: Vec<usize> = Vec::new();
        let mut every_pass_complete = true;
        for (dlq, group) in &known {
            if topology.dlq(dlq).is_none() {
                missing.extend(group.iter().copied());
            }
        }
        for dlq in &topology.dlqs {
            let mut group = known.remove(&dlq.facts.name).unwrap_or_default();
            let own = group.len();
            group.extend(unknown.iter().copied());
            if group.is_empty() {
                continue;
            }
            let not_found = self
                .serve_dlq(
                    memory,
                    &topology,
                    dlq,
                    Share {
                        actions,
                        group: &group,
                    },
                    answers,
                    run,
                )
                .await;
            match not_found {
                Ok((not_found, complete)) => {
                    every_pass_complete &= complete;
                    let (mine, others): (Vec<usize>, Vec<usize>) = not_found
                        .into_iter()
                        .partition(|i| group.iter().position(|g| g == i).is_some_and(|p| p < own));
                    missing.extend(mine);
                    unknown = others;
                }
                Err(e) => {
                    for &i in &group {
                        answers[i] = Err(e.clone());
                    }
                    unknown.clear();
                }
            }
        }
        missing.extend(unknown);
        if missing.is_empty() {
            return;
        }
        // Gone from the DLQ — only a complete pass can tell: an earlier attempt (maybe of a
        // process that died before the outbox recorded its answer) may have left a receipt. A
        // letter a pass could not see may still be there (another consumer holds it, after a
        // delete a stale handle did not make): its receipt does not count yet.
        let receipts = if every_pass_complete {
            let wanted: HashSet<String> = missing
                .iter()
                .map(|&i| actions[i].0.target.clone())
                .collect();
            let dlqs: Vec<String> = topology.dlqs.iter().map(|d| d.facts.name.clone()).collect();
            self.read_receipts(&dlqs, &wanted).await
        } else {
            ReceiptsRead::default()
        };
        for i in missing {
            let (action, key) = &actions[i];
            let target = &action.target;
            let receipt = receipts
                .found
                .get(target)
                .and_then(|list| list.iter().rev().find(|r| r.answers(action.kind, key)));
            if let Some(done) = receipt.and_then(|r| r.state()) {
                let letter = memory.handled_now(target, done);
                let mut result = already_handled(
                    done,
                    key,
                    " (an earlier attempt's receipt: it is gone from the DLQ, and nothing was sent again)",
                );
                result.dead_letter = letter;
                answers[i] = Ok(result);
                continue;
            }
            answers[i] = if every_pass_complete && receipts.complete {
                memory.live.remove(target);
                Ok(answered(
                    false,
                    format!("dead letter {target} is no longer in the dead-letter queue"),
                    serde_json::json!({ "found": false }),
                ))
            } else {
                Err(UpstreamError::Status {
                    upstream: self.id.clone(),
                    method: "ReceiveMessage".to_string(),
                    url: self.endpoint.clone(),
                    status: 503,
                    message: if every_pass_complete {
                        format!(
                            "dead letter {target} is gone from the DLQ and its receipts could not all be read (another reader holds some); will retry"
                        )
                    } else {
                        format!(
                            "dead letter {target} was not found by a pass that could not see the whole DLQ (in flight with another consumer, delayed, or past the pass's bounds); will retry"
                        )
                    },
                    retry_after: Some(5),
                })
            };
        }
    }

    /// Serves `group` (indexes into `actions`) on one DLQ (`run`: a run's batch, for a move task). Returns the actions whose target the
    /// pass did not find, and whether the pass saw the whole DLQ.
    async fn serve_dlq(
        &self,
        memory: &mut Memory,
        topology: &Topology,
        dlq: &DeadLetterQueue,
        share: Share<'_>,
        answers: &mut [Answer],
        run: Option<&RunBatch>,
    ) -> Result<(Vec<usize>, bool), UpstreamError> {
        let Share { actions, group } = share;
        let url = dlq.facts.url.clone();
        let tried = self.try_move_task(memory, dlq, actions, group, run).await;
        if tried.is_none()
            && let Some(run) = run.filter(|r| r.whole)
        {
            // Handed over unpaced for a move that did not happen: never sent here at full
            // speed — back to the run, which paces them.
            for &i in group {
                answers[i] = self.not_moved(&dlq.facts.name, run);
            }
            return Ok((Vec::new(), false));
        }
        let outcome = tried.unwrap_or_default();
        let moved = outcome.moved;
        let targets: HashSet<String> = match &outcome.stopped {
            // The run stopped the move task: what it left stays in the DLQ (recalled or not
            // replayed, `left_by_stopped_move`).
            Some(_) => HashSet::new(),
            None => group
                .iter()
                .map(|&i| actions[i].0.target.clone())
                .filter(|t| !moved.contains(t))
                .collect(),
        };
        let pass = if targets.is_empty() {
            super::pass::Pass {
                messages: Vec::new(),
                complete: true,
            }
        } else {
            self.receive_pass(&url, dlq.facts.depth, Some(&targets))
                .await?
        };
        let (wanted, others): (Vec<Received>, Vec<Received>) = pass
            .messages
            .into_iter()
            .partition(|m| targets.contains(&m.message_id));
        self.release(&url, &others).await;
        let mut by_id: HashMap<String, Received> = wanted
            .into_iter()
            .map(|m| (m.message_id.clone(), m))
            .collect();
        let mut not_found = Vec::new();
        let mut found: Vec<Found> = Vec::new();
        let mut keep: Vec<Received> = Vec::new();
        let trust = self.visibility / 2;
        for &i in group {
            let (action, key) = &actions[i];
            if moved.contains(&action.target) {
                let letter = memory.handled_now(&action.target, DeadLetterState::Replayed);
                let mut result = answered(
                    true,
                    format!(
                        "moved back to its source queue by StartMessageMoveTask from {}",
                        dlq.facts.name
                    ),
                    serde_json::json!({ "state": "replayed", "replay_id": key, "move_task": true }),
                );
                result.dead_letter = letter;
                answers[i] = Ok(result);
                continue;
            }
            if let Some(how) = outcome.stopped {
                answers[i] = self.left_by_stopped_move(&dlq.facts.name, how, run);
                continue;
            }
            let Some(message) = by_id.remove(&action.target) else {
                not_found.push(i);
                continue;
            };
            if message.received_at.elapsed() > trust {
                // Not used, not even to release it: it comes back when its visibility ends.
                answers[i] = Err(self.stale(&action.target, trust));
                continue;
            }
            if action.kind == ActionKind::Discard || memory.sent.get(&action.target) == Some(key) {
                found.push(Found {
                    index: i,
                    message,
                    destination: None,
                });
                continue;
            }
            match self
                .destination(memory, topology, &dlq.facts.name, action, &message)
                .await
            {
                Ok(Ok(destination)) => found.push(Found {
                    index: i,
                    message,
                    destination: Some(destination),
                }),
                Ok(Err(refusal)) => {
                    answers[i] = Ok(answered(
                        false,
                        refusal,
                        serde_json::json!({ "found": true, "sent": false }),
                    ));
                    keep.push(message);
                }
                Err(e) => {
                    answers[i] = Err(e);
                    keep.push(message);
                }
            }
        }
        // Replays: send, grouped by destination.
        let mut sent_to: HashMap<usize, (String, String)> = HashMap::new();
        let mut by_destination: HashMap<(String, String), Vec<(usize, ReplayEntry)>> =
            HashMap::new();
        let mut deletable: Vec<Found> = Vec::new();
        for item in found {
            let Some((name, dest_url)) = item.destination.clone() else {
                deletable.push(item);
                continue;
            };
            let (action, key) = &actions[item.index];
            match ReplayEntry::new(
                &item.message,
                action.payload.as_deref(),
                key,
                name.ends_with(".fifo"),
            ) {
                Ok(entry) => {
                    by_destination
                        .entry((name, dest_url))
                        .or_default()
                        .push((item.index, entry));
                    deletable.push(item);
                }
                Err(refusal) => {
                    answers[item.index] = Ok(answered(
                        false,
                        refusal,
                        serde_json::json!({ "found": true, "sent": false }),
                    ));
                    keep.push(item.message);
                }
            }
        }
        let mut refused: HashSet<usize> = HashSet::new();
        for ((name, dest_url), entries) in by_destination {
            for (index, result) in self.send(&dest_url, entries).await {
                match result {
                    Ok(message_id) => {
                        memory
                            .sent
                            .insert(actions[index].0.target.clone(), actions[index].1.clone());
                        sent_to.insert(index, (name.clone(), message_id));
                    }
                    Err(SendFailure::Refused(why)) => {
                        answers[index] = Ok(answered(
                            false,
                            format!("{name} refused the replay: {why}"),
                            serde_json::json!({ "found": true, "sent": false, "queue": name }),
                        ));
                        refused.insert(index);
                    }
                    Err(SendFailure::Transient(e)) => {
                        answers[index] = Err(e);
                        refused.insert(index);
                    }
                }
            }
        }
        if !sent_to.is_empty() {
            self.fault(FaultPoint::AfterSend).await;
        }
        // Deletes: discards, and replays whose send succeeded — each after its receipt.
        let (deletable, unsent): (Vec<Found>, Vec<Found>) = deletable
            .into_iter()
            .partition(|f| !refused.contains(&f.index));
        keep.extend(unsent.into_iter().map(|f| f.message));
        let (deletable, unreceipted) = self
            .receipts_first(memory, &dlq.facts.name, actions, deletable, &sent_to)
            .await;
        for (item, error) in unreceipted {
            answers[item.index] = Err(error);
            keep.push(item.message);
        }
        // A handle that aged past trust while sending is not used: the retry (same key) finds
        // the message again by its id and only deletes it.
        let (deletable, stale): (Vec<Found>, Vec<Found>) = deletable
            .into_iter()
            .partition(|f| f.message.received_at.elapsed() <= trust);
        for item in stale {
            answers[item.index] = Err(self.stale(&actions[item.index].0.target, trust));
        }
        let messages: Vec<Received> = deletable.iter().map(|f| f.message.clone()).collect();
        let deleted = self.delete(&url, &messages).await;
        if deleted.iter().any(Result::is_ok) {
            self.fault(FaultPoint::AfterDelete).await;
        }
        for (item, result) in deletable.into_iter().zip(deleted) {
            let (action, key) = &actions[item.index];
            let target = &action.target;
            match result {
                Ok(()) => {
                    let state = if action.kind == ActionKind::Replay {
                        DeadLetterState::Replayed
                    } else {
                        DeadLetterState::Discarded
                    };
                    let letter = memory.handled_now(target, state).or_else(|| {
                        let now = chrono::Utc::now();
                        let live =
                            self.live_letter(memory, topology, &dlq.facts.name, &item.message, now);
                        Some(crate::domain::DeadLetter {
                            state,
                            ..live.letter
                        })
                    });
                    let mut result = match (action.kind, sent_to.get(&item.index)) {
                        (ActionKind::Replay, Some((queue, message_id))) => answered(
                            true,
                            format!("replayed to {queue} as {message_id}"),
                            serde_json::json!({ "queue": queue, "message_id": message_id, "replay_id": key }),
                        ),
                        (ActionKind::Replay, None) => answered(
                            true,
                            "replayed (sent by an earlier attempt with this key; now removed from the DLQ)".to_string(),
                            serde_json::json!({ "replay_id": key }),
                        ),
                        _ => answered(
                            true,
                            format!("discarded from {}", dlq.facts.name),
                            serde_json::json!({ "queue": dlq.facts.name }),
                        ),
                    };
                    result.dead_letter = letter;
                    answers[item.index] = Ok(result);
                }
                Err(e) => {
                    let sent =
                        sent_to.contains_key(&item.index) || memory.sent.contains_key(target);
                    answers[item.index] = Err(if sent {
                        self.busy(format!(
                            "{target} was replayed but removing it from {} failed ({e}); the retry only removes it",
                            dlq.facts.name
                        ))
                    } else {
                        e
                    });
                    keep.push(item.message);
                }
            }
        }
        self.release(&url, &keep).await;
        Ok((not_found, pass.complete))
    }

    /// Writes the receipt of each of `deletable` (discards, and replays sent now or by an
    /// earlier attempt) and returns those whose receipt is in — only they are deleted — and the
    /// others with their (transient) errors: they stay in the DLQ and their actions pending (a
    /// replay sent is remembered: the retry only writes the receipt and deletes). Without a
    /// receipts queue (the server refused it), everything goes on as it is.
    async fn receipts_first(
        &self,
        memory: &mut Memory,
        dlq: &str,
        actions: &[(Action, String)],
        deletable: Vec<Found>,
        sent_to: &HashMap<usize, (String, String)>,
    ) -> (Vec<Found>, Vec<(Found, UpstreamError)>) {
        if deletable.is_empty() {
            return (deletable, Vec::new());
        }
        let receipts_url = match self.receipts_url(memory, dlq).await {
            Ok(Some(url)) => url,
            Ok(None) => return (deletable, Vec::new()),
            Err(e) => {
                let unreceipted = deletable
                    .into_iter()
                    .map(|item| {
                        let error = self.unreceipted(memory, actions, item.index, &e);
                        (item, error)
                    })
                    .collect();
                return (Vec::new(), unreceipted);
            }
        };
        let receipts: Vec<(usize, Receipt)> = deletable
            .iter()
            .map(|item| {
                let (action, key) = &actions[item.index];
                let state = match action.kind {
                    ActionKind::Replay => DeadLetterState::Replayed,
                    _ => DeadLetterState::Discarded,
                };
                let mut receipt = Receipt::new(&action.target, state, key, dlq);
                if let Some((queue, message_id)) = sent_to.get(&item.index) {
                    receipt.queue = Some(queue.clone());
                    receipt.replay_message_id = Some(message_id.clone());
                }
                (item.index, receipt)
            })
            .collect();
        let failed = self.write_receipts(&receipts_url, receipts).await;
        if failed.is_empty() {
            return (deletable, Vec::new());
        }
        // The queue may have been deleted: found (or created) again next time.
        memory.receipts.remove(dlq);
        let mut written = Vec::new();
        let mut unreceipted = Vec::new();
        for item in deletable {
            match failed.get(&item.index) {
                Some(e) => {
                    let error = self.unreceipted(memory, actions, item.index, e);
                    unreceipted.push((item, error));
                }
                None => written.push(item),
            }
        }
        (written, unreceipted)
    }

    /// The transient error of an action whose receipt could not be written.
    fn unreceipted(
        &self,
        memory: &Memory,
        actions: &[(Action, String)],
        index: usize,
        error: &UpstreamError,
    ) -> UpstreamError {
        let target = &actions[index].0.target;
        if memory.sent.contains_key(target) {
            self.busy(format!(
                "{target} was replayed but its receipt could not be written ({error}); it stays in the DLQ until it is: the retry only writes the receipt and removes it"
            ))
        } else if error.is_transient() {
            error.clone()
        } else {
            self.busy(format!(
                "the receipt of {target} could not be written ({error}); it stays in the DLQ: will retry"
            ))
        }
    }

    /// A receipt handle too old to trust: the action waits for the next pass.
    fn stale(&self, target: &str, trust: std::time::Duration) -> UpstreamError {
        self.busy(format!(
            "the receipt handle of {target} is older than {trust:?} and may be stale; it is not used: the next pass finds the message again by its MessageId"
        ))
    }

    /// A transient refusal that the outbox retries soon.
    pub(super) fn busy(&self, message: String) -> UpstreamError {
        UpstreamError::Status {
            upstream: self.id.clone(),
            method: "SQS".to_string(),
            url: self.endpoint.clone(),
            status: 503,
            message,
            retry_after: Some(2),
        }
    }

    /// Where a replay goes: `--to queue:NAME`, else the source queue the letter died in.
    /// `Ok(Err(why))`: refused for good (no source known, not an SQS destination, no such queue).
    async fn destination(
        &self,
        memory: &Memory,
        topology: &Topology,
        dlq: &str,
        action: &Action,
        message: &Received,
    ) -> Result<Result<(String, String), String>, UpstreamError> {
        let origin = || -> Result<String, String> {
            if let Some(origin) = memory
                .live
                .get(&message.message_id)
                .and_then(|l| l.origin.clone())
            {
                return Ok(origin);
            }
            let sources = topology
                .dlq(dlq)
                .map(|d| d.sources.as_slice())
                .unwrap_or_default();
            match super::message::origin(message, dlq, sources, self.origin_attribute.as_deref()) {
                Origin::Queue { name, .. } => Ok(name),
                Origin::Unknown { why } => Err(format!(
                    "the source queue of {} is not known ({why}); replay it with --to queue:NAME",
                    message.message_id
                )),
            }
        };
        let name = match action.destination.as_deref().map(ReplayDestination::parse) {
            None | Some(Ok(ReplayDestination::FirstOrigin)) => match origin() {
                Ok(name) => name,
                Err(why) => return Ok(Err(why)),
            },
            Some(Ok(ReplayDestination::Queue(name))) => name,
            Some(Ok(ReplayDestination::Exchange { .. })) => {
                return Ok(Err(
                    "SQS has no exchanges: replay to a queue with --to queue:NAME".to_string(),
                ));
            }
            Some(Err(e)) => return Ok(Err(e)),
        };
        match self.queue_url(&name).await? {
            Some(url) => Ok(Ok((name, url))),
            None => Ok(Err(format!("destination queue {name} does not exist"))),
        }
    }
}
