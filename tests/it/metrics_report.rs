//! `triage report` on a store of known timelines written through the real paths (sync batches,
//! the reopen trigger, `escalate::escalate_now` with its notified teams, the outbox's replay
//! outcomes, connector polls with queue snapshots): `report --json` equals hand-computed values
//! (the same arithmetic as `metrics_domain`).

use std::path::Path;
use std::process::Command;

use chrono::Duration;
use serde_json::{Value, json};
use triage::config::Config;
use triage::domain::{
    Action, ActionKind, ActionOutcome, ConnectionState, ConnectorReport, ConnectorStatus,
    DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus, QueueStats, Severity,
    Timestamp,
};
use triage::store::{Store, SyncBatch};

use super::metrics_domain::t0;
use super::support::demo_cli::BIN;

const CONFIG: &str = r#"
operator = "tester"

[[upstream]]
id = "demo"
kind = "connector_api"
url = "http://127.0.0.1:9"

[[team]]
id = "crm-team"
name = "CRM"
members = ["maria"]

[[team]]
id = "growth"
name = "Growth"
members = ["dev"]

[[team]]
id = "data-eng"
name = "Data"
members = ["lee"]

[[person]]
id = "maria"
name = "Maria Lopez"
team = "crm-team"

[[person]]
id = "dev"
name = "Dev Patel"
team = "growth"

[[person]]
id = "lee"
name = "Lee Chen"
team = "data-eng"

[[connector]]
id = "crm"
upstream = "demo"
source = "Forms"
destination = "CRM"
direction = "inbound"
purpose = "leads"
owner = "maria"
backup = "dev"
ack_sla = "15m"

[[connector]]
id = "ads"
upstream = "demo"
source = "Ads"
destination = "Analytics"
direction = "outbound"
purpose = "conversions"
owner = "dev"
backup = "maria"
ack_sla = "30m"

[[connector]]
id = "idle"
upstream = "demo"
source = "A"
destination = "B"
direction = "inbound"
purpose = "nothing happens"
owner = "lee"
"#;

fn at(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

fn incident(id: &str, connector: &str, opened: i64, sla: i64) -> Incident {
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        kind: "delivery_failures".into(),
        severity: Severity::Major,
        status: IncidentStatus::Open,
        title: format!("incident {id}"),
        detail: String::new(),
        opened_at: at(opened),
        updated_at: at(opened),
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: Some(at(opened + sla)),
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    }
}

fn batch(at: Timestamp) -> SyncBatch {
    SyncBatch {
        upstream: "demo".into(),
        at,
        connectors: None,
        incidents: vec![],
        dead_letters: vec![],
        cursors: vec![],
        state: ConnectionState::Live { last_ok: at },
    }
}

/// Writes `incident` as it stands `minutes` after it opened with `status`.
fn put(store: &mut Store, incident: &mut Incident, minutes: i64, status: IncidentStatus) {
    let now = incident.opened_at + Duration::minutes(minutes);
    incident.status = status;
    incident.updated_at = now;
    match status {
        IncidentStatus::Acknowledged => {
            incident.acked_at = Some(now);
            incident.acked_by = Some("maria".into());
        }
        IncidentStatus::Resolved => incident.resolved_at = Some(now),
        _ => incident.resolved_at = None,
    }
    let mut b = batch(now);
    b.incidents = vec![incident.clone()];
    store.write_sync_batch(&b).unwrap();
}

fn poll(store: &mut Store, minutes: i64, depths: &[(&str, u64)]) {
    let mut b = batch(at(minutes));
    b.connectors = Some(
        depths
            .iter()
            .map(|(id, dead)| ConnectorReport {
                id: id.to_string(),
                name: id.to_string(),
                status: ConnectorStatus::parse("degraded"),
                stats: QueueStats {
                    dead: *dead,
                    ..Default::default()
                },
                last_error: None,
                updated_at: at(minutes),
            })
            .collect(),
    );
    store.write_sync_batch(&b).unwrap();
}

