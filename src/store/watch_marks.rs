//! Which incidents `triage watch` must look at: each incident carries `watch_due_ms`, when its
//! SLA clock next needs a look (schema V4). A tick reads only the due ones, in due order, and
//! marks each with its next look; the triggers reset a mark to 0 whenever the incident or its
//! route changes, and `watch_gen` keeps a stale mark from overwriting such a reset.

use rusqlite::{OptionalExtension, params};

use super::codec::ms;
use super::{Result, Store, StoreError};
use crate::domain::{Incident, Timestamp};

/// The mark of an incident whose clock needs no look until it changes.
pub const WATCH_NEVER: i64 = i64::MAX;

/// One incident due for a look, with what its mark is written against.
#[derive(Debug, Clone)]
pub struct WatchDue {
    pub incident: Incident,
    /// (watch_due_ms, row_id): the keyset position, for the next page of the same tick.
    pub position: (i64, i64),
    /// The version of the mark this look read.
    pub generation: i64,
}

/// The mark to write after a look: the next one at `next` (`None` = only after a change).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchMark {
    pub upstream: String,
    pub id: String,
    pub generation: i64,
    pub next: Option<Timestamp>,
}

impl Store {
    /// Up to `limit` incidents (any status) whose look is due at `now`, in due order, after
    /// `after` (the last position of the previous page of this tick).
    pub fn incidents_due_for_watch(
        &self,
        now: Timestamp,
        after: Option<(i64, i64)>,
        limit: usize,
    ) -> Result<Vec<WatchDue>> {
        let (due_after, row_after) = after.unwrap_or((i64::MIN, i64::MIN));
        let sql = format!(
            "SELECT {}, watch_due_ms, row_id, watch_gen FROM incidents
              WHERE watch_due_ms <= ?1 AND (watch_due_ms, row_id) > (?2, ?3)
              ORDER BY watch_due_ms, row_id LIMIT ?4",
            super::incidents::COLUMNS
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![ms(now), due_after, row_after, limit], |row| {
                let due: i64 = row.get(19)?;
                let row_id: i64 = row.get(20)?;
                let generation: i64 = row.get(21)?;
                Ok((self.incident_from_row(row), (due, row_id), generation))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (incident, position, generation) = row.map_err(|e| self.sqlite(e))?;
            out.push(WatchDue {
                incident: incident?.1,
                position,
                generation,
            });
        }
        Ok(out)
    }

    /// Writes the marks of one page of looks in one transaction. A mark whose incident changed
    /// since it was read (another `watch_gen`) is skipped: the change asked for a new look.
    pub fn mark_watched(&mut self, marks: &[WatchMark], now: Timestamp) -> Result<usize> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut written = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE incidents SET watch_due_ms = ?1
                      WHERE upstream = ?2 AND id = ?3 AND watch_gen = ?4",
                )
                .map_err(err)?;
            for mark in marks {
                // A look in the past (or now) would be taken again at once: next tick instead.
                let due = mark.next.map_or(WATCH_NEVER, |at| ms(at).max(ms(now) + 1));
                written += stmt
                    .execute(params![due, mark.upstream, mark.id, mark.generation])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(written)
    }

    /// Every incident due for a look now: a watcher that takes over the lease (maybe with
    /// another config: chains, SLAs) starts from a full look.
    pub fn reset_watch_marks(&mut self) -> Result<()> {
        self.conn
            .execute(
                "UPDATE incidents SET watch_due_ms = 0 WHERE watch_due_ms <> 0",
                [],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// The stored mark of one incident (tests, diagnostics): `None` when there is no such row.
    pub fn watch_mark(&self, upstream: &str, id: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT watch_due_ms FROM incidents WHERE upstream = ?1 AND id = ?2",
                params![upstream, id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }
}
