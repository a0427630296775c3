//! Incidents view, most urgent first: severity, countdown to the ack deadline (warning under
//! 5 minutes, critical under 1 minute or overdue), escalation level (`!` when a further level is
//! due; wide, also the next step and when: the SLA clock of the row's stored route), status (with the outbox state of an
//! action in flight), connector, title, owner → backup and who acked when.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph};

use super::columns::{self, Col, Kind, cell_text};
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
        " Incidents ({}){}{} ",
        super::list_count(list, visible.len()),
        marks::title_suffix(app, MarkList::Incidents),
        super::sort_suffix(app, crate::store::SortList::Incidents)
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
    let (window, selected) = super::table_window(list.cursor, visible.len(), area.height, 2);
    let cells: Vec<RowText> = visible[window.clone()]
        .iter()
        .map(|&i| row_text(app, &list.rows[i]))
        .collect();
    let all = || visible.iter().map(|&i| &list.rows[i].incident);
    let owners: Vec<String> = all().map(|i| app.owner_chain(&i.connector)).collect();
    let short_owner = all()
        .map(|i| {
            unicode_width::UnicodeWidthStr::width(app.owner_chain_short(&i.connector).as_str())
        })
        .max()
        .unwrap_or(0);
    let cols = [
        Col::fixed("", 1, Kind::Key),
        Col::fixed("sev", 4, Kind::Optional(6)),
        Col::new(
            "ack due",
            cells.iter().map(|c| c.due.0.as_str()),
            5,
            Kind::Key,
        ),
        Col::new(
            "lvl",
            cells.iter().map(|c| c.level.as_str()),
            3,
            Kind::Optional(4),
        ),
        Col::new(
            "next",
            cells.iter().map(|c| c.next.as_str()),
            6,
            Kind::Optional(1),
        ),
        // Status and id give way (short status words, an id cut in the middle) before the
        // title does: at 80 columns with real ids the title keeps 12 columns.
        Col {
            min: cells
                .iter()
                .map(|c| unicode_width::UnicodeWidthStr::width(c.status_short.as_str()))
                .max()
                .map_or(6, |w| u16::try_from(w).unwrap_or(u16::MAX)),
            ..Col::new(
                "status",
                cells.iter().map(|c| c.status.0.as_str()),
                6,
                Kind::Id(4),
            )
            .cap(18)
        },
        Col::new("id", all().map(|i| i.id.as_str()), 12, Kind::Id(3)),
        Col::new(
            "connector",
            all().map(|i| i.connector.as_str()),
            12,
            Kind::Key,
        ),
        Col::new(
            "title",
            cells.iter().map(|c| c.title.as_str()),
            12,
            Kind::Flex(5),
        ),
        Col {
            min: u16::try_from(short_owner).unwrap_or(u16::MAX).min(16),
            ..Col::new(
                "owner → backup",
                owners.iter().map(String::as_str),
                0,
                Kind::Flex(2),
            )
        },
        Col::new(
            "acked by",
            cells.iter().map(|c| c.acked.as_str()),
            8,
            Kind::Optional(0),
        ),
    ];
    let widths = columns::fit(&cols, area.width);
    let rows = visible[window].iter().zip(&cells).map(|(&i, text)| {
        let incident = &list.rows[i].incident;
        let full_owner = app.owner_chain(&incident.connector);
        let owner = |w: u16| {
            if unicode_width::UnicodeWidthStr::width(full_owner.as_str()) <= usize::from(w) {
                full_owner.clone()
            } else {
                app.owner_chain_short(&incident.connector)
            }
        };
        let texts: [Option<Cell>; 11] = [
            Some(super::mark_cell(
                app,
                MarkList::Incidents,
                &incident.upstream,
                &incident.id,
            )),
            Some(Cell::from(Span::styled(
                severity_label(incident.severity),
                severity_style(t, incident.severity),
            ))),
            Some(Cell::from(Span::styled(text.due.0.clone(), text.due.1))),
            Some(Cell::from(Span::styled(
                text.level.clone(),
                text.level_style,
            ))),
            Some(Cell::from(Span::styled(
                text.next.clone(),
                text.level_style,
            ))),
            widths[5].map(|w| {
                let full = unicode_width::UnicodeWidthStr::width(text.status.0.as_str());
                let words = if full <= usize::from(w) {
                    &text.status.0
                } else {
                    &text.status_short
                };
                Cell::from(Span::styled(cell_text(words, w), text.status.1))
            }),
            widths[6].map(|w| Cell::from(columns::fit_id(&safe(&incident.id), w))),
            widths[7].map(|w| Cell::from(cell_text(&safe(&incident.connector), w))),
            widths[8].map(|w| Cell::from(cell_text(&text.title, w))),
            widths[9].map(|w| Cell::from(cell_text(&safe(&owner(w)), w))),
            widths[10].map(|w| Cell::from(cell_text(&text.acked, w))),
        ];
        columns::row(texts, &widths)
    });
    columns::render_table(
        frame,
        area,
        app,
        Some(block),
        rows,
        (&cols, &widths),
        selected,
    );
}

/// What one incident row says, before the columns are fitted.
struct RowText {
    due: (String, Style),
    level: String,
    level_style: Style,
    next: String,
    status: (String, Style),
    /// The status in short words for a narrow column ("acked", "ack exp", "ack failed").
    status_short: String,
    title: String,
    acked: String,
}

fn row_text(app: &App, row: &crate::console::paging::IncidentRow) -> RowText {
    let t = &app.theme;
    let incident = &row.incident;
    let sla = esc::incident_clock(app, incident, row.route.as_ref(), &row.taken);
    let ack_expired = sla.is_some_and(|c| c.clock.ack_expired);
    let level_style = if sla.is_some_and(|c| c.clock.escalation_due()) {
        t.critical()
    } else {
        t.base()
    };
    let status = match app.action_mark(&incident.upstream, &incident.id) {
        Some((mark, OutboxState::Failed)) => (safe(&mark), t.critical()),
        Some((mark, _)) => (safe(&mark), t.accent()),
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
    let status_short = short_status(&status.0);
    let mut acked = match (&incident.acked_by, incident.acked_at) {
        (Some(by), Some(at)) => format!("{} {}", safe(by), clock(at)),
        (Some(by), None) => safe(by),
        _ => String::new(),
    };
    if ack_expired && !acked.is_empty() {
        acked.push_str(" (expired)");
    }
    RowText {
        due: countdown(t, incident, sla.as_ref(), app.now),
        level: esc::level_label(incident, sla.as_ref()),
        level_style,
        next: esc::next_cell(sla.as_ref(), app.now),
        status,
        status_short,
        title: match incident.silence_note() {
            // Muted by a maintenance window: nobody acked it; say who silenced it and why.
            Some(note) => format!("{} — {}", safe(note), safe(&incident.title)),
            None => safe(&incident.title),
        },
        acked,
    }
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

/// A status in as few words as it can say: "acknowledged" → "acked", "suppressed" → "muted",
/// "ack expired" → "ack exp", an action's "ack failed: <reason>" → "ack failed",
/// "escalate pending…" → "escalate…".
fn short_status(status: &str) -> String {
    match status {
        "acknowledged" => "acked".into(),
        "suppressed" => "muted".into(),
        "ack expired" => "ack exp".into(),
        other => match other.split_once(": ") {
            Some((head, _)) => head.to_string(),
            None => other.replace(" pending…", "…"),
        },
    }
}
