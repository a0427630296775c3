//! SQS messages as triage sees them: a received message ([`Received`]: identity = `MessageId`,
//! body, every message attribute with its type, the system attributes, the receipt handle and
//! when it was received), its origin (which source queue it died in — [`Origin`]), the
//! [`DeadLetter`] shown for it, and the entry that replays it (exact body and attributes; FIFO:
//! same group, deduplication id from the action's idempotency key).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
    MessageSystemAttributeValue,
};
use base64::Engine;
use chrono::{TimeZone, Utc};

use crate::domain::{DeadLetter, DeadLetterError, DeadLetterState, Timestamp};

/// The message attribute a replay carries: the action's idempotency key (like RabbitMQ's
/// `x-triage-replay-id`), so a letter that dies again is known as replayed before, and a
/// duplicate from a crash between send and delete carries the same key. Added only while the
/// message has fewer than SQS's 10 attributes.
pub const REPLAY_ID_ATTRIBUTE: &str = "x-triage-replay-id";
/// SQS allows at most this many message attributes.
pub const MAX_ATTRIBUTES: usize = 10;

/// The system attributes shown as `sqs.<name>` headers, in this order.
const SYSTEM_ATTRIBUTES: [&str; 9] = [
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
    "AWSTraceHeader",
    "SenderId",
    "DeadLetterQueueSourceArn",
];

/// One message as a receive returned it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub received_at: Instant,
    pub body: String,
    /// Message attributes by name (sorted), exactly as received.
    pub attributes: BTreeMap<String, MessageAttributeValue>,
    /// System attributes by their wire name (`SentTimestamp`, `MessageGroupId`…).
    pub system: BTreeMap<String, String>,
}

impl Received {
    /// From the SDK's message; `None` when it lacks an id or a receipt handle (nothing triage
    /// could act on or name).
    pub fn from_sdk(message: &Message, received_at: Instant) -> Option<Received> {
        let message_id = message.message_id()?.to_string();
        let receipt_handle = message.receipt_handle()?.to_string();
        let attributes = message
            .message_attributes()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let system = message
            .attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Received {
            message_id,
            receipt_handle,
            received_at,
            body: message.body().unwrap_or_default().to_string(),
            attributes,
            system,
        })
    }

    pub fn system_u64(&self, name: &str) -> Option<u64> {
        self.system.get(name).and_then(|v| v.trim().parse().ok())
    }

    fn system_time(&self, name: &str) -> Option<Timestamp> {
        let ms = i64::try_from(self.system_u64(name)?).ok()?;
        Utc.timestamp_millis_opt(ms).single()
    }

    /// When it was first sent (kept through the redrive to the DLQ).
    pub fn sent_at(&self) -> Option<Timestamp> {
        self.system_time("SentTimestamp")
    }

    pub fn group_id(&self) -> Option<&str> {
        self.system.get("MessageGroupId").map(String::as_str)
    }

    /// The String value of message attribute `name`, if it has one.
    pub fn string_attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.string_value())
    }
}

/// Which source queue a dead letter died in, and how triage knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Known: the source queue's name, and how it was learned (shown in the error text).
    Queue { name: String, how: &'static str },
    /// Not known: why (the DLQ has several sources and the message does not say).
    Unknown { why: String },
}

/// A queue's name from its ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`) or URL (`…/ACCOUNT/NAME`).
pub fn queue_name(arn_or_url: &str) -> &str {
    let tail = arn_or_url.rsplit([':', '/']).next().unwrap_or(arn_or_url);
    if tail.is_empty() { arn_or_url } else { tail }
}

