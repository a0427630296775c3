//! AMQP 0-9-1 side of the RabbitMQ adapter (lapin on tokio): one cached connection, the
//! get-and-requeue peek for small windows, and the single cycling pass over a DLQ that serves
//! full browsing, selective replay/discard and bulk replay without holding thousands unacked.
//!
//! The pass: consume with manual ack up to the count the queue had when the pass began; for each
//! message publish either a copy to the DLQ's tail (kept) or the replay to its origin, with
//! publisher confirms pipelined (see `publish`); ack each delivery only after its confirm.
//! Messages that arrive meanwhile sit after the original ones and are not touched. A drop at any
//! point leaves at most a duplicate (same payload, headers and `x-triage-replay-id`), never a loss.

mod publish;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::ack_batch::AckBatch;
use crate::upstream::UpstreamError;
use publish::Pending;

/// Deliveries in flight (prefetch) and publishes awaiting confirms during a pass.
const PIPELINE: u16 = 1000;
/// A pass stops when no delivery arrives for this long (someone else drained the queue).
const IDLE_LIMIT: Duration = Duration::from_secs(5);
/// Longest wait for a peek's requeued messages to be back in the queue.
const REQUEUE_WAIT: Duration = Duration::from_secs(30);

/// Where a fault may be injected (tests): returning true from the hook drops the connection there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The broker confirmed the publish; the DLQ copy is not acked yet.
    AfterConfirmBeforeAck,
}

pub type FaultHook = Arc<dyn Fn(FaultPoint) -> bool + Send + Sync>;

/// What a pass does with one message.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per message in flight; boxing buys nothing
pub enum Fate {
    /// Stays in the DLQ: a copy goes to its tail, then the delivery is acked.
    Keep,
    /// Republished to `exchange`/`routing_key` with these bytes and properties, then acked.
    Replay {
        exchange: String,
        routing_key: String,
        payload: Vec<u8>,
        properties: BasicProperties,
    },
    /// Acked without republishing.
    Discard,
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    pub visited: usize,
    pub kept: usize,
    pub replayed: usize,
    pub discarded: usize,
    /// Replays the broker could not route: kept in the DLQ (at its tail) instead.
    pub unroutable: Vec<usize>,
}

/// One AMQP endpoint and its cached connection.
pub struct Broker {
    upstream: String,
    url: String,
    connection: Mutex<Option<Connection>>,
    fault: std::sync::Mutex<Option<FaultHook>>,
}

impl Broker {
    pub fn new(upstream: &str, url: &str) -> Self {
        Broker {
            upstream: upstream.to_string(),
            url: url.to_string(),
            connection: Mutex::new(None),
            fault: std::sync::Mutex::new(None),
        }
    }

    pub fn set_fault_hook(&self, hook: Option<FaultHook>) {
        if let Ok(mut slot) = self.fault.lock() {
            *slot = hook;
        }
    }

    fn error(&self, what: &str, e: impl std::fmt::Display) -> UpstreamError {
        UpstreamError::Unreachable {
            upstream: self.upstream.clone(),
            url: redact(&self.url),
            message: format!("{what}: {e}"),
        }
    }

    /// A channel on the cached connection, reconnecting when it dropped.
    pub async fn channel(&self) -> Result<Channel, UpstreamError> {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_none_or(|c| !c.status().connected()) {
            let connection = Connection::connect(&self.url, ConnectionProperties::default())
                .await
                .map_err(|e| {
                    self.error(
                        "cannot open the AMQP connection (check amqp_url, username and password)",
                        e,
                    )
                })?;
            *slot = Some(connection);
        }
        let connection = slot
            .as_ref()
            .ok_or_else(|| self.error("AMQP connection", "missing"))?;
        connection
            .create_channel()
            .await
            .map_err(|e| self.error("cannot open an AMQP channel", e))
    }

    async fn drop_connection(&self) {
        if let Some(connection) = self.connection.lock().await.take() {
            let _ = connection
                .close(
                    320,
                    "triage fault hook: dropped between confirm and ack".into(),
                )
                .await;
        }
    }

    /// Ready messages in `queue` now (passive declare: fails when the queue does not exist).
    pub async fn message_count(&self, queue: &str) -> Result<u32, UpstreamError> {
        let channel = self.channel().await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await;
        let _ = channel.close(200, "ok".into()).await;
        let declared =
            declared.map_err(|e| self.error(&format!("queue {queue:?} cannot be inspected"), e))?;
        Ok(declared.message_count())
    }

