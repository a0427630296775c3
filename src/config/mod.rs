//! `triage.toml`: the operator, upstreams, the connector inventory, people and teams, routing
//! rules and escalation chains. Loading validates everything and names file, line and field of
//! the first problem. `check` audits a loaded config against the playbook's ownership rules.

// API CONTRACT (types shared with sync/console/CLI; loading is filled in by the config work)

mod chains;
pub mod check;
mod connector;
mod file_text;
mod key_path;
mod locate;
mod located;
mod notifier;
mod permissions;
mod raw;
mod routes;
mod secret_sources;
mod secrets;
mod sqs_upstream;
mod token;
mod upstream;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::escalation::EscalationChain;
use crate::domain::routing::{IncidentFacts, RouteDecision, RouteRule};
use crate::domain::{Connector, ConnectorStatus, Direction, QueueStats, UpstreamKind};

pub use locate::{CONFIG_ENV, default_path};

/// A configuration problem, located: `triage.toml:42:9: connector[2].owner: unknown person "bob"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {field}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 1 (with column 1) when the problem is the whole file (e.g. it is unreadable).
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `connector[2].owner`; `(file)` for the whole file,
    /// `(top level)` for a syntax error outside any key.
    pub field: String,
    pub message: String,
}

/// Where an upstream's secret comes from. Secrets are never written to the store or logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Env(String),
    File(PathBuf),
    /// Shell command whose trimmed stdout is the token.
    Cmd(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    pub id: String,
    pub kind: UpstreamKind,
    /// Base URL (Connector API, Alertmanager) or management API URL (RabbitMQ).
    pub url: String,
    /// RabbitMQ only: `amqp://` URL.
    pub amqp_url: Option<String>,
    /// RabbitMQ only.
    pub vhost: Option<String>,
    /// RabbitMQ management API / AMQP user (password via the token source).
    pub username: Option<String>,
    /// RabbitMQ with an `amqps://` URL only: a PEM file of CA certificates trusted for the AMQP
    /// TLS connection in addition to the system roots (resolved against the config's directory;
    /// read when the upstream is built).
    pub ca_file: Option<PathBuf>,
    pub token: TokenSource,
    pub poll_interval: Duration,
    pub timeout: Duration,
    /// SQS only: region, credentials (names of where they are, never the secrets) and how dead
    /// letters of a shared DLQ are attributed. `None` for every other kind.
    pub sqs: Option<SqsConfig>,
    /// RabbitMQ: work queue per connector is set on the connector; nothing else here yet.
    pub line: usize,
}

/// Where an SQS upstream's AWS credentials come from. The secrets themselves are never stored:
/// only the names of the variables, file or profile that hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsCredentials {
    /// The standard AWS chain: environment (`AWS_ACCESS_KEY_ID`…), the shared files' profile
    /// (`AWS_PROFILE`, or `profile` here), web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`), ECS and
    /// EC2 instance metadata.
    Chain { profile: Option<String> },
    /// A shared-credentials file (resolved against the config's directory) and its profile.
    File { path: PathBuf, profile: String },
    /// Environment variables named in the config.
    Env {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

/// The SQS part of an `[[upstream]]` of kind "sqs".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsConfig {
    pub region: String,
    pub credentials: AwsCredentials,
    /// A String message attribute the producers set to the source queue's name: dead letters of
    /// a DLQ with several sources are attributed by it.
    pub origin_attribute: Option<String>,
    /// How long one browse pass over a DLQ may keep receiving (`browse_pass`; None: the
    /// adapter's default). Messages stay hidden for twice as long at most.
    pub browse_pass: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    pub id: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    pub direction: Direction,
    pub purpose: String,
    pub upstream: String,
    pub owner: String,
    pub backup: Option<String>,
    pub ack_sla: Duration,
    /// Resolved against the config file's directory.
    pub runbook: Option<PathBuf>,
    pub contract: Option<PathBuf>,
    /// RabbitMQ and SQS bindings: the work (source) queue, and the DLQ when not derived from the
    /// queue's DLX (RabbitMQ) or redrive policy (SQS).
    pub queue: Option<String>,
    pub dead_letter_queue: Option<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub team: Option<String>,
    /// Chat handle, e.g. `@maria`.
    pub handle: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub channel: Option<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was loaded from (None for a built-in default).
    pub file: Option<PathBuf>,
    /// Who acts: default `$USER@host`.
    pub operator: String,
    pub read_only: bool,
    /// Store path from config (`--store` overrides; else the XDG data dir).
    pub store: Option<PathBuf>,
    /// Ack SLA for incidents on connectors that are not in the inventory.
    pub default_ack_sla: Duration,
    pub upstreams: Vec<UpstreamConfig>,
    pub connectors: Vec<ConnectorConfig>,
    pub people: Vec<Person>,
    pub teams: Vec<Team>,
}

