//! Mapping AMQP messages to dead letters: exact payload bytes, readable headers (nested tables
//! flattened to `outer.inner` keys), `x-death` parsed into the error and the origin, and the
//! message's triage identity: the `x-triage-id` header stamped on it the first time a hold pass
//! saw it (see `amqp::hold`). `message_id` is only a field: it is optional and not unique.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use sha2::{Digest, Sha256};

use crate::domain::{DeadLetter, DeadLetterError, DeadLetterState, Timestamp, sanitize};

/// Header naming the operator who replayed a message.
pub const REPLAYED_BY_HEADER: &str = "x-triage-replayed-by";
/// Header carrying the replay's idempotency key (duplicates after a crash carry the same one).
pub const REPLAY_ID_HEADER: &str = "x-triage-replay-id";
/// Header carrying triage's identity of a message in a DLQ, stamped on first sight.
pub const STAMP_HEADER: &str = "x-triage-id";

/// Header on a copy a hold pass moved to the DLQ's tail: the pass's id (a stamp), and `:e` when
/// the original had an empty header table (so its content identity survives the move). Not part
/// of a message's content: a moved copy keeps the identity it had (see `amqp::hold`).
pub const MOVED_BY_HEADER: &str = "x-triage-moved-by";

/// The identity stamped on this message, if any.
pub fn stamp(properties: &BasicProperties) -> Option<String> {
    header_text(properties, STAMP_HEADER)
}

/// The replay id (`x-triage-replay-id`) this message carries, if any.
pub fn replay_id(properties: &BasicProperties) -> Option<String> {
    header_text(properties, REPLAY_ID_HEADER)
}

