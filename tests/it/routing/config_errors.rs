//! `[[route]]` and `[[chain]]` in triage.toml: each mistake is reported with file, line, field
//! and what to do; a valid file keeps every rule's line.

use std::path::PathBuf;
use std::time::Duration;

use triage::config::{Config, ConfigError, RoutingConfig};
use triage::domain::escalation::{Contingency, NotifyTarget};

const BASE: &str = r##"bridge = "#incident-bridge"

[[upstream]]
id = "demo"
kind = "connector_api"
url = "http://127.0.0.1:7777"

[[team]]
id = "revops"
name = "Revenue Operations"
members = ["maria", "dev"]

[[person]]
id = "maria"
name = "Maria Lopez"

[[person]]
id = "dev"
name = "Dev Patel"

[[connector]]
id = "hubspot-form-to-salesforce"
upstream = "demo"
source = "HubSpot Forms"
destination = "Salesforce"
direction = "inbound"
purpose = "Signups into the CRM"
owner = "maria"
backup = "dev"
vendor_contact = "support@hubspot.example"

[[chain]]
name = "major"
ack_timeout = "30m"
[[chain.step]]
after = "0m"
notify = ["backup"]
[[chain.step]]
after = "15m"
notify = ["bridge", "team:revops"]
contingency = "pause_connector"
"##;

const ROUTES: &str = r#"
[[route]]
name = "vendor-outages"
match = { kind = "vendor_outage", severity = "re:major|critical", label.team = "revops" }
owner = "maria"
backup = "revops"
ack_sla = "10m"
chain = "major"
runbook = "runbooks/vendor.md"

[[route]]
name = "default"
"#;

fn parse(text: &str) -> (PathBuf, Result<(Config, RoutingConfig), ConfigError>) {
    let path = PathBuf::from("/etc/triage/triage.toml");
    let result = Config::parse_with_routing(text, &path);
    (path, result)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

fn assert_error(text: &str, needle: &str, field: &str, phrase: &str) -> ConfigError {
    let (path, result) = parse(text);
    let err = result.expect_err("config should be rejected");
    assert_eq!(err.file, path, "{err}");
    assert_eq!(err.line, line_of(text, needle), "{err}");
    assert_eq!(err.field, field, "{err}");
    assert!(
        err.message.contains(phrase),
        "{:?} lacks {phrase:?}",
        err.message
    );
    // `Config::load`/`parse` reject the same file the same way
    assert_eq!(Config::parse(text, &path).expect_err("parse rejects"), err);
    err
}

#[test]
fn valid_routes_and_chains_keep_their_lines() {
    let text = format!("{BASE}{ROUTES}");
    let (_, result) = parse(&text);
    let (_, routing) = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(routing.routes.len(), 2);
    let vendor = &routing.routes[0];
    assert_eq!(
        vendor.origin.line,
        line_of(&text, "name = \"vendor-outages\"")
    );
    assert_eq!(
        vendor.origin.to_string(),
        format!("triage.toml:{}", vendor.origin.line)
    );
    assert_eq!(vendor.matchers.len(), 3);
    assert_eq!(vendor.ack_sla, Some(Duration::from_secs(600)));
    assert_eq!(
        vendor.runbook.as_deref(),
        Some("/etc/triage/runbooks/vendor.md")
    );
    assert!(routing.routes[1].is_default());
    let chain = routing.chain("major").expect("chain");
    assert_eq!(chain.ack_timeout, Some(Duration::from_secs(1800)));
    assert_eq!(
        chain.steps[1].notify,
        vec![NotifyTarget::Bridge, NotifyTarget::Team("revops".into())]
    );
    assert_eq!(
        chain.steps[1].contingency,
        Some(Contingency::PauseConnector)
    );
    assert_eq!(routing.bridge.as_deref(), Some("#incident-bridge"));
    assert_eq!(
        routing
            .vendor_contacts
            .get("hubspot-form-to-salesforce")
            .map(String::as_str),
        Some("support@hubspot.example")
    );
}

#[test]
fn no_routes_at_all_means_the_implicit_default() {
    let (_, result) = parse(BASE);
    let (_, routing) = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(routing.only_implicit_default());
}

#[test]
fn missing_default_route_points_at_the_end_of_the_routes() {
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("[[route]]\nname = \"default\"\n", "")
    );
    let err = assert_error(
        &text,
        "runbook = \"runbooks/vendor.md\"",
        "route",
        "no default route",
    );
    assert!(
        err.message.contains("add a final [[route]] without match"),
        "{err}"
    );
}

