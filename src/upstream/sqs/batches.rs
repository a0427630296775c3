//! Batched writes: `SendMessageBatch` (10 entries and at most 256 KiB per call) and
//! `DeleteMessageBatch` (10 per call), 8 calls at a time, one answer per entry in order — a
//! sender fault is the queue's refusal (final), anything else is retried by the outbox.

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::StreamExt;

use super::Sqs;
use super::client::upstream_error;
use super::message::{Received, ReplayEntry};
use super::pass::CALLS_AT_ONCE;
use crate::domain::sanitize;
use crate::upstream::UpstreamError;

/// SQS's limit on the payload of one `SendMessageBatch`.
const BATCH_BYTES: usize = 256 * 1024;

/// Why a send failed: the queue refused this message (for good), or no answer (retry).
pub(super) enum SendFailure {
    Refused(String),
    Transient(UpstreamError),
}

impl Sqs {
    /// Sends `entries` to the queue at `url`: 10 per call and at most 256 KiB per call, 8 calls
    /// at a time. One answer per entry: the new MessageId, or why not.
    pub(super) async fn send(
        &self,
        url: &str,
        entries: Vec<(usize, ReplayEntry)>,
    ) -> Vec<(usize, Result<String, SendFailure>)> {
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => {
                return entries
                    .into_iter()
                    .map(|(i, _)| (i, Err(SendFailure::Transient(e.clone()))))
                    .collect();
            }
        };
        let mut chunks: Vec<Vec<(usize, ReplayEntry)>> = Vec::new();
        let mut bytes = 0;
        for (index, entry) in entries {
            let size = entry.size();
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < 10 && bytes + size <= BATCH_BYTES => {
                    bytes += size;
                    chunk.push((index, entry));
                }
                _ => {
                    bytes = size;
                    chunks.push(vec![(index, entry)]);
                }
            }
        }
        let calls: Vec<_> = chunks
            .into_iter()
            .map(|chunk| async move {
                let indexes: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
                let mut request = Vec::new();
                for (n, (_, entry)) in chunk.into_iter().enumerate() {
                    let built = SendMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .message_body(entry.body.clone())
                        .set_message_attributes(
                            (!entry.attributes.is_empty())
                                .then(|| entry.attributes.clone().into_iter().collect()),
                        )
                        .set_message_system_attributes(entry.system_attributes())
                        .set_message_group_id(entry.group_id.clone())
                        .set_message_deduplication_id(entry.deduplication_id.clone())
                        .build();
                    match built {
                        Ok(built) => request.push(built),
                        Err(e) => {
                            let error = UpstreamError::Config {
                                upstream: self.id.clone(),
                                message: format!("SendMessageBatch entry could not be built: {e}"),
                            };
                            return indexes
                                .into_iter()
                                .map(|i| (i, Err(SendFailure::Transient(error.clone()))))
                                .collect::<Vec<_>>();
                        }
                    }
                }
                let answer = client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(request))
                    .send()
                    .await;
                match answer {
                    Ok(out) => {
                        let mut results: Vec<(usize, Result<String, SendFailure>)> = Vec::new();
                        for (n, &index) in indexes.iter().enumerate() {
                            let id = n.to_string();
                            let result = if let Some(ok) =
                                out.successful().iter().find(|s| s.id() == id)
                            {
                                Ok(ok.message_id().to_string())
                            } else if let Some(failed) = out.failed().iter().find(|f| f.id() == id)
                            {
                                let why = format!(
                                    "{}: {}",
                                    failed.code(),
                                    failed.message().unwrap_or_default()
                                );
                                if failed.sender_fault() {
                                    Err(SendFailure::Refused(why))
                                } else {
                                    Err(SendFailure::Transient(self.busy(why)))
                                }
                            } else {
                                Err(SendFailure::Transient(UpstreamError::Uncertain {
                                    upstream: self.id.clone(),
                                    url: url.to_string(),
                                    message: "SendMessageBatch answered without this entry"
                                        .to_string(),
                                }))
                            };
                            results.push((index, result));
                        }
                        results
                    }
                    Err(e) => {
                        let error = upstream_error(&self.id, url, "SendMessageBatch", e);
                        let permanent = !error.is_transient();
                        indexes
                            .into_iter()
                            .map(|i| {
                                let failure = if permanent {
                                    SendFailure::Refused(error.to_string())
                                } else {
                                    SendFailure::Transient(error.clone())
                                };
                                (i, Err(failure))
                            })
                            .collect()
                    }
                }
            })
            .collect();
        futures::stream::iter(calls)
            .buffer_unordered(CALLS_AT_ONCE)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Deletes `messages` from the queue at `url` with their receipt handles, 10 per call; one
    /// answer per message, in order.
    pub(super) async fn delete(
        &self,
        url: &str,
        messages: &[Received],
    ) -> Vec<Result<(), UpstreamError>> {
        if messages.is_empty() {
            return Vec::new();
        }
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => return messages.iter().map(|_| Err(e.clone())).collect(),
        };
        let calls: Vec<_> = messages
            .chunks(10)
            .enumerate()
            .map(|(c, chunk)| async move {
                let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                    .iter()
                    .enumerate()
                    .filter_map(|(n, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .receipt_handle(&m.receipt_handle)
                            .build()
                            .ok()
                    })
                    .collect();
                let answer = client
                    .delete_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                let results: Vec<Result<(), UpstreamError>> = match answer {
                    Ok(out) => (0..chunk.len())
                        .map(|n| {
                            let id = n.to_string();
                            if out.successful().iter().any(|s| s.id() == id) {
                                Ok(())
                            } else {
                                let why = out
                                    .failed()
                                    .iter()
                                    .find(|f| f.id() == id)
                                    .map(|f| {
                                        format!("{}: {}", f.code(), f.message().unwrap_or_default())
                                    })
                                    .unwrap_or_else(|| {
                                        "DeleteMessageBatch answered without this entry".to_string()
                                    });
                                Err(self.busy(sanitize::line(&why)))
                            }
                        })
                        .collect(),
                    Err(e) => {
                        let error = upstream_error(&self.id, url, "DeleteMessageBatch", e);
                        chunk.iter().map(|_| Err(error.clone())).collect()
                    }
                };
                (c, results)
            })
            .collect();
        let mut answers: Vec<(usize, Vec<Result<(), UpstreamError>>)> =
            futures::stream::iter(calls)
                .buffer_unordered(CALLS_AT_ONCE)
                .collect()
                .await;
        answers.sort_by_key(|(c, _)| *c);
        answers.into_iter().flat_map(|(_, r)| r).collect()
    }
}
