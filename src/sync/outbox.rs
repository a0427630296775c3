//! The outbox worker: sends pending actions with their idempotency keys, retries transient
//! failures with capped exponential backoff (or the upstream's `Retry-After`), and records every
//! answer — with an audit row — in the store. Leases keep two processes from sending one action.
//!
//! Due actions are grouped by upstream and each group goes to the adapter at once
//! ([`Upstream::perform_batch`](crate::upstream::Upstream::perform_batch)): HTTP upstreams send
//! them concurrently as before, RabbitMQ serves all replays/discards of one DLQ in one pass.
//! Everything else stays per action: each is claimed, answered, audited and backed off alone.
//! A group of `n` gets [`SEND_TIMEOUT`] × ⌈n / [`CONCURRENCY`]⌉ (the time its actions would have
//! had sent [`CONCURRENCY`] at a time); when that passes, every action of the group not yet
//! recorded is retried. Leases are sized, not renewed: each claim lasts the group's timeout plus
//! [`LEASE`], so no other worker takes an action over while its group is still being served (a
//! crashed worker's group waits that long, at most ≈ 10 min for a full group of 64).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Notify, broadcast, watch};

use super::{StoreWriter, Upstreams};
use crate::domain::{OutboxEntry, Timestamp};
use crate::store::{ChangeNotice, OutcomeRecord, Recording, StoreError};
use crate::upstream::run_batch::{RunBatch, whole_bound};
use crate::upstream::{ActionResult, UpstreamError};

/// How long a worker may hold an action beyond its group's timeout (to record the answer)
/// before another may take it over.
const LEASE: Duration = Duration::from_secs(120);
/// Upper bound for one send, beyond the HTTP client's own timeout.
const SEND_TIMEOUT: Duration = crate::upstream::ACTION_TIMEOUT;
/// Actions sent at once to one upstream (the default `perform_batch`), and groups served at once.
const CONCURRENCY: usize = crate::upstream::BATCH_CONCURRENCY;
/// Actions taken per round.
pub const DUE_LIMIT: usize = 500;
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

/// Sends every action due now (up to a round of [`DUE_LIMIT`]), grouped by upstream; returns
/// how many were handled.
pub async fn process_due(
    upstreams: &Upstreams,
    store: &StoreWriter,
    changes: &broadcast::Sender<ChangeNotice>,
) -> Result<usize, StoreError> {
    process_due_up_to(upstreams, store, changes, DUE_LIMIT).await
}

/// [`process_due`] taking up to `limit` actions in the round (a run's stage served by one
/// RabbitMQ pass per DLQ).
pub async fn process_due_up_to(
    upstreams: &Upstreams,
    store: &StoreWriter,
    changes: &broadcast::Sender<ChangeNotice>,
    limit: usize,
) -> Result<usize, StoreError> {
    let now = Utc::now();
    let due = store.call(move |s| s.due_actions(now, limit)).await?;
    let handled: usize = futures::stream::iter(group_by_upstream(due))
        .map(|group| send_group(upstreams, store, group))
        .buffer_unordered(CONCURRENCY)
        .fold(0, |sum, n| async move { sum + n })
        .await;
    if handled > 0 {
        notify_answered(changes);
    }
    Ok(handled)
}

/// Tells same-process readers that answers were recorded (outbox, audit, and what the
/// upstreams changed).
pub(crate) fn notify_answered(changes: &broadcast::Sender<ChangeNotice>) {
    for notice in [
        ChangeNotice::Outbox,
        ChangeNotice::Audit,
        ChangeNotice::Incidents,
        ChangeNotice::DeadLetters,
        ChangeNotice::Connectors,
    ] {
        let _ = changes.send(notice);
    }
}

/// The due actions per upstream, each group in due order, groups in order of their first action.
fn group_by_upstream(due: Vec<OutboxEntry>) -> Vec<Vec<OutboxEntry>> {
    let mut groups: Vec<Vec<OutboxEntry>> = Vec::new();
    for entry in due {
        match groups.iter_mut().find(|g| {
            g.first()
                .is_some_and(|f| f.action.upstream == entry.action.upstream)
        }) {
            Some(group) => group.push(entry),
            None => groups.push(vec![entry]),
        }
    }
    groups
}

/// How long a group of `n` actions may take: [`SEND_TIMEOUT`] per [`CONCURRENCY`] actions.
fn group_timeout(n: usize) -> Duration {
    (SEND_TIMEOUT * u32::try_from(n.div_ceil(CONCURRENCY).max(1)).unwrap_or(u32::MAX))
        .min(MAX_GROUP_TIMEOUT)
}

/// The longest a group may take (a round of [`DUE_LIMIT`] on a hung upstream), so its leases
/// stay minutes, not hours; a worker that is gone loses them at once anyway (`store::holder`).
const MAX_GROUP_TIMEOUT: Duration = Duration::from_secs(600);

