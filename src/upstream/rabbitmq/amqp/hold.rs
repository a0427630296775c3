//! The hold pass: reads a whole DLQ without moving what it keeps, and changes it safely.
//!
//! One exclusive consumer (so the pass fails at once, instead of rotating the queue, when another
//! client consumes it; and keeps others off while it reads) with unlimited prefetch receives the
//! messages the queue held when the pass began, then the ones that arrived meanwhile (until none
//! came for [`ARRIVAL_IDLE`], at most [`ARRIVAL_CAP`] of them), and holds them all unacked. Each
//! message's fate is decided as it arrives: kept messages are never acked, and closing the
//! channel at the end puts them back at their own places (a classic queue requeues by position:
//! order kept; measured 100k requeued in ≈ 0.7 s).
//!
//! What changes is written in two steps, because a RabbitMQ transaction is not atomic across
//! queues when the broker stops mid-commit (measured: a restart during the commit of a pass that
//! replayed 500 and moved 4,500 applied the acks and lost up to 3,779 of the copies):
//! 1. Everything the pass publishes — replays to their origin (`mandatory`), receipts, copies
//!    moved to the DLQ's tail (stamps, or every kept message of a rewriting pass) — goes out on
//!    a second channel in confirm mode; the broker confirms a persistent message once a durable
//!    queue has it. Each replay's receipt follows the replay on that channel, so a receipt the
//!    broker holds proves it took the replay (a cut between them leaves a duplicate, not a
//!    loss). Before its first publish the pass records its id in the DLQ's unsettled
//!    queue ([`unsettled_queue`]); its copies carry that id (`message::MOVED_BY_HEADER`) and its
//!    receipts name it.
//! 2. Only when every confirm is in are the originals' acks committed (`tx.select` on the
//!    consuming channel: acks only, one queue). A replay the broker returned (no queue bound for
//!    its key) is put back at the tail as a copy first.
//!
//! A cut between the two steps (`kill -9` of triage, a dropped connection, a broker restart)
//! leaves the published messages beside their originals, never one without the other. The next
//! pass over the DLQ reads the unsettled queue: a copy marked by an unsettled pass whose content
//! (without stamp and mark) equals a message read before it is dropped, and an original whose
//! receipt an unsettled pass wrote is removed as a leftover (its replay went out). A complete pass
//! with every change committed deletes the unsettled queue. Moved messages are published in the
//! order of their identities (time-ordered: the order triage first saw them), so a block moved to
//! the tail keeps its order, originals first, then the arrivals.

use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt;
use std::collections::HashSet;

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};

use super::publish::InFlight;
use super::receipts::{RETURNED, Receipt};
use super::{Broker, Fate, FaultPoint};
use crate::upstream::UpstreamError;

/// A pass stops waiting for the next original message after this long (someone purged the DLQ).
const IDLE_LIMIT: Duration = Duration::from_secs(5);
/// After the originals, the pass reads arrivals until none came for this long…
pub const ARRIVAL_IDLE: Duration = Duration::from_millis(300);
/// … or for at most this long (a producer that never pauses).
pub const ARRIVAL_WINDOW: Duration = Duration::from_secs(1);
/// … and at most this many.
pub const ARRIVAL_CAP: usize = 10_000;
/// Moves committed per transaction.
const MOVE_CHUNK: usize = 10_000;

/// Why a hold pass could not run.
#[derive(Debug, Clone)]
pub enum HoldError {
    /// Another client consumes the queue: holding it would take messages from that consumer and
    /// an exclusive consume is refused. Browse the head with [`Broker::peek`] instead.
    OtherConsumers { queue: String, message: String },
    /// The pass failed; `report` says what was committed before the failure.
    Failed {
        error: UpstreamError,
        report: Box<HoldReport>,
    },
}

