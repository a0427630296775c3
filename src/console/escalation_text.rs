//! The SLA clock and escalation chain of an incident as the console shows them: the clock from
//! `domain::sla::clock` at `app.now` with the incident's stored route and the route's chain, and
//! the short texts the Incidents list and the incident detail print (levels, next step, chain
//! steps with whom they notify). Pure: reads `App`, never the store.

use chrono::TimeDelta;

use super::app::App;
use crate::domain::escalation::{EscalationChain, EscalationStep, NotifyTarget};
use crate::domain::routing::StoredRoute;
use crate::domain::sla::{self, ClockState, SlaClock, SlaInput};
use crate::domain::{Incident, Timestamp, sanitize};

/// An incident's clock at `app.now`, with the chain it ran against.
#[derive(Debug, Clone, Copy)]
pub struct IncidentClock<'a> {
    pub clock: SlaClock,
    /// `None` when the route has no chain, or names one the config no longer has.
    pub chain: Option<&'a EscalationChain>,
}

/// The clock of `incident` routed by `route`, with the levels taken per ack cycle (`taken`:
/// what `triage watch` and escalates recorded, so the level shown is the one actually taken);
/// `None` while it has no stored route.
pub fn incident_clock<'a>(
    app: &'a App,
    incident: &Incident,
    route: Option<&StoredRoute>,
    taken: &[(Timestamp, u32)],
) -> Option<IncidentClock<'a>> {
    let route = route?;
    let chain = route
        .chain
        .as_deref()
        .and_then(|name| app.routing.chain(name));
    let clock = sla::clock_with_taken(
        &SlaInput::from_incident(incident),
        std::time::Duration::from_secs(route.ack_sla_secs),
        chain,
        app.now,
        taken,
    );
    Some(IncidentClock { clock, chain })
}

/// `L1`: the level reached in this cycle (the stored level without a route); `L0!` when the
/// clock says a further level is due and has not been taken yet.
pub fn level_label(incident: &Incident, clock: Option<&IncidentClock<'_>>) -> String {
    let level = clock.map_or(incident.escalation_level, |c| c.clock.level_reached);
    let due = if clock.is_some_and(|c| c.clock.escalation_due()) {
        "!"
    } else {
        ""
    };
    format!("L{level}{due}")
}

/// The Incidents list's "next" cell at `now`: `L2 7m`, `L2 due`, `ack exp 12m`, `last step`.
pub fn next_cell(clock: Option<&IncidentClock<'_>>, now: Timestamp) -> String {
    let Some(c) = clock else {
        return "not routed".into();
    };
    match c.clock.state {
        ClockState::Resolved | ClockState::Acknowledged { expires_at: None } => String::new(),
        ClockState::Suppressed => "paused".into(),
        ClockState::Acknowledged {
            expires_at: Some(at),
        } => format!("ack exp {}", compact(at - now)),
        ClockState::Running if c.clock.escalation_due() => format!("L{} due", c.clock.level_due),
        ClockState::Running => match (c.clock.next_step, c.chain) {
            (Some(next), _) => format!("L{} {}", next.level, compact(next.in_)),
            (None, Some(_)) => "last step".into(),
            (None, None) => "no chain".into(),
        },
    }
}

/// `7m12s` under an hour, `1h05m` above; negative spans as `-7m12s`.
pub fn countdown(delta: TimeDelta) -> String {
    let secs = delta.num_seconds();
    let text = match secs.abs() {
        s @ ..3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    };
    if secs < 0 { format!("-{text}") } else { text }
}

/// `42s`, `7m`, `3h`, `2d` (rounded down; negative spans as `0s`).
pub fn compact(delta: TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// A configured span: `15m`, `1h30m`, `90s` → `1m30s`, `0s`.
pub fn span(duration: std::time::Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let parts = [
        (secs / 86400, "d"),
        ((secs % 86400) / 3600, "h"),
        ((secs % 3600) / 60, "m"),
        (secs % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

/// `bridge`, `backup, vendor`: whom a step notifies, by role.
pub fn step_targets(step: &EscalationStep) -> String {
    step.notify
        .iter()
        .map(|t| sanitize::line(&t.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `level 2 +15m → bridge #inc-bridge; contingency pause_connector`.
pub fn step_line(
    app: &App,
    level: usize,
    step: &EscalationStep,
    route: &StoredRoute,
    connector: &str,
) -> String {
    let when = if step.after.is_zero() {
        "at the deadline".to_string()
    } else {
        format!("+{}", span(step.after))
    };
    let whom = step
        .notify
        .iter()
        .map(|t| target_text(app, t, route, connector))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!("level {level} {when} → {whom}");
    if let Some(contingency) = step.contingency {
        text.push_str(&format!("; contingency {}", contingency.as_str()));
    }
    text
}

/// A notify target with whom it reaches: `backup Dev Patel`, `bridge #inc-bridge`.
fn target_text(app: &App, target: &NotifyTarget, route: &StoredRoute, connector: &str) -> String {
    let who = match target {
        NotifyTarget::Owner => route.owner.as_deref().map(|id| app.person_name(id)),
        NotifyTarget::Backup => route.backup.as_deref().map(|id| app.person_name(id)),
        NotifyTarget::Team(id) | NotifyTarget::Person(id) => {
            return sanitize::line(&app.person_name(id));
        }
        NotifyTarget::Bridge => app.routing.bridge.clone(),
        NotifyTarget::Vendor => app.routing.vendor_contacts.get(connector).cloned(),
    };
    let role = target.to_string();
    match who {
        Some(who) => sanitize::line(&format!("{role} {who}")),
        None => sanitize::line(&format!("{role} (nobody configured)")),
    }
}
