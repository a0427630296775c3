//! The outbox of operator actions: enqueue (with its `requested` audit row), due/claim leases,
//! retries and outcomes, each state change in one transaction with its audit row (the row
//! changes themselves are in `outbox_rows`).

use super::audit::AuditTail;
use super::outbox_rows::{claim_in, error_in, insert_action, outcome_in};
use super::{Result, Store, StoreError};
use crate::domain::{Action, ActionOutcome, DeadLetter, Incident, OutboxEntry, Timestamp};

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
        prepared: Vec<(OutboxEntry, Recording)>,
        at: Timestamp,
    ) -> Result<usize> {
        self.write_tx(|tx| {
            let n = prepared.len();
            let mut tail = AuditTail::read(tx)?;
            for (entry, recording) in prepared {
                match recording {
                    Recording::Outcome {
                        outcome,
                        incident,
                        dead_letter,
                    } => outcome_in(
                        tx,
                        &mut tail,
                        &entry,
                        &outcome,
                        incident.as_deref(),
                        dead_letter.as_deref(),
                        at,
                    ),
                    Recording::Error { error, retry_at } => {
                        error_in(tx, &mut tail, &entry, &error, retry_at, at)
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
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            outcome_in(tx, &mut tail, &entry, outcome, incident, dead_letter, at)
        })
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
