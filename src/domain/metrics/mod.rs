//! Metrics: the numbers the playbook asks a team to watch (MTTA, MTTR, reopen rate, ack within
//! SLA, escalations, cross-team pings, DLQ size and trend, replays) per connector and per owning
//! team over a window, and the inventory export. Pure: the store gathers the inputs
//! (`Store::metrics_report`), [`compute_report`] applies the definitions written in
//! `docs/METRICS.md` and on each field of [`MetricsRow`].

mod accumulate;
pub mod fnv;
pub mod input;
mod inventory;
pub mod report;
pub mod stats;

pub use accumulate::ack_within_sla;
pub use input::{
    ConnectorOwnership, DepthSample, DlqSeries, IncidentTimeline, MetricsInput, MetricsWindow,
    ReplayTally,
};
pub use inventory::{ConnectorMetrics, INVENTORY_CSV_HEADER, inventory_csv};
pub use report::{DayCount, MetricsReport, MetricsRow, compute_report};
pub use stats::DurationStats;
