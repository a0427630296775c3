//! `triage watch`'s evaluator: for every unresolved incident whose SLA clock needs a look, run
//! it (route + chain) and take each escalation step that has come due — notify through every
//! notifier, escalate on the upstream when it has an escalate endpoint, note contingencies —
//! exactly once per ack cycle. Only the holder of the store's `watch` lease evaluates; others
//! stand by.
//!
//! A tick does not scan every unresolved incident: each carries the time of its next look (the
//! next step's time, or its ack's expiry), and a change to the incident or its route asks for a
//! look at once (store schema V4, `store::watch_marks`). Looks may come early, never late: the
//! next look is never after the next step the clock could take.

use super::StoreWriter;
use crate::config::{Config, RoutingConfig};
use crate::domain::{IncidentStatus, Timestamp};
use crate::escalate::take_due_steps;
use crate::store::{Store, StoreError, WatchMark};

/// The lock every watcher competes for.
pub const WATCH_LOCK: &str = "watch";
const PAGE: usize = 500;

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchSummary {
    /// Open or acknowledged incidents whose clock was run.
    pub incidents_checked: usize,
    pub steps_taken: usize,
    pub actions_enqueued: usize,
}

/// Evaluates every open or acknowledged incident due for a look at `now`. Call only while
/// holding the lease.
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

/// Asks for a look at every incident (a watcher taking over the lease, maybe with another
/// config).
pub async fn look_at_everything(store: &StoreWriter) -> Result<(), StoreError> {
    store.call(Store::reset_watch_marks).await
}

fn evaluate_blocking(
    store: &mut Store,
    config: &Config,
    routing: &RoutingConfig,
    operator: &str,
    now: Timestamp,
) -> Result<WatchSummary, StoreError> {
    let mut summary = WatchSummary::default();
    let mut after = None;
    loop {
        let page = store.incidents_due_for_watch(now, after, PAGE)?;
        let full = page.len() == PAGE;
        let mut marks = Vec::with_capacity(page.len());
        for due in page {
            after = Some(due.position);
            let incident = due.incident;
            let next = if matches!(
                incident.status,
                IncidentStatus::Open | IncidentStatus::Acknowledged
            ) {
                summary.incidents_checked += 1;
                let steps = take_due_steps(store, config, routing, &incident, operator, now)?;
                for (level, entries) in &steps.taken {
                    tracing::info!(incident = %incident.id, level, "watch: escalated");
                    summary.steps_taken += 1;
                    summary.actions_enqueued += entries.len();
                }
                steps.next_look
            } else {
                // Suppressed or resolved: nothing comes due until the incident changes.
                None
            };
            marks.push(WatchMark {
                upstream: incident.upstream,
                id: incident.id,
                generation: due.generation,
                next,
            });
        }
        store.mark_watched(&marks, now)?;
        if !full {
            return Ok(summary);
        }
    }
}
