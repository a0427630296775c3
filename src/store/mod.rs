//! The local SQLite cache: connectors, queue snapshots, incidents, dead letters, the outbox of
//! pending actions, the tamper-evident audit log, sync cursors and upstream connection state.
//!
//! One `Store` owns one `rusqlite::Connection`. Writers (sync, outbox worker) and readers (the
//! console's store thread, the CLI) each open their own; WAL lets them run side by side.
//! Every list is a keyset page: nothing here loads a whole table of incidents or dead letters.

// API CONTRACT (filled in by the store implementation; signatures are shared with sync/console/CLI)

use std::path::{Path, PathBuf};

use crate::domain::{
    Action, ActionKind, ActionOutcome, ConnectionState, Connector, ConnectorReport, DeadLetter,
    DeadLetterState, Incident, IncidentStatus, OutboxEntry, OutboxState, Severity, Timestamp,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("store {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "store {path} has schema version {found}, newer than this triage understands ({supported}); upgrade triage"
    )]
    TooNew { path: PathBuf, found: u32, supported: u32 },
    #[error("store {path}: corrupt row in {table}: {message}")]
    Corrupt { path: PathBuf, table: &'static str, message: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which way a keyset page goes from its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageDir {
    /// Rows after the anchor in display order (or from the top without an anchor).
    #[default]
    Forward,
    /// Rows before the anchor, returned in display order (or the last page without an anchor).
    Backward,
}

/// Position of an incident in the Incidents view's order: urgency first
/// (open, then acknowledged, then resolved; within each, earliest ack deadline first; no deadline
/// last), then upstream and id as tie-breakers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentKey {
    pub status_rank: u8,
    pub deadline_ms: i64,
    pub upstream: String,
    pub id: String,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentPageQuery {
    pub connector: Option<String>,
    /// Empty = every status.
    pub statuses: Vec<IncidentStatus>,
    pub anchor: Option<IncidentKey>,
    pub dir: PageDir,
    pub limit: usize,
}

/// Position of a dead letter in the Dead letters view: newest failure first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterKey {
    pub last_failed_ms: i64,
    pub rowid: i64,
}

#[derive(Debug, Clone, Default)]
pub struct DeadLetterPageQuery {
    pub connector: Option<String>,
    /// `None` = only `Dead` (the live DLQ).
    pub state: Option<DeadLetterState>,
    pub anchor: Option<DeadLetterKey>,
    pub dir: PageDir,
    pub limit: usize,
}

/// A dead letter without its full payload, for lists.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterSummary {
    pub key: DeadLetterKey,
    pub upstream: String,
    pub id: String,
    pub connector: String,
    /// The first `PREVIEW_BYTES` bytes of the payload, raw (the console sanitises).
    pub preview: Vec<u8>,
    pub payload_len: u64,
    pub content_type: Option<String>,
    pub error_code: String,
    pub error_message: String,
    pub attempts: u32,
    pub first_failed_at: Timestamp,
    pub last_failed_at: Timestamp,
    pub state: DeadLetterState,
}

pub const PREVIEW_BYTES: usize = 240;

/// What changed in the store, sent by writers (sync, outbox worker) to readers (the console)
/// in the same process. Other processes' writes are noticed through [`Store::data_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeNotice {
    Connectors,
    Incidents,
    DeadLetters,
    Outbox,
    Audit,
    UpstreamState,
}

/// Live counts per connector, kept as aggregates (never counted at start-up or per frame).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectorCounts {
    pub upstream: String,
    pub connector: String,
    pub dead_letters: u64,
    pub open_incidents: u64,
    pub unacked_incidents: u64,
}

/// Everything one poll of one upstream produced, written in one transaction.
#[derive(Debug, Clone)]
pub struct SyncBatch {
    pub upstream: String,
    pub at: Timestamp,
    /// `Some` when connectors were polled: replaces their status and stats and appends a queue
    /// snapshot per connector.
    pub connectors: Option<Vec<ConnectorReport>>,
    pub incidents: Vec<Incident>,
    pub dead_letters: Vec<DeadLetter>,
    /// (stream name, cursor value) pairs to store after the rows above.
    pub cursors: Vec<(String, String)>,
    pub state: ConnectionState,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchSummary {
    pub connectors: usize,
    pub incidents_changed: usize,
    pub dead_letters_changed: usize,
}

/// One line of the audit log. `hash` = SHA-256 over `prev_hash` and this row's fields, so an
/// edited or deleted row breaks the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub operator: String,
    /// `<kind>.<event>`: e.g. `ack.requested`, `replay.retry`, `replay.sent`, `discard.failed`.
    pub event: String,
    pub upstream: String,
    pub target: String,
    pub outbox_id: Option<String>,
    /// SHA-256 (hex) of the action as sent (with payload), so what was replayed can be proven.
    pub payload_hash: Option<String>,
    /// What the upstream answered, or the error.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AuditVerification {
    Intact { rows: u64 },
    Broken { seq: i64, reason: String },
}

/// A point of a connector's DLQ depth over time (sparklines).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthPoint {
    pub at: Timestamp,
    pub dead: u64,
}

pub struct Store {
    conn: rusqlite::Connection,
    path: PathBuf,
}

