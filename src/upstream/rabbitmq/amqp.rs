//! AMQP 0-9-1 side of the RabbitMQ adapter (lapin on tokio): one cached connection (`amqp://`,
//! or `amqps://` over rustls trusting the system roots plus an optional `ca_file`; every connect
//! bounded by the upstream's timeout), the get-and-requeue peek for small windows, and the single
//! cycling pass over a DLQ that serves full browsing, selective replay/discard and bulk replay
//! without holding thousands unacked.
//!
//! The pass: consume with manual ack up to the count the queue had when the pass began; for each
//! message publish either a copy to the DLQ's tail (kept) or the replay to its origin, with
//! publisher confirms pipelined (see `publish`); ack each delivery only after its confirm.
//! Messages that arrive meanwhile sit after the original ones and are not touched. A drop at any
//! point leaves at most a duplicate (same payload, headers and `x-triage-replay-id`), never a loss.

mod hold;
mod publish;
mod receipts;

pub use hold::{HoldError, HoldReport, unsettled_queue};
pub use receipts::{Receipt, receipts_queue, settled};

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::tcp::{AMQPUriTcpExt, OwnedTLSConfig};
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{AsyncTcpStream, BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::ack_batch::AckBatch;
use crate::upstream::UpstreamError;
use crate::upstream::tls::TrustedCa;
use publish::Pending;

/// Deliveries in flight (prefetch) and publishes awaiting confirms during a cycling pass when
/// the size of the queue's messages is not known.
const PIPELINE: u16 = 1000;
/// What a cycling pass lets the broker push ahead of it, in bytes: the prefetch is sized from
/// the queue's average message ([`prefetch_for`]), so small messages flow in long runs and
/// large ones never fill the client's memory.
const PREFETCH_BUDGET: u64 = 64 << 20;
/// Allowance per message beyond its body (properties, frames, the pass's own bookkeeping).
const MESSAGE_OVERHEAD: u64 = 512;
/// Bounds of the sized prefetch. Above ≈ 5,000 a redrive of small messages gains nothing more
/// (measured against 1,000: +8 % msg/s, docs/PERFORMANCE.md "RabbitMQ redrive").
const PIPELINE_MIN: u16 = 16;
const PIPELINE_MAX: u16 = 5000;

/// The prefetch of a cycling pass over a queue whose messages' bodies average `average_body`
/// bytes (`None`: unknown, the former fixed [`PIPELINE`]).
pub fn prefetch_for(average_body: Option<u64>) -> u16 {
    match average_body {
        None => PIPELINE,
        Some(body) => {
            let fits = PREFETCH_BUDGET / body.saturating_add(MESSAGE_OVERHEAD);
            u16::try_from(fits)
                .unwrap_or(PIPELINE_MAX)
                .clamp(PIPELINE_MIN, PIPELINE_MAX)
        }
    }
}
/// A pass stops when no delivery arrives for this long (someone else drained the queue).
const IDLE_LIMIT: Duration = Duration::from_secs(5);
/// Longest wait for a peek's requeued messages to be back in the queue.
const REQUEUE_WAIT: Duration = Duration::from_secs(30);

/// Where a fault may be injected (tests): returning true from the hook drops the connection there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// The broker confirmed the publish; the DLQ copy is not acked yet.
    AfterConfirmBeforeAck,
    /// A hold pass is about to commit a transaction of changes.
    BeforeCommit,
    /// A hold pass starts reading a queue (counted by tests; returning true changes nothing).
    PassStarted,
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
        /// The original's identity (`message::identity` of what was read), named in the
        /// replay's receipt: the visitor has computed it already, and a content identity costs
        /// a hash of the whole message.
        identity: String,
    },
    /// Acked without republishing (a receipt says it was discarded).
    Discard,
    /// Acked without republishing or a receipt: a copy of a message read earlier in the pass,
    /// left by a move whose acks may not have been committed.
    Drop,
    /// The same payload with these properties goes to the queue's tail; the original is acked
    /// (a hold pass stamps an identity on a message this way).
    Move { properties: BasicProperties },
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

/// How long [`Broker::new`] lets one connect (TCP, TLS handshake and AMQP open) take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The socket of a connection being opened, as a duplicate handle, while its opener waits.
struct PendingSocket {
    /// False once the opener stopped waiting (done or timed out).
    waiting: bool,
    socket: Option<std::net::TcpStream>,
}

/// One AMQP endpoint and its cached connection.
pub struct Broker {
    upstream: String,
    url: String,
    /// Extra CAs for `amqps://` (system roots only when `None`); ignored for `amqp://`.
    trusted_ca: Option<TrustedCa>,
    /// Bound on one connect: TCP, TLS handshake and AMQP open together.
    connect_timeout: Duration,
    connection: Mutex<Option<Connection>>,
    fault: std::sync::Mutex<Option<FaultHook>>,
}

