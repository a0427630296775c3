//! A connector: one integration path (source → destination) with its owner and live queue stats.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::Timestamp;

/// Which way data flows through a connector, seen from the system of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Inbound,
    Outbound,
    Bidirectional,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Bidirectional => "bidirectional",
        }
    }
}

/// Health as reported by the upstream (or derived from queue stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorStatus {
    Healthy,
    Degraded,
    Failing,
    Paused,
    #[default]
    Unknown,
}

impl ConnectorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorStatus::Healthy => "healthy",
            ConnectorStatus::Degraded => "degraded",
            ConnectorStatus::Failing => "failing",
            ConnectorStatus::Paused => "paused",
            ConnectorStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "healthy" => Self::Healthy,
            "degraded" => Self::Degraded,
            "failing" => Self::Failing,
            "paused" => Self::Paused,
            _ => Self::Unknown,
        }
    }
}

/// Queue numbers for one connector at one instant. Rates are messages per second.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    pub ready: u64,
    pub in_flight: u64,
    pub retrying: u64,
    pub dead: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    pub rate_fail: f64,
}

/// A connector as the console and CLI see it: the inventory entry from config merged with what
/// the upstream reports. Inventory fields are `None` when the connector is not in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connector {
    pub id: String,
    pub upstream: String,
    pub name: String,
    pub source: Option<String>,
    pub destination: Option<String>,
    pub direction: Option<Direction>,
    pub purpose: Option<String>,
    pub owner: Option<String>,
    pub backup: Option<String>,
    #[serde(with = "humantime_serde", default)]
    pub ack_sla: Option<Duration>,
    pub runbook: Option<String>,
    pub contract: Option<String>,
    pub status: ConnectorStatus,
    pub stats: QueueStats,
    pub last_error: Option<String>,
    pub updated_at: Option<Timestamp>,
}

/// What an upstream reports about one of its connectors at one poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorReport {
    pub id: String,
    pub name: String,
    pub status: ConnectorStatus,
    pub stats: QueueStats,
    pub last_error: Option<String>,
    pub updated_at: Timestamp,
}
