//! Incident detail (Enter on an incident): what it is and when it happened, the route it took
//! and why (stored by sync), the ack SLA and escalation chain, the SLA clock at `app.now`
//! (deadline, level, next step, ack expiry), then the detail text, wrapped and scrollable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::incidents::{severity_label, severity_style};
use super::{age, safe};
use crate::console::app::{App, IncidentDetail};
use crate::console::escalation_text::{self as esc, IncidentClock};
use crate::domain::routing::StoredRoute;
use crate::domain::{Incident, IncidentStatus, Timestamp};

/// Width of the label column.
const LABEL: usize = 11;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, detail: &IncidentDetail) {
    let lines = lines(app, detail);
    let incident = &detail.incident;
    let loading = if detail.loading { " · loading…" } else { "" };
    let title = format!(
        " Incidents › {} · {} · Esc back{loading} ",
        safe(&incident.id),
        safe(&incident.connector)
    );
    super::render_detail_pane(frame, area, app, title, lines, &detail.scroll);
    if app.hyperlinks {
        // A URL that came with control characters is shown sanitised, never linked.
        let urls: Vec<String> = incident
            .links
            .iter()
            .filter(|l| !l.url.chars().any(char::is_control))
            .map(|l| safe(&l.url))
            .collect();
        super::hyperlink::mark(frame.buffer_mut(), area, &urls);
    }
}

/// `label      ` followed by `value` spans.
pub(super) fn labelled(app: &App, label: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{label:<LABEL$}"), app.theme.title())];
    spans.extend(value);
    Line::from(spans)
}

pub(super) fn plain(app: &App, label: &str, value: String) -> Line<'static> {
    labelled(app, label, vec![Span::raw(value)])
}

/// `02:40:00 (20m ago)`, or `in 7m12s` for the future.
pub(super) fn when(at: Timestamp, now: Timestamp) -> String {
    let time = at.format("%H:%M:%S");
    if at > now {
        format!("{time} (in {})", esc::countdown(at - now))
    } else {
        format!("{time} ({} ago)", age(at, now))
    }
}

pub(crate) fn lines(app: &App, detail: &IncidentDetail) -> Vec<Line<'static>> {
    let t = &app.theme;
    let incident = &detail.incident;
    let clock = esc::incident_clock(app, incident, detail.route.as_ref(), &detail.taken);
    let ack_expired = clock.as_ref().is_some_and(|c| c.clock.ack_expired);
    let (status, status_style) = match incident.status {
        IncidentStatus::Acknowledged if ack_expired => ("ack expired", t.warning()),
        IncidentStatus::Open => (incident.status.as_str(), t.warning()),
        _ => (incident.status.as_str(), t.base()),
    };
    let mut out = vec![Line::from(vec![
        Span::styled(
            severity_label(incident.severity),
            severity_style(t, incident.severity),
        ),
        Span::raw(" "),
        Span::styled(status, status_style),
        Span::raw("  "),
        Span::styled(safe(&incident.title), t.title()),
    ])];
    if let Some((mark, _)) = app.action_mark(&incident.upstream, &incident.id) {
        out.push(Line::styled(safe(&mark), t.accent()));
    }
    facts(app, incident, &mut out);
    if let Some(c) = clock.as_ref().filter(|c| c.clock.ack_expired) {
        out.push(labelled(
            app,
            "",
            vec![Span::styled(
                format!(
                    "that ack expired at {}: the clock restarted",
                    when(c.clock.cycle_started_at, app.now)
                ),
                t.warning(),
            )],
        ));
    }
    out.push(Line::default());
    match &detail.route {
        Some(route) => route_lines(app, incident, route, clock.as_ref(), &mut out),
        None => out.push(labelled(
            app,
            "route",
            vec![Span::styled(
                "not routed yet (sync routes each incident it stores)",
                t.warning(),
            )],
        )),
    }
    out.push(Line::default());
    super::incident_clock::lines(app, incident, clock.as_ref(), &mut out);
    out.push(Line::default());
    out.push(Line::styled("detail", t.title()));
    if detail.text.is_empty() {
        out.push(Line::styled("(no detail text)", t.dim()));
    }
    out.extend(detail.text.iter().map(|l| Line::raw(l.clone())));
    out.push(Line::default());
    out.push(Line::styled(
        format!("notes ({})", detail.notes.len()),
        t.title(),
    ));
    if detail.notes.is_empty() {
        out.push(Line::styled("(none yet: n adds one)", t.dim()));
    }
    for note in &detail.notes {
        out.push(Line::from(vec![
            Span::styled(
                format!(
                    "{} {} ",
                    note.at.format("%m-%d %H:%M"),
                    crate::domain::sanitize::line(&note.operator)
                ),
                t.dim(),
            ),
            Span::raw(crate::domain::sanitize::line(&note.text)),
        ]));
    }
    out
}