fn header_text(properties: &BasicProperties, key: &str) -> Option<String> {
    match header(properties, key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// A new identity: unique and time-ordered (a UUIDv7, made strictly increasing within this
/// process), 26 characters of Crockford base32, so identities sort in the order messages were
/// first seen.
pub fn new_stamp() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
    let fresh = uuid::Uuid::now_v7().as_u128();
    let mut n = match LAST.lock() {
        Ok(mut last) => {
            *last = fresh.max(*last + 1);
            *last
        }
        Err(_) => fresh,
    };
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// Header quorum queues add (and count up) on every redelivery: not part of a message's content.
const DELIVERY_COUNT_HEADER: &str = "x-delivery-count";

/// The identity of a message that carries no stamp: `h` and 25 Crockford base32 characters of
/// the sha256 of its payload and properties (125 bits), so it is stable while the message sits in
/// the DLQ — through passes, requeues, restarts and other processes — without moving it. Stamps
/// (UUIDv7) begin with a digit, so the two never meet. A pass hands out each content identity
/// once per DLQ: a byte-identical twin read after it is stamped (see `pass::pass_over`).
pub fn content_id(payload: &[u8], properties: &BasicProperties) -> String {
    /// Feeds serde's output straight into the hash (no buffer per message).
    struct HashWriter<'a>(&'a mut Sha256);
    impl std::io::Write for HashWriter<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut hasher = Sha256::new();
    hasher.update((payload.len() as u64).to_be_bytes());
    hasher.update(payload);
    let headers = properties.headers().as_ref();
    let ignored = headers
        .is_some_and(|h| h.contains_key(DELIVERY_COUNT_HEADER) || h.contains_key(MOVED_BY_HEADER));
    let without_ignored;
    let hashed = if ignored {
        let had_empty_table = moved_by(properties).is_some_and(|(_, empty)| empty);
        let mut headers = headers.map(|h| h.inner().clone()).unwrap_or_default();
        headers.remove(DELIVERY_COUNT_HEADER);
        headers.remove(MOVED_BY_HEADER);
        // A message published without headers gets a table holding only the count (or a moved
        // copy only the move's mark): hash it as it was published, without one — unless the
        // move noted that the original had an empty table.
        without_ignored = match headers.is_empty() && !had_empty_table {
            true => without_headers(properties),
            false => properties.clone().with_headers(FieldTable::from(headers)),
        };
        &without_ignored
    } else {
        properties
    };
    if serde_json::to_writer(HashWriter(&mut hasher), hashed).is_err() {
        hasher.update(format!("{hashed:?}").as_bytes());
    }
    let digest = hasher.finalize();
    let mut bits = u128::from_be_bytes(digest[..16].try_into().unwrap_or([0; 16])) >> 3;
    let mut out = [b'h'; 26];
    for slot in out[1..].iter_mut().rev() {
        *slot = ALPHABET[(bits & 31) as usize];
        bits >>= 5;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// `properties` with no header table at all (lapin can set one, not unset it).
fn without_headers(p: &BasicProperties) -> BasicProperties {
    let mut out = BasicProperties::default();
    macro_rules! copy {
        ($($get:ident => $set:ident),*) => {
            $(if let Some(v) = p.$get().clone() { out = out.$set(v); })*
        };
    }
    copy!(content_type => with_content_type, content_encoding => with_content_encoding,
        delivery_mode => with_delivery_mode, priority => with_priority,
        correlation_id => with_correlation_id, reply_to => with_reply_to,
        expiration => with_expiration, message_id => with_message_id,
        timestamp => with_timestamp, kind => with_type, user_id => with_user_id,
        app_id => with_app_id, cluster_id => with_cluster_id);
    out
}

/// The pass that moved this copy (`MOVED_BY_HEADER`), and whether the original's header table
/// was empty.
pub fn moved_by(properties: &BasicProperties) -> Option<(String, bool)> {
    let mark = header_text(properties, MOVED_BY_HEADER)?;
    Some(match mark.strip_suffix(":e") {
        Some(pass) => (pass.to_string(), true),
        None => (mark, false),
    })
}

/// `properties` of a copy that pass `pass` moves to the DLQ's tail: marked with the pass (an
/// earlier mark replaced), everything else as it was.
pub fn moved_copy(properties: &BasicProperties, pass: &str) -> BasicProperties {
    let table = properties.headers().as_ref();
    let empty = match moved_by(properties) {
        Some((_, empty)) => empty,
        None => table.is_some_and(|h| h.inner().is_empty()),
    };
    let mut headers = table.cloned().unwrap_or_default();
    let mark = if empty {
        format!("{pass}:e")
    } else {
        pass.to_string()
    };
    headers.insert(MOVED_BY_HEADER.into(), AMQPValue::LongString(mark.into()));
    properties.clone().with_headers(headers)
}

/// What a moved copy and its original have in common: the content identity of the message
/// without its stamp and move mark. A pass whose acks may not have been applied leaves both in
/// the DLQ, the copy after the original; equal digests tell the copy apart.
pub fn copy_digest(payload: &[u8], properties: &BasicProperties) -> String {
    match properties.headers().as_ref() {
        Some(h) if h.contains_key(STAMP_HEADER) => {
            let mut headers = h.inner().clone();
            headers.remove(STAMP_HEADER);
            let unstamped = if headers.is_empty() && moved_by(properties).is_none() {
                without_headers(properties)
            } else {
                properties.clone().with_headers(FieldTable::from(headers))
            };
            content_id(payload, &unstamped)
        }
        _ => content_id(payload, properties),
    }
}

/// True for a content identity (see [`content_id`]), false for a stamp.
pub fn is_content_id(id: &str) -> bool {
    id.len() == 26 && id.starts_with('h')
}

/// A message's identity as a pass gives it when it is not a twin: its stamp, else its content
/// identity.
pub fn identity(payload: &[u8], properties: &BasicProperties) -> String {
    stamp(properties).unwrap_or_else(|| content_id(payload, properties))
}

/// `properties` with the identity `stamp` added (everything else as it was).
pub fn stamped(properties: &BasicProperties, stamp: &str) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(STAMP_HEADER.into(), AMQPValue::LongString(stamp.into()));
    properties.clone().with_headers(headers)
}

/// The queue the message last died in (its most recent `x-death` entry), if it has `x-death`.
pub fn origin_queue(properties: &BasicProperties) -> Option<String> {
    deaths(properties).into_iter().next().map(|d| d.queue)
}

/// One entry of `x-death`: why, where and how often the message died.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeathRecord {
    pub reason: String,
    pub queue: String,
    pub exchange: String,
    pub routing_keys: Vec<String>,
    pub count: u64,
    pub time: Option<Timestamp>,
    /// The message's own TTL (`expiration`) when it died: RabbitMQ moves it here.
    pub original_expiration: Option<String>,
}

impl DeathRecord {
    /// "rejected from queue orders.work via exchange orders (routing key orders.work), 3 times"
    pub fn describe(&self) -> String {
        let exchange = if self.exchange.is_empty() {
            "the default exchange".to_string()
        } else {
            format!("exchange {}", self.exchange)
        };
        let keys = match self.routing_keys.as_slice() {
            [] => String::new(),
            [one] => format!(" (routing key {one})"),
            many => format!(" (routing keys {})", many.join(", ")),
        };
        let times = if self.count == 1 {
            "once".to_string()
        } else {
            format!("{} times", self.count)
        };
        format!(
            "{} from queue {} via {exchange}{keys}, {times}",
            self.reason, self.queue
        )
    }

    /// Where a replay goes: the original exchange and first routing key.
    pub fn origin(&self) -> (String, String) {
        let key = self
            .routing_keys
            .first()
            .cloned()
            .unwrap_or_else(|| self.queue.clone());
        (self.exchange.clone(), key)
    }
}

/// The `x-death` entries, most recent first (as RabbitMQ keeps them).
pub fn deaths(properties: &BasicProperties) -> Vec<DeathRecord> {
    let Some(AMQPValue::FieldArray(entries)) = header(properties, "x-death") else {
        return Vec::new();
    };
    entries
        .as_slice()
        .iter()
        .filter_map(|entry| match entry {
            AMQPValue::FieldTable(table) => Some(death_record(table)),
            _ => None,
        })
        .collect()
}

fn death_record(table: &FieldTable) -> DeathRecord {
    let text = |key: &str| table.inner().get(key).map(value_text).unwrap_or_default();
    let routing_keys = match table.inner().get("routing-keys") {
        Some(AMQPValue::FieldArray(keys)) => keys.as_slice().iter().map(value_text).collect(),
        _ => Vec::new(),
    };
    let count = table.inner().get("count").and_then(value_u64).unwrap_or(1);
    let time = match table.inner().get("time") {
        Some(AMQPValue::Timestamp(secs)) => seconds(*secs),
        _ => None,
    };
    DeathRecord {
        reason: text("reason"),
        queue: text("queue"),
        exchange: text("exchange"),
        routing_keys,
        count,
        time,
        original_expiration: table
            .inner()
            .get("original-expiration")
            .map(value_text)
            .filter(|e| !e.is_empty()),
    }
}

fn header<'a>(properties: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(key))
}

