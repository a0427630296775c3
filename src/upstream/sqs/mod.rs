//! Amazon SQS adapter (the official AWS SDK for Rust, on rustls): each configured connector binds
//! to a source queue; its dead-letter queue comes from the queue's `RedrivePolicy` (or is set on
//! the connector). Counts come from `GetQueueAttributes`; dead letters are browsed by receive
//! passes that hide nothing for long (`pass`), attributed to their source queue (`message::origin`)
//! and replayed or discarded in batches (`actions`) — each with a receipt in a queue of triage's
//! own (`receipts`) — or, for a run's batch that is a whole DLQ, by SQS's move task
//! (`move_task`). Identity is the SQS `MessageId`. SQS has no incidents.

mod actions;
mod batches;
pub mod client;
mod memory;
pub mod message;
mod move_task;
mod pass;
mod queues;
pub mod receipts;
mod whole;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::{Mutex, OnceCell};

pub use memory::PAGE;
use memory::{Live, Memory};
use message::{Origin, Received};
pub use pass::{PASS_MESSAGES, PASS_TIME, VISIBILITY};
use queues::Topology;

use super::tls::TrustedCa;
use super::{ActionResult, FetchPage, Upstream, UpstreamError};
use crate::config::{AwsCredentials, ConnectorConfig, UpstreamConfig};
use crate::domain::{
    Action, ConnectorReport, ConnectorStatus, DeadLetter, Incident, QueueStats, Timestamp,
    UpstreamKind,
};

/// How to reach one SQS endpoint.
#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub id: String,
    /// `https://sqs.REGION.amazonaws.com`, or an SQS-compatible server's URL.
    pub endpoint: String,
    pub region: String,
    pub credentials: AwsCredentials,
    /// Bound on each request (connect and attempt).
    pub timeout: Duration,
    /// A String message attribute naming the source queue (shared DLQs are split by it).
    pub origin_attribute: Option<String>,
}

/// A connector bound to a source queue (and optionally an explicit DLQ).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    pub connector: String,
    pub name: String,
    pub queue: String,
    pub dead_letter_queue: Option<String>,
}

/// Where a test hook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// After a replay's send was answered, before its receipt is written and its original is
    /// deleted from the DLQ.
    AfterSend,
    /// After the originals were deleted from the DLQ, before the answers are returned (a crash
    /// here leaves the actions pending with their letters gone: the receipts answer the retry).
    AfterDelete,
}

/// Test hook: awaited at each [`FaultPoint`] (e.g. to cut the link or let a handle go stale).
pub type FaultHook = Arc<dyn Fn(FaultPoint) -> BoxFuture<'static, ()> + Send + Sync>;

pub struct Sqs {
    id: String,
    endpoint: String,
    settings: client::ClientSettings,
    client: OnceCell<aws_sdk_sqs::Client>,
    bindings: Vec<QueueBinding>,
    origin_attribute: Option<String>,
    /// Held for every pass and action round: passes over one upstream never interleave.
    memory: Mutex<Memory>,
    urls: std::sync::Mutex<HashMap<String, String>>,
    previous_dead: std::sync::Mutex<HashMap<String, u64>>,
    visibility: Duration,
    pass_time: Duration,
    fault_hook: std::sync::Mutex<Option<FaultHook>>,
    /// A move-task call was refused: batched sends until the refusal expires.
    move_refusal: whole::MoveRefusal,
}

impl Sqs {
    pub fn new(settings: SqsSettings, bindings: Vec<QueueBinding>) -> Sqs {
        Sqs {
            id: settings.id.clone(),
            endpoint: settings.endpoint.clone(),
            settings: client::ClientSettings {
                id: settings.id,
                endpoint: settings.endpoint,
                region: settings.region,
                credentials: settings.credentials,
                timeout: settings.timeout,
                ca: None,
            },
            client: OnceCell::new(),
            bindings,
            origin_attribute: settings.origin_attribute,
            memory: Mutex::new(Memory::default()),
            urls: std::sync::Mutex::new(HashMap::new()),
            previous_dead: std::sync::Mutex::new(HashMap::new()),
            visibility: VISIBILITY,
            pass_time: PASS_TIME,
            fault_hook: std::sync::Mutex::new(None),
            move_refusal: whole::MoveRefusal::default(),
        }
    }

