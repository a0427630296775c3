//! The outbox worker: sends pending actions with their idempotency keys, retries transient
//! failures with capped exponential backoff (or the upstream's `Retry-After`), and records every
//! answer — with an audit row — in the store. Leases keep two processes from sending one action.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Notify, broadcast, watch};

use super::{StoreWriter, Upstreams};
use crate::domain::{OutboxEntry, Timestamp};
use crate::store::{ChangeNotice, StoreError};

/// How long one worker may hold an action before another may take it over.
const LEASE: Duration = Duration::from_secs(120);
/// Upper bound for one send, beyond the HTTP client's own timeout.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Actions sent at once.
const CONCURRENCY: usize = 8;
/// Longest wait between two retries of one action.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Idle re-check interval (another process may have enqueued).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Runs until `shutdown` turns true.
pub async fn run(
    upstreams: Upstreams,
    store: StoreWriter,
    changes: broadcast::Sender<ChangeNotice>,
    wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let handled = match process_due(&upstreams, &store, &changes).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("outbox: {e}");
                0
            }
        };
        if handled > 0 {
            continue;
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Sends every action due now (up to a batch); returns how many were handled.
pub async fn process_due(
    upstreams: &Upstreams,
    store: &StoreWriter,
    changes: &broadcast::Sender<ChangeNotice>,
) -> Result<usize, StoreError> {
    let now = Utc::now();
    let due = store.call(move |s| s.due_actions(now, 64)).await?;
    let handled = futures::stream::iter(due)
        .map(|entry| send_one(upstreams, store, entry))
        .buffer_unordered(CONCURRENCY)
        .filter_map(|r| async move {
            match r {
                Ok(sent) => sent.then_some(()),
                Err(e) => {
                    tracing::error!("outbox: {e}");
                    None
                }
            }
        })
        .count()
        .await;
    if handled > 0 {
        let _ = changes.send(ChangeNotice::Outbox);
        let _ = changes.send(ChangeNotice::Audit);
        let _ = changes.send(ChangeNotice::Incidents);
        let _ = changes.send(ChangeNotice::DeadLetters);
        let _ = changes.send(ChangeNotice::Connectors);
    }
    Ok(handled)
}

/// Claims and sends one action. Returns false when another worker holds it.
async fn send_one(
    upstreams: &Upstreams,
    store: &StoreWriter,
    entry: OutboxEntry,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let lease_until =
        now + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(120));
    let id = entry.id.clone();
    if !store
        .call(move |s| s.claim_action(&id, now, lease_until))
        .await?
    {
        return Ok(false);
    }
    let id = entry.id.clone();
    let Some(upstream) = upstreams.get(&entry.action.upstream) else {
        let error = format!(
            "no upstream {:?} is configured (or it failed to start)",
            entry.action.upstream
        );
        let retry_at = Some(Utc::now() + backoff(entry.attempts + 1, None));
        store
            .call(move |s| s.record_action_error(&id, &error, retry_at, Utc::now()))
            .await?;
        return Ok(true);
    };
    let sent = tokio::time::timeout(
        SEND_TIMEOUT,
        upstream.perform(&entry.action, &entry.idempotency_key),
    )
    .await;
    match sent {
        Ok(Ok(result)) => {
            tracing::info!(action = entry.action.kind.as_str(), target = %entry.action.target, ok = result.outcome.ok, "outbox: {}", result.outcome.summary);
            store
                .call(move |s| {
                    s.record_action_outcome(
                        &id,
                        &result.outcome,
                        result.incident.as_ref(),
                        result.dead_letter.as_ref(),
                        Utc::now(),
                    )
                })
                .await?;
        }
        Ok(Err(e)) => {
            let retry_at: Option<Timestamp> = e
                .is_transient()
                .then(|| Utc::now() + backoff(entry.attempts + 1, e.retry_after()));
            tracing::warn!(action = entry.action.kind.as_str(), target = %entry.action.target, "outbox: {e}");
            let error = e.to_string();
            store
                .call(move |s| s.record_action_error(&id, &error, retry_at, Utc::now()))
                .await?;
        }
        Err(_) => {
            let error = format!("no answer within {}s; will retry", SEND_TIMEOUT.as_secs());
            let retry_at = Some(Utc::now() + backoff(entry.attempts + 1, None));
            store
                .call(move |s| s.record_action_error(&id, &error, retry_at, Utc::now()))
                .await?;
        }
    }
    Ok(true)
}

/// Delay before attempt `attempt + 1`: the upstream's `Retry-After` when given (capped), else
/// 1 s doubling per attempt up to [`MAX_BACKOFF`].
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> chrono::Duration {
    let wait = match retry_after {
        Some(wait) => wait.min(Duration::from_secs(3600)),
        None => Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(MAX_BACKOFF),
    };
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps_and_honours_retry_after() {
        assert_eq!(backoff(1, None).num_seconds(), 1);
        assert_eq!(backoff(2, None).num_seconds(), 2);
        assert_eq!(backoff(4, None).num_seconds(), 8);
        assert_eq!(backoff(30, None).num_seconds(), 60);
        assert_eq!(backoff(1, Some(Duration::from_secs(7))).num_seconds(), 7);
    }
}
