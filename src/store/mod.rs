//! The local SQLite cache: connectors, queue snapshots, incidents, dead letters, the outbox of
//! pending actions, the tamper-evident audit log, sync cursors and upstream connection state.
//!
//! One `Store` owns one `rusqlite::Connection`. Writers (sync, outbox worker) and readers (the
//! console's store thread, the CLI) each open their own; WAL lets them run side by side.
//! Every list is a keyset page: nothing here loads a whole table of incidents or dead letters.

// API CONTRACT: the types below are shared with sync/console/CLI. The methods of `Store` live
// in the submodules: open (opening, pragmas, 0600), schema (migrations), connectors, incidents,
// dead_letters, sync_state (sync batches, cursors, connection state), outbox (+ outbox_queries), audit,
// query (a `domain::query::Query` as SQL) and selection (every row a query selects).

mod audit;
mod checkpoint;
pub use checkpoint::SAFETY_NET_PAGES;
mod codec;
mod connectors;
mod dead_letters;
mod dlq_series;
mod edits;
mod error;
mod escalations;
pub use error::StoreError;
mod handoff;
pub use handoff::{AuditRange, ShiftAction};
mod history;
pub mod holder;
pub use escalations::EscalationStepRecord;
mod incidents;
mod locks;
pub use locks::LockHolder;
mod metrics;
mod metrics_report;
pub use dlq_series::DLQ_SERIES_POINTS;
mod notes;
mod open;
mod outbox;
pub use outbox::{OutcomeRecord, Recording};
mod outbox_queries;
mod outbox_rows;
mod query;
mod queue_codec;
mod queue_columns;
mod queue_convert;
mod queue_history;
mod queue_hours;
mod queue_pass;
mod queue_points;
pub use queue_history::QueueHistoryPass;
mod scan_progress;
mod search_index;
pub use search_index::{SearchCatchUp, SearchPlan};
mod selection;
pub use outbox_queries::{OutboxKey, OutboxPageQuery};
mod routes;
mod run_members;
mod run_step;
#[cfg(test)]
mod run_step_tests;
pub use run_step::{NextBatch, RunStep};
#[cfg(test)]
mod run_recall_tests;
pub mod runs;
mod schema;
mod snapshot;
pub mod sort;
#[cfg(test)]
mod v12_tests;
#[cfg(test)]
mod v13_tests;
pub use sort::{SortBy, SortColumn, SortList};
mod sync_state;
mod undo;
pub use undo::Undo;
mod watch_marks;
pub use watch_marks::{WATCH_NEVER, WatchDue, WatchMark};

use std::path::{Path, PathBuf};

use crate::domain::query::Query;
use crate::domain::{
    ConnectionState, ConnectorReport, DeadLetter, DeadLetterState, Incident, IncidentStatus,
    Timestamp,
};

pub use audit::GENESIS_HASH;

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
    /// The sorted column's value when the list is sorted by a column (`store::sort`).
    pub sort: sort::SortValue,
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
    /// Only incidents whose id, connector, title, kind, severity, status or ack author contain
    /// this text, ASCII case ignored (`domain::search`); `None` or empty = all.
    pub text: Option<String>,
    /// Only incidents the query selects; a `status:` term replaces `statuses`.
    pub query: Option<Query>,
    /// The query's `now` (relative times, ages); `None` = the clock when the page is read.
    pub now: Option<Timestamp>,
    /// The order (default: urgency).
    pub sort: SortBy,
    pub anchor: Option<IncidentKey>,
    pub dir: PageDir,
    pub limit: usize,
}

/// Position of a dead letter in the Dead letters view: newest failure first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterKey {
    /// The sorted column's value when the list is sorted by a column (`store::sort`).
    pub sort: sort::SortValue,
    pub last_failed_ms: i64,
    pub rowid: i64,
}

#[derive(Debug, Clone, Default)]
pub struct DeadLetterPageQuery {
    pub connector: Option<String>,
    /// `None` = only `Dead` (the live DLQ), unless the query has a `status:` term.
    pub state: Option<DeadLetterState>,
    /// Only dead letters whose id, connector, error, headers or whole payload contain this
    /// text, ASCII case ignored (`domain::search`); `None` or empty = all.
    pub text: Option<String>,
    /// Only dead letters the query selects; a `status:` term replaces the default `state`.
    pub query: Option<Query>,
    /// The query's `now` (relative times, ages); `None` = the clock when the page is read.
    pub now: Option<Timestamp>,
    /// The order (default: newest failure first).
    pub sort: SortBy,
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
    /// Searches may use the search index (`store::search_index`; on unless turned off).
    search_index: bool,
}

impl Store {
    pub fn path(&self) -> &Path {
        &self.path
    }
}
