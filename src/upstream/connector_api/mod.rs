//! Client of the Triage Connector API v1 (`assets/connector-api.yaml`): maps the wire types of
//! `crate::api` to domain types and actions to the action endpoints. Groups of replays and
//! discards go through the batch endpoints when the upstream advertises them (`batch`).

mod batch;
mod batch_answers;
pub mod decode;

use async_trait::async_trait;
use base64::Engine;
use std::time::Duration;

use super::http::HttpClient;
use super::tls::TrustedCa;
use super::{ActionResult, FetchPage, Upstream, UpstreamError};
use crate::api::{
    ConnectorList, DeadLetterDto, DeadLetterQuery, DestinationResponse, DiscardRequest,
    IncidentActionRequest, IncidentDto, IncidentQuery, Page, ReplayOutcome, ReplayRequest,
    ReplayResponse,
};
use crate::domain::{
    Action, ActionKind, ActionOutcome, ConnectorReport, DeadLetter, DeadLetterState, Incident,
    LetterState, PayloadEncoding, Timestamp, UpstreamKind, sanitize,
};

/// Items asked for per page when syncing.
pub const SYNC_PAGE_LIMIT: usize = 500;

pub struct ConnectorApi {
    http: HttpClient,
    /// What `GET /v1` said this upstream serves (the batch endpoints), cached for a while.
    discovery: batch::Discovery,
}

impl ConnectorApi {
    pub fn new(
        id: &str,
        url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<Self, UpstreamError> {
        Ok(ConnectorApi {
            http: HttpClient::new(id, url, timeout, token)?,
            discovery: batch::Discovery::default(),
        })
    }

    /// The same upstream, trusting `ca` (its `ca_file`) for an `https://` URL on top of the
    /// system roots.
    pub fn trusting(self, ca: TrustedCa) -> Result<Self, UpstreamError> {
        Ok(ConnectorApi {
            http: self.http.trusting(ca)?,
            discovery: batch::Discovery::default(),
        })
    }

    fn malformed(&self, what: &str, message: String) -> UpstreamError {
        UpstreamError::Malformed {
            upstream: self.http.upstream().to_string(),
            url: what.to_string(),
            message,
        }
    }

    fn incident(&self, dto: IncidentDto) -> Incident {
        decode::incident(self.http.upstream(), dto)
    }

    fn dead_letter(&self, dto: DeadLetterDto) -> Result<DeadLetter, UpstreamError> {
        decode::dead_letter(self.http.upstream(), dto)
            .map_err(|message| self.malformed("dead-letters", message))
    }

    async fn incident_action(
        &self,
        action: &Action,
        key: &str,
        verb: &str,
    ) -> Result<ActionResult, UpstreamError> {
        let body = IncidentActionRequest {
            operator: action.operator.clone(),
            note: action.note.clone(),
            level: action.level,
            idempotency_key: Some(key.to_string()),
        };
        let dto: IncidentDto = self
            .http
            .post_json(&["v1", "incidents", &action.target, verb], &body)
            .await?;
        let response = serde_json::to_value(&dto).unwrap_or_default();
        let incident = self.incident(dto);
        let summary = match action.kind {
            ActionKind::Ack => format!(
                "acknowledged by {}",
                incident.acked_by.as_deref().unwrap_or(&action.operator)
            ),
            ActionKind::Unack => "open again".to_string(),
            ActionKind::Escalate => format!("escalated to level {}", incident.escalation_level),
            _ => format!("status {}", incident.status.as_str()),
        };
        let outcome = ActionOutcome {
            ok: true,
            summary: sanitize::line(&summary),
            response,
        };
        Ok(ActionResult {
            outcome,
            incident: Some(incident),
            dead_letter: None,
            letter_state: None,
        })
    }

    async fn replay(&self, action: &Action, key: &str) -> Result<ActionResult, UpstreamError> {
        let body = replay_request(action, key);
        let answer: ReplayResponse = self
            .http
            .post_json(&["v1", "dead-letters", &action.target, "replay"], &body)
            .await?;
        self.replay_result(answer)
    }

    /// What a replay's answer means, from the single-item endpoint or an item of a batch.
    fn replay_result(&self, answer: ReplayResponse) -> Result<ActionResult, UpstreamError> {
        let outcome = match answer.outcome {
            ReplayOutcome::Delivered => delivered_outcome(&answer.response),
            ReplayOutcome::Failed => {
                let error = &answer.dead_letter.error;
                refused_outcome(
                    &answer.response,
                    &format!("{}: {}", error.code, error.message),
                )
            }
        };
        let dead_letter = self.dead_letter(answer.dead_letter)?;
        Ok(ActionResult {
            outcome,
            incident: None,
            dead_letter: Some(dead_letter),
            letter_state: None,
        })
    }

    async fn discard(&self, action: &Action) -> Result<ActionResult, UpstreamError> {
        let body = DiscardRequest {
            operator: action.operator.clone(),
            note: action.note.clone(),
        };
        let dto: DeadLetterDto = self
            .http
            .post_json(&["v1", "dead-letters", &action.target, "discard"], &body)
            .await?;
        self.discard_result(dto)
    }

    /// What a discard's answer (the discarded dead letter) means, single or batched.
    fn discard_result(&self, dto: DeadLetterDto) -> Result<ActionResult, UpstreamError> {
        let response = serde_json::json!({ "state": dto.state });
        let dead_letter = self.dead_letter(dto)?;
        let outcome = ActionOutcome {
            ok: true,
            summary: DISCARDED.to_string(),
            response,
        };
        Ok(ActionResult {
            outcome,
            incident: None,
            dead_letter: Some(dead_letter),
            letter_state: None,
        })
    }
}

impl ConnectorApi {
    /// A batch item answered without its dead letter (`Prefer: return=minimal`): `outcome`,
    /// and the letter's new state alone.
    fn minimal_result(
        &self,
        id: String,
        state: DeadLetterState,
        outcome: ActionOutcome,
    ) -> ActionResult {
        ActionResult {
            outcome,
            incident: None,
            dead_letter: None,
            letter_state: Some(LetterState {
                upstream: self.id().to_string(),
                id,
                state,
                at: chrono::Utc::now(),
            }),
        }
    }
}

/// A delivered replay's outcome: "delivered (201)" with what the destination answered.
fn delivered_outcome(response: &DestinationResponse) -> ActionOutcome {
    ActionOutcome {
        ok: true,
        summary: sanitize::line(&format!("delivered{}", status_suffix(response))),
        response: serde_json::to_value(response).unwrap_or_default(),
    }
}

/// A refused replay's outcome: "destination refused (422): why" with what it answered.
fn refused_outcome(response: &DestinationResponse, why: &str) -> ActionOutcome {
    ActionOutcome {
        ok: false,
        summary: sanitize::line(&format!(
            "destination refused{}: {why}",
            status_suffix(response)
        )),
        response: serde_json::to_value(response).unwrap_or_default(),
    }
}

/// A discard's outcome; the response names the state, as the single endpoint's letter does.
fn discarded_outcome(state: DeadLetterState) -> ActionOutcome {
    ActionOutcome {
        ok: true,
        summary: DISCARDED.to_string(),
        response: serde_json::json!({ "state": state.as_str() }),
    }
}

const DISCARDED: &str = "discarded";

/// " (201)" for the destination's HTTP status, if it gave one.
fn status_suffix(response: &DestinationResponse) -> String {
    response
        .status
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// The body of a replay: the edited payload as UTF-8 when it is, else base64.
fn replay_request(action: &Action, key: &str) -> ReplayRequest {
    let (payload, payload_encoding) = match &action.payload {
        None => (None, None),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_string()), Some(PayloadEncoding::Utf8)),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                Some(PayloadEncoding::Base64),
            ),
        },
    };
    ReplayRequest {
        operator: action.operator.clone(),
        idempotency_key: key.to_string(),
        payload,
        payload_encoding,
    }
}