impl Broker {
    /// A broker at `url` (`amqp://`, or `amqps://` trusting the system roots); one connect may
    /// take [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new(upstream: &str, url: &str) -> Self {
        Broker {
            upstream: upstream.to_string(),
            url: url.to_string(),
            trusted_ca: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            connection: Mutex::new(None),
            fault: std::sync::Mutex::new(None),
        }
    }

    /// The same broker, giving up on a connect (TCP, TLS handshake, AMQP open) after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same broker, trusting `ca` for `amqps://` in addition to the system roots.
    pub fn trusting(mut self, ca: TrustedCa) -> Self {
        self.trusted_ca = Some(ca);
        self
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
            *slot = Some(self.connect().await?);
        }
        let connection = slot
            .as_ref()
            .ok_or_else(|| self.error("AMQP connection", "missing"))?;
        connection
            .create_channel()
            .await
            .map_err(|e| self.error("cannot open an AMQP channel", e))
    }

    /// Opens a connection, bounded by the configured timeout; TLS failures say so.
    ///
    /// lapin opens the transport on its own I/O thread, which dropping the connect future does
    /// not stop: so TCP connect + TLS handshake get the timeout inside that thread, and a stalled
    /// AMQP open is cut by shutting the socket down (through a duplicate handle kept while the
    /// open is pending), so a silent peer leaks neither a thread nor a socket.
    async fn connect(&self) -> Result<Connection, UpstreamError> {
        let tls = self.url.starts_with("amqps:");
        let uri: AMQPUri = self
            .url
            .parse()
            .map_err(|e: String| self.error("amqp_url is not a valid AMQP URI", e))?;
        let config = OwnedTLSConfig {
            identity: None,
            cert_chain: self.trusted_ca.as_ref().map(|ca| ca.pem().to_string()),
        };
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| self.error("no async runtime for the AMQP connection", e))?;
        let timeout = self.connect_timeout;
        let pending = Arc::new(std::sync::Mutex::new(PendingSocket {
            waiting: true,
            socket: None,
        }));
        let watch = Arc::clone(&pending);
        // Said the same way whichever timeout fires first (this one, inside lapin's thread, or
        // the one around the whole open below).
        let late = move |what: &str| {
            format!(
                "{what} did not finish within the timeout of {}",
                humantime::format_duration(timeout)
            )
        };
        let transport_late = late(if tls {
            "TCP connect and TLS handshake"
        } else {
            "TCP connect"
        });
        let transport = async move |uri: AMQPUri, runtime: async_rs::TokioRuntime| {
            let stream = tokio::time::timeout(
                timeout,
                uri.connect_with_config_async(config.as_ref(), &runtime),
            )
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, transport_late.clone()))??;
            // Other TLS backends are not built in; their sockets would simply not be watched.
            let tcp = match &stream {
                AsyncTcpStream::Plain(plain) => Some(plain.get_ref()),
                AsyncTcpStream::Rustls(tls) => Some(tls.get_ref().0.get_ref()),
                _ => None,
            };
            let mut slot = watch
                .lock()
                .map_err(|_| io::Error::other("AMQP connect watch poisoned"))?;
            if !slot.waiting {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connect given up").into());
            }
            slot.socket = tcp
                .and_then(|tcp| tcp.as_fd().try_clone_to_owned().ok())
                .map(std::net::TcpStream::from);
            Ok(stream)
        };
        let opening =
            Connection::connector(uri, runtime, transport, ConnectionProperties::default());
        let outcome = tokio::time::timeout(timeout, opening).await;
        // Done waiting. The duplicate handle goes either way (kept, it would hold the socket open
        // after lapin closes it); after a timeout it first cuts the stalled open.
        let socket = pending.lock().ok().and_then(|mut slot| {
            slot.waiting = false;
            slot.socket.take()
        });
        if let (Err(_), Some(socket)) = (&outcome, &socket) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
        drop(socket);
        match outcome {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(e)) if tls && is_tls_failure(&e) => {
                let trust = match &self.trusted_ca {
                    Some(ca) => format!("the system roots and ca_file {}", ca.path().display()),
                    None => "the system roots only (set ca_file for a private CA)".to_string(),
                };
                Err(self.error(
                    &format!(
                        "TLS handshake failed (trusting {trust}; is this port the broker's amqps \
                         listener?)"
                    ),
                    e,
                ))
            }
            Ok(Err(e)) if e.to_string().contains("did not finish within") => {
                Err(self.error("cannot open the AMQP connection", e))
            }
            Ok(Err(e)) => Err(self.error(
                "cannot open the AMQP connection (check amqp_url, username and password)",
                e,
            )),
            Err(_) => Err(self.error(
                "cannot open the AMQP connection",
                late(if tls {
                    "TCP connect, TLS handshake and AMQP open"
                } else {
                    "TCP connect and AMQP open"
                }),
            )),
        }
    }

    pub(super) async fn drop_connection(&self) {
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
        Ok(self.counts(queue).await?.0)
    }

    /// Like [`Broker::counts`], but `None` only when the broker answered that `queue` does not
    /// exist (404): a broker that cannot be reached, or any other refusal, is an error — never
    /// read as "no such queue".
    pub async fn counts_if_exists(&self, queue: &str) -> Result<Option<(u32, u32)>, UpstreamError> {
        let channel = self.channel().await?;
        let options = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = channel
            .queue_declare(queue.into(), options, FieldTable::default())
            .await;
        let _ = channel.close(200, "ok".into()).await;
        match declared {
            Ok(declared) => Ok(Some((declared.message_count(), declared.consumer_count()))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(&format!("queue {queue:?} cannot be inspected"), e)),
        }
    }

    /// Ready messages and consumers of `queue` now, as the broker counts them (passive declare:
    /// live, unlike the management API's statistics); an error when it does not exist.
    pub async fn counts(&self, queue: &str) -> Result<(u32, u32), UpstreamError> {
        self.counts_if_exists(queue).await?.ok_or_else(|| {
            self.error(
                &format!("queue {queue:?} cannot be inspected"),
                "NOT_FOUND: no such queue",
            )
        })
    }

    /// The first `limit` messages, read with `basic.get` without ack and put back in place by
    /// closing the channel. Works while another client consumes the queue (it may take some of
    /// them meanwhile, as it would anyway).
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
        // Closing the channel requeues what it holds at the same places (a multiple nack after
        // basic.get is the slow way: minutes for 50k).
        let _ = channel.close(200, "ok".into()).await;
        result?;
        // The broker requeues asynchronously; wait so the next count or pass sees every message
        // (while the count still rises: another consumer may be taking them meanwhile).
        let deadline = tokio::time::Instant::now() + REQUEUE_WAIT;
        let mut last = 0;
        loop {
            let now = self.message_count(queue).await?;
            if now >= depth || tokio::time::Instant::now() >= deadline || (now <= last && last > 0)
            {
                break;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(messages)
    }

    /// One cycling pass over `queue` (see the module doc); `visit(index, payload, properties)`
    /// decides each message's fate. `average_body`: the queue's bytes per message as the
    /// broker counts them, which sizes the prefetch ([`prefetch_for`]). Returns what was done.
    pub async fn cycle<F>(
        &self,
        queue: &str,
        average_body: Option<u64>,
        mut visit: F,
    ) -> Result<PassReport, UpstreamError>
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
        let pipeline = prefetch_for(average_body);
        let prefetch = pipeline.min(u16::try_from(count).unwrap_or(pipeline));
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
                let fate = visit(index, &delivery.data, &delivery.properties);
                let entry = match fate {
                    Fate::Keep | Fate::Move { .. } => {
                        report.kept += 1;
                        let properties = match fate {
                            Fate::Move { properties } => properties,
                            _ => delivery.properties,
                        };
                        let sent = self.start_publish(
                            &publish,
                            String::new(),
                            queue.to_string(),
                            delivery.data,
                            properties,
                            false,
                        );
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
                        ..
                    } => {
                        report.replayed += 1;
                        let sent = self.start_publish(
                            &publish,
                            exchange,
                            routing_key,
                            payload,
                            properties,
                            true,
                        );
                        let original = Some((delivery.data, delivery.properties));
                        Pending::Confirm {
                            tag,
                            index,
                            sent,
                            replay: true,
                            message: original,
                        }
                    }
                    Fate::Discard | Fate::Drop => {
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

/// True when the connect failed inside TLS (certificate, handshake, non-TLS peer): rustls
/// reports those as an I/O error carrying a `rustls::Error`; tcp-stream reports a CA it cannot
/// use as `InvalidData`.
fn is_tls_failure(error: &lapin::Error) -> bool {
    match error.kind() {
        lapin::ErrorKind::IOError(io) => {
            io.get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
                || io.kind() == std::io::ErrorKind::InvalidData
        }
        _ => false,
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

/// Whether the broker refused because the queue (or exchange) does not exist (AMQP 404).
fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(amqp) if amqp.get_id() == 404)
}

#[cfg(test)]
mod prefetch_tests {
    use super::*;

    #[test]
    fn the_prefetch_follows_the_size_of_the_queue_s_messages() {
        assert_eq!(
            prefetch_for(None),
            PIPELINE,
            "unknown size: the former default"
        );
        assert_eq!(
            prefetch_for(Some(126)),
            PIPELINE_MAX,
            "small messages: long runs"
        );
        assert_eq!(prefetch_for(Some(0)), PIPELINE_MAX);
        // 512 KiB bodies: 64 MiB / (512 KiB + overhead) = 127 in flight, not 1,000 (500 MiB).
        assert_eq!(prefetch_for(Some(512 * 1024)), 127);
        assert_eq!(
            prefetch_for(Some(64 << 20)),
            PIPELINE_MIN,
            "huge: still a few"
        );
        assert_eq!(prefetch_for(Some(u64::MAX)), PIPELINE_MIN, "a lying broker");
    }
}
