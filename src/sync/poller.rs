//! One poller per upstream: fetch connectors, then incidents and dead letters changed since the
//! stored watermark, page by page, each page written in one transaction with its cursor.
//! Failures never stop the loop; they turn the upstream's state stale, then down.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, watch};

use super::StoreWriter;
use crate::config::{Config, RoutingConfig};
use crate::domain::routing::{self, IncidentFacts, RouteRule, StoredRoute};
use crate::domain::{ConnectionState, Connector, DeadLetterState, Incident, Timestamp};
use crate::store::{ChangeNotice, StoreError, SyncBatch};
use crate::upstream::{Upstream, UpstreamError};

/// Stream names under which watermarks are stored.
pub const INCIDENTS_STREAM: &str = "incidents";
pub const DEAD_LETTERS_STREAM: &str = "dead_letters";
/// When a dead-letter poll last read its listing to the end (wall clock, RFC 3339).
pub const DEAD_LETTERS_COMPLETE_STREAM: &str = "dead_letters.complete_at";
/// Pages fetched per stream per poll, so one poll stays bounded; the next continues.
const MAX_PAGES_PER_POLL: usize = 200;
/// Pages a relist may read (it must reach the end to reconcile): 5M dead letters at 500.
const MAX_PAGES_PER_RELIST: usize = 10_000;

/// What a poller needs from the config, copied so the task owns it.
#[derive(Debug, Clone)]
pub struct PollContext {
    pub interval: Duration,
    /// How long data may stay on screen marked stale before the upstream is called down.
    pub stale_window: chrono::Duration,
    default_ack_sla: Duration,
    rules: Arc<Vec<RouteRule>>,
    inventory: Arc<Vec<Connector>>,
    /// Upstreams this process has relisted (for adapters whose tombstones live in memory).
    relisted: Arc<Mutex<HashSet<String>>>,
}

impl PollContext {
    pub fn new(config: &Config, routing: &RoutingConfig, interval: Duration) -> Self {
        let stale = (interval * 6).max(Duration::from_secs(30));
        PollContext {
            interval,
            stale_window: chrono::Duration::from_std(stale)
                .unwrap_or(chrono::Duration::seconds(30)),
            default_ack_sla: config.default_ack_sla,
            rules: Arc::new(routing.routes.clone()),
            inventory: Arc::new(config.inventory()),
            relisted: Arc::default(),
        }
    }

    fn has_relisted(&self, upstream: &str) -> bool {
        self.relisted.lock().is_ok_and(|set| set.contains(upstream))
    }

    fn relisted(&self, upstream: &str) {
        if let Ok(mut set) = self.relisted.lock() {
            set.insert(upstream.to_string());
        }
    }

    /// Routes the incident (first matching rule) and sets its ack deadline from the route's SLA.
    fn route(&self, mut incident: Incident) -> (Incident, StoredRoute) {
        let facts = IncidentFacts::from_incident(&incident);
        let decision = routing::route(&facts, &self.rules, &self.inventory, self.default_ack_sla);
        incident.ack_deadline = chrono::Duration::from_std(decision.ack_sla)
            .ok()
            .map(|d| incident.opened_at + d);
        (incident, StoredRoute::from_decision(&decision))
    }
}

/// What one successful poll wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollSummary {
    pub connectors: usize,
    pub incidents_changed: usize,
    pub dead_letters_changed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Polls forever at the context's interval until `shutdown` turns true.