#[test]
fn route_after_the_default_is_unreachable() {
    let text = format!("{BASE}{ROUTES}\n[[route]]\nname = \"late\"\nmatch = {{ kind = \"x\" }}\n");
    assert_error(&text, "name = \"late\"", "route[2]", "unreachable");
}

#[test]
fn unknown_chain_person_and_team_are_located() {
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("chain = \"major\"", "chain = \"mjr\"")
    );
    assert_error(
        &text,
        "chain = \"mjr\"",
        "route[0].chain",
        r#"unknown chain "mjr" (known: major)"#,
    );
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("owner = \"maria\"", "owner = \"bob\"")
    );
    assert_error(
        &text,
        "owner = \"bob\"",
        "route[0].owner",
        r#"unknown person or team "bob""#,
    );
    let text = format!("{}{ROUTES}", BASE.replace("team:revops", "team:sales"));
    assert_error(
        &text,
        "team:sales",
        "chain[0].step[1].notify[1]",
        r#"unknown team "sales""#,
    );
    let text = format!(
        "{}{ROUTES}",
        BASE.replace("[\"backup\"]", "[\"person:zoe\"]")
    );
    assert_error(
        &text,
        "person:zoe",
        "chain[0].step[0].notify[0]",
        r#"unknown person "zoe""#,
    );
}

#[test]
fn bad_notify_targets_and_contingencies_are_named() {
    let text = format!("{}{ROUTES}", BASE.replace("[\"backup\"]", "[\"pager\"]"));
    assert_error(
        &text,
        "\"pager\"",
        "chain[0].step[0].notify[0]",
        "owner, backup, team:<id>",
    );
    let text = format!(
        "{}{ROUTES}",
        BASE.replace("bridge = \"#incident-bridge\"\n", "")
    );
    assert_error(
        &text,
        "notify = [\"bridge\"",
        "chain[0].step[1].notify[0]",
        "top-level bridge",
    );
    let text = format!(
        "{}{ROUTES}",
        BASE.replace("\"pause_connector\"", "\"reboot\"")
    );
    assert_error(
        &text,
        "\"reboot\"",
        "chain[0].step[1].contingency",
        "known: pause_connector",
    );
}

#[test]
fn chain_steps_must_be_in_time_order_and_present() {
    let text = format!(
        "{}{ROUTES}",
        BASE.replace("after = \"15m\"", "after = \"0s\"")
            .replace("after = \"0m\"", "after = \"5m\"")
    );
    assert_error(
        &text,
        "after = \"0s\"",
        "chain[0].step[1].after",
        "time order",
    );
    let text = format!("{BASE}\n[[chain]]\nname = \"empty\"\n{ROUTES}");
    assert_error(&text, "name = \"empty\"", "chain[1].step", "has no steps");
}

#[test]
fn bad_patterns_keys_and_duplicates_are_located() {
    let text = format!("{BASE}{}", ROUTES.replace("re:major|critical", "re:(major"));
    assert_error(
        &text,
        "re:(major",
        "route[0].match.severity",
        "invalid regular expression",
    );
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("kind = \"vendor_outage\"", "colour = \"red\"")
    );
    assert_error(
        &text,
        "colour",
        "route[0].match.colour",
        r#"unknown field "colour""#,
    );
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("name = \"default\"", "name = \"vendor-outages\"")
    );
    let (_, result) = parse(&text);
    let err = result.expect_err("duplicate");
    let second = text
        .lines()
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.contains("vendor-outages"))
        .map(|i| i + 1);
    assert_eq!(
        (Some(err.line), err.field.as_str()),
        (second, "route[1].name"),
        "{err}"
    );
    assert!(err.message.contains("duplicate route name"), "{err}");
    let text = format!(
        "{BASE}{}",
        ROUTES.replace("re:major|critical", "major|critical")
    );
    assert_error(
        &text,
        "major|critical",
        "route[0].match.severity",
        "re:major|critical",
    );
    let text = format!("{BASE}\n[[route]]\nname = \"empty\"\nmatch = {{}}\n");
    assert_error(&text, "match = {}", "route[0].match", "omit match entirely");
}
