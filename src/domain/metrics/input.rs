//! What the metrics are computed from: the window, who owns each connector, incident
//! timelines, replay tallies and DLQ depth series, as the store recorded them.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde::Serialize;

use crate::domain::Timestamp;

/// The half-open interval `[since, until)` a report covers; `until` is "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricsWindow {
    pub since: Timestamp,
    pub until: Timestamp,
}

impl MetricsWindow {
    /// The `length` before `now`: `last(7 days, now)` = `[now − 7d, now)`.
    pub fn last(length: Duration, now: Timestamp) -> MetricsWindow {
        let length = TimeDelta::from_std(length).unwrap_or(TimeDelta::MAX);
        MetricsWindow {
            since: now.checked_sub_signed(length).unwrap_or(Timestamp::MIN_UTC),
            until: now,
        }
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.since <= at && at < self.until
    }
}

/// A connector, its owner (person or team id from the inventory) and the owner's team (the
/// person's team, or the owner itself when it is a team). `None`: not in the inventory or no
/// team known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectorOwnership {
    pub upstream: String,
    pub connector: String,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// Dead letters waiting in its DLQ now (the store's live count).
    pub dlq_now: u64,
}

/// One incident as recorded: its times, how often it reopened, the escalation steps triage took
/// and the teams notified about it. (Upstream and connector are shared strings: a report reads
/// 100,000 of these and most share a handful of connectors.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentTimeline {
    pub upstream: Arc<str>,
    pub connector: Arc<str>,
    pub opened_at: Timestamp,
    /// The last ack the upstream reports (an ack renewed after it expired counts at the renewal).
    pub acked_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// `opened_at` + the route's ack SLA, set at sync; `None` when no SLA applies.
    pub ack_deadline: Option<Timestamp>,
    /// Times it went from resolved back to unresolved.
    pub reopens: u32,
    /// The level of each escalation step taken (by `triage watch` or an operator), any cycle.
    pub escalation_steps: Vec<u32>,
    /// The team of each notification sent about it (one per team per step).
    pub notified_teams: Vec<String>,
}

/// Replays of one connector's dead letters queued in the window, by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayTally {
    pub upstream: String,
    pub connector: String,
    /// The upstream confirmed the re-delivery (outbox `sent`).
    pub delivered: u64,
    /// Refused, or retries ran out (outbox `failed`).
    pub failed: u64,
    /// Not answered yet (outbox `pending`): not in the success rate.
    pub pending: u64,
}

/// A point of a DLQ depth chart: the deepest snapshot in a bucket, stamped with the bucket's
/// last snapshot time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DepthSample {
    pub at: Timestamp,
    pub dead: u64,
}

/// One connector's DLQ depth over the window: the first and last snapshot in it (exact) and a
/// bounded series for charts (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlqSeries {
    pub upstream: String,
    pub connector: String,
    pub first: Option<DepthSample>,
    pub last: Option<DepthSample>,
    pub points: Vec<DepthSample>,
}

/// Everything [`super::compute_report`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsInput {
    pub window: MetricsWindow,
    pub connectors: Vec<ConnectorOwnership>,
    /// Incidents opened in the window (others are ignored).
    pub incidents: Vec<IncidentTimeline>,
    pub replays: Vec<ReplayTally>,
    pub dlq: Vec<DlqSeries>,
}
