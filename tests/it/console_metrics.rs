//! The Metrics view (#14 points 1 and 5): `6` opens it and asks the store for the window's
//! report, `t` walks 24h → 7d → 30d, `T` switches rows between connectors and teams, `:metrics
//! 30d` names the window; the table is worst first and charts have axes and units; the header
//! shows the selected connector's MTTA and DLQ trend on every view. Snapshots at 80×24, 120×40,
//! 160×48 and 200×60 from a fixed report.

use crate::console_fixtures;

use chrono::Duration;
use console_fixtures::*;
use triage::console::metrics::MetricsSpan;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::{App, Msg, View, update};
use triage::domain::metrics::{
    DayCount, DepthSample, DlqSeries, DurationStats, MetricsReport, MetricsRow, MetricsWindow,
};

fn stats(median_min: f64, p90_min: f64) -> DurationStats {
    DurationStats {
        count: 4,
        median_secs: Some(median_min * 60.0),
        p90_secs: Some(p90_min * 60.0),
    }
}

fn row(connector: &str, team: &str, opened: u64, dlq_now: u64, trend: i64) -> MetricsRow {
    MetricsRow {
        upstream: Some("demo".into()),
        connector: Some(connector.into()),
        owner: Some("maria".into()),
        team: Some(team.into()),
        incidents_opened: opened,
        mtta: stats(4.0, 12.0),
        mttr: stats(95.0, 300.0),
        reopened: 1,
        reopens: 1,
        reopen_rate: Some(1.0 / opened as f64),
        ack_sla_judged: opened,
        acked_within_sla: opened - 1,
        ack_within_sla_pct: Some(100.0 * (opened - 1) as f64 / opened as f64),
        escalations: 2,
        max_escalation_level: 2,
        cross_team_pings: 3,
        cross_team_pings_per_incident: Some(3.0 / opened as f64),
        dlq_now,
        dlq_first: Some((dlq_now as i64 - trend) as u64),
        dlq_last: Some(dlq_now),
        dlq_trend: Some(trend),
        replays: 10,
        replays_delivered: 9,
        replays_failed: 1,
        replays_pending: 0,
        replay_success_rate: Some(0.9),
    }
}

pub fn report() -> MetricsReport {
    let window = MetricsWindow::last(std::time::Duration::from_secs(7 * 86_400), now());
    let connectors = vec![
        row("hubspot-form-to-salesforce", "revops", 9, 212, 37),
        row("ads-conversions-to-analytics", "revops", 4, 37, -5),
        row("clearbit-enrichment", "data-eng", 2, 0, 0),
    ];
    let series = connectors
        .iter()
        .map(|r| {
            let points: Vec<DepthSample> = (0..=14)
                .map(|h| DepthSample {
                    at: window.since + Duration::hours(h * 12),
                    dead: (r.dlq_now as i64 * h / 14) as u64,
                })
                .collect();
            DlqSeries {
                upstream: "demo".into(),
                connector: r.connector.clone().unwrap_or_default(),
                first: points.first().copied(),
                last: points.last().copied(),
                points,
            }
        })
        .collect();
    let mut teams = vec![
        MetricsRow {
            upstream: None,
            connector: None,
            ..row("", "revops", 13, 249, 32)
        },
        MetricsRow {
            upstream: None,
            connector: None,
            ..row("", "data-eng", 2, 0, 0)
        },
    ];
    teams[1].owner = None;
    let incidents_per_day = (0..7)
        .map(|d| DayCount {
            day: (window.since + Duration::days(d)).date_naive(),
            opened: (d as u64 * 3) % 5,
        })
        .collect();
    MetricsReport {
        window,
        total: row("", "", 15, 249, 32),
        connectors,
        teams,
        dlq_series: series,
        incidents_per_day,
    }
}

fn with_report(view: View) -> App {
    let mut app = loaded_app();
    app.view = view;
    update(
        &mut app,
        Msg::Metrics {
            span: MetricsSpan::Week,
            report: Box::new(report()),
        },
    );
    app
}

