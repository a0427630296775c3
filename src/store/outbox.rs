//! The outbox of operator actions: enqueue (with its `requested` audit row), due/claim leases,
//! retries and outcomes, each state change in one transaction with its audit row.

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::{NewAuditRow, append, sha256_hex};
use super::codec::ms;
use super::dead_letters::upsert_dead_letter;
use super::incidents::upsert_incident;
use super::{Result, Store, StoreError};
use crate::domain::{
    Action, ActionOutcome, DeadLetter, Incident, OutboxEntry, OutboxState, Timestamp,
};

impl Store {
    /// Writes the action to the outbox (state pending, new idempotency key) and an audit row
    /// `<kind>.requested` in one transaction.
    pub fn enqueue_action(&mut self, action: &Action, at: Timestamp) -> Result<OutboxEntry> {
        self.write_tx(|tx| insert_action(tx, action, at))
    }

    /// [`Store::claim_action`] for each of `ids`, in one transaction: whether each was claimed.
    pub fn claim_actions(
        &mut self,
        ids: &[String],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<bool>> {
        self.write_tx(|tx| {
            ids.iter()
                .map(|id| claim_in(tx, id, now, until).map(|n| n == 1))
                .collect()
        })
    }

    /// Takes a lease on a pending action until `until` for this process, so one worker (of any
    /// process) sends it. A lease held by a process of this host that is gone (`holder::alive`)
    /// is taken over at once. Returns false when another live worker holds it or it is no longer
    /// pending.
    pub fn claim_action(&mut self, id: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        let claimed = claim_in(&self.conn, id, now, until).map_err(|e| self.sqlite(e))?;
        Ok(claimed == 1)
    }

    /// Records the answers of a group of actions (`(outbox id, what happened)`) in ONE
    /// transaction, each as [`Store::record_action_outcome`] or [`Store::record_action_error`]
    /// would: a run's stage of thousands is recorded at once, not one transaction per action.
    /// The entries are the ones the round claimed (as `due_actions` read them).
    pub fn record_actions(
        &mut self,
        prepared: Vec<(OutboxEntry, Recording)>,
        at: Timestamp,
    ) -> Result<usize> {
        self.write_tx(|tx| {
            let n = prepared.len();
            for (entry, recording) in prepared {
                match recording {
                    Recording::Outcome {
                        outcome,
                        incident,
                        dead_letter,
                    } => outcome_in(
                        tx,
                        &entry,
                        &outcome,
                        incident.as_deref(),
                        dead_letter.as_deref(),
                        at,
                    ),
                    Recording::Error { error, retry_at } => {
                        error_in(tx, &entry, &error, retry_at, at)
                    }
                }?;
            }
            Ok(n)
        })
    }

    /// A transient failure: `retry_at = Some(t)` keeps it pending until t; `None` fails it for
    /// good. Audit row `<kind>.retry` or `<kind>.failed` in the same transaction. Counts an attempt.
    /// A retry for the same reason as the last one (numbers aside) writes no audit row: an outage
    /// is audited once when it starts and once when it ends (the final row counts the attempts).
    pub fn record_action_error(
        &mut self,
        id: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<()> {
        let entry = self
            .outbox_entry(id)?
            .ok_or_else(|| self.unknown_action(id))?;
        self.write_tx(|tx| error_in(tx, &entry, error, retry_at, at))
    }

    /// The upstream answered: state sent (ok) or failed (refused); audit row `<kind>.sent` or
    /// `<kind>.failed`; and the upstream's updated incident / dead letter, all in one transaction.
    pub fn record_action_outcome(
        &mut self,
        id: &str,
        outcome: &ActionOutcome,
        incident: Option<&Incident>,
        dead_letter: Option<&DeadLetter>,
        at: Timestamp,
    ) -> Result<()> {
        let entry = self
            .outbox_entry(id)?
            .ok_or_else(|| self.unknown_action(id))?;
        self.write_tx(|tx| outcome_in(tx, &entry, outcome, incident, dead_letter, at))
    }

    fn unknown_action(&self, id: &str) -> StoreError {
        StoreError::UnknownAction {
            path: self.path.clone(),
            id: id.to_string(),
        }
    }
}

/// What became of one action, for [`Store::record_actions`].
#[derive(Debug, Clone)]
pub enum Recording {
    /// The upstream answered (ok: sent; refused: failed), with what it changed.
    Outcome {
        outcome: ActionOutcome,
        incident: Option<Box<Incident>>,
        dead_letter: Option<Box<DeadLetter>>,
    },
    /// No answer: pending again until `retry_at`, or failed for good without one.
    Error {
        error: String,
        retry_at: Option<Timestamp>,
    },
}

fn claim_in(
    conn: &Connection,
    id: &str,
    now: Timestamp,
    until: Timestamp,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE outbox SET lease_until_ms = ?2, updated_ms = ?3, lease_holder = ?4,
            lease_since_ms = ?3
         WHERE id = ?1 AND state = 'pending'
           AND (lease_until_ms IS NULL OR lease_until_ms <= ?3
                OR NOT triage_holder_alive(lease_holder))",
    )?
    .execute(params![
        id,
        ms(until),
        ms(now),
        super::holder::this_process()
    ])
}

/// The answer of `entry` inside the caller's transaction: state, audit row, and what the
/// upstream changed.
fn outcome_in(
    tx: &Connection,
    entry: &OutboxEntry,
    outcome: &ActionOutcome,
    incident: Option<&Incident>,
    dead_letter: Option<&DeadLetter>,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let (state, event) = if outcome.ok {
        (OutboxState::Sent, "sent")
    } else {
        (OutboxState::Failed, "failed")
    };
    let outcome_json = serde_json::to_string(outcome)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let outcome_json = crate::domain::redact::scrub(&outcome_json).into_owned();
    let detail = if outcome.response.is_null() {
        outcome.summary.clone()
    } else {
        format!("{} {}", outcome.summary, outcome.response)
    };
    let detail = with_attempts(&detail, entry.attempts + 1, true);
    tx.prepare_cached(
        "UPDATE outbox SET state = ?2, attempts = attempts + 1, lease_until_ms = NULL,
            lease_holder = NULL, lease_since_ms = NULL, outcome = ?3, updated_ms = ?4
         WHERE id = ?1",
    )?
    .execute(params![entry.id, state.as_str(), outcome_json, ms(at)])?;
    if let Some(incident) = incident {
        upsert_incident(tx, incident)?;
    }
    if let Some(dead_letter) = dead_letter {
        upsert_dead_letter(tx, dead_letter)?;
    }
    audit_transition(tx, &entry.action, &entry.id, event, &detail, at)
}

/// A failed attempt of `entry` inside the caller's transaction (see
/// [`Store::record_action_error`]).
fn error_in(
    tx: &Connection,
    entry: &OutboxEntry,
    error: &str,
    retry_at: Option<Timestamp>,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let (state, event) = match retry_at {
        Some(_) => (OutboxState::Pending, "retry"),
        None => (OutboxState::Failed, "failed"),
    };
    let error = &*crate::domain::redact::scrub(error);
    tx.prepare_cached(
        "UPDATE outbox SET state = ?2, attempts = attempts + 1, next_attempt_ms = ?3,
            lease_until_ms = NULL, lease_holder = NULL, lease_since_ms = NULL, last_error = ?4,
            updated_ms = ?5 WHERE id = ?1",
    )?
    .execute(params![
        entry.id,
        state.as_str(),
        ms(retry_at.unwrap_or(at)),
        error,
        ms(at)
    ])?;
    let same_reason = retry_at.is_some()
        && entry.attempts > 0
        && entry
            .last_error
            .as_deref()
            .is_some_and(|last| same_reason(last, error));
    if !same_reason {
        let detail = with_attempts(error, entry.attempts + 1, retry_at.is_none());
        audit_transition(tx, &entry.action, &entry.id, event, &detail, at)?;
    }
    Ok(())
}

fn audit_row<'a>(
    action: &'a Action,
    id: &'a str,
    payload_hash: &'a str,
    event: &'a str,
    detail: &'a str,
    at: Timestamp,
) -> NewAuditRow<'a> {
    NewAuditRow {
        at,
        operator: &action.operator,
        event,
        upstream: &action.upstream,
        target: &action.target,
        outbox_id: Some(id),
        payload_hash: Some(payload_hash),
        detail,
    }
}

