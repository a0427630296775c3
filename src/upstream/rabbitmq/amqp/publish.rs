//! The publishing half of a cycling pass: publishes are started in pass order (frames queued at
//! once, the socket write and the broker's confirm awaited later), and settled in order: confirm
//! checked, unroutable replays kept at the DLQ tail, then the delivery queued for a batched ack.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Channel, Confirmation, PublisherConfirm};

use super::super::ack_batch::AckBatch;
use super::{Broker, FaultPoint, PassReport};
use crate::upstream::UpstreamError;

/// A publish whose frames are queued; its write and the broker's confirm are awaited on settling.
pub(super) type InFlight<'a> =
    Pin<Box<dyn Future<Output = Result<Confirmation, UpstreamError>> + Send + 'a>>;

#[allow(clippy::large_enum_variant)]
pub(super) enum Pending<'a> {
    Confirm {
        tag: u64,
        index: usize,
        sent: InFlight<'a>,
        replay: bool,
        message: Option<(Vec<u8>, BasicProperties)>,
    },
    Done {
        tag: u64,
        index: usize,
    },
}

impl Broker {
    /// Starts a publish: polled once here, so its frames are queued now and publishes leave in
    /// call order; the socket write and the broker's confirm are awaited when it is settled.
    pub(super) fn start_publish<'a>(
        &'a self,
        channel: &Channel,
        exchange: String,
        routing_key: String,
        payload: Vec<u8>,
        properties: BasicProperties,
        mandatory: bool,
    ) -> InFlight<'a> {
        let channel = channel.clone();
        let mut future: InFlight<'a> = Box::pin(async move {
            let confirm = self
                .publish(
                    &channel,
                    &exchange,
                    &routing_key,
                    &payload,
                    properties,
                    mandatory,
                )
                .await?;
            confirm
                .await
                .map_err(|e| self.error("publisher confirm", e))
        });
        // Polled with a no-op waker: the pass awaits (and registers its waker) only when it
        // settles this publish, so the frames' write completing does not wake the pass for
        // nothing once per message (measured: ≈ 5 % less client CPU in a bulk redrive).
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(result) => Box::pin(std::future::ready(result)),
            Poll::Pending => future,
        }
    }

    pub(super) async fn publish(
        &self,
        channel: &Channel,
        exchange: &str,
        routing_key: &str,
        payload: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<PublisherConfirm, UpstreamError> {
        let options = BasicPublishOptions {
            mandatory,
            ..BasicPublishOptions::default()
        };
        channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                options,
                payload,
                properties,
            )
            .await
            .map_err(|e| {
                self.error(
                    &format!("publish to exchange {exchange:?} key {routing_key:?}"),
                    e,
                )
            })
    }

    /// Waits for one publish's confirm, then (after the fault hook) queues its ack.
    pub(super) async fn settle(
        &self,
        entry: Pending<'_>,
        queue: &str,
        publish: &Channel,
        consume: &Channel,
        acker: &mut AckBatch,
        report: &mut PassReport,
    ) -> Result<(), UpstreamError> {
        let (tag, index) = match entry {
            Pending::Done { tag, index } => (tag, index),
            Pending::Confirm {
                tag,
                index,
                sent,
                replay,
                message,
            } => {
                let confirmation = sent.await?;
                match confirmation {
                    Confirmation::Ack(None) | Confirmation::NotRequested => {}
                    Confirmation::Ack(Some(_)) if replay => {
                        // Unroutable replay: the message is still dead; keep it (at the tail).
                        report.unroutable.push(index);
                        report.replayed -= 1;
                        report.kept += 1;
                        let (payload, properties) = message.unwrap_or_default();
                        let again = self
                            .publish(publish, "", queue, &payload, properties, false)
                            .await?;
                        let confirmed = again
                            .await
                            .map_err(|e| self.error("publisher confirm", e))?;
                        if let Confirmation::Nack(_) = confirmed {
                            return Err(
                                self.error("publish to the DLQ tail", "the broker refused it")
                            );
                        }
                    }
                    Confirmation::Ack(Some(_)) => {
                        return Err(self.error("publish to the DLQ tail", "returned as unroutable"));
                    }
                    Confirmation::Nack(_) => {
                        return Err(self
                            .error("publish", "the broker refused it (nack); nothing was acked"));
                    }
                }
                (tag, index)
            }
        };
        let hook = self.fault.lock().ok().and_then(|h| h.clone());
        if hook.is_some_and(|hook| hook(FaultPoint::AfterConfirmBeforeAck)) {
            self.drop_connection().await;
            return Err(self.error(
                "pass interrupted",
                "connection dropped between confirm and ack (fault hook)",
            ));
        }
        acker.confirmed(tag, index);
        if acker.due() {
            acker
                .flush(consume)
                .await
                .map_err(|e| self.error("basic.ack", e))?;
        }
        Ok(())
    }
}
