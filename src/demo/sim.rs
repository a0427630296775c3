//! The scenario engine: fills the start state (a live-looking backlog and incidents) and
//! advances the simulation one tick at a time (queue drift, new dead letters on faulty
//! connectors, incidents opening or re-firing). Random choices come from the seeded `StdRng`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration as ChronoDuration;
use rand::Rng;

use super::cursor;
use super::payloads::{self, GeneratedPayload};
use super::scenario::{IncidentSpec, Scenario};
use super::state::DemoState;
use crate::api::{DeadLetterDto, IncidentDto, LinkDto};
use crate::domain::{
    DeadLetterError, DeadLetterState, IncidentStatus, PayloadEncoding, Severity, Timestamp,
};

/// How long replayed and discarded dead letters stay listed (with `updated_since`).
const TOMBSTONE_HOURS: i64 = 24;
/// A demo left running for days stops growing its backlogs here (memory stays bounded).
const MAX_DEAD_PER_CONNECTOR: u64 = 5_000;

/// Fills `state` with the scenario's start: backlogs spread over the last hours, and incidents.
pub fn seed(state: &mut DemoState, scenario: &Scenario) {
    let now = state.now();
    for index in 0..state.connectors.len() {
        let count = state.connectors[index].spec.initial_dead;
        for n in 0..count {
            // Oldest first, spread over the last six hours, so ids and times ascend together.
            let minutes_ago = 360 - (i64::from(n) * 350 / i64::from(count.max(1)));
            let jitter = state.rng.random_range(0..50_000);
            let at =
                now - ChronoDuration::minutes(minutes_ago) + ChronoDuration::milliseconds(jitter);
            let retried_for = ChronoDuration::minutes(state.rng.random_range(1..=9));
            add_dead_letter(state, index, at, (at + retried_for).min(now));
        }
    }
    for spec in &scenario.incidents {
        let incident = incident_from_spec(state, spec, &now);
        state.put_incident(incident);
    }
}

