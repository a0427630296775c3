//! Fixed console data for the console tests: a config with routing (an escalation chain, a
//! bridge), connectors, incidents with their stored routes, dead letters, outbox entries and
//! audit rows at a fixed instant, fed to `App` through `update` messages.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::TimeZone;
use triage::config::{Config, ConnectorConfig, Person, RoutingConfig};
use triage::console::detail::DeadLetterDetail;
use triage::console::msg::ConnectorRow;
use triage::console::paging::{IncidentRow, PAGE_LIMIT};
use triage::console::{App, Key, Keymap, Msg, Theme, update};
use triage::domain::escalation::{Contingency, EscalationChain, EscalationStep, NotifyTarget};
use triage::domain::routing::StoredRoute;
use triage::domain::*;
use triage::store::{AuditEntry, ConnectorCounts, DeadLetterKey, DeadLetterSummary, IncidentKey};

pub const OPERATOR: &str = "maria@bastion";

pub fn now() -> Timestamp {
    chrono::Utc.with_ymd_and_hms(2026, 3, 14, 3, 0, 0).unwrap()
}

fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

fn connector_config(
    id: &str,
    name: &str,
    dest: &str,
    owner: &str,
    backup: &str,
) -> ConnectorConfig {
    ConnectorConfig {
        id: id.into(),
        name: name.into(),
        source: "HubSpot Forms".into(),
        destination: dest.into(),
        direction: Direction::Inbound,
        purpose: "test".into(),
        upstream: "demo".into(),
        owner: owner.into(),
        backup: Some(backup.into()),
        ack_sla: Duration::from_secs(900),
        runbook: Some(PathBuf::from(format!("/runbooks/{id}.md"))),
        contract: Some(PathBuf::from(format!("/contracts/{id}.json"))),
        queue: None,
        dead_letter_queue: None,
        line: 1,
    }
}

fn person(id: &str, name: &str) -> Person {
    Person {
        id: id.into(),
        name: name.into(),
        team: None,
        handle: None,
        email: None,
        phone: None,
    }
}

pub fn config() -> Config {
    Config {
        file: None,
        operator: OPERATOR.into(),
        read_only: false,
        store: None,
        default_ack_sla: Duration::from_secs(900),
        upstreams: Vec::new(),
        connectors: vec![
            connector_config(
                "hubspot-form-to-salesforce",
                "HubSpot form → Salesforce",
                "Salesforce",
                "maria",
                "dev",
            ),
            connector_config(
                "ads-conversions-to-analytics",
                "Ad conversions → Analytics",
                "GA4 Measurement Protocol",
                "dev",
                "maria",
            ),
            connector_config(
                "clearbit-enrichment",
                "Clearbit enrichment",
                "Salesforce",
                "sam",
                "lee",
            ),
        ],
        people: vec![
            person("maria", "Maria Lopez"),
            person("dev", "Dev Patel"),
            person("sam", "Sam Okafor"),
            person("lee", "Lee Chen"),
        ],
        teams: Vec::new(),
    }
}

/// Chain `vendor-outage`: backup at the ack deadline, then the bridge 15 minutes later with the
/// connector paused; an ack expires after 30 minutes.
pub fn routing() -> RoutingConfig {
    RoutingConfig {
        chains: vec![EscalationChain {
            name: "vendor-outage".into(),
            ack_timeout: Some(Duration::from_secs(30 * 60)),
            steps: vec![
                EscalationStep {
                    after: Duration::ZERO,
                    notify: vec![NotifyTarget::Backup],
                    contingency: None,
                },
                EscalationStep {
                    after: Duration::from_secs(15 * 60),
                    notify: vec![NotifyTarget::Bridge],
                    contingency: Some(Contingency::PauseConnector),
                },
            ],
            line: 50,
        }],
        bridge: Some("#inc-bridge".into()),
        ..RoutingConfig::default()
    }
}

