//! Actions held before they are sent, so the operator can take them back: the console queues a
//! resolve held for a few seconds (`enqueue_held`), and `undo_action` withdraws it while it is
//! still pending and no worker holds it — after that the upstream has it.

use rusqlite::params;

use super::audit::{AuditTail, NewAuditRow, append};
use super::codec::ms;
use super::outbox_rows::insert_action;
use super::{Result, Store};
use crate::domain::{Action, OutboxEntry, Timestamp};

/// What an undo found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Withdrawn: it will not be sent (state `failed`, "undone by …", audited `<kind>.undone`).
    Withdrawn,
    /// Sent, being sent, or gone: too late.
    TooLate,
}

impl Store {
    /// Queues `action` to be sent no earlier than `hold_until` (with its `requested` audit row).
    pub fn enqueue_held(
        &mut self,
        action: &Action,
        at: Timestamp,
        hold_until: Timestamp,
    ) -> Result<OutboxEntry> {
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            let mut entry = insert_action(tx, &mut tail, action, at, None)?;
            tx.prepare_cached("UPDATE outbox SET next_attempt_ms = ?2 WHERE id = ?1")?
                .execute(params![entry.id, ms(hold_until)])?;
            entry.next_attempt_at = hold_until;
            Ok(entry)
        })
    }

    /// Withdraws outbox action `id` if it is still pending and unclaimed.
    pub fn undo_action(&mut self, id: &str, operator: &str, at: Timestamp) -> Result<Undo> {
        self.write_tx(|tx| {
            let found: Option<(String, String, String, String)> = tx
                .prepare_cached(
                    "SELECT kind, upstream, target, state FROM outbox
                      WHERE id = ?1 AND state = 'pending'
                        AND (lease_until_ms IS NULL OR lease_until_ms <= ?2)",
                )?
                .query_row(params![id, ms(at)], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let Some((kind, upstream, target, _)) = found else {
                return Ok(Undo::TooLate);
            };
            let why = format!("undone by {operator} before it was sent");
            tx.prepare_cached(
                "UPDATE outbox SET state = 'failed', last_error = ?2, updated_ms = ?3
                  WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![id, why, ms(at)])?;
            append(
                tx,
                &NewAuditRow {
                    at,
                    operator,
                    event: &format!("{kind}.undone"),
                    upstream: &upstream,
                    target: &target,
                    outbox_id: Some(id),
                    payload_hash: None,
                    detail: &why,
                },
            )?;
            Ok(Undo::Withdrawn)
        })
    }
}
