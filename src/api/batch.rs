//! Wire types of the API's discovery document (`GET /v1`) and of the batch dead-letter actions
//! (`POST /v1/dead-letters/replay|discard`): many items in one request, one result per item in
//! the same order, each meaning what the single-item endpoint would have answered for it.

use serde::{Deserialize, Serialize};

use super::request_fields::present;
use super::{DeadLetterDto, DestinationResponse};
use crate::domain::PayloadEncoding;

/// Most items a batch request may carry; more is a 413.
pub const MAX_BATCH_ITEMS: usize = 500;
/// Capability: `POST /v1/dead-letters/replay` is served.
pub const CAPABILITY_BATCH_REPLAY: &str = "dead-letters.replay-batch";
/// Capability: `POST /v1/dead-letters/discard` is served.
pub const CAPABILITY_BATCH_DISCARD: &str = "dead-letters.discard-batch";

/// `GET /v1`: what this upstream serves beyond the base v1 contract. An upstream that answers
/// 404 here is a v1.0 upstream: single-item endpoints only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiInfo {
    /// The contract version served (`1.1.0` adds discovery and the batch endpoints).
    pub version: String,
    /// Optional features served, by name (`CAPABILITY_*`). Unknown names are ignored.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The largest batch accepted; absent means [`MAX_BATCH_ITEMS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_items: Option<usize>,
}

impl ApiInfo {
    pub fn serves(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// Body of `POST /v1/dead-letters/replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReplayRequest {
    pub items: Vec<BatchReplayItem>,
}

/// One replay of a batch: the dead letter's id plus exactly what `POST
/// /v1/dead-letters/{id}/replay` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReplayItem {
    pub id: String,
    pub operator: String,
    pub idempotency_key: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload_encoding: Option<PayloadEncoding>,
}

/// Answer of `POST /v1/dead-letters/replay`: `results[i]` answers `items[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReplayResponse {
    pub results: Vec<BatchReplayResult>,
}

/// What became of one item. The statuses map one to one onto the single endpoint's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchItemStatus {
    /// Replay: 200 with outcome `delivered`.
    Delivered,
    /// Replay: 200 with outcome `failed` (the destination refused; the letter stays dead).
    Failed,
    /// Discard: 200, the dead letter is discarded.
    Discarded,
    /// 404: no such dead letter.
    NotFound,
    /// 409: the action does not apply in the letter's state, or the key was used for another.
    Conflict,
    /// 400: the item itself is malformed (empty key, bad base64).
    Invalid,
    /// The item was not tried now; retry it later with the same key (`retry_after` seconds).
    Unavailable,
    /// A status this client does not know (a newer upstream): whether it acted is unknown.
    #[serde(other)]
    Unknown,
}

impl BatchItemStatus {
    /// The HTTP status the single-item endpoint answers in this case.
    pub fn http_status(self) -> u16 {
        match self {
            BatchItemStatus::Delivered | BatchItemStatus::Failed | BatchItemStatus::Discarded => {
                200
            }
            BatchItemStatus::NotFound => 404,
            BatchItemStatus::Conflict => 409,
            BatchItemStatus::Invalid => 400,
            BatchItemStatus::Unavailable | BatchItemStatus::Unknown => 503,
        }
    }
}

/// One item's result in a replay batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReplayResult {
    pub id: String,
    pub idempotency_key: String,
    pub status: BatchItemStatus,
    /// Why, for every status but `delivered` (the problem detail the single endpoint gives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// With `unavailable`: seconds to wait before retrying this item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `delivered` and `failed`: the dead letter after the attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterDto>,
    /// With `delivered` and `failed`: what the destination answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<DestinationResponse>,
}

/// Body of `POST /v1/dead-letters/discard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDiscardRequest {
    pub items: Vec<BatchDiscardItem>,
}

/// One discard of a batch: the dead letter's id plus what `POST /v1/dead-letters/{id}/discard`
/// takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDiscardItem {
    pub id: String,
    pub operator: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
}

/// Answer of `POST /v1/dead-letters/discard`: `results[i]` answers `items[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDiscardResponse {
    pub results: Vec<BatchDiscardResult>,
}

/// One item's result in a discard batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchDiscardResult {
    pub id: String,
    pub status: BatchItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `discarded`: the dead letter, now discarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterDto>,
}
