//! A store of known timelines for the metrics tests, written through the real paths: sync
//! batches, the reopen trigger, `escalate::escalate_now` with its notified teams, the outbox's
//! replay outcomes, connector polls with queue snapshots (the week of `metrics_domain::fixture`).

use std::path::Path;

use chrono::Duration;
use serde_json::json;
use triage::config::Config;
use triage::domain::{
    Action, ActionKind, ActionOutcome, ConnectionState, ConnectorReport, ConnectorStatus,
    DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus, QueueStats, Severity,
    Timestamp,
};
use triage::store::{Store, SyncBatch};

use super::metrics_domain::t0;

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
