//! Replaying and discarding dead letters: the payload (stored or edited) is checked against the
//! connector's contract and its current fault, as the destination would; deliveries are counted
//! and answers are remembered by idempotency key so a retried request never delivers twice.

use base64::Engine;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::payloads;
use super::problem::{ApiError, require_text};
use super::scenario::FaultKind;
use super::state::{ConnectorRuntime, DemoState, ReplayRecord};
use crate::api::{
    DeadLetterDto, DestinationResponse, DiscardRequest, ReplayOutcome, ReplayRequest,
    ReplayResponse,
};
use crate::domain::{DeadLetterError, DeadLetterState, PayloadEncoding};

/// `POST /v1/dead-letters/{id}/replay`, and each item of `POST /v1/dead-letters/replay`.
pub fn replay(
    state: &mut DemoState,
    id: &str,
    request: &ReplayRequest,
) -> Result<ReplayResponse, ApiError> {
    require_text("operator", &request.operator, "say who replays")?;
    require_text(
        "idempotency_key",
        &request.idempotency_key,
        "send a unique key per replay intent",
    )?;
    if let Some(record) = state.replays.get(&request.idempotency_key) {
        if record.dead_letter_id != id {
            return Err(ApiError::conflict(format!(
                "idempotency key {:?} was already used to replay dead letter {}; use a fresh key",
                request.idempotency_key, record.dead_letter_id
            )));
        }
        return Ok(record.response.clone());
    }
    let mut dead_letter = live_dead_letter(state, id, "replay")?;
    let bytes = match &request.payload {
        Some(edited) => decode(edited, request.payload_encoding.unwrap_or_default())?,
        None => decode(&dead_letter.payload, dead_letter.payload_encoding)?,
    };
    let runtime = state.connector(&dead_letter.connector).ok_or_else(|| {
        ApiError::not_found(format!(
            "connector {} of dead letter {id} is gone",
            dead_letter.connector
        ))
    })?;
    // Binary (non-JSON) payloads skip the JSON contract: the stored one, or an edited base64 one.
    let binary = dead_letter
        .content_type
        .as_deref()
        .is_some_and(|t| !t.contains("json"))
        && (request.payload.is_none() || request.payload_encoding == Some(PayloadEncoding::Base64));
    let verdict = judge(
        runtime,
        state.seed,
        &request.idempotency_key,
        &bytes,
        binary,
    );
    let payload_kind = runtime.spec.payload;
    let now = state.now();
    let (outcome, response) = match verdict {
        Ok(()) => {
            dead_letter.state = DeadLetterState::Replayed;
            *state.deliveries.entry(id.to_string()).or_insert(0) += 1;
            let body = payloads::delivered_body(payload_kind, id);
            (
                ReplayOutcome::Delivered,
                DestinationResponse {
                    status: Some(201),
                    body: Some(body),
                },
            )
        }
        Err(error) => {
            dead_letter.attempts += 1;
            dead_letter.last_failed_at = now;
            let body = error
                .vendor_response
                .clone()
                .unwrap_or_else(|| format!("{}: {}", error.code, error.message));
            let response = DestinationResponse {
                status: error.http_status,
                body: Some(body),
            };
            dead_letter.error = error;
            (ReplayOutcome::Failed, response)
        }
    };
    dead_letter.updated_at = now;
    state.put_dead_letter(dead_letter.clone());
    let answer = ReplayResponse {
        outcome,
        idempotency_key: request.idempotency_key.clone(),
        dead_letter,
        response,
    };
    state.replays.insert(
        request.idempotency_key.clone(),
        ReplayRecord {
            dead_letter_id: id.to_string(),
            response: answer.clone(),
        },
    );
    Ok(answer)
}

