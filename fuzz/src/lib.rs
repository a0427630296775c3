//! The bodies of the fuzz targets (one `pub fn` per target in `fuzz_targets/`): arbitrary bytes
//! through triage's public entry points for untrusted or hand-written input, asserting what
//! must hold for any input besides "does not panic". The stable smoke
//! (`tests/it/fuzz_smoke.rs`) includes this same file, so both run the same code.
//!
//! - `config`: a config file's bytes → a config or an error located in the text;
//! - `connector_api`: an answer's bytes through every Connector API decoder and the error reader;
//! - `amqp_headers`: AMQP basic properties (wire format) → the dead letter, `x-death`, identity
//!   and replay properties the RabbitMQ adapter makes of them;
//! - `sanitize`: text → nothing a terminal acts on;
//! - `runbook`: markdown → ratatui text with no control character in any span;
//! - `query`: the `/` filter's text → a query evaluated on fields from the input, or an error at
//!   a column of the text.

use std::path::Path;

use triage::api::{
    ApiInfo, BatchDiscardResponse, BatchReplayResponse, ConnectorList, DeadLetterDto, IncidentDto,
    Page, ReplayResponse,
};
use triage::config::Config;
use triage::domain::query::{DeadLetterFields, Headers, IncidentFields, Query, RowKind};
use triage::domain::sanitize;
use triage::upstream::connector_api::decode;
use triage::upstream::http::error_message;
use triage::upstream::rabbitmq::message;

/// Asserts `text` has nothing a terminal would act on.
fn assert_clean(what: &str, text: &str) {
    assert!(
        sanitize::is_clean_line(text),
        "{what} not sanitised: {text:?}"
    );
}

/// `config`: whatever the bytes, a config or an error at a real place in them.
pub fn config(data: &[u8]) {
    let file = Path::new("/fuzz/triage.toml");
    match Config::parse_bytes(data, file) {
        Ok((config, routing)) => {
            let _ = config.inventory();
            let _ = routing.only_implicit_default();
        }
        Err(error) => {
            let lines = data.split(|&b| b == b'\n').collect::<Vec<_>>();
            assert!(
                error.line >= 1 && error.line <= lines.len(),
                "line {} of {}: {error}",
                error.line,
                lines.len()
            );
            let line_len = lines[error.line - 1].len();
            assert!(
                error.column >= 1 && error.column <= line_len + 1,
                "column {} of a {line_len}-byte line: {error}",
                error.column
            );
            assert!(
                !error.field.is_empty() && !error.message.is_empty(),
                "{error}"
            );
            let _ = error.to_string();
        }
    }
}

/// `connector_api`: the bytes as every answer the client decodes.
pub fn connector_api(data: &[u8]) {
    if let Ok(list) = serde_json::from_slice::<ConnectorList>(data) {
        for connector in list.items {
            let _ = decode::report(connector);
        }
    }
    if let Ok(page) = serde_json::from_slice::<Page<IncidentDto>>(data) {
        for incident in page.items {
            let id = incident.id.clone();
            assert_eq!(decode::incident("fuzz", incident).id, id);
        }
    }
    if let Ok(page) = serde_json::from_slice::<Page<DeadLetterDto>>(data) {
        for letter in page.items {
            dead_letter(letter);
        }
    }
    if let Ok(answer) = serde_json::from_slice::<ReplayResponse>(data) {
        dead_letter(answer.dead_letter);
    }
    if let Ok(info) = serde_json::from_slice::<ApiInfo>(data) {
        let _ = info.serves(triage::api::CAPABILITY_BATCH_REPLAY);
    }
    if let Ok(batch) = serde_json::from_slice::<BatchReplayResponse>(data) {
        for result in batch.results {
            let _ = result.status.http_status();
            if let Some(letter) = result.dead_letter {
                dead_letter(letter);
            }
        }
    }
    if let Ok(batch) = serde_json::from_slice::<BatchDiscardResponse>(data) {
        for result in batch.results {
            let _ = result.status.http_status();
            if let Some(letter) = result.dead_letter {
                dead_letter(letter);
            }
        }
    }
    assert_clean("error message", &error_message(data));
}

fn dead_letter(dto: DeadLetterDto) {
    let utf8 = dto.payload_encoding == triage::domain::PayloadEncoding::Utf8;
    let text = dto.payload.clone();
    match decode::dead_letter("fuzz", dto) {
        Ok(letter) if utf8 => assert_eq!(letter.payload, text.into_bytes()),
        Ok(_) => {}
        Err(message) => assert!(!utf8, "a UTF-8 payload cannot fail: {message}"),
    }
}

