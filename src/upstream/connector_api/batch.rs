//! Groups of replays and discards through the batch endpoints (`POST /v1/dead-letters/replay`,
//! `POST /v1/dead-letters/discard`, Connector API 1.1), when `GET /v1` advertises them.
//!
//! Choice per group: two or more replays (discards) and the capability advertised → chunks of at
//! most `max_batch_items` (≤ 500) per request; a lone action, other kinds, and every action on
//! an upstream without the capability (404 on `GET /v1`, or not listed) go one by one as before.
//! Each item's result becomes exactly the answer the single-item call would have given. A whole
//! request that fails transiently (unreachable, timeout, 5xx, 429 with `Retry-After`) or whose
//! answer cannot be read (not JSON, results not matching the items) leaves every item of the
//! chunk pending with the same keys — the upstream answers a key once, so a resend never
//! delivers twice. A batch refused as a whole otherwise (404/405/501: the endpoint is gone;
//! 400/413/422: refused as a batch) is sent again one by one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::batch_answers::Answer;
use super::{ConnectorApi, replay_request};
use crate::api::{
    ApiInfo, BatchDiscardItem, BatchDiscardRequest, BatchDiscardResponse, BatchReplayItem,
    BatchReplayRequest, BatchReplayResponse, BatchReplayResult, CAPABILITY_BATCH_DISCARD,
    CAPABILITY_BATCH_REPLAY, MAX_BATCH_ITEMS,
};
use crate::domain::{Action, ActionKind};
use crate::upstream::{ACTION_TIMEOUT, BATCH_CONCURRENCY, Upstream, UpstreamError, perform_each};

/// How long what `GET /v1` said is trusted before asking again: an upstream may be upgraded or
/// rolled back under a running triage.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// Batch requests of one group in flight at once (a group is at most the outbox's round of
/// 500, so usually one per kind).
const CHUNKS_AT_ONCE: usize = 2;

/// Asked of every batch (RFC 7240): results of delivered replays and discards may leave the
/// dead letter out — their new state is implied by the status — which spares both sides the
/// letters' bodies (a batch of 500 answered in full carries every payload back). An upstream
/// that ignores it answers in full, which is read as before.
const PREFER_MINIMAL: &[(&str, &str)] = &[("prefer", "return=minimal")];

/// The cached answer of `GET /v1`: `None` inside = a 1.0 upstream (no batch endpoints).
#[derive(Default)]
pub(super) struct Discovery {
    known: Mutex<Option<(Instant, Option<ApiInfo>)>>,
}

impl Discovery {
    fn cached(&self) -> Option<Option<ApiInfo>> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .as_ref()
            .filter(|(at, _)| at.elapsed() < DISCOVERY_TTL)
            .map(|(_, info)| info.clone())
    }

    fn remember(&self, info: Option<ApiInfo>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        *known = Some((Instant::now(), info));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Replay,
    Discard,
}

