//! The Triage Connector API v1 wire types: the JSON both the client (`upstream::connector_api`)
//! and the demo server (`demo`) speak. Pure serde types; `assets/connector-api.yaml` is the
//! OpenAPI document for the same contract and must stay in step with this file.

mod batch;
mod request_fields;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use batch::*;
use request_fields::{present, present_u32};

use crate::domain::{
    ConnectorStatus, DeadLetterError, DeadLetterState, IncidentStatus, PayloadEncoding, Severity,
    Timestamp,
};

/// Maximum `limit` a server honours; larger values are clamped.
pub const MAX_PAGE_LIMIT: usize = 500;
/// `limit` when the client sends none.
pub const DEFAULT_PAGE_LIMIT: usize = 100;

/// A cursor-paginated list. `next_cursor` is opaque; absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorList {
    pub items: Vec<ConnectorDto>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorDto {
    pub id: String,
    pub name: String,
    pub status: ConnectorStatus,
    pub queue: QueueDto,
    pub rates: RatesDto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueDto {
    pub ready: u64,
    pub in_flight: u64,
    pub retrying: u64,
    pub dead: u64,
}

/// Messages per second over the upstream's recent window.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RatesDto {
    #[serde(rename = "in")]
    pub in_per_s: f64,
    #[serde(rename = "out")]
    pub out_per_s: f64,
    #[serde(rename = "fail")]
    pub fail_per_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDto {
    pub id: String,
    pub connector: String,
    pub kind: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub title: String,
    #[serde(default)]
    pub detail: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub acked_by: Option<String>,
    #[serde(default)]
    pub acked_at: Option<Timestamp>,
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
    #[serde(default)]
    pub escalation_level: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub links: Vec<LinkDto>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDto {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterDto {
    pub id: String,
    pub connector: String,
    /// The payload: UTF-8 text, or base64 when `payload_encoding` is `base64` (binary).
    pub payload: String,
    #[serde(default)]
    pub payload_encoding: PayloadEncoding,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub error: DeadLetterError,
    pub attempts: u32,
    pub first_failed_at: Timestamp,
    pub last_failed_at: Timestamp,
    #[serde(default)]
    pub state: DeadLetterState,
    pub updated_at: Timestamp,
}

/// Body of `POST /v1/incidents/{id}/ack|escalate|resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentActionRequest {
    pub operator: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
    #[serde(
        default,
        deserialize_with = "present_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<u32>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key: Option<String>,
}

/// Body of `POST /v1/dead-letters/{id}/replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRequest {
    pub operator: String,
    pub idempotency_key: String,
    /// Replacement payload (edited replay); same encoding rules as `DeadLetterDto::payload`.
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayOutcome {
    Delivered,
    Failed,
}

/// Answer to a replay: whether the destination took the event, and what it said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayResponse {
    pub outcome: ReplayOutcome,
    pub idempotency_key: String,
    pub dead_letter: DeadLetterDto,
    #[serde(default)]
    pub response: DestinationResponse,
}

/// What the destination system answered to a delivery attempt.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DestinationResponse {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub body: Option<String>,
}

/// Body of `POST /v1/dead-letters/{id}/discard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscardRequest {
    pub operator: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
}

/// RFC 9457 `application/problem+json` body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn about_blank() -> String {
    "about:blank".to_string()
}

/// Query of `GET /v1/incidents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Query of `GET /v1/dead-letters`. With `updated_since`, replayed and discarded dead letters
/// are listed too (as tombstones), so a client can sync incrementally.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}
