//! One pass over one DLQ, shared by browsing and by the outbox's replays/discards: every message
//! is read in order, given its identity (its stamp, else its content; twins get a stamp), attributed to the connector it
//! died from (its own `x-death` origin: several work queues often share one DLQ), and — for the
//! selected ones — replayed or discarded in the pass's transactions (`amqp::hold`). When another
//! client consumes the DLQ, the pass does not hold it: it reads the head (`PEEK_LIMIT` messages,
//! put back in place) and says so, and changes nothing.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use lapin::BasicProperties;

use super::amqp::{Fate, HoldError, HoldReport};
use super::message::{self, DeathRecord};
use super::{QueueBinding, RabbitMq};
use crate::domain::{
    Action, ActionKind, DeadLetter, DeadLetterState, ReplayDestination, Timestamp,
};
use crate::upstream::UpstreamError;

/// Selections from which a pass rewrites the DLQ instead of acking each change on its own: a
/// single ack costs the broker a walk over the unacknowledged messages before it (≈ the DLQ's
/// depth / 2 held), a rewrite one publish per message.
pub const REWRITE_FROM: usize = 500;

/// Messages read from the head of a DLQ another client consumes.
pub const PEEK_LIMIT: usize = 500;

/// One replay or discard to apply during a pass.
#[derive(Debug, Clone)]
pub struct Selection {
    /// `Replay` or `Discard` of the dead letter `action.target` (its triage identity).
    pub action: Action,
    /// Sent as `x-triage-replay-id` on a replay.
    pub idempotency_key: String,
}

/// Where the pass sent one selected message.
#[derive(Debug, Clone)]
pub(super) struct Hit {
    pub index: usize,
    pub exchange: String,
    pub routing_key: String,
}

/// What one pass over one DLQ saw and did.
pub(super) struct QueuePass {
    pub dlq: String,
    /// Every message seen, in DLQ order, with its identity; changed ones carry their new state
    /// once their transaction committed.
    pub letters: Vec<DeadLetter>,
    /// False when only the head was read (another consumer): absent letters are not gone.
    pub complete: bool,
    /// Selection number → the message it found.
    pub hits: HashMap<usize, Hit>,
    /// Selection numbers whose change was committed.
    pub done: HashSet<usize>,
    /// Selection numbers whose commit got no answer (the next pass tells what happened).
    pub uncertain: HashSet<usize>,
    /// Selection numbers the broker could not route (kept in the DLQ).
    pub unroutable: HashSet<usize>,
    /// Why nothing could be changed (another consumer), in words for the operator.
    pub held_off: Option<String>,
    /// The pass failed after these results; what is not in `done` must be retried.
    pub error: Option<UpstreamError>,
    /// Messages whose identity was already taken in this DLQ (copies made outside triage): they
    /// were given new ones.
    pub restamped: usize,
    pub report: HoldReport,
}

/// What the pass decided for one message, by index.
enum Decision {
    Keep,
    /// Its identity was taken (a byte-identical twin, a copy made outside triage, the content of a
    /// letter triage already handled): moved to the tail with a stamp of its own.
    Stamp,
    /// After a stamped move in this pass: moved too, as it is, so the moved block keeps its order.
    Follow,
    Selected(usize),
    Leftover,
    /// The copy of a message read earlier in this pass, left by a move whose acks may not have
    /// been committed (`amqp::hold`): dropped, not listed.
    Duplicate,
}

impl QueuePass {
    /// What the operator should know about this read of the DLQ, if anything: another consumer
    /// held it off, or messages kept arriving faster than the pass could read them.
    pub fn remark(&self) -> Option<String> {
        self.held_off.clone().or_else(|| {
            self.report.arrivals_cut.then(|| {
                format!(
                    "{} kept receiving while triage read it ({} arrivals read, more coming): the \
                     newest may stand out of their order until a quieter pass",
                    self.dlq, self.report.arrivals
                )
            })
        })
    }
}

impl RabbitMq {
    /// The connector a message belongs to: the binding whose work queue it last died in, else
    /// the DLQ itself (`dlq:<name>`), with the reason added to its error.
    pub(super) fn attribute(
        &self,
        dlq: &str,
        properties: &BasicProperties,
    ) -> (String, Option<String>) {
        match message::origin_queue(properties) {
            Some(origin) => match self.bindings.iter().find(|b| b.queue == origin) {
                Some(binding) => (binding.connector.clone(), None),
                None => (
                    format!("dlq:{dlq}"),
                    Some(format!("no connector is bound to queue {origin}")),
                ),
            },
            None => (format!("dlq:{dlq}"), None),
        }
    }

