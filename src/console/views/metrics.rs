//! Metrics view (`6`, `:metrics`): per connector (or per team, `T`) over the window (`t`: 24h,
//! 7d, 30d) — incidents opened, MTTA and MTTR (median/p90), reopen rate, ack within SLA,
//! escalations and the highest level, cross-team pings per incident, DLQ now and its trend,
//! replays and how many were delivered — worst first; below, DLQ depth over the window (a line per
//! connector, axes with time and count), MTTA/MTTR medians per connector (bars, minutes) and
//! incidents opened per day. Definitions: `docs/METRICS.md`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Bar, BarChart, BarGroup, Block, Borders, Cell, Chart, Dataset, GraphType, Paragraph, Row,
};

use super::columns::{self, Col, Kind, cell_text};
use super::safe;
use crate::console::app::App;
use crate::console::metrics::{self, duration_text};
use crate::domain::metrics::{MetricsReport, MetricsRow};

/// Connectors drawn in the DLQ chart (the worst; the table lists them all).
const CHART_LINES: usize = 5;
const MARKERS: [Marker; 5] = [
    Marker::Braille,
    Marker::Dot,
    Marker::Block,
    Marker::Bar,
    Marker::HalfBlock,
];

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let state = &app.metrics;
    let computing = state.report.is_none() || state.report_span != Some(state.span);
    let title = format!(
        " Metrics · last {} (t: 24h · 7d · 30d) · per {} (T: per {}){} ",
        state.span.label(),
        if state.by_team { "team" } else { "connector" },
        if state.by_team { "connector" } else { "team" },
        if computing { " · computing…" } else { "" }
    );
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, t.title())));
    let Some(report) = &state.report else {
        frame.render_widget(Paragraph::new("computing the metrics…").block(block), area);
        return;
    };
    let rows = metrics::rows(app);
    if rows.is_empty() {
        let text = "no incidents, dead letters or replays in this window (t: another window)";
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The table gets its rows (and a header) up to half the body; the charts the rest.
    let table_height = if inner.height < 12 {
        inner.height
    } else {
        (rows.len() as u16 + 1).clamp(4, inner.height / 2)
    };
    let [table_area, charts] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(0)]).areas(inner);
    render_table(frame, table_area, app, rows);
    if charts.height < 6 {
        return;
    }
    if charts.width >= 120 {
        let [dlq, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .spacing(2)
                .areas(charts);
        render_dlq_chart(frame, dlq, app, report);
        let [times, days] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
        render_times(frame, times, app, report);
        render_days(frame, days, app, report);
    } else if charts.height >= 16 {
        let [dlq, days] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(charts);
        render_dlq_chart(frame, dlq, app, report);
        render_days(frame, days, app, report);
    } else {
        render_dlq_chart(frame, charts, app, report);
    }
}

/// What one table row says.
struct RowText {
    name: String,
    opened: String,
    mtta: String,
    mttr: String,
    reopen: String,
    sla: String,
    escalations: String,
    pings: String,
    dlq: String,
    trend: String,
    replays: String,
}

fn pct(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.0}%", v))
}

fn stats(s: &crate::domain::metrics::DurationStats) -> String {
    match (s.median_secs, s.p90_secs) {
        (Some(m), Some(p)) => format!("{}/{}", duration_text(m), duration_text(p)),
        (Some(m), None) => duration_text(m),
        _ => "—".into(),
    }
}

