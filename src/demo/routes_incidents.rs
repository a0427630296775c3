//! `GET /v1/incidents` and `POST /v1/incidents/{id}/ack|unack|escalate|resolve`: keyset-paged listing
//! and idempotent incident actions (a repeated action answers the incident unchanged).

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};

use super::problem::{ApiError, require_text};
use super::server::Shared;
use super::state::DemoState;
use crate::api::{IncidentActionRequest, IncidentDto, IncidentQuery, Page};
use crate::domain::IncidentStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentVerb {
    Ack,
    Unack,
    Escalate,
    Resolve,
}

pub async fn list(
    State(shared): State<Shared>,
    query: Result<Query<IncidentQuery>, QueryRejection>,
) -> Result<Json<Page<IncidentDto>>, ApiError> {
    let Query(query) = query.map_err(ApiError::query)?;
    let state = shared.state();
    let page = state.list_incidents(
        query.updated_since.as_ref(),
        query.cursor.as_deref(),
        query.limit,
    )?;
    Ok(Json(page))
}

pub async fn ack(
    shared: State<Shared>,
    id: Path<String>,
    body: Result<Json<IncidentActionRequest>, JsonRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    handle(shared, id, body, IncidentVerb::Ack)
}

pub async fn unack(
    shared: State<Shared>,
    id: Path<String>,
    body: Result<Json<IncidentActionRequest>, JsonRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    handle(shared, id, body, IncidentVerb::Unack)
}

pub async fn escalate(
    shared: State<Shared>,
    id: Path<String>,
    body: Result<Json<IncidentActionRequest>, JsonRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    handle(shared, id, body, IncidentVerb::Escalate)
}

pub async fn resolve(
    shared: State<Shared>,
    id: Path<String>,
    body: Result<Json<IncidentActionRequest>, JsonRejection>,
) -> Result<Json<IncidentDto>, ApiError> {
    handle(shared, id, body, IncidentVerb::Resolve)
}

fn handle(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    body: Result<Json<IncidentActionRequest>, JsonRejection>,
    verb: IncidentVerb,
) -> Result<Json<IncidentDto>, ApiError> {
    let Json(request) = body.map_err(ApiError::body)?;
    let mut state = shared.state();
    act(&mut state, &id, verb, &request).map(Json)
}

/// Applies `verb` to incident `id`. Ack of an acknowledged incident, un-ack of an open one,
/// resolve of a resolved one and escalate to a level already reached answer the incident unchanged.
pub fn act(
    state: &mut DemoState,
    id: &str,
    verb: IncidentVerb,
    request: &IncidentActionRequest,
) -> Result<IncidentDto, ApiError> {
    require_text("operator", &request.operator, "say who acts")?;
    if let Some(key) = &request.idempotency_key {
        require_text(
            "idempotency_key",
            key,
            "send a unique key per action, or none",
        )?;
    }
    if let Some(key) = &request.idempotency_key
        && let Some((target, answer)) = state.incident_actions.get(key)
    {
        if target != id {
            return Err(ApiError::conflict(format!(
                "idempotency key {key:?} was already used on incident {target}; use a fresh key"
            )));
        }
        return Ok(answer.clone());
    }
    let mut incident = state.incident(id).cloned().ok_or_else(|| {
        ApiError::not_found(format!("no incident {id}; list /v1/incidents for ids"))
    })?;
    let resolved = incident.status == IncidentStatus::Resolved;
    let changed = match verb {
        IncidentVerb::Ack if resolved => return Err(refused(id, "acknowledge")),
        IncidentVerb::Escalate if resolved => return Err(refused(id, "escalate")),
        IncidentVerb::Unack if resolved => return Err(refused(id, "un-acknowledge")),
        IncidentVerb::Unack => {
            let acked = incident.status == IncidentStatus::Acknowledged;
            if acked {
                incident.status = IncidentStatus::Open;
                incident.acked_by = None;
                incident.acked_at = None;
            }
            acked
        }
        IncidentVerb::Ack => {
            let open = incident.status == IncidentStatus::Open;
            if open {
                incident.status = IncidentStatus::Acknowledged;
                incident.acked_by = Some(request.operator.clone());
            }
            open
        }
        IncidentVerb::Escalate => {
            let target = request
                .level
                .unwrap_or(incident.escalation_level.saturating_add(1));
            let raise = target > incident.escalation_level;
            if raise {
                incident.escalation_level = target;
            }
            raise
        }
        IncidentVerb::Resolve => !resolved,
    };
    if changed {
        let now = state.now();
        match verb {
            IncidentVerb::Ack => incident.acked_at = Some(now),
            IncidentVerb::Resolve => {
                incident.status = IncidentStatus::Resolved;
                incident.resolved_at = Some(now);
            }
            IncidentVerb::Escalate | IncidentVerb::Unack => {}
        }
        if let Some(note) = &request.note {
            incident.labels.insert("last_note".into(), note.clone());
        }
        incident.updated_at = now;
        state.put_incident(incident.clone());
    }
    if let Some(key) = &request.idempotency_key {
        state
            .incident_actions
            .insert(key.clone(), (id.to_string(), incident.clone()));
    }
    Ok(incident)
}

fn refused(id: &str, verb: &str) -> ApiError {
    ApiError::conflict(format!(
        "cannot {verb} incident {id}: it is already resolved"
    ))
}
