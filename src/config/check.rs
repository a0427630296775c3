//! `triage check`: audits a loaded config against the playbook's ownership rules and lists EVERY
//! violation: each connector needs an owner and a different backup, a runbook file that exists,
//! a declared ack SLA, a route other than the default, an existing contract file where one is
//! declared, and a vendor contact when its route's chain notifies the vendor.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::{Config, ConnectorConfig, RoutingConfig};
use crate::domain::escalation::NotifyTarget;
use crate::domain::route_pattern::FactKey;
use crate::domain::routing::RouteRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    NoOwner,
    NoBackup,
    BackupIsOwner,
    NoRunbook,
    RunbookMissing,
    NoAckSla,
    OnlyDefaultRoute,
    ContractMissing,
    NoVendorContact,
}

/// One broken rule, located at the connector (or route) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The connector concerned; `None` for a route-level problem.
    pub connector: Option<String>,
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(connector) = &self.connector {
            write!(f, "connector {connector:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every violation, in file order per connector. Empty = the inventory passes.
pub fn check(config: &Config, routing: &RoutingConfig) -> Vec<Violation> {
    let file = config
        .file
        .as_ref()
        .map_or_else(|| "triage.toml".to_owned(), |f| f.display().to_string());
    let mut out = Vec::new();
    for c in &config.connectors {
        let mut violation = |kind, message: String| {
            out.push(Violation {
                kind,
                connector: Some(c.id.clone()),
                file: file.clone(),
                line: c.line,
                message,
            });
        };
        if c.owner.trim().is_empty() {
            violation(
                ViolationKind::NoOwner,
                "no owner: set owner = \"<person or team>\"".into(),
            );
        }
        match &c.backup {
            None => violation(
                ViolationKind::NoBackup,
                "no backup: set backup = \"<person or team>\", different from the owner".into(),
            ),
            Some(backup) if *backup == c.owner => violation(
                ViolationKind::BackupIsOwner,
                format!("backup {backup:?} is the owner; name someone else"),
            ),
            Some(_) => {}
        }
        match &c.runbook {
            None => violation(
                ViolationKind::NoRunbook,
                "no runbook: set runbook = \"runbooks/<connector>.md\"".into(),
            ),
            Some(path) if !path.is_file() => violation(
                ViolationKind::RunbookMissing,
                format!("runbook file {} does not exist", path.display()),
            ),
            Some(_) => {}
        }
        if c.ack_sla.is_zero() || routing.implicit_ack_sla.contains(&c.id) {
            violation(
                ViolationKind::NoAckSla,
                "no ack SLA declared: set ack_sla on the connector or default_ack_sla at the top"
                    .into(),
            );
        }
        let rules = rules_for(c, &routing.routes);
        if rules.iter().all(|r| r.is_default()) {
            violation(
                ViolationKind::OnlyDefaultRoute,
                "only the default route applies: add a [[route]] matching this connector (e.g. match = { connector = \"<id>\" })".into(),
            );
        }
        if let Some(contract) = &c.contract
            && !contract.is_file()
        {
            violation(
                ViolationKind::ContractMissing,
                format!("contract file {} does not exist", contract.display()),
            );
        }
        let notifies_vendor = rules.iter().any(|r| {
            r.chain
                .as_deref()
                .and_then(|name| routing.chain(name))
                .is_some_and(|chain| chain.notifies(&NotifyTarget::Vendor))
        });
        if notifies_vendor && !routing.vendor_contacts.contains_key(&c.id) {
            violation(
                ViolationKind::NoVendorContact,
                "a route for this connector notifies \"vendor\" but it has no vendor_contact"
                    .into(),
            );
        }
    }
    for rule in &routing.routes {
        if let Some(runbook) = &rule.runbook
            && !Path::new(runbook).is_file()
        {
            out.push(Violation {
                kind: ViolationKind::RunbookMissing,
                connector: None,
                file: file.clone(),
                line: rule.origin.line,
                message: format!(
                    "route {:?}: runbook file {runbook} does not exist",
                    rule.name
                ),
            });
        }
    }
    out
}

/// Rules that can match some incident of `connector`: their connector and upstream matchers
/// (if any) accept it; other keys (kind, severity, labels) vary per incident.
fn rules_for<'r>(connector: &ConnectorConfig, rules: &'r [RouteRule]) -> Vec<&'r RouteRule> {
    rules
        .iter()
        .filter(|rule| {
            rule.matchers.iter().all(|m| match m.key {
                FactKey::Connector => m.pattern.matches(&connector.id),
                FactKey::Upstream => m.pattern.matches(&connector.upstream),
                _ => true,
            })
        })
        .collect()
}
