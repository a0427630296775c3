//! A dead letter prepared for the detail view: payload as pretty JSON (re-indented by serde_json)
//! or a hex dump, and the contract check (required fields missing from the payload).
//! Everything here is already sanitised text, built once when the detail loads; plus the
//! replays and discards triage sent for the letter (its attempt history, refreshed on changes).

use crate::domain::{DeadLetter, OutboxEntry, sanitize};

/// How many of triage's own actions on one dead letter the detail shows (newest first).
pub const HISTORY_LIMIT: usize = 20;

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
    pub scroll: u16,
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
            (None, false) => PayloadView::Hex(hex_dump(&letter.payload)),
        };
        DeadLetterDetail {
            letter,
            payload,
            missing_required,
            contract_problem,
            scroll: 0,
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
