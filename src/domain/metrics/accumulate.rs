//! Running sums for one row (a connector or a team) while incidents are folded in, and the
//! finished [`MetricsRow`] they give.

use super::input::{IncidentTimeline, MetricsWindow, ReplayTally};
use super::report::MetricsRow;
use super::stats::DurationStats;

/// What one row has seen so far.
#[derive(Debug, Clone, Default)]
pub(super) struct Accumulator {
    pub opened: u64,
    pub mtta_ms: Vec<i64>,
    pub mttr_ms: Vec<i64>,
    pub reopened: u64,
    pub reopens: u64,
    pub sla_judged: u64,
    pub sla_met: u64,
    pub escalations: u64,
    pub max_level: u32,
    pub cross_team_pings: u64,
    pub dlq_now: u64,
    pub dlq_first: Option<u64>,
    pub dlq_last: Option<u64>,
    pub replays: ReplayTally,
}

impl Accumulator {
    /// Folds in one incident opened in the window; `owner_team` is its connector's team.
    pub fn add_incident(
        &mut self,
        incident: &IncidentTimeline,
        owner_team: Option<&str>,
        window: &MetricsWindow,
    ) {
        self.opened += 1;
        let since_open = |at: Option<chrono::DateTime<chrono::Utc>>| {
            at.map(|at| (at - incident.opened_at).num_milliseconds())
                .filter(|ms| *ms >= 0)
        };
        if let Some(ms) = since_open(incident.acked_at) {
            self.mtta_ms.push(ms);
        }
        if let Some(ms) = since_open(incident.resolved_at) {
            self.mttr_ms.push(ms);
        }
        if incident.reopens > 0 {
            self.reopened += 1;
            self.reopens += u64::from(incident.reopens);
        }
        if let Some(met) = ack_within_sla(incident, window) {
            self.sla_judged += 1;
            self.sla_met += u64::from(met);
        }
        self.escalations += incident.escalation_steps.len() as u64;
        if let Some(max) = incident.escalation_steps.iter().max() {
            self.max_level = self.max_level.max(*max);
        }
        self.cross_team_pings += incident
            .notified_teams
            .iter()
            .filter(|team| Some(team.as_str()) != owner_team)
            .count() as u64;
    }

    /// Sorts the duration samples, so rows merged from this one sort in one pass over runs.
    pub fn sort_samples(&mut self) {
        self.mtta_ms.sort_unstable();
        self.mttr_ms.sort_unstable();
    }

    /// Adds another row's sums (a team sums its connectors; DLQ first/last add up when known).
    pub fn merge(&mut self, other: &Accumulator) {
        self.opened += other.opened;
        self.mtta_ms.extend_from_slice(&other.mtta_ms);
        self.mttr_ms.extend_from_slice(&other.mttr_ms);
        self.reopened += other.reopened;
        self.reopens += other.reopens;
        self.sla_judged += other.sla_judged;
        self.sla_met += other.sla_met;
        self.escalations += other.escalations;
        self.max_level = self.max_level.max(other.max_level);
        self.cross_team_pings += other.cross_team_pings;
        self.dlq_now += other.dlq_now;
        let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.dlq_first = add(self.dlq_first, other.dlq_first);
        self.dlq_last = add(self.dlq_last, other.dlq_last);
        self.replays.delivered += other.replays.delivered;
        self.replays.failed += other.replays.failed;
        self.replays.pending += other.replays.pending;
    }

    /// The finished numbers; the caller fills in the row's identity.
    pub fn finish(mut self) -> MetricsRow {
        let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        let replays_done = self.replays.delivered + self.replays.failed;
        MetricsRow {
            upstream: None,
            connector: None,
            owner: None,
            team: None,
            incidents_opened: self.opened,
            mtta: DurationStats::from_millis(&mut self.mtta_ms),
            mttr: DurationStats::from_millis(&mut self.mttr_ms),
            reopened: self.reopened,
            reopens: self.reopens,
            reopen_rate: ratio(self.reopened, self.opened),
            ack_sla_judged: self.sla_judged,
            acked_within_sla: self.sla_met,
            ack_within_sla_pct: ratio(self.sla_met, self.sla_judged).map(|r| r * 100.0),
            escalations: self.escalations,
            max_escalation_level: self.max_level,
            cross_team_pings: self.cross_team_pings,
            cross_team_pings_per_incident: ratio(self.cross_team_pings, self.opened),
            dlq_now: self.dlq_now,
            dlq_first: self.dlq_first,
            dlq_last: self.dlq_last,
            dlq_trend: match (self.dlq_first, self.dlq_last) {
                (Some(first), Some(last)) => Some(last as i64 - first as i64),
                _ => None,
            },
            replays: replays_done + self.replays.pending,
            replays_delivered: self.replays.delivered,
            replays_failed: self.replays.failed,
            replays_pending: self.replays.pending,
            replay_success_rate: ratio(self.replays.delivered, replays_done),
        }
    }
}

/// Whether the incident was acked within its SLA: `Some(true)` acked at or before the deadline;
/// `Some(false)` acked after it, or still unacked once it passed (at the window's end) unless it
/// was resolved before the deadline; `None` (not judged) without a deadline, when resolved
/// unacked before the deadline, or while the deadline is still ahead.
pub fn ack_within_sla(incident: &IncidentTimeline, window: &MetricsWindow) -> Option<bool> {
    let deadline = incident.ack_deadline?;
    match incident.acked_at {
        Some(acked) => Some(acked <= deadline),
        None if incident.resolved_at.is_some_and(|r| r <= deadline) => None,
        None if deadline < window.until => Some(false),
        None => None,
    }
}
