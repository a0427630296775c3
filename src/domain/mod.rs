//! Pure domain types and logic: connectors, incidents, dead letters, actions, upstream state.
//! Nothing in here performs I/O; every other layer depends on these types.

pub mod action;
pub mod connector;
pub mod dead_letter;
pub mod edit;
pub mod escalation;
pub mod incident;
pub mod metrics;
pub mod note;
pub mod query;
pub mod redact;
pub mod route_pattern;
pub mod route_report;
pub mod routing;
pub mod run;
pub mod run_tally;
pub mod sanitize;
pub mod search;
pub mod sla;
pub mod upstream_state;

pub use action::{
    Action, ActionKind, ActionOutcome, OutboxEntry, OutboxLease, OutboxState, ReplayDestination,
    Stored,
};
pub use connector::{Connector, ConnectorReport, ConnectorStatus, Direction, QueueStats};
pub use dead_letter::{DeadLetter, DeadLetterError, DeadLetterState, LetterState, PayloadEncoding};
pub use incident::{Incident, IncidentStatus, Link, SILENCED_BY, Severity};
pub use upstream_state::{ConnectionState, UpstreamKind};

/// Timestamps are always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
