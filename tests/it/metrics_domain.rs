//! The metric definitions (`domain::metrics`) on a fixture of known timelines, every number
//! computed by hand (the arithmetic is in the comments), so a changed definition fails here.

use chrono::{Duration, TimeZone, Utc};
use triage::domain::Timestamp;
use triage::domain::metrics::{
    ConnectorOwnership, DepthSample, DlqSeries, DurationStats, IncidentTimeline, MetricsInput,
    MetricsWindow, ReplayTally, compute_report,
};

pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

#[allow(clippy::too_many_arguments)]
fn timeline(
    connector: &str,
    opened: Timestamp,
    acked: Option<i64>,
    resolved: Option<i64>,
    deadline: Option<i64>,
    reopens: u32,
    steps: &[u32],
    teams: &[&str],
) -> IncidentTimeline {
    IncidentTimeline {
        upstream: "demo".into(),
        connector: connector.into(),
        opened_at: opened,
        acked_at: acked.map(|m| opened + mins(m)),
        resolved_at: resolved.map(|m| opened + mins(m)),
        ack_deadline: deadline.map(|m| opened + mins(m)),
        reopens,
        escalation_steps: steps.to_vec(),
        notified_teams: teams.iter().map(|t| t.to_string()).collect(),
    }
}

fn owner(connector: &str, owner: Option<&str>, team: Option<&str>, dlq: u64) -> ConnectorOwnership {
    ConnectorOwnership {
        upstream: "demo".into(),
        connector: connector.into(),
        owner: owner.map(Into::into),
        team: team.map(Into::into),
        dlq_now: dlq,
    }
}

fn series(connector: &str, first: u64, last: u64) -> DlqSeries {
    let first = DepthSample {
        at: t0() + mins(1),
        dead: first,
    };
    let last = DepthSample {
        at: t0() + Duration::days(6),
        dead: last,
    };
    DlqSeries {
        upstream: "demo".into(),
        connector: connector.into(),
        first: Some(first),
        last: Some(last),
        points: vec![first, last],
    }
}

/// The week of 2026-03-01 on three connectors: `crm` (team crm-team), `ads` (growth), `idle`.
pub fn fixture() -> MetricsInput {
    let t = t0();
    let h = Duration::hours;
    MetricsInput {
        window: MetricsWindow::last(
            std::time::Duration::from_secs(7 * 86_400),
            t + Duration::days(7),
        ),
        connectors: vec![
            owner("crm", Some("maria"), Some("crm-team"), 40),
            owner("ads", Some("dev"), Some("growth"), 5),
            owner("idle", None, None, 0),
        ],
        incidents: vec![
            timeline("crm", t + h(1), Some(5), Some(65), Some(15), 0, &[], &[]),
            timeline(
                "crm",
                t + h(2),
                Some(20),
                Some(120),
                Some(15),
                1,
                &[1],
                &["growth"],
            ),
            timeline(
                "crm",
                t + h(24),
                None,
                None,
                Some(15),
                0,
                &[1, 2],
                &["crm-team", "growth", "growth"],
            ),
            // Opened before the window: ignored.
            timeline(
                "crm",
                t - h(1),
                Some(1),
                Some(2),
                Some(15),
                3,
                &[1],
                &["growth"],
            ),
            timeline("ads", t + h(72), Some(10), Some(30), Some(30), 2, &[], &[]),
            // Resolved unacked before its deadline: not judged for the SLA.
            timeline("ads", t + h(73), None, Some(10), Some(30), 0, &[], &[]),
            // Deadline after the window's end: not judged yet.
            timeline(
                "ads",
                t + Duration::days(7) - mins(5),
                None,
                None,
                Some(15),
                0,
                &[],
                &[],
            ),
        ],
        replays: vec![ReplayTally {
            upstream: "demo".into(),
            connector: "crm".into(),
            delivered: 3,
            failed: 1,
            pending: 1,
        }],
        dlq: vec![series("crm", 10, 40), series("ads", 8, 5)],
    }
}

fn stats(count: u64, median: f64, p90: f64) -> DurationStats {
    DurationStats {
        count,
        median_secs: Some(median),
        p90_secs: Some(p90),
    }
}

