//! Activity view: the outbox (who asked for what, when; pending / sent / failed with the
//! upstream's answer) above the tail of the audit log.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::safe;
use crate::console::app::App;
use crate::domain::{OutboxEntry, OutboxState};

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let activity = &app.activity;
    let audit_height = if area.height >= 16 {
        area.height / 3
    } else {
        0
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(audit_height)]).areas(area);
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
        let wide = area.width >= 120;
        let (window, selected) = super::table_window(list.cursor, visible.len(), top.height, 2);
        let rows = visible[window].iter().map(|&i| {
            let e = &list.rows[i];
            let (state, style) = match e.state {
                OutboxState::Pending => ("pending", t.accent()),
                OutboxState::Sent => ("sent", t.ok()),
                OutboxState::Failed => ("failed", t.critical()),
            };
            let mut cells = vec![
                Cell::from(e.created_at.format("%H:%M:%S").to_string()),
                Cell::from(safe(&e.action.operator)),
                Cell::from(e.action.kind.as_str()),
                Cell::from(safe(&e.action.target)),
                Cell::from(Span::styled(state, style)),
            ];
            if wide {
                cells.push(Cell::from(e.attempts.to_string()));
            }
            cells.push(Cell::from(safe(&answer(e))));
            Row::new(cells)
        });
        let mut header = vec!["time", "operator", "action", "target", "state"];
        let mut widths = vec![
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(7),
        ];
        if wide {
            header.push("tries");
            widths.push(Constraint::Length(5));
        }
        header.push("upstream's answer");
        widths.push(Constraint::Fill(4));
        let table = Table::new(rows, widths)
            .header(Row::new(header).style(t.title()))
            .block(block)
            .row_highlight_style(t.selected())
            .highlight_symbol("▶ ");
        let mut state = TableState::default().with_selected(Some(selected));
        frame.render_stateful_widget(table, top, &mut state);
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
