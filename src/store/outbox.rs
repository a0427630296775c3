//! The outbox of operator actions: enqueue (with its `requested` audit row), due/claim leases,
//! retries, outcomes and recalls (a run's action its pause stopped before the upstream acted),
//! each state change in one transaction with its audit row (the row changes themselves are in
//! `outbox_rows`).

use super::audit::AuditTail;
use super::outbox_rows::{
    LetterChange, claim_in, error_in, insert_action, outcome_in, recalled_in,
};
use super::{Result, Store, StoreError};
use crate::domain::{
    Action, ActionOutcome, DeadLetter, Incident, LetterState, OutboxEntry, Timestamp,
};

impl Store {
    /// Writes the action to the outbox (state pending, new idempotency key) and an audit row
    /// `<kind>.requested` in one transaction.
    pub fn enqueue_action(&mut self, action: &Action, at: Timestamp) -> Result<OutboxEntry> {
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            insert_action(tx, &mut tail, action, at, None)
        })
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
    /// would: a run's stage of thousands is recorded at once, not one transaction per action,
    /// and their audit rows are chained in memory from one read of the chain's end.
    /// The entries are the ones the round claimed (as `due_actions` read them).
    pub fn record_actions(
        &mut self,
        prepared: &[(OutboxEntry, Recording)],
        at: Timestamp,
    ) -> Result<usize> {
        self.write_tx(|tx| record_in(tx, prepared, at))
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
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            error_in(tx, &mut tail, &entry, error, retry_at, at)
        })
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
        let answer = OutcomeRecord::new(outcome.clone());
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            let letter = dead_letter.map(LetterChange::Whole);
            outcome_in(tx, &mut tail, &entry, &answer, incident, letter, at)
        })
    }

    fn unknown_action(&self, id: &str) -> StoreError {
        StoreError::UnknownAction {
            path: self.path.clone(),
            id: id.to_string(),
        }
    }
}

/// Records `prepared` inside the caller's transaction (see [`Store::record_actions`]).
pub(crate) fn record_in(
    tx: &rusqlite::Connection,
    prepared: &[(OutboxEntry, Recording)],
    at: Timestamp,
) -> rusqlite::Result<usize> {
    let mut tail = AuditTail::read(tx)?;
    for (entry, recording) in prepared {
        match recording {
            Recording::Outcome {
                answer,
                incident,
                dead_letter,
                letter_state,
            } => {
                let letter = match (dead_letter, letter_state) {
                    (Some(letter), _) => Some(LetterChange::Whole(letter)),
                    (None, Some(state)) => Some(LetterChange::State(state)),
                    (None, None) => None,
                };
                outcome_in(
                    tx,
                    &mut tail,
                    entry,
                    answer,
                    incident.as_deref(),
                    letter,
                    at,
                )
            }
            Recording::Error { error, retry_at } => {
                error_in(tx, &mut tail, entry, error, *retry_at, at)
            }
            Recording::Recalled { reason } => recalled_in(tx, &mut tail, entry, reason, at),
        }?;
    }
    Ok(prepared.len())
}

/// What became of one action, for [`Store::record_actions`].
#[derive(Debug, Clone)]
pub enum Recording {
    /// The upstream answered (ok: sent; refused: failed), with what it changed.
    Outcome {
        answer: OutcomeRecord,
        incident: Option<Box<Incident>>,
        dead_letter: Option<Box<DeadLetter>>,
        /// Its new state alone, when the upstream answered without the letter.
        letter_state: Option<LetterState>,
    },
    /// No answer: pending again until `retry_at`, or failed for good without one.
    Error {
        error: String,
        retry_at: Option<Timestamp>,
    },
    /// Not done, on purpose: the run that handed it over was paused before the upstream acted
    /// on it. State `recalled` (final, not a failure), audited `<kind>.recalled` with `reason`;
    /// settling the run plans its member again.
    Recalled { reason: String },
}

/// An upstream's answer with the texts the store keeps of it, made where the answer is read
/// (off the store's thread, which a run keeps busy): the outcome as stored (JSON, secrets
/// scrubbed) and the audit detail (summary and response).
#[derive(Debug, Clone)]
pub struct OutcomeRecord {
    pub outcome: ActionOutcome,
    pub(crate) stored: String,
    pub(crate) detail: String,
}

impl OutcomeRecord {
    pub fn new(outcome: ActionOutcome) -> OutcomeRecord {
        // An outcome is plain data (text, bool, a JSON value): serializing it cannot fail.
        let stored = serde_json::to_string(&outcome).unwrap_or_default();
        let stored = crate::domain::redact::scrub(&stored).into_owned();
        let detail = if outcome.response.is_null() {
            outcome.summary.clone()
        } else {
            format!("{} {}", outcome.summary, outcome.response)
        };
        OutcomeRecord {
            outcome,
            stored,
            detail,
        }
    }
}
