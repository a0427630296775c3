//! Receipts: what a pass changed, written to a queue of triage's own and confirmed before the
//! originals' acks are committed (`<dlq>.triage-receipts`, durable, messages kept a day). A process that dies after
//! the broker committed a replay but before the outbox recorded the answer leaves its action
//! pending; the retry no longer finds the message in the DLQ, and the receipt says it was
//! replayed (under the same idempotency key) — so the action is recorded as sent, not as failed.
//! Receipts are only read for targets a pass did not find; the broker drops them after a day.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use super::Broker;
use crate::upstream::UpstreamError;

/// How long the broker keeps a receipt.
/// The state of a receipt written when the broker returned a replay (no queue took it) and the
/// message was put back in the DLQ: it cancels the earlier receipts of that identity.
pub const RETURNED: &str = "returned";

/// What `receipts` (in the order they were written) say triage did to each identity: its latest
/// `replayed` or `discarded` receipt, none once a `returned` one came after.
pub fn settled(receipts: &[Receipt]) -> std::collections::HashMap<&str, &Receipt> {
    let mut latest = std::collections::HashMap::new();
    for receipt in receipts {
        if receipt.state == RETURNED {
            latest.remove(receipt.identity.as_str());
        } else {
            latest.insert(receipt.identity.as_str(), receipt);
        }
    }
    latest
}

pub const RECEIPT_TTL: Duration = Duration::from_secs(24 * 3600);
const FOR_HEADER: &str = "x-triage-receipt-for";
const STATE_HEADER: &str = "x-triage-receipt-state";
const KEY_HEADER: &str = "x-triage-replay-id";
const PASS_HEADER: &str = "x-triage-receipt-pass";

/// One change a committed pass made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The dead letter's identity.
    pub identity: String,
    /// `replayed` or `discarded`.
    pub state: String,
    /// The replay's idempotency key (replays only).
    pub key: Option<String>,
    /// The pass that wrote it (receipts written before this was recorded have none).
    pub pass: Option<String>,
}

/// The receipts queue of `dlq`.
pub fn receipts_queue(dlq: &str) -> String {
    format!("{dlq}.triage-receipts")
}

impl Receipt {
    pub(super) fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            FOR_HEADER.into(),
            AMQPValue::LongString(self.identity.as_str().into()),
        );
        headers.insert(
            STATE_HEADER.into(),
            AMQPValue::LongString(self.state.as_str().into()),
        );
        if let Some(key) = &self.key {
            headers.insert(
                KEY_HEADER.into(),
                AMQPValue::LongString(key.as_str().into()),
            );
        }
        if let Some(pass) = &self.pass {
            headers.insert(
                PASS_HEADER.into(),
                AMQPValue::LongString(pass.as_str().into()),
            );
        }
        BasicProperties::default()
            .with_headers(headers)
            .with_delivery_mode(2)
    }

    fn from_properties(properties: &BasicProperties) -> Option<Receipt> {
        let text = |key: &str| match properties.headers().as_ref()?.inner().get(key)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            _ => None,
        };
        Some(Receipt {
            identity: text(FOR_HEADER)?,
            state: text(STATE_HEADER)?,
            key: text(KEY_HEADER),
            pass: text(PASS_HEADER),
        })
    }
}

impl Broker {
    /// Declares the receipts queue of `dlq` (durable, a day's TTL) and returns its name; `None`
    /// when the broker refuses (no configure permission): the pass then runs without receipts.
    pub async fn ensure_receipts(&self, dlq: &str) -> Option<String> {
        let name = receipts_queue(dlq);
        let channel = self.channel().await.ok()?;
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(i64::try_from(RECEIPT_TTL.as_millis()).unwrap_or(i64::MAX)),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let declared = channel
            .queue_declare(name.as_str().into(), options, arguments)
            .await;
        let _ = channel.close(200, "ok".into()).await;
        match declared {
            Ok(_) => Some(name),
            Err(e) => {
                tracing::warn!("{}: no receipts queue {name}: {e}", self.upstream);
                None
            }
        }
    }

    /// Every receipt of `dlq` now (read and put back in place); none when it has no receipts
    /// queue. A broker that does not answer is an error, not "no receipts": a pass that took it
    /// for none would replay again what an earlier pass replayed but could not ack.
    pub async fn receipts(&self, dlq: &str) -> Result<Vec<Receipt>, UpstreamError> {
        let queue = receipts_queue(dlq);
        let count = match self.counts_if_exists(&queue).await? {
            Some((count, _)) => count as usize,
            None => return Ok(Vec::new()),
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let channel = self.channel().await?;
        let read = read_held(self, &channel, &queue, count).await;
        let _ = channel.close(200, "receipts read".into()).await;
        read
    }
}

async fn read_held(
    broker: &Broker,
    channel: &Channel,
    queue: &str,
    count: usize,
) -> Result<Vec<Receipt>, UpstreamError> {
    channel
        .basic_qos(0, BasicQosOptions::default())
        .await
        .map_err(|e| broker.error("basic.qos", e))?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| broker.error(&format!("cannot read {queue:?}"), e))?;
    let mut receipts = Vec::with_capacity(count);
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                receipts.extend(Receipt::from_properties(&delivery.properties));
            }
            _ => break,
        }
    }
    Ok(receipts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(identity: &str, state: &str, key: Option<&str>) -> Receipt {
        Receipt {
            identity: identity.into(),
            state: state.into(),
            key: key.map(Into::into),
            pass: None,
        }
    }

    #[test]
    fn a_returned_receipt_cancels_the_replay_before_it_and_a_later_one_counts() {
        let receipts = vec![
            receipt("a", "replayed", Some("k1")),
            receipt("b", "discarded", None),
            receipt("a", RETURNED, None),
            receipt("c", "replayed", Some("k3")),
            receipt("c", RETURNED, None),
            receipt("c", "replayed", Some("k4")),
        ];
        let settled = settled(&receipts);
        assert!(!settled.contains_key("a"));
        assert_eq!(settled["b"].state, "discarded");
        assert_eq!(settled["c"].key.as_deref(), Some("k4"));
        assert_eq!(settled.len(), 2);
    }
}
