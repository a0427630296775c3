//! Connectors view: one row per connector with status, owner, queue depth, in-flight, dead,
//! rates, a sparkline of DLQ depth over the last hour and open incidents.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::safe;
use crate::console::app::App;
use crate::console::theme::Theme;
use crate::domain::ConnectorStatus;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let visible = app.connectors.visible();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(
            format!(" Connectors ({}) ", visible.len()),
            t.title(),
        )));
    if !app.connectors.loaded {
        frame.render_widget(Paragraph::new("loading connectors…").block(block), area);
        return;
    }
    if visible.is_empty() {
        let text = if app.connectors.rows.is_empty() {
            "no connectors yet: add them to triage.toml, or wait for the first poll"
        } else {
            "no connector matches the filter"
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let wide = area.width >= 120;
    let spark_width = if wide { 20 } else { 10 };
    let header_cells: Vec<&str> = if wide {
        vec![
            "status",
            "connector",
            "owner → backup",
            "queue",
            "in-fl",
            "dead",
            "in/s",
            "out/s",
            "fail/s",
            "DLQ 1h",
            "inc",
        ]
    } else {
        vec![
            "status",
            "connector",
            "owner",
            "queue",
            "dead",
            "DLQ 1h",
            "inc",
        ]
    };
    let (window, selected) =
        super::table_window(app.connectors.cursor, visible.len(), area.height, 2);
    let rows = visible[window].iter().map(|&i| {
        let row = &app.connectors.rows[i];
        let c = &row.connector;
        let status = Cell::from(Span::styled(c.status.as_str(), status_style(t, c.status)));
        let name = safe(&c.id);
        let dead_style = if c.stats.dead > 0 || row.counts.dead_letters > 0 {
            t.warning()
        } else {
            t.base()
        };
        let dead = row.counts.dead_letters.max(c.stats.dead);
        let incidents = if row.counts.unacked_incidents > 0 {
            Cell::from(Span::styled(
                format!("{}!", row.counts.open_incidents),
                t.critical(),
            ))
        } else {
            Cell::from(row.counts.open_incidents.to_string())
        };
        let spark = Cell::from(Span::styled(
            super::sparkline_with_peak(&row.dlq_history, spark_width),
            t.warning(),
        ));
        if wide {
            Row::new(vec![
                status,
                Cell::from(name),
                Cell::from(safe(&app.owner_chain(&c.id))),
                Cell::from(c.stats.ready.to_string()),
                Cell::from(c.stats.in_flight.to_string()),
                Cell::from(Span::styled(dead.to_string(), dead_style)),
                Cell::from(format!("{:.1}", c.stats.rate_in)),
                Cell::from(format!("{:.1}", c.stats.rate_out)),
                Cell::from(Span::styled(
                    format!("{:.1}", c.stats.rate_fail),
                    if c.stats.rate_fail > 0.0 {
                        t.warning()
                    } else {
                        t.base()
                    },
                )),
                spark,
                incidents,
            ])
        } else {
            let owner = app
                .config
                .connector(&c.id)
                .map(|cc| app.person_name(&cc.owner))
                .or_else(|| c.owner.clone())
                .unwrap_or_default();
            Row::new(vec![
                status,
                Cell::from(name),
                Cell::from(safe(&owner)),
                Cell::from(c.stats.ready.to_string()),
                Cell::from(Span::styled(dead.to_string(), dead_style)),
                spark,
                incidents,
            ])
        }
    });
    let name_width = super::column_width(
        visible
            .iter()
            .map(|&i| app.connectors.rows[i].connector.id.as_str()),
        9,
        36,
    );
    // The incident count is never cut (16,666 open is "16666!", not "1666").
    let inc_width = visible
        .iter()
        .map(|&i| {
            let counts = &app.connectors.rows[i].counts;
            counts.open_incidents.to_string().len() + usize::from(counts.unacked_incidents > 0)
        })
        .max()
        .unwrap_or(1)
        .max(3) as u16;
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(9),
            Constraint::Length(name_width),
            Constraint::Fill(2),
            Constraint::Length(6),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(spark_width as u16),
            Constraint::Length(inc_width.max(4)),
        ]
    } else {
        vec![
            Constraint::Length(8),
            Constraint::Length(name_width.min(28)),
            Constraint::Fill(1),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(spark_width as u16),
            Constraint::Length(inc_width),
        ]
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header_cells).style(t.title()))
        .block(block)
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

pub fn status_style(t: &Theme, status: ConnectorStatus) -> ratatui::style::Style {
    match status {
        ConnectorStatus::Healthy => t.ok(),
        ConnectorStatus::Degraded => t.warning(),
        ConnectorStatus::Failing => t.critical(),
        ConnectorStatus::Paused | ConnectorStatus::Unknown => t.dim(),
    }
}
