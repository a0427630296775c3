//! `triage watch`'s evaluator: for every unresolved incident, run its SLA clock (route + chain)
//! and take each escalation step that has come due — notify through every notifier, escalate
//! on the upstream when it has an escalate endpoint, note contingencies — exactly once per ack
//! cycle. Only the holder of the store's `watch` lease evaluates; others stand by.

use super::StoreWriter;
use crate::config::{Config, RoutingConfig};
use crate::domain::{IncidentStatus, Timestamp};
use crate::escalate::take_due_steps;
use crate::store::{IncidentPageQuery, PageDir, Store, StoreError};

/// The lock every watcher competes for.
pub const WATCH_LOCK: &str = "watch";
const PAGE: usize = 500;

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchSummary {
    pub incidents_checked: usize,
    pub steps_taken: usize,
    pub actions_enqueued: usize,
}

/// Evaluates every open or acknowledged incident at `now`. Call only while holding the lease.
pub async fn evaluate(
    config: &Config,
    routing: &RoutingConfig,
    store: &StoreWriter,
    operator: &str,
    now: Timestamp,
) -> Result<WatchSummary, StoreError> {
    let (config, routing, operator) = (config.clone(), routing.clone(), operator.to_string());
    store
        .call(move |s| evaluate_blocking(s, &config, &routing, &operator, now))
        .await
}

fn evaluate_blocking(
    store: &mut Store,
    config: &Config,
    routing: &RoutingConfig,
    operator: &str,
    now: Timestamp,
) -> Result<WatchSummary, StoreError> {
    let mut summary = WatchSummary::default();
    let mut query = IncidentPageQuery {
        statuses: vec![IncidentStatus::Open, IncidentStatus::Acknowledged],
        dir: PageDir::Forward,
        limit: PAGE,
        ..Default::default()
    };
    loop {
        let page = store.page_incidents(&query)?;
        let full = page.len() == PAGE;
        for (key, incident) in page {
            query.anchor = Some(key);
            summary.incidents_checked += 1;
            for (level, entries) in
                take_due_steps(store, config, routing, &incident, operator, now)?
            {
                tracing::info!(incident = %incident.id, level, "watch: escalated");
                summary.steps_taken += 1;
                summary.actions_enqueued += entries.len();
            }
        }
        if !full {
            return Ok(summary);
        }
    }
}
