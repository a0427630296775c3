//! The history of what triage itself sent for one dead letter: every replay (plain or edited)
//! and discard in the outbox for an `(upstream, target)`, newest first, for the dead-letter
//! detail's "attempts" section. The upstream APIs keep no per-attempt list; this is triage's own.

use super::codec::page_limit;
use super::outbox_queries::COLUMNS;
use super::{Result, Store};
use crate::domain::OutboxEntry;

impl Store {
    /// Replays and discards triage queued for dead letter `target` of `upstream`, newest first
    /// (by creation time, then id), at most `limit` (clamped to 1..=1000). Incident actions
    /// (ack, escalate, resolve) and notifications are not part of a dead letter's history.
    pub fn actions_for_target(
        &self,
        upstream: &str,
        target: &str,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE upstream = ?1 AND target = ?2 AND kind IN ('replay', 'discard')
             ORDER BY created_ms DESC, id DESC LIMIT ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(
                rusqlite::params![upstream, target, page_limit(limit)],
                |row| Ok(self.outbox_from_row(row)),
            )
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }
}