/// Routing rules, escalation chains and contacts from the same file. Kept beside [`Config`]
/// (not inside it) so code that builds a `Config` by hand keeps compiling; load both with
/// [`Config::load_with_routing`].
///
/// Default route: when the file has no `[[route]]` at all, `routes` is empty and the implicit
/// default applies (connector owner/backup/SLA/runbook, no chain; `triage check` reports it);
/// when it has routes, loading guarantees the last one is a default (no `match`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoutingConfig {
    /// In file order; first match wins.
    pub routes: Vec<RouteRule>,
    pub chains: Vec<EscalationChain>,
    /// Incident bridge reached by `notify = ["bridge"]` (top-level `bridge`).
    pub bridge: Option<String>,
    /// Connector id → vendor contact reached by `notify = ["vendor"]` (connector `vendor_contact`).
    pub vendor_contacts: BTreeMap<String, String>,
    /// Connectors whose ack SLA is the built-in default: neither their `ack_sla` nor the
    /// top-level `default_ack_sla` is set (`triage check` reports them).
    pub implicit_ack_sla: BTreeSet<String>,
    /// Where escalations are announced (`[[notifier]]`); every step goes to every notifier.
    pub notifiers: Vec<NotifierConfig>,
}

/// One `[[notifier]]`: a Slack-compatible or generic JSON webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    pub id: String,
    pub kind: crate::domain::escalation::NotifierKind,
    /// The URL when written inline (`url`); otherwise it comes from `url_source`.
    pub url: Option<String>,
    /// `url_env` / `url_file` (a webhook URL is a secret); `None` when `url` is inline.
    pub url_source: TokenSource,
    pub timeout: Duration,
    pub line: usize,
}

impl NotifierConfig {
    /// The webhook URL, read now from the file or environment when not inline.
    /// The URL is registered as a secret (`domain::redact`): errors and logs show it redacted.
    pub fn resolve_url(&self) -> Result<String, String> {
        let url = match (&self.url, token::resolve(&self.url_source)?) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url,
            (None, None) => return Err(format!("notifier {:?} has no url", self.id)),
        };
        crate::domain::redact::register_url(&url);
        Ok(url)
    }
}

impl RoutingConfig {
    pub fn chain(&self, name: &str) -> Option<&EscalationChain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// True when no `[[route]]` is configured and only the implicit default applies.
    pub fn only_implicit_default(&self) -> bool {
        self.routes.is_empty()
    }

    /// Routes `facts` with these rules and `config`'s inventory and default ack SLA.
    pub fn route(&self, facts: &IncidentFacts, config: &Config) -> RouteDecision {
        crate::domain::routing::route(
            facts,
            &self.routes,
            &config.inventory(),
            config.default_ack_sla,
        )
    }
}

impl Config {
    /// Reads and validates `path` (routing included), keeping the config and its routing.
    /// Also refuses secrets others can read or change (`permissions`): a loose secret file, or
    /// a `token_cmd` in a file others can write.
    /// Also refuses a `token_env`/`url_env` variable that is not set or empty and a
    /// `token_file`/`url_file` that is missing, not a regular file, unreadable or empty
    /// (`secret_sources`), located at its key.
    pub fn load_with_routing(path: &Path) -> Result<(Config, RoutingConfig), ConfigError> {
        let text = file_text::read(path)?;
        Config::parse_inner(&text, path, Checks::ON_DISK)
    }

    /// [`Config::load_with_routing`] without looking for the secrets: for auditing a config
    /// where they are not (`triage check`, `routes test`, `inventory export`; CI).
    pub fn load_without_secrets(path: &Path) -> Result<(Config, RoutingConfig), ConfigError> {
        let text = file_text::read(path)?;
        let checks = Checks {
            secrets: false,
            ..Checks::ON_DISK
        };
        Config::parse_inner(&text, path, checks)
    }

    /// A config file's bytes, read as [`Config::load_without_secrets`] reads the file (text
    /// that is not UTF-8 or is empty is a located error too), checked like [`Config::parse`]:
    /// nothing on disk is looked at. Whatever the bytes, the answer is a config or a located
    /// error (the fuzz target `config` holds it to that).
    pub fn parse_bytes(bytes: &[u8], file: &Path) -> Result<(Config, RoutingConfig), ConfigError> {
        let text = file_text::text(bytes.to_vec(), file)?;
        Config::parse_inner(&text, file, Checks::TEXT_ONLY)
    }

