//! `write_demo_config`: a ready-to-use `triage.toml` for the demo inventory (format of the
//! config module), with the runbooks and contracts it points at written beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::contract::BUILTIN_CONTRACTS;
use super::scenario::Scenario;

/// Every runbook the demo ships, by file name (one per connector).
pub const BUILTIN_RUNBOOKS: &[(&str, &str)] = &[
    (
        "hubspot-form-to-salesforce.md",
        include_str!("../../assets/runbooks/hubspot-form-to-salesforce.md"),
    ),
    (
        "ads-conversions-to-analytics.md",
        include_str!("../../assets/runbooks/ads-conversions-to-analytics.md"),
    ),
    (
        "crm-upgrade-sync.md",
        include_str!("../../assets/runbooks/crm-upgrade-sync.md"),
    ),
    (
        "clearbit-enrichment.md",
        include_str!("../../assets/runbooks/clearbit-enrichment.md"),
    ),
    (
        "segment-to-warehouse.md",
        include_str!("../../assets/runbooks/segment-to-warehouse.md"),
    ),
];

/// Writes `triage.toml` for the built-in demo inventory pointing at `url` (upstream id `demo`),
/// plus `runbooks/*.md` and `contracts/*.json` beside it. Returns the path of the toml.
pub fn write_demo_config(dir: &Path, url: &str) -> std::io::Result<PathBuf> {
    write_demo_config_with_token(dir, url, None)
}

/// [`write_demo_config`] for a demo that requires `token`: the token goes into `demo.token`
/// beside the config (created with mode 0600, only the owner can read it) and the upstream
/// reads it with `token_file`, so the written config works as it is.
pub fn write_demo_config_with_token(
    dir: &Path,
    url: &str,
    token: Option<&str>,
) -> std::io::Result<PathBuf> {
    if let Some(token) = token {
        write_private(&dir.join(TOKEN_FILE), token)?;
    }
    write_config_files(dir, url, token.is_some())
}

/// The token file written beside a demo config that needs one.
pub const TOKEN_FILE: &str = "demo.token";

/// Writes `text` to `path`, readable and writable by the owner only (0600), even when the file
/// already existed with wider permissions.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    writeln!(file, "{text}")
}

fn write_config_files(dir: &Path, url: &str, with_token: bool) -> std::io::Result<PathBuf> {
    let scenario = Scenario::builtin();
    std::fs::create_dir_all(dir.join("runbooks"))?;
    std::fs::create_dir_all(dir.join("contracts"))?;
    for (name, text) in BUILTIN_RUNBOOKS {
        std::fs::write(dir.join("runbooks").join(name), text)?;
    }
    for (name, text) in BUILTIN_CONTRACTS {
        std::fs::write(dir.join("contracts").join(name), text)?;
    }
    let path = dir.join("triage.toml");
    std::fs::write(&path, render(&scenario, url, with_token))?;
    Ok(path)
}

/// A TOML string literal (JSON string escapes are valid TOML basic-string escapes).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

