//! The outbox's row changes inside a caller's transaction: inserting an action (with its
//! `requested` audit row, optionally already leased to this process), claiming one, and
//! recording an answer, a failed attempt or a recall (with its audit row). The audit rows of one
//! transaction are chained through one [`AuditTail`], read once.

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::{AuditTail, NewAuditRow, sha256_hex};
use super::codec::ms;
use super::dead_letters::record_dead_letter;
use super::incidents::upsert_incident;
use super::outbox::OutcomeRecord;
use crate::domain::{
    Action, DeadLetter, Incident, LetterState, OutboxEntry, OutboxLease, OutboxState, Stored,
    Timestamp,
};

pub(crate) fn claim_in(
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

/// What an answer changed of a dead letter: the letter as the upstream now has it, or (a
/// minimal answer) only its state.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LetterChange<'a> {
    Whole(&'a DeadLetter),
    State(&'a LetterState),
}

/// The answer of `entry` inside the caller's transaction: state, audit row, and what the
/// upstream changed.
pub(crate) fn outcome_in(
    tx: &Connection,
    tail: &mut AuditTail,
    entry: &OutboxEntry,
    answer: &OutcomeRecord,
    incident: Option<&Incident>,
    letter: Option<LetterChange<'_>>,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let (state, event) = if answer.outcome.ok {
        (OutboxState::Sent, "sent")
    } else {
        (OutboxState::Failed, "failed")
    };
    let detail = with_attempts(&answer.detail, entry.attempts + 1, true);
    tx.prepare_cached(
        "UPDATE outbox SET state = ?2, attempts = attempts + 1, lease_until_ms = NULL,
            lease_holder = NULL, lease_since_ms = NULL, outcome = ?3, updated_ms = ?4
         WHERE id = ?1",
    )?
    .execute(params![entry.id, state.as_str(), answer.stored, ms(at)])?;
    if let Some(incident) = incident {
        upsert_incident(tx, incident)?;
    }
    match letter {
        Some(LetterChange::Whole(dead_letter)) => {
            record_dead_letter(tx, dead_letter)?;
        }
        Some(LetterChange::State(change)) => {
            // The state alone: no payload to bind and compare, and the search index's
            // update trigger (on content columns) does not fire. `OR FAIL`: see
            // `record_dead_letter`.
            tx.prepare_cached(
                "UPDATE OR FAIL dead_letters SET state = ?3, updated_ms = ?4
                  WHERE upstream = ?1 AND id = ?2 AND state IS NOT ?3",
            )?
            .execute(params![
                change.upstream,
                change.id,
                change.state.as_str(),
                ms(change.at)
            ])?;
        }
        None => {}
    }
    audit_transition(tx, tail, entry, event, &detail, at)
}

/// A failed attempt of `entry` inside the caller's transaction (see
/// [`Store::record_action_error`](super::Store::record_action_error)).
pub(crate) fn error_in(
    tx: &Connection,
    tail: &mut AuditTail,
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
        audit_transition(tx, tail, entry, event, &detail, at)?;
    }
    Ok(())
}