    /// Reads `dlq` whole (or its head, when another client consumes it: the exclusive consume is
    /// refused) and applies
    /// `selections`. `leftovers` are identities triage already replayed or discarded: found again
    /// (a change whose acknowledgement a broker crash lost), stamped ones are removed; a content
    /// identity found again is removed only when `receipt_passes` names, as the pass that handled
    /// it, a pass still unsettled (`unconfirmed`: its acks may not have been committed) —
    /// otherwise it is a new message with the same bytes, and gets a stamp.
    pub(super) async fn pass_over(
        &self,
        dlq: &str,
        selections: &[Selection],
        leftovers: &HashMap<String, DeadLetterState>,
        receipt_passes: &HashMap<String, String>,
        unconfirmed: &HashSet<String>,
        restore_ttl: bool,
    ) -> Result<QueuePass, UpstreamError> {
        let now = Utc::now();
        let mut pass = QueuePass {
            dlq: dlq.to_string(),
            letters: Vec::new(),
            complete: true,
            hits: HashMap::new(),
            done: HashSet::new(),
            uncertain: HashSet::new(),
            unroutable: HashSet::new(),
            held_off: None,
            error: None,
            restamped: 0,
            report: HoldReport::default(),
        };
        {
            let mut by_target: HashMap<&str, usize> = HashMap::new();
            for (number, selection) in selections.iter().enumerate() {
                by_target
                    .entry(selection.action.target.as_str())
                    .or_insert(number);
            }
            let mut seen: HashSet<String> = HashSet::new();
            let mut decisions: Vec<Decision> = Vec::new();
            let mut moving = false;
            // Many changes in one pass: rewriting the DLQ is cheaper for the broker than
            // thousands of single acks among the messages it holds (`amqp::hold`).
            let rewrite = selections.len() >= REWRITE_FROM;
            let receipts = match selections.is_empty() {
                true => None,
                false => self.broker.ensure_receipts(dlq).await,
            };
            // `unconfirmed`: passes whose copies may stand beside their originals (read with the
            // receipts, `learn_receipts`); and how many messages read so far (not such copies)
            // have each copy digest.
            let mut originals: HashMap<String, usize> = HashMap::new();
            let held = self
                .broker
                .hold_pass_noting(
                    dlq,
                    receipts.as_deref(),
                    rewrite,
                    |index, payload, properties| {
                        if !unconfirmed.is_empty() {
                            let digest = message::copy_digest(payload, properties);
                            let copy = message::moved_by(properties)
                                .is_some_and(|(by, _)| unconfirmed.contains(&by));
                            match originals.get_mut(&digest) {
                                Some(n) if copy && *n > 0 => {
                                    *n -= 1;
                                    let id = message::identity(payload, properties);
                                    pass.letters
                                        .push(self.letter(dlq, &id, payload, properties, now));
                                    decisions.push(Decision::Duplicate);
                                    return Fate::Drop;
                                }
                                _ if copy => {}
                                _ => *originals.entry(digest).or_default() += 1,
                            }
                        }
                        let selected_or = |id: &str, otherwise: Decision| match by_target.get(id) {
                            Some(&n) if !pass.hits.contains_key(&n) => Decision::Selected(n),
                            _ => otherwise,
                        };
                        let (id, decision) = match message::stamp(properties) {
                            Some(stamp) if seen.contains(&stamp) => {
                                pass.restamped += 1;
                                (message::new_stamp(), Decision::Stamp)
                            }
                            Some(stamp) => {
                                let otherwise = match () {
                                    _ if leftovers.contains_key(&stamp) => Decision::Leftover,
                                    _ if moving => Decision::Follow,
                                    _ => Decision::Keep,
                                };
                                (stamp.clone(), selected_or(&stamp, otherwise))
                            }
                            None => {
                                // Unstamped: its content is its identity, unless a message read
                                // earlier in this pass (a byte-identical twin) has it, or triage
                                // already replayed or discarded a message that had it: then this
                                // one is another message and gets a stamp of its own.
                                let content = message::content_id(payload, properties);
                                let unsettled_leftover = !seen.contains(&content)
                                    && leftovers.contains_key(&content)
                                    && receipt_passes
                                        .get(&content)
                                        .is_some_and(|p| unconfirmed.contains(p));
                                if unsettled_leftover {
                                    (content.clone(), Decision::Leftover)
                                } else if seen.contains(&content)
                                    || leftovers.contains_key(&content)
                                {
                                    (message::new_stamp(), Decision::Stamp)
                                } else {
                                    let otherwise = match moving {
                                        true => Decision::Follow,
                                        false => Decision::Keep,
                                    };
                                    (content.clone(), selected_or(&content, otherwise))
                                }
                            }
                        };
                        seen.insert(id.clone());
                        moving |= matches!(decision, Decision::Stamp);
                        let letter = self.letter(dlq, &id, payload, properties, now);
                        let fate = match &decision {
                            Decision::Keep => Fate::Keep,
                            Decision::Follow => Fate::Move {
                                properties: properties.clone(),
                            },
                            Decision::Stamp => Fate::Move {
                                properties: message::stamped(properties, &id),
                            },
                            // Its receipt (of the pass that replayed or discarded it) already
                            // says what triage did: a second one, `discarded`, would hide a
                            // replay's receipt from the retry of that replay.
                            Decision::Leftover => Fate::Drop,
                            Decision::Duplicate => Fate::Drop,
                            Decision::Selected(n) => {
                                let selection = &selections[*n];
                                let target = replay_target(
                                    selection.action.destination.as_deref(),
                                    self.sole_queue(dlq),
                                    properties,
                                );
                                let (exchange, routing_key) = target.clone().unwrap_or_default();
                                pass.hits.insert(
                                    *n,
                                    Hit {
                                        index,
                                        exchange: exchange.clone(),
                                        routing_key: routing_key.clone(),
                                    },
                                );
                                match (selection.action.kind, target) {
                                    (ActionKind::Discard, _) => Fate::Discard,
                                    (_, None) => {
                                        pass.unroutable.insert(*n);
                                        Fate::Keep
                                    }
                                    (_, Some(_)) => Fate::Replay {
                                        exchange,
                                        routing_key,
                                        payload: selection
                                            .action
                                            .payload
                                            .clone()
                                            .unwrap_or_else(|| payload.to_vec()),
                                        properties: message::replay_properties(
                                            properties,
                                            &selection.action.operator,
                                            &selection.idempotency_key,
                                            restore_ttl && !selection.action.drop_ttl,
                                        ),
                                        identity: id.clone(),
                                    },
                                }
                            }
                        };
                        pass.letters.push(letter);
                        decisions.push(decision);
                        fate
                    },
                )
                .await;
            let report = match held {
                Ok(report) => report,
                Err(HoldError::Failed { error, report }) => {
                    pass.error = Some(error);
                    *report
                }
                Err(HoldError::OtherConsumers { message, .. }) => {
                    return self
                        .peek_pass(dlq, pass, leftovers, Some(message), now)
                        .await;
                }
            };
            self.settle(&mut pass, &decisions, &report, selections);
            pass.report = report;
            Ok(pass)
        }
    }

