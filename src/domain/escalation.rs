//! Escalation chains: reusable, named lists of steps. Each step fires when an incident has gone
//! `after` without an ack, counted from its ack deadline, and says whom to notify and which
//! contingency (if any) to trigger. Pure data; [`super::sla`] computes when each step is due.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// Who a step notifies. `Owner`/`Backup` are resolved from the incident's route; `Vendor` from
/// the connector's vendor contact; `Bridge` from the config's incident bridge.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifyTarget {
    Owner,
    Backup,
    Team(String),
    Person(String),
    Bridge,
    Vendor,
}

impl NotifyTarget {
    /// `owner`, `backup`, `team:<id>`, `person:<id>`, `bridge` or `vendor`.
    pub fn parse(text: &str) -> Option<NotifyTarget> {
        match text {
            "owner" => Some(NotifyTarget::Owner),
            "backup" => Some(NotifyTarget::Backup),
            "bridge" => Some(NotifyTarget::Bridge),
            "vendor" => Some(NotifyTarget::Vendor),
            _ => {
                if let Some(team) = text.strip_prefix("team:").filter(|t| !t.is_empty()) {
                    Some(NotifyTarget::Team(team.to_owned()))
                } else {
                    text.strip_prefix("person:")
                        .filter(|p| !p.is_empty())
                        .map(|p| NotifyTarget::Person(p.to_owned()))
                }
            }
        }
    }
}

impl fmt::Display for NotifyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyTarget::Owner => f.write_str("owner"),
            NotifyTarget::Backup => f.write_str("backup"),
            NotifyTarget::Team(id) => write!(f, "team:{id}"),
            NotifyTarget::Person(id) => write!(f, "person:{id}"),
            NotifyTarget::Bridge => f.write_str("bridge"),
            NotifyTarget::Vendor => f.write_str("vendor"),
        }
    }
}

impl Serialize for NotifyTarget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An automatic action taken with a step, on the upstream, when it supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Contingency {
    /// Stop the connector so bad data stops flowing (vendor outage path).
    PauseConnector,
}

impl Contingency {
    pub const ALL: &[Contingency] = &[Contingency::PauseConnector];

    pub fn as_str(self) -> &'static str {
        match self {
            Contingency::PauseConnector => "pause_connector",
        }
    }

    pub fn parse(text: &str) -> Option<Contingency> {
        Contingency::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationStep {
    /// Time without ack, counted from the ack deadline, before this step fires.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    pub notify: Vec<NotifyTarget>,
    pub contingency: Option<Contingency>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationChain {
    pub name: String,
    /// An ack older than this expires and the clock restarts (PagerDuty semantics).
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Option<Duration>,
    /// Ordered by `after` (non-decreasing); step `i` is escalation level `i + 1`.
    pub steps: Vec<EscalationStep>,
    /// 1-based line of the `[[chain]]` in the config file.
    pub line: usize,
}

impl EscalationChain {
    /// The step that takes an incident to `level` (1-based; level 0 is the owner).
    pub fn step_for_level(&self, level: u32) -> Option<&EscalationStep> {
        let index = usize::try_from(level).ok()?.checked_sub(1)?;
        self.steps.get(index)
    }

    /// True when any step notifies `target`.
    pub fn notifies(&self, target: &NotifyTarget) -> bool {
        self.steps.iter().any(|s| s.notify.contains(target))
    }
}

/// Which payload shape a notifier posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// Slack (and Mattermost/Rocket.Chat) incoming webhooks: `{text, blocks}`.
    Slack,
    /// Any HTTP endpoint: the notification as JSON (`event = "triage.notification"`, `version = 1`).
    Webhook,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Slack => "slack",
            NotifierKind::Webhook => "webhook",
        }
    }
}