/// Where `message` came from: the server's `DeadLetterQueueSourceArn` (AWS sets it), else the
/// producer's `origin_attribute`, else the DLQ's only source queue; never a guess.
pub fn origin(
    message: &Received,
    dlq: &str,
    sources: &[String],
    origin_attribute: Option<&str>,
) -> Origin {
    if let Some(arn) = message.system.get("DeadLetterQueueSourceArn") {
        return Origin::Queue {
            name: queue_name(arn).to_string(),
            how: "the message's DeadLetterQueueSourceArn",
        };
    }
    if let Some(name) = origin_attribute
        && let Some(value) = message.string_attribute(name)
        && !value.trim().is_empty()
    {
        return Origin::Queue {
            name: queue_name(value.trim()).to_string(),
            how: "the message's origin attribute",
        };
    }
    match sources {
        [only] => Origin::Queue {
            name: only.clone(),
            how: "the DLQ's only source queue",
        },
        [] => Origin::Unknown {
            why: format!(
                "no queue names {dlq} as its dead-letter queue now, and the message does not say where it came from"
            ),
        },
        many => Origin::Unknown {
            why: format!(
                "{dlq} is the dead-letter queue of {} queues ({}) and the message does not say which one it came from{}",
                many.len(),
                many.join(", "),
                match origin_attribute {
                    Some(name) => format!(" (no DeadLetterQueueSourceArn, no {name:?} attribute)"),
                    None => " (no DeadLetterQueueSourceArn; set origin_attribute on the upstream to attribute by a message attribute)".to_string(),
                }
            ),
        },
    }
}

/// A message attribute's value as header text: String and Number types (custom ones too) as
/// their text, Binary ones as `base64:<…>`.
pub fn attribute_text(value: &MessageAttributeValue) -> String {
    match (value.string_value(), value.binary_value()) {
        (Some(text), _) => text.to_string(),
        (None, Some(blob)) => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
        ),
        (None, None) => String::new(),
    }
}

/// The dead letter shown for `message` read from `dlq`: headers are every message attribute by
/// its own name, `sqs.attribute_types` (name=DataType, so `String.custom` or `Binary` shows),
/// the system attributes as `sqs.<Name>`, `sqs.message_id`, `sqs.dead_letter_queue` and, when
/// known, `sqs.source_queue`. `attempts` is the receive count before triage's own receive.
pub fn dead_letter(
    upstream: &str,
    connector: &str,
    dlq: &str,
    message: &Received,
    origin: &Origin,
    max_receive_count: Option<u32>,
    seen_at: Timestamp,
) -> DeadLetter {
    let mut headers: Vec<(String, String)> = message
        .attributes
        .iter()
        .map(|(name, value)| (name.clone(), attribute_text(value)))
        .collect();
    if !message.attributes.is_empty() {
        let types: Vec<String> = message
            .attributes
            .iter()
            .map(|(name, value)| format!("{name}={}", value.data_type()))
            .collect();
        headers.push(("sqs.attribute_types".to_string(), types.join(", ")));
    }
    for name in SYSTEM_ATTRIBUTES {
        if let Some(value) = message.system.get(name) {
            headers.push((format!("sqs.{name}"), value.clone()));
        }
    }
    headers.push(("sqs.message_id".to_string(), message.message_id.clone()));
    headers.push(("sqs.dead_letter_queue".to_string(), dlq.to_string()));
    let attempts = message
        .system_u64("ApproximateReceiveCount")
        .map_or(0, |c| c.saturating_sub(1));
    let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    let error = match origin {
        Origin::Queue { name, how } => {
            headers.push(("sqs.source_queue".to_string(), name.clone()));
            DeadLetterError {
                code: "max_receive_count".to_string(),
                message: format!(
                    "moved from {name} to {dlq} after {attempts} receives{} (source known by {how})",
                    max_receive_count
                        .map(|m| format!(" (maxReceiveCount {m})"))
                        .unwrap_or_default()
                ),
                http_status: None,
                vendor_response: None,
            }
        }
        Origin::Unknown { why } => DeadLetterError {
            code: "unattributed".to_string(),
            message: format!("in {dlq} after {attempts} receives; source unknown: {why}"),
            http_status: None,
            vendor_response: None,
        },
    };
    let first = message
        .system_time("ApproximateFirstReceiveTimestamp")
        .or_else(|| message.sent_at())
        .unwrap_or(seen_at);
    DeadLetter {
        upstream: upstream.to_string(),
        id: message.message_id.clone(),
        connector: connector.to_string(),
        payload: message.body.clone().into_bytes(),
        content_type: None,
        headers,
        error,
        attempts,
        first_failed_at: first,
        last_failed_at: first,
        state: DeadLetterState::Dead,
        updated_at: seen_at,
    }
}