/// What a hold pass did. Indexes are positions in the pass (0 = the DLQ's head).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HoldReport {
    /// Messages received: the originals (at most the depth at the start), then arrivals.
    pub visited: usize,
    /// The depth when the pass began.
    pub depth_at_start: usize,
    /// Messages read after the originals: they reached the DLQ during the pass.
    pub arrivals: usize,
    /// Arrivals kept coming: the pass stopped reading them at [`ARRIVAL_CAP`].
    pub arrivals_cut: bool,
    /// Transactions of acks committed (1 for a pass that changed anything, more for big moves).
    pub commits: usize,
    /// Kept in place.
    pub kept: usize,
    /// Indexes whose change happened: a replay the broker confirmed; a discard or move whose
    /// ack was committed.
    pub committed: Vec<usize>,
    /// Indexes whose change may or may not have happened (a commit or confirm that got no
    /// answer): the next pass tells.
    pub uncertain: Vec<usize>,
    /// Replays the broker returned as unroutable: put back in the DLQ (its tail), not replayed.
    pub unroutable: Vec<usize>,
}

/// A change waiting for its transaction's commit.
struct Change {
    index: usize,
    /// For a replay: the original, to put back if the broker returns the replay.
    original: Option<(Vec<u8>, BasicProperties)>,
    /// A replay: recorded as committed when its confirm arrives, not with the acks.
    replay: bool,
}

impl Broker {
    /// One hold pass over `queue` (see the module doc); `visit(index, payload, properties)`
    /// decides each message's fate. `Fate::Move` publishes the same payload with new properties
    /// to the queue's tail (used to stamp an identity on a message seen for the first time).
    pub async fn hold_pass<F>(&self, queue: &str, visit: F) -> Result<HoldReport, HoldError>
    where
        F: FnMut(usize, &[u8], &BasicProperties) -> Fate,
    {
        self.hold_pass_noting(queue, None, false, visit).await
    }

    /// [`Broker::hold_pass`] that also writes a [`Receipt`] of each replay and discard to
    /// `receipts` (a queue), confirmed before the originals' acks are committed. With `rewrite`,
    /// every message the pass would keep is moved instead (same bytes, to the tail, in order)
    /// and everything read is acked with ONE multiple ack in ONE transaction: the broker looks up
    /// each single ack from the head of the channel's unacknowledged messages, so thousands of
    /// replays spread over a DLQ held whole cost it minutes (measured: 4,500 of 50,000 took
    /// 43 s), while rewriting the DLQ costs one publish per message.
    pub async fn hold_pass_noting<F>(
        &self,
        queue: &str,
        receipts: Option<&str>,
        rewrite: bool,
        mut visit: F,
    ) -> Result<HoldReport, HoldError>
    where
        F: FnMut(usize, &[u8], &BasicProperties) -> Fate,
    {
        let failed = |error, report: &HoldReport| HoldError::Failed {
            error,
            report: Box::new(report.clone()),
        };
        let mut report = HoldReport::default();
        let (count, consumers) = self.counts(queue).await.map_err(|e| failed(e, &report))?;
        let count = count as usize;
        report.depth_at_start = count;
        // The exclusive consume below is refused while another client consumes a classic queue,
        // but a quorum queue (RabbitMQ 3.10) grants it anyway: ask the broker's live count first.
        if consumers > 0 {
            return Err(HoldError::OtherConsumers {
                queue: queue.to_string(),
                message: format!("{consumers} consumer(s) attached"),
            });
        }
        let marked = self.counts(&unsettled_queue(queue)).await.is_ok();
        if count == 0 {
            if marked {
                // Nothing in the DLQ: no copy of an unconfirmed move can be left in it.
                self.clear_unsettled(queue).await;
            }
            return Ok(report);
        }
        if let Some(hook) = self.fault.lock().ok().and_then(|h| h.clone()) {
            hook(FaultPoint::PassStarted);
        }
        let channel = self.channel().await.map_err(|e| failed(e, &report))?;
        let publish = match self.confirming_channel().await {
            Ok(publish) => publish,
            Err(e) => {
                let _ = channel.close(200, "pass not started".into()).await;
                return Err(failed(e, &report));
            }
        };
        let mut sides = Sides {
            consume: &channel,
            publish: &publish,
            queue,
            receipts,
            pass_id: super::super::message::new_stamp(),
            marked: false,
        };
        let outcome = self
            .hold_on(&mut sides, rewrite, count, &mut visit, &mut report)
            .await;
        let resolve = (marked || sides.marked) && outcome.is_ok() && report.visited >= count;
        // Closing the channel puts every message still held back at its place.
        let _ = channel.close(200, "pass done".into()).await;
        let _ = publish.close(200, "pass done".into()).await;
        if resolve {
            // Every message of the DLQ was read and every change committed: the copies of an
            // unconfirmed move (this pass's or an earlier one's) are settled.
            self.clear_unsettled(queue).await;
        }
        match outcome {
            Ok(()) => Ok(report),
            Err(HoldError::Failed { error, .. }) => Err(failed(error, &report)),
            Err(other) => Err(other),
        }
    }

