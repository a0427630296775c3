//! The demo scenario: connectors with their inventory facts, baseline queue numbers and fault,
//! the people and teams who own them, and the incidents open at start. Parsed from
//! `assets/demo/scenario.toml` (built in) or any file of the same shape.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::{ConnectorStatus, Direction, IncidentStatus, Severity};

/// A whole simulated stack.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default, rename = "team")]
    pub teams: Vec<TeamSpec>,
    #[serde(default, rename = "person")]
    pub people: Vec<PersonSpec>,
    #[serde(rename = "connector")]
    pub connectors: Vec<ConnectorSpec>,
    #[serde(default, rename = "incident")]
    pub incidents: Vec<IncidentSpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonSpec {
    pub id: String,
    pub name: String,
    pub team: Option<String>,
    pub handle: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Which realistic payload generator feeds a connector (see `payloads.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    HubspotForm,
    AdConversion,
    CrmSync,
    Enrichment,
    SegmentEvent,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSpec {
    pub id: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    pub direction: Direction,
    pub purpose: String,
    pub owner: String,
    pub backup: Option<String>,
    #[serde(with = "humantime_serde")]
    pub ack_sla: Duration,
    /// File name under `assets/runbooks/`.
    pub runbook: String,
    /// File name under `assets/contracts/`.
    pub contract: String,
    pub payload: PayloadKind,
    /// Dead letters present when the demo starts.
    pub initial_dead: u32,
    /// Chance (0..1) that a tick brings new dead letters while the fault is active.
    pub new_dead_chance: f64,
    pub baseline: Baseline,
    pub fault: FaultSpec,
}

/// Queue numbers the simulation drifts around.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub ready: u64,
    pub in_flight: u64,
    pub retrying: u64,
    pub rate_in: f64,
    pub rate_out: f64,
    pub rate_fail: f64,
}

/// What is broken on a connector, how the destination says so, and what a dead letter must
/// look like to get through while it stays broken.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    pub code: String,
    pub http_status: u16,
    pub message: String,
    pub vendor_response: String,
    /// Connector status while the fault is active.
    pub status: ConnectorStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// The destination renamed a field: payloads still carrying `field` are rejected.
    RenamedField { field: String, renamed_to: String },
    /// Dedupe key collisions: rejected unless `key_field` contains the value of `must_include`.
    DuplicateKey {
        key_field: String,
        must_include: String,
    },
    /// Retired API version: answered 200 with an errors body unless `field` equals `required`.
    ApiVersion { field: String, required: String },
    /// Intermittent outage: `success_per_10` of 10 replays get through (by idempotency key).
    Unavailable {
        success_per_10: u8,
        retry_after_s: u32,
    },
    /// A field changed type upstream: rejected unless the value at `pointer` has type `expected`.
    TypeChange { pointer: String, expected: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSpec {
    pub connector: String,
    pub kind: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub title: String,
    pub detail: String,
    #[serde(with = "humantime_serde")]
    pub opened_ago: Duration,
    pub acked_by: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub acked_ago: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub resolved_ago: Option<Duration>,
    #[serde(default)]
    pub escalation_level: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub title: String,
    pub url: String,
}

const BUILTIN_SCENARIO: &str = include_str!("../../assets/demo/scenario.toml");

impl Scenario {
    /// The built-in marketing-ops scenario (`assets/demo/scenario.toml`).
    pub fn builtin() -> Scenario {
        match Scenario::parse(BUILTIN_SCENARIO) {
            Ok(scenario) => scenario,
            // Compiled in and covered by tests; should it ever break, the name carries the
            // cause and `DemoServer::start` refuses the empty stack with that name.
            Err(error) => Scenario {
                name: format!("broken built-in scenario ({error})"),
                teams: vec![],
                people: vec![],
                connectors: vec![],
                incidents: vec![],
            },
        }
    }

    /// Parses scenario TOML; the error names the offending key.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        toml::from_str(text).map_err(|e| format!("demo scenario: {e}"))
    }

    pub fn connector(&self, id: &str) -> Option<&ConnectorSpec> {
        self.connectors.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenario_parses_with_five_connectors() {
        let scenario = Scenario::parse(BUILTIN_SCENARIO).unwrap();
        assert_eq!(scenario.connectors.len(), 5);
        assert!((5..=8).contains(&scenario.incidents.len()));
        let hubspot = scenario.connector("hubspot-form-to-salesforce").unwrap();
        assert_eq!(hubspot.initial_dead, 212);
    }
}
