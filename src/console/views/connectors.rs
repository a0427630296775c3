//! Connectors view: one row per connector with status, owner, queue depth, in-flight, dead,
//! rates, a sparkline of DLQ depth over the last hour and open incidents.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph};

use super::columns::{self, Col, Kind, cell_text};
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
            format!(
                " Connectors ({}){} ",
                visible.len(),
                super::sort_suffix(app, crate::store::SortList::Connectors)
            ),
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
    let (window, selected) =
        super::table_window(app.connectors.cursor, visible.len(), area.height, 2);
    let texts: Vec<ConnectorText> = visible.iter().map(|&i| row_text(app, i)).collect();
    let col = |header, f: fn(&ConnectorText) -> &str, min, kind| {
        Col::new(header, texts.iter().map(f), min, kind)
    };
    let short_owner = texts
        .iter()
        .map(|r| unicode_width::UnicodeWidthStr::width(r.owner_short.as_str()))
        .max();
    let cols = [
        col("status", |r| r.status, 6, Kind::Key),
        col("connector", |r| &r.name, 12, Kind::Key),
        Col {
            min: short_owner.map_or(0, |w| u16::try_from(w).unwrap_or(u16::MAX).min(14)),
            ..col("owner → backup", |r| &r.owner, 0, Kind::Flex(2))
        },
        col("sla", |r| &r.sla, 3, Kind::Key),
        col("queue", |r| &r.queue, 5, Kind::Optional(5)),
        col("in-fl", |r| &r.in_flight, 5, Kind::Optional(1)),
        col("dead", |r| &r.dead, 4, Kind::Key),
        col("in/s", |r| &r.rate_in, 4, Kind::Optional(0)),
        col("out/s", |r| &r.rate_out, 5, Kind::Optional(0)),
        col("fail/s", |r| &r.rate_fail, 6, Kind::Optional(1)),
        Col {
            want: 20,
            min: 10,
            ..Col::fixed("DLQ 1h", 10, Kind::Flex(3))
        },
        // The incident count is never cut (16,666 open is "16666!", not "1666").
        col("inc", |r| &r.incidents, 3, Kind::Key),
    ];
    let widths = columns::fit(&cols, area.width);
    let rows = visible[window.clone()]
        .iter()
        .zip(&texts[window])
        .map(|(&i, r)| {
            let row = &app.connectors.rows[i];
            let c = &row.connector;
            let warn_if = |on: bool| if on { t.warning() } else { t.base() };
            let dead_style = warn_if(c.stats.dead > 0 || row.counts.dead_letters > 0);
            let spark = |w: u16| super::sparkline_with_peak(&row.dlq_history, usize::from(w));
            let text = |s: &str, w: u16| cell_text(s, w);
            let cells: [Option<Cell>; 12] = [
                widths[0].map(|w| {
                    Cell::from(Span::styled(text(r.status, w), status_style(t, c.status)))
                }),
                widths[1].map(|w| Cell::from(text(&r.name, w))),
                widths[2].map(|w| {
                    let owner = if unicode_width::UnicodeWidthStr::width(r.owner.as_str())
                        <= usize::from(w)
                    {
                        &r.owner
                    } else {
                        &r.owner_short
                    };
                    Cell::from(text(owner, w))
                }),
                widths[3].map(|w| Cell::from(text(&r.sla, w))),
                widths[4].map(|w| Cell::from(text(&r.queue, w))),
                widths[5].map(|w| Cell::from(text(&r.in_flight, w))),
                widths[6].map(|w| Cell::from(Span::styled(text(&r.dead, w), dead_style))),
                widths[7].map(|w| Cell::from(text(&r.rate_in, w))),
                widths[8].map(|w| Cell::from(text(&r.rate_out, w))),
                widths[9].map(|w| {
                    Cell::from(Span::styled(
                        text(&r.rate_fail, w),
                        warn_if(c.stats.rate_fail > 0.0),
                    ))
                }),
                widths[10].map(|w| Cell::from(Span::styled(spark(w.min(20)), t.warning()))),
                widths[11].map(|w| {
                    let style = if row.counts.unacked_incidents > 0 {
                        t.critical()
                    } else {
                        t.base()
                    };
                    Cell::from(Span::styled(text(&r.incidents, w), style))
                }),
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

/// What one connector row says, before the columns are fitted.
struct ConnectorText {
    status: &'static str,
    name: String,
    owner: String,
    owner_short: String,
    sla: String,
    queue: String,
    in_flight: String,
    dead: String,
    rate_in: String,
    rate_out: String,
    rate_fail: String,
    incidents: String,
}

fn row_text(app: &App, i: usize) -> ConnectorText {
    let row = &app.connectors.rows[i];
    let c = &row.connector;
    let incidents = if row.counts.unacked_incidents > 0 {
        format!("{}!", row.counts.open_incidents)
    } else {
        row.counts.open_incidents.to_string()
    };
    ConnectorText {
        status: c.status.as_str(),
        name: safe(&c.id),
        owner: safe(&app.owner_chain(&c.id)),
        owner_short: safe(&app.owner_chain_short(&c.id)),
        sla: app
            .config
            .connector(&c.id)
            .filter(|cc| !cc.ack_sla.is_zero())
            .map(|cc| crate::console::escalation_text::span(cc.ack_sla))
            .unwrap_or_else(|| "—".into()),
        queue: c.stats.ready.to_string(),
        in_flight: c.stats.in_flight.to_string(),
        dead: row.counts.dead_letters.max(c.stats.dead).to_string(),
        rate_in: format!("{:.1}", c.stats.rate_in),
        rate_out: format!("{:.1}", c.stats.rate_out),
        rate_fail: format!("{:.1}", c.stats.rate_fail),
        incidents,
    }
}

pub fn status_style(t: &Theme, status: ConnectorStatus) -> ratatui::style::Style {
    match status {
        ConnectorStatus::Healthy => t.ok(),
        ConnectorStatus::Degraded => t.warning(),
        ConnectorStatus::Failing => t.critical(),
        ConnectorStatus::Paused | ConnectorStatus::Unknown => t.dim(),
    }
}