    /// A channel in confirm mode.
    async fn confirming_channel(&self) -> Result<Channel, UpstreamError> {
        let channel = self.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.error("confirm.select", e))?;
        Ok(channel)
    }

    async fn hold_on<F>(
        &self,
        sides: &mut Sides<'_>,
        rewrite: bool,
        count: usize,
        visit: &mut F,
        report: &mut HoldReport,
    ) -> Result<(), HoldError>
    where
        F: FnMut(usize, &[u8], &BasicProperties) -> Fate,
    {
        let channel = sides.consume;
        let queue = sides.queue;
        channel
            .tx_select()
            .await
            .map_err(|e| fail(self.error("tx.select", e)))?;
        channel
            .basic_qos(0, BasicQosOptions::default())
            .await
            .map_err(|e| fail(self.error("basic.qos", e)))?;
        let exclusive = BasicConsumeOptions {
            exclusive: true,
            ..BasicConsumeOptions::default()
        };
        let mut consumer = match channel
            .basic_consume(queue.into(), "".into(), exclusive, FieldTable::default())
            .await
        {
            Ok(consumer) => consumer,
            Err(e) if is_access_refused(&e) => {
                return Err(HoldError::OtherConsumers {
                    queue: queue.to_string(),
                    message: e.to_string(),
                });
            }
            Err(e) => return Err(fail(self.error(&format!("cannot consume {queue:?}"), e))),
        };
        let mut open: Vec<Change> = Vec::new();
        // Moves wait for the end: (identity, payload, properties, change, delivery tag).
        let mut moves: Vec<(String, Vec<u8>, BasicProperties, Change, u64)> = Vec::new();
        let mut originals_read: Option<tokio::time::Instant> = None;
        let mut acks = TxAcks::default();
        // Replays and receipts go out on the confirming channel as they are read; their
        // confirms are awaited together before the acks are committed (awaiting each on its own
        // costs a round trip through lapin's I/O thread per frame). The originals' acks are
        // queued in the consuming channel's transaction and only committed after every confirm.
        let mut writes: Vec<(InFlight<'_>, Option<usize>)> = Vec::new();
        let mut ack_writes: Vec<Pending> = Vec::new();
        let mut last_tag = 0u64;
        loop {
            if report.visited >= count && originals_read.is_none() {
                originals_read = Some(tokio::time::Instant::now());
            }
            let wait = match originals_read {
                None => IDLE_LIMIT,
                Some(at) if report.arrivals < ARRIVAL_CAP && at.elapsed() < ARRIVAL_WINDOW => {
                    ARRIVAL_IDLE.min(ARRIVAL_WINDOW.saturating_sub(at.elapsed()))
                }
                Some(_) => {
                    report.arrivals_cut = true;
                    break;
                }
            };
            let delivery = match tokio::time::timeout(wait, consumer.next()).await {
                Ok(Some(Ok(delivery))) => delivery,
                Ok(Some(Err(e))) => {
                    return Err(fail(self.error(&format!("delivery from {queue:?}"), e)));
                }
                Ok(None) | Err(_) => break,
            };
            if report.visited >= count {
                report.arrivals += 1;
            }
            let index = report.visited;
            report.visited += 1;
            let fate = match visit(index, &delivery.data, &delivery.properties) {
                Fate::Keep if rewrite => Fate::Move {
                    properties: delivery.properties.clone(),
                },
                fate => fate,
            };
            last_tag = last_tag.max(delivery.delivery_tag);
            let identity = || super::super::message::identity(&delivery.data, &delivery.properties);
            let receipt = match (&fate, sides.receipts) {
                (
                    Fate::Replay {
                        properties,
                        identity,
                        ..
                    },
                    Some(queue),
                ) => Some((
                    queue,
                    Receipt {
                        identity: identity.clone(),
                        state: "replayed".to_string(),
                        key: super::super::message::replay_id(properties),
                        pass: None,
                    },
                )),
                (Fate::Discard, Some(queue)) => Some((
                    queue,
                    Receipt {
                        identity: identity(),
                        state: "discarded".to_string(),
                        key: None,
                        pass: None,
                    },
                )),
                _ => None,
            };
            let publishes = receipt.is_some() || matches!(fate, Fate::Replay { .. });
            if publishes && !sides.marked {
                self.mark_unsettled(sides).await?;
            }
            let change = match fate {
                Fate::Keep => {
                    report.kept += 1;
                    // From here on a multiple ack would take this one too.
                    acks.kept = true;
                    continue;
                }
                Fate::Discard | Fate::Drop => Change {
                    index,
                    original: None,
                    replay: false,
                },
                Fate::Move { properties } => {
                    // Acked with its copy's chunk, at the end.
                    let identity = super::super::message::stamp(&properties).unwrap_or_default();
                    let change = Change {
                        index,
                        original: None,
                        replay: false,
                    };
                    moves.push((
                        identity,
                        delivery.data,
                        properties,
                        change,
                        delivery.delivery_tag,
                    ));
                    continue;
                }
                Fate::Replay {
                    exchange,
                    routing_key,
                    payload,
                    properties,
                    ..
                } => {
                    writes.push((
                        self.start_publish(
                            sides.publish,
                            exchange,
                            routing_key,
                            payload,
                            properties,
                            true,
                        ),
                        Some(open.len()),
                    ));
                    Change {
                        index,
                        original: Some((delivery.data, delivery.properties)),
                        replay: true,
                    }
                }
            };
            // A receipt goes out after its replay, on the same channel: the broker takes a
            // channel's publishes in order, so a receipt it holds proves it took the replay
            // before it. A cut between the two (`kill -9`, a dropped connection) leaves a replay
            // without its receipt, which the next pass sends again under the same key: a
            // duplicate at worst. The other way round, a cut left a receipt without its replay,
            // and the next pass removed the original as the leftover of a replay that never
            // went out: a lost dead letter (tests/it/rabbitmq_cut.rs).
            if let Some((receipts, mut receipt)) = receipt {
                receipt.pass = Some(sides.pass_id.clone());
                writes.push((
                    self.start_publish(
                        sides.publish,
                        String::new(),
                        receipts.to_string(),
                        Vec::new(),
                        receipt.properties(),
                        false,
                    ),
                    None,
                ));
            }
            if !rewrite {
                let acking = channel.clone();
                let tag = delivery.delivery_tag;
                ack_writes.push(start(async move {
                    acking
                        .basic_ack(tag, BasicAckOptions { multiple: false })
                        .await
                }));
            }
            open.push(change);
        }
        // Stop deliveries, but keep the consumer (and its exclusivity) until the channel closes:
        // a channel-wide prefetch of 1 while everything read is held means nothing this pass
        // adds to the queue is delivered (anything that is, is held and put back in place at
        // the close). Cancelling instead would let another pass start while this one still
        // holds the originals — and, should this one die, read its copies before the broker put
        // the originals back, taking the copies for the originals.
        let _ = channel.basic_qos(1, BasicQosOptions { global: true }).await;
        let _keep_consuming = consumer;
        let bounced = self.confirmed(writes, &open, report).await?;
        for ack in ack_writes {
            ack.await.map_err(|e| fail(self.error("basic.ack", e)))?;
        }
        // A replay the broker returned (no queue bound for its key) is still dead: its original,
        // acked with the rest, goes back to the tail as a moved copy.
        let mut put_back = Vec::new();
        for position in bounced {
            if let Some((payload, properties)) = open[position].original.take() {
                put_back.push((open[position].index, payload, properties));
            }
        }
        self.put_back(sides, &put_back).await?;
        report
            .unroutable
            .extend(put_back.iter().map(|(index, _, _)| *index));
        let moves = order_stamped_moves(moves, |m| m.0.as_str());
        if rewrite {
            // Nothing was kept: every message read is replayed, discarded or moved. The copies
            // are confirmed, then ONE multiple ack of everything read is committed.
            let copies: Vec<_> = moves
                .into_iter()
                .map(|(_, payload, properties, change, _)| {
                    open.push(change);
                    (payload, properties)
                })
                .collect();
            self.publish_copies(sides, copies).await?;
            if last_tag > 0 {
                channel
                    .basic_ack(last_tag, BasicAckOptions { multiple: true })
                    .await
                    .map_err(|e| fail(self.error("basic.ack", e)))?;
            }
            return self.commit(channel, &mut open, report).await;
        }
        // Moves committed in chunks: each chunk's copies confirmed, then its originals' acks
        // committed (a broker takes several moderate commits faster than one huge one). While
        // nothing was kept and the chunks follow delivery order (a first sight), one multiple
        // ack per chunk; otherwise one ack per original.
        let in_tag_order = moves.windows(2).all(|w| w[0].4 < w[1].4);
        // Out of order, a multiple ack could reach a later chunk's originals: one ack each.
        acks.kept |= !in_tag_order;
        let mut moves = moves.into_iter().peekable();
        while moves.peek().is_some() {
            let chunk: Vec<_> = moves.by_ref().take(MOVE_CHUNK).collect();
            let mut copies = Vec::with_capacity(chunk.len());
            let mut tags = Vec::with_capacity(chunk.len());
            for (_, payload, properties, change, tag) in chunk {
                copies.push((payload, properties));
                tags.push(tag);
                open.push(change);
            }
            self.publish_copies(sides, copies).await?;
            for tag in tags {
                acks.change(channel, tag)
                    .await
                    .map_err(|e| fail(self.error("basic.ack", e)))?;
            }
            acks.flush(channel)
                .await
                .map_err(|e| fail(self.error("basic.ack", e)))?;
            if moves.peek().is_some() {
                self.commit(channel, &mut open, report).await?;
            }
        }
        acks.flush(channel)
            .await
            .map_err(|e| fail(self.error("basic.ack", e)))?;
        self.commit(channel, &mut open, report).await?;
        Ok(())
    }

    /// Awaits the confirms of the replays and receipts published while reading. Returns the
    /// positions (in `open`) of the replays the broker returned as unroutable. A replay the
    /// broker confirmed happened, whatever comes next: it is recorded as committed now (a
    /// failure before the acks' commit leaves its original in the DLQ, removed by the next pass
    /// as a leftover). A refused (nacked) or unanswered publish fails the pass before any ack
    /// is committed.
    async fn confirmed(
        &self,
        writes: Vec<(InFlight<'_>, Option<usize>)>,
        open: &[Change],
        report: &mut HoldReport,
    ) -> Result<Vec<usize>, HoldError> {
        let mut bounced = Vec::new();
        let mut failure = None;
        for (write, replay) in writes {
            let confirmation = match write.await {
                Ok(confirmation) => confirmation,
                Err(e) => {
                    failure.get_or_insert(e);
                    if let Some(position) = replay {
                        report.uncertain.push(open[position].index);
                    }
                    continue;
                }
            };
            match (confirmation, replay) {
                (Confirmation::Nack(_), _) => {
                    failure.get_or_insert_with(|| {
                        self.error("publish", "the broker refused it (nack); nothing was acked")
                    });
                }
                (Confirmation::Ack(Some(_)), Some(position)) => bounced.push(position),
                (_, Some(position)) => report.committed.push(open[position].index),
                (_, None) => {}
            }
        }
        match failure {
            Some(error) => Err(fail(error)),
            None => Ok(bounced),
        }
    }

    /// Puts the originals of returned replays back at the DLQ's tail (as moved copies) with a
    /// receipt saying they came back, confirmed before the acks are committed.
    async fn put_back(
        &self,
        sides: &mut Sides<'_>,
        put_back: &[(usize, Vec<u8>, BasicProperties)],
    ) -> Result<(), HoldError> {
        if put_back.is_empty() {
            return Ok(());
        }
        let copies = put_back
            .iter()
            .map(|(_, payload, properties)| (payload.clone(), properties.clone()))
            .collect();
        self.publish_copies(sides, copies).await?;
        if let Some(receipts) = sides.receipts {
            let mut writes = Vec::new();
            for (_, payload, properties) in put_back {
                let receipt = Receipt {
                    identity: super::super::message::identity(payload, properties),
                    state: RETURNED.to_string(),
                    key: None,
                    pass: Some(sides.pass_id.clone()),
                };
                writes.push(self.start_publish(
                    sides.publish,
                    String::new(),
                    receipts.to_string(),
                    Vec::new(),
                    receipt.properties(),
                    false,
                ));
            }
            for write in writes {
                match write.await.map_err(fail)? {
                    Confirmation::Nack(_) => {
                        return Err(fail(
                            self.error("publish a receipt", "the broker refused it"),
                        ));
                    }
                    _ => continue,
                }
            }
        }
        Ok(())
    }

    /// Publishes `copies` to the DLQ's tail, each marked with this pass, and waits for every
    /// confirm. The first copies of a pass are preceded by the pass's entry in the DLQ's
    /// unsettled queue (see [`unsettled_queue`]).
    async fn publish_copies(
        &self,
        sides: &mut Sides<'_>,
        copies: Vec<(Vec<u8>, BasicProperties)>,
    ) -> Result<(), HoldError> {
        if copies.is_empty() {
            return Ok(());
        }
        if !sides.marked {
            self.mark_unsettled(sides).await?;
        }
        let mut writes = Vec::with_capacity(copies.len());
        for (payload, properties) in copies {
            writes.push(self.start_publish(
                sides.publish,
                String::new(),
                sides.queue.to_string(),
                payload,
                super::super::message::moved_copy(&properties, &sides.pass_id),
                false,
            ));
        }
        for write in writes {
            match write.await.map_err(fail)? {
                Confirmation::Nack(_) => {
                    return Err(fail(self.error(
                        "publish a copy to the DLQ tail",
                        "the broker refused it (nack); nothing was acked",
                    )));
                }
                Confirmation::Ack(Some(_)) => {
                    return Err(fail(self.error(
                        "publish a copy to the DLQ tail",
                        "returned as unroutable; nothing was acked",
                    )));
                }
                _ => continue,
            }
        }
        Ok(())
    }

    /// Records this pass in the DLQ's unsettled queue before its first publish: until the pass's
    /// acks are committed, its copies may stand beside their originals and its replays' originals
    /// may still be in the DLQ; the next pass that finds the entry drops such copies and removes
    /// such originals (by their receipts). Without the queue (no configure permission) a pass
    /// still works; a failure between its publishes and its acks then leaves duplicates, never a
    /// loss.
    async fn mark_unsettled(&self, sides: &mut Sides<'_>) -> Result<(), HoldError> {
        sides.marked = true;
        let name = unsettled_queue(sides.queue);
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(
                i64::try_from(UNSETTLED_EXPIRES.as_millis()).unwrap_or(i64::MAX),
            ),
        );
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let declared = match self.channel().await {
            Ok(channel) => {
                let declared = channel
                    .queue_declare(name.as_str().into(), options, arguments)
                    .await;
                let _ = channel.close(200, "ok".into()).await;
                declared.map(|_| ()).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = declared {
            tracing::warn!("{}: no unsettled queue {name}: {e}", self.upstream);
            return Ok(());
        }
        let entry = self.start_publish(
            sides.publish,
            String::new(),
            name,
            sides.pass_id.clone().into_bytes(),
            BasicProperties::default().with_delivery_mode(2),
            false,
        );
        match entry.await.map_err(fail)? {
            Confirmation::Nack(_) => Err(fail(self.error(
                "record the pass in the unsettled queue",
                "the broker refused it; nothing was moved",
            ))),
            _ => Ok(()),
        }
    }

    /// The passes recorded in `dlq`'s unsettled queue: passes whose acks may not have been
    /// committed after their copies, replays and receipts were published. Empty when none.
    pub async fn unsettled_passes(&self, dlq: &str) -> HashSet<String> {
        let name = unsettled_queue(dlq);
        if self.counts(&name).await.is_err() {
            return HashSet::new();
        }
        match self.peek(&name, UNSETTLED_READ).await {
            Ok(entries) => entries
                .into_iter()
                .map(|(payload, _)| String::from_utf8_lossy(&payload).into_owned())
                .collect(),
            Err(e) => {
                tracing::warn!("{}: cannot read {name}: {e}", self.upstream);
                HashSet::new()
            }
        }
    }

    /// Deletes `dlq`'s unsettled queue (every pass it recorded is settled).
    async fn clear_unsettled(&self, dlq: &str) {
        if let Ok(channel) = self.channel().await {
            let _ = channel
                .queue_delete(
                    unsettled_queue(dlq).as_str().into(),
                    QueueDeleteOptions::default(),
                )
                .await;
            let _ = channel.close(200, "ok".into()).await;
        }
    }

    /// Commits the open transaction of acks; records what it held as committed (or uncertain
    /// when the commit got no answer). Replays were recorded when their confirms arrived.
    async fn commit(
        &self,
        channel: &Channel,
        open: &mut Vec<Change>,
        report: &mut HoldReport,
    ) -> Result<(), HoldError> {
        if open.is_empty() {
            return Ok(());
        }
        let hook = self.fault.lock().ok().and_then(|h| h.clone());
        if hook.is_some_and(|hook| hook(FaultPoint::BeforeCommit)) {
            self.drop_connection().await;
            open.clear();
            return Err(HoldError::Failed {
                error: self.error("pass interrupted", "connection dropped before tx.commit"),
                report: Box::default(),
            });
        }
        let changes = std::mem::take(open);
        if let Err(e) = channel.tx_commit().await {
            report.uncertain.extend(
                changes
                    .iter()
                    .filter(|c| !c.replay && !report.unroutable.contains(&c.index))
                    .map(|c| c.index),
            );
            return Err(HoldError::Failed {
                error: self.error("tx.commit", e),
                report: Box::default(),
            });
        }
        report.commits += 1;
        let settled: Vec<usize> = changes
            .iter()
            .filter(|c| !c.replay && !report.unroutable.contains(&c.index))
            .map(|c| c.index)
            .collect();
        report.committed.extend(settled);
        Ok(())
    }
}

/// The queue where passes over `dlq` record themselves while what they published may stand
/// beside originals not yet acked (`<dlq>.triage-unsettled`, durable; it expires when unused for
/// a week).
pub fn unsettled_queue(dlq: &str) -> String {
    format!("{dlq}.triage-unsettled")
}

/// A unsettled queue unused this long is dropped by the broker.
const UNSETTLED_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);
/// Entries read from a unsettled queue (one per unconfirmed pass; more means passes kept failing).
const UNSETTLED_READ: usize = 1000;

/// The two channels of a pass and what it writes to.
struct Sides<'a> {
    /// Consumes the DLQ; its acks are committed in transactions.
    consume: &'a Channel,
    /// Publishes replays, receipts and copies, with confirms.
    publish: &'a Channel,
    queue: &'a str,
    receipts: Option<&'a str>,
    /// Marks this pass's copies (`message::MOVED_BY_HEADER`).
    pass_id: String,
    /// This pass is recorded in the unsettled queue (or tried to be).
    marked: bool,
}

