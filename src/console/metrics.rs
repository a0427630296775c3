//! The Metrics view's state and keys (#14): a window (`t`: 24 h → 7 d → 30 d), rows per
//! connector or per team (`T`), the report computed on the store thread
//! (`Store::metrics_report`, `domain::metrics`), and the two headline numbers the header shows
//! for the selected connector (MTTA, DLQ trend) on every view. The report is loaded when the
//! store is ready, when the view opens or its window changes, after changes while the view is
//! shown (at most every 5 s), and at least once a minute for the header.

use std::time::Duration;

use super::app::{App, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::Timestamp;
use crate::domain::metrics::{MetricsReport, MetricsRow};

/// The windows `t` walks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsSpan {
    Day,
    #[default]
    Week,
    Month,
}

impl MetricsSpan {
    pub fn duration(self) -> Duration {
        let days = match self {
            MetricsSpan::Day => 1,
            MetricsSpan::Week => 7,
            MetricsSpan::Month => 30,
        };
        Duration::from_secs(days * 86_400)
    }

    pub fn label(self) -> &'static str {
        match self {
            MetricsSpan::Day => "24h",
            MetricsSpan::Week => "7d",
            MetricsSpan::Month => "30d",
        }
    }

    fn next(self) -> MetricsSpan {
        match self {
            MetricsSpan::Day => MetricsSpan::Week,
            MetricsSpan::Week => MetricsSpan::Month,
            MetricsSpan::Month => MetricsSpan::Day,
        }
    }

    pub fn parse(text: &str) -> Option<MetricsSpan> {
        match text.trim() {
            "24h" | "1d" | "day" => Some(MetricsSpan::Day),
            "7d" | "week" => Some(MetricsSpan::Week),
            "30d" | "month" => Some(MetricsSpan::Month),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MetricsState {
    pub span: MetricsSpan,
    /// Rows per team instead of per connector.
    pub by_team: bool,
    pub report: Option<Box<MetricsReport>>,
    /// The span the report on screen is for (a newer one may be on its way).
    pub report_span: Option<MetricsSpan>,
    /// When the last report was asked for.
    pub asked_at: Option<Timestamp>,
    pub cursor: usize,
}

/// The store command that computes the report for the current span.
pub fn load(app: &mut App) -> Cmd {
    app.metrics.asked_at = Some(app.now);
    Cmd::store(StoreCmd::LoadMetrics {
        span: app.metrics.span,
        now: app.now,
    })
}

/// A reload unless one was asked for less than `min_gap` ago.
pub fn load_if_older(app: &mut App, min_gap: chrono::Duration) -> Vec<Cmd> {
    let fresh = app
        .metrics
        .asked_at
        .is_some_and(|at| app.now - at < min_gap);
    if fresh { Vec::new() } else { vec![load(app)] }
}

/// After a change: the header's numbers follow within 30 s — within 2 s while the report is
/// still empty (the store had not synced yet when it was computed).
pub fn refresh_after_change(app: &mut App) -> Vec<Cmd> {
    let empty = app.metrics.report.as_ref().is_none_or(|r| {
        r.total.incidents_opened == 0 && r.dlq_series.iter().all(|s| s.points.is_empty())
    });
    let gap = if empty { 2 } else { 30 };
    load_if_older(app, chrono::Duration::seconds(gap))
}

/// `t`: the next window.
pub fn next_span(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Metrics {
        return Vec::new();
    }
    app.metrics.span = app.metrics.span.next();
    app.dirty = true;
    vec![load(app)]
}

/// `:metrics 30d`: that window.
pub fn set_span(app: &mut App, span: MetricsSpan) -> Vec<Cmd> {
    app.metrics.span = span;
    app.dirty = true;
    vec![load(app)]
}

/// `T`: per connector ↔ per team.
pub fn toggle_by(app: &mut App) -> Vec<Cmd> {
    if app.view == View::Metrics {
        app.metrics.by_team = !app.metrics.by_team;
        app.metrics.cursor = 0;
        app.dirty = true;
    }
    Vec::new()
}

/// The store answered.
pub fn loaded(app: &mut App, span: MetricsSpan, report: Box<MetricsReport>) {
    app.metrics.report = Some(report);
    app.metrics.report_span = Some(span);
    let rows = rows(app).len();
    app.metrics.cursor = app.metrics.cursor.min(rows.saturating_sub(1));
    app.dirty = true;
}

/// The rows the table shows (per connector or per team), worst first.
pub fn rows(app: &App) -> &[MetricsRow] {
    match &app.metrics.report {
        Some(report) if app.metrics.by_team => &report.teams,
        Some(report) => &report.connectors,
        None => &[],
    }
}

/// `j`/`k` in the table.
pub fn move_by(app: &mut App, delta: isize) {
    let count = rows(app).len();
    let cursor = app.metrics.cursor as isize + delta;
    app.metrics.cursor = cursor.clamp(0, count.saturating_sub(1) as isize) as usize;
    app.dirty = true;
}

/// The connector the header's numbers are about: the one selected on the current view.
fn selected_connector(app: &App) -> Option<(String, String)> {
    match app.view {
        View::Connectors => app
            .connectors
            .selected()
            .map(|r| (r.connector.upstream.clone(), r.connector.id.clone())),
        View::Incidents => app
            .selected_incident()
            .map(|i| (i.upstream.clone(), i.connector.clone())),
        View::DeadLetters => app
            .dead_letters
            .detail
            .as_ref()
            .map(|d| (d.letter.upstream.clone(), d.letter.connector.clone()))
            .or_else(|| {
                app.dead_letters
                    .list
                    .selected_row()
                    .map(|r| (r.upstream.clone(), r.connector.clone()))
            }),
        View::Metrics if !app.metrics.by_team => rows(app)
            .get(app.metrics.cursor)
            .and_then(|r| Some((r.upstream.clone()?, r.connector.clone()?))),
        _ => None,
    }
}

/// The selected connector's name and "MTTA 4m · DLQ +37 (7d)" for the header, when the report
/// knows the connector.
pub fn headline(app: &App) -> Option<(String, String)> {
    let report = app.metrics.report.as_ref()?;
    let (upstream, connector) = selected_connector(app)?;
    let row = report.connector(&upstream, &connector)?;
    let span = app.metrics.report_span.unwrap_or_default().label();
    let mtta = row.mtta.median_secs.map_or("—".to_string(), duration_text);
    let trend = match row.dlq_trend {
        Some(t) if t > 0 => format!("+{t}"),
        Some(t) => t.to_string(),
        None => "—".to_string(),
    };
    Some((
        crate::domain::sanitize::line(&connector),
        format!("MTTA {mtta} · DLQ {trend} ({span})"),
    ))
}

/// 45s, 12m, 3h05m, 2d04h.
pub fn duration_text(secs: f64) -> String {
    let secs = secs.max(0.0).round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m", secs / 60),
        3_600..86_400 => format!("{}h{:02}m", secs / 3_600, (secs % 3_600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3_600),
    }
}
