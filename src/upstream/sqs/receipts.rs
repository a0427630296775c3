//! Receipts: what triage did to a dead letter, kept by SQS itself so that a process that dies
//! after removing a letter from its DLQ but before the outbox recorded the answer does not have
//! the retry answered "no longer in the dead-letter queue". Like RabbitMQ's receipts
//! (`rabbitmq::amqp::receipts`): each DLQ gets a standard queue of triage's own,
//! `<dlq>-triage-receipts` (`.` of a FIFO name as `_`; names past SQS's 80 characters are cut and
//! given a hash), created on first use with `MessageRetentionPeriod` = [`RECEIPT_RETENTION`]
//! (SQS drops older receipts itself: the queue never grows past a day of actions). A receipt
//! (JSON body: the letter's `MessageId`, `replayed`/`discarded`, the replay's key, where it went)
//! is written after a replay's send was confirmed (or a move task started) and before the
//! original is deleted — a letter is never deleted without one. A replay's receipt answers a
//! retry with its own key; a move task's answers any replay of its letter (a run paused during
//! the task sends what it recalled with new keys). No redrive policy names this queue, so it is
//! never browsed as a DLQ (and discovery skips such names). Receipts are read only for targets a
//! pass did not find. A server that refuses to create the queue (no `sqs:CreateQueue`
//! permission) is remembered for the process: actions run without receipts, as before.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use serde::{Deserialize, Serialize};

use super::Sqs;
use super::batches::SendFailure;
use super::memory::Memory;
use super::message::{Received, ReplayEntry};
use crate::domain::{ActionKind, DeadLetterState};
use crate::upstream::UpstreamError;

/// How long SQS keeps a receipt: a crashed action is retried long before.
pub const RECEIPT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// The receipts queue's name ends with this.
pub const RECEIPTS_SUFFIX: &str = "-triage-receipts";
/// The message attribute naming the letter a receipt is for.
const FOR_ATTRIBUTE: &str = "x-triage-receipt-for";
/// SQS's longest queue name.
const MAX_NAME: usize = 80;

/// The receipts queue of `dlq`: `<dlq>-triage-receipts`, a standard queue whatever the DLQ is.
pub fn receipts_queue(dlq: &str) -> String {
    let base = dlq.replace('.', "_");
    if base.len() + RECEIPTS_SUFFIX.len() <= MAX_NAME {
        return format!("{base}{RECEIPTS_SUFFIX}");
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(dlq.as_bytes())[..4]);
    let keep = MAX_NAME - RECEIPTS_SUFFIX.len() - hash.len() - 1;
    let cut: String = base.chars().take(keep).collect();
    format!("{cut}-{hash}{RECEIPTS_SUFFIX}")
}

/// True for a receipts queue's name (never a DLQ to browse).
pub fn is_receipts_queue(name: &str) -> bool {
    name.ends_with(RECEIPTS_SUFFIX)
}

/// One thing triage did to a dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The dead letter's `MessageId`.
    #[serde(rename = "for")]
    pub message_id: String,
    /// `replayed` or `discarded`.
    pub state: String,
    /// The action's idempotency key.
    pub key: String,
    /// The DLQ it was in.
    pub dlq: String,
    /// Where the replay went, and as which message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_message_id: Option<String>,
    /// The move task that took it (`StartMessageMoveTask`'s handle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_task: Option<String>,
    pub at: String,
}

impl Receipt {
    pub fn new(message_id: &str, state: DeadLetterState, key: &str, dlq: &str) -> Receipt {
        Receipt {
            message_id: message_id.to_string(),
            state: state.as_str().to_string(),
            key: key.to_string(),
            dlq: dlq.to_string(),
            queue: None,
            replay_message_id: None,
            move_task: None,
            at: chrono::Utc::now().to_rfc3339(),
        }
    }

    pub fn state(&self) -> Option<DeadLetterState> {
        match self.state.as_str() {
            "replayed" => Some(DeadLetterState::Replayed),
            "discarded" => Some(DeadLetterState::Discarded),
            _ => None,
        }
    }