fn fail(error: UpstreamError) -> HoldError {
    HoldError::Failed {
        error,
        report: Box::default(),
    }
}

/// A channel operation whose frame is queued now (first poll, no waker) and whose completion is
/// awaited later.
type Pending = Pin<Box<dyn Future<Output = Result<(), lapin::Error>> + Send>>;

fn start(operation: impl Future<Output = Result<(), lapin::Error>> + Send + 'static) -> Pending {
    let mut future: Pending = Box::pin(operation);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => Box::pin(std::future::ready(result)),
        std::task::Poll::Pending => future,
    }
}

/// The moves with the stamped ones in identity order among the places they hold (unstamped ones,
/// `key` empty, stay where they were read). Stamps are time-ordered, so a block a crashed pass
/// moved in part — its moved copies now at the tail, the rest still before them — is published
/// back in the order the messages had when they were first stamped.
fn order_stamped_moves<T>(moves: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let (stamped, places): (Vec<_>, Vec<_>) = moves
        .into_iter()
        .map(|m| match key(&m).is_empty() {
            true => (None, Some(m)),
            false => (Some(m), None),
        })
        .unzip();
    let mut stamped: Vec<T> = stamped.into_iter().flatten().collect();
    stamped.sort_by(|a, b| key(a).cmp(key(b)));
    let mut stamped = stamped.into_iter();
    places
        .into_iter()
        .filter_map(|place| place.or_else(|| stamped.next()))
        .collect()
}

