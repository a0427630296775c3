//! RabbitMQ adapter (3.10, management HTTP API + AMQP 0-9-1): each configured connector binds to a
//! work queue; its dead-letter queue comes from the queue's DLX arguments or is set explicitly.
//! Queue stats come from the management API; dead letters are browsed and acted on over AMQP
//! (see `amqp` for the loss-free cycling pass and `snapshot` for how browsing maps to
//! `dead_letters(since, cursor)`). RabbitMQ has no incidents.

mod ack_batch;
mod actions;
pub mod amqp;
mod browse_apply;
mod management;
pub mod message;
mod pass;
mod snapshot;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::Mutex;

use amqp::Broker;
pub use amqp::{Fate, FaultHook, FaultPoint, HoldError, HoldReport, PassReport};
pub use browse_apply::AppliedPass;
use management::{Management, QueueNumbers};
pub use pass::{PEEK_LIMIT, Selection, other_consumer_text};
use snapshot::{BrowseMemory, QueueView};

/// A complete read asked for this soon after a pass with the same depths is served from it.
const FRESH: Duration = Duration::from_secs(10);

use super::http::{Auth, HttpClient};
use super::tls::TrustedCa;
use super::{ActionResult, FetchPage, Upstream, UpstreamError};
use crate::config::{ConnectorConfig, UpstreamConfig};
use crate::domain::{
    Action, ConnectorReport, ConnectorStatus, DeadLetter, Incident, QueueStats, Timestamp,
    UpstreamKind,
};

/// How to reach one RabbitMQ.
#[derive(Debug, Clone)]
pub struct RabbitMqSettings {
    pub id: String,
    /// Management API base, e.g. `http://127.0.0.1:15672`.
    pub management_url: String,
    /// `amqp://` or `amqps://` URL; user and password are filled in from `username`/`password`
    /// when absent. A private CA for `amqps://` is added with [`RabbitMq::with_ca_file`].
    pub amqp_url: String,
    pub vhost: String,
    pub username: String,
    pub password: Option<String>,
    /// HTTP request timeout, and the bound on one AMQP connect (TCP, TLS handshake, AMQP open).
    pub timeout: Duration,
}

/// A connector bound to a work queue (and optionally an explicit DLQ).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueBinding {
    pub connector: String,
    pub name: String,
    pub queue: String,
    pub dead_letter_queue: Option<String>,
}

pub struct RabbitMq {
    id: String,
    management: Management,
    broker: Broker,
    bindings: Vec<QueueBinding>,
    /// Held for the whole of every DLQ pass: passes over one broker never interleave.
    memory: Mutex<BrowseMemory>,
    resolved_dlqs: std::sync::Mutex<HashMap<String, String>>,
    previous_dead: std::sync::Mutex<HashMap<String, u64>>,
}

