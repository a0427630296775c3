//! Activity view: the outbox (who asked for what, when; pending / sent / failed with the
//! upstream's answer) above the tail of the audit log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::columns::{self, Col, Kind, cell_text};
use super::safe;
use crate::console::app::App;
use crate::domain::run::RunState;
use crate::domain::{OutboxEntry, OutboxState};

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if let Some(entry) = &app.activity.open {
        render_entry(frame, area, app, entry);
        return;
    }
    let t = &app.theme;
    let activity = &app.activity;
    let audit_height = if area.height >= 16 {
        area.height / 3
    } else {
        0
    };
    let runs_height = if activity.runs.is_empty() || area.height < 12 {
        0
    } else {
        u16::try_from(
            activity
                .runs
                .len()
                .min(if area.height >= 30 { 6 } else { 3 }),
        )
        .unwrap_or(3)
            + 2
    };
    let [runs_area, top, bottom] = Layout::vertical([
        Constraint::Length(runs_height),
        Constraint::Min(1),
        Constraint::Length(audit_height),
    ])
    .areas(area);
    if runs_height > 0 {
        render_runs(frame, runs_area, app);
    }
    let list = &activity.list;
    let visible = list.visible();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(
            format!(" Outbox ({}) ", super::list_count(list, visible.len())),
            t.title(),
        )));
    if !list.loaded {
        frame.render_widget(Paragraph::new("loading activity…").block(block), top);
    } else if visible.is_empty() {
        let text = super::empty_list_text(
            list,
            "no actions yet: a, e, x on incidents, r, d on dead letters",
            "action",
        );
        frame.render_widget(Paragraph::new(text).block(block), top);
    } else {
        render_outbox(frame, top, app, block, &visible);
    }
    if audit_height > 0 {
        let block = Block::default()
            .borders(Borders::TOP)
            .title(Line::from(Span::styled(" Audit log ", t.title())));
        let lines: Vec<Line<'_>> = activity
            .audit
            .iter()
            .take(usize::from(audit_height))
            .map(|a| {
                Line::from(vec![
                    Span::styled(format!("{} ", a.at.format("%H:%M:%S")), t.dim()),
                    Span::raw(format!(
                        "{} {} {}:{} {}",
                        safe(&a.operator),
                        safe(&a.event),
                        safe(&a.upstream),
                        safe(&a.target),
                        safe(&a.detail)
                    )),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).block(block), bottom);
    }
}

/// What came back: the outcome summary, the last error, or "waiting".
fn answer(e: &OutboxEntry) -> String {
    match (&e.outcome, &e.last_error, e.state) {
        (Some(outcome), _, _) => outcome.summary.clone(),
        (None, Some(error), OutboxState::Pending) => format!("retrying: {error}"),
        (None, Some(error), _) => error.clone(),
        (None, None, OutboxState::Pending) => "waiting to be sent".into(),
        (None, None, _) => String::new(),
    }
}

/// The newest runs: state, stage, counts, and (for the run this console drives) rate and ETA.
fn render_runs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let activity = &app.activity;
    let focus = activity.runs_focus;
    let hint = if focus {
        " · p pause/resume · C cancel · w outbox "
    } else {
        " · w select "
    };
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(vec![
            Span::styled(format!(" Runs ({}) ", activity.runs.len()), t.title()),
            Span::styled(hint, t.dim()),
        ]));
    let (window, selected) =
        super::table_window(activity.runs_cursor, activity.runs.len(), area.height, 2);
    struct RunText {
        id: String,
        kind: &'static str,
        state: (&'static str, ratatui::style::Style),
        stage: String,
        progress: String,
        speed: String,
        selection: String,
    }
    let texts: Vec<RunText> = activity.runs[window]
        .iter()
        .map(|(run, p)| {
            let state_style = match run.state {
                RunState::Running => t.accent(),
                RunState::Paused => t.warning(),
                RunState::Done if p.failed == 0 => t.ok(),
                RunState::Done | RunState::Cancelled => t.critical(),
            };
            // A running run nobody drives (its driver quit or died) says so: `p` drives it here.
            let state = if run.state == RunState::Running && activity.undriven.contains(&run.id) {
                ("stalled", t.warning())
            } else {
                (run.state.as_str(), state_style)
            };
            RunText {
                id: safe(&run.id),
                kind: run.kind.as_str(),
                state,
                stage: p.stage.map_or("-".to_string(), |s| {
                    format!("{}/{}", s + 1, run.stages.len())
                }),
                progress: format!(
                    "{} sent · {} failed · {} skipped · {} left",
                    p.sent,
                    p.failed,
                    p.skipped,
                    p.remaining()
                ),
                speed: app
                    .run
                    .as_ref()
                    .filter(|g| g.id == run.id && !g.finished)
                    .and_then(|g| g.speed_text())
                    .unwrap_or_default(),
                selection: safe(&run.selection),
            }
        })
        .collect();
    let col = |header, f: fn(&RunText) -> &str, min, kind| {
        Col::new(header, texts.iter().map(f), min, kind)
    };
    let cols = [
        col("run", |r| &r.id, 12, Kind::Id(3)),
        col("kind", |r| r.kind, 4, Kind::Optional(1)),
        col("state", |r| r.state.0, 5, Kind::Key),
        col("stage", |r| &r.stage, 3, Kind::Key),
        col("progress", |r| &r.progress, 14, Kind::Flex(4)),
        col("rate", |r| &r.speed, 4, Kind::Optional(2)),
        col("selection", |r| &r.selection, 12, Kind::Flex(0)),
    ];
    // No run is being driven here: no rate column at all.
    let mut cols = cols;
    let rated = texts.iter().any(|r| !r.speed.is_empty());
    if !rated {
        cols[5] = Col {
            want: 0,
            min: 0,
            ..cols[5].clone()
        };
    }
    let mut widths = columns::fit(&cols, area.width);
    if !rated {
        widths[5] = None;
    }
    let rows = texts.iter().map(|r| {
        let cells = [
            widths[0].map(|w| Cell::from(columns::fit_id(&r.id, w))),
            widths[1].map(|w| Cell::from(cell_text(r.kind, w))),
            widths[2].map(|w| Cell::from(Span::styled(cell_text(r.state.0, w), r.state.1))),
            widths[3].map(|w| Cell::from(cell_text(&r.stage, w))),
            widths[4].map(|w| Cell::from(cell_text(&r.progress, w))),
            widths[5].map(|w| Cell::from(cell_text(&r.speed, w))),
            widths[6].map(|w| Cell::from(cell_text(&r.selection, w))),
        ];
        Row::new(cells.into_iter().flatten())
    });
    let (header, widths) = (
        columns::headers(&cols, &widths),
        columns::constraints(&widths),
    );
    let mut table = Table::new(rows, widths)
        .header(Row::new(header).style(t.title()))
        .block(block);
    if focus {
        table = table
            .row_highlight_style(t.selected())
            .highlight_symbol("▶ ");
    }
    let mut state = TableState::default().with_selected(focus.then_some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// One action whole (Enter on a row; Esc goes back): every field the list cuts.
fn render_entry(frame: &mut Frame<'_>, area: Rect, app: &App, e: &OutboxEntry) {
    let t = &app.theme;
    let time = |at: crate::domain::Timestamp| at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut fields: Vec<(&str, String)> = vec![
        (
            "action",
            format!(
                "{} of {}:{}",
                e.action.kind.as_str(),
                e.action.upstream,
                e.action.target
            ),
        ),
        ("operator", e.action.operator.clone()),
        (
            "state",
            format!("{} after {} attempt(s)", e.state.as_str(), e.attempts),
        ),
        ("created", time(e.created_at)),
        ("updated", time(e.updated_at)),
        ("id", e.id.clone()),
        ("idempotency", e.idempotency_key.clone()),
    ];
    if e.state == OutboxState::Pending {
        fields.push(("next try", time(e.next_attempt_at)));
    }
    if let Some(lease) = &e.lease {
        let until = lease.until.map(time).unwrap_or_else(|| "?".into());
        let gone = if lease.alive {
            ""
        } else {
            " (gone: the next worker takes over)"
        };
        fields.push(("held by", format!("{} until {until}{gone}", lease.holder)));
    }
    if let Some(note) = &e.action.note {
        fields.push(("note", note.clone()));
    }
    if let Some(level) = e.action.level {
        fields.push(("level", level.to_string()));
    }
    if let Some(destination) = &e.action.destination {
        fields.push(("to", destination.clone()));
    }
    if let Some(payload) = &e.action.payload {
        fields.push(("payload", format!("edited, {} bytes", payload.len())));
    }
    if let Some(error) = &e.last_error {
        fields.push(("last error", error.clone()));
    }
    if let Some(outcome) = &e.outcome {
        fields.push(("answer", outcome.summary.clone()));
        if !outcome.response.is_null() {
            fields.push(("response", outcome.response.to_string()));
        }
    }
    let lines: Vec<Line<'_>> = fields
        .into_iter()
        .map(|(label, value)| {
            Line::from(vec![
                Span::styled(format!("{label:<12} "), t.dim()),
                Span::raw(safe(&value)),
            ])
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(vec![
            Span::styled(" Action ", t.title()),
            Span::styled("· Esc back ", t.dim()),
        ]));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// The outbox table: widths from its content (the target id, state and time stay whole).
fn render_outbox(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    block: Block<'_>,
    visible: &[usize],
) {
    let t = &app.theme;
    let list = &app.activity.list;
    let (window, selected) = super::table_window(list.cursor, visible.len(), area.height, 2);
    let shown: Vec<&crate::domain::OutboxEntry> =
        visible[window].iter().map(|&i| &list.rows[i]).collect();
    let operators: Vec<String> = shown.iter().map(|e| safe(&e.action.operator)).collect();
    let targets: Vec<String> = shown.iter().map(|e| safe(&e.action.target)).collect();
    let answers: Vec<String> = shown.iter().map(|e| safe(&answer(e))).collect();
    let cols = [
        Col::fixed("time", 8, Kind::Key),
        Col::new(
            "operator",
            operators.iter().map(String::as_str),
            8,
            Kind::Flex(1),
        ),
        Col::new(
            "action",
            shown.iter().map(|e| e.action.kind.as_str()),
            6,
            Kind::Key,
        ),
        Col::new(
            "target",
            targets.iter().map(String::as_str),
            16,
            Kind::Id(3),
        ),
        Col::fixed("state", 7, Kind::Key),
        Col::fixed("tries", 5, Kind::Optional(0)),
        Col::new(
            "upstream's answer",
            answers.iter().map(String::as_str),
            12,
            Kind::Flex(2),
        ),
    ];
    let widths = columns::fit(&cols, area.width);
    let rows = shown.iter().enumerate().map(|(n, e)| {
        let (state, style) = match e.state {
            OutboxState::Pending => ("pending", t.accent()),
            OutboxState::Sent => ("sent", t.ok()),
            OutboxState::Failed => ("failed", t.critical()),
            OutboxState::Recalled => ("recalled", t.dim()),
        };
        let cells: [Option<Cell>; 7] = [
            Some(Cell::from(e.created_at.format("%H:%M:%S").to_string())),
            widths[1].map(|w| Cell::from(cell_text(&operators[n], w))),
            Some(Cell::from(e.action.kind.as_str())),
            widths[3].map(|w| Cell::from(columns::fit_id(&targets[n], w))),
            Some(Cell::from(Span::styled(state, style))),
            Some(Cell::from(e.attempts.to_string())),
            widths[6].map(|w| Cell::from(cell_text(&answers[n], w))),
        ];
        columns::row(cells, &widths)
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