/// Connector, times, who acked, labels and links.
fn facts(app: &App, incident: &Incident, out: &mut Vec<Line<'static>>) {
    let now = app.now;
    let name = app
        .config
        .connector(&incident.connector)
        .map(|c| format!(" ({})", safe(&c.name)))
        .unwrap_or_default();
    out.push(plain(
        app,
        "connector",
        format!(
            "{}{name} · upstream {} · kind {}",
            safe(&incident.connector),
            safe(&incident.upstream),
            safe(&incident.kind)
        ),
    ));
    out.push(plain(
        app,
        "opened",
        format!(
            "{} {} · updated {}",
            incident.opened_at.format("%Y-%m-%d"),
            when(incident.opened_at, now),
            when(incident.updated_at, now)
        ),
    ));
    let acked = match (&incident.acked_by, incident.acked_at) {
        (Some(by), Some(at)) => format!("by {} at {}", safe(by), when(at, now)),
        (Some(by), None) => format!("by {}", safe(by)),
        (None, Some(at)) => format!("at {}", when(at, now)),
        (None, None) => "not yet".into(),
    };
    out.push(plain(app, "acked", acked));
    if let Some(note) = incident.silence_note() {
        out.push(labelled(
            app,
            "silenced",
            vec![Span::styled(
                format!("{} (a silence, not an ack)", safe(note)),
                app.theme.warning(),
            )],
        ));
    }
    if let Some(at) = incident.resolved_at {
        out.push(plain(app, "resolved", when(at, now)));
    }
    let labels = if incident.labels.is_empty() {
        "none".to_string()
    } else {
        incident
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", safe(k), safe(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(plain(app, "labels", labels));
    if incident.links.is_empty() {
        out.push(plain(app, "links", "none".into()));
    }
    for (i, link) in incident.links.iter().enumerate() {
        let label = if i == 0 { "links" } else { "" };
        out.push(labelled(
            app,
            label,
            vec![
                Span::raw(format!("{} ", safe(&link.title))),
                Span::styled(format!("<{}>", safe(&link.url)), app.theme.accent()),
            ],
        ));
    }
}

/// Owner → backup and the matched rule, the ack SLA, the chain and its steps.
fn route_lines(
    app: &App,
    incident: &Incident,
    route: &StoredRoute,
    clock: Option<&IncidentClock<'_>>,
    out: &mut Vec<Line<'static>>,
) {
    let person = |id: &Option<String>| id.as_deref().map(|id| safe(&app.person_name(id)));
    let who = match (person(&route.owner), person(&route.backup)) {
        (Some(owner), Some(backup)) => format!("owner {owner} → backup {backup}"),
        (Some(owner), None) => format!("owner {owner} (no backup)"),
        (None, _) => "no owner".into(),
    };
    out.push(plain(
        app,
        "route",
        format!("{who} — {}", safe(&route.explanation())),
    ));
    out.push(plain(
        app,
        "ack SLA",
        esc::span(std::time::Duration::from_secs(route.ack_sla_secs)),
    ));
    let chain = clock.and_then(|c| c.chain);
    match (&route.chain, chain) {
        (None, _) => out.push(plain(
            app,
            "chain",
            "none (the route names no chain)".into(),
        )),
        (Some(name), None) => out.push(labelled(
            app,
            "chain",
            vec![Span::styled(
                format!("{} is not in the config any more", safe(name)),
                app.theme.warning(),
            )],
        )),
        (Some(name), Some(chain)) => {
            let expiry = chain
                .ack_timeout
                .map(|d| format!(" (an ack expires after {})", esc::span(d)))
                .unwrap_or_default();
            out.push(plain(app, "chain", format!("{}{expiry}", safe(name))));
            for (i, step) in chain.steps.iter().enumerate() {
                let text = esc::step_line(app, i + 1, step, route, &incident.connector);
                out.push(plain(app, "", text));
            }
        }
    }
}