#[async_trait]
impl Upstream for ConnectorApi {
    fn id(&self) -> &str {
        self.http.upstream()
    }

    fn kind(&self) -> UpstreamKind {
        UpstreamKind::ConnectorApi
    }

    async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError> {
        let list: ConnectorList = self.http.get_json(&["v1", "connectors"], &()).await?;
        Ok(list.items.into_iter().map(decode::report).collect())
    }

    async fn incidents(
        &self,
        since: Option<Timestamp>,
        cursor: Option<&str>,
    ) -> Result<FetchPage<Incident>, UpstreamError> {
        let query = IncidentQuery {
            updated_since: since,
            cursor: cursor.map(str::to_string),
            limit: Some(SYNC_PAGE_LIMIT),
        };
        let page: Page<IncidentDto> = self.http.get_json(&["v1", "incidents"], &query).await?;
        Ok(FetchPage {
            items: page
                .items
                .into_iter()
                .map(|dto| self.incident(dto))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn dead_letters(
        &self,
        since: Option<Timestamp>,
        cursor: Option<&str>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
        let query = DeadLetterQuery {
            connector: None,
            updated_since: since,
            cursor: cursor.map(str::to_string),
            limit: Some(SYNC_PAGE_LIMIT),
        };
        let page: Page<DeadLetterDto> = self.http.get_json(&["v1", "dead-letters"], &query).await?;
        let items = page
            .items
            .into_iter()
            .map(|dto| self.dead_letter(dto))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FetchPage {
            items,
            next_cursor: page.next_cursor,
        })
    }

    async fn perform(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<ActionResult, UpstreamError> {
        match action.kind {
            ActionKind::Ack => self.incident_action(action, idempotency_key, "ack").await,
            ActionKind::Unack => self.incident_action(action, idempotency_key, "unack").await,
            ActionKind::Escalate => {
                self.incident_action(action, idempotency_key, "escalate")
                    .await
            }
            ActionKind::Resolve => {
                self.incident_action(action, idempotency_key, "resolve")
                    .await
            }
            ActionKind::Replay => self.replay(action, idempotency_key).await,
            ActionKind::Discard => self.discard(action).await,
            ActionKind::Notify => Err(UpstreamError::Unsupported {
                upstream: self.http.upstream().to_string(),
                message: "notifications are sent by notifiers, not by the Connector API".into(),
            }),
        }
    }

    /// Replays and discards of a group go in batch requests when the upstream serves them
    /// (`batch`); everything else, and everything on a 1.0 upstream, one by one.
    async fn perform_batch(
        &self,
        actions: &[(Action, String)],
    ) -> Vec<Result<ActionResult, UpstreamError>> {
        batch::perform_batch(self, actions).await
    }
}