/// [`Upstream::perform_batch`] of the Connector API: one answer per action, in order.
pub(super) async fn perform_batch(api: &ConnectorApi, actions: &[(Action, String)]) -> Vec<Answer> {
    let of_kind = |kind: ActionKind| -> Vec<usize> {
        (0..actions.len())
            .filter(|&i| actions[i].0.kind == kind)
            .collect()
    };
    let groups = [
        (Endpoint::Replay, of_kind(ActionKind::Replay)),
        (Endpoint::Discard, of_kind(ActionKind::Discard)),
    ];
    let mut answers: Vec<Option<Answer>> = (0..actions.len()).map(|_| None).collect();
    let mut chunks: Vec<(Endpoint, Vec<usize>)> = Vec::new();
    if groups.iter().any(|(_, indices)| indices.len() >= 2) {
        match api.api_info().await {
            // Whether the upstream batches cannot be told now; sending one by one would meet
            // the same trouble, so the group waits (honouring `Retry-After`).
            Err(error) => {
                for (_, indices) in groups.iter().filter(|(_, i)| i.len() >= 2) {
                    for &i in indices {
                        answers[i] = Some(Err(error.clone()));
                    }
                }
            }
            Ok(info) => {
                let limit = info
                    .as_ref()
                    .and_then(|i| i.max_batch_items)
                    .unwrap_or(MAX_BATCH_ITEMS)
                    .clamp(1, MAX_BATCH_ITEMS);
                for (endpoint, indices) in &groups {
                    let capability = match endpoint {
                        Endpoint::Replay => CAPABILITY_BATCH_REPLAY,
                        Endpoint::Discard => CAPABILITY_BATCH_DISCARD,
                    };
                    if indices.len() >= 2 && info.as_ref().is_some_and(|i| i.serves(capability)) {
                        chunks.extend(indices.chunks(limit).map(|c| (*endpoint, c.to_vec())));
                    }
                }
            }
        }
    }
    let batched: std::collections::HashSet<usize> =
        chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let singles: Vec<usize> = (0..actions.len())
        .filter(|i| answers[*i].is_none() && !batched.contains(i))
        .collect();
    let one_by_one = async {
        let subset: Vec<(Action, String)> = singles.iter().map(|&i| actions[i].clone()).collect();
        let answered = perform_each(api, &subset, ACTION_TIMEOUT).await;
        singles.iter().copied().zip(answered).collect::<Vec<_>>()
    };
    // Collected first: a lazy iterator's closure held across the await is not `Send` enough
    // for `async_trait`'s boxed future (as in `perform_each`).
    let sends: Vec<_> = chunks
        .into_iter()
        .map(|(endpoint, indices)| async move {
            let answered = api.send_chunk(endpoint, actions, &indices).await;
            indices.into_iter().zip(answered).collect::<Vec<_>>()
        })
        .collect();
    let in_batches = futures::stream::iter(sends)
        .buffer_unordered(CHUNKS_AT_ONCE)
        .collect::<Vec<_>>();
    let (singles_answered, batches_answered) = futures::join!(one_by_one, in_batches);
    for (i, answer) in singles_answered
        .into_iter()
        .chain(batches_answered.into_iter().flatten())
    {
        answers[i] = Some(answer);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(UpstreamError::timed_out(api.id(), ACTION_TIMEOUT))))
        .collect()
}

/// The time a batch of `n` may take: what its items would have had sent one by one,
/// [`BATCH_CONCURRENCY`] at a time (the outbox sizes the group's bound the same way).
fn batch_timeout(per_request: Duration, n: usize) -> Duration {
    let rounds = u32::try_from(n.div_ceil(BATCH_CONCURRENCY).max(1)).unwrap_or(u32::MAX);
    per_request.saturating_mul(rounds)
}

impl ConnectorApi {
    /// What this upstream serves; `Ok(None)` for a 1.0 upstream (or one whose discovery answer
    /// is unusable). `Err` only when it cannot be told now (a transient failure).
    async fn api_info(&self) -> Result<Option<ApiInfo>, UpstreamError> {
        if let Some(known) = self.discovery.cached() {
            return Ok(known);
        }
        match self.http.get_json::<ApiInfo, ()>(&["v1"], &()).await {
            Ok(info) => {
                self.discovery.remember(Some(info.clone()));
                Ok(Some(info))
            }
            Err(error) if error.is_transient() => Err(error),
            Err(error) => {
                tracing::info!(upstream = %self.id(), "no batch endpoints, one request per action: {error}");
                self.discovery.remember(None);
                Ok(None)
            }
        }
    }

    /// Sends the actions at `indices` in one batch request; one answer per index.
    async fn send_chunk(
        &self,
        endpoint: Endpoint,
        actions: &[(Action, String)],
        indices: &[usize],
    ) -> Vec<Answer> {
        let chunk: Vec<&(Action, String)> = indices.iter().map(|&i| &actions[i]).collect();
        let timeout = batch_timeout(self.http.timeout(), chunk.len());
        let sent = match endpoint {
            Endpoint::Replay => self.replay_chunk(&chunk, timeout).await,
            Endpoint::Discard => self.discard_chunk(&chunk, timeout).await,
        };
        match sent {
            Ok(answers) => answers,
            Err(refused) => {
                if let UpstreamError::Status {
                    status: 404 | 405 | 501,
                    ..
                } = refused
                {
                    // The advertised endpoint is gone (rolled back, or a proxy does not route
                    // it): one by one until discovery is asked again.
                    self.discovery.remember(None);
                }
                tracing::warn!(upstream = %self.id(), "batch refused, sending its {} actions one by one: {refused}", chunk.len());
                let owned: Vec<(Action, String)> = chunk.into_iter().cloned().collect();
                perform_each(self, &owned, ACTION_TIMEOUT).await
            }
        }
    }

