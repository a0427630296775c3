//! SLA clocks: from an incident's timestamps, its route's ack SLA and its escalation chain,
//! compute the ack deadline, the time left, the escalation level due now, and the next step and
//! when. Pure, with `now` passed in, so tests and the console use the same arithmetic.
//!
//! Semantics:
//! - the clock runs from `opened_at`; the ack deadline is `opened_at + ack_sla`;
//! - step `i` of the chain (level `i + 1`) is due at `ack deadline + step.after`;
//! - an ack stops the clock; with `ack_timeout`, an ack older than the timeout expires and the
//!   clock restarts at `acked_at + ack_timeout` (PagerDuty semantics): new deadline, levels
//!   counted again from 0 for the new cycle (`cycle_started_at` tells the cycles apart);
//! - a resolved incident has no clock.

use std::time::Duration;

use chrono::TimeDelta;
use serde::Serialize;

use super::escalation::EscalationChain;
use super::{Incident, IncidentStatus, Timestamp};

/// The incident fields the clock reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaInput {
    pub opened_at: Timestamp,
    pub status: IncidentStatus,
    pub acked_at: Option<Timestamp>,
    /// Escalation level already reached (0 = owner), as stored with the incident.
    pub escalation_level: u32,
}

impl SlaInput {
    pub fn from_incident(incident: &Incident) -> SlaInput {
        SlaInput {
            opened_at: incident.opened_at,
            status: incident.status,
            acked_at: incident.acked_at,
            escalation_level: incident.escalation_level,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ClockState {
    /// Waiting for an ack (possibly overdue).
    Running,
    /// Acked: the clock is stopped until `expires_at` (never, without an ack timeout).
    Acknowledged {
        expires_at: Option<Timestamp>,
    },
    /// Suppressed upstream (e.g. inhibited by another alert): stopped while it lasts.
    Suppressed,
    Resolved,
}

/// The next escalation step and when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextStep {
    /// The level it takes the incident to (1 = the chain's first step).
    pub level: u32,
    pub at: Timestamp,
    /// Until `at` from `now` (negative when already due).
    pub in_: TimeDelta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    pub state: ClockState,
    /// When the current ack cycle started: `opened_at`, or when the last ack expired.
    pub cycle_started_at: Timestamp,
    /// True when the incident was acked but the ack timed out (the clock restarted).
    pub ack_expired: bool,
    pub ack_deadline: Timestamp,
    /// Until the ack deadline (negative when overdue); `None` when the clock is stopped.
    pub time_left: Option<TimeDelta>,
    /// The level the clock says must have been reached by now (0 while stopped).
    pub level_due: u32,
    /// The level reached in this cycle (the stored level; 0 after an ack expired).
    pub level_reached: u32,
    /// The first step beyond both `level_due` and `level_reached`, if the chain has one.
    pub next_step: Option<NextStep>,
}

impl SlaClock {
    /// True when a step is due that has not been taken yet (`triage watch` escalates).
    pub fn escalation_due(&self) -> bool {
        self.level_due > self.level_reached
    }

    /// True when the ack deadline has passed while the clock runs.
    pub fn overdue(&self) -> bool {
        self.time_left.is_some_and(|left| left <= TimeDelta::zero())
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn add(at: Timestamp, duration: Duration) -> Timestamp {
    at.checked_add_signed(delta(duration))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

/// The clock of one incident at `now`.
pub fn clock(
    incident: &SlaInput,
    ack_sla: Duration,
    chain: Option<&EscalationChain>,
    now: Timestamp,
) -> SlaClock {
    let mut cycle_started_at = incident.opened_at;
    let mut ack_expired = false;
    let mut state = ClockState::Running;
    match incident.status {
        IncidentStatus::Resolved => state = ClockState::Resolved,
        IncidentStatus::Suppressed => state = ClockState::Suppressed,
        IncidentStatus::Acknowledged => {
            let acked_at = incident.acked_at.unwrap_or(incident.opened_at);
            let expires_at = chain
                .and_then(|c| c.ack_timeout)
                .map(|timeout| add(acked_at, timeout));
            match expires_at {
                Some(expiry) if expiry <= now => {
                    cycle_started_at = expiry;
                    ack_expired = true;
                }
                _ => state = ClockState::Acknowledged { expires_at },
            }
        }
        IncidentStatus::Open => {}
    }
    let ack_deadline = add(cycle_started_at, ack_sla);
    let level_reached = if ack_expired {
        0
    } else {
        incident.escalation_level
    };
    if state != ClockState::Running {
        return SlaClock {
            state,
            cycle_started_at,
            ack_expired,
            ack_deadline,
            time_left: None,
            level_due: 0,
            level_reached,
            next_step: None,
        };
    }
    let steps = chain.map_or(&[][..], |c| c.steps.as_slice());
    let due_count = steps
        .iter()
        .take_while(|step| add(ack_deadline, step.after) <= now)
        .count();
    let level_due = u32::try_from(due_count).unwrap_or(u32::MAX);
    let next_step = next_step(chain, ack_deadline, level_due.max(level_reached), now);
    SlaClock {
        state,
        cycle_started_at,
        ack_expired,
        ack_deadline,
        time_left: Some(ack_deadline - now),
        level_due,
        level_reached,
        next_step,
    }
}

/// The chain's first step beyond `level`, and when it fires.
fn next_step(
    chain: Option<&EscalationChain>,
    ack_deadline: Timestamp,
    level: u32,
    now: Timestamp,
) -> Option<NextStep> {
    let next_level = level.saturating_add(1);
    chain
        .and_then(|c| c.step_for_level(next_level))
        .map(|step| {
            let at = add(ack_deadline, step.after);
            NextStep {
                level: next_level,
                at,
                in_: at - now,
            }
        })
}

/// The clock with the levels taken per ack cycle (`(cycle_started_at, level)`, as
/// `Store::escalation_levels` returns them: `triage watch`'s steps and the operator's
/// escalates): the level taken in the current cycle counts as reached, even when the upstream
/// does not report it (Alertmanager) or the ack expired since (a new cycle).
pub fn clock_with_taken(
    incident: &SlaInput,
    ack_sla: Duration,
    chain: Option<&EscalationChain>,
    now: Timestamp,
    taken: &[(Timestamp, u32)],
) -> SlaClock {
    let mut c = clock(incident, ack_sla, chain, now);
    let cycle_ms = c.cycle_started_at.timestamp_millis();
    let recorded = taken
        .iter()
        .filter(|(cycle, _)| cycle.timestamp_millis() == cycle_ms)
        .map(|(_, level)| *level)
        .max()
        .unwrap_or(0);
    if recorded > c.level_reached {
        c.level_reached = recorded;
        if c.state == ClockState::Running {
            c.next_step = next_step(chain, c.ack_deadline, c.level_due.max(recorded), now);
        }
    }
    c
}