/// What a replay sends: the body (or the edited payload), every message attribute as received,
/// plus [`REPLAY_ID_ATTRIBUTE`] when there is room; `AWSTraceHeader` kept; on a FIFO destination
/// the original `MessageGroupId` and a deduplication id made from the idempotency key.
#[derive(Debug, Clone)]
pub struct ReplayEntry {
    pub body: String,
    pub attributes: BTreeMap<String, MessageAttributeValue>,
    pub trace_header: Option<String>,
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

impl ReplayEntry {
    /// The entry replaying `message` to a queue (`fifo`: its name ends in `.fifo`), or why it
    /// cannot (an edited payload that is not UTF-8; a FIFO destination for a message without a
    /// group).
    pub fn new(
        message: &Received,
        payload: Option<&[u8]>,
        key: &str,
        fifo: bool,
    ) -> Result<ReplayEntry, String> {
        let body = match payload {
            Some(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| {
                "an SQS message body must be text (UTF-8); the edited payload is not".to_string()
            })?,
            None => message.body.clone(),
        };
        let mut attributes = message.attributes.clone();
        attributes.remove(REPLAY_ID_ATTRIBUTE);
        if attributes.len() < MAX_ATTRIBUTES
            && let Ok(value) = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(key)
                .build()
        {
            attributes.insert(REPLAY_ID_ATTRIBUTE.to_string(), value);
        }
        let group_id = message.group_id().map(str::to_string);
        if fifo && group_id.is_none() {
            return Err("the destination is a FIFO queue and the message has no MessageGroupId; replay it to a standard queue (--to queue:NAME)".to_string());
        }
        Ok(ReplayEntry {
            body,
            attributes,
            trace_header: message.system.get("AWSTraceHeader").cloned(),
            group_id: group_id.filter(|_| fifo),
            deduplication_id: fifo.then(|| deduplication_id(key)),
        })
    }

    /// Bytes SQS counts toward its message size limit: body, attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, v)| {
                    name.len()
                        + v.data_type().len()
                        + v.string_value().map_or(0, str::len)
                        + v.binary_value().map_or(0, |b| b.as_ref().len())
                })
                .sum::<usize>()
    }

    /// `AWSTraceHeader` as the system attribute a send carries.
    pub fn system_attributes(
        &self,
    ) -> Option<
        std::collections::HashMap<MessageSystemAttributeNameForSends, MessageSystemAttributeValue>,
    > {
        let trace = self.trace_header.as_ref()?;
        let value = MessageSystemAttributeValue::builder()
            .data_type("String")
            .string_value(trace)
            .build()
            .ok()?;
        Some(std::collections::HashMap::from([(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            value,
        )]))
    }
}

/// A FIFO deduplication id from an idempotency key: the same key always gives the same id, so a
/// resend of one action within SQS's 5-minute window is dropped by the queue.
pub fn deduplication_id(key: &str) -> String {
    use sha2::Digest;
    format!(
        "triage-{}",
        hex::encode(&sha2::Sha256::digest(key.as_bytes())[..24])
    )
}

/// Binary attribute bytes, for tests and callers building messages.
pub fn blob(bytes: &[u8]) -> Blob {
    Blob::new(bytes.to_vec())
}

/// The system attribute names a browse asks for.
pub fn wanted_system_attributes() -> Vec<MessageSystemAttributeName> {
    vec![MessageSystemAttributeName::All]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_come_from_arns_and_urls() {
        assert_eq!(
            queue_name("arn:aws:sqs:us-east-1:123456789012:orders-dlq"),
            "orders-dlq"
        );
        assert_eq!(
            queue_name("http://127.0.0.1:4566/123456789012/a.fifo"),
            "a.fifo"
        );
        assert_eq!(queue_name("plain"), "plain");
    }

    #[test]
    fn a_deduplication_id_is_stable_per_key_and_within_sqs_limits() {
        let a = deduplication_id("0194f3c2-aaaa");
        assert_eq!(a, deduplication_id("0194f3c2-aaaa"));
        assert_ne!(a, deduplication_id("0194f3c2-aaab"));
        assert!(a.len() <= 128 && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