/// The route sync would store for `incident`: rule "vendor-outages" at triage.toml:42, the
/// connector's owner and backup, an ack SLA that lands on the incident's ack deadline.
pub fn route_for(incident: &Incident, chain: Option<&str>) -> StoredRoute {
    let connector = config().connector(&incident.connector).cloned();
    let sla = incident
        .ack_deadline
        .map_or(900, |d| (d - incident.opened_at).num_seconds().max(0));
    StoredRoute {
        rule: "vendor-outages".into(),
        origin: "triage.toml:42".into(),
        owner: connector.as_ref().map(|c| c.owner.clone()),
        backup: connector.and_then(|c| c.backup),
        ack_sla_secs: u64::try_from(sla).unwrap(),
        chain: chain.map(str::to_string),
        runbook: None,
    }
}

pub fn connector_rows() -> Vec<ConnectorRow> {
    let make = |id: &str,
                status: ConnectorStatus,
                ready,
                in_flight,
                dead,
                rates: (f64, f64, f64),
                open,
                unacked,
                history: Vec<u64>| ConnectorRow {
        connector: Connector {
            id: id.into(),
            upstream: "demo".into(),
            name: id.into(),
            source: None,
            destination: None,
            direction: None,
            purpose: None,
            owner: None,
            backup: None,
            ack_sla: None,
            runbook: None,
            contract: None,
            status,
            stats: QueueStats {
                ready,
                in_flight,
                retrying: 0,
                dead,
                rate_in: rates.0,
                rate_out: rates.1,
                rate_fail: rates.2,
            },
            last_error: None,
            updated_at: Some(now()),
        },
        counts: ConnectorCounts {
            upstream: "demo".into(),
            connector: id.into(),
            dead_letters: dead,
            open_incidents: open,
            unacked_incidents: unacked,
        },
        dlq_history: history,
    };
    vec![
        make(
            "ads-conversions-to-analytics",
            ConnectorStatus::Degraded,
            120,
            8,
            37,
            (12.5, 11.0, 0.4),
            1,
            0,
            (0..60).map(|i| 20 + i / 4).collect(),
        ),
        make(
            "clearbit-enrichment",
            ConnectorStatus::Healthy,
            3,
            1,
            0,
            (0.8, 0.8, 0.0),
            0,
            0,
            vec![0; 60],
        ),
        make(
            "hubspot-form-to-salesforce",
            ConnectorStatus::Failing,
            38,
            6,
            212,
            (3.4, 2.1, 1.3),
            2,
            1,
            (0..60).map(|i| 150 + i).collect(),
        ),
    ]
}

pub fn incident(
    id: &str,
    connector: &str,
    severity: Severity,
    status: IncidentStatus,
    title: &str,
    deadline_in: Option<i64>,
) -> Incident {
    let acked = status == IncidentStatus::Acknowledged;
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        kind: "dlq_growth".into(),
        severity,
        status,
        title: title.into(),
        detail: "detail".into(),
        opened_at: now() - mins(20),
        updated_at: now() - mins(2),
        acked_by: acked.then(|| "dev@laptop".to_string()),
        acked_at: acked.then(|| now() - mins(5)),
        resolved_at: None,
        ack_deadline: deadline_in.map(|s| now() + chrono::Duration::seconds(s)),
        escalation_level: 0,
        labels: Default::default(),
        links: Vec::new(),
    }
}

pub fn incident_rows() -> Vec<IncidentRow> {
    let incidents = vec![
        incident(
            "inc-101",
            "hubspot-form-to-salesforce",
            Severity::Critical,
            IncidentStatus::Open,
            "DLQ growing: No such column 'lead_source'",
            Some(-90),
        ),
        incident(
            "inc-102",
            "hubspot-form-to-salesforce",
            Severity::Major,
            IncidentStatus::Open,
            "Error rate above 30%",
            Some(45),
        ),
        incident(
            "inc-103",
            "ads-conversions-to-analytics",
            Severity::Warning,
            IncidentStatus::Open,
            "Duplicate conversion ids",
            Some(240),
        ),
        incident(
            "inc-104",
            "clearbit-enrichment",
            Severity::Info,
            IncidentStatus::Open,
            "Vendor latency high",
            Some(3 * 3600),
        ),
        incident(
            "inc-099",
            "ads-conversions-to-analytics",
            Severity::Major,
            IncidentStatus::Acknowledged,
            "GA4 returns 503",
            Some(-600),
        ),
        incident(
            "inc-098",
            "clearbit-enrichment",
            Severity::Warning,
            IncidentStatus::Suppressed,
            "Enrichment backlog (inhibited by the vendor outage)",
            Some(-1200),
        ),
    ];
    // inc-103's route names no chain; inc-104 is not routed yet.
    incidents
        .into_iter()
        .map(|incident| {
            let route = match incident.id.as_str() {
                "inc-103" => Some(route_for(&incident, None)),
                "inc-104" => None,
                _ => Some(route_for(&incident, Some("vendor-outage"))),
            };
            IncidentRow {
                route,
                ..incident_row(incident)
            }
        })
        .collect()
}