    /// From the config: the upstream's SQS settings and the connectors bound to it with a
    /// `queue`; `ca_file` is read now.
    pub fn from_config(
        upstream: &UpstreamConfig,
        connectors: &[ConnectorConfig],
    ) -> Result<Sqs, UpstreamError> {
        let sqs = upstream.sqs.as_ref().ok_or_else(|| UpstreamError::Config {
            upstream: upstream.id.clone(),
            message: "kind = \"sqs\" needs region, e.g. region = \"eu-west-1\"".to_string(),
        })?;
        let settings = SqsSettings {
            id: upstream.id.clone(),
            endpoint: upstream.url.clone(),
            region: sqs.region.clone(),
            credentials: sqs.credentials.clone(),
            timeout: upstream.timeout,
            origin_attribute: sqs.origin_attribute.clone(),
        };
        let bindings = connectors
            .iter()
            .filter(|c| c.upstream == upstream.id)
            .filter_map(|c| {
                c.queue.as_ref().map(|queue| QueueBinding {
                    connector: c.id.clone(),
                    name: c.name.clone(),
                    queue: queue.clone(),
                    dead_letter_queue: c.dead_letter_queue.clone(),
                })
            })
            .collect();
        let mut adapter = Sqs::new(settings, bindings);
        if let Some(pass) = sqs.browse_pass {
            // A pass runs at most half the visibility timeout: received messages stay hidden
            // (and their receipt handles trusted) for the whole pass.
            adapter = adapter
                .with_visibility(VISIBILITY.max(2 * pass))
                .with_pass_time(pass);
        }
        if let Some(ca_file) = &upstream.ca_file {
            let ca = TrustedCa::load(ca_file).map_err(|message| UpstreamError::Config {
                upstream: upstream.id.clone(),
                message,
            })?;
            adapter.settings.ca = Some(ca);
        }
        Ok(adapter)
    }

    /// Test hook: a shorter visibility timeout for browse receives (and so a shorter trust in
    /// receipt handles: half of it).
    pub fn with_visibility(mut self, visibility: Duration) -> Sqs {
        self.visibility = visibility.max(Duration::from_secs(1));
        self
    }

    /// Test hook: a longer (or shorter) bound on one browse pass than [`PASS_TIME`] (a pass
    /// never runs longer than half the visibility timeout either).
    pub fn with_pass_time(mut self, pass_time: Duration) -> Sqs {
        self.pass_time = pass_time;
        self
    }

