//! `GET /v1` (discovery) and the batch dead-letter actions `POST /v1/dead-letters/replay|discard`.
//! Each item goes through the very function the single-item endpoint calls (`replay::replay`,
//! `replay::discard`), in order, under one lock: a batch means exactly what its items sent one
//! by one would, idempotency records included. With the batch switched off (`--no-batch`,
//! `POST /demo/capabilities`) these routes answer 404 like a v1.0 upstream. A request with
//! `Prefer: return=minimal` (RFC 7240) gets delivered and discarded results without the dead
//! letter, and `Preference-Applied: return=minimal`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};

use super::problem::ApiError;
use super::replay;
use super::server::{Shared, unknown_route};
use crate::api::{
    ApiInfo, BatchDiscardRequest, BatchDiscardResponse, BatchDiscardResult, BatchItemStatus,
    BatchReplayRequest, BatchReplayResponse, BatchReplayResult, CAPABILITY_BATCH_DISCARD,
    CAPABILITY_BATCH_REPLAY, DiscardRequest, MAX_BATCH_ITEMS, ReplayOutcome, ReplayRequest,
};

/// The contract version with discovery and the batch endpoints.
pub const API_VERSION: &str = "1.1.0";

/// `GET /v1`.
pub async fn info(State(shared): State<Shared>) -> Result<Json<ApiInfo>, ApiError> {
    if !shared.batch_enabled() {
        return Err(unknown_route().await);
    }
    Ok(Json(ApiInfo {
        version: API_VERSION.to_string(),
        capabilities: vec![
            CAPABILITY_BATCH_REPLAY.to_string(),
            CAPABILITY_BATCH_DISCARD.to_string(),
        ],
        max_batch_items: Some(MAX_BATCH_ITEMS),
    }))
}

/// `POST /v1/dead-letters/replay`.
pub async fn replay(
    State(shared): State<Shared>,
    request_headers: HeaderMap,
    body: Result<Json<BatchReplayRequest>, JsonRejection>,
) -> Result<(HeaderMap, Json<BatchReplayResponse>), ApiError> {
    if !shared.batch_enabled() {
        return Err(unknown_route().await);
    }
    let Json(request) = body.map_err(ApiError::body)?;
    check_size(request.items.len())?;
    let (minimal, headers) = preference(&request_headers);
    let mut state = shared.state();
    let results = request
        .items
        .into_iter()
        .map(|item| {
            let single = ReplayRequest {
                operator: item.operator,
                idempotency_key: item.idempotency_key,
                payload: item.payload,
                payload_encoding: item.payload_encoding,
            };
            match replay::replay(&mut state, &item.id, &single) {
                Ok(answer) => {
                    let (status, detail) = match answer.outcome {
                        ReplayOutcome::Delivered => (BatchItemStatus::Delivered, None),
                        ReplayOutcome::Failed => {
                            let error = &answer.dead_letter.error;
                            let detail = format!("{}: {}", error.code, error.message);
                            (BatchItemStatus::Failed, Some(detail))
                        }
                    };
                    let minimal = minimal && status == BatchItemStatus::Delivered;
                    BatchReplayResult {
                        id: item.id,
                        idempotency_key: answer.idempotency_key,
                        status,
                        detail,
                        retry_after: None,
                        dead_letter: (!minimal).then_some(answer.dead_letter),
                        response: Some(answer.response),
                    }
                }
                Err(error) => BatchReplayResult {
                    id: item.id,
                    idempotency_key: single.idempotency_key,
                    status: item_status(&error),
                    retry_after: error.retry_after.map(u64::from),
                    detail: Some(error.detail),
                    dead_letter: None,
                    response: None,
                },
            }
        })
        .collect();
    Ok((headers, Json(BatchReplayResponse { results })))
}

/// `POST /v1/dead-letters/discard`.
pub async fn discard(
    State(shared): State<Shared>,
    request_headers: HeaderMap,
    body: Result<Json<BatchDiscardRequest>, JsonRejection>,
) -> Result<(HeaderMap, Json<BatchDiscardResponse>), ApiError> {
    if !shared.batch_enabled() {
        return Err(unknown_route().await);
    }
    let Json(request) = body.map_err(ApiError::body)?;
    check_size(request.items.len())?;
    let (minimal, headers) = preference(&request_headers);
    let mut state = shared.state();
    let results = request
        .items
        .into_iter()
        .map(|item| {
            let single = DiscardRequest {
                operator: item.operator,
                note: item.note,
            };
            match replay::discard(&mut state, &item.id, &single) {
                Ok(dead_letter) => BatchDiscardResult {
                    id: item.id,
                    status: BatchItemStatus::Discarded,
                    detail: None,
                    retry_after: None,
                    dead_letter: (!minimal).then_some(dead_letter),
                },
                Err(error) => BatchDiscardResult {
                    id: item.id,
                    status: item_status(&error),
                    retry_after: error.retry_after.map(u64::from),
                    detail: Some(error.detail),
                    dead_letter: None,
                },
            }
        })
        .collect();
    Ok((headers, Json(BatchDiscardResponse { results })))
}

/// Whether the request prefers a minimal answer (`Prefer: return=minimal`, RFC 7240: any
/// `Prefer` header, preferences separated by commas, names without case), and the response
/// headers that say it was applied.
fn preference(request: &HeaderMap) -> (bool, HeaderMap) {
    let minimal = request
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            let mut parts = p.split('=').map(str::trim);
            parts
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("return"))
                && parts
                    .next()
                    .and_then(|v| v.split(';').next())
                    .is_some_and(|v| v.trim().trim_matches('"').eq_ignore_ascii_case("minimal"))
        });
    let mut headers = HeaderMap::new();
    if minimal {
        headers.insert(
            "preference-applied",
            HeaderValue::from_static("return=minimal"),
        );
    }
    (minimal, headers)
}

fn check_size(items: usize) -> Result<(), ApiError> {
    if items == 0 {
        return Err(ApiError::bad_request(
            "items is empty; send between 1 and 500 items",
        ));
    }
    if items > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{items} items in one batch; at most {MAX_BATCH_ITEMS} (GET /v1 max_batch_items): split it"
            ),
        ));
    }
    Ok(())
}

/// The per-item status for the error the single-item endpoint would have answered.
fn item_status(error: &ApiError) -> BatchItemStatus {
    match error.status {
        StatusCode::NOT_FOUND => BatchItemStatus::NotFound,
        StatusCode::CONFLICT => BatchItemStatus::Conflict,
        StatusCode::BAD_REQUEST => BatchItemStatus::Invalid,
        _ => BatchItemStatus::Unavailable,
    }
}
