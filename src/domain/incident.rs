//! Incidents: something broke on a connector and someone has to own it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Lenient parse for upstream labels (`page`, `error`, `minor`… map to the nearest level).
    pub fn parse_lenient(s: &str) -> Self {
        Severity::parse_known(s).unwrap_or(Severity::Info)
    }

    /// A severity name or a common alias (ASCII case ignored); `None` for anything else.
    pub fn parse_known(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" | "crit" | "page" | "p1" | "sev1" => Severity::Critical,
            "major" | "error" | "high" | "p2" | "sev2" => Severity::Major,
            "warning" | "warn" | "minor" | "medium" | "p3" | "sev3" => Severity::Warning,
            "info" | "informational" | "low" | "none" | "p4" | "p5" | "sev4" | "sev5" => {
                Severity::Info
            }
            _ => return None,
        })
    }

    /// What [`Severity::parse_known`] accepts, for error messages.
    pub const ALLOWED: &'static str = "critical, major, warning or info (aliases: crit, page, \
        p1-p5, sev1-sev5, error, high, warn, minor, medium, low, informational, none)";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Acknowledged,
    /// Muted upstream by something other than an ack (an Alertmanager inhibition: another alert
    /// that explains it is firing). Still unresolved; its escalation clock does not run.
    Suppressed,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Suppressed => "suppressed",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "acknowledged" => Some(Self::Acknowledged),
            "suppressed" => Some(Self::Suppressed),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// An incident as cached locally. `id` is the upstream's id, unique within `upstream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub upstream: String,
    pub id: String,
    pub connector: String,
    pub kind: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub title: String,
    pub detail: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub acked_by: Option<String>,
    pub acked_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// When the owner must have acknowledged (set by routing from the connector's ack SLA).
    #[serde(default)]
    pub ack_deadline: Option<Timestamp>,
    /// Escalation level reached so far (0 = owner).
    #[serde(default)]
    pub escalation_level: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub links: Vec<Link>,
}

/// How the detail of an incident muted by a broader silence (a maintenance window, not an ack)
/// starts: "Silenced by carol@maint until 14:00: CRM maintenance window" (UTC).
pub const SILENCED_BY: &str = "Silenced by ";

impl Incident {
    /// "Silenced by … until …: comment" when a silence that is nobody's ack mutes this
    /// suppressed incident (the first line of its detail, written by the Alertmanager adapter).
    pub fn silence_note(&self) -> Option<&str> {
        if self.status != IncidentStatus::Suppressed {
            return None;
        }
        self.detail
            .lines()
            .next()
            .filter(|line| line.starts_with(SILENCED_BY))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub title: String,
    pub url: String,
}