/// Audit row `<kind>.<event>` for an outbox state change, hashing the action as stored.
fn audit_transition(
    conn: &Connection,
    action: &Action,
    id: &str,
    event: &str,
    detail: &str,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let action_json: Option<String> = conn
        .prepare_cached("SELECT action FROM outbox WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    let payload_hash = sha256_hex(action_json.unwrap_or_default().as_bytes());
    let event = format!("{}.{event}", action.kind.as_str());
    append(
        conn,
        &audit_row(action, id, &payload_hash, &event, detail, at),
    )?;
    Ok(())
}

/// Two errors with the same text once digit runs are ignored (ports, counts, seconds differ).
fn same_reason(a: &str, b: &str) -> bool {
    let shape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if c.is_ascii_digit() {
                if !out.ends_with('#') {
                    out.push('#');
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    shape(a) == shape(b)
}

/// The audit detail of an attempt: after retries, says how many attempts it took.
fn with_attempts(detail: &str, attempt: u32, last: bool) -> String {
    if last && attempt > 1 {
        format!("{detail} (after {attempt} attempts)")
    } else {
        detail.to_string()
    }
}

/// Inserts a pending outbox row (new id and idempotency key) and its `<kind>.requested` audit
/// row inside the caller's transaction.
pub(crate) fn insert_action(
    tx: &Connection,
    action: &Action,
    at: Timestamp,
) -> rusqlite::Result<OutboxEntry> {
    let action_json = serde_json::to_string(action)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let entry = OutboxEntry {
        id: uuid::Uuid::now_v7().to_string(),
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        action: action.clone(),
        state: OutboxState::Pending,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
        outcome: None,
        created_at: at,
        updated_at: at,
        lease: None,
    };
    tx.prepare_cached(
        "INSERT INTO outbox (id, idempotency_key, kind, upstream, target, action, state, attempts,
            next_attempt_ms, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)",
    )?
    .execute(params![
        entry.id,
        entry.idempotency_key,
        action.kind.as_str(),
        action.upstream,
        action.target,
        action_json,
        ms(at)
    ])?;
    let event = format!("{}.requested", action.kind.as_str());
    let payload_hash = sha256_hex(action_json.as_bytes());
    let detail = action.note.clone().unwrap_or_default();
    append(
        tx,
        &audit_row(action, &entry.id, &payload_hash, &event, &detail, at),
    )?;
    Ok(entry)
}