fn row_text(row: &MetricsRow, by_team: bool) -> RowText {
    let name = if by_team {
        row.team.clone().unwrap_or_else(|| "(no team)".into())
    } else {
        row.connector.clone().unwrap_or_default()
    };
    RowText {
        name: safe(&name),
        opened: row.incidents_opened.to_string(),
        mtta: stats(&row.mtta),
        mttr: stats(&row.mttr),
        reopen: pct(row.reopen_rate.map(|r| r * 100.0)),
        sla: pct(row.ack_within_sla_pct),
        escalations: match row.escalations {
            0 => "0".into(),
            n => format!("{n} (L{})", row.max_escalation_level),
        },
        pings: row
            .cross_team_pings_per_incident
            .map_or("—".into(), |p| format!("{p:.1}")),
        dlq: row.dlq_now.to_string(),
        trend: match row.dlq_trend {
            Some(t) if t > 0 => format!("+{t}"),
            Some(t) => t.to_string(),
            None => "—".into(),
        },
        replays: match (row.replays, row.replay_success_rate) {
            (0, _) => "0".into(),
            (n, Some(rate)) => format!("{n} · {:.0}% ok", rate * 100.0),
            (n, None) => format!("{n} · pending"),
        },
    }
}

fn render_table(frame: &mut Frame<'_>, area: Rect, app: &App, rows: &[MetricsRow]) {
    let t = &app.theme;
    let texts: Vec<RowText> = rows
        .iter()
        .map(|r| row_text(r, app.metrics.by_team))
        .collect();
    let col = |header, f: fn(&RowText) -> &str, min, kind| {
        Col::new(header, texts.iter().map(f), min, kind)
    };
    let cols = [
        col(
            if app.metrics.by_team {
                "team"
            } else {
                "connector"
            },
            |r| &r.name,
            12,
            Kind::Key,
        ),
        col("opened", |r| &r.opened, 6, Kind::Key),
        col("MTTA med/p90", |r| &r.mtta, 8, Kind::Key),
        col("MTTR med/p90", |r| &r.mttr, 8, Kind::Optional(5)),
        col("reopen", |r| &r.reopen, 6, Kind::Optional(2)),
        col("ack≤SLA", |r| &r.sla, 7, Kind::Optional(4)),
        col("esc", |r| &r.escalations, 3, Kind::Optional(1)),
        col("x-team", |r| &r.pings, 6, Kind::Optional(0)),
        col("DLQ", |r| &r.dlq, 3, Kind::Key),
        col("trend", |r| &r.trend, 5, Kind::Key),
        col("replays", |r| &r.replays, 7, Kind::Optional(3)),
    ];
    let widths = columns::fit(&cols, area.width);
    let (window, selected) = super::table_window(app.metrics.cursor, rows.len(), area.height, 1);
    let lines = texts[window].iter().map(|r| {
        let trend_style = if r.trend.starts_with('+') {
            t.warning()
        } else {
            t.base()
        };
        let cells: [(&str, Style); 11] = [
            (&r.name, t.base()),
            (&r.opened, t.base()),
            (&r.mtta, t.base()),
            (&r.mttr, t.base()),
            (&r.reopen, t.base()),
            (&r.sla, t.base()),
            (&r.escalations, t.base()),
            (&r.pings, t.base()),
            (&r.dlq, t.base()),
            (&r.trend, trend_style),
            (&r.replays, t.base()),
        ];
        Row::new(
            cells
                .into_iter()
                .zip(&widths)
                .filter_map(|((text, style), w)| {
                    w.map(|w| Cell::from(Span::styled(cell_text(text, w), style)))
                }),
        )
    });
    columns::render_table(frame, area, app, None, lines, (&cols, &widths), selected);
}