/// inc-101 as the detail shows it: escalated once already (to the backup), with labels, links
/// and a detail text long enough to wrap at 80 columns.
pub fn detailed_incident() -> Incident {
    let mut incident = incident_rows().remove(0).incident;
    incident.escalation_level = 1;
    incident.labels = [("env", "prod"), ("team", "revops")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    incident.links = vec![Link {
        title: "Runbook".into(),
        url: "https://wiki.example.com/runbooks/hubspot".into(),
    }];
    incident.detail = "212 dead letters in the last hour on hubspot-form-to-salesforce: Salesforce rejects every lead with INVALID_FIELD because the form still sends lead_source after the field was renamed.\n\nFirst failure:\tdl-0001".into();
    incident
}

pub fn incident_detail() -> triage::console::app::IncidentDetail {
    let incident = detailed_incident();
    let route = route_for(&incident, Some("vendor-outage"));
    triage::console::app::IncidentDetail::new(incident, Some(route))
}

pub fn incident_row(incident: Incident) -> IncidentRow {
    let rank = match incident.status {
        IncidentStatus::Open => 0,
        IncidentStatus::Acknowledged => 1,
        IncidentStatus::Suppressed => 2,
        IncidentStatus::Resolved => 3,
    };
    let key = IncidentKey {
        sort: None,
        status_rank: rank,
        deadline_ms: incident
            .ack_deadline
            .map_or(i64::MAX, |d| d.timestamp_millis()),
        upstream: incident.upstream.clone(),
        id: incident.id.clone(),
    };
    IncidentRow {
        key,
        incident,
        route: None,
        taken: Vec::new(),
    }
}

pub fn dead_letter_summary(
    id: &str,
    connector: &str,
    minutes_ago: i64,
    rowid: i64,
    preview: &[u8],
    code: &str,
    message: &str,
) -> DeadLetterSummary {
    let at = now() - mins(minutes_ago);
    DeadLetterSummary {
        key: DeadLetterKey {
            sort: None,
            last_failed_ms: at.timestamp_millis(),
            rowid,
        },
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        preview: preview.to_vec(),
        payload_len: preview.len() as u64,
        content_type: Some("application/json".into()),
        error_code: code.into(),
        error_message: message.into(),
        attempts: 5,
        first_failed_at: at - mins(30),
        last_failed_at: at,
        state: DeadLetterState::Dead,
    }
}

pub fn dead_letter_rows() -> Vec<DeadLetterSummary> {
    vec![
        dead_letter_summary(
            "dl-0003",
            "hubspot-form-to-salesforce",
            1,
            3,
            br#"{"email":"ana@example.com","LeadSource__c":"influencer"}"#,
            "INVALID_FIELD",
            "No such column 'lead_source' on sobject of type Lead",
        ),
        dead_letter_summary(
            "dl-0002",
            "ads-conversions-to-analytics",
            7,
            2,
            br#"{"conversion_id":"c-88","value":12.5}"#,
            "DUPLICATE_KEY",
            "conversion_id already recorded",
        ),
        dead_letter_summary(
            "dl-0001",
            "hubspot-form-to-salesforce",
            65,
            1,
            &[0x00, 0x9f, 0xff, 0x10, 0x41],
            "DECODE_ERROR",
            "payload is not JSON",
        ),
    ]
}

pub fn dead_letter(id: &str, payload: &[u8]) -> DeadLetter {
    DeadLetter {
        upstream: "demo".into(),
        id: id.into(),
        connector: "hubspot-form-to-salesforce".into(),
        payload: payload.to_vec(),
        content_type: Some("application/json".into()),
        headers: vec![("x-hubspot-signature".into(), "sha256=ab12".into()), ("content-type".into(), "application/json".into())],
        error: DeadLetterError {
            code: "INVALID_FIELD".into(),
            message: "No such column 'lead_source' on sobject of type Lead".into(),
            http_status: Some(400),
            vendor_response: Some(r#"[{"message":"No such column 'lead_source' on sobject of type Lead","errorCode":"INVALID_FIELD"}]"#.into()),
        },
        attempts: 5,
        first_failed_at: now() - mins(31),
        last_failed_at: now() - mins(1),
        state: DeadLetterState::Dead,
        updated_at: now() - mins(1),
    }
}

pub fn contract() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["email", "lead_source"],
        "properties": { "email": {"type": "string"}, "lead_source": {"type": "string"}, "campaign": {"type": "string"} }
    })
}

