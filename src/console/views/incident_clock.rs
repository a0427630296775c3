//! The SLA clock section of the incident detail: the ack deadline and its countdown, the level
//! reached (and one due but not taken), the next step and when, and the ack expiry.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::incident_detail::{labelled, plain, when};
use crate::console::app::App;
use crate::console::escalation_text::{self as esc, IncidentClock};
use crate::domain::Incident;
use crate::domain::sla::ClockState;

/// Deadline and countdown, current level, next step and when, ack expiry.
pub fn lines(
    app: &App,
    incident: &Incident,
    clock: Option<&IncidentClock<'_>>,
    out: &mut Vec<Line<'static>>,
) {
    let t = &app.theme;
    let now = app.now;
    out.push(Line::styled(
        format!("SLA clock at {}", now.format("%H:%M:%S")),
        t.title(),
    ));
    let Some(c) = clock else {
        let due = match incident.ack_deadline {
            Some(at) => format!("{} as the upstream reported it", when(at, now)),
            None => "unknown until the incident is routed".into(),
        };
        out.push(plain(app, "ack due", due));
        return;
    };
    let k = &c.clock;
    let (due, due_style) = match (k.state, k.time_left) {
        (ClockState::Resolved, _) => ("resolved: no clock".to_string(), t.dim()),
        (ClockState::Acknowledged { .. }, _) => ("stopped by the ack".to_string(), t.dim()),
        (ClockState::Suppressed, _) => (
            "stopped while the upstream suppresses it".to_string(),
            t.dim(),
        ),
        (ClockState::Running, Some(left)) if left <= chrono::TimeDelta::zero() => (
            format!(
                "{} · overdue by {}",
                k.ack_deadline.format("%H:%M:%S"),
                esc::countdown(-left)
            ),
            t.critical(),
        ),
        (ClockState::Running, left) => (
            format!(
                "{} · in {}",
                k.ack_deadline.format("%H:%M:%S"),
                esc::countdown(left.unwrap_or_default())
            ),
            countdown_style(app, left.unwrap_or_default().num_seconds()),
        ),
    };
    out.push(labelled(app, "ack due", vec![Span::styled(due, due_style)]));
    if k.state == ClockState::Resolved {
        return;
    }
    let steps = c.chain.map_or(0, |chain| chain.steps.len());
    let mut level = vec![Span::raw(format!(
        "{} of {steps} ({})",
        k.level_reached,
        level_name(c, k.level_reached)
    ))];
    if k.escalation_due() {
        level.push(Span::styled(
            format!(
                " · level {} ({}) is due now: triage watch escalates",
                k.level_due,
                level_name(c, k.level_due)
            ),
            t.critical(),
        ));
    }
    out.push(labelled(app, "level", level));
    let next = match (k.state, k.next_step) {
        (ClockState::Running, Some(next)) => format!(
            "level {} ({}) in {}, at {}",
            next.level,
            level_name(c, next.level),
            esc::countdown(next.in_),
            next.at.format("%H:%M:%S")
        ),
        (ClockState::Running, None) if c.chain.is_some() => {
            "none: the chain has no further step".into()
        }
        (ClockState::Running, None) => "none: no escalation chain".into(),
        (ClockState::Suppressed, _) => "none while suppressed".into(),
        _ => "none while acknowledged".into(),
    };
    out.push(plain(app, "next", next));
    match k.state {
        ClockState::Acknowledged {
            expires_at: Some(at),
        } => out.push(plain(
            app,
            "ack expiry",
            format!("{}: the clock restarts unless resolved", when(at, now)),
        )),
        ClockState::Acknowledged { expires_at: None } => out.push(plain(
            app,
            "ack expiry",
            "never (the chain has no ack timeout)".into(),
        )),
        _ if k.ack_expired => out.push(labelled(
            app,
            "ack expiry",
            vec![Span::styled(
                format!(
                    "the ack expired at {}: the clock restarted",
                    k.cycle_started_at.format("%H:%M:%S")
                ),
                t.warning(),
            )],
        )),
        _ => {}
    }
}

/// `owner` for level 0, else whom that level's step notifies (`bridge`).
fn level_name(c: &IncidentClock<'_>, level: u32) -> String {
    if level == 0 {
        return "owner".into();
    }
    c.chain
        .and_then(|chain| chain.step_for_level(level))
        .map_or_else(|| "beyond the chain".into(), esc::step_targets)
}

fn countdown_style(app: &App, seconds_left: i64) -> Style {
    match seconds_left {
        ..60 => app.theme.critical(),
        60..300 => app.theme.warning(),
        _ => app.theme.base(),
    }
}
