//! What a shift handoff reads beyond incidents and runs: the actions requested during the shift
//! (audit rows `<kind>.requested` and `watch.escalated`, with the outbox's final state) and
//! the audit range the shift covers (first and last row with their hashes), by time (an index
//! on `audit.at_ms`).

use rusqlite::params;

use super::codec::{from_ms, ms};
use super::{Result, Store};
use crate::domain::{OutboxState, Timestamp};

/// One action taken during a shift, by whom, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShiftAction {
    pub at: Timestamp,
    pub operator: String,
    /// `ack`, `escalate`, `resolve`, `replay`, `discard`, `notify`… or `watch.escalated`.
    pub kind: String,
    pub upstream: String,
    pub target: String,
    /// The outbox's state for an action sent through it; `None` for a recorded step.
    pub state: Option<OutboxState>,
}

/// The first and last audit row of a range: `seq` and `hash`, so the next operator can check
/// the chain covers them (`triage audit --verify`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRange {
    pub rows: u64,
    pub first_seq: i64,
    pub first_hash: String,
    pub last_seq: i64,
    pub last_hash: String,
}

impl Store {
    /// Actions requested in `[since, until)`, oldest first.
    pub fn shift_actions(&self, since: Timestamp, until: Timestamp) -> Result<Vec<ShiftAction>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT a.at_ms, a.operator, a.event, a.upstream, a.target, o.state
                 FROM audit a INDEXED BY audit_by_time LEFT JOIN outbox o ON o.id = a.outbox_id
                 WHERE a.at_ms >= ?1 AND a.at_ms < ?2
                   AND (a.event LIKE '%.requested' OR a.event = 'watch.escalated')
                 ORDER BY a.seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![ms(since), ms(until)], |row| {
                let at: i64 = row.get(0)?;
                let event: String = row.get(2)?;
                let state: Option<String> = row.get(5)?;
                Ok((at, row.get(1)?, event, row.get(3)?, row.get(4)?, state))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (at, operator, event, upstream, target, state) = row.map_err(|e| self.sqlite(e))?;
            let at = from_ms(at).ok_or_else(|| self.corrupt("audit", format!("bad at_ms {at}")))?;
            let kind = event
                .strip_suffix(".requested")
                .map(str::to_string)
                .unwrap_or(event);
            out.push(ShiftAction {
                at,
                operator,
                kind,
                upstream,
                target,
                state: state.as_deref().and_then(OutboxState::parse),
            });
        }
        Ok(out)
    }

    /// The audit rows written in `[since, until)`; `None` when there are none.
    pub fn audit_range(&self, since: Timestamp, until: Timestamp) -> Result<Option<AuditRange>> {
        let (first, last, rows): (Option<i64>, Option<i64>, i64) = self
            .conn
            .query_row(
                "SELECT MIN(seq), MAX(seq), COUNT(*) FROM audit INDEXED BY audit_by_time
                 WHERE at_ms >= ?1 AND at_ms < ?2",
                params![ms(since), ms(until)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.sqlite(e))?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(None);
        };
        let hash = |seq: i64| -> Result<String> {
            self.conn
                .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0))
                .map_err(|e| self.sqlite(e))
        };
        Ok(Some(AuditRange {
            rows: super::codec::col_u64(rows),
            first_seq: first,
            first_hash: hash(first)?,
            last_seq: last,
            last_hash: hash(last)?,
        }))
    }
}
