//! `GET /v1/connectors`, `GET /v1/dead-letters` and `POST /v1/dead-letters/{id}/replay|discard`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};

use super::problem::ApiError;
use super::replay;
use super::server::Shared;
use crate::api::{
    ConnectorDto, ConnectorList, DeadLetterDto, DeadLetterQuery, DiscardRequest, Page,
    ReplayRequest, ReplayResponse,
};

pub async fn connectors(State(shared): State<Shared>) -> Json<ConnectorList> {
    let state = shared.state();
    let items = state
        .connectors
        .iter()
        .map(|c| {
            let mut queue = c.queue;
            queue.dead = state.dead_count(&c.spec.id);
            ConnectorDto {
                id: c.spec.id.clone(),
                name: c.spec.name.clone(),
                status: if c.fixed {
                    crate::domain::ConnectorStatus::Healthy
                } else {
                    c.spec.fault.status
                },
                queue,
                rates: c.rates,
                last_error: (!c.fixed)
                    .then(|| format!("{}: {}", c.spec.fault.code, c.spec.fault.message)),
                updated_at: c.updated_at,
            }
        })
        .collect();
    Json(ConnectorList { items })
}

pub async fn list(
    State(shared): State<Shared>,
    query: Result<Query<DeadLetterQuery>, QueryRejection>,
) -> Result<Json<Page<DeadLetterDto>>, ApiError> {
    let Query(query) = query.map_err(ApiError::query)?;
    let state = shared.state();
    if let Some(connector) = &query.connector
        && state.connector(connector).is_none()
    {
        return Err(ApiError::not_found(format!(
            "no connector {connector}; GET /v1/connectors lists them"
        )));
    }
    let page = state.list_dead_letters(
        query.connector.as_deref(),
        query.updated_since.as_ref(),
        query.cursor.as_deref(),
        query.limit,
    )?;
    Ok(Json(page))
}

pub async fn replay(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Json<ReplayResponse>, ApiError> {
    let Json(request) = body.map_err(ApiError::body)?;
    let mut state = shared.state();
    replay::replay(&mut state, &id, &request).map(Json)
}

pub async fn discard(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<DiscardRequest>, JsonRejection>,
) -> Result<Json<DeadLetterDto>, ApiError> {
    let Json(request) = body.map_err(ApiError::body)?;
    let mut state = shared.state();
    replay::discard(&mut state, &id, &request).map(Json)
}
