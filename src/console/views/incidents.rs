//! Incidents view, most urgent first: severity, countdown to the ack deadline (warning under
//! 5 minutes, critical under 1 minute or overdue), escalation level (`!` when a further level is
//! due; wide, also the next step and when: the SLA clock of the row's stored route), status (with the outbox state of an
//! action in flight), connector, title, owner → backup and who acked when.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::{clock, safe};
use crate::console::app::App;
use crate::console::escalation_text as esc;
use crate::console::marks::{self, MarkList};
use crate::console::theme::Theme;
use crate::domain::{Incident, IncidentStatus, OutboxState, Severity, Timestamp};

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let list = &app.incidents;
    let visible = list.visible();
    let title = format!(
        " Incidents ({}){} ",
        super::list_count(list, visible.len()),
        marks::title_suffix(app, MarkList::Incidents)
    );
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, t.title())));
    if !list.loaded {
        frame.render_widget(Paragraph::new("loading incidents…").block(block), area);
        return;
    }
    if visible.is_empty() {
        let text = super::empty_list_text(list, "no open incidents", "incident");
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let wide = area.width >= 120;
    let (window, selected) = super::table_window(list.cursor, visible.len(), area.height, 2);
    let connector_width = super::column_width(
        visible
            .iter()
            .map(|&i| list.rows[i].incident.connector.as_str()),
        9,
        30,
    );
    let rows = visible[window].iter().map(|&i| {
        let incident = &list.rows[i].incident;
        let row = &list.rows[i];
        let sla = esc::incident_clock(app, incident, row.route.as_ref(), &row.taken);
        let ack_expired = sla.is_some_and(|c| c.clock.ack_expired);
        let (due, due_style) = countdown(t, incident, sla.as_ref(), app.now);
        let level_style = if sla.is_some_and(|c| c.clock.escalation_due()) {
            t.critical()
        } else {
            t.base()
        };
        let (status, status_style) = match app.action_mark(&incident.upstream, &incident.id) {
            Some((mark, OutboxState::Failed)) => (mark, t.critical()),
            Some((mark, _)) => (mark, t.accent()),
            None if ack_expired => ("ack expired".to_string(), t.warning()),
            None => (
                incident.status.as_str().to_string(),
                if incident.status == IncidentStatus::Open {
                    t.warning()
                } else {
                    t.base()
                },
            ),
        };
        let mut cells = vec![
            super::mark_cell(app, MarkList::Incidents, &incident.upstream, &incident.id),
            Cell::from(Span::styled(
                severity_label(incident.severity),
                severity_style(t, incident.severity),
            )),
            Cell::from(Span::styled(due, due_style)),
            Cell::from(Span::styled(
                esc::level_label(incident, sla.as_ref()),
                level_style,
            )),
        ];
        if wide {
            cells.push(Cell::from(Span::styled(
                esc::next_cell(sla.as_ref(), app.now),
                level_style,
            )));
        }
        cells.extend([
            Cell::from(Span::styled(safe(&status), status_style)),
            Cell::from(safe(&incident.connector)),
            Cell::from(match incident.silence_note() {
                // Muted by a maintenance window: nobody acked it; say who silenced it and why.
                Some(note) => format!("{} — {}", safe(note), safe(&incident.title)),
                None => safe(&incident.title),
            }),
            Cell::from(safe(&if wide {
                app.owner_chain(&incident.connector)
            } else {
                app.owner_chain_short(&incident.connector)
            })),
        ]);
        if wide {
            let mut acked = match (&incident.acked_by, incident.acked_at) {
                (Some(by), Some(at)) => format!("{} {}", safe(by), clock(at)),
                (Some(by), None) => safe(by),
                _ => String::new(),
            };
            if ack_expired && !acked.is_empty() {
                acked.push_str(" (expired)");
            }
            cells.push(Cell::from(acked));
        }
        Row::new(cells)
    });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "",
                "sev",
                "ack due",
                "lvl",
                "next",
                "status",
                "connector",
                "title",
                "owner → backup",
                "acked by",
            ],
            vec![
                Constraint::Length(1),
                Constraint::Length(4),
                Constraint::Length(8),
                Constraint::Length(4),
                Constraint::Length(11),
                Constraint::Length(16),
                Constraint::Length(connector_width),
                Constraint::Fill(4),
                Constraint::Fill(2),
                Constraint::Fill(2),
            ],
        )
    } else {
        (
            vec![
                "",
                "sev",
                "ack due",
                "lvl",
                "status",
                "connector",
                "title",
                "owner → backup",
            ],
            vec![
                Constraint::Length(1),
                Constraint::Length(4),
                Constraint::Length(7),
                Constraint::Length(4),
                Constraint::Length(12),
                Constraint::Fill(3),
                Constraint::Fill(4),
                Constraint::Length(14),
            ],
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.title()))
        .block(block)
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// Time left to the ack deadline, and how alarming it is. An ack that expired (the chain's ack
/// timeout) restarted the clock: its new deadline counts down like an open incident's.
pub fn countdown(
    t: &Theme,
    incident: &Incident,
    clock: Option<&esc::IncidentClock<'_>>,
    now: Timestamp,
) -> (String, Style) {
    let expired = clock.filter(|c| c.clock.ack_expired);
    match incident.status {
        IncidentStatus::Open => {}
        IncidentStatus::Acknowledged if expired.is_some() => {}
        IncidentStatus::Acknowledged => return ("acked".into(), t.dim()),
        IncidentStatus::Suppressed => return ("muted".into(), t.dim()),
        IncidentStatus::Resolved => return ("resolved".into(), t.dim()),
    }
    let deadline = match (expired, incident.ack_deadline) {
        (Some(c), _) => c.clock.ack_deadline,
        (None, Some(deadline)) => deadline,
        (None, None) => return ("—".into(), t.dim()),
    };
    let left = (deadline - now).num_seconds();
    let text = esc::countdown(deadline - now);
    let style = match left {
        ..60 => t.critical(),
        60..300 => t.warning(),
        _ => t.base(),
    };
    (text, style)
}

pub fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::Major => "MAJ",
        Severity::Warning => "WARN",
        Severity::Info => "info",
    }
}

pub fn severity_style(t: &Theme, s: Severity) -> Style {
    match s {
        Severity::Critical => t.critical(),
        Severity::Major | Severity::Warning => t.warning(),
        Severity::Info => t.dim(),
    }
}