fn load_of(cmds: &[Cmd]) -> Option<MetricsSpan> {
    cmds.iter().find_map(|c| match c {
        Cmd::Store(StoreCmd::LoadMetrics { span, .. }) => Some(*span),
        _ => None,
    })
}

#[test]
fn six_opens_the_view_and_t_walks_the_windows() {
    let mut app = loaded_app();
    let cmds = key(&mut app, "6");
    assert_eq!(app.view, View::Metrics);
    assert_eq!(load_of(&cmds), Some(MetricsSpan::Week), "{cmds:?}");
    assert_eq!(load_of(&key(&mut app, "t")), Some(MetricsSpan::Month));
    assert_eq!(load_of(&key(&mut app, "t")), Some(MetricsSpan::Day));
    assert_eq!(load_of(&key(&mut app, "t")), Some(MetricsSpan::Week));
    // `t` elsewhere is nothing.
    key(&mut app, "1");
    assert_eq!(load_of(&key(&mut app, "t")), None);
    // `:metrics 30d`.
    for c in ":metrics 30d".chars() {
        key(&mut app, &c.to_string());
    }
    let cmds = key(&mut app, "enter");
    assert_eq!(app.view, View::Metrics);
    assert_eq!(load_of(&cmds), Some(MetricsSpan::Month));
    for c in ":metrics 2w".chars() {
        key(&mut app, &c.to_string());
    }
    key(&mut app, "enter");
    let screen = draw(&app, 100, 30).backend().to_string();
    assert!(screen.contains("no window \"2w\""), "{screen}");
}

#[test]
fn the_table_is_worst_first_and_t_switches_to_teams() {
    let mut app = with_report(View::Metrics);
    let screen = draw(&app, 160, 48).backend().to_string();
    let order: Vec<usize> = [
        "hubspot-form-to-salesforce",
        "ads-conversions-to-analytics",
        "clearbit-enrichment",
    ]
    .iter()
    .map(|c| screen.find(c).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{screen}");
    for text in [
        "4m/12m",
        "1h35m/5h00m",
        "+37",
        "2 (L2)",
        "10 · 90% ok",
        "DLQ depth (dead letters) · UTC",
        "MTTA (A) / MTTR (R) median, minutes",
        "Incidents opened per day",
    ] {
        assert!(screen.contains(text), "{text:?} missing:\n{screen}");
    }
    key(&mut app, "T");
    let screen = draw(&app, 160, 48).backend().to_string();
    assert!(
        screen.contains("per team") && screen.contains("data-eng"),
        "{screen}"
    );
    let first_row = screen.lines().nth(4).unwrap_or_default();
    assert!(first_row.contains("▶ revops"), "{screen}");
}

#[test]
fn the_header_shows_the_selected_connectors_mtta_and_dlq_trend() {
    let mut app = with_report(View::Connectors);
    // The fixture's connectors list starts with ads-conversions (by name).
    let header = draw(&app, 160, 48).backend().to_string();
    let first = header.lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains("ads-conversions-to-analytics: MTTA 4m · DLQ -5 (7d)"),
        "{first}"
    );
    key(&mut app, "G");
    let header = draw(&app, 160, 48).backend().to_string();
    let first = header.lines().next().unwrap_or_default();
    assert!(
        first.contains("hubspot-form-to-salesforce: MTTA 4m · DLQ +37 (7d)"),
        "{first}"
    );
    // No room at 40 columns: the upstream states keep theirs.
    let narrow = draw(&app, 40, 12).backend().to_string();
    assert!(
        !narrow.lines().next().unwrap_or_default().contains("MTTA"),
        "{narrow}"
    );
}

#[test]
fn metrics_view_snapshots() {
    let app = with_report(View::Metrics);
    for (w, h) in [(80, 24), (120, 40), (160, 48), (200, 60)] {
        let screen = draw(&app, w, h);
        // Every connector's name is whole in the table, at every size.
        let text = screen.backend().to_string();
        for row in &report().connectors {
            let name = row.connector.as_deref().unwrap_or_default();
            assert!(
                text.contains(&format!(" {name} ")),
                "{w}×{h}: {name} cut:\n{text}"
            );
        }
        insta::assert_snapshot!(format!("metrics_{w}x{h}"), screen.backend());
    }
}