fn dead_letter(n: usize) -> DeadLetter {
    DeadLetter {
        upstream: "demo".into(),
        id: format!("dl-{n}"),
        connector: "crm".into(),
        payload: b"{}".to_vec(),
        content_type: None,
        headers: vec![],
        error: DeadLetterError {
            code: "http_422".into(),
            message: "rejected".into(),
            http_status: Some(422),
            vendor_response: None,
        },
        attempts: 1,
        first_failed_at: at(0),
        last_failed_at: at(0),
        state: DeadLetterState::Dead,
        updated_at: at(0),
    }
}

/// The week of 2026-03-01 (see `metrics_domain::fixture` for the same numbers by hand).
pub fn write_fixture(config_path: &Path, store_path: &Path) {
    std::fs::write(config_path, CONFIG).unwrap();
    let (config, routing) = Config::load_with_routing(config_path).unwrap();
    let mut store = Store::open(store_path).unwrap();
    store.sync_inventory(&config.inventory()).unwrap();
    let h = 60;
    let mut i1 = incident("i1", "crm", h, 15);
    put(&mut store, &mut i1, 5, IncidentStatus::Acknowledged);
    put(&mut store, &mut i1, 65, IncidentStatus::Resolved);
    let mut i2 = incident("i2", "crm", 2 * h, 15);
    put(&mut store, &mut i2, 0, IncidentStatus::Open);
    // No chain: the backup (dev, team growth) is notified — a cross-team ping.
    triage::escalate::escalate_now(
        &mut store,
        &config,
        &routing,
        &i2,
        "watch",
        None,
        at(2 * h + 16),
    )
    .unwrap();
    put(&mut store, &mut i2, 20, IncidentStatus::Acknowledged);
    put(&mut store, &mut i2, 60, IncidentStatus::Resolved);
    put(&mut store, &mut i2, 90, IncidentStatus::Acknowledged);
    put(&mut store, &mut i2, 120, IncidentStatus::Resolved);
    i2.acked_at = Some(i2.opened_at + Duration::minutes(20));
    put(&mut store, &mut i2, 120, IncidentStatus::Resolved);
    let mut i3 = incident("i3", "crm", 24 * h, 15);
    put(&mut store, &mut i3, 0, IncidentStatus::Open);
    for minutes in [16, 40] {
        triage::escalate::escalate_now(
            &mut store,
            &config,
            &routing,
            &i3,
            "watch",
            None,
            at(24 * h + minutes),
        )
        .unwrap();
    }
    // Opened before the window: ignored.
    let mut i4 = incident("i4", "crm", -h, 15);
    put(&mut store, &mut i4, 1, IncidentStatus::Resolved);
    let mut i5 = incident("i5", "ads", 72 * h, 30);
    put(&mut store, &mut i5, 10, IncidentStatus::Acknowledged);
    for minutes in [20, 22, 24, 26] {
        let status = if minutes % 4 == 0 {
            IncidentStatus::Resolved
        } else {
            IncidentStatus::Acknowledged
        };
        put(&mut store, &mut i5, minutes, status);
    }
    i5.acked_at = Some(i5.opened_at + Duration::minutes(10));
    put(&mut store, &mut i5, 30, IncidentStatus::Resolved);
    let mut i6 = incident("i6", "ads", 73 * h, 30);
    put(&mut store, &mut i6, 10, IncidentStatus::Resolved);
    let mut i7 = incident("i7", "ads", 7 * 24 * h - 5, 30);
    put(&mut store, &mut i7, 0, IncidentStatus::Open);

    let mut b = batch(at(0));
    b.dead_letters = (1..=5).map(dead_letter).collect();
    store.write_sync_batch(&b).unwrap();
    for n in 1..=5 {
        let action = Action {
            kind: ActionKind::Replay,
            upstream: "demo".into(),
            target: format!("dl-{n}"),
            operator: "maria".into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        };
        let entry = store.enqueue_action(&action, at(48 * h)).unwrap();
        if n <= 4 {
            let outcome = ActionOutcome {
                ok: n <= 3,
                summary: "answer".into(),
                response: json!({}),
            };
            store
                .record_action_outcome(&entry.id, &outcome, None, None, at(48 * h + 1))
                .unwrap();
        }
    }
    poll(&mut store, 1, &[("crm", 10), ("ads", 8)]);
    poll(&mut store, 6 * 24 * h, &[("crm", 40), ("ads", 5)]);
}

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