impl RabbitMq {
    pub fn new(
        settings: RabbitMqSettings,
        bindings: Vec<QueueBinding>,
    ) -> Result<Self, UpstreamError> {
        let auth = Auth::Basic {
            user: settings.username.clone(),
            password: settings.password.clone(),
        };
        let http = HttpClient::new(
            &settings.id,
            &settings.management_url,
            settings.timeout,
            None,
        )?
        .with_auth(auth);
        let amqp_url = amqp_url_with_credentials(&settings)?;
        let broker = Broker::new(&settings.id, &amqp_url).with_connect_timeout(settings.timeout);
        Ok(RabbitMq {
            id: settings.id.clone(),
            management: Management::new(http, &settings.vhost),
            broker,
            bindings,
            memory: Mutex::new(BrowseMemory::default()),
            resolved_dlqs: std::sync::Mutex::new(HashMap::new()),
            previous_dead: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The same adapter, trusting the CA certificates in the PEM file `ca_file` for its
    /// `amqps://` connection and its `https://` management URL, in addition to the system roots.
    /// The file is read and checked now: missing, unreadable or without a valid certificate is a
    /// [`UpstreamError::Config`].
    pub fn with_ca_file(self, ca_file: &std::path::Path) -> Result<Self, UpstreamError> {
        let ca = TrustedCa::load(ca_file).map_err(|message| UpstreamError::Config {
            upstream: self.id.clone(),
            message,
        })?;
        Ok(RabbitMq {
            broker: self.broker.trusting(ca.clone()),
            management: self.management.trusting(ca)?,
            ..self
        })
    }

    /// From the config: the upstream's settings and the connectors bound to it with a `queue`;
    /// `ca_file` is loaded here (see [`RabbitMq::with_ca_file`]).
    pub fn from_config(
        upstream: &UpstreamConfig,
        password: Option<String>,
        connectors: &[ConnectorConfig],
    ) -> Result<Self, UpstreamError> {
        let amqp_url = upstream
            .amqp_url
            .clone()
            .ok_or_else(|| UpstreamError::Config {
                upstream: upstream.id.clone(),
                message: "kind = \"rabbitmq\" needs amqp_url, e.g. \"amqp://127.0.0.1:5672\""
                    .to_string(),
            })?;
        let settings = RabbitMqSettings {
            id: upstream.id.clone(),
            management_url: upstream.url.clone(),
            amqp_url,
            vhost: upstream.vhost.clone().unwrap_or_else(|| "/".to_string()),
            username: upstream
                .username
                .clone()
                .unwrap_or_else(|| "guest".to_string()),
            password,
            timeout: upstream.timeout,
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
        let adapter = RabbitMq::new(settings, bindings)?;
        match &upstream.ca_file {
            Some(ca_file) => adapter.with_ca_file(ca_file),
            None => Ok(adapter),
        }
    }

    /// Test hook: called at fault points of every pass; returning true drops the connection there.
    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        self.broker.set_fault_hook(hook);
    }

    fn binding(&self, connector: &str) -> Result<&QueueBinding, UpstreamError> {
        self.bindings.iter().find(|b| b.connector == connector).ok_or_else(|| UpstreamError::Unsupported {
            upstream: self.id.clone(),
            message: format!("connector {connector:?} is not bound to a queue of this upstream (set `queue` on it)"),
        })
    }

    /// The DLQ of a binding: explicit, else derived from the work queue's DLX arguments (cached).
    async fn dead_letter_queue(
        &self,
        binding: &QueueBinding,
        queues: Option<&HashMap<String, QueueNumbers>>,
    ) -> Result<Option<String>, UpstreamError> {
        if let Some(dlq) = &binding.dead_letter_queue {
            return Ok(Some(dlq.clone()));
        }
        if let Some(dlq) = self
            .resolved_dlqs
            .lock()
            .ok()
            .and_then(|m| m.get(&binding.connector).cloned())
        {
            return Ok(Some(dlq));
        }
        let fetched;
        let queues = match queues {
            Some(q) => q,
            None => {
                fetched = self.management.queues().await?;
                &fetched
            }
        };
        let Some(work) = queues.get(&binding.queue) else {
            return Ok(None);
        };
        let dlq = self
            .management
            .dead_letter_queue(&binding.queue, &work.arguments)
            .await?;
        if let (Some(dlq), Ok(mut cache)) = (&dlq, self.resolved_dlqs.lock()) {
            cache.insert(binding.connector.clone(), dlq.clone());
        }
        Ok(dlq)
    }

    /// The report of one connector. `shared` = its DLQ also takes other work queues' dead
    /// letters: then its dead count is its own share from the last browse (`counts`), not the
    /// DLQ's depth, so a shared DLQ is counted once across its connectors.
    fn report(
        &self,
        binding: &QueueBinding,
        work: Option<&QueueNumbers>,
        dead: Option<(&str, &QueueNumbers)>,
        shared: Option<&HashMap<String, u64>>,
        held_off: Option<String>,
    ) -> ConnectorReport {
        let dead_count = match (dead, shared) {
            (Some(_), Some(counts)) => counts.get(&binding.connector).copied().unwrap_or(0),
            (Some((_, d)), None) => d.ready + d.unacked,
            (None, _) => 0,
        };
        let dead = dead.map(|(_, d)| d);
        let grew = self
            .previous_dead
            .lock()
            .ok()
            .and_then(|mut m| m.insert(binding.connector.clone(), dead_count))
            .is_some_and(|before| dead_count > before);
        let (status, last_error) = match work {
            None => (
                ConnectorStatus::Failing,
                Some(format!("queue {} not found in the vhost", binding.queue)),
            ),
            Some(w) if w.consumers == 0 && w.ready > 0 => (
                ConnectorStatus::Failing,
                Some(format!(
                    "no consumers on {}; {} messages waiting",
                    binding.queue, w.ready
                )),
            ),
            Some(w) if w.consumers == 0 => (
                ConnectorStatus::Degraded,
                Some(format!("no consumers on {}", binding.queue)),
            ),
            Some(_) if held_off.is_some() => (ConnectorStatus::Degraded, None),
            Some(_) if grew || dead.is_some_and(|d| d.publish_rate > 0.0) => (
                ConnectorStatus::Degraded,
                Some(format!("{dead_count} dead letters and growing")),
            ),
            Some(_) => (ConnectorStatus::Healthy, None),
        };
        // Said whatever else is wrong: the operator sees only part of this DLQ.
        let last_error = match (last_error, held_off) {
            (Some(error), Some(held)) => Some(format!("{error}; {held}")),
            (error, held) => error.or(held),
        };
        let work = work.cloned().unwrap_or_default();
        ConnectorReport {
            id: binding.connector.clone(),
            name: binding.name.clone(),
            status,
            stats: QueueStats {
                ready: work.ready,
                in_flight: work.unacked,
                retrying: 0,
                dead: dead_count,
                rate_in: work.publish_rate,
                rate_out: work.ack_rate.max(work.deliver_rate),
                rate_fail: dead.map_or(0.0, |d| d.publish_rate),
            },
            last_error,
            updated_at: Utc::now(),
        }
    }

    /// The distinct DLQs of the bindings (a DLQ several work queues feed is listed once), with
    /// the connectors feeding each.
    async fn dead_letter_queues(
        &self,
        queues: &HashMap<String, QueueNumbers>,
    ) -> Result<Vec<(String, Vec<String>)>, UpstreamError> {
        let mut dlqs: Vec<(String, Vec<String>)> = Vec::new();
        for binding in &self.bindings {
            if let Some(dlq) = self.dead_letter_queue(binding, Some(queues)).await? {
                match dlqs.iter_mut().find(|(name, _)| *name == dlq) {
                    Some((_, connectors)) => connectors.push(binding.connector.clone()),
                    None => dlqs.push((dlq, vec![binding.connector.clone()])),
                }
            }
        }
        Ok(dlqs)
    }

    /// Reads every DLQ completely (one pass each) and returns the first page of the new
    /// snapshot. With `since`, skips the read when no DLQ depth changed recently: the snapshot's
    /// pages not handed out yet are served instead (a browse-and-apply pass's refresh), else an
    /// empty page.
    async fn browse(
        &self,
        since: Option<Timestamp>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
        let mut memory = self.memory.lock().await;
        let queues = self.management.queues().await?;
        let mut targets = Vec::new();
        let mut depths = HashMap::new();
        for (dlq, _) in self.dead_letter_queues(&queues).await? {
            let depth = u64::from(self.broker.message_count(&dlq).await?);
            depths.insert(dlq.clone(), depth);
            targets.push((dlq, depth));
        }
        if since.is_some() && memory.unchanged(&depths) {
            return Ok(memory
                .undelivered_page()
                .unwrap_or_else(BrowseMemory::empty_page));
        }
        // A complete read right after one (the connectors' report just read a shared DLQ).
        if since.is_none() && memory.fresh(&depths, FRESH) {
            return Ok(memory.first_page());
        }
        let mut views = Vec::new();
        for (dlq, depth) in targets {
            let unconfirmed = self.learn_receipts(&mut memory, &dlq).await;
            let leftovers = memory.handled.clone();
            let passes = memory.receipt_passes.clone();
            let pass = match self
                .pass_over(&dlq, &[], &leftovers, &passes, &unconfirmed, true)
                .await
            {
                Ok(pass) => pass,
                Err(e) => {
                    // As in `apply_to`: read the receipts again before the next pass.
                    memory.receipts_learned.remove(&dlq);
                    return Err(e);
                }
            };
            if let Some(error) = pass.error {
                memory.receipts_learned.remove(&dlq);
                return Err(error);
            }
            memory.set_held_off(&dlq, pass.remark());
            views.push(QueueView {
                dlq,
                letters: pass.letters,
                complete: pass.complete,
                depth,
            });
        }
        Ok(memory.replace(views))
    }
}

/// The AMQP URL with the configured user/password when it carries none.
fn amqp_url_with_credentials(settings: &RabbitMqSettings) -> Result<String, UpstreamError> {
    let mut url = url::Url::parse(&settings.amqp_url).map_err(|e| UpstreamError::Config {
        upstream: settings.id.clone(),
        message: format!("amqp_url is not a valid URL: {e}"),
    })?;
    if url.username().is_empty() {
        let _ = url.set_username(&settings.username);
        let _ = url.set_password(settings.password.as_deref());
    }
    if url.path().is_empty() || url.path() == "/" {
        let vhost: String =
            url::form_urlencoded::byte_serialize(settings.vhost.as_bytes()).collect();
        url.set_path(&format!("/{vhost}"));
    }
    Ok(url.to_string())
}

#[async_trait]
impl Upstream for RabbitMq {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> UpstreamKind {
        UpstreamKind::Rabbitmq
    }

    /// Tombstones live in `BrowseMemory`: a new process relists the DLQs once.
    fn dead_letter_tombstones(&self) -> Option<Duration> {
        None
    }

    /// Content identities the store saw triage handle (all time, unlike the day of receipts).
    async fn remember_handled(&self, handled: Vec<(String, crate::domain::DeadLetterState)>) {
        let mut memory = self.memory.lock().await;
        for (id, state) in handled {
            if message::is_content_id(&id) {
                memory.handled.entry(id).or_insert(state);
            }
        }
    }

    async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError> {
        let queues = self.management.queues().await?;
        let dlqs = self.dead_letter_queues(&queues).await?;
        // A shared DLQ is split by reading it: once per process before its first report.
        let unread: Vec<String> = {
            let memory = self.memory.lock().await;
            dlqs.iter()
                .filter(|(name, feeders)| feeders.len() > 1 && !memory.knows(name))
                .map(|(name, _)| name.clone())
                .collect()
        };
        for dlq in unread {
            let mut memory = self.memory.lock().await;
            self.apply_to(&mut memory, &dlq, &[]).await?;
        }
        let (counts, held_off) = {
            let memory = self.memory.lock().await;
            (memory.counts(), memory.held_off())
        };
        let mut reports = Vec::new();
        for binding in &self.bindings {
            let dlq = self.dead_letter_queue(binding, Some(&queues)).await?;
            let dead = dlq
                .as_deref()
                .and_then(|name| queues.get(name).map(|q| (name, q)));
            let shared = dlq
                .as_ref()
                .and_then(|name| dlqs.iter().find(|(n, _)| n == name))
                .is_some_and(|(_, feeders)| feeders.len() > 1);
            reports.push(self.report(
                binding,
                queues.get(&binding.queue),
                dead,
                shared.then_some(&counts),
                dlq.as_ref().and_then(|name| held_off.get(name)).cloned(),
            ));
        }
        Ok(reports)
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
        self.act_on_dead_letters(&batch)
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(UpstreamError::Malformed {
                    upstream: self.id.clone(),
                    url: "dead-letter queue".to_string(),
                    message: format!("no answer for {} {}", action.kind.as_str(), action.target),
                })
            })
    }

    /// All replays/discards of the batch in one pass per connector's DLQ (see `actions`).
    async fn perform_batch(
        &self,
        actions: &[(Action, String)],
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        self.act_on_dead_letters(actions).await
    }
}