#[allow(unused_variables)]
impl Store {
    /// Opens (creating with mode 0600 when missing) and migrates the store at `path`:
    /// WAL, `busy_timeout`, foreign keys, versioned migrations on `PRAGMA user_version`.
    pub fn open(path: &Path) -> Result<Store> {
        todo!()
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn schema_version(&self) -> Result<u32> {
        todo!()
    }
    /// `PRAGMA data_version`: changes when another connection commits (cheap change detection).
    pub fn data_version(&self) -> Result<i64> {
        todo!()
    }

    // ---- connectors -------------------------------------------------------------------
    /// Writes the inventory (from config): inventory fields of each connector, keeping stats.
    pub fn sync_inventory(&mut self, inventory: &[Connector]) -> Result<()> {
        todo!()
    }
    /// All connectors, inventory merged with last stats, ordered by id. (The inventory is small.)
    pub fn connectors(&self) -> Result<Vec<Connector>> {
        todo!()
    }
    pub fn connector_counts(&self) -> Result<Vec<ConnectorCounts>> {
        todo!()
    }
    /// DLQ depth points of one connector since `since`, oldest first, at most `max_points`
    /// (downsampled evenly when there are more).
    pub fn dlq_history(&self, upstream: &str, connector: &str, since: Timestamp, max_points: usize) -> Result<Vec<DepthPoint>> {
        todo!()
    }

    // ---- sync ---------------------------------------------------------------------------
    pub fn write_sync_batch(&mut self, batch: &SyncBatch) -> Result<BatchSummary> {
        todo!()
    }
    pub fn sync_cursor(&self, upstream: &str, stream: &str) -> Result<Option<String>> {
        todo!()
    }
    pub fn set_upstream_state(&mut self, upstream: &str, state: &ConnectionState) -> Result<()> {
        todo!()
    }
    pub fn upstream_states(&self) -> Result<Vec<(String, ConnectionState)>> {
        todo!()
    }

    // ---- incidents ----------------------------------------------------------------------
    pub fn incident(&self, upstream: &str, id: &str) -> Result<Option<Incident>> {
        todo!()
    }
    /// Finds incidents whose id is `id` in any upstream (CLI lookups by bare id).
    pub fn find_incidents(&self, id: &str) -> Result<Vec<Incident>> {
        todo!()
    }
    pub fn page_incidents(&self, q: &IncidentPageQuery) -> Result<Vec<(IncidentKey, Incident)>> {
        todo!()
    }

    // ---- dead letters -------------------------------------------------------------------
    pub fn dead_letter(&self, upstream: &str, id: &str) -> Result<Option<DeadLetter>> {
        todo!()
    }
    pub fn find_dead_letters(&self, id: &str) -> Result<Vec<DeadLetter>> {
        todo!()
    }
    pub fn page_dead_letters(&self, q: &DeadLetterPageQuery) -> Result<Vec<DeadLetterSummary>> {
        todo!()
    }

    // ---- outbox and audit ---------------------------------------------------------------
    /// Writes the action to the outbox (state pending, new idempotency key) and an audit row
    /// `<kind>.requested` in one transaction.
    pub fn enqueue_action(&mut self, action: &Action, at: Timestamp) -> Result<OutboxEntry> {
        todo!()
    }
    /// Pending actions whose `next_attempt_at <= now` and whose lease is free, oldest first.
    pub fn due_actions(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>> {
        todo!()
    }
    /// Takes a lease on a pending action until `until`, so one worker (of any process) sends
    /// it. Returns false when another worker holds it or it is no longer pending.
    pub fn claim_action(&mut self, id: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        todo!()
    }
    /// A transient failure: `retry_at = Some(t)` keeps it pending until t; `None` fails it for
    /// good. Audit row `<kind>.retry` or `<kind>.failed` in the same transaction.
    pub fn record_action_error(&mut self, id: &str, error: &str, retry_at: Option<Timestamp>, at: Timestamp) -> Result<()> {
        todo!()
    }
    /// The upstream answered: state sent (ok) or failed (refused); audit row `<kind>.sent` or
    /// `<kind>.failed`; and the upstream's updated incident / dead letter, all in one transaction.
    pub fn record_action_outcome(&mut self, id: &str, outcome: &ActionOutcome, incident: Option<&Incident>, dead_letter: Option<&DeadLetter>, at: Timestamp) -> Result<()> {
        todo!()
    }
    pub fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        todo!()
    }
    /// Newest first; `states` empty = all; `before` = created_at/id anchor of the previous page.
    pub fn page_outbox(&self, states: &[OutboxState], before: Option<&str>, limit: usize) -> Result<Vec<OutboxEntry>> {
        todo!()
    }
    /// Pending actions plus failed ones updated since `failed_since`: what the console marks on rows.
    pub fn open_actions(&self, failed_since: Timestamp) -> Result<Vec<OutboxEntry>> {
        todo!()
    }
    pub fn pending_action_count(&self) -> Result<u64> {
        todo!()
    }
    /// Newest first, before `before_seq` when given.
    pub fn page_audit(&self, before_seq: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        todo!()
    }
    pub fn verify_audit_chain(&self) -> Result<AuditVerification> {
        todo!()
    }
}

#[allow(dead_code)]
fn _uses(_: ActionKind, _: Severity) {}
