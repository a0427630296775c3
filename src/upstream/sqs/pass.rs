//! One browse pass over a DLQ without losing or hiding: receive 10 at a time — up to
//! [`RECEIVES_AT_ONCE`] receives in flight while the DLQ's visible depth says more are there —
//! with a visibility timeout of [`VISIBILITY`] (the longest a crash of triage could hide a
//! message), until a round of receives comes back empty — confirmed by one 1 s long poll, since a
//! short poll of a standard queue samples only some servers —, the pass's time or count bound is reached, or every target
//! of an action was found; then every received message is made visible again at once
//! (`ChangeMessageVisibilityBatch` 0, 10 per call, 8 calls at a time), except those the caller
//! keeps to act on (it releases them after acting).
//!
//! Messages must stay hidden while the pass runs: a message made visible again at once would be
//! returned by the next receive, and the pass would never get past the first ten. So a message is
//! hidden from other consumers for the length of one pass (≈ 1 s per 1,000 messages on loopback),
//! never longer than [`VISIBILITY`].
//!
//! A pass is *complete* when it ended on an empty receive and the DLQ had nothing in flight
//! (another consumer's messages are invisible to it) or delayed, and it saw at least as many
//! messages as the DLQ held: only a complete pass may conclude that a letter is gone. FIFO DLQs
//! hand out at most what one group allows while earlier messages of that group are in flight, so
//! a pass over a FIFO DLQ sees the first messages of each group (up to 10 per receive) and is
//! complete only when that is everything.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use futures::StreamExt;

use super::Sqs;
use super::client::upstream_error;
use super::message::{Received, wanted_system_attributes};
use crate::upstream::UpstreamError;

/// Visibility timeout of a browse receive: the bound on how long a crash mid-pass hides a
/// message. A receipt handle older than half of it is not trusted for a delete.
pub const VISIBILITY: Duration = Duration::from_secs(60);
/// Longest a pass keeps receiving.
pub const PASS_TIME: Duration = Duration::from_secs(20);
/// Most messages one pass reads.
pub const PASS_MESSAGES: usize = 10_000;
/// Change-visibility / delete / send calls in flight at once.
pub const CALLS_AT_ONCE: usize = 8;
/// Receives of one pass in flight at once while the DLQ still gives messages (fewer when its
/// visible depth needs fewer).
pub const RECEIVES_AT_ONCE: usize = 4;

/// What a pass saw of one DLQ.
#[derive(Debug, Default)]
pub struct Pass {
    /// Distinct messages, in the order first received (newest receipt handle of each).
    pub messages: Vec<Received>,
    pub complete: bool,
}

/// The DLQ's counts before a pass: visible, in flight, delayed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Depth {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

impl Sqs {
    /// Receives `url`'s messages (see the module doc). With `targets`, stops as soon as each
    /// named MessageId was received. Nothing is released here: call [`Sqs::release`].
    pub(super) async fn receive_pass(
        &self,
        url: &str,
        depth: Depth,
        targets: Option<&HashSet<String>>,
    ) -> Result<Pass, UpstreamError> {
        let mut left: HashSet<String> = targets.cloned().unwrap_or_default();
        if targets.is_some() && left.is_empty() {
            return Ok(Pass::default());
        }
        let wanted = targets.is_some();
        self.receive_until(url, depth, &mut |message: &Received| {
            left.remove(&message.message_id);
            wanted && left.is_empty()
        })
        .await
    }

