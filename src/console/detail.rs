//! A dead letter prepared for the detail view: payload as pretty JSON (re-indented by serde_json)
//! or a hex dump, and the contract check (required fields missing from the payload).
//! Everything here is already sanitised text, built once when the detail loads; plus the
//! replays and discards triage sent for the letter (its attempt history, refreshed on changes).

use super::scroll::Scroll;
use crate::domain::{DeadLetter, OutboxEntry, sanitize};

/// How many of triage's own actions on one dead letter the detail shows (newest first).
pub const HISTORY_LIMIT: usize = 20;

/// How much of a payload the detail shows (bytes of payload for a hex dump, of text
/// otherwise): a 2 MiB message stays quick to draw, and a line says how much more there is.
pub const PAYLOAD_SHOWN: usize = 64 * 1024;

/// How the payload is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadView {
    /// Pretty-printed JSON; `unexpected` holds top-level field names the contract does not know.
    Json {
        lines: Vec<String>,
        unexpected: Vec<String>,
    },
    Text(Vec<String>),
    Hex(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterDetail {
    pub letter: DeadLetter,
    pub payload: PayloadView,
    /// Dotted paths of required fields the payload lacks (from the connector's contract).
    pub missing_required: Vec<String>,
    /// The contract could not be read or parsed (shown, never fatal).
    pub contract_problem: Option<String>,
    /// Bytes of the payload (hex) or of its text not shown ([`PAYLOAD_SHOWN`]); 0 = all shown.
    pub payload_hidden: usize,
    pub scroll: Scroll,
    /// Replays and discards triage queued for this letter, newest first (at most
    /// [`HISTORY_LIMIT`]); raw outbox entries, sanitised when drawn.
    pub history: Vec<OutboxEntry>,
}

impl DeadLetterDetail {
    /// `schema`: the connector's contract (JSON Schema) when it has one.
    pub fn new(
        letter: DeadLetter,
        schema: Option<&serde_json::Value>,
        contract_problem: Option<String>,
    ) -> Self {
        let parsed = if letter.payload_is_text() {
            serde_json::from_slice::<serde_json::Value>(&letter.payload).ok()
        } else {
            None
        };
        let mut missing_required = Vec::new();
        let payload = match (&parsed, letter.payload_is_text()) {
            (Some(value), _) => {
                let pretty = serde_json::to_string_pretty(value)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&letter.payload).into_owned());
                let mut unexpected = Vec::new();
                if let Some(schema) = schema {
                    missing_required_fields(schema, value, "", &mut missing_required);
                    unexpected = unknown_top_level_fields(schema, value);
                }
                PayloadView::Json {
                    lines: sanitize::multiline(&pretty)
                        .lines()
                        .map(str::to_string)
                        .collect(),
                    unexpected,
                }
            }
            (None, true) => PayloadView::Text(
                sanitize::multiline(&String::from_utf8_lossy(&letter.payload))
                    .lines()
                    .map(str::to_string)
                    .collect(),
            ),
            (None, false) => {
                let shown = letter.payload.len().min(PAYLOAD_SHOWN);
                PayloadView::Hex(hex_dump(&letter.payload[..shown]))
            }
        };
        let (payload, payload_hidden) = bound(payload, letter.payload.len());
        DeadLetterDetail {
            letter,
            payload,
            missing_required,
            contract_problem,
            payload_hidden,
            scroll: Scroll::default(),
            history: Vec::new(),
        }
    }

    /// The same detail with triage's actions on the letter (newest first).
    pub fn with_history(mut self, history: Vec<OutboxEntry>) -> Self {
        self.history = history;
        self
    }

    /// Is this the detail of `(upstream, id)`?
    pub fn is_of(&self, upstream: &str, id: &str) -> bool {
        self.letter.upstream == upstream && self.letter.id == id
    }
}

/// Keeps the payload's lines up to [`PAYLOAD_SHOWN`] bytes of text; returns them and how many
/// bytes are not shown (for a hex dump: of the payload of `payload_len` bytes).
fn bound(view: PayloadView, payload_len: usize) -> (PayloadView, usize) {
    let cut = |lines: Vec<String>| {
        let total: usize = lines.iter().map(|l| l.len() + 1).sum();
        if total <= PAYLOAD_SHOWN {
            return (lines, 0);
        }
        let mut used = 0;
        let mut kept = Vec::new();
        for line in lines {
            if used + line.len() + 1 > PAYLOAD_SHOWN {
                // The line that crosses the limit keeps its start (a huge JSON string value,
                // one long text line): what is shown always fills the budget.
                let room = PAYLOAD_SHOWN.saturating_sub(used);
                let end = (0..=room.min(line.len()))
                    .rev()
                    .find(|&i| line.is_char_boundary(i))
                    .unwrap_or(0);
                if end > 0 {
                    used += end;
                    kept.push(line[..end].to_string());
                }
                break;
            }
            used += line.len() + 1;
            kept.push(line);
        }
        (kept, total.saturating_sub(used))
    };
    match view {
        PayloadView::Hex(lines) => {
            let hidden = payload_len.saturating_sub(PAYLOAD_SHOWN);
            (PayloadView::Hex(lines), hidden)
        }
        PayloadView::Text(lines) => {
            let (lines, hidden) = cut(lines);
            (PayloadView::Text(lines), hidden)
        }
        PayloadView::Json { lines, unexpected } => {
            let (lines, hidden) = cut(lines);
            (PayloadView::Json { lines, unexpected }, hidden)
        }
    }
}

/// Classic hex dump: offset, 16 bytes in hex, printable ASCII (others as `.`).
pub fn hex_dump(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:08x}  {:<47}  |{}|", i * 16, hex.join(" "), ascii)
        })
        .collect()
}

/// Required fields (by JSON Schema `required`, following `properties` into nested objects)
/// that `value` lacks, as dotted paths.
pub fn missing_required_fields(
    schema: &serde_json::Value,
    value: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    if let Some(required) = schema.get("required").and_then(|r| r.as_array()) {
        for name in required.iter().filter_map(|n| n.as_str()) {
            if !object.contains_key(name) {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, sub_schema) in properties {
            if let Some(sub_value) = object.get(name).filter(|v| v.is_object()) {
                missing_required_fields(sub_schema, sub_value, &format!("{prefix}{name}."), out);
            }
        }
    }
}

fn unknown_top_level_fields(schema: &serde_json::Value, value: &serde_json::Value) -> Vec<String> {
    let (Some(object), Some(properties)) = (
        value.as_object(),
        schema.get("properties").and_then(|p| p.as_object()),
    ) else {
        return Vec::new();
    };
    object
        .keys()
        .filter(|k| !properties.contains_key(*k))
        .cloned()
        .collect()
}
