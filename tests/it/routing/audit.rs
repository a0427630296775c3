//! `triage check` lists every ownership violation (and passes on the shipped example, whose
//! routes cover the playbook's minor, major and vendor-outage paths); the inventory export's
//! metrics come from the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use triage::config::Config;
use triage::config::check::{ViolationKind, check};
use triage::domain::escalation::{Contingency, NotifyTarget};
use triage::domain::metrics::{INVENTORY_CSV_HEADER, inventory_csv};
use triage::domain::routing::IncidentFacts;
use triage::domain::{ConnectionState, Incident, IncidentStatus, Severity, Timestamp};
use triage::store::{Store, SyncBatch};

fn example() -> (Config, triage::config::RoutingConfig) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/triage.example.toml");
    // Its secrets (env variables, a token file) are not on this machine.
    Config::load_without_secrets(&path).unwrap_or_else(|e| panic!("example rejected: {e}"))
}

#[test]
fn example_config_passes_check() {
    let (config, routing) = example();
    let violations = check(&config, &routing);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn example_config_covers_minor_major_and_vendor_outage_paths() {
    let (config, routing) = example();
    let decide = |pairs: &[&str]| {
        let facts = IncidentFacts::from_pairs(pairs.iter().copied()).expect("pairs");
        let d = routing.route(&facts, &config);
        let chain = d.chain.as_deref().and_then(|c| routing.chain(c)).cloned();
        (d, chain.expect("every example path has a chain"))
    };
    let (minor, chain) = decide(&["connector=ads-conversions-to-analytics", "severity=warning"]);
    assert_eq!(
        (minor.rule.as_str(), minor.owner.as_deref()),
        ("minor", Some("dev"))
    );
    assert!(
        chain.steps[0].after > Duration::ZERO,
        "minor: the owner has the SLA to ack"
    );
    let (major, chain) = decide(&["connector=hubspot-form-to-salesforce", "severity=critical"]);
    assert_eq!(major.rule, "major");
    assert_eq!(chain.steps[0].notify, vec![NotifyTarget::Backup]);
    assert_eq!(chain.steps[1].notify, vec![NotifyTarget::Bridge]);
    assert_eq!(
        chain.steps[1].after,
        Duration::from_secs(15 * 60),
        "bridge within 15 minutes"
    );
    let (vendor, chain) = decide(&["connector=clearbit-enrichment", "kind=vendor_outage"]);
    assert_eq!(vendor.rule, "vendor-outages");
    assert!(chain.notifies(&NotifyTarget::Vendor));
    assert!(
        chain
            .steps
            .iter()
            .any(|s| s.contingency == Some(Contingency::PauseConnector))
    );
    assert!(routing.vendor_contacts.contains_key("clearbit-enrichment"));
}

pub(crate) const BROKEN: &str = r#"
[[upstream]]
id = "demo"
kind = "connector_api"
url = "http://127.0.0.1:7777"

[[person]]
id = "maria"
name = "Maria"

[[person]]
id = "dev"
name = "Dev"

[[connector]]
id = "no-backup-no-runbook-no-sla"
upstream = "demo"
source = "a"
destination = "b"
direction = "inbound"
purpose = "p"
owner = "maria"

[[connector]]
id = "missing-files"
upstream = "demo"
source = "a"
destination = "b"
direction = "inbound"
purpose = "p"
owner = "maria"
backup = "dev"
ack_sla = "15m"
runbook = "runbooks/gone.md"
contract = "contracts/gone.json"

[[connector]]
id = "vendor-without-contact"
upstream = "demo"
source = "a"
destination = "b"
direction = "outbound"
purpose = "p"
owner = "dev"
backup = "maria"
ack_sla = "15m"
runbook = "runbooks/ok.md"

[[chain]]
name = "vendor"
[[chain.step]]
after = "0m"
notify = ["vendor"]

[[route]]
name = "vendor-route"
match = { connector = "glob:vendor-*" }
chain = "vendor"
runbook = "runbooks/route-gone.md"

[[route]]
name = "default"
"#;

#[test]
fn check_lists_every_violation() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("runbooks")).expect("mkdir");
    std::fs::write(dir.path().join("runbooks/ok.md"), "# ok").expect("runbook");
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, BROKEN).expect("write");
    let (config, routing) = Config::load_with_routing(&path).unwrap_or_else(|e| panic!("{e}"));
    let violations = check(&config, &routing);
    let found: Vec<(Option<String>, ViolationKind)> = violations
        .iter()
        .map(|v| (v.connector.clone(), v.kind))
        .collect();
    let c = |id: &str| Some(id.to_owned());
    let expected = vec![
        (c("no-backup-no-runbook-no-sla"), ViolationKind::NoBackup),
        (c("no-backup-no-runbook-no-sla"), ViolationKind::NoRunbook),
        (c("no-backup-no-runbook-no-sla"), ViolationKind::NoAckSla),
        (
            c("no-backup-no-runbook-no-sla"),
            ViolationKind::OnlyDefaultRoute,
        ),
        (c("missing-files"), ViolationKind::RunbookMissing),
        (c("missing-files"), ViolationKind::OnlyDefaultRoute),
        (c("missing-files"), ViolationKind::ContractMissing),
        (c("vendor-without-contact"), ViolationKind::NoVendorContact),
        (None, ViolationKind::RunbookMissing),
    ];
    assert_eq!(found, expected, "{violations:#?}");
    let first = violations[0].to_string();
    let line = BROKEN
        .lines()
        .position(|l| l.contains("no-backup-no-runbook-no-sla"))
        .map(|i| i + 1);
    assert!(
        first.starts_with(&format!(
            "{}:{}: connector",
            path.display(),
            line.unwrap_or(0) - 1
        )) || first.starts_with(&format!(
            "{}:{}: connector",
            path.display(),
            line.unwrap_or(0)
        )),
        "{first}"
    );
    assert!(
        violations[6].message.contains("gone.json"),
        "{}",
        violations[6]
    );
}