fn incident_from_spec(state: &mut DemoState, spec: &IncidentSpec, now: &Timestamp) -> IncidentDto {
    let ago = |d: std::time::Duration| {
        *now - ChronoDuration::milliseconds(i64::try_from(d.as_millis()).unwrap_or(0))
    };
    let opened_at = ago(spec.opened_ago);
    let acked_at = spec.acked_ago.map(ago);
    let resolved_at = spec.resolved_ago.map(ago);
    let updated_at = [Some(opened_at), acked_at, resolved_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(opened_at);
    IncidentDto {
        id: payloads::new_id("inc_", cursor::millis(&opened_at), &mut state.rng),
        connector: spec.connector.clone(),
        kind: spec.kind.clone(),
        severity: spec.severity,
        status: spec.status,
        title: spec.title.clone(),
        detail: spec.detail.clone(),
        opened_at,
        updated_at,
        acked_by: spec.acked_by.clone(),
        acked_at,
        resolved_at,
        escalation_level: spec.escalation_level,
        labels: spec.labels.clone(),
        links: spec
            .links
            .iter()
            .map(|l| LinkDto {
                title: l.title.clone(),
                url: l.url.clone(),
            })
            .collect(),
    }
}

/// Generates one dead letter on connector `index`, first failed at `at`, given up on (and last
/// updated) at `last_failed_at`.
pub fn add_dead_letter(
    state: &mut DemoState,
    index: usize,
    at: Timestamp,
    last_failed_at: Timestamp,
) {
    let seq = state.connectors[index].generated;
    state.connectors[index].generated += 1;
    let kind = state.connectors[index].spec.payload;
    let generated = payloads::generate(kind, seq, &at, &mut state.rng);
    let error = dead_letter_error(state, index, &generated);
    let attempts = state.rng.random_range(3..=8);
    let spec = &state.connectors[index].spec;
    let dead_letter = DeadLetterDto {
        id: payloads::new_id("dl_", cursor::millis(&at), &mut state.rng),
        connector: spec.id.clone(),
        payload: if generated.binary {
            STANDARD.encode(&generated.bytes)
        } else {
            String::from_utf8_lossy(&generated.bytes).into_owned()
        },
        payload_encoding: if generated.binary {
            PayloadEncoding::Base64
        } else {
            PayloadEncoding::Utf8
        },
        content_type: Some(generated.content_type),
        headers: generated.headers.into_iter().collect::<BTreeMap<_, _>>(),
        error,
        attempts,
        first_failed_at: at,
        last_failed_at,
        state: DeadLetterState::Dead,
        updated_at: last_failed_at,
    };
    state.put_dead_letter(dead_letter);
}

/// Why the generated event died: the connector's fault, or its contract for broken payloads.
fn dead_letter_error(
    state: &DemoState,
    index: usize,
    generated: &GeneratedPayload,
) -> DeadLetterError {
    let runtime = &state.connectors[index];
    if generated.violates_contract {
        let violations = serde_json::from_slice(&generated.bytes)
            .map(|v| runtime.contract.violations(&v))
            .unwrap_or_default();
        return DeadLetterError {
            code: "CONTRACT_VIOLATION".into(),
            message: format!(
                "payload breaks {}: {}",
                runtime.contract.file,
                violations.join("; ")
            ),
            http_status: None,
            vendor_response: None,
        };
    }
    let fault = &runtime.spec.fault;
    let message = if generated.binary {
        "cannot load protobuf event: field 4 (revenue) has wire type 2 (string), expected fixed64"
            .to_string()
    } else {
        fault.message.clone()
    };
    DeadLetterError {
        code: fault.code.clone(),
        message,
        http_status: Some(fault.http_status),
        vendor_response: Some(fault.vendor_response.clone()),
    }
}

/// Advances the simulation one step.
pub fn tick(state: &mut DemoState) {
    let now = state.now();
    for index in 0..state.connectors.len() {
        drift_queue(state, index, &now);
        let runtime = &state.connectors[index];
        if !runtime.fixed
            && state
                .rng
                .random_bool(runtime.spec.new_dead_chance.clamp(0.0, 1.0))
            && state.dead_count(&runtime.spec.id) < MAX_DEAD_PER_CONNECTOR
        {
            for _ in 0..state.rng.random_range(1..=2) {
                let last_failed_at = state.now();
                let at = last_failed_at - ChronoDuration::seconds(state.rng.random_range(20..600));
                add_dead_letter(state, index, at, last_failed_at);
            }
        }
    }
    if state.rng.random_bool(0.1) {
        refire_incident(state);
    }
    if state.rng.random_bool(0.03) {
        open_incident(state);
    }
    state.prune_tombstones(&(now - ChronoDuration::hours(TOMBSTONE_HOURS)));
}

fn drift_queue(state: &mut DemoState, index: usize, now: &Timestamp) {
    let base = state.connectors[index].spec.baseline;
    let fixed = state.connectors[index].fixed;
    let rng = &mut state.rng;
    let mut wobble = |value: f64| value * rng.random_range(0.8..1.2);
    let ready = wobble(base.ready as f64).round() as u64;
    let in_flight = wobble(base.in_flight as f64).round() as u64;
    let retrying = if fixed {
        0
    } else {
        wobble(base.retrying as f64).round() as u64
    };
    let rate_in = wobble(base.rate_in);
    let rate_fail = if fixed { 0.0 } else { wobble(base.rate_fail) };
    let rate_out = if fixed {
        rate_in * 1.05
    } else {
        wobble(base.rate_out)
    };
    let runtime = &mut state.connectors[index];
    runtime.queue.ready = ready;
    runtime.queue.in_flight = in_flight;
    runtime.queue.retrying = retrying;
    runtime.rates.in_per_s = (rate_in * 100.0).round() / 100.0;
    runtime.rates.out_per_s = (rate_out * 100.0).round() / 100.0;
    runtime.rates.fail_per_s = (rate_fail * 100.0).round() / 100.0;
    runtime.updated_at = *now;
}

/// An unresolved incident fires again: its fire count goes up and updated_at moves.
fn refire_incident(state: &mut DemoState) {
    let mut live: Vec<IncidentDto> = state
        .incidents()
        .filter(|i| i.status != IncidentStatus::Resolved)
        .cloned()
        .collect();
    if live.is_empty() {
        return;
    }
    live.sort_by(|a, b| a.id.cmp(&b.id));
    let pick = state.rng.random_range(0..live.len());
    let mut incident = live.swap_remove(pick);
    let fired: u32 = incident
        .labels
        .get("fire_count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    incident
        .labels
        .insert("fire_count".into(), (fired + 1).to_string());
    incident.updated_at = state.now();
    state.put_incident(incident);
}

/// A faulty connector without an unresolved incident gets one about its growing backlog.
fn open_incident(state: &mut DemoState) {
    let quiet: Vec<usize> = (0..state.connectors.len())
        .filter(|&i| {
            let id = &state.connectors[i].spec.id;
            !state.connectors[i].fixed
                && !state
                    .incidents()
                    .any(|inc| &inc.connector == id && inc.status != IncidentStatus::Resolved)
        })
        .collect();
    if quiet.is_empty() {
        return;
    }
    let index = quiet[state.rng.random_range(0..quiet.len())];
    let now = state.now();
    let spec = state.connectors[index].spec.clone();
    let waiting = state.dead_count(&spec.id);
    let incident = IncidentDto {
        id: payloads::new_id("inc_", cursor::millis(&now), &mut state.rng),
        connector: spec.id.clone(),
        kind: "dead_letters_growing".into(),
        severity: Severity::Major,
        status: IncidentStatus::Open,
        title: format!("{}: dead letters growing ({waiting} waiting)", spec.name),
        detail: format!(
            "{} {}: {}",
            spec.destination, spec.fault.code, spec.fault.message
        ),
        opened_at: now,
        updated_at: now,
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        escalation_level: 0,
        labels: BTreeMap::from([("owner".to_string(), spec.owner.clone())]),
        links: vec![],
    };
    state.put_incident(incident);
}

/// `--scale N`: N more dead letters (the connectors' own payload kinds and faults, spread
/// round-robin, oldest first over the last 24 hours so ids and times ascend together) and N/10
/// incidents over the last 30 days — most resolved, some acknowledged, a tenth open.
pub fn scale(state: &mut DemoState, n: usize) {
    let now = state.now();
    let connectors = state.connectors.len().max(1);
    let span_ms: i64 = 24 * 3_600_000;
    for k in 0..n {
        let at =
            now - ChronoDuration::milliseconds(span_ms - (k as i64 * span_ms / n.max(1) as i64));
        let retried_for = ChronoDuration::seconds(state.rng.random_range(30..=600));
        add_dead_letter(state, k % connectors, at, (at + retried_for).min(now));
    }
    let incidents = n / 10;
    let span_ms: i64 = 30 * 24 * 3_600_000;
    let kinds = [
        "dead_letters_growing",
        "delivery_failures",
        "schema_drift",
        "vendor_outage",
    ];
    let severities = [
        Severity::Critical,
        Severity::Major,
        Severity::Major,
        Severity::Warning,
    ];
    for k in 0..incidents {
        let index = k % connectors;
        let spec = state.connectors[index].spec.clone();
        let opened_at = now
            - ChronoDuration::milliseconds(
                span_ms - (k as i64 * span_ms / incidents.max(1) as i64),
            );
        let roll = state.rng.random_range(0..10);
        let acked_at = (roll >= 1)
            .then(|| opened_at + ChronoDuration::seconds(state.rng.random_range(30..=3_600)));
        let resolved_at = (roll >= 3)
            .then(|| opened_at + ChronoDuration::seconds(state.rng.random_range(600..=86_400)));
        let status = match (acked_at, resolved_at) {
            (_, Some(_)) => IncidentStatus::Resolved,
            (Some(_), None) => IncidentStatus::Acknowledged,
            _ => IncidentStatus::Open,
        };
        let kind = kinds[state.rng.random_range(0..kinds.len())];
        let updated_at = [Some(opened_at), acked_at, resolved_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(opened_at)
            .min(now);
        let incident = IncidentDto {
            id: payloads::new_id("inc_", cursor::millis(&opened_at), &mut state.rng),
            connector: spec.id.clone(),
            kind: kind.into(),
            severity: severities[state.rng.random_range(0..severities.len())],
            status,
            title: format!(
                "{}: {} ({} #{k})",
                spec.name,
                kind.replace('_', " "),
                spec.fault.code
            ),
            detail: format!(
                "{} {}: {}",
                spec.destination, spec.fault.code, spec.fault.message
            ),
            opened_at,
            updated_at,
            acked_by: acked_at.map(|_| spec.owner.clone()),
            acked_at: acked_at.map(|t| t.min(now)),
            resolved_at: resolved_at.filter(|t| *t <= now),
            escalation_level: 0,
            labels: BTreeMap::from([("owner".to_string(), spec.owner.clone())]),
            links: vec![],
        };
        state.put_incident(incident);
    }
}
