//! `triage report [--since 7d] [--until T] [--connector ID] [--json | --markdown | --csv]`: the
//! metrics of `Store::metrics_report` for scripts, weekly reviews and CI. The definitions are in
//! `triage report --help` (short) and docs/METRICS.md.

use std::process::ExitCode;

use chrono::Utc;
use color_eyre::eyre::Result;

use super::Context;
use crate::cli::ReportArgs;
use crate::domain::metrics::{DurationStats, MetricsReport, MetricsRow, MetricsWindow};

pub fn run(ctx: &Context, args: &ReportArgs) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let window = MetricsWindow::last(args.since, args.until.unwrap_or_else(Utc::now));
    let report = store.metrics_report(window, args.connector.as_deref())?;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        text
    } else if args.csv {
        csv(&report)
    } else {
        markdown(&report)
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `12m 30s`, `2h 5m`; `—` when unknown. Whole seconds.
fn duration(secs: Option<f64>) -> String {
    match secs {
        Some(s) => {
            humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string()
        }
        None => "—".into(),
    }
}

fn pct(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".into(), |r| format!("{:.0}%", r * 100.0))
}

fn trend(row: &MetricsRow) -> String {
    match row.dlq_trend {
        Some(t) if t > 0 => format!("+{t}"),
        Some(t) => t.to_string(),
        None => "—".into(),
    }
}

fn stats(s: &DurationStats) -> String {
    format!("{} / {}", duration(s.median_secs), duration(s.p90_secs))
}

/// The cells after the row's name, shared by both tables.
fn cells(row: &MetricsRow) -> Vec<String> {
    vec![
        row.incidents_opened.to_string(),
        stats(&row.mtta),
        stats(&row.mttr),
        pct(row.reopen_rate),
        row.ack_within_sla_pct
            .map_or_else(|| "—".into(), |p| format!("{p:.0}%")),
        format!("{} (max {})", row.escalations, row.max_escalation_level),
        row.cross_team_pings_per_incident
            .map_or_else(|| "—".into(), |p| format!("{p:.2}")),
        format!("{} ({})", row.dlq_now, trend(row)),
        format!("{} ({})", row.replays, pct(row.replay_success_rate)),
    ]
}

const HEADER: &str = "| incidents | MTTA med / p90 | MTTR med / p90 | reopen rate | ack in SLA | escalations | cross-team pings / incident | DLQ now (trend) | replays (success) |";

fn table(out: &mut String, first: &str, rows: &[(String, &MetricsRow)]) {
    out.push_str(&format!("| {first} {HEADER}\n"));
    out.push_str(&format!("|---{}\n", "|---".repeat(9) + "|"));
    for (name, row) in rows {
        out.push_str(&format!("| {} | {} |\n", md(name), cells(row).join(" | ")));
    }
}

/// A table cell: pipes escaped, one line.
fn md(text: &str) -> String {
    crate::domain::sanitize::line(text).replace('|', "\\|")
}

fn team_name(row: &MetricsRow) -> String {
    row.team.clone().unwrap_or_else(|| "(no team)".into())
}

fn connector_name(row: &MetricsRow) -> String {
    format!(
        "{}:{}",
        row.upstream.as_deref().unwrap_or(""),
        row.connector.as_deref().unwrap_or("")
    )
}

pub fn markdown(report: &MetricsReport) -> String {
    let w = &report.window;
    let mut out = format!(
        "# Metrics {} → {}\n\nWorst first. Definitions: `triage report --help`, docs/METRICS.md.\n\n## Connectors\n\n",
        w.since.format("%Y-%m-%d %H:%M UTC"),
        w.until.format("%Y-%m-%d %H:%M UTC")
    );
    let rows: Vec<(String, &MetricsRow)> = report
        .connectors
        .iter()
        .map(|r| (connector_name(r), r))
        .collect();
    table(&mut out, "connector", &rows);
    out.push_str("\n## Teams\n\n");
    let mut rows: Vec<(String, &MetricsRow)> =
        report.teams.iter().map(|r| (team_name(r), r)).collect();
    rows.push(("**all**".into(), &report.total));
    table(&mut out, "team", &rows);
    out.push_str("\n## Incidents opened per day\n\n");
    for day in &report.incidents_per_day {
        out.push_str(&format!("- {}: {}\n", day.day, day.opened));
    }
    out
}

const CSV_HEADER: &str = "scope,upstream,connector,owner,team,incidents_opened,mtta_median_s,mtta_p90_s,mttr_median_s,mttr_p90_s,reopened,reopen_rate,ack_sla_judged,acked_within_sla,ack_within_sla_pct,escalations,max_escalation_level,cross_team_pings,cross_team_pings_per_incident,dlq_now,dlq_first,dlq_last,dlq_trend,replays,replays_delivered,replays_failed,replays_pending,replay_success_rate";

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_row(scope: &str, r: &MetricsRow) -> String {
    let text = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
    [
        scope.to_string(),
        text(&r.upstream),
        text(&r.connector),
        text(&r.owner),
        text(&r.team),
        r.incidents_opened.to_string(),
        opt(r.mtta.median_secs),
        opt(r.mtta.p90_secs),
        opt(r.mttr.median_secs),
        opt(r.mttr.p90_secs),
        r.reopened.to_string(),
        opt(r.reopen_rate),
        r.ack_sla_judged.to_string(),
        r.acked_within_sla.to_string(),
        opt(r.ack_within_sla_pct),
        r.escalations.to_string(),
        r.max_escalation_level.to_string(),
        r.cross_team_pings.to_string(),
        opt(r.cross_team_pings_per_incident),
        r.dlq_now.to_string(),
        opt(r.dlq_first),
        opt(r.dlq_last),
        opt(r.dlq_trend),
        r.replays.to_string(),
        r.replays_delivered.to_string(),
        r.replays_failed.to_string(),
        r.replays_pending.to_string(),
        opt(r.replay_success_rate),
    ]
    .join(",")
}

pub fn csv(report: &MetricsReport) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in &report.connectors {
        out.push_str(&csv_row("connector", r));
        out.push('\n');
    }
    for r in &report.teams {
        out.push_str(&csv_row("team", r));
        out.push('\n');
    }
    out.push_str(&csv_row("total", &report.total));
    out.push('\n');
    out
}