    /// True when this receipt answers an action of `kind` with `key`: a replay needs its own
    /// key (another replay of the letter is not this one) — unless a move task took it: a run
    /// paused while the task ran recalls the letters it had not moved yet and sends them again
    /// with new keys, and a letter the task still moved (its cancel came late, or the pass after
    /// it could not see the whole DLQ) is answered by the task's receipt instead of "no longer in
    /// the dead-letter queue". A discard is answered by any `discarded` receipt.
    pub fn answers(&self, kind: ActionKind, key: &str) -> bool {
        match kind {
            ActionKind::Replay => {
                self.state() == Some(DeadLetterState::Replayed)
                    && (self.key == key || self.move_task.is_some())
            }
            ActionKind::Discard => self.state() == Some(DeadLetterState::Discarded),
            _ => false,
        }
    }

    fn entry(&self) -> Option<ReplayEntry> {
        let body = serde_json::to_string(self).ok()?;
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&self.message_id)
            .build()
            .ok()?;
        Some(ReplayEntry {
            body,
            attributes: [(FOR_ATTRIBUTE.to_string(), value)].into_iter().collect(),
            trace_header: None,
            group_id: None,
            deduplication_id: None,
        })
    }

    fn parse(message: &Received) -> Option<Receipt> {
        serde_json::from_str(&message.body).ok()
    }
}

/// What the receipts queues said about some letters.
#[derive(Debug, Default)]
pub struct ReceiptsRead {
    /// Every receipt found per `MessageId`, in the order read.
    pub found: HashMap<String, Vec<Receipt>>,
    /// False when a receipts queue could not be read completely (another reader holds some of
    /// its messages, or the read failed): a target without a receipt may still have one.
    pub complete: bool,
}

impl Sqs {
    /// The URL of `dlq`'s receipts queue, created on first use; `None` when the server refused
    /// to create it for good (remembered: actions on this DLQ run without receipts).
    pub(super) async fn receipts_url(
        &self,
        memory: &mut Memory,
        dlq: &str,
    ) -> Result<Option<String>, UpstreamError> {
        if let Some(known) = memory.receipts.get(dlq) {
            return Ok(known.clone());
        }
        let name = receipts_queue(dlq);
        let client = self.client().await?;
        let created = client
            .create_queue()
            .queue_name(&name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                RECEIPT_RETENTION.as_secs().to_string(),
            )
            .send()
            .await;
        let url = match created {
            Ok(out) => out.queue_url().map(str::to_string),
            Err(e) => {
                let error =
                    super::client::upstream_error(&self.id, &self.endpoint, "CreateQueue", e);
                if error.is_transient() {
                    return Err(error);
                }
                // It may exist with other attributes (changed by hand): use it as it is.
                let existing = self.queue_url(&name).await?;
                if existing.is_none() {
                    tracing::warn!(
                        "{}: no receipts queue {name} ({error}): actions on {dlq} run without receipts, so a retry after a crash may answer \"no longer in the dead-letter queue\"",
                        self.id
                    );
                }
                existing
            }
        };
        memory.receipts.insert(dlq.to_string(), url.clone());
        Ok(url)
    }

    /// Writes `receipts` (keyed by the caller's index) to the queue at `url`, 10 per call; the
    /// indexes whose receipt was not written, with why.
    pub(super) async fn write_receipts(
        &self,
        url: &str,
        receipts: Vec<(usize, Receipt)>,
    ) -> HashMap<usize, UpstreamError> {
        let mut failed = HashMap::new();
        let mut entries = Vec::new();
        for (index, receipt) in receipts {
            match receipt.entry() {
                Some(entry) => entries.push((index, entry)),
                None => {
                    failed.insert(
                        index,
                        self.busy(format!(
                            "the receipt of {} could not be built",
                            receipt.message_id
                        )),
                    );
                }
            }
        }
        for (index, result) in self.send(url, entries).await {
            match result {
                Ok(_) => {}
                Err(SendFailure::Refused(why)) => {
                    failed.insert(
                        index,
                        self.busy(format!("the receipts queue refused a receipt: {why}")),
                    );
                }
                Err(SendFailure::Transient(e)) => {
                    failed.insert(index, e);
                }
            }
        }
        failed
    }