#[test]
fn config_without_routes_fails_check_with_only_the_default_route() {
    let text = BROKEN[..BROKEN.find("[[chain]]").expect("chain")].to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, text).expect("write");
    let (config, routing) = Config::load_with_routing(&path).unwrap_or_else(|e| panic!("{e}"));
    let only_default = check(&config, &routing)
        .into_iter()
        .filter(|v| v.kind == ViolationKind::OnlyDefaultRoute)
        .count();
    assert_eq!(
        only_default, 3,
        "every connector is on the implicit default"
    );
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
        .single()
        .expect("time")
}

fn incident(
    id: &str,
    connector: &str,
    opened_min: i64,
    ack_min: Option<i64>,
    resolve_min: Option<i64>,
) -> Incident {
    let at = |m: i64| t0() + TimeDelta::minutes(m);
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        kind: "webhook_drop".into(),
        severity: Severity::Major,
        status: if resolve_min.is_some() {
            IncidentStatus::Resolved
        } else {
            IncidentStatus::Open
        },
        title: "t".into(),
        detail: "d".into(),
        opened_at: at(opened_min),
        updated_at: at(opened_min),
        acked_by: ack_min.map(|_| "maria".into()),
        acked_at: ack_min.map(at),
        resolved_at: resolve_min.map(at),
        ack_deadline: None,
        escalation_level: 0,
        labels: BTreeMap::new(),
        links: vec![],
    }
}

#[test]
fn inventory_export_counts_incidents_mtta_and_mttr_from_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("t.db")).expect("store");
    let incidents = vec![
        incident("old", "missing-files", -60 * 24 * 40, Some(0), None), // outside 30 days
        incident("i1", "missing-files", 0, Some(4), Some(60)),
        incident("i2", "missing-files", 100, Some(110), Some(220)),
        incident("i3", "missing-files", 300, None, None),
    ];
    let batch = SyncBatch {
        upstream: "demo".into(),
        at: t0(),
        connectors: None,
        incidents,
        dead_letters: vec![],
        cursors: vec![],
        state: ConnectionState::Live { last_ok: t0() },
    };
    store.write_sync_batch(&batch).expect("batch");
    // i1 was resolved; it fires again (same upstream id): one reopen.
    let mut again = incident("i1", "missing-files", 0, Some(4), None);
    again.updated_at = t0() + TimeDelta::minutes(500);
    let reopened = SyncBatch {
        incidents: vec![again],
        ..batch.clone()
    };
    store.write_sync_batch(&reopened).expect("reopen");
    let metrics = store
        .connector_metrics(t0() - TimeDelta::days(30))
        .expect("metrics");
    assert_eq!(metrics.len(), 1);
    let m = &metrics[0];
    assert_eq!((m.incidents, m.reopens), (3, 1));
    assert_eq!(
        m.mtta,
        Some(Duration::from_secs(7 * 60)),
        "(4 + 10) / 2 minutes"
    );
    assert_eq!(
        m.mttr,
        Some(Duration::from_secs(120 * 60)),
        "only i2 is resolved now: 120 minutes"
    );

    let dir2 = tempfile::tempdir().expect("tempdir");
    let path = dir2.path().join("triage.toml");
    std::fs::write(&path, BROKEN).expect("write");
    let config = Config::load(&path).expect("config");
    let csv = inventory_csv(&config.inventory(), &metrics);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], INVENTORY_CSV_HEADER);
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[1],
        "no-backup-no-runbook-no-sla,maria,,p,a,b,inbound,30m,0,0,,"
    );
    assert_eq!(
        lines[2],
        "missing-files,maria,dev,p,a,b,inbound,15m,3,1,7m,2h"
    );
}