    /// `Ok`: one answer per item. `Err`: the batch was refused as a whole in a way the same
    /// actions sent one by one may not be (send them so).
    async fn replay_chunk(
        &self,
        chunk: &[&(Action, String)],
        timeout: Duration,
    ) -> Result<Vec<Answer>, UpstreamError> {
        let items = chunk
            .iter()
            .map(|(action, key)| {
                let single = replay_request(action, key);
                BatchReplayItem {
                    id: action.target.clone(),
                    operator: single.operator,
                    idempotency_key: single.idempotency_key,
                    payload: single.payload,
                    payload_encoding: single.payload_encoding,
                }
            })
            .collect();
        let segments = ["v1", "dead-letters", "replay"];
        let url = self.http.url(&segments).to_string();
        let body = BatchReplayRequest { items };
        let answer: BatchReplayResponse = match self
            .http
            .post_json_within(&segments, &body, timeout, PREFER_MINIMAL)
            .await
        {
            Ok(answer) => answer,
            Err(error) => return self.whole_request(error, chunk.len()),
        };
        let matches = |(i, result): (usize, &BatchReplayResult)| {
            let (action, key) = chunk[i];
            result.id == action.target && &result.idempotency_key == key
        };
        if let Some(problem) = self.mismatch(chunk, answer.results.len(), || {
            answer.results.iter().enumerate().position(|r| !matches(r))
        }) {
            return Ok(self.all_uncertain(&url, &problem, chunk.len()));
        }
        Ok(answer
            .results
            .into_iter()
            .map(|result| self.replay_item(&url, result))
            .collect())
    }

    async fn discard_chunk(
        &self,
        chunk: &[&(Action, String)],
        timeout: Duration,
    ) -> Result<Vec<Answer>, UpstreamError> {
        let items = chunk
            .iter()
            .map(|(action, _)| BatchDiscardItem {
                id: action.target.clone(),
                operator: action.operator.clone(),
                note: action.note.clone(),
            })
            .collect();
        let segments = ["v1", "dead-letters", "discard"];
        let url = self.http.url(&segments).to_string();
        let body = BatchDiscardRequest { items };
        let answer: BatchDiscardResponse = match self
            .http
            .post_json_within(&segments, &body, timeout, PREFER_MINIMAL)
            .await
        {
            Ok(answer) => answer,
            Err(error) => return self.whole_request(error, chunk.len()),
        };
        if let Some(problem) = self.mismatch(chunk, answer.results.len(), || {
            answer
                .results
                .iter()
                .enumerate()
                .position(|(i, r)| r.id != chunk[i].0.target)
        }) {
            return Ok(self.all_uncertain(&url, &problem, chunk.len()));
        }
        Ok(answer
            .results
            .into_iter()
            .map(|result| self.discard_item(&url, result))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BatchItemStatus;

    #[test]
    fn a_batch_gets_the_time_its_items_would_have_had_eight_at_a_time() {
        let t = Duration::from_secs(10);
        assert_eq!(batch_timeout(t, 1), t);
        assert_eq!(batch_timeout(t, 8), t);
        assert_eq!(batch_timeout(t, 9), t * 2);
        assert_eq!(batch_timeout(t, 500), t * 63);
    }

    #[test]
    fn unknown_item_statuses_and_capabilities_are_tolerated() {
        let result: BatchReplayResult = serde_json::from_str(
            r#"{"id":"a","idempotency_key":"k","status":"teleported","extra":1}"#,
        )
        .expect("parses");
        assert_eq!(result.status, BatchItemStatus::Unknown);
        let info: ApiInfo =
            serde_json::from_str(r#"{"version":"1.2.0","capabilities":["future-thing"]}"#)
                .expect("parses");
        assert!(!info.serves(CAPABILITY_BATCH_REPLAY));
        assert_eq!(info.max_batch_items, None);
    }
}