/// `POST /v1/dead-letters/{id}/discard`, and each item of `POST /v1/dead-letters/discard`:
/// idempotent; a replayed dead letter cannot be discarded.
pub fn discard(
    state: &mut DemoState,
    id: &str,
    request: &DiscardRequest,
) -> Result<DeadLetterDto, ApiError> {
    require_text("operator", &request.operator, "say who discards")?;
    let existing = state.dead_letter(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no dead letter {id}; list /v1/dead-letters for ids"
        ))
    })?;
    match existing.state {
        DeadLetterState::Discarded => Ok(existing.clone()),
        DeadLetterState::Replayed => Err(ApiError::conflict(format!(
            "dead letter {id} was already replayed and delivered; nothing to discard"
        ))),
        DeadLetterState::Dead => {
            let mut dead_letter = existing.clone();
            dead_letter.state = DeadLetterState::Discarded;
            dead_letter.updated_at = state.now();
            state.put_dead_letter(dead_letter.clone());
            Ok(dead_letter)
        }
    }
}

fn live_dead_letter(state: &DemoState, id: &str, verb: &str) -> Result<DeadLetterDto, ApiError> {
    let dead_letter = state.dead_letter(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no dead letter {id}; list /v1/dead-letters for ids"
        ))
    })?;
    match dead_letter.state {
        DeadLetterState::Dead => Ok(dead_letter.clone()),
        other => Err(ApiError::conflict(format!(
            "cannot {verb} dead letter {id}: it is already {}",
            other.as_str()
        ))),
    }
}

/// Standard base64 with its padding, taking any bits after the last whole byte (the OpenAPI
/// document's pattern for base64 payloads says what is accepted, and nothing more is asked).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

fn decode(payload: &str, encoding: PayloadEncoding) -> Result<Vec<u8>, ApiError> {
    match encoding {
        PayloadEncoding::Utf8 => Ok(payload.as_bytes().to_vec()),
        PayloadEncoding::Base64 => BASE64
            .decode(payload)
            .map_err(|e| ApiError::bad_request(format!("payload is not valid base64: {e}"))),
    }
}

/// What the destination does with `bytes`: `Ok` when it takes them, else the error it gives.
fn judge(
    runtime: &ConnectorRuntime,
    seed: u64,
    key: &str,
    bytes: &[u8],
    binary: bool,
) -> Result<(), DeadLetterError> {
    let json = if binary {
        None
    } else {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| DeadLetterError {
            code: "MALFORMED_PAYLOAD".into(),
            message: format!("payload is not valid JSON: {e}"),
            http_status: None,
            vendor_response: None,
        })?;
        let violations = runtime.contract.violations(&value);
        if !violations.is_empty() {
            return Err(DeadLetterError {
                code: "CONTRACT_VIOLATION".into(),
                message: format!(
                    "payload breaks {}: {}",
                    runtime.contract.file,
                    violations.join("; ")
                ),
                http_status: None,
                vendor_response: None,
            });
        }
        Some(value)
    };
    if runtime.fixed {
        return Ok(());
    }
    let fault = &runtime.spec.fault;
    let text_at = |field: &str| {
        json.as_ref()
            .and_then(|v| v.get(field))
            .and_then(Value::as_str)
    };
    let passes = match &fault.kind {
        FaultKind::RenamedField { field, .. } => {
            json.as_ref().is_some_and(|v| v.get(field).is_none())
        }
        FaultKind::DuplicateKey {
            key_field,
            must_include,
        } => {
            matches!((text_at(key_field), text_at(must_include)), (Some(k), Some(i)) if k.contains(i))
        }
        FaultKind::ApiVersion { field, required } => text_at(field) == Some(required.as_str()),
        FaultKind::Unavailable { success_per_10, .. } => {
            let digest = Sha256::new()
                .chain_update(seed.to_be_bytes())
                .chain_update(key.as_bytes())
                .finalize();
            let bucket = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % 10;
            bucket < u64::from(*success_per_10)
        }
        FaultKind::TypeChange { pointer, expected } => json
            .as_ref()
            .and_then(|v| v.pointer(pointer))
            .is_some_and(|v| json_type(v) == expected),
    };
    if passes {
        return Ok(());
    }
    Err(DeadLetterError {
        code: fault.code.clone(),
        message: fault.message.clone(),
        http_status: Some(fault.http_status),
        vendor_response: Some(fault.vendor_response.clone()),
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
