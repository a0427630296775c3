//! Connection state per upstream, shown honestly in the console header and `triage status`.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Which adapter talks to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamKind {
    ConnectorApi,
    Rabbitmq,
    Alertmanager,
    /// Amazon SQS (or an SQS-compatible server): source queues with a redrive policy to a DLQ.
    Sqs,
}

impl UpstreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamKind::ConnectorApi => "connector_api",
            UpstreamKind::Rabbitmq => "rabbitmq",
            UpstreamKind::Alertmanager => "alertmanager",
            UpstreamKind::Sqs => "sqs",
        }
    }
}

/// What we know about the link to one upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// No poll has finished yet.
    Connecting,
    /// The last poll succeeded.
    Live { last_ok: Timestamp },
    /// Polls are failing but data from `last_ok` is still shown.
    Stale {
        last_ok: Timestamp,
        since: Timestamp,
        error: String,
    },
    /// Never reached, or failing for longer than the stale window.
    Down { since: Timestamp, error: String },
}

impl ConnectionState {
    pub fn label(&self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live { .. } => "live",
            ConnectionState::Stale { .. } => "stale",
            ConnectionState::Down { .. } => "down",
        }
    }

    /// The state after a failed poll at `now`: data seen before stays, marked stale, until
    /// `stale_window` has passed since the last success; then the upstream is down.
    pub fn after_failure(
        &self,
        now: Timestamp,
        error: String,
        stale_window: chrono::Duration,
    ) -> Self {
        match self {
            ConnectionState::Live { last_ok } => ConnectionState::Stale {
                last_ok: *last_ok,
                since: now,
                error,
            },
            ConnectionState::Stale { last_ok, since, .. } if now - *last_ok < stale_window => {
                ConnectionState::Stale {
                    last_ok: *last_ok,
                    since: *since,
                    error,
                }
            }
            ConnectionState::Stale { since, .. } => ConnectionState::Down {
                since: *since,
                error,
            },
            ConnectionState::Down { since, .. } => ConnectionState::Down {
                since: *since,
                error,
            },
            ConnectionState::Connecting => ConnectionState::Down { since: now, error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn failures_go_stale_then_down() {
        let t0 = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 3, 0, 0).unwrap();
        let window = chrono::Duration::seconds(60);
        let live = ConnectionState::Live { last_ok: t0 };
        let s1 = live.after_failure(t0 + chrono::Duration::seconds(5), "refused".into(), window);
        assert_eq!(s1.label(), "stale");
        let s2 = s1.after_failure(t0 + chrono::Duration::seconds(30), "refused".into(), window);
        assert_eq!(s2.label(), "stale");
        let s3 = s2.after_failure(t0 + chrono::Duration::seconds(61), "refused".into(), window);
        assert!(
            matches!(s3, ConnectionState::Down { since, .. } if since == t0 + chrono::Duration::seconds(5))
        );
        let never = ConnectionState::Connecting.after_failure(t0, "refused".into(), window);
        assert_eq!(never.label(), "down");
    }
}