    /// Test hook: awaited at each [`FaultPoint`].
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        if let Ok(mut slot) = self.fault_hook.lock() {
            *slot = hook;
        }
    }

    async fn fault(&self, point: FaultPoint) {
        let hook = self.fault_hook.lock().ok().and_then(|h| h.clone());
        if let Some(hook) = hook {
            hook(point).await;
        }
    }

    async fn client(&self) -> Result<&aws_sdk_sqs::Client, UpstreamError> {
        self.client
            .get_or_try_init(|| client::build(&self.settings))
            .await
    }

    /// The connector whose source queue is `queue`.
    fn connector_of_queue(&self, queue: &str) -> Option<&QueueBinding> {
        self.bindings.iter().find(|b| b.queue == queue)
    }

    /// The live letter for `message` read from `dlq`: kept as first seen when already known
    /// (its receive count grows with every browse; what it showed first stays).
    fn live_letter(
        &self,
        memory: &Memory,
        topology: &Topology,
        dlq: &str,
        message: &Received,
        now: Timestamp,
    ) -> Live {
        if let Some(known) = memory.live.get(&message.message_id) {
            return known.clone();
        }
        let info = topology.dlq(dlq);
        let sources = info.map(|d| d.sources.as_slice()).unwrap_or_default();
        let origin = message::origin(message, dlq, sources, self.origin_attribute.as_deref());
        let (connector, origin_queue, origin) = match &origin {
            Origin::Queue { name, .. } => match self.connector_of_queue(name) {
                Some(binding) => (binding.connector.clone(), Some(name.clone()), origin),
                None => (
                    format!("dlq:{dlq}"),
                    Some(name.clone()),
                    Origin::Unknown {
                        why: format!(
                            "it came from {name}, which no connector of this upstream binds (set queue = {name:?} on one)"
                        ),
                    },
                ),
            },
            Origin::Unknown { .. } => (format!("dlq:{dlq}"), None, origin),
        };
        let max_receive = origin_queue
            .as_ref()
            .and_then(|q| info.and_then(|d| d.max_receive.get(q)).copied());
        let mut letter = message::dead_letter(
            &self.id,
            &connector,
            dlq,
            message,
            &origin,
            max_receive,
            now,
        );
        if let (Origin::Unknown { .. }, Some(queue)) = (&origin, &origin_queue) {
            letter
                .headers
                .push(("sqs.source_queue".to_string(), queue.clone()));
        }
        Live {
            letter,
            dlq: dlq.to_string(),
            origin: origin_queue,
            sent_at: message.sent_at(),
        }
    }

    /// One pass over every DLQ (skipped, with `since`, while no depth changed for a little
    /// while), recording what it saw; returns the first page of the new snapshot.
    async fn browse(
        &self,
        since: Option<Timestamp>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
        let topology = self.topology().await?;
        let mut memory = self.memory.lock().await;
        let depths: HashMap<String, (u64, u64, u64)> = topology
            .dlqs
            .iter()
            .map(|d| {
                let depth = d.facts.depth;
                (
                    d.facts.name.clone(),
                    (depth.visible, depth.in_flight, depth.delayed),
                )
            })
            .collect();
        if since.is_some() && memory.unchanged(&depths) {
            return Ok(FetchPage::empty());
        }
        let mut tombstones = Vec::new();
        for dlq in &topology.dlqs {
            tombstones.extend(self.read_dlq(&mut memory, &topology, dlq).await?);
        }
        Ok(memory.replace(tombstones, since, depths))
    }

    /// Reads one DLQ completely (as far as a pass can), releases every message, records the
    /// pass; letters triage already replayed or discarded that are still there (a delete a
    /// stale receipt handle did not honour) are deleted now with the fresh handle.
    async fn read_dlq(
        &self,
        memory: &mut Memory,
        topology: &Topology,
        dlq: &queues::DeadLetterQueue,
    ) -> Result<Vec<DeadLetter>, UpstreamError> {
        let url = &dlq.facts.url;
        let pass = self.receive_pass(url, dlq.facts.depth, None).await?;
        let now = Utc::now();
        let (leftovers, messages): (Vec<Received>, Vec<Received>) = pass
            .messages
            .into_iter()
            .partition(|m| memory.handled.contains_key(&m.message_id));
        self.release(url, &messages).await;
        if !leftovers.is_empty() {
            let deleted = self.delete(url, &leftovers).await;
            let kept: Vec<Received> = leftovers
                .into_iter()
                .zip(deleted)
                .filter(|(_, d)| d.is_err())
                .map(|(m, _)| m)
                .collect();
            self.release(url, &kept).await;
        }
        let name = &dlq.facts.name;
        if pass.complete {
            memory.partial.remove(name);
        } else {
            memory.partial.insert(
                name.clone(),
                format!(
                    "{name}: browsed {} of ≈{} messages ({} in flight elsewhere, {} delayed{}); letters not seen are not taken as gone",
                    messages.len(),
                    dlq.facts.depth.total(),
                    dlq.facts.depth.in_flight,
                    dlq.facts.depth.delayed,
                    if dlq.facts.fifo { "; a FIFO DLQ shows the first messages of each group" } else { "" }
                ),
            );
        }
        let seen: Vec<Live> = messages
            .iter()
            .map(|m| self.live_letter(memory, topology, name, m, now))
            .collect();
        Ok(memory.record_pass(name, seen, pass.complete, now))
    }

    /// The report of binding `index`. `share`: its own dead letters and oldest sent time, when
    /// its DLQ has other sources (then the DLQ's depth is not all its own).
    fn report(
        &self,
        binding: &QueueBinding,
        topology: &Topology,
        index: usize,
        shares: &HashMap<String, (u64, Option<Timestamp>)>,
        partial: &HashMap<String, String>,
    ) -> ConnectorReport {
        let (source, dlq_name) = topology.sources.get(index).cloned().unwrap_or((None, None));
        let dlq = dlq_name.as_deref().and_then(|n| topology.dlq(n));
        let shared = dlq.is_some_and(|d| {
            let feeders = topology
                .sources
                .iter()
                .filter(|(_, n)| n.as_deref() == Some(d.facts.name.as_str()))
                .count();
            d.sources.len() > 1 || feeders > 1
        });
        let (own, oldest) = shares.get(&binding.connector).copied().unwrap_or((0, None));
        let dead = match dlq {
            Some(_) if shared => own,
            Some(d) => d.facts.depth.total(),
            None => 0,
        };
        let grew = self
            .previous_dead
            .lock()
            .ok()
            .and_then(|mut m| m.insert(binding.connector.clone(), dead))
            .is_some_and(|before| dead > before);
        let oldest_text = oldest
            .map(|t| {
                let age = (Utc::now() - t).to_std().unwrap_or_default();
                let age = Duration::from_secs(age.as_secs());
                format!("; oldest sent {} ago", humantime::format_duration(age))
            })
            .unwrap_or_default();
        let (status, last_error) = match (&source, &dlq_name, dlq) {
            (None, _, _) => (
                ConnectorStatus::Failing,
                Some(format!("queue {} not found", binding.queue)),
            ),
            (Some(_), None, _) => (
                ConnectorStatus::Degraded,
                Some(format!(
                    "queue {} has no redrive policy: failing messages are retried until they expire, never dead-lettered",
                    binding.queue
                )),
            ),
            (Some(_), Some(name), None) => (
                ConnectorStatus::Failing,
                Some(format!(
                    "dead-letter queue {name} of {} not found",
                    binding.queue
                )),
            ),
            (Some(_), Some(_), Some(_)) if grew => (
                ConnectorStatus::Degraded,
                Some(format!("{dead} dead letters and growing{oldest_text}")),
            ),
            _ => (ConnectorStatus::Healthy, None),
        };
        let last_error = match (last_error, dlq_name.as_ref().and_then(|n| partial.get(n))) {
            (Some(error), Some(note)) => Some(format!("{error}; {note}")),
            (error, note) => error.or(note.cloned()),
        };
        let depth = source.map(|s| s.depth).unwrap_or_default();
        ConnectorReport {
            id: binding.connector.clone(),
            name: binding.name.clone(),
            status,
            stats: QueueStats {
                ready: depth.visible,
                in_flight: depth.in_flight,
                retrying: depth.delayed,
                dead,
                rate_in: 0.0,
                rate_out: 0.0,
                rate_fail: 0.0,
            },
            last_error,
            updated_at: Utc::now(),
        }
    }
}