fn seconds(secs: u64) -> Option<Timestamp> {
    DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, 0)
}

fn value_u64(value: &AMQPValue) -> Option<u64> {
    match value {
        AMQPValue::ShortShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::Timestamp(n) => Some(*n),
        _ => None,
    }
}

/// A header value as readable text (tables and arrays inline, bytes as hex).
pub fn value_text(value: &AMQPValue) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

/// Appends [`value_text`] of `value` to `out`: one buffer for a whole nested value (`x-death` is
/// an array of tables, rendered for every message a browse visits).
fn push_value(out: &mut String, value: &AMQPValue) {
    // Writing to a String cannot fail.
    let _ = match value {
        AMQPValue::Boolean(b) => write!(out, "{b}"),
        AMQPValue::ShortShortInt(n) => write!(out, "{n}"),
        AMQPValue::ShortShortUInt(n) => write!(out, "{n}"),
        AMQPValue::ShortInt(n) => write!(out, "{n}"),
        AMQPValue::ShortUInt(n) => write!(out, "{n}"),
        AMQPValue::LongInt(n) => write!(out, "{n}"),
        AMQPValue::LongUInt(n) => write!(out, "{n}"),
        AMQPValue::LongLongInt(n) => write!(out, "{n}"),
        AMQPValue::Float(n) => write!(out, "{n}"),
        AMQPValue::Double(n) => write!(out, "{n}"),
        AMQPValue::DecimalValue(d) => write!(out, "{}e-{}", d.value, d.scale),
        AMQPValue::ShortString(s) => {
            out.push_str(s.as_str());
            Ok(())
        }
        AMQPValue::LongString(s) => {
            out.push_str(&String::from_utf8_lossy(s.as_bytes()));
            Ok(())
        }
        AMQPValue::FieldArray(items) => {
            out.push('[');
            for (n, item) in items.as_slice().iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                push_value(out, item);
            }
            out.push(']');
            Ok(())
        }
        AMQPValue::Timestamp(secs) => match seconds(*secs) {
            Some(time) => write!(out, "{}", time.to_rfc3339()),
            None => write!(out, "{secs}"),
        },
        AMQPValue::FieldTable(table) => {
            out.push('{');
            for (n, (key, item)) in table.inner().iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(key.as_str());
                out.push('=');
                push_value(out, item);
            }
            out.push('}');
            Ok(())
        }
        AMQPValue::ByteArray(bytes) => {
            out.push_str("0x");
            out.push_str(&hex::encode(bytes.as_slice()));
            Ok(())
        }
        AMQPValue::Void => Ok(()),
    };
}