/// A recall of `entry` inside the caller's transaction: its run was paused before the upstream
/// acted on it. Closed as `recalled` (not sent, not failed), the lease released, `reason` kept
/// as its last error and in the audit row `<kind>.recalled`; the run's settle plans its member
/// again (`store::run_members`).
pub(crate) fn recalled_in(
    tx: &Connection,
    tail: &mut AuditTail,
    entry: &OutboxEntry,
    reason: &str,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let reason = &*crate::domain::redact::scrub(reason);
    tx.prepare_cached(
        "UPDATE outbox SET state = ?2, attempts = attempts + 1, lease_until_ms = NULL,
            lease_holder = NULL, lease_since_ms = NULL, last_error = ?3, updated_ms = ?4
         WHERE id = ?1",
    )?
    .execute(params![
        entry.id,
        OutboxState::Recalled.as_str(),
        reason,
        ms(at)
    ])?;
    audit_transition(tx, tail, entry, "recalled", reason, at)
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

/// Audit row `<kind>.<event>` for an outbox state change, with the hash of the action as stored:
/// the one this process made when it stored it, or the stored action's, read back.
fn audit_transition(
    conn: &Connection,
    tail: &mut AuditTail,
    entry: &OutboxEntry,
    event: &str,
    detail: &str,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let (action, id) = (&entry.action, entry.id.as_str());
    let payload_hash = match &entry.stored.hash {
        Some(hash) => hash.clone(),
        None => {
            let action_json: Option<String> = conn
                .prepare_cached("SELECT action FROM outbox WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            sha256_hex(action_json.unwrap_or_default().as_bytes())
        }
    };
    let event = format!("{}.{event}", action.kind.as_str());
    tail.append(
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
/// row inside the caller's transaction. With `lease_until` the row is born leased to this
/// process (as [`claim_in`] would leave it), so the process that enqueues it can send it
/// without claiming it in another transaction; a process that dies holding it loses the lease
/// at once (`store::holder`), like any lease.
pub(crate) fn insert_action(
    tx: &Connection,
    tail: &mut AuditTail,
    action: &Action,
    at: Timestamp,
    lease_until: Option<Timestamp>,
) -> rusqlite::Result<OutboxEntry> {
    let action_json = serde_json::to_string(action)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let holder = lease_until.map(|_| super::holder::this_process());
    let payload_hash = sha256_hex(action_json.as_bytes());
    let entry = OutboxEntry {
        id: time_ordered_id().to_string(),
        idempotency_key: time_ordered_id().to_string(),
        action: action.clone(),
        state: OutboxState::Pending,
        attempts: 0,
        next_attempt_at: at,
        last_error: None,
        outcome: None,
        created_at: at,
        updated_at: at,
        lease: holder.map(|holder| OutboxLease {
            holder: holder.to_string(),
            since: Some(at),
            until: lease_until,
            alive: true,
        }),
        stored: Stored {
            hash: Some(payload_hash.clone()),
            member: None,
        },
    };
    tx.prepare_cached(
        "INSERT INTO outbox (id, idempotency_key, kind, upstream, target, action, state, attempts,
            next_attempt_ms, created_ms, updated_ms, lease_holder, lease_since_ms, lease_until_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        entry.id,
        entry.idempotency_key,
        action.kind.as_str(),
        action.upstream,
        action.target,
        action_json,
        ms(at),
        holder,
        holder.map(|_| ms(at)),
        lease_until.map(ms),
    ])?;
    let event = format!("{}.requested", action.kind.as_str());
    let detail = action.note.clone().unwrap_or_default();
    tail.append(
        tx,
        &audit_row(action, &entry.id, &payload_hash, &event, &detail, at),
    )?;
    Ok(entry)
}

/// A UUIDv7 (RFC 9562) for an outbox row: the millisecond, then a 42-bit counter that starts at
/// a random value each millisecond and counts up within it (so ids made together sort in the
/// order they were made, as `Uuid::now_v7`'s do), then 32 random bits. Unlike `now_v7`, the
/// random bits come from the thread's user-space generator (seeded by the OS), not a
/// `getrandom` call per id: a run hands thousands of actions to the outbox at once.
pub(crate) fn time_ordered_id() -> uuid::Uuid {
    static LAST: std::sync::Mutex<(u64, u64)> = std::sync::Mutex::new((0, 0));
    const COUNTER_BITS: u32 = 42;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let (ms, counter) = {
        let mut last = LAST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now_ms > last.0 {
            // Seeded in the lower half of the range, so a millisecond has room to count.
            *last = (now_ms, rand::random::<u64>() >> (64 - COUNTER_BITS + 1));
        } else {
            // The same millisecond, or the clock went back: count on from the last id.
            last.1 += 1;
            if last.1 >> COUNTER_BITS != 0 {
                *last = (last.0 + 1, 0);
            }
        }
        *last
    };
    let random = u128::from(rand::random::<u32>());
    let counter = u128::from(counter);
    let value = (u128::from(ms) & 0xffff_ffff_ffff) << 80
        | 0x7 << 76
        | ((counter >> 30) & 0xfff) << 64
        | 0b10 << 62
        | (counter & 0x3fff_ffff) << 32
        | random;
    uuid::Uuid::from_u128(value)
}

#[cfg(test)]
mod id_tests {
    use super::time_ordered_id;

    #[test]
    fn ids_are_version_7_and_sort_in_the_order_they_were_made() {
        let ids: Vec<uuid::Uuid> = (0..10_000).map(|_| time_ordered_id()).collect();
        for id in &ids {
            assert_eq!(id.get_version_num(), 7, "{id}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
        }
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
            // As text too: the store compares them as TEXT.
            assert!(pair[0].to_string() < pair[1].to_string());
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (secs, nanos) = ids[0]
            .get_timestamp()
            .map(|t| t.to_unix())
            .unwrap_or((0, 0));
        let first_ms = secs * 1000 + u64::from(nanos) / 1_000_000;
        assert!(now_ms.abs_diff(first_ms) < 60_000, "{first_ms} vs {now_ms}");
    }

    #[test]
    fn ids_made_on_many_threads_are_unique() {
        let ids: Vec<uuid::Uuid> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..5_000).map(|_| time_ordered_id()).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(ids.len(), 20_000);
        assert_eq!(unique.len(), ids.len());
    }
}