#[async_trait]
impl Upstream for Sqs {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> UpstreamKind {
        UpstreamKind::Sqs
    }

    /// Tombstones live in this process's memory: a new process relists the DLQs once.
    fn dead_letter_tombstones(&self) -> Option<Duration> {
        None
    }

    async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError> {
        let topology = self.topology().await?;
        // A DLQ with several sources is split by reading it: once per process before its
        // first report, then by every browse.
        let unread: Vec<&queues::DeadLetterQueue> = {
            let memory = self.memory.lock().await;
            topology
                .dlqs
                .iter()
                .filter(|d| d.sources.len() > 1 && !memory.knows(&d.facts.name))
                .collect()
        };
        for dlq in unread {
            let mut memory = self.memory.lock().await;
            self.read_dlq(&mut memory, &topology, dlq).await?;
        }
        let (shares, partial) = {
            let memory = self.memory.lock().await;
            (memory.shares(), memory.partial.clone())
        };
        Ok(self
            .bindings
            .iter()
            .enumerate()
            .map(|(index, binding)| self.report(binding, &topology, index, &shares, &partial))
            .collect())
    }

    async fn incidents(
        &self,
        _since: Option<Timestamp>,
        _cursor: Option<&str>,
    ) -> Result<FetchPage<Incident>, UpstreamError> {
        Ok(FetchPage::empty())
    }

    async fn dead_letters(
        &self,
        since: Option<Timestamp>,
        cursor: Option<&str>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
        if let Some(cursor) = cursor
            && let Some(page) = self.memory.lock().await.page_at(cursor)
        {
            return Ok(page);
        }
        self.browse(since).await
    }

    async fn perform(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<ActionResult, UpstreamError> {
        let batch = [(action.clone(), idempotency_key.to_string())];
        self.act(&batch, None).await.pop().unwrap_or_else(|| {
            Err(UpstreamError::Malformed {
                upstream: self.id.clone(),
                url: self.endpoint.clone(),
                message: format!("no answer for {} {}", action.kind.as_str(), action.target),
            })
        })
    }

    /// Every replay and discard of the batch with one pass per DLQ and batched sends and
    /// deletes (see `actions`).
    async fn perform_batch(
        &self,
        actions: &[(Action, String)],
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        self.act(actions, None).await
    }

    /// A run's batch: as [`Upstream::perform_batch`], and a move task (when the batch is
    /// everything in a DLQ) runs at the run's rate, is cancelled when the run stops and reports
    /// its progress (`move_task`).
    async fn perform_run_batch(
        &self,
        actions: &[(Action, String)],
        run: &super::run_batch::RunBatch,
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        self.act(actions, Some(run)).await
    }

    fn moves_whole_queues(&self) -> bool {
        self.moves()
    }

    /// Every letter of each DLQ that holds nothing but `targets`, read from the server now
    /// (`move_task`).
    async fn whole_queues(&self, targets: &[String]) -> Vec<String> {
        Sqs::whole_queues(self, targets).await
    }
}
