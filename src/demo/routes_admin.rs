//! The demo's admin routes under `/demo/` (not part of the Connector API v1): arm transport
//! faults, fix a connector's fault, advance the simulation, expire tombstones early, switch the
//! batch endpoints, and count deliveries and requests for tests.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::faults::FaultPlan;
use super::problem::ApiError;
use super::server::Shared;
use super::sim;

/// `POST /demo/faults`.
pub async fn arm_faults(
    State(shared): State<Shared>,
    body: Result<Json<FaultPlan>, JsonRejection>,
) -> Result<Json<FaultPlan>, ApiError> {
    let Json(plan) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if plan.status.is_some_and(|s| !(100..=599).contains(&s)) {
        return Err(ApiError::bad_request(
            "status must be an HTTP status between 100 and 599",
        ));
    }
    shared.arm_fault(plan.clone());
    Ok(Json(plan))
}

/// `POST /demo/connectors/{id}/fix`: the root cause is repaired; replays deliver from now on.
pub async fn fix_connector(
    State(shared): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut state = shared.state();
    let now = state.now();
    let connector = state.connector_mut(&id).ok_or_else(|| {
        ApiError::not_found(format!("no connector {id}; GET /v1/connectors lists them"))
    })?;
    connector.fixed = true;
    connector.updated_at = now;
    Ok(Json(json!({ "connector": id, "fixed": true })))
}

/// Body of `POST /demo/connectors/{id}/dead-letters`.
#[derive(Debug, Deserialize)]
pub struct AddDeadLetters {
    /// How many (at most 100,000 per request).
    pub count: usize,
}

/// `POST /demo/connectors/{id}/dead-letters`: `count` more dead letters on that connector, failed
/// just now (for trying bulk recovery at scale, and for tests and benches).
pub async fn add_dead_letters(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<AddDeadLetters>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(add) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if add.count > 100_000 {
        return Err(ApiError::bad_request("count: at most 100000 per request"));
    }
    let mut state = shared.state();
    let index = state
        .connectors
        .iter()
        .position(|c| c.spec.id == id)
        .ok_or_else(|| {
            ApiError::not_found(format!("no connector {id}; GET /v1/connectors lists them"))
        })?;
    let now = state.now();
    for _ in 0..add.count {
        sim::add_dead_letter(&mut state, index, now, now);
    }
    Ok(Json(json!({ "connector": id, "added": add.count })))
}

/// `POST /demo/expire-tombstones`: forgets every replayed/discarded dead letter now, as if the
/// 24 h tombstone retention had passed (a client away that long must relist to notice).
pub async fn expire_tombstones(State(shared): State<Shared>) -> Json<Value> {
    let mut state = shared.state();
    let far = state.now() + chrono::Duration::days(3650);
    state.prune_tombstones(&far);
    Json(json!({ "expired": true }))
}

/// `POST /demo/tick`: one simulation step now.
pub async fn tick(State(shared): State<Shared>) -> Json<Value> {
    let mut state = shared.state();
    sim::tick(&mut state);
    Json(json!({ "ticked": true }))
}

/// `GET /demo/requests`: `/v1` requests received, by "METHOD route" (e.g.
/// `POST /v1/dead-letters/replay`), faulted ones included.
pub async fn requests(State(shared): State<Shared>) -> Json<BTreeMap<String, u64>> {
    Json(shared.requests())
}

/// Body of `POST /demo/capabilities`.
#[derive(Debug, Deserialize)]
pub struct CapabilitiesSwitch {
    /// Serve discovery and the batch endpoints (`false`: a v1.0 upstream, both 404).
    pub batch: bool,
}

/// `POST /demo/capabilities`: switches the batch endpoints on or off while running (an
/// upstream upgraded or rolled back under a client).
pub async fn capabilities(
    State(shared): State<Shared>,
    body: Result<Json<CapabilitiesSwitch>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(switch) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    shared.set_batch(switch.batch);
    Ok(Json(json!({ "batch": switch.batch })))
}

/// `GET /demo/deliveries`: successful deliveries per dead-letter id.
pub async fn deliveries(State(shared): State<Shared>) -> Json<BTreeMap<String, u64>> {
    Json(shared.state().deliveries.clone())
}