fn render(scenario: &Scenario, url: &str, with_token: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# triage configuration for the built-in demo ({}).",
        scenario.name
    );
    let _ = writeln!(
        out,
        "# Written by `triage demo`; edit freely. Paths are relative to this file."
    );
    let _ = writeln!(out, "store = \"triage-demo.db\"");
    let _ = writeln!(out, "default_ack_sla = \"30m\"");
    let _ = writeln!(out, "bridge = \"#incident-bridge\"\n");
    let _ = writeln!(out, "[[upstream]]\nid = \"demo\"\nkind = \"connector_api\"");
    if with_token {
        let _ = writeln!(out, "token_file = {}", quoted(TOKEN_FILE));
    }
    let _ = writeln!(
        out,
        "url = {}\npoll_interval = \"2s\"\ntimeout = \"10s\"\n",
        quoted(url)
    );
    for team in &scenario.teams {
        let _ = writeln!(
            out,
            "[[team]]\nid = {}\nname = {}",
            quoted(&team.id),
            quoted(&team.name)
        );
        if let Some(channel) = &team.channel {
            let _ = writeln!(out, "channel = {}", quoted(channel));
        }
        let members: Vec<String> = team.members.iter().map(|m| quoted(m)).collect();
        let _ = writeln!(out, "members = [{}]\n", members.join(", "));
    }
    for person in &scenario.people {
        let _ = writeln!(
            out,
            "[[person]]\nid = {}\nname = {}",
            quoted(&person.id),
            quoted(&person.name)
        );
        for (key, value) in [
            ("team", &person.team),
            ("handle", &person.handle),
            ("email", &person.email),
            ("phone", &person.phone),
        ] {
            if let Some(value) = value {
                let _ = writeln!(out, "{key} = {}", quoted(value));
            }
        }
        out.push('\n');
    }
    for c in &scenario.connectors {
        let _ = writeln!(
            out,
            "[[connector]]\nid = {}\nname = {}",
            quoted(&c.id),
            quoted(&c.name)
        );
        let _ = writeln!(out, "upstream = \"demo\"");
        let _ = writeln!(
            out,
            "source = {}\ndestination = {}",
            quoted(&c.source),
            quoted(&c.destination)
        );
        let _ = writeln!(
            out,
            "direction = \"{}\"\npurpose = {}",
            c.direction.as_str(),
            quoted(&c.purpose)
        );
        let _ = writeln!(out, "owner = {}", quoted(&c.owner));
        if let Some(backup) = &c.backup {
            let _ = writeln!(out, "backup = {}", quoted(backup));
        }
        let _ = writeln!(
            out,
            "ack_sla = \"{}\"",
            humantime::format_duration(c.ack_sla)
        );
        let _ = writeln!(
            out,
            "runbook = {}",
            quoted(&format!("runbooks/{}", c.runbook))
        );
        let _ = writeln!(
            out,
            "contract = {}",
            quoted(&format!("contracts/{}", c.contract))
        );
        let _ = writeln!(
            out,
            "vendor_contact = {}\n",
            quoted(&vendor_contact(&c.destination))
        );
    }
    out.push_str(ROUTING);
    out
}

/// A support address for the destination system ("Salesforce" → support@salesforce.example).
fn vendor_contact(destination: &str) -> String {
    let name: String = destination
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("vendor")
        .to_ascii_lowercase();
    format!("support@{name}.example")
}

/// The playbook's three exception paths as chains, and routes onto them (first match wins).
const ROUTING: &str = r#"# Escalation chains: minor (owner acks within SLA), major (no ack -> backup -> bridge within
# 15 minutes), vendor outage (vendor contact + backup, then pause the connector and open the bridge).
[[chain]]
name = "minor"
ack_timeout = "4h"
[[chain.step]]
after = "15m"
notify = ["owner", "backup"]

[[chain]]
name = "major"
ack_timeout = "30m"
[[chain.step]]
after = "0m"
notify = ["backup"]
[[chain.step]]
after = "15m"
notify = ["bridge"]

[[chain]]
name = "vendor-outage"
ack_timeout = "1h"
[[chain.step]]
after = "0m"
notify = ["vendor", "backup"]
[[chain.step]]
after = "10m"
notify = ["bridge"]
contingency = "pause_connector"

# Routes: the first match wins; the last one is the default.
[[route]]
name = "vendor-outages"
match = { kind = "vendor_outage" }
chain = "vendor-outage"

[[route]]
name = "major"
match = { severity = "re:major|critical" }
chain = "major"

[[route]]
name = "minor"
match = { severity = "re:info|warning" }
chain = "minor"

[[route]]
name = "default"
chain = "major"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connector_has_a_shipped_runbook_and_contract() {
        let scenario = Scenario::builtin();
        for c in &scenario.connectors {
            assert!(
                BUILTIN_RUNBOOKS.iter().any(|(n, _)| *n == c.runbook),
                "{}",
                c.runbook
            );
            assert!(
                BUILTIN_CONTRACTS.iter().any(|(n, _)| *n == c.contract),
                "{}",
                c.contract
            );
        }
    }

    #[test]
    fn rendered_config_is_valid_toml_with_every_connector() {
        let text = render(&Scenario::builtin(), "http://127.0.0.1:7777", false);
        let value: toml::Table = toml::from_str(&text).unwrap();
        let connectors = value["connector"].as_array().unwrap();
        assert_eq!(connectors.len(), 5);
        assert_eq!(connectors[0]["ack_sla"].as_str(), Some("15m"));
    }
}
