//! SLA clock with a fake clock: deadline, escalation at each step, ack stops the clock, ack
//! timeout restarts it, resolve ends it.

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use triage::domain::escalation::{Contingency, EscalationChain, EscalationStep, NotifyTarget};
use triage::domain::sla::{ClockState, SlaInput, clock};
use triage::domain::{IncidentStatus, Timestamp};

const SLA: Duration = Duration::from_secs(10 * 60);

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0)
        .single()
        .expect("valid time")
}

fn at(minutes: i64) -> Timestamp {
    t0() + TimeDelta::minutes(minutes)
}

fn major_chain(ack_timeout_min: Option<u64>) -> EscalationChain {
    let step = |after_min: u64, notify: NotifyTarget, contingency| EscalationStep {
        after: Duration::from_secs(after_min * 60),
        notify: vec![notify],
        contingency,
    };
    EscalationChain {
        name: "major".into(),
        ack_timeout: ack_timeout_min.map(|m| Duration::from_secs(m * 60)),
        steps: vec![
            step(0, NotifyTarget::Backup, None),
            step(15, NotifyTarget::Bridge, Some(Contingency::PauseConnector)),
        ],
        line: 1,
    }
}

fn open() -> SlaInput {
    SlaInput {
        opened_at: t0(),
        status: IncidentStatus::Open,
        acked_at: None,
        escalation_level: 0,
    }
}

#[test]
fn deadline_and_time_left_before_any_step() {
    let chain = major_chain(None);
    let c = clock(&open(), SLA, Some(&chain), at(6));
    assert_eq!(c.state, ClockState::Running);
    assert_eq!(c.ack_deadline, at(10));
    assert_eq!(c.time_left, Some(TimeDelta::minutes(4)));
    assert!(!c.overdue());
    assert_eq!(c.level_due, 0);
    assert!(!c.escalation_due());
    let next = c.next_step.expect("first step ahead");
    assert_eq!(
        (next.level, next.at, next.in_),
        (1, at(10), TimeDelta::minutes(4))
    );
}

#[test]
fn escalates_to_each_step_as_time_passes() {
    let chain = major_chain(None);
    // at the deadline: level 1 (backup) is due
    let c = clock(&open(), SLA, Some(&chain), at(10));
    assert!(c.overdue());
    assert_eq!(c.level_due, 1);
    assert!(c.escalation_due());
    assert_eq!(c.next_step.map(|n| (n.level, n.at)), Some((2, at(25))));
    // the watcher took level 1: nothing more is due until the bridge step
    let mut reached = open();
    reached.escalation_level = 1;
    let c = clock(&reached, SLA, Some(&chain), at(24));
    assert!(!c.escalation_due());
    assert_eq!(c.next_step.map(|n| n.in_), Some(TimeDelta::minutes(1)));
    // 15 minutes after the deadline: level 2 (bridge)
    let c = clock(&reached, SLA, Some(&chain), at(25));
    assert_eq!(c.level_due, 2);
    assert!(c.escalation_due());
    assert_eq!(c.next_step, None, "no step after the bridge");
    assert_eq!(c.time_left, Some(TimeDelta::minutes(-15)));
}

#[test]
fn manual_escalation_moves_the_next_step_along() {
    let chain = major_chain(None);
    let mut escalated = open();
    escalated.escalation_level = 1; // `e` pressed before the deadline
    let c = clock(&escalated, SLA, Some(&chain), at(2));
    assert!(!c.escalation_due());
    assert_eq!(c.next_step.map(|n| (n.level, n.at)), Some((2, at(25))));
}

#[test]
fn without_a_chain_only_the_deadline_counts() {
    let c = clock(&open(), SLA, None, at(30));
    assert!(c.overdue());
    assert_eq!(c.level_due, 0);
    assert_eq!(c.next_step, None);
}

#[test]
fn ack_stops_the_clock() {
    let chain = major_chain(None);
    let acked = SlaInput {
        status: IncidentStatus::Acknowledged,
        acked_at: Some(at(5)),
        ..open()
    };
    let c = clock(&acked, SLA, Some(&chain), at(500));
    assert_eq!(c.state, ClockState::Acknowledged { expires_at: None });
    assert_eq!(c.time_left, None);
    assert_eq!(c.level_due, 0);
    assert!(!c.escalation_due());
    assert_eq!(c.next_step, None);
}

#[test]
fn ack_timeout_restarts_the_clock() {
    let chain = major_chain(Some(30));
    let acked = SlaInput {
        status: IncidentStatus::Acknowledged,
        acked_at: Some(at(5)),
        escalation_level: 1,
        ..open()
    };
    // before the ack expires (5 + 30 = 35): stopped
    let c = clock(&acked, SLA, Some(&chain), at(34));
    assert_eq!(
        c.state,
        ClockState::Acknowledged {
            expires_at: Some(at(35))
        }
    );
    assert!(!c.ack_expired);
    // after: running again from 35, new deadline 45, levels restart
    let c = clock(&acked, SLA, Some(&chain), at(40));
    assert_eq!(c.state, ClockState::Running);
    assert!(c.ack_expired);
    assert_eq!(c.cycle_started_at, at(35));
    assert_eq!(c.ack_deadline, at(45));
    assert_eq!(c.time_left, Some(TimeDelta::minutes(5)));
    assert_eq!((c.level_due, c.level_reached), (0, 0));
    let c = clock(&acked, SLA, Some(&chain), at(45));
    assert!(
        c.escalation_due(),
        "the backup is paged again after the restart"
    );
}

#[test]
fn resolved_incidents_have_no_clock() {
    let chain = major_chain(Some(30));
    let resolved = SlaInput {
        status: IncidentStatus::Resolved,
        ..open()
    };
    let c = clock(&resolved, SLA, Some(&chain), at(100));
    assert_eq!(c.state, ClockState::Resolved);
    assert!(!c.escalation_due() && !c.overdue());
}
