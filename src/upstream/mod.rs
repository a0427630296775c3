//! Adapters to the systems triage watches and acts on, behind one trait. Adapters fetch and
//! act; they never write the store (the sync engine does).

pub mod alertmanager;
pub mod connector_api;
pub mod http;
pub mod rabbitmq;

use async_trait::async_trait;

use crate::domain::{
    Action, ActionOutcome, ConnectorReport, DeadLetter, Incident, Timestamp, UpstreamKind,
};

/// Why a call to an upstream failed. `is_transient` decides between retry and give up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect, timed out, or the connection dropped.
    #[error("{upstream}: cannot reach {url}: {message}")]
    Unreachable {
        upstream: String,
        url: String,
        message: String,
    },
    /// The upstream answered with an error status.
    #[error("{upstream}: {method} {url} answered {status}: {message}")]
    Status {
        upstream: String,
        method: String,
        url: String,
        status: u16,
        message: String,
        /// Seconds from a `Retry-After` header, when given.
        retry_after: Option<u64>,
    },
    /// The upstream answered something that does not match the contract.
    #[error("{upstream}: {url} sent a malformed answer: {message}")]
    Malformed {
        upstream: String,
        url: String,
        message: String,
    },
    /// The operation makes no sense for this upstream or target.
    #[error("{upstream}: {message}")]
    Unsupported { upstream: String, message: String },
    /// Configuration problem discovered at call time (e.g. the token command failed).
    #[error("{upstream}: {message}")]
    Config { upstream: String, message: String },
}

impl UpstreamError {
    /// Worth retrying: unreachable, 5xx, 408, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } => true,
            UpstreamError::Status { status, .. } => {
                *status >= 500 || *status == 408 || *status == 429
            }
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            UpstreamError::Status {
                retry_after: Some(s),
                ..
            } => Some(std::time::Duration::from_secs(*s)),
            _ => None,
        }
    }
}

/// A page of items from an incremental listing, and the cursor to continue from.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchPage<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The upstream's answer to an action, with the entities it changed (written to the store in
/// the same transaction as the outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    pub outcome: ActionOutcome,
    pub incident: Option<Incident>,
    pub dead_letter: Option<DeadLetter>,
}

/// One upstream system. Implementations are cheap to share (`Arc<dyn Upstream>`).
#[async_trait]
pub trait Upstream: Send + Sync {
    fn id(&self) -> &str;
    fn kind(&self) -> UpstreamKind;
    /// False for outbox-only destinations (notifiers): no poller runs for them.
    fn polls(&self) -> bool {
        true
    }
    /// True when `incidents` lists every current incident each time (no watermark, no
    /// tombstones): the sync engine then resolves incidents that are no longer listed.
    fn incidents_are_snapshot(&self) -> bool {
        false
    }
    /// Connectors with their queue stats, now.
    async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError>;
    /// Incidents updated at or after `since` (all when `None`), one page from `cursor`.
    async fn incidents(
        &self,
        since: Option<Timestamp>,
        cursor: Option<&str>,
    ) -> Result<FetchPage<Incident>, UpstreamError>;
    /// Dead letters updated at or after `since` (all live ones when `None`), one page from
    /// `cursor`; replayed/discarded ones appear with that state when `since` is given.
    async fn dead_letters(
        &self,
        since: Option<Timestamp>,
        cursor: Option<&str>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError>;
    /// Performs an action with its idempotency key. `Err` = not confirmed (retry if transient).
    async fn perform(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<ActionResult, UpstreamError>;
}
