//! Browse and act in ONE pass over a DLQ (`pass`): every message is read (in order) as a dead
//! letter, and the selected ones are replayed to their `x-death` origin or discarded in the
//! pass's transactions; everything else stays where it is. A 100k-message DLQ browsed completely
//! with one replay from its middle thus costs one pass, not two. The snapshot served by
//! `dead_letters` is refreshed for that DLQ; the next browse reports the replayed/discarded
//! letters as tombstones with what triage did.

use std::collections::{HashMap, HashSet};

use super::amqp::HoldReport;
use super::pass::{QueuePass, Selection};
use super::snapshot::{BrowseMemory, QueueView};
use super::{RabbitMq, message};
use crate::domain::{ActionKind, ActionOutcome, DeadLetter, DeadLetterState, sanitize};
use crate::upstream::UpstreamError;

/// What one browse-and-apply pass saw and did.
#[derive(Debug, Clone)]
pub struct AppliedPass {
    /// Every message the pass visited, in DLQ order; acted-on ones carry their new state.
    pub letters: Vec<DeadLetter>,
    pub report: HoldReport,
    /// One outcome per selection, in selection order: `(target, outcome)`.
    pub outcomes: Vec<(String, ActionOutcome)>,
}

impl RabbitMq {
    /// Reads `connector`'s whole DLQ (as deep as it was when the pass began) in one pass and
    /// applies `selections` on the way: replays go to their origin, discards are dropped,
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
        let pass = self.apply_to(&mut memory, &dlq, selections).await?;
        if let Some(error) = pass.error.clone() {
            return Err(error);
        }
        let outcomes = selections
            .iter()
            .enumerate()
            .map(|(n, s)| (s.action.target.clone(), outcome(&pass, n, s)))
            .collect();
        Ok(AppliedPass {
            letters: pass.letters.clone(),
            report: pass.report.clone(),
            outcomes,
        })
    }

    /// One pass over `dlq` applying `selections`, for a caller holding `memory`; refreshes the
    /// snapshot for that DLQ and remembers what triage did.
    pub(super) async fn apply_to(
        &self,
        memory: &mut BrowseMemory,
        dlq: &str,
        selections: &[Selection],
    ) -> Result<QueuePass, UpstreamError> {
        let unconfirmed = self.learn_receipts(memory, dlq).await;
        let leftovers: HashMap<String, DeadLetterState> = memory.handled.clone();
        let passes = memory.receipt_passes.clone();
        let pass = match self
            .pass_over(dlq, selections, &leftovers, &passes, &unconfirmed, true)
            .await
        {
            Ok(pass) => pass,
            Err(e) => {
                // The receipts are read again before the next pass, as after a pass that
                // failed midway: what was learned may predate a cut (or be nothing, read while
                // the broker was away).
                memory.receipts_learned.remove(dlq);
                return Err(e);
            }
        };
        for &n in &pass.done {
            memory.handled.insert(
                selections[n].action.target.clone(),
                state_after(&selections[n]),
            );
        }
        if pass.error.is_some() || !pass.uncertain.is_empty() {
            memory.receipts_learned.remove(dlq);
        }
        for &n in &pass.uncertain {
            memory.uncertain.insert(
                selections[n].action.target.clone(),
                state_after(&selections[n]),
            );
        }
        memory.set_held_off(dlq, pass.remark());
        let depth = pass.report.depth_at_start.saturating_sub(pass.done.len()) as u64;
        memory.replace_queues(vec![QueueView {
            dlq: dlq.to_string(),
            letters: pass.letters.clone(),
            complete: pass.complete,
            depth,
        }]);
        Ok(pass)
    }
}

impl RabbitMq {
    /// Once per process and DLQ, before its first pass: the content identities triage replayed or
    /// discarded there (its receipts, kept a day), so that a message arriving later with the same
    /// bytes is told apart (stamped) instead of being listed — and acted on — as the letter
    /// triage already handled. Stamped identities are not taken from receipts: a stamp found
    /// again is a leftover, and only this process's own record is trusted to remove it — except
    /// by a retry of the very replay a receipt names (same key). After a pass that failed, the
    /// receipts are read again before the next one: replays it sent before failing are there.
    /// They are read again, too, whenever the DLQ has an unsettled pass (cut between its
    /// publishes and its acks, in this process or another): its originals' receipts may have
    /// been written after this process last read them, and such an original would otherwise be
    /// replayed a second time. Returns those unsettled passes, for the pass that follows.
    pub(super) async fn learn_receipts(
        &self,
        memory: &mut BrowseMemory,
        dlq: &str,
    ) -> HashSet<String> {
        let unconfirmed = self.broker.unsettled_passes(dlq).await;
        if !unconfirmed.is_empty() {
            memory.receipts_learned.remove(dlq);
        }
        if memory.receipts_learned.contains(dlq) {
            return unconfirmed;
        }
        match self.broker.receipts(dlq).await {
            Ok(receipts) => {
                for (identity, receipt) in super::amqp::settled(&receipts) {
                    let state = match receipt.state.as_str() {
                        "discarded" => DeadLetterState::Discarded,
                        _ => DeadLetterState::Replayed,
                    };
                    if message::is_content_id(identity) {
                        memory.handled.entry(identity.to_string()).or_insert(state);
                        if let Some(pass) = &receipt.pass {
                            memory
                                .receipt_passes
                                .insert(identity.to_string(), pass.clone());
                        }
                    } else if let Some(key) = &receipt.key {
                        memory
                            .receipt_keys
                            .insert(identity.to_string(), key.clone());
                    }
                }
                memory.receipts_learned.insert(dlq.to_string());
            }
            Err(e) => tracing::warn!("{}: receipts of {dlq} unread: {e}", self.id),
        }
        unconfirmed
    }
}

fn state_after(selection: &Selection) -> DeadLetterState {
    match selection.action.kind {
        ActionKind::Discard => DeadLetterState::Discarded,
        _ => DeadLetterState::Replayed,
    }
}

/// The outcome of selection `n` of a pass that found it (or not).
pub(super) fn outcome(pass: &QueuePass, n: usize, selection: &Selection) -> ActionOutcome {
    let dlq = &pass.dlq;
    let target = &selection.action.target;
    let Some(hit) = pass.hits.get(&n) else {
        return ActionOutcome {
            ok: false,
            summary: sanitize::line(&format!(
                "dead letter {target} is not in {dlq} (already handled or never there)"
            )),
            response: serde_json::json!({ "found": false }),
        };
    };
    let response = serde_json::json!({
        "queue": dlq, "exchange": hit.exchange, "routing_key": hit.routing_key,
        "replay_id": selection.idempotency_key, "committed": pass.done.contains(&n),
        "position": hit.index,
    });
    if pass.unroutable.contains(&n) {
        let summary = if hit.exchange.is_empty() && hit.routing_key.is_empty() {
            format!(
                "no origin known (no x-death, and {dlq} is shared or unbound): the message stays \
                 in {dlq}"
            )
        } else {
            format!(
                "exchange {:?} has no queue bound for key {:?}; the message stays in {dlq}",
                hit.exchange, hit.routing_key
            )
        };
        return ActionOutcome {
            ok: false,
            summary: sanitize::line(&summary),
            response,
        };
    }
    let summary = match selection.action.kind {
        ActionKind::Discard => format!("discarded from {dlq}"),
        _ => format!(
            "committed by the broker: published to exchange {:?} key {:?}, removed from {dlq}",
            hit.exchange, hit.routing_key
        ),
    };
    ActionOutcome {
        ok: true,
        summary: sanitize::line(&summary),
        response,
    }
}
