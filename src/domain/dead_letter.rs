//! Dead letters: events an integration could not deliver, kept with why they died.

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PayloadEncoding {
    #[default]
    Utf8,
    Base64,
}

/// Why the event died, as the upstream explains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeadLetterError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_response: Option<String>,
}

/// Where a dead letter is in its life. Replayed and discarded ones are kept as history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterState {
    #[default]
    Dead,
    Replayed,
    Discarded,
}

impl DeadLetterState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterState::Dead => "dead",
            DeadLetterState::Replayed => "replayed",
            DeadLetterState::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dead" => Some(Self::Dead),
            "replayed" => Some(Self::Replayed),
            "discarded" => Some(Self::Discarded),
            _ => None,
        }
    }
}

/// A dead letter's new state as an upstream's minimal answer gives it (a batch answered with
/// `Prefer: return=minimal`): the state changed, nothing else did. The store writes the state
/// alone; the next poll brings the upstream's own timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterState {
    pub upstream: String,
    pub id: String,
    pub state: DeadLetterState,
    /// When the answer was read.
    pub at: Timestamp,
}

/// A dead-lettered event. The payload is kept as exact bytes; headers keep their order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub upstream: String,
    pub id: String,
    pub connector: String,
    pub payload: Vec<u8>,
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub error: DeadLetterError,
    pub attempts: u32,
    pub first_failed_at: Timestamp,
    pub last_failed_at: Timestamp,
    pub state: DeadLetterState,
    pub updated_at: Timestamp,
}

impl DeadLetter {
    /// True when the payload is valid UTF-8 without NUL bytes: safe to show as text.
    pub fn payload_is_text(&self) -> bool {
        std::str::from_utf8(&self.payload).is_ok_and(|s| !s.contains('\0'))
    }
}
