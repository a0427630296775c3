//! Deterministic routing: ordered rules map incident facts to owner, backup, ack SLA, escalation
//! chain and runbook. First match wins; what a rule leaves unset comes from the connector's
//! inventory entry (then `default_ack_sla`). Every decision says which rule matched, where it is
//! written, and why each earlier rule did not match. Pure: no I/O, no config types.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::route_pattern::{FactKey, FactMatcher};
use super::{Connector, Incident, Severity};

/// Name of the rule used when no rule matches (only possible when no rules are configured).
pub const IMPLICIT_DEFAULT_RULE: &str = "default (implicit)";

/// Where a rule is written: `triage.toml:42`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleOrigin {
    /// The config file as given (shown by its file name).
    pub file: String,
    /// 1-based; 0 for the built-in implicit default.
    pub line: usize,
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return f.write_str("built-in");
        }
        let name = std::path::Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        write!(f, "{name}:{}", self.line)
    }
}

/// One `[[route]]`. No matchers = a default route (matches everything).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRule {
    pub name: String,
    pub origin: RuleOrigin,
    /// All must match (AND).
    pub matchers: Vec<FactMatcher>,
    pub owner: Option<String>,
    pub backup: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ack_sla: Option<Duration>,
    /// Name of an escalation chain.
    pub chain: Option<String>,
    pub runbook: Option<String>,
}

impl RouteRule {
    pub fn is_default(&self) -> bool {
        self.matchers.is_empty()
    }

    /// Whether this rule matches, and why (the first matcher that failed, or every one that held).
    pub fn check(&self, facts: &IncidentFacts) -> (bool, String) {
        if self.is_default() {
            return (true, "default route (no match keys)".to_owned());
        }
        let mut held = Vec::new();
        for m in &self.matchers {
            let value = facts.value(&m.key);
            match value {
                Some(v) if m.pattern.matches(v) => held.push(format!("{}={v:?}", m.key)),
                Some(v) => {
                    return (
                        false,
                        format!("{} is {v:?}, not {:?}", m.key, m.pattern.to_string()),
                    );
                }
                None => return (false, format!("{} is not set on this incident", m.key)),
            }
        }
        (true, held.join(", "))
    }
}

/// What routing looks at. Built from an incident, or from `key=value` pairs (`routes test`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct IncidentFacts {
    pub connector: String,
    pub kind: String,
    pub severity: String,
    pub upstream: String,
    pub labels: BTreeMap<String, String>,
}

impl IncidentFacts {
    pub fn from_incident(incident: &Incident) -> IncidentFacts {
        IncidentFacts {
            connector: incident.connector.clone(),
            kind: incident.kind.clone(),
            severity: incident.severity.as_str().to_owned(),
            upstream: incident.upstream.clone(),
            labels: incident.labels.clone(),
        }
    }

    /// `connector=x kind=y severity=major upstream=z label.team=revops`; severity is normalised
    /// like upstream labels are (`page` → `critical`). Unknown keys and severities are errors
    /// naming what is allowed.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = &'a str>,
    ) -> Result<IncidentFacts, String> {
        let mut facts = IncidentFacts::default();
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "{pair:?} is not key=value (e.g. connector=hubspot-form-to-salesforce)"
                ));
            };
            let value = value.to_owned();
            match FactKey::parse(key.trim()) {
                Some(FactKey::Connector) => facts.connector = value,
                Some(FactKey::Kind) => facts.kind = value,
                Some(FactKey::Severity) => {
                    let Some(severity) = Severity::parse_known(&value) else {
                        return Err(format!(
                            "severity={value}: unknown severity; expected {}",
                            Severity::ALLOWED
                        ));
                    };
                    facts.severity = severity.as_str().to_owned();
                }
                Some(FactKey::Upstream) => facts.upstream = value,
                Some(FactKey::Label(name)) => {
                    facts.labels.insert(name, value);
                }
                None => {
                    return Err(format!(
                        "unknown key {key:?}: use connector, kind, severity, upstream or label.<name>"
                    ));
                }
            }
        }
        Ok(facts)
    }

    /// The fact a matcher compares; `None` for a label the incident does not carry.
    pub fn value(&self, key: &FactKey) -> Option<&str> {
        match key {
            FactKey::Connector => Some(&self.connector),
            FactKey::Kind => Some(&self.kind),
            FactKey::Severity => Some(&self.severity),
            FactKey::Upstream => Some(&self.upstream),
            FactKey::Label(name) => self.labels.get(name).map(String::as_str),
        }
    }
}