/// Claims the group's actions (those another worker holds are left out), sends the claimed ones
/// to their upstream at once and records each answer. Returns how many were recorded.
async fn send_group(upstreams: &Upstreams, store: &StoreWriter, group: Vec<OutboxEntry>) -> usize {
    let now = Utc::now();
    let lease_until = lease_until(now, group.len(), 1);
    let ids: Vec<String> = group.iter().map(|e| e.id.clone()).collect();
    // One transaction for the group's leases.
    let claims = match store
        .call(move |s| s.claim_actions(&ids, now, lease_until))
        .await
    {
        Ok(claims) => claims,
        Err(e) => {
            tracing::error!("outbox: {e}");
            return 0;
        }
    };
    let claimed: Vec<OutboxEntry> = group
        .into_iter()
        .zip(claims)
        .filter_map(|(entry, claimed)| claimed.then_some(entry))
        .collect();
    let recordings = answer_group(upstreams, claimed, None).await;
    record(store, recordings).await
}

/// When the lease of `n` actions claimed `now` ends: `sends` group timeouts (the sends it may
/// wait for, its own included) plus [`LEASE`] to record the answer.
pub(crate) fn lease_until(now: Timestamp, n: usize, sends: u32) -> Timestamp {
    let hold = group_timeout(n).saturating_mul(sends.max(1)) + LEASE;
    now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::seconds(600))
}

/// Sends actions this process holds the leases of — grouped by upstream, the groups at once —
/// and returns what to record of each answer (nothing is written here).
/// A run's batch (`run`) is handed to each upstream with its [`RunBatch`] (rate, stop signal,
/// progress of a server-side move).
pub(crate) async fn answer_claimed_in(
    upstreams: &Upstreams,
    claimed: Vec<OutboxEntry>,
    run: Option<&RunBatch>,
) -> Vec<(OutboxEntry, Recording)> {
    futures::stream::iter(group_by_upstream(claimed))
        .map(|group| answer_group(upstreams, group, run))
        .buffer_unordered(CONCURRENCY)
        .concat()
        .await
}

/// Sends one upstream's claimed actions as one group, bounded by [`group_timeout`]; what to
/// record of each answer.
async fn answer_group(
    upstreams: &Upstreams,
    claimed: Vec<OutboxEntry>,
    run: Option<&RunBatch>,
) -> Vec<(OutboxEntry, Recording)> {
    let Some(upstream_id) = claimed.first().map(|e| e.action.upstream.clone()) else {
        return Vec::new();
    };
    let timeout = match run {
        // A server's move of whole queues runs at the run's rate, for as long as that takes.
        Some(run) if run.whole => {
            group_timeout(claimed.len()).max(whole_bound(claimed.len(), run.rate))
        }
        _ => group_timeout(claimed.len()),
    };
    let answers: Vec<Answer> = match upstreams.get(&upstream_id) {
        None => claimed.iter().map(|_| None).collect(),
        Some(upstream) => {
            let batch: Vec<_> = claimed
                .iter()
                .map(|e| (e.action.clone(), e.idempotency_key.clone()))
                .collect();
            let timed_out = || UpstreamError::timed_out(&upstream_id, timeout);
            let answered = async {
                match run {
                    Some(run) => upstream.perform_run_batch(&batch, run).await,
                    None => upstream.perform_batch(&batch).await,
                }
            };
            match tokio::time::timeout(timeout, answered).await {
                Ok(results) => {
                    let mut results = results.into_iter();
                    // An adapter answering fewer than asked leaves the rest unanswered: retried.
                    claimed
                        .iter()
                        .map(|_| Some(results.next().unwrap_or_else(|| Err(timed_out()))))
                        .collect()
                }
                Err(_) => claimed.iter().map(|_| Some(Err(timed_out()))).collect(),
            }
        }
    };
    // One instant for the whole group: actions held back together (one 429 with `Retry-After`
    // for a batch) come due together and go out in one batch again, not spread over the time
    // their recording takes.
    let answered_at = Utc::now();
    let recordings: Vec<(OutboxEntry, Recording)> = claimed
        .into_iter()
        .zip(answers)
        .map(|(entry, answer)| {
            let recording = recording(&entry, answer, answered_at, run.is_some());
            (entry, recording)
        })
        .collect();
    let (mut sent, mut refused, mut unanswered, mut recalled) = (0, 0, 0, 0);
    for (_, recording) in &recordings {
        match recording {
            Recording::Outcome { answer, .. } if answer.outcome.ok => sent += 1,
            Recording::Outcome { .. } => refused += 1,
            Recording::Error { .. } => unanswered += 1,
            Recording::Recalled { .. } => recalled += 1,
        }
    }
    tracing::info!(upstream = %upstream_id, sent, refused, unanswered, recalled, "outbox: a group of {} answered", recordings.len());
    recordings
}

/// Records answers in ONE transaction (thousands in a run's stage); how many were recorded.
pub(crate) async fn record(
    store: &StoreWriter,
    recordings: Vec<(OutboxEntry, Recording)>,
) -> usize {
    if recordings.is_empty() {
        return 0;
    }
    // The answers come back to be dropped here, off the store's thread.
    match store
        .call(move |s| {
            let n = s.record_actions(&recordings, Utc::now())?;
            Ok((n, recordings))
        })
        .await
    {
        Ok((n, _)) => n,
        Err(e) => {
            tracing::error!("outbox: {e}");
            0
        }
    }
}