/// Headers flattened: nested tables become `outer.inner` keys; every key and value sanitised.
pub fn flat_headers(properties: &BasicProperties) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(table) = properties.headers() {
        flatten("", table, &mut out);
    }
    let props: [(&str, Option<String>); 11] = [
        (
            "amqp.message_id",
            properties.message_id().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.correlation_id",
            properties
                .correlation_id()
                .as_ref()
                .map(ShortString::to_string),
        ),
        (
            "amqp.content_encoding",
            properties
                .content_encoding()
                .as_ref()
                .map(ShortString::to_string),
        ),
        (
            "amqp.type",
            properties.kind().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.user_id",
            properties.user_id().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.expiration",
            properties.expiration().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.app_id",
            properties.app_id().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.reply_to",
            properties.reply_to().as_ref().map(ShortString::to_string),
        ),
        (
            "amqp.delivery_mode",
            properties.delivery_mode().map(|m| m.to_string()),
        ),
        (
            "amqp.priority",
            properties.priority().map(|p| p.to_string()),
        ),
        (
            "amqp.timestamp",
            properties
                .timestamp()
                .map(|t| value_text(&AMQPValue::Timestamp(t))),
        ),
    ];
    out.extend(
        props
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), sanitize::line(&v)))),
    );
    out
}

fn flatten(prefix: &str, table: &FieldTable, out: &mut Vec<(String, String)>) {
    for (key, value) in table.inner() {
        // Triage's own identity is the dead letter's id, not one of its headers (and a letter
        // read before and after its stamping must not differ).
        if prefix.is_empty() && (key.as_str() == STAMP_HEADER || key.as_str() == MOVED_BY_HEADER) {
            continue;
        }
        let name = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            AMQPValue::FieldTable(inner) => flatten(&name, inner, out),
            other => out.push((sanitize::line(&name), sanitize::line(&value_text(other)))),
        }
    }
}