    /// Receives `url`'s messages like [`Sqs::receive_pass`], calling `enough` with each message
    /// the first time it is received; stops as soon as it answers true.
    pub(super) async fn receive_until(
        &self,
        url: &str,
        depth: Depth,
        enough: &mut (dyn FnMut(&Received) -> bool + Send),
    ) -> Result<Pass, UpstreamError> {
        let client = self.client().await?;
        let started = Instant::now();
        let visibility = i32::try_from(self.visibility.as_secs())
            .unwrap_or(60)
            .max(1);
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut pass = Pass::default();
        let mut ended_empty = false;
        let mut long_polled = false;
        let mut error = None;
        let mut satisfied = false;
        loop {
            // Never longer than half the visibility: the first handles stay hidden and trusted.
            let bound = self.pass_time.min(self.visibility / 2);
            if started.elapsed() > bound || pass.messages.len() >= PASS_MESSAGES {
                break;
            }
            if satisfied {
                break;
            }
            // Several receives at once while the queue gives messages (each hides what it got,
            // so they get different ones); one long poll alone to confirm the end.
            let lanes = if long_polled {
                1
            } else {
                let left = PASS_MESSAGES - pass.messages.len();
                let wanted = depth.visible.saturating_sub(pass.messages.len() as u64);
                RECEIVES_AT_ONCE.min(left.div_ceil(10)).min(
                    usize::try_from(wanted.div_ceil(10))
                        .unwrap_or(usize::MAX)
                        .max(1),
                )
            };
            let receive = || {
                client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(10)
                    .visibility_timeout(visibility)
                    .wait_time_seconds(i32::from(long_polled))
                    .set_message_system_attribute_names(Some(wanted_system_attributes()))
                    .message_attribute_names("All")
                    .send()
            };
            let answers = futures::future::join_all((0..lanes).map(|_| receive())).await;
            let received_at = Instant::now();
            let known = pass.messages.len();
            let mut got_any = false;
            for answer in answers {
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(e) => {
                        error = Some(upstream_error(&self.id, url, "ReceiveMessage", e));
                        continue;
                    }
                };
                let messages = answer.messages();
                got_any |= !messages.is_empty();
                for message in messages {
                    let Some(received) = Received::from_sdk(message, received_at) else {
                        continue;
                    };
                    match by_id.get(&received.message_id) {
                        // A second copy (standard queues deliver at least once): keep the newest
                        // handle, the only one a delete is sure to honour.
                        Some(&index) => pass.messages[index] = received,
                        None => {
                            satisfied |= enough(&received);
                            by_id.insert(received.message_id.clone(), pass.messages.len());
                            pass.messages.push(received);
                        }
                    }
                }
            }
            if error.is_some() {
                break;
            }
            if !got_any {
                if long_polled {
                    ended_empty = true;
                    break;
                }
                long_polled = true;
                continue;
            }
            long_polled = false;
            if pass.messages.len() == known {
                // Only messages this pass already holds (a second delivery of a standard queue,
                // or a visibility that ended under a slow server): stop; not complete.
                break;
            }
        }
        if let Some(error) = error {
            self.release(url, &pass.messages).await;
            return Err(error);
        }
        pass.complete = ended_empty
            && depth.in_flight == 0
            && depth.delayed == 0
            && pass.messages.len() as u64 >= depth.visible;
        Ok(pass)
    }

    /// Makes `messages` visible again now (visibility 0), 10 per call. A failure is logged: the
    /// messages come back by themselves when their visibility timeout ends.
    pub(super) async fn release(&self, url: &str, messages: &[Received]) {
        if messages.is_empty() {
            return;
        }
        let Ok(client) = self.client().await else {
            return;
        };
        let calls: Vec<_> = messages
            .chunks(10)
            .map(|chunk| {
                let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                    .iter()
                    .enumerate()
                    .filter_map(|(n, m)| {
                        ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(n.to_string())
                            .receipt_handle(&m.receipt_handle)
                            .visibility_timeout(0)
                            .build()
                            .ok()
                    })
                    .collect();
                let client = client.clone();
                async move {
                    client
                        .change_message_visibility_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                }
            })
            .collect();
        let answers: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(CALLS_AT_ONCE)
            .collect()
            .await;
        for answer in answers {
            match answer {
                Ok(out) if !out.failed().is_empty() => tracing::warn!(
                    "{}: {} messages of {url} not made visible again (they return after {:?}): {}",
                    self.id,
                    out.failed().len(),
                    self.visibility,
                    out.failed()
                        .first()
                        .map(|f| f.code().to_string())
                        .unwrap_or_default()
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    "{}: messages of {url} not made visible again (they return after {:?}): {}",
                    self.id,
                    self.visibility,
                    upstream_error(&self.id, url, "ChangeMessageVisibilityBatch", e)
                ),
            }
        }
    }
}