pub async fn run(
    upstream: Arc<dyn Upstream>,
    store: StoreWriter,
    ctx: PollContext,
    changes: broadcast::Sender<ChangeNotice>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut state = ConnectionState::Connecting;
    loop {
        match poll_once(upstream.as_ref(), &store, &ctx, &changes).await {
            Ok(_) => {
                state = ConnectionState::Live {
                    last_ok: Utc::now(),
                }
            }
            Err(e) => {
                tracing::warn!(upstream = upstream.id(), "poll failed: {e}");
                state = state.after_failure(Utc::now(), e.to_string(), ctx.stale_window);
                let id = upstream.id().to_string();
                let written = state.clone();
                if let Err(e) = store
                    .call(move |s| s.set_upstream_state(&id, &written))
                    .await
                {
                    tracing::error!("cannot record upstream state: {e}");
                }
                let _ = changes.send(ChangeNotice::UpstreamState);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One full poll of one upstream. On error, what was written before the error stays written
/// (each page is its own transaction with its watermark), and the caller records the state.
pub async fn poll_once(
    upstream: &dyn Upstream,
    store: &StoreWriter,
    ctx: &PollContext,
    changes: &broadcast::Sender<ChangeNotice>,
) -> Result<PollSummary, PollError> {
    let id = upstream.id().to_string();
    let mut summary = PollSummary::default();
    let reports = upstream.connectors().await?;
    summary.connectors = reports.len();
    let mut batch = empty_batch(&id);
    batch.connectors = Some(reports);
    write(store, batch, changes, &mut summary).await?;

    // Incidents changed since the watermark.
    let mut since = watermark(store, &id, INCIDENTS_STREAM).await?;
    let query_since = since;
    let mut cursor: Option<String> = None;
    let snapshot = upstream.incidents_are_snapshot();
    let mut listed: Vec<String> = Vec::new();
    let mut complete = false;
    for _ in 0..MAX_PAGES_PER_POLL {
        let page = upstream
            .incidents(if snapshot { None } else { query_since }, cursor.as_deref())
            .await?;
        if snapshot {
            listed.extend(page.items.iter().map(|i| i.id.clone()));
        }
        let mut batch = empty_batch(&id);
        let newest = page.items.iter().map(|i| i.updated_at).max();
        let (incidents, routes): (Vec<Incident>, Vec<(String, StoredRoute)>) = page
            .items
            .into_iter()
            .map(|i| {
                let (incident, route) = ctx.route(i);
                let id = incident.id.clone();
                (incident, (id, route))
            })
            .unzip();
        batch.incidents = incidents;
        let upstream_id = id.clone();
        store
            .call(move |s| s.write_incident_routes(&upstream_id, &routes, Utc::now()))
            .await?;
        if let Some(newest) = newest.filter(|n| since.is_none_or(|s| *n > s)) {
            since = Some(newest);
            batch
                .cursors
                .push((INCIDENTS_STREAM.to_string(), newest.to_rfc3339()));
        }
        write(store, batch, changes, &mut summary).await?;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => {
                complete = true;
                break;
            }
        }
    }
    if snapshot && complete {
        // Whatever the full listing no longer holds has ended upstream.
        let upstream_id = id.clone();
        let resolved = store
            .call(move |s| s.resolve_unlisted_incidents(&upstream_id, &listed, Utc::now()))
            .await?;
        if resolved > 0 {
            summary.incidents_changed += resolved;
            let _ = changes.send(ChangeNotice::Incidents);
        }
    }

    // Dead letters changed since the watermark (tombstones included once a watermark exists).
    // Away longer than the upstream keeps tombstones (or a new process for an adapter that keeps
    // them in memory): list every live dead letter too and reconcile what vanished unseen. With
    // tombstones kept upstream, the incremental read comes first so that what it still reports
    // keeps its state (replayed/discarded); tombstones kept in memory died with the last process,
    // so there the relist alone is read.
    let since = watermark(store, &id, DEAD_LETTERS_STREAM).await?;
    let relist = since.is_some() && relist_due(upstream, store, ctx).await?;
    let incremental_first = !relist || upstream.dead_letter_tombstones().is_some();
    let complete = !incremental_first
        || poll_dead_letters(upstream, store, changes, &mut summary, since, false).await?;
    if complete && relist {
        if poll_dead_letters(upstream, store, changes, &mut summary, since, true).await? {
            ctx.relisted(&id);
        }
    } else if complete {
        mark_complete(store, &id).await?;
    }
    Ok(summary)
}

/// Reads dead letters from `since` (or, with `relist`, every live one), page by page, each page
/// written with its watermark. A complete relist then marks local dead letters it did not list
/// as gone. Returns whether the listing reached its end.
async fn poll_dead_letters(
    upstream: &dyn Upstream,
    store: &StoreWriter,
    changes: &broadcast::Sender<ChangeNotice>,
    summary: &mut PollSummary,
    mut since: Option<Timestamp>,
    relist: bool,
) -> Result<bool, PollError> {
    let id = upstream.id().to_string();
    let query_since = if relist { None } else { since };
    let max_pages = if relist {
        MAX_PAGES_PER_RELIST
    } else {
        MAX_PAGES_PER_POLL
    };
    let mut listed = Vec::new();
    // Pipelined: the next page is fetched (HTTP and parsing) while the store writes this one.
    let mut page = upstream.dead_letters(query_since, None).await?;
    for fetched in 1..=max_pages {
        let mut batch = empty_batch(&id);
        let newest = page.items.iter().map(|d| d.updated_at).max();
        if relist {
            listed.extend(
                page.items
                    .iter()
                    .filter(|d| d.state == DeadLetterState::Dead)
                    .map(|d| d.id.clone()),
            );
        }
        let next_cursor = page.next_cursor.take();
        batch.dead_letters = std::mem::take(&mut page.items);
        if let Some(newest) = newest.filter(|n| since.is_none_or(|s| *n > s)) {
            since = Some(newest);
            batch
                .cursors
                .push((DEAD_LETTERS_STREAM.to_string(), newest.to_rfc3339()));
        }
        let next = async {
            match &next_cursor {
                Some(next) if fetched < max_pages => {
                    Some(upstream.dead_letters(query_since, Some(next)).await)
                }
                _ => None,
            }
        };
        let (written, next) = futures::join!(write(store, batch, changes, summary), next);
        written?;
        if next_cursor.is_none() {
            if relist {
                let upstream_id = id.clone();
                let gone = store
                    .call(move |s| s.reconcile_dead_letters(&upstream_id, &listed, Utc::now()))
                    .await?;
                if gone > 0 {
                    tracing::info!(upstream = %id, gone, "relist: dead letters gone upstream while unseen");
                    summary.dead_letters_changed += gone;
                    let _ = changes.send(ChangeNotice::DeadLetters);
                    let _ = changes.send(ChangeNotice::Connectors);
                }
                mark_complete(store, &id).await?;
            }
            return Ok(true);
        }
        match next {
            Some(next) => page = next?,
            None => break,
        }
    }
    Ok(false)
}

/// A relist is due when the last complete dead-letter poll is older than half the upstream's
/// tombstone retention (or unknown), or — for adapters whose tombstones live in memory — when
/// this process has not relisted yet.
async fn relist_due(
    upstream: &dyn Upstream,
    store: &StoreWriter,
    ctx: &PollContext,
) -> Result<bool, StoreError> {
    let Some(retention) = upstream.dead_letter_tombstones() else {
        return Ok(!ctx.has_relisted(upstream.id()));
    };
    let last = watermark(store, upstream.id(), DEAD_LETTERS_COMPLETE_STREAM).await?;
    let half = chrono::Duration::from_std(retention / 2).unwrap_or(chrono::Duration::hours(12));
    Ok(last.is_none_or(|at| Utc::now() - at > half))
}

/// Records that a dead-letter poll of `upstream` reached the end of its listing now.
async fn mark_complete(store: &StoreWriter, upstream: &str) -> Result<(), StoreError> {
    let mut batch = empty_batch(upstream);
    batch.cursors.push((
        DEAD_LETTERS_COMPLETE_STREAM.to_string(),
        Utc::now().to_rfc3339(),
    ));
    store.call(move |s| s.write_sync_batch(&batch)).await?;
    Ok(())
}

fn empty_batch(upstream: &str) -> SyncBatch {
    let now = Utc::now();
    SyncBatch {
        upstream: upstream.to_string(),
        at: now,
        connectors: None,
        incidents: Vec::new(),
        dead_letters: Vec::new(),
        cursors: Vec::new(),
        state: ConnectionState::Live { last_ok: now },
    }
}

async fn watermark(
    store: &StoreWriter,
    upstream: &str,
    stream: &'static str,
) -> Result<Option<Timestamp>, StoreError> {
    let upstream = upstream.to_string();
    let value = store
        .call(move |s| s.sync_cursor(&upstream, stream))
        .await?;
    Ok(value
        .and_then(|v| chrono::DateTime::parse_from_rfc3339(&v).ok())
        .map(|t| t.with_timezone(&Utc)))
}

async fn write(
    store: &StoreWriter,
    batch: SyncBatch,
    changes: &broadcast::Sender<ChangeNotice>,
    summary: &mut PollSummary,
) -> Result<(), StoreError> {
    let had_connectors = batch.connectors.is_some();
    let written = store.call(move |s| s.write_sync_batch(&batch)).await?;
    summary.incidents_changed += written.incidents_changed;
    summary.dead_letters_changed += written.dead_letters_changed;
    let _ = changes.send(ChangeNotice::UpstreamState);
    if had_connectors {
        let _ = changes.send(ChangeNotice::Connectors);
    }
    if written.incidents_changed > 0 {
        let _ = changes.send(ChangeNotice::Incidents);
    }
    if written.dead_letters_changed > 0 {
        let _ = changes.send(ChangeNotice::DeadLetters);
        let _ = changes.send(ChangeNotice::Connectors);
        catch_up_search_index(store).await;
    }
    Ok(())
}

/// Letters the search index may take after one batch: the batches' own, and a share of any
/// backlog (a store migrated to V10, or written by a process that does not index).
const SEARCH_CATCH_UP_ROWS: u64 = 20_000;
/// The catch-up waits until this many letters are behind: a search reads them exactly in a few
/// milliseconds, and the index is written a whole chunk of 4,096 letters at a time (one that
/// new letters may still come into waits: `Store::catch_up_sealed_search_index`).
const SEARCH_CATCH_UP_BEHIND: u64 = 5_000;

/// Indexes what the batch wrote, in transactions of its own after the batch's commit (never
/// inside it: ingest does not wait for the index). A failure only leaves more for searches to
/// read exactly, so it is logged, not returned.
async fn catch_up_search_index(store: &StoreWriter) {
    match store
        .call(|s| {
            if s.search_index_behind()? < SEARCH_CATCH_UP_BEHIND {
                return Ok(Default::default());
            }
            s.catch_up_sealed_search_index(SEARCH_CATCH_UP_ROWS)
        })
        .await
    {
        Ok(done) => tracing::debug!(
            indexed = done.indexed,
            behind = done.behind,
            "search index caught up"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "search index catch-up failed; searches read the letters it lacks")
        }
    }
}