    /// Marks what the hold pass committed: selected letters get their new state.
    fn settle(
        &self,
        pass: &mut QueuePass,
        decisions: &[Decision],
        report: &HoldReport,
        selections: &[Selection],
    ) {
        let committed: HashSet<usize> = report.committed.iter().copied().collect();
        let uncertain: HashSet<usize> = report.uncertain.iter().copied().collect();
        let unroutable: HashSet<usize> = report.unroutable.iter().copied().collect();
        let now = Utc::now();
        for (index, decision) in decisions.iter().enumerate() {
            let Decision::Selected(n) = decision else {
                continue;
            };
            if pass.hits.get(n).is_none_or(|hit| hit.index != index) {
                continue;
            }
            if unroutable.contains(&index) {
                pass.unroutable.insert(*n);
            } else if pass.unroutable.contains(n) {
                // No destination: it was kept (moved in order by a rewriting pass), not replayed.
            } else if committed.contains(&index) {
                pass.done.insert(*n);
                if let Some(letter) = pass.letters.get_mut(index) {
                    letter.state = match selections[*n].action.kind {
                        ActionKind::Discard => DeadLetterState::Discarded,
                        _ => DeadLetterState::Replayed,
                    };
                    letter.updated_at = now;
                }
            } else if uncertain.contains(&index) {
                pass.uncertain.insert(*n);
            }
        }
        // Leftovers removed and letters whose stamping did not commit are not in the DLQ as
        // listed: drop the leftovers from the view; keep the rest (they are there, unstamped,
        // and will be stamped by the next pass).
        let leftover_done: HashSet<usize> = decisions
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                matches!(d, Decision::Duplicate)
                    || matches!(d, Decision::Leftover) && committed.contains(i)
            })
            .map(|(i, _)| i)
            .collect();
        if !leftover_done.is_empty() {
            let letters = std::mem::take(&mut pass.letters);
            pass.letters = letters
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !leftover_done.contains(i))
                .map(|(_, l)| l)
                .collect();
        }
        let stamped_everything = decisions.iter().enumerate().all(|(i, d)| {
            !matches!(d, Decision::Stamp | Decision::Follow) || committed.contains(&i)
        });
        pass.complete =
            pass.error.is_none() && stamped_everything && report.visited >= report.depth_at_start;
    }

    /// The head of `dlq` without holding it: identities as a hold pass would give them (stamp,
    /// else content identity), except for messages a hold pass would stamp — a twin of one read
    /// before, or one with the content of a letter triage already handled — which get a
    /// provisional one (`~` + content identity + `.2`…) that no action accepts.
    async fn peek_pass(
        &self,
        dlq: &str,
        mut pass: QueuePass,
        leftovers: &HashMap<String, DeadLetterState>,
        refused: Option<String>,
        now: Timestamp,
    ) -> Result<QueuePass, UpstreamError> {
        // A quorum queue puts what a reader hands back behind the rest (RabbitMQ 3.10): reading
        // its head without holding it all would rotate it. Say so and read nothing.
        let quorum = self
            .management
            .queues()
            .await?
            .get(dlq)
            .is_some_and(|q| q.kind == "quorum");
        if quorum {
            pass.complete = false;
            pass.held_off = Some(format!(
                "{dlq} has another consumer and is a quorum queue, which reading its head would \
                 reorder: triage shows its counts only; replay and discard wait until it detaches"
            ));
            return Ok(pass);
        }
        let messages = self.broker.peek(dlq, PEEK_LIMIT).await?;
        let mut twins: HashMap<String, usize> = HashMap::new();
        for (payload, properties) in &messages {
            let id = message::stamp(properties).unwrap_or_else(|| {
                let content = message::content_id(payload, properties);
                let n = twins.entry(content.clone()).or_insert(0);
                *n += 1;
                match *n {
                    1 if !leftovers.contains_key(&content) => content,
                    k => format!("~{content}.{k}"),
                }
            });
            pass.letters
                .push(self.letter(dlq, &id, payload, properties, now));
        }
        pass.complete = false;
        pass.held_off = Some(other_consumer_text(dlq, messages.len(), refused.as_deref()));
        Ok(pass)
    }

    fn letter(
        &self,
        dlq: &str,
        id: &str,
        payload: &[u8],
        properties: &BasicProperties,
        now: Timestamp,
    ) -> DeadLetter {
        let (connector, why) = self.attribute(dlq, properties);
        let mut letter = message::dead_letter(&self.id, id, &connector, payload, properties, now);
        if let Some(why) = why {
            letter.error.message = format!("{} ({why})", letter.error.message);
        }
        letter
    }

    /// The work queue of the only connector dead-lettering into `dlq`, if exactly one does.
    pub(super) fn sole_queue(&self, dlq: &str) -> Option<&str> {
        let mut bound = self
            .bindings
            .iter()
            .filter(|b| self.known_dlq(b).as_deref() == Some(dlq));
        match (bound.next(), bound.next()) {
            (Some(only), None) => Some(only.queue.as_str()),
            _ => None,
        }
    }

    fn known_dlq(&self, binding: &QueueBinding) -> Option<String> {
        binding.dead_letter_queue.clone().or_else(|| {
            self.resolved_dlqs
                .lock()
                .ok()
                .and_then(|m| m.get(&binding.connector).cloned())
        })
    }
}

