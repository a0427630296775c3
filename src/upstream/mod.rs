//! Adapters to the systems triage watches and acts on, behind one trait. Adapters fetch and
//! act; they never write the store (the sync engine does).

pub mod alertmanager;
mod answers;
pub mod connector_api;
pub mod http;
mod pages;
pub mod rabbitmq;
mod redacted;
pub mod run_batch;
pub mod sqs;
pub mod tls;

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use crate::domain::{
    Action, ActionOutcome, ConnectorReport, DeadLetter, Incident, LetterState, Timestamp,
    UpstreamKind,
};

/// Longest wait for one action's answer, beyond the HTTP client's own timeout. The default
/// [`Upstream::perform_batch`] bounds each `perform` with it; the outbox scales a whole batch's
/// bound from it.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Actions of one batch the default [`Upstream::perform_batch`] sends at once.
pub const BATCH_CONCURRENCY: usize = 8;

/// Why a call to an upstream failed. `is_transient` decides between retry and give up.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A write was answered in a way that cannot be read (a batch answer that is not JSON, or
    /// whose results do not match its items): whether the upstream acted is unknown, so it is
    /// transient — resent with the same idempotency key, which the upstream answers once.
    #[error(
        "{upstream}: {url} answered in a way triage cannot read, so whether it acted is unknown (will retry with the same idempotency key): {message}"
    )]
    Uncertain {
        upstream: String,
        url: String,
        message: String,
    },
    /// Not done, on purpose: the run that handed the action over was paused while it was in
    /// flight, and the upstream stopped before acting on it (SQS's move task, cancelled). The
    /// outbox records it `recalled` and the run plans its member again; outside a run it is
    /// retried like a transient failure (nobody else would send it).
    #[error("{upstream}: {message}")]
    Recalled { upstream: String, message: String },
}

impl UpstreamError {
    /// No answer within `after`: whether the upstream acted is unknown, so it is transient
    /// (retried with the same idempotency key).
    pub fn timed_out(upstream: &str, after: Duration) -> Self {
        UpstreamError::Unreachable {
            upstream: upstream.to_string(),
            url: "the upstream".to_string(),
            message: format!("no answer within {after:?}; will retry"),
        }
    }