pub fn detail() -> DeadLetterDetail {
    let payload =
        br#"{"email":"ana@example.com","LeadSource__c":"influencer","campaign":"spring-26"}"#;
    DeadLetterDetail::new(dead_letter("dl-0003", payload), Some(&contract()), None)
}

/// Triage's actions on dl-0003, newest first: an edited replay still pending, a replay the
/// destination refused, a replay retrying after two timeouts, and a replay that ran out of
/// retries (no outcome, only the last error).
pub fn dead_letter_history() -> Vec<OutboxEntry> {
    let replay = |id: &str, operator: &str, state: OutboxState, minutes_ago: i64| {
        let mut entry = outbox_entry(id, ActionKind::Replay, "dl-0003", state, minutes_ago);
        entry.action.operator = operator.into();
        entry.outcome = None;
        entry
    };
    let mut edited = replay("ob-13", OPERATOR, OutboxState::Pending, 0);
    edited.action.payload =
        Some(br#"{"email":"ana@example.com","lead_source":"influencer"}"#.to_vec());
    edited.attempts = 0;
    let mut refused = replay("ob-12", "alice@bastion", OutboxState::Failed, 1);
    refused.outcome = Some(ActionOutcome {
        ok: false,
        summary: "destination refused (400): INVALID_FIELD No such column 'lead_source' on sobject of type Lead".into(),
        response: serde_json::Value::Null,
    });
    let mut retrying = replay("ob-11", "dev@laptop", OutboxState::Pending, 5);
    retrying.attempts = 2;
    retrying.next_attempt_at = now() + mins(1);
    retrying.last_error = Some("demo: timed out after 10s".into());
    let mut exhausted = replay("ob-10", "alice@bastion", OutboxState::Failed, 20);
    exhausted.attempts = 5;
    exhausted.last_error = Some("connection refused (127.0.0.1:7070)".into());
    vec![edited, refused, retrying, exhausted]
}

pub fn outbox_entry(
    id: &str,
    kind: ActionKind,
    target: &str,
    state: OutboxState,
    minutes_ago: i64,
) -> OutboxEntry {
    let at = now() - mins(minutes_ago);
    let outcome = match state {
        OutboxState::Sent => Some(ActionOutcome {
            ok: true,
            summary: "acknowledged by maria@bastion".into(),
            response: serde_json::Value::Null,
        }),
        OutboxState::Failed => Some(ActionOutcome {
            ok: false,
            summary: "Salesforce rejected the replay: INVALID_FIELD".into(),
            response: serde_json::Value::Null,
        }),
        OutboxState::Pending | OutboxState::Recalled => None,
    };
    OutboxEntry {
        id: id.into(),
        idempotency_key: format!("key-{id}"),
        action: Action {
            kind,
            upstream: "demo".into(),
            target: target.into(),
            operator: OPERATOR.into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        },
        state,
        attempts: 1,
        next_attempt_at: at,
        last_error: None,
        outcome,
        created_at: at,
        updated_at: at,
        lease: None,
        stored: Default::default(),
    }
}

pub fn outbox() -> Vec<OutboxEntry> {
    vec![
        outbox_entry(
            "ob-3",
            ActionKind::Replay,
            "dl-0002",
            OutboxState::Pending,
            0,
        ),
        outbox_entry(
            "ob-2",
            ActionKind::Replay,
            "dl-0001",
            OutboxState::Failed,
            3,
        ),
        outbox_entry("ob-1", ActionKind::Ack, "inc-099", OutboxState::Sent, 5),
    ]
}

pub fn audit() -> Vec<AuditEntry> {
    let entry = |seq: i64, minutes_ago: i64, event: &str, target: &str, detail: &str| AuditEntry {
        seq,
        at: now() - mins(minutes_ago),
        operator: OPERATOR.into(),
        event: event.into(),
        upstream: "demo".into(),
        target: target.into(),
        outbox_id: None,
        payload_hash: None,
        detail: detail.into(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    vec![
        entry(4, 0, "replay.requested", "dl-0002", ""),
        entry(
            3,
            3,
            "replay.failed",
            "dl-0001",
            "Salesforce rejected the replay: INVALID_FIELD",
        ),
        entry(2, 5, "ack.sent", "inc-099", "acknowledged"),
        entry(1, 5, "ack.requested", "inc-099", ""),
    ]
}

pub const RUNBOOK: &str = "# HubSpot form → Salesforce\n\nOwner: **Maria Lopez**, backup *Dev Patel*.\n\n## Symptoms\n\n- Dead letters with `INVALID_FIELD`\n- Leads missing in [Salesforce](https://acme.my.salesforce.com/leads)\n\n## Fix\n\n1. Check the field mapping.\n2. Replay one dead letter as a canary:\n\n```sh\ntriage replay dl-0003\n```\n";

/// A fresh app at the fixed instant, store ready (the commands it asks for are dropped).
pub fn app_with(read_only: bool) -> App {
    let mut app = App::new(
        config(),
        routing(),
        OPERATOR.into(),
        read_only,
        Keymap::builtin().unwrap(),
        Theme { no_color: true },
        now(),
    );
    update(&mut app, Msg::StoreReady);
    update(
        &mut app,
        Msg::Header {
            states: vec![("demo".into(), ConnectionState::Live { last_ok: now() })],
            pending_actions: 0,
        },
    );
    app
}

/// An app with every view's data loaded from the fixed data above.
pub fn loaded_app() -> App {
    let mut app = app_with(false);
    update(&mut app, Msg::Connectors(connector_rows()));
    load_incidents(&mut app, incident_rows());
    load_dead_letters(&mut app, dead_letter_rows());
    let (seq, request) = app.activity.list.reload();
    update(
        &mut app,
        Msg::Activity {
            undriven: Vec::new(),
            runs: Vec::new(),
            seq,
            request,
            outbox: outbox(),
            audit: audit(),
            limit: PAGE_LIMIT,
        },
    );
    update(
        &mut app,
        Msg::OpenActions {
            open: outbox()
                .into_iter()
                .filter(|e| e.state != OutboxState::Sent)
                .collect(),
            tracked: Vec::new(),
        },
    );
    update(
        &mut app,
        Msg::Runbook {
            connector: "hubspot-form-to-salesforce".into(),
            path: Some("/runbooks/hubspot-form-to-salesforce.md".into()),
            markdown: Ok(RUNBOOK.into()),
        },
    );
    app.dirty = false;
    app
}

pub fn load_incidents(app: &mut App, rows: Vec<IncidentRow>) {
    let (seq, request) = app.incidents.reload();
    update(
        app,
        Msg::Incidents {
            seq,
            request,
            rows,
            limit: PAGE_LIMIT,
        },
    );
}

pub fn load_dead_letters(app: &mut App, rows: Vec<DeadLetterSummary>) {
    let (seq, request) = app.dead_letters.list.reload();
    update(
        app,
        Msg::DeadLetters {
            seq,
            request,
            rows,
            limit: PAGE_LIMIT,
        },
    );
}

pub fn key(app: &mut App, name: &str) -> Vec<triage::console::Cmd> {
    update(
        app,
        Msg::Key {
            key: Key::parse(name).unwrap(),
            now: now(),
        },
    )
}

/// One frame of `app` on a `width`×`height` TestBackend.
pub fn draw(
    app: &App,
    width: u16,
    height: u16,
) -> ratatui::Terminal<ratatui::backend::TestBackend> {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| triage::console::views::render(frame, app))
        .unwrap();
    terminal
}
