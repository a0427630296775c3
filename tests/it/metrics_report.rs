//! `triage report` on the store of known timelines (`metrics_fixture`): `report --json` equals
//! hand-computed values (the same arithmetic as `metrics_domain`); `--connector`, `--csv`,
//! `--markdown` and the window length.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use super::metrics_fixture::write_fixture;
use super::support::demo_cli::BIN;

fn report(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.join("triage.toml"))
        .arg("--store")
        .arg(dir.join("triage.db"))
        .args(["report", "--until", "2026-03-08T00:00:00Z"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The fields a reader checks, from one row of the JSON.
fn figures(row: &Value) -> Value {
    let keys = [
        "connector",
        "team",
        "owner",
        "incidents_opened",
        "mtta",
        "mttr",
        "reopened",
        "reopens",
        "ack_sla_judged",
        "acked_within_sla",
        "escalations",
        "max_escalation_level",
        "cross_team_pings",
        "dlq_now",
        "dlq_first",
        "dlq_last",
        "dlq_trend",
        "replays",
        "replays_delivered",
        "replays_failed",
        "replays_pending",
        "replay_success_rate",
    ];
    keys.iter()
        .map(|k| (k.to_string(), row[k].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn stats(count: u64, median: f64, p90: f64) -> Value {
    json!({"count": count, "median_secs": median, "p90_secs": p90})
}

#[test]
fn report_json_equals_the_hand_computed_week() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(
        &dir.path().join("triage.toml"),
        &dir.path().join("triage.db"),
    );
    let report: Value =
        serde_json::from_str(&report(dir.path(), &["--since", "7d", "--json"])).unwrap();
    let rows = report["connectors"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["connector"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crm", "ads", "idle"], "worst first");
    assert_eq!(
        figures(&rows[0]),
        json!({
            "connector": "crm", "team": "crm-team", "owner": "maria", "incidents_opened": 3,
            "mtta": stats(2, 750.0, 1200.0), "mttr": stats(2, 5550.0, 7200.0),
            "reopened": 1, "reopens": 1, "ack_sla_judged": 3, "acked_within_sla": 1,
            "escalations": 3, "max_escalation_level": 2, "cross_team_pings": 3,
            "dlq_now": 40, "dlq_first": 10, "dlq_last": 40, "dlq_trend": 30,
            "replays": 5, "replays_delivered": 3, "replays_failed": 1, "replays_pending": 1,
            "replay_success_rate": 0.75,
        })
    );
    assert_eq!(
        figures(&rows[1]),
        json!({
            "connector": "ads", "team": "growth", "owner": "dev", "incidents_opened": 3,
            "mtta": stats(1, 600.0, 600.0), "mttr": stats(2, 1200.0, 1800.0),
            "reopened": 1, "reopens": 2, "ack_sla_judged": 1, "acked_within_sla": 1,
            "escalations": 0, "max_escalation_level": 0, "cross_team_pings": 0,
            "dlq_now": 5, "dlq_first": 8, "dlq_last": 5, "dlq_trend": -3,
            "replays": 0, "replays_delivered": 0, "replays_failed": 0, "replays_pending": 0,
            "replay_success_rate": null,
        })
    );
    assert_eq!(rows[2]["team"], "data-eng");
    assert_eq!(rows[2]["incidents_opened"], 0);
    let teams: Vec<&str> = report["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["crm-team", "growth", "data-eng"]);
    let total = &report["total"];
    assert_eq!(
        (
            total["incidents_opened"].clone(),
            total["mtta"].clone(),
            total["mttr"].clone()
        ),
        (json!(6), stats(3, 600.0, 1200.0), stats(4, 2850.0, 7200.0))
    );
    assert_eq!(total["ack_within_sla_pct"], 50.0);
    let days: Vec<u64> = report["incidents_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["opened"].as_u64().unwrap())
        .collect();
    assert_eq!(days, [2, 1, 0, 2, 0, 0, 1]);
    let series = &report["dlq_series"][0];
    assert_eq!(
        (
            series["connector"].as_str(),
            series["points"].as_array().map(Vec::len)
        ),
        (Some("crm"), Some(2))
    );
}

#[test]
fn report_filters_one_connector_and_writes_markdown_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(
        &dir.path().join("triage.toml"),
        &dir.path().join("triage.db"),
    );
    let csv = report(dir.path(), &["--connector", "ads", "--csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("scope,upstream,connector,owner,team,incidents_opened,mtta_median_s")
    );
    assert!(
        lines[1].starts_with("connector,demo,ads,dev,growth,3,600,600,1200,1800,1,"),
        "{csv}"
    );
    assert_eq!(lines.len(), 4, "header, ads, its team, the total: {csv}");
    let md = report(dir.path(), &["--since", "30d"]);
    // 30 days take in i4 (opened an hour before the week, resolved after a minute, no ack).
    assert!(
        md.contains("| demo:crm | 4 | 12m 30s / 20m | 1h 5m / 2h | 25% | 33% | 3 (max 2) | 0.75 |"),
        "{md}"
    );
    assert!(md.contains("| 40 (+30) | 5 (75%) |"), "{md}");
}