/// DLQ depth over the window, one line per connector (the worst few), time on x, count on y.
fn render_dlq_chart(frame: &mut Frame<'_>, area: Rect, app: &App, report: &MetricsReport) {
    let t = &app.theme;
    let since = report.window.since;
    let until = report.window.until;
    let span_secs = (until - since).num_seconds().max(1) as f64;
    let series: Vec<(String, Vec<(f64, f64)>)> = report
        .dlq_series
        .iter()
        .filter(|s| !s.points.is_empty())
        .take(CHART_LINES)
        .map(|s| {
            let points = s
                .points
                .iter()
                .map(|p| ((p.at - since).num_seconds() as f64, p.dead as f64))
                .collect();
            (safe(&s.connector), points)
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(
            " DLQ depth (dead letters) · UTC ",
            t.title(),
        )));
    if series.is_empty() {
        frame.render_widget(
            Paragraph::new("no queue snapshots in this window yet").block(block),
            area,
        );
        return;
    }
    let peak = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let datasets: Vec<Dataset<'_>> = series
        .iter()
        .enumerate()
        .map(|(i, (name, points))| {
            Dataset::default()
                .name(name.clone())
                .marker(MARKERS[i % MARKERS.len()])
                .graph_type(GraphType::Line)
                .style(t.series(i))
                .data(points)
        })
        .collect();
    let time = |at: crate::domain::Timestamp| {
        if span_secs > 2.0 * 86_400.0 {
            at.format("%m-%d").to_string()
        } else {
            at.format("%H:%M").to_string()
        }
    };
    let middle = since + (until - since) / 2;
    // A legend names the lines (colour, and a marker each without colour), top left: DLQs
    // that grew end at the top right. The axes carry no titles: ratatui draws them inside the
    // plot (over its first and last rows), so the unit and the time zone are in the block's
    // title instead.
    let chart = Chart::new(datasets)
        .block(block)
        .legend_position(Some(ratatui::widgets::LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .x_axis(Axis::default().bounds([0.0, span_secs]).labels([
            time(since),
            time(middle),
            time(until),
        ]))
        .y_axis(Axis::default().bounds([0.0, peak]).labels([
            "0".to_string(),
            format!("{:.0}", peak / 2.0),
            format!("{peak:.0}"),
        ]));
    frame.render_widget(chart, area);
}

/// MTTA and MTTR medians per connector, in minutes (the worst few).
fn render_times(frame: &mut Frame<'_>, area: Rect, app: &App, report: &MetricsReport) {
    let t = &app.theme;
    let minutes = |s: Option<f64>| s.map_or(0, |s| (s / 60.0).round() as u64);
    let groups: Vec<BarGroup<'_>> = report
        .connectors
        .iter()
        .filter(|r| r.mtta.median_secs.is_some() || r.mttr.median_secs.is_some())
        .take(6)
        .map(|r| {
            let name = safe(r.connector.as_deref().unwrap_or(""));
            let short: String = name.chars().take(10).collect();
            let bar = |label: &'static str, secs: Option<f64>, style: Style| {
                Bar::default()
                    .label(label)
                    .value(minutes(secs))
                    .text_value(secs.map_or("—".into(), duration_text))
                    .style(style)
            };
            BarGroup::default().label(short).bars(&[
                bar("A", r.mtta.median_secs, t.accent()),
                bar("R", r.mttr.median_secs, t.warning()),
            ])
        })
        .collect();
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(
            " MTTA (A) / MTTR (R) median, minutes ",
            t.title(),
        )));
    if groups.is_empty() {
        frame.render_widget(
            Paragraph::new("no acked or resolved incidents in this window").block(block),
            area,
        );
        return;
    }
    let mut chart = BarChart::default()
        .block(block)
        .bar_width(5)
        .bar_gap(1)
        .group_gap(2);
    for group in groups {
        chart = chart.data(group);
    }
    frame.render_widget(chart, area);
}

/// Incidents opened per day over the window.
fn render_days(frame: &mut Frame<'_>, area: Rect, app: &App, report: &MetricsReport) {
    let t = &app.theme;
    let days = &report.incidents_per_day;
    let room = usize::from(area.width / 6).max(1);
    let shown = &days[days.len().saturating_sub(room)..];
    let bars: Vec<Bar<'_>> = shown
        .iter()
        .map(|d| {
            Bar::default()
                .label(d.day.format("%m-%d").to_string())
                .value(d.opened)
                .style(t.accent())
        })
        .collect();
    let total: u64 = days.iter().map(|d| d.opened).sum();
    let title = format!(" Incidents opened per day ({total} in the window) ");
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, t.title())));
    let chart = BarChart::default()
        .block(block)
        .data(BarGroup::default().bars(&bars))
        .bar_width(5)
        .bar_gap(1);
    frame.render_widget(chart, area);
}