    /// Like [`Config::parse`], keeping the routing rules and chains.
    pub fn parse_with_routing(
        text: &str,
        file: &Path,
    ) -> Result<(Config, RoutingConfig), ConfigError> {
        Config::parse_inner(text, file, Checks::TEXT_ONLY)
    }

    fn parse_inner(
        text: &str,
        file: &Path,
        checks: Checks,
    ) -> Result<(Config, RoutingConfig), ConfigError> {
        let locator = located::Locator::new(text, file);
        let deserializer = toml::Deserializer::parse(text).map_err(|err| locator.syntax(err))?;
        let raw: raw::RawConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|err| locator.shape(err))?;
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let config_dir = absolute.parent().unwrap_or_else(|| Path::new("."));
        if checks.permissions {
            permissions::check(&raw, &locator, file, config_dir)?;
        }
        let (config, routing) = validate::build(&raw, &locator, file, config_dir)?;
        if checks.secrets {
            // After the structure is known to be right, so a typo is reported before a secret
            // that is merely absent on this machine.
            secret_sources::check(&raw, &locator, config_dir)?;
        }
        secrets::register_inline(&config, &routing);
        Ok((config, routing))
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_routing(path).map(|(config, _)| config)
    }
    /// Parses and validates TOML text; `file` is only used in error messages and to resolve
    /// relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        Config::parse_with_routing(text, file).map(|(config, _)| config)
    }
    /// `--config`, else `$TRIAGE_CONFIG`, else `<XDG config dir>/triage/triage.toml`.
    /// `None` only when nothing is set and the XDG file does not exist.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        locate::locate(explicit)
    }
    pub fn upstream(&self, id: &str) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.id == id)
    }
    pub fn connector(&self, id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.id == id)
    }
    pub fn person(&self, id: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }
    /// The team of a person or team id: the team itself, the person's `team`, else the first
    /// team listing them as a member.
    pub fn team_of(&self, id: &str) -> Option<&str> {
        if let Some(team) = self.teams.iter().find(|t| t.id == id) {
            return Some(&team.id);
        }
        if let Some(team) = self.person(id).and_then(|p| p.team.as_deref()) {
            return Some(team);
        }
        self.teams
            .iter()
            .find(|t| t.members.iter().any(|m| m == id))
            .map(|t| t.id.as_str())
    }

    /// Every person and team with their team (`team_of`), for `Store::sync_team_directory`.
    pub fn team_directory(&self) -> Vec<(String, String)> {
        let ids = self
            .people
            .iter()
            .map(|p| &p.id)
            .chain(self.teams.iter().map(|t| &t.id));
        ids.filter_map(|id| Some((id.clone(), self.team_of(id)?.to_string())))
            .collect()
    }

    /// The inventory as domain connectors (no stats), for `Store::sync_inventory`.
    pub fn inventory(&self) -> Vec<Connector> {
        self.connectors
            .iter()
            .map(ConnectorConfig::to_domain)
            .collect()
    }
}

/// What loading checks beyond the text itself.
#[derive(Debug, Clone, Copy)]
struct Checks {
    /// `text` was read from `file`, whose permissions (and its secret files') count.
    permissions: bool,
    /// The secrets it names must be there (env variables set, files readable).
    secrets: bool,
}

impl Checks {
    const ON_DISK: Checks = Checks {
        permissions: true,
        secrets: true,
    };
    const TEXT_ONLY: Checks = Checks {
        permissions: false,
        secrets: false,
    };
}

impl TokenSource {
    /// Resolves the secret now (env var, file contents, or command output), trimmed, and
    /// registers it with `domain::redact` so that it is scrubbed from everything written.
    pub fn resolve(&self) -> Result<Option<String>, String> {
        let secret = token::resolve(self)?;
        if let Some(secret) = &secret {
            crate::domain::redact::register(secret);
        }
        Ok(secret)
    }
}

impl ConnectorConfig {
    /// This inventory entry as a domain connector with no upstream data yet.
    pub fn to_domain(&self) -> Connector {
        Connector {
            id: self.id.clone(),
            upstream: self.upstream.clone(),
            name: self.name.clone(),
            source: Some(self.source.clone()),
            destination: Some(self.destination.clone()),
            direction: Some(self.direction),
            purpose: Some(self.purpose.clone()),
            owner: Some(self.owner.clone()),
            backup: self.backup.clone(),
            ack_sla: Some(self.ack_sla),
            runbook: self.runbook.as_ref().map(|p| p.display().to_string()),
            contract: self.contract.as_ref().map(|p| p.display().to_string()),
            status: ConnectorStatus::Unknown,
            stats: QueueStats::default(),
            last_error: None,
            updated_at: None,
        }
    }
}
