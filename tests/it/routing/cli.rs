//! The routing commands as an operator runs them: `triage check` exits 0 on the example and 1
//! listing every violation otherwise; `routes test` explains; `inventory export` writes CSV.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn triage(config: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("TRIAGE_LOG", "off")
        .env(
            "XDG_STATE_HOME",
            store.parent().unwrap_or(Path::new("/tmp")),
        )
        .output()
        .expect("run triage")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/triage.example.toml")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_passes_on_the_example_and_fails_listing_every_violation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("t.db");
    let ok = triage(&example(), &store, &["check"]);
    assert!(
        ok.status.success(),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    assert!(text(&ok.stdout).starts_with("ok: 6 connectors"));

    std::fs::create_dir_all(dir.path().join("runbooks")).expect("mkdir");
    std::fs::write(dir.path().join("runbooks/ok.md"), "# ok").expect("runbook");
    let broken = dir.path().join("triage.toml");
    std::fs::write(&broken, super::audit::BROKEN).expect("write");
    let failed = triage(&broken, &store, &["check"]);
    assert_eq!(failed.status.code(), Some(1));
    let stdout = text(&failed.stdout);
    assert_eq!(stdout.lines().count(), 9, "{stdout}");
    assert!(
        stdout.contains("no backup") && stdout.contains("contracts/gone.json"),
        "{stdout}"
    );
    assert!(text(&failed.stderr).contains("9 violation(s)"));

    let json = triage(&broken, &store, &["check", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["ok"], false);
    assert_eq!(value["violations"].as_array().map(Vec::len), Some(9));
    assert_eq!(value["violations"][0]["kind"], "no_backup");
}

#[test]
fn routes_test_prints_the_route_and_the_rule_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("t.db");
    let out = triage(
        &example(),
        &store,
        &[
            "routes",
            "test",
            "connector=hubspot-form-to-salesforce",
            "severity=critical",
            "--tree",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("matched rule \"major\" at triage.example.toml:"),
        "{stdout}"
    );
    assert!(stdout.contains("backup:   dev"), "{stdout}");
    assert!(
        stdout.contains("level 2: 15m after the ack deadline → notify bridge"),
        "{stdout}"
    );
    assert!(stdout.contains("✗ vendor-outages"), "{stdout}");
    assert!(stdout.contains("✗ crm-sync-major"), "{stdout}");

    let json = triage(
        &example(),
        &store,
        &["routes", "test", "kind=vendor_outage", "--json"],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value["decision"]["rule"], "vendor-outages");
    assert_eq!(value["chain"]["steps"][1]["contingency"], "pause_connector");

    let bad = triage(&example(), &store, &["routes", "test", "colour=red"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown key \"colour\""));
}

#[test]
fn inventory_export_writes_csv_with_every_connector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("t.db");
    let file = dir.path().join("inventory.csv");
    let out = triage(
        &example(),
        &store,
        &[
            "inventory",
            "export",
            "--csv",
            "-o",
            file.to_str().expect("utf8 path"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(&file).expect("csv written");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], triage::domain::metrics::INVENTORY_CSV_HEADER);
    assert_eq!(lines.len(), 7, "header and the example's six connectors");
    assert!(
        lines[3].starts_with("crm-upgrade-sync,revops,data-eng,Keeps lead status"),
        "{}",
        lines[3]
    );
}
