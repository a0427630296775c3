//! Edited replays (#11 point 9): the replay action with its new payload, its `replay.requested`
//! audit row and a `replay.edited` row naming the SHA-256 of the original and of the bytes to be
//! sent — one transaction, so an edit is never recorded without its action or the reverse.

use super::audit::{AuditTail, NewAuditRow};
use super::outbox_rows::insert_action;
use super::{Result, Store};
use crate::domain::{Action, OutboxEntry, Timestamp};

impl Store {
    /// Queues `action` (a replay carrying the edited payload) and records `detail`
    /// (`domain::edit::audit_detail`) as its `replay.edited` audit row.
    pub fn enqueue_edited_replay(
        &mut self,
        action: &Action,
        detail: &str,
        at: Timestamp,
    ) -> Result<OutboxEntry> {
        self.write_tx(|tx| {
            let mut tail = AuditTail::read(tx)?;
            let entry = insert_action(tx, &mut tail, action, at, None)?;
            tail.append(
                tx,
                &NewAuditRow {
                    at,
                    operator: &action.operator,
                    event: "replay.edited",
                    upstream: &action.upstream,
                    target: &action.target,
                    outbox_id: Some(&entry.id),
                    payload_hash: None,
                    detail,
                },
            )?;
            Ok(entry)
        })
    }
}