/// What became of one claimed action: the adapter's answer (a timeout is a transient
/// [`UpstreamError::timed_out`]), or `None` when no adapter serves its upstream (not
/// configured, or it failed to start; retried).
type Answer = Option<Result<ActionResult, UpstreamError>>;

/// What to record of one action's answer: sent/failed, pending again with a retry time
/// (counted from `answered_at`) for transient failures, or — in a run's batch (`in_run`) —
/// recalled when the run's pause stopped the upstream before it acted. Outside a run nobody
/// would send a recalled action again, so it is retried like a transient failure.
fn recording(
    entry: &OutboxEntry,
    answer: Answer,
    answered_at: Timestamp,
    in_run: bool,
) -> Recording {
    match answer {
        Some(Err(UpstreamError::Recalled { message, .. })) if in_run => {
            tracing::info!(action = entry.action.kind.as_str(), target = %entry.action.target, "outbox: {message}");
            Recording::Recalled { reason: message }
        }
        Some(Ok(result)) => {
            // Each delivery at debug (a run answers thousands; the group's line is at info),
            // each refusal at info.
            if result.outcome.ok {
                tracing::debug!(action = entry.action.kind.as_str(), target = %entry.action.target, ok = true, "outbox: {}", result.outcome.summary);
            } else {
                tracing::info!(action = entry.action.kind.as_str(), target = %entry.action.target, ok = false, "outbox: {}", result.outcome.summary);
            }
            Recording::Outcome {
                answer: OutcomeRecord::new(result.outcome),
                incident: result.incident.map(Box::new),
                dead_letter: result.dead_letter.map(Box::new),
                letter_state: result.letter_state,
            }
        }
        Some(Err(e)) => {
            let retry_at: Option<Timestamp> = (e.is_transient()
                || matches!(e, UpstreamError::Recalled { .. }))
            .then(|| answered_at + backoff(entry.attempts + 1, e.retry_after()));
            tracing::warn!(action = entry.action.kind.as_str(), target = %entry.action.target, "outbox: {e}");
            Recording::Error {
                error: e.to_string(),
                retry_at,
            }
        }
        None => Recording::Error {
            error: format!(
                "no upstream {:?} is configured (or it failed to start)",
                entry.action.upstream
            ),
            retry_at: Some(answered_at + backoff(entry.attempts + 1, None)),
        },
    }
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

    fn entry(upstream: &str, target: &str) -> OutboxEntry {
        let now = Utc::now();
        OutboxEntry {
            id: format!("{upstream}-{target}"),
            idempotency_key: format!("key-{target}"),
            action: crate::domain::Action {
                kind: crate::domain::ActionKind::Replay,
                upstream: upstream.into(),
                target: target.into(),
                operator: "op".into(),
                note: None,
                level: None,
                payload: None,
                destination: None,
                drop_ttl: false,
            },
            state: crate::domain::OutboxState::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            outcome: None,
            created_at: now,
            updated_at: now,
            lease: None,
            stored: Default::default(),
        }
    }

    #[test]
    fn a_recall_closes_a_runs_action_and_is_retried_outside_a_run() {
        let recalled = || {
            Some(Err(UpstreamError::Recalled {
                upstream: "sqs".into(),
                message: "recalled: run r1 was paused".into(),
            }))
        };
        let now = Utc::now();
        let in_run = recording(&entry("sqs", "m1"), recalled(), now, true);
        assert!(
            matches!(&in_run, Recording::Recalled { reason } if reason == "recalled: run r1 was paused"),
            "{in_run:?}"
        );
        // Nobody else would send it again: outside a run it stays pending.
        let alone = recording(&entry("sqs", "m1"), recalled(), now, false);
        assert!(
            matches!(
                alone,
                Recording::Error {
                    retry_at: Some(_),
                    ..
                }
            ),
            "{alone:?}"
        );
    }

    #[test]
    fn due_actions_are_grouped_by_upstream_in_due_order() {
        let due = vec![
            entry("rmq", "a"),
            entry("demo", "b"),
            entry("rmq", "c"),
            entry("slack", "d"),
            entry("demo", "e"),
        ];
        let groups: Vec<Vec<String>> = group_by_upstream(due)
            .iter()
            .map(|g| g.iter().map(|e| e.id.clone()).collect())
            .collect();
        assert_eq!(
            groups,
            vec![
                vec!["rmq-a".to_string(), "rmq-c".to_string()],
                vec!["demo-b".to_string(), "demo-e".to_string()],
                vec!["slack-d".to_string()],
            ]
        );
    }

    #[test]
    fn a_group_gets_one_send_timeout_per_concurrent_round() {
        assert_eq!(group_timeout(1), SEND_TIMEOUT);
        assert_eq!(group_timeout(CONCURRENCY), SEND_TIMEOUT);
        assert_eq!(group_timeout(CONCURRENCY + 1), SEND_TIMEOUT * 2);
        assert_eq!(group_timeout(64), SEND_TIMEOUT * 8);
        assert_eq!(group_timeout(DUE_LIMIT), MAX_GROUP_TIMEOUT);
    }
}