/// "ops.dlq has another consumer: showing the first 500 without touching order …"
pub fn other_consumer_text(dlq: &str, shown: usize, refused: Option<&str>) -> String {
    let why = refused.map_or(String::new(), |r| {
        format!(" (exclusive consume refused: {r})")
    });
    format!(
        "{dlq} has another consumer: showing the first {shown} without touching order; replay \
         and discard wait until it detaches{why}"
    )
}

/// Where a replay of this message goes: the operator's choice (`ReplayDestination`), else its
/// latest `x-death` origin; without `x-death`, the work queue of the DLQ's only connector; else
/// nowhere known (also for `first-origin` without `x-death`, or a choice that does not parse).
pub(super) fn replay_target(
    chosen: Option<&str>,
    sole_queue: Option<&str>,
    properties: &BasicProperties,
) -> Option<(String, String)> {
    match chosen.map(ReplayDestination::parse) {
        None => destination(sole_queue, properties),
        Some(Ok(ReplayDestination::FirstOrigin)) => {
            message::deaths(properties).last().map(DeathRecord::origin)
        }
        Some(Ok(ReplayDestination::Queue(queue))) => Some((String::new(), queue)),
        Some(Ok(ReplayDestination::Exchange { name, routing_key })) => Some((name, routing_key)),
        Some(Err(_)) => None,
    }
}

/// Where a replay of this message goes: its latest `x-death` origin; without `x-death`, the work
/// queue of the DLQ's only connector; else nowhere known.
pub(super) fn destination(
    sole_queue: Option<&str>,
    properties: &BasicProperties,
) -> Option<(String, String)> {
    match message::deaths(properties).first() {
        Some(death) => Some(DeathRecord::origin(death)),
        None => sole_queue.map(|queue| (String::new(), queue.to_string())),
    }
}