/// One DLQ message as the dead letter `id` of `connector`. `seen_at` stands in for failure times
/// when `x-death` carries none. Attempts are the sum over every `x-death` entry (a message that
/// died in two queues counts both).
pub fn dead_letter(
    upstream: &str,
    id: &str,
    connector: &str,
    payload: &[u8],
    properties: &BasicProperties,
    seen_at: Timestamp,
) -> DeadLetter {
    let deaths = deaths(properties);
    let latest = deaths.first();
    let error = match latest {
        Some(death) => DeadLetterError {
            code: death.reason.clone(),
            message: sanitize::line(&death.describe()),
            ..Default::default()
        },
        None => DeadLetterError {
            code: "unknown".to_string(),
            message: "no x-death header: published to the dead-letter queue directly".to_string(),
            ..Default::default()
        },
    };
    let times: Vec<Timestamp> = deaths.iter().filter_map(|d| d.time).collect();
    let first_failed_at = times.iter().min().copied().unwrap_or(seen_at);
    let last_failed_at = times.iter().max().copied().unwrap_or(seen_at);
    DeadLetter {
        upstream: upstream.to_string(),
        id: id.to_string(),
        connector: connector.to_string(),
        payload: payload.to_vec(),
        content_type: properties
            .content_type()
            .as_ref()
            .map(|c| sanitize::line(c.as_str())),
        headers: flat_headers(properties),
        error,
        attempts: u32::try_from(deaths.iter().map(|d| d.count).sum::<u64>()).unwrap_or(u32::MAX),
        first_failed_at,
        last_failed_at,
        state: DeadLetterState::Dead,
        updated_at: last_failed_at,
    }
}