/// True when the broker refused an exclusive consume (another consumer is attached).
fn is_access_refused(error: &lapin::Error) -> bool {
    let text = error.to_string();
    text.contains("ACCESS_REFUSED") || text.contains("exclusive")
}

/// Acks of the moves inside a pass's transactions: while no message was kept and the moves
/// follow delivery order (a first sight), a chunk's originals are acked with ONE multiple ack on
/// its last tag (100k ack frames saved); otherwise one ack each. Replays and discards are acked
/// one by one as they are read, so a multiple ack never reaches past its own chunk.
#[derive(Default)]
struct TxAcks {
    deferred: Option<u64>,
    kept: bool,
}

impl TxAcks {
    async fn change(&mut self, channel: &Channel, tag: u64) -> Result<(), lapin::Error> {
        if self.kept {
            return channel
                .basic_ack(tag, BasicAckOptions { multiple: false })
                .await;
        }
        self.deferred = Some(tag);
        Ok(())
    }

    async fn flush(&mut self, channel: &Channel) -> Result<(), lapin::Error> {
        match self.deferred.take() {
            Some(tag) => {
                channel
                    .basic_ack(tag, BasicAckOptions { multiple: true })
                    .await
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::order_stamped_moves;

    #[test]
    fn stamped_moves_are_sorted_among_their_places_and_the_rest_stay() {
        let moves = vec!["", "03", "", "01", "02", ""];
        let tagged: Vec<(usize, &str)> = moves.into_iter().enumerate().collect();
        let ordered = order_stamped_moves(tagged, |m| m.1);
        let places: Vec<usize> = ordered.iter().map(|m| m.0).collect();
        assert_eq!(places, vec![0, 3, 2, 4, 1, 5]);
        assert!(order_stamped_moves(Vec::<(usize, &str)>::new(), |m| m.1).is_empty());
    }
}
