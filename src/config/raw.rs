//! The on-disk shape of `triage.toml`: serde structs that reject unknown keys and keep the
//! source spans of every value that a semantic check may need to point at.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use toml::Spanned;

use crate::domain::{Direction, UpstreamKind};

/// A humantime duration such as `"30s"` or `"15m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a duration like "30s" or "15m""#)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationText, E> {
        humantime::parse_duration(text.trim())
            .map(DurationText)
            .map_err(|_| {
                E::custom(format!(
                    r#"expected a duration like "30s" or "15m", found {text:?}"#
                ))
            })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub operator: Option<String>,
    pub read_only: Option<bool>,
    pub store: Option<String>,
    pub default_ack_sla: Option<DurationText>,
    /// Incident bridge for `notify = ["bridge"]`, e.g. a chat channel or a call link.
    pub bridge: Option<String>,
    #[serde(default)]
    pub upstream: Vec<Spanned<RawUpstream>>,
    #[serde(default)]
    pub team: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    pub person: Vec<Spanned<RawPerson>>,
    #[serde(default)]
    pub connector: Vec<Spanned<RawConnector>>,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub chain: Vec<Spanned<RawChain>>,
    #[serde(default)]
    pub notifier: Vec<Spanned<RawNotifier>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotifier {
    pub id: Spanned<String>,
    pub kind: crate::domain::escalation::NotifierKind,
    pub url: Option<Spanned<String>>,
    pub url_env: Option<Spanned<String>>,
    pub url_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<DurationText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub id: Spanned<String>,
    pub kind: UpstreamKind,
    pub url: Spanned<String>,
    pub token_env: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub token_cmd: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<DurationText>>,
    pub timeout: Option<Spanned<DurationText>>,
    pub amqp_url: Option<Spanned<String>>,
    pub vhost: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    /// RabbitMQ `amqps://` only: PEM file of extra CA certificates to trust.
    pub ca_file: Option<Spanned<String>>,
    /// SQS only: the AWS region (required for kind = "sqs").
    pub region: Option<Spanned<String>>,
    /// SQS only: a named profile of the shared AWS config/credentials files.
    pub profile: Option<Spanned<String>>,
    /// SQS only: a shared-credentials file (INI, `[profile]` sections) to read instead of ~/.aws.
    pub credentials_file: Option<Spanned<String>>,
    /// SQS only: names of the environment variables holding the access key pair (and token).
    pub access_key_id_env: Option<Spanned<String>>,
    pub secret_access_key_env: Option<Spanned<String>>,
    pub session_token_env: Option<Spanned<String>>,
    /// SQS only: a String message attribute naming the source queue a message came from.
    pub origin_attribute: Option<Spanned<String>>,
    /// SQS only: how long one browse pass over a DLQ may keep receiving (default 20 s).
    pub browse_pass: Option<Spanned<DurationText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTeam {
    pub id: Spanned<String>,
    pub name: String,
    pub channel: Option<String>,
    #[serde(default)]
    pub members: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPerson {
    pub id: Spanned<String>,
    pub name: String,
    pub team: Option<Spanned<String>>,
    pub handle: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnector {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub upstream: Spanned<String>,
    pub source: String,
    pub destination: String,
    pub direction: Direction,
    pub purpose: String,
    pub owner: Spanned<String>,
    pub backup: Option<Spanned<String>>,
    pub ack_sla: Option<DurationText>,
    pub runbook: Option<String>,
    pub contract: Option<String>,
    pub queue: Option<Spanned<String>>,
    pub dead_letter_queue: Option<Spanned<String>>,
    /// Who `notify = ["vendor"]` reaches for this connector (e-mail, URL or handle).
    pub vendor_contact: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    #[serde(rename = "match")]
    pub matches: Option<Spanned<RawMatch>>,
    pub owner: Option<Spanned<String>>,
    pub backup: Option<Spanned<String>>,
    pub ack_sla: Option<Spanned<DurationText>>,
    pub chain: Option<Spanned<String>>,
    pub runbook: Option<Spanned<String>>,
}

impl RawRoute {
    /// Byte offset just past the last value of this route (a table's own span covers only its
    /// `[[route]]` header).
    pub fn end(&self) -> usize {
        let optional = [&self.owner, &self.backup, &self.chain, &self.runbook];
        optional
            .iter()
            .filter_map(|v| v.as_ref().map(|v| v.span().end))
            .chain(self.matches.as_ref().map(|m| m.span().end))
            .chain(self.ack_sla.as_ref().map(|a| a.span().end))
            .fold(self.name.span().end, usize::max)
    }
}

/// `match = { kind = "vendor_outage", severity = "re:major|critical", label.team = "revops" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub connector: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub severity: Option<Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    pub label: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    pub name: Spanned<String>,
    pub ack_timeout: Option<Spanned<DurationText>>,
    #[serde(default)]
    pub step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub after: Spanned<DurationText>,
    pub notify: Vec<Spanned<String>>,
    pub contingency: Option<Spanned<String>>,
}