    /// The first `limit` messages, read with `basic.get` without ack and requeued in one
    /// `basic.nack(0, multiple, requeue)`: cheap for small windows only (requeue is slow at 10k+).
    pub async fn peek(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, BasicProperties)>, UpstreamError> {
        let channel = self.channel().await?;
        let mut messages = Vec::new();
        let mut result = Ok(());
        let mut depth = 0;
        while messages.len() < limit {
            match channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
            {
                Ok(Some(got)) => {
                    if messages.is_empty() {
                        depth = got.message_count + 1;
                    }
                    messages.push((got.delivery.data, got.delivery.properties));
                }
                Ok(None) => break,
                Err(e) => {
                    result = Err(self.error(&format!("basic.get on {queue:?}"), e));
                    break;
                }
            }
        }
        if !messages.is_empty() {
            let requeue = BasicNackOptions {
                multiple: true,
                requeue: true,
            };
            if let Err(e) = channel.basic_nack(0, requeue).await {
                result = result.and(Err(self.error(&format!("requeue on {queue:?}"), e)));
            }
        }
        let _ = channel.close(200, "ok".into()).await;
        result?;
        // The broker requeues asynchronously; wait so the next count or pass sees every message.
        let deadline = tokio::time::Instant::now() + REQUEUE_WAIT;
        while self.message_count(queue).await? < depth && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(messages)
    }

    /// One cycling pass over `queue` (see the module doc); `visit(index, payload, properties)`
    /// decides each message's fate. Returns what was done.
    pub async fn cycle<F>(&self, queue: &str, mut visit: F) -> Result<PassReport, UpstreamError>
    where
        F: FnMut(usize, &[u8], &BasicProperties) -> Fate,
    {
        let count = self.message_count(queue).await? as usize;
        let mut report = PassReport::default();
        if count == 0 {
            return Ok(report);
        }
        let consume = self.channel().await?;
        let publish = self.channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error("confirm.select", e))?;
        // The broker sends at most acked + prefetch deliveries. Keeping acks at or below
        // count - prefetch until all `count` arrived means it never sends our own copies back.
        let prefetch = PIPELINE.min(u16::try_from(count).unwrap_or(PIPELINE));
        consume
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| self.error("basic.qos", e))?;
        let mut acker = AckBatch::with_ceiling(count - usize::from(prefetch));
        let mut consumer = consume
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| self.error(&format!("cannot consume {queue:?}"), e))?;
        let mut pending: VecDeque<Pending> = VecDeque::new();
        // Settle at half the prefetch: unsettled + confirmed-but-unacked (< ACK_BATCH) stay
        // below the prefetch, so the broker never stalls waiting for an ack we are holding.
        let settle_at = usize::from(prefetch / 2).max(1);
        let outcome: Result<(), UpstreamError> = async {
            while report.visited < count {
                let delivery = match tokio::time::timeout(IDLE_LIMIT, consumer.next()).await {
                    Ok(Some(Ok(delivery))) => delivery,
                    Ok(Some(Err(e))) => {
                        return Err(self.error(&format!("delivery from {queue:?}"), e));
                    }
                    Ok(None) | Err(_) => break,
                };
                let index = report.visited;
                report.visited += 1;
                let tag = delivery.delivery_tag;
                let entry = match visit(index, &delivery.data, &delivery.properties) {
                    Fate::Keep => {
                        report.kept += 1;
                        let sent = self
                            .start_publish(
                                &publish,
                                String::new(),
                                queue.to_string(),
                                delivery.data,
                                delivery.properties,
                                false,
                            )
                            .await;
                        Pending::Confirm {
                            tag,
                            index,
                            sent,
                            replay: false,
                            message: None,
                        }
                    }
                    Fate::Replay {
                        exchange,
                        routing_key,
                        payload,
                        properties,
                    } => {
                        report.replayed += 1;
                        let sent = self
                            .start_publish(
                                &publish,
                                exchange,
                                routing_key,
                                payload,
                                properties,
                                true,
                            )
                            .await;
                        let original = Some((delivery.data, delivery.properties));
                        Pending::Confirm {
                            tag,
                            index,
                            sent,
                            replay: true,
                            message: original,
                        }
                    }
                    Fate::Discard => {
                        report.discarded += 1;
                        Pending::Done { tag, index }
                    }
                };
                pending.push_back(entry);
                while pending.len() >= settle_at {
                    if let Some(entry) = pending.pop_front() {
                        self.settle(entry, queue, &publish, &consume, &mut acker, &mut report)
                            .await?;
                    }
                }
            }
            // No delivery beyond the original count: stop the consumer before the last acks.
            consume
                .basic_cancel(consumer.tag(), BasicCancelOptions::default())
                .await
                .map_err(|e| self.error(&format!("cannot stop consuming {queue:?}"), e))?;
            acker.lift_ceiling();
            while let Some(entry) = pending.pop_front() {
                self.settle(entry, queue, &publish, &consume, &mut acker, &mut report)
                    .await?;
            }
            acker
                .flush(&consume)
                .await
                .map_err(|e| self.error("basic.ack", e))
        }
        .await;
        // Closing the consuming channel requeues deliveries beyond `count` (our own copies, back
        // at their original place at the head) and anything unsettled after an error.
        let _ = consume.close(200, "pass done".into()).await;
        let _ = publish.close(200, "pass done".into()).await;
        outcome.map(|()| report)
    }
}

/// The URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "(invalid amqp url)".to_string(),
    }
}