#[test]
fn connector_rows_match_the_hand_computed_definitions() {
    let report = compute_report(&fixture());
    let order: Vec<_> = report
        .connectors
        .iter()
        .map(|r| r.connector.clone().unwrap())
        .collect();
    // crm and ads both opened 3; crm's MTTR p90 (2h) is worse than ads' (30m); idle opened none.
    assert_eq!(order, ["crm", "ads", "idle"]);
    let crm = report.connector("demo", "crm").unwrap();
    assert_eq!(crm.incidents_opened, 3);
    // MTTA 5m, 20m: median 12.5m = 750 s; p90 = nearest rank ceil(0.9·2) = 2nd = 20m.
    assert_eq!(crm.mtta, stats(2, 750.0, 1200.0));
    // MTTR 65m, 120m: median 92.5m = 5550 s; p90 120m.
    assert_eq!(crm.mttr, stats(2, 5550.0, 7200.0));
    assert_eq!(
        (crm.reopened, crm.reopens, crm.reopen_rate),
        (1, 1, Some(1.0 / 3.0))
    );
    // Met: 5m ≤ 15m. Missed: 20m > 15m; unacked with the deadline passed.
    assert_eq!((crm.ack_sla_judged, crm.acked_within_sla), (3, 1));
    assert!((crm.ack_within_sla_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!((crm.escalations, crm.max_escalation_level), (3, 2));
    // growth ×1 on the 2nd, growth ×2 on the 3rd; crm-team is the owner's own team.
    assert_eq!(
        (crm.cross_team_pings, crm.cross_team_pings_per_incident),
        (3, Some(1.0))
    );
    assert_eq!(
        (crm.dlq_now, crm.dlq_first, crm.dlq_last, crm.dlq_trend),
        (40, Some(10), Some(40), Some(30))
    );
    assert_eq!(
        (
            crm.replays,
            crm.replays_delivered,
            crm.replays_failed,
            crm.replays_pending
        ),
        (5, 3, 1, 1)
    );
    assert_eq!(crm.replay_success_rate, Some(0.75));
    assert_eq!(
        (crm.owner.as_deref(), crm.team.as_deref()),
        (Some("maria"), Some("crm-team"))
    );

    let ads = report.connector("demo", "ads").unwrap();
    assert_eq!(ads.incidents_opened, 3);
    assert_eq!(ads.mtta, stats(1, 600.0, 600.0));
    // MTTR 30m and 10m: median 20m; p90 30m.
    assert_eq!(ads.mttr, stats(2, 1200.0, 1800.0));
    assert_eq!((ads.reopened, ads.reopens), (1, 2));
    assert_eq!(
        (
            ads.ack_sla_judged,
            ads.acked_within_sla,
            ads.ack_within_sla_pct
        ),
        (1, 1, Some(100.0))
    );
    assert_eq!(
        (
            ads.escalations,
            ads.max_escalation_level,
            ads.cross_team_pings
        ),
        (0, 0, 0)
    );
    assert_eq!(ads.dlq_trend, Some(-3));
    assert_eq!((ads.replays, ads.replay_success_rate), (0, None));

    let idle = report.connector("demo", "idle").unwrap();
    assert_eq!(
        (idle.incidents_opened, idle.mtta.count, idle.reopen_rate),
        (0, 0, None)
    );
    assert_eq!((idle.dlq_first, idle.dlq_trend), (None, None));
}

#[test]
fn team_rows_and_the_total_pool_their_incidents() {
    let report = compute_report(&fixture());
    let teams: Vec<_> = report.teams.iter().map(|r| r.team.clone()).collect();
    assert_eq!(
        teams,
        [Some("crm-team".to_string()), Some("growth".into()), None]
    );
    assert_eq!(
        report.teams[0].mttr,
        report.connector("demo", "crm").unwrap().mttr
    );
    let total = &report.total;
    assert_eq!(total.incidents_opened, 6);
    // MTTA 5, 10, 20m: median 10m; p90 rank ceil(2.7) = 3rd = 20m.
    assert_eq!(total.mtta, stats(3, 600.0, 1200.0));
    // MTTR 10, 30, 65, 120m: median (30 + 65) / 2 = 47.5m; p90 rank ceil(3.6) = 4th = 120m.
    assert_eq!(total.mttr, stats(4, 2850.0, 7200.0));
    assert_eq!(
        (
            total.ack_sla_judged,
            total.acked_within_sla,
            total.ack_within_sla_pct
        ),
        (4, 2, Some(50.0))
    );
    assert_eq!(
        (total.cross_team_pings, total.cross_team_pings_per_incident),
        (3, Some(0.5))
    );
    assert_eq!(
        (
            total.dlq_now,
            total.dlq_first,
            total.dlq_last,
            total.dlq_trend
        ),
        (45, Some(18), Some(45), Some(27))
    );
}

#[test]
fn incidents_per_day_covers_every_day_of_the_window() {
    let report = compute_report(&fixture());
    let days: Vec<(String, u64)> = report
        .incidents_per_day
        .iter()
        .map(|d| (d.day.to_string(), d.opened))
        .collect();
    let want = [
        ("2026-03-01", 2),
        ("2026-03-02", 1),
        ("2026-03-03", 0),
        ("2026-03-04", 2),
        ("2026-03-05", 0),
        ("2026-03-06", 0),
        ("2026-03-07", 1),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(d, n)| (d.to_string(), *n)).collect();
    assert_eq!(days, want);
    let series: Vec<_> = report
        .dlq_series
        .iter()
        .map(|s| s.connector.as_str())
        .collect();
    assert_eq!(series, ["crm", "ads"], "series follow the rows' order");
}

#[test]
fn percentiles_use_the_documented_ranks() {
    // 1..=10 s: median (5 + 6) / 2; p90 rank ceil(9) = 9th.
    let mut values: Vec<i64> = (1..=10).rev().map(|s| s * 1000).collect();
    assert_eq!(DurationStats::from_millis(&mut values), stats(10, 5.5, 9.0));
    // 1..=11 s: median 6th; p90 rank ceil(9.9) = 10th.
    let mut values: Vec<i64> = (1..=11).map(|s| s * 1000).collect();
    assert_eq!(
        DurationStats::from_millis(&mut values),
        stats(11, 6.0, 10.0)
    );
    assert_eq!(
        DurationStats::from_millis(&mut []),
        DurationStats::default()
    );
}

#[test]
fn acks_before_the_open_and_acks_that_expired_follow_the_definitions() {
    let mut input = fixture();
    input.incidents = vec![
        // Clock skew: acked "before" it opened — no MTTA sample, but judged as within the SLA.
        timeline(
            "crm",
            t0() + Duration::hours(1),
            Some(-1),
            None,
            Some(15),
            0,
            &[],
            &[],
        ),
        // An ack that expired and was renewed after the deadline counts at the renewal: missed.
        timeline(
            "crm",
            t0() + Duration::hours(2),
            Some(45),
            None,
            Some(15),
            0,
            &[1],
            &[],
        ),
    ];
    let report = compute_report(&input);
    let crm = report.connector("demo", "crm").unwrap();
    assert_eq!(crm.mtta, stats(1, 2700.0, 2700.0));
    assert_eq!((crm.ack_sla_judged, crm.acked_within_sla), (2, 1));
}