/// One rule as tried, in order, for `routes test --tree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTrial {
    pub rule: String,
    pub origin: RuleOrigin,
    pub matched: bool,
    pub why: String,
}

/// The route an incident takes and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    /// Name of the rule that matched.
    pub rule: String,
    pub origin: RuleOrigin,
    pub owner: Option<String>,
    pub backup: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ack_sla: Duration,
    pub chain: Option<String>,
    pub runbook: Option<String>,
    /// Every rule tried up to and including the match (rules after it were never looked at).
    pub tried: Vec<RuleTrial>,
}

impl RouteDecision {
    /// `matched rule "vendor-outages" at triage.toml:42`.
    pub fn explanation(&self) -> String {
        format!("matched rule {:?} at {}", self.rule, self.origin)
    }
}

/// Routes `facts` through `rules` (first match wins). Unset fields fall back to the connector's
/// inventory entry (matched by id and upstream, else by id), then `default_ack_sla`. Total: when
/// no rule matches (no rules at all), the implicit default route applies.
pub fn route(
    facts: &IncidentFacts,
    rules: &[RouteRule],
    inventory: &[Connector],
    default_ack_sla: Duration,
) -> RouteDecision {
    let connector = inventory
        .iter()
        .find(|c| c.id == facts.connector && c.upstream == facts.upstream)
        .or_else(|| inventory.iter().find(|c| c.id == facts.connector));
    let mut tried = Vec::new();
    let mut chosen = None;
    for rule in rules {
        let (matched, why) = rule.check(facts);
        tried.push(RuleTrial {
            rule: rule.name.clone(),
            origin: rule.origin.clone(),
            matched,
            why,
        });
        if matched {
            chosen = Some(rule);
            break;
        }
    }
    let (rule, origin) = match chosen {
        Some(rule) => (rule.name.clone(), rule.origin.clone()),
        None => (
            IMPLICIT_DEFAULT_RULE.to_owned(),
            RuleOrigin {
                file: String::new(),
                line: 0,
            },
        ),
    };
    let pick = |from_rule: Option<&Option<String>>, from_connector: Option<&String>| {
        from_rule
            .and_then(Option::clone)
            .or_else(|| from_connector.cloned())
    };
    RouteDecision {
        owner: pick(
            chosen.map(|r| &r.owner),
            connector.and_then(|c| c.owner.as_ref()),
        ),
        backup: pick(
            chosen.map(|r| &r.backup),
            connector.and_then(|c| c.backup.as_ref()),
        ),
        runbook: pick(
            chosen.map(|r| &r.runbook),
            connector.and_then(|c| c.runbook.as_ref()),
        ),
        ack_sla: chosen
            .and_then(|r| r.ack_sla)
            .or_else(|| connector.and_then(|c| c.ack_sla))
            .unwrap_or(default_ack_sla),
        chain: chosen.and_then(|r| r.chain.clone()),
        rule,
        origin,
        tried,
    }
}

/// The part of a [`RouteDecision`] kept with an incident in the store: enough for the console
/// to say who owns it and why, even after the config changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct StoredRoute {
    pub rule: String,
    /// `triage.toml:42`, or `built-in` for the implicit default.
    pub origin: String,
    pub owner: Option<String>,
    pub backup: Option<String>,
    pub ack_sla_secs: u64,
    pub chain: Option<String>,
    pub runbook: Option<String>,
}

impl StoredRoute {
    pub fn from_decision(d: &RouteDecision) -> StoredRoute {
        StoredRoute {
            rule: d.rule.clone(),
            origin: d.origin.to_string(),
            owner: d.owner.clone(),
            backup: d.backup.clone(),
            ack_sla_secs: d.ack_sla.as_secs(),
            chain: d.chain.clone(),
            runbook: d.runbook.clone(),
        }
    }

    /// `matched rule "vendor-outages" at triage.toml:42`.
    pub fn explanation(&self) -> String {
        format!("matched rule {:?} at {}", self.rule, self.origin)
    }
}