/// `amqp_headers`: the bytes as an AMQP content header's basic properties, the rest as the
/// payload.
pub fn amqp_headers(data: &[u8]) {
    let Ok((payload, properties)) = lapin::protocol::basic::parse_properties(data) else {
        return;
    };
    let seen_at = chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap_or_default();
    let letter = message::dead_letter("fuzz", "id", "connector", payload, &properties, seen_at);
    for (name, value) in &letter.headers {
        assert_clean("header name", name);
        assert_clean("header value", value);
    }
    assert_clean("error message", &letter.error.message);
    if let Some(content_type) = &letter.content_type {
        assert_clean("content type", content_type);
    }
    assert!(letter.first_failed_at <= letter.last_failed_at);
    for death in message::deaths(&properties) {
        let _ = death.describe();
        let _ = death.origin();
    }
    // The `/` filter's `origin:` reads the flattened `x-death` text; it must agree with the
    // adapter's origin queue: none without RabbitMQ's header, and the same queue when the text
    // can say it plainly (one `queue=`, a name without `,` `}` `=` or control characters).
    let origin = message::origin_queue(&properties);
    let shown = triage::domain::query::dead_letter_origin(&letter.headers, "connector");
    let x_death = letter.headers.iter().find(|(name, _)| name == "x-death");
    match (x_death, origin.as_deref()) {
        (None, _) => assert_eq!(shown, "connector", "an origin without x-death"),
        (Some((_, text)), Some(queue))
            if !queue.is_empty()
                && !queue.contains([',', '}', '='])
                && sanitize::is_clean_line(queue)
                && text.matches("queue=").count() == 1 =>
        {
            assert_eq!(shown, queue, "x-death: {text}");
        }
        _ => {}
    }
    let identity = message::identity(payload, &properties);
    assert_eq!(identity, message::identity(payload, &properties), "stable");
    let stamped = message::stamped(&properties, "0stamp");
    assert_eq!(message::identity(payload, &stamped), "0stamp");
    let replay = message::replay_properties(&properties, "operator", "key-1", true);
    assert_eq!(message::replay_id(&replay).as_deref(), Some("key-1"));
    assert_eq!(
        message::stamp(&replay),
        None,
        "a replayed copy carries no identity"
    );
}

/// `sanitize`: the bytes as untrusted text, one line or several.
pub fn sanitize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let line = sanitize::line(&text);
    assert_clean("line", &line);
    assert_eq!(
        sanitize::line(&line),
        line,
        "sanitising twice changes nothing"
    );
    assert_clean("bytes_line", &sanitize::bytes_line(data));
    let multiline = sanitize::multiline(&text);
    for part in multiline.split('\n') {
        assert_clean("multiline", part);
    }
    assert_eq!(
        sanitize::is_clean_line(&text),
        sanitize::line(&text) == text
    );
}

/// `runbook`: the bytes as a runbook's markdown (the first byte picks colour or not).
pub fn runbook(data: &[u8]) {
    let no_color = data.first().is_some_and(|b| b & 1 == 1);
    let markdown = String::from_utf8_lossy(data);
    let text = triage::runbook::render(&markdown, no_color);
    for line in &text.lines {
        for span in &line.spans {
            assert!(
                !span.content.chars().any(char::is_control),
                "control character in a span: {:?}",
                span.content
            );
        }
    }
}

/// `query`: NUL-separated parts — the query text, then a row's id, connector, error code,
/// error message (or title, kind), headers as the store's JSON, payload, and 16 bytes of times.
pub fn query(data: &[u8]) {
    let mut parts = data.split(|&b| b == 0);
    let mut next = || parts.next().unwrap_or_default();
    let text = String::from_utf8_lossy(next()).into_owned();
    let [id, connector, code, message, headers] =
        [(); 5].map(|_| String::from_utf8_lossy(next()).into_owned());
    let payload = next().to_vec();
    let times = next();
    let (now_ms, at_ms) = match times.get(..16) {
        Some(t) => (
            i64::from_le_bytes(t[..8].try_into().unwrap_or_default()),
            i64::from_le_bytes(t[8..].try_into().unwrap_or_default()),
        ),
        None => (1_764_000_000_000, 1_763_990_000_000),
    };
    let pairs: Option<Vec<(String, String)>> = serde_json::from_str(&headers).ok();
    for kind in [RowKind::DeadLetters, RowKind::Incidents] {
        let query = match Query::parse(&text, kind) {
            Ok(query) => query,
            Err(error) => {
                let columns = text.chars().count() + 1;
                assert!(
                    error.column >= 1 && error.column <= columns,
                    "column {} of {columns}: {error}",
                    error.column
                );
                let _ = error.render(&text);
                continue;
            }
        };
        let _ = query.has_status();
        match kind {
            RowKind::DeadLetters => {
                let fields = |headers| DeadLetterFields {
                    id: &id,
                    connector: &connector,
                    error_code: &code,
                    error_message: &message,
                    headers,
                    payload: &payload,
                    state: "dead",
                    last_failed_ms: at_ms,
                };
                let _ = query.matches_dead_letter_fields(
                    &fields(Headers::Json(&headers)),
                    now_ms,
                    |_| true,
                );
                let _ =
                    query.matches_dead_letter_fields(&fields(Headers::NotLoaded), now_ms, |_| true);
                // The store hands the headers as JSON, the console as pairs: same answer.
                if let Some(pairs) = &pairs {
                    let json = serde_json::to_string(pairs).unwrap_or_default();
                    assert_eq!(
                        query.matches_dead_letter_fields(
                            &fields(Headers::Pairs(pairs)),
                            now_ms,
                            |_| true
                        ),
                        query.matches_dead_letter_fields(
                            &fields(Headers::Json(&json)),
                            now_ms,
                            |_| true
                        ),
                        "pairs and their JSON disagree on {text:?}"
                    );
                }
            }
            RowKind::Incidents => {
                let fields = IncidentFields {
                    id: &id,
                    connector: &connector,
                    title: &message,
                    kind: &code,
                    severity: "major",
                    status: "open",
                    acked_by: Some(&headers),
                    opened_ms: at_ms,
                    owner: Some(&connector),
                };
                let _ = query.matches_incident_fields(&fields, now_ms, |_| true);
            }
        }
    }
}