    /// Worth retrying: unreachable (timeouts included), uncertain, 5xx, 408, 429.
    pub fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::Uncertain { .. } => true,
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

impl<T> FetchPage<T> {
    /// No items and nothing more (an upstream without this kind of data).
    pub fn empty() -> Self {
        FetchPage {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

/// The upstream's answer to an action, with the entities it changed (written to the store in
/// the same transaction as the outcome).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionResult {
    pub outcome: ActionOutcome,
    pub incident: Option<Incident>,
    pub dead_letter: Option<DeadLetter>,
    /// The dead letter's new state when the upstream answered without the letter (a minimal
    /// batch answer); `dead_letter` is then `None`.
    pub letter_state: Option<LetterState>,
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
    /// How long this upstream keeps tombstones (replayed/discarded dead letters) for incremental
    /// clients. A sync that was away longer relists every live dead letter and reconciles;
    /// `None`: tombstones do not outlive this process (kept in the adapter's memory), so the first
    /// poll of each process relists. Default: the Connector API's documented 24 hours.
    fn dead_letter_tombstones(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(24 * 3600))
    }
    /// What the store knows triage replayed or discarded on this upstream (id, state): an
    /// adapter whose identities can come back (RabbitMQ content identities: the same bytes
    /// arriving again) uses it to tell a newcomer from the letter it already handled. Given once
    /// when a process builds its upstreams (`Upstreams::remember_handled`).
    async fn remember_handled(&self, _handled: Vec<(String, crate::domain::DeadLetterState)>) {}
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
    /// Performs several actions, each with its idempotency key; one answer per action, in the
    /// same order. Adapters that can serve a group more cheaply than one by one (RabbitMQ: one
    /// pass over a DLQ for many replays) override it. The default sends each with [`perform`]
    /// ([`BATCH_CONCURRENCY`] at once), each bounded by [`ACTION_TIMEOUT`]
    /// ([`UpstreamError::timed_out`] when it passes).
    ///
    /// [`perform`]: Upstream::perform
    async fn perform_batch(
        &self,
        actions: &[(Action, String)],
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        perform_each(self, actions, ACTION_TIMEOUT).await
    }
    /// A batch a run's driver hands over ([`run_batch::RunBatch`]: the run's rate, a stop
    /// signal, where to report a server-side move). The default is [`perform_batch`]: the
    /// driver paces and stops what it hands over itself. SQS overrides it for its move task.
    ///
    /// [`perform_batch`]: Upstream::perform_batch
    async fn perform_run_batch(
        &self,
        actions: &[(Action, String)],
        _run: &run_batch::RunBatch,
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        self.perform_batch(actions).await
    }
    /// Whether [`whole_queues`] may ever name a letter here (cheap: a run's driver reads a
    /// stage's targets only for upstreams that say so). Default: no.
    ///
    /// [`whole_queues`]: Upstream::whole_queues
    fn moves_whole_queues(&self) -> bool {
        false
    }
    /// Of `targets` (letters a run's stage has still to replay, unchanged, to where they died),
    /// those this upstream would take all in one batch because they are *every* letter of their
    /// queues, as it reads them now: the server then moves each queue itself at the run's rate
    /// (SQS's `StartMessageMoveTask`). The driver hands them over in one batch marked
    /// [`RunBatch::whole`](run_batch::RunBatch::whole) instead of pacing them. Default: none.
    async fn whole_queues(&self, _targets: &[String]) -> Vec<String> {
        Vec::new()
    }
}

/// The default [`Upstream::perform_batch`]: each action sent with `perform`, bounded by
/// `per_action`, [`BATCH_CONCURRENCY`] at once; answers in the order of `actions`.
pub async fn perform_each<U: Upstream + ?Sized>(
    upstream: &U,
    actions: &[(Action, String)],
    per_action: Duration,
) -> Vec<Result<ActionResult, UpstreamError>> {
    // Collected first: a lazy iterator's closure held across the await is not `Send` enough for
    // `async_trait`'s boxed future.
    let sends: Vec<_> = actions
        .iter()
        .enumerate()
        .map(|(index, (action, key))| async move {
            let answer = tokio::time::timeout(per_action, upstream.perform(action, key))
                .await
                .unwrap_or_else(|_| Err(UpstreamError::timed_out(upstream.id(), per_action)));
            (index, answer)
        })
        .collect();
    let mut answers: Vec<(usize, Result<ActionResult, UpstreamError>)> =
        futures::stream::iter(sends)
            .buffer_unordered(BATCH_CONCURRENCY)
            .collect()
            .await;
    answers.sort_by_key(|(index, _)| *index);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::domain::{ActionKind, ActionOutcome};

    /// Exercises the provided `perform_batch`: each `perform` waits `target` × 10 ms and
    /// records how many ran at once.
    struct Sleepy {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait]
    impl Upstream for Sleepy {
        fn id(&self) -> &str {
            "sleepy"
        }
        fn kind(&self) -> UpstreamKind {
            UpstreamKind::ConnectorApi
        }
        async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError> {
            Ok(Vec::new())
        }
        async fn incidents(
            &self,
            _: Option<Timestamp>,
            _: Option<&str>,
        ) -> Result<FetchPage<Incident>, UpstreamError> {
            Ok(FetchPage::empty())
        }
        async fn dead_letters(
            &self,
            _: Option<Timestamp>,
            _: Option<&str>,
        ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
            Ok(FetchPage::empty())
        }
        async fn perform(&self, action: &Action, key: &str) -> Result<ActionResult, UpstreamError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let secs: u64 = action.target.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(secs * 10)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(ActionResult {
                outcome: ActionOutcome {
                    ok: true,
                    summary: key.to_string(),
                    response: serde_json::Value::Null,
                },
                incident: None,
                dead_letter: None,
                letter_state: None,
            })
        }
    }

    fn action(target: &str) -> (Action, String) {
        let action = Action {
            kind: ActionKind::Ack,
            upstream: "sleepy".into(),
            target: target.into(),
            operator: "op".into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        };
        (action, format!("key-{target}"))
    }

    #[tokio::test]
    async fn the_default_batch_answers_in_order_concurrently_and_times_out_per_action() {
        let upstream = Sleepy {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        };
        // 20 quick ones of decreasing length, one that never answers in time.
        let mut actions: Vec<(Action, String)> =
            (0..20).map(|i| action(&(20 - i).to_string())).collect();
        actions.insert(5, action("3600"));
        let started = std::time::Instant::now();
        let per_action = Duration::from_millis(600);
        let answers = perform_each(&upstream, &actions, per_action).await;
        assert_eq!(answers.len(), 21);
        let summaries: Vec<String> = answers
            .iter()
            .map(|a| match a {
                Ok(result) => result.outcome.summary.clone(),
                Err(e) => e.to_string(),
            })
            .collect();
        let expected: Vec<String> = actions
            .iter()
            .map(|(a, key)| {
                if a.target == "3600" {
                    "sleepy: cannot reach the upstream: no answer within 600ms; will retry"
                        .to_string()
                } else {
                    key.clone()
                }
            })
            .collect();
        assert_eq!(summaries, expected);
        assert!(answers[5].as_ref().is_err_and(UpstreamError::is_transient));
        assert_eq!(upstream.most.load(Ordering::SeqCst), BATCH_CONCURRENCY);
        // Concurrent: the slow one's timeout bounds the batch, not the 2.7 s of one by one.
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }
}
