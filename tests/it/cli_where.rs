//! `triage dead-letters|incidents --where QUERY`: the real binary over a store filled through
//! the library (no upstream is contacted), a bad query's exit code and caret, and `--help`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use chrono::{TimeDelta, Utc};
use triage::domain::routing::StoredRoute;
use triage::domain::{
    ConnectionState, DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus,
    Severity,
};
use triage::store::{Store, SyncBatch};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

fn letter(id: &str, connector: &str, hours_ago: i64, message: &str, tenant: &str) -> DeadLetter {
    let at = Utc::now() - TimeDelta::hours(hours_ago);
    DeadLetter {
        upstream: "api".into(),
        id: id.into(),
        connector: connector.into(),
        payload: format!("{{\"id\":\"{id}\"}}").into_bytes(),
        content_type: None,
        headers: vec![
            ("x-tenant".into(), tenant.into()),
            (
                "x-death".into(),
                format!("[{{count=1, exchange=x, queue={connector}.work, reason=rejected}}]"),
            ),
        ],
        error: DeadLetterError {
            code: "INVALID_FIELD".into(),
            message: message.into(),
            http_status: None,
            vendor_response: None,
        },
        attempts: 1,
        first_failed_at: at,
        last_failed_at: at,
        state: DeadLetterState::Dead,
        updated_at: at,
    }
}

fn incident(id: &str, severity: Severity, status: IncidentStatus) -> Incident {
    Incident {
        upstream: "api".into(),
        id: id.into(),
        connector: "crm".into(),
        kind: "delivery_failures".into(),
        severity,
        status,
        title: format!("incident {id}"),
        detail: String::new(),
        opened_at: Utc::now() - TimeDelta::hours(1),
        updated_at: Utc::now(),
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: BTreeMap::new(),
        links: vec![],
    }
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        "operator = \"ops@test\"\n[[upstream]]\nid = \"api\"\nkind = \"connector_api\"\nurl = \"http://127.0.0.1:1\"\n",
    )
    .expect("config");
    let store_path = dir.path().join("triage.db");
    let mut store = Store::open(&store_path).expect("store");
    store
        .write_sync_batch(&SyncBatch {
            upstream: "api".into(),
            at: Utc::now(),
            connectors: None,
            incidents: vec![
                incident("inc-1", Severity::Critical, IncidentStatus::Open),
                incident("inc-2", Severity::Major, IncidentStatus::Open),
                incident("inc-3", Severity::Critical, IncidentStatus::Resolved),
            ],
            dead_letters: vec![
                letter("dl-1", "crm", 1, "No such column lead_source", "acme"),
                letter("dl-2", "crm", 5, "No such column lead_source", "acme"),
                letter("dl-3", "erp", 2, "No such column lead_source", "globex"),
                letter("dl-4", "crm", 1, "rate limited", "acme"),
            ],
            cursors: vec![],
            state: ConnectionState::Live {
                last_ok: Utc::now(),
            },
        })
        .expect("batch");
    let route = |owner: &str| StoredRoute {
        rule: "default".into(),
        origin: "built-in".into(),
        owner: Some(owner.into()),
        backup: None,
        ack_sla_secs: 900,
        chain: None,
        runbook: None,
    };
    store
        .write_incident_routes(
            "api",
            &[
                ("inc-1".into(), route("alice")),
                ("inc-2".into(), route("alice")),
                ("inc-3".into(), route("alice")),
            ],
            Utc::now(),
        )
        .expect("routes");
    Setup {
        dir,
        config,
        store: store_path,
    }
}

fn triage(s: &Setup, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(&s.config)
        .arg("--store")
        .arg(&s.store)
        .args(args)
        .env("XDG_STATE_HOME", s.dir.path().join("state"))
        .output()
        .expect("run triage")
}

/// The ids listed by `--json`, in order.
fn ids(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["id"].as_str().expect("id").to_string()
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn where_selects_dead_letters_and_incidents_in_the_store() {
    let s = setup();
    let dl = |query: &str| ids(&triage(&s, &["dead-letters", "--json", "--where", query]));
    assert_eq!(dl("connector:crm error:\"column lead\" age:<2h"), ["dl-1"]);
    assert_eq!(dl("origin:crm.work !rate"), ["dl-1", "dl-2"]);
    assert_eq!(dl("header:x-tenant=globex"), ["dl-3"]);
    assert_eq!(dl("re:error=^No since:3h"), ["dl-1", "dl-3"]);
    assert!(dl("status:replayed").is_empty());
    // --where combines with --connector (both hold).
    let both = ids(&triage(
        &s,
        &[
            "dead-letters",
            "--json",
            "--connector",
            "erp",
            "--where",
            "lead_source",
        ],
    ));
    assert_eq!(both, ["dl-3"]);

    let inc = |query: &str| ids(&triage(&s, &["incidents", "--json", "--where", query]));
    assert_eq!(inc("owner:alice severity:critical"), ["inc-1"]);
    // A status term replaces the default (unresolved only), without --all-statuses.
    assert_eq!(inc("status:resolved"), ["inc-3"]);
    assert_eq!(inc("!severity:critical"), ["inc-2"]);
}

#[test]
fn a_bad_query_exits_2_with_where_and_why() {
    let s = setup();
    let out = triage(&s, &["dead-letters", "--where", "status:dead colour:red"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with(
            "error: --where at column 13: unknown field \"colour\" (fields: connector,"
        ),
        "{err}"
    );
    assert!(
        err.contains("\n  status:dead colour:red\n              ^\n"),
        "caret under the term: {err}"
    );

    let out = triage(&s, &["incidents", "--where", "header:x=y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at column 1: header: applies to dead letters, not incidents"),
        "{}",
        stderr(&out)
    );
    let out = triage(&s, &["dead-letters", "--where", "re:payload=(x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at column 12: re: bad regex:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_documents_the_query_language() {
    for command in ["dead-letters", "incidents"] {
        let out = Command::new(BIN)
            .args([command, "--help"])
            .output()
            .expect("run");
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "--where <QUERY>",
            "QUERY (--where, and the console's /)",
            "header:NAME=VALUE",
            "age:<2h",
            "re:FIELD=REGEX",
            "exits 2",
        ] {
            assert!(
                help.contains(needle),
                "{command} --help lacks {needle:?}:\n{help}"
            );
        }
    }
}

/// Every `--where '…'` example in the README and in `--help` parses for its command.
#[test]
fn documented_examples_parse() {
    use triage::domain::query::{Query, RowKind};
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let help = Command::new(BIN)
        .args(["dead-letters", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut seen = 0;
    for line in readme.lines().chain(help.lines()) {
        let Some((before, rest)) = line.split_once("--where '") else {
            continue;
        };
        let query = rest.split('\'').next().unwrap_or_default();
        let kind = if before.contains("incidents") {
            RowKind::Incidents
        } else {
            RowKind::DeadLetters
        };
        if let Err(e) = Query::parse(query, kind) {
            panic!("{line}\n{}", e.render(query));
        }
        seen += 1;
    }
    assert!(seen >= 6, "found only {seen} examples");
}