/// The properties of a replayed copy: the original's, plus who replayed it and the replay id,
/// without triage's identity (should it die again it is a new dead letter, stamped anew), and with
/// its own TTL back from `x-death`'s `original-expiration` unless `restore_ttl` is false.
pub fn replay_properties(
    original: &BasicProperties,
    operator: &str,
    replay_id: &str,
    restore_ttl: bool,
) -> BasicProperties {
    let mut kept = original
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    kept.remove(STAMP_HEADER);
    kept.remove(MOVED_BY_HEADER);
    let mut headers = FieldTable::from(kept);
    let expiration = restore_ttl
        .then(|| {
            deaths(original)
                .into_iter()
                .find_map(|d| d.original_expiration)
        })
        .flatten();
    headers.insert(
        REPLAYED_BY_HEADER.into(),
        AMQPValue::LongString(operator.into()),
    );
    headers.insert(
        REPLAY_ID_HEADER.into(),
        AMQPValue::LongString(replay_id.into()),
    );
    let properties = original.clone().with_headers(headers);
    match expiration {
        Some(ttl) if original.expiration().is_none() => properties.with_expiration(ttl.into()),
        _ => properties,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_headers(pairs: &[(&str, AMQPValue)]) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (k, v) in pairs {
            headers.insert((*k).into(), v.clone());
        }
        BasicProperties::default().with_headers(headers)
    }

    #[test]
    fn content_identity_is_stable_and_told_apart_from_stamps() {
        let props = with_headers(&[("tenant", AMQPValue::LongString("acme".into()))]);
        let id = content_id(b"{\"a\":1}", &props);
        assert_eq!(id, content_id(b"{\"a\":1}", &props.clone()));
        assert_eq!(id.len(), 26);
        assert!(id.starts_with('h') && is_content_id(&id), "{id}");
        assert!(!is_content_id(&new_stamp()));
        let stamp = new_stamp();
        assert!(stamp.starts_with(|c: char| c.is_ascii_digit()), "{stamp}");
        assert_eq!(identity(b"{\"a\":1}", &props), id);
        assert_eq!(identity(b"x", &stamped(&props, &stamp)), stamp);
    }

    /// The hash's input is lapin's serde form of the properties: should an upgrade change it,
    /// every unstamped letter would re-appear under a new identity. This fails first.
    #[test]
    fn content_identity_is_pinned() {
        let props = with_headers(&[
            ("tenant", AMQPValue::LongString("acme".into())),
            ("n", AMQPValue::LongLongInt(7)),
        ])
        .with_message_id("m-1".into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2);
        assert_eq!(
            content_id(b"{\"a\":1}", &props),
            "h2a526wh0b4m7kywtdjpjh4mc4"
        );
    }

    #[test]
    fn a_moved_copy_keeps_its_identity_and_shares_its_digest_with_the_original() {
        let bare = BasicProperties::default().with_message_id("m".into());
        let empty = bare.clone().with_headers(FieldTable::default());
        let full = with_headers(&[("tenant", AMQPValue::LongString("acme".into()))]);
        for original in [&bare, &empty, &full] {
            let copy = moved_copy(original, "0pass");
            assert_eq!(content_id(b"p", original), content_id(b"p", &copy));
            assert_eq!(copy_digest(b"p", original), copy_digest(b"p", &copy));
            assert_eq!(moved_by(&copy).map(|(p, _)| p), Some("0pass".to_string()));
            // Moved again by a later pass: the mark is replaced, the identity unchanged.
            let again = moved_copy(&copy, "1pass");
            assert_eq!(content_id(b"p", original), content_id(b"p", &again));
            assert_eq!(moved_by(&again).map(|(p, _)| p), Some("1pass".to_string()));
            // A copy stamped on the way (a twin) still has the original's digest (an empty
            // table is not told from none once a stamp is in it: such a copy is kept, a
            // duplicate at worst); another payload does not.
            let stamped_copy = moved_copy(&stamped(original, &new_stamp()), "0pass");
            if original != &empty {
                assert_eq!(
                    copy_digest(b"p", original),
                    copy_digest(b"p", &stamped_copy)
                );
            }
            assert_ne!(
                copy_digest(b"q", original),
                copy_digest(b"p", &stamped_copy)
            );
            // The mark is not a header the operator sees, and a replay does not carry it.
            let letter = dead_letter("rmq", "dlq", "id", b"p", &copy, Utc::now());
            assert!(letter.headers.iter().all(|(k, _)| k != MOVED_BY_HEADER));
            let replay = replay_properties(&copy, "ana", "key", false);
            assert!(header_text(&replay, MOVED_BY_HEADER).is_none());
        }
        // The empty table is told from none.
        assert_ne!(content_id(b"p", &bare), content_id(b"p", &empty));
        assert_ne!(
            content_id(b"p", &moved_copy(&bare, "x")),
            content_id(b"p", &moved_copy(&empty, "x"))
        );
    }

    #[test]
    fn content_identity_covers_payload_and_properties_but_not_the_delivery_count() {
        let props = with_headers(&[("tenant", AMQPValue::LongString("acme".into()))]);
        let id = content_id(b"p", &props);
        assert_ne!(id, content_id(b"q", &props));
        assert_ne!(id, content_id(b"", &props));
        assert_ne!(
            id,
            content_id(
                b"p",
                &with_headers(&[("tenant", AMQPValue::LongString("other".into()))])
            )
        );
        assert_ne!(
            id,
            content_id(b"p", &props.clone().with_message_id("m-1".into()))
        );
        // Quorum queues count redeliveries in a header: the message is still the same one.
        let redelivered = with_headers(&[
            ("tenant", AMQPValue::LongString("acme".into())),
            (DELIVERY_COUNT_HEADER, AMQPValue::LongLongInt(3)),
        ]);
        assert_eq!(id, content_id(b"p", &redelivered));
        let bare = BasicProperties::default();
        let counted = with_headers(&[(DELIVERY_COUNT_HEADER, AMQPValue::LongLongInt(1))]);
        assert_eq!(content_id(b"p", &bare), content_id(b"p", &counted));
        let full = BasicProperties::default()
            .with_content_type("a/b".into())
            .with_content_encoding("gzip".into())
            .with_delivery_mode(2)
            .with_priority(3)
            .with_correlation_id("c".into())
            .with_reply_to("r".into())
            .with_expiration("60000".into())
            .with_message_id("m".into())
            .with_timestamp(7)
            .with_type("k".into())
            .with_user_id("u".into())
            .with_app_id("app".into())
            .with_cluster_id("cl".into());
        let full_counted = full
            .clone()
            .with_headers(counted.headers().clone().unwrap_or_default());
        assert_eq!(
            without_headers(&full_counted),
            full,
            "every other property kept"
        );
        assert_eq!(content_id(b"p", &full), content_id(b"p", &full_counted));
    }
}
