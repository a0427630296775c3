//! Reading the Connector API's answers into domain values, without I/O: the wire types of
//! `crate::api` (serde, decoded from the answer's bytes by the HTTP client) mapped to
//! `Incident`, `DeadLetter` (a base64 payload decoded to its bytes) and `ConnectorReport`. The
//! client reads every answer through these; the fuzz target `connector_api` feeds them
//! arbitrary bytes.

use base64::Engine;

use crate::api::{ConnectorDto, DeadLetterDto, IncidentDto};
use crate::domain::{ConnectorReport, DeadLetter, Incident, Link, PayloadEncoding, QueueStats};

/// An incident of upstream `upstream` as the API sent it.
pub fn incident(upstream: &str, dto: IncidentDto) -> Incident {
    Incident {
        upstream: upstream.to_string(),
        id: dto.id,
        connector: dto.connector,
        kind: dto.kind,
        severity: dto.severity,
        status: dto.status,
        title: dto.title,
        detail: dto.detail,
        opened_at: dto.opened_at,
        updated_at: dto.updated_at,
        acked_by: dto.acked_by,
        acked_at: dto.acked_at,
        resolved_at: dto.resolved_at,
        ack_deadline: None,
        escalation_level: dto.escalation_level,
        labels: dto.labels,
        links: dto
            .links
            .into_iter()
            .map(|l| Link {
                title: l.title,
                url: l.url,
            })
            .collect(),
    }
}

/// A dead letter of upstream `upstream` as the API sent it, its payload as bytes; the error
/// says which letter's payload is not the base64 its `payload_encoding` promises.
pub fn dead_letter(upstream: &str, dto: DeadLetterDto) -> Result<DeadLetter, String> {
    let payload = match dto.payload_encoding {
        PayloadEncoding::Utf8 => dto.payload.into_bytes(),
        PayloadEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(dto.payload.as_bytes())
            .map_err(|e| format!("dead letter {:?}: payload is not base64: {e}", dto.id))?,
    };
    Ok(DeadLetter {
        upstream: upstream.to_string(),
        id: dto.id,
        connector: dto.connector,
        payload,
        content_type: dto.content_type,
        headers: dto.headers.into_iter().collect(),
        error: dto.error,
        attempts: dto.attempts,
        first_failed_at: dto.first_failed_at,
        last_failed_at: dto.last_failed_at,
        state: dto.state,
        updated_at: dto.updated_at,
    })
}

/// A connector with its queue statistics and rates.
pub fn report(dto: ConnectorDto) -> ConnectorReport {
    ConnectorReport {
        id: dto.id,
        name: dto.name,
        status: dto.status,
        stats: QueueStats {
            ready: dto.queue.ready,
            in_flight: dto.queue.in_flight,
            retrying: dto.queue.retrying,
            dead: dto.queue.dead,
            rate_in: dto.rates.in_per_s,
            rate_out: dto.rates.out_per_s,
            rate_fail: dto.rates.fail_per_s,
        },
        last_error: dto.last_error,
        updated_at: dto.updated_at,
    }
}