    /// The receipts of `wanted` (MessageIds) in the receipts queues of `dlqs`: each queue is
    /// read (and released) until every wanted letter has a receipt or the queue is exhausted.
    pub(super) async fn read_receipts(
        &self,
        dlqs: &[String],
        wanted: &HashSet<String>,
    ) -> ReceiptsRead {
        let mut read = ReceiptsRead {
            found: HashMap::new(),
            complete: true,
        };
        for dlq in dlqs {
            if wanted.iter().all(|id| read.found.contains_key(id)) {
                break;
            }
            match self.read_receipts_of(dlq, wanted, &mut read.found).await {
                Ok(complete) => read.complete &= complete,
                Err(e) => {
                    tracing::warn!("{}: receipts of {dlq} unread: {e}", self.id);
                    read.complete = false;
                }
            }
        }
        read
    }

    async fn read_receipts_of(
        &self,
        dlq: &str,
        wanted: &HashSet<String>,
        found: &mut HashMap<String, Vec<Receipt>>,
    ) -> Result<bool, UpstreamError> {
        let Some(url) = self.queue_url(&receipts_queue(dlq)).await? else {
            return Ok(true);
        };
        let Some(facts) = self.facts(&url).await? else {
            return Ok(true);
        };
        if facts.depth.total() == 0 {
            return Ok(true);
        }
        let mut left: HashSet<String> = wanted
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        let mut collected: Vec<Receipt> = Vec::new();
        let pass = self
            .receive_until(&url, facts.depth, &mut |message: &Received| {
                if let Some(receipt) = Receipt::parse(message)
                    && wanted.contains(&receipt.message_id)
                {
                    left.remove(&receipt.message_id);
                    collected.push(receipt);
                }
                left.is_empty()
            })
            .await?;
        self.release(&url, &pass.messages).await;
        let all_found = wanted
            .iter()
            .all(|id| found.contains_key(id) || collected.iter().any(|r| &r.message_id == id));
        for receipt in collected {
            found
                .entry(receipt.message_id.clone())
                .or_default()
                .push(receipt);
        }
        Ok(pass.complete || all_found || facts.depth.in_flight == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_queues_are_named_after_their_dlq_within_sqs_limits() {
        assert_eq!(receipts_queue("orders-dlq"), "orders-dlq-triage-receipts");
        assert_eq!(
            receipts_queue("orders-dlq.fifo"),
            "orders-dlq_fifo-triage-receipts",
            "a standard queue: no .fifo"
        );
        let long = "q".repeat(80);
        let name = receipts_queue(&long);
        assert_eq!(name.len(), 80);
        assert!(is_receipts_queue(&name));
        assert_ne!(
            name,
            receipts_queue(&"q".repeat(79)),
            "a hash tells them apart"
        );
        assert!(!is_receipts_queue("orders-dlq"));
    }

    #[test]
    fn a_replay_receipt_answers_only_its_own_key_and_a_discard_any_discard() {
        let replayed = Receipt::new("m1", DeadLetterState::Replayed, "k1", "dlq");
        assert!(replayed.answers(ActionKind::Replay, "k1"));
        assert!(!replayed.answers(ActionKind::Replay, "k2"));
        assert!(!replayed.answers(ActionKind::Discard, "k1"));
        let discarded = Receipt::new("m1", DeadLetterState::Discarded, "k3", "dlq");
        assert!(discarded.answers(ActionKind::Discard, "k9"));
        assert!(!discarded.answers(ActionKind::Replay, "k3"));
        let text = serde_json::to_string(&replayed).expect("json");
        assert!(text.contains("\"for\":\"m1\""), "{text}");
        let back: Receipt = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, replayed);
    }

    #[test]
    fn a_move_tasks_receipt_answers_any_replay_of_its_letter() {
        let mut moved = Receipt::new("m1", DeadLetterState::Replayed, "k1", "dlq");
        moved.move_task = Some("handle".into());
        // The run recalled k1 when it paused; its resume replays the letter as k2.
        assert!(moved.answers(ActionKind::Replay, "k2"));
        assert!(!moved.answers(ActionKind::Discard, "k2"));
    }
}
