//! What sync writes: one transaction per poll (connector reports, incidents, dead letters,
//! cursors, connection state), plus reading cursors and connection states back.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::codec::ms;
use super::connectors::write_reports;
use super::dead_letters::LetterInserts;
use super::incidents::upsert_incident;
use super::{BatchSummary, Result, Store, StoreError, SyncBatch};
use crate::domain::{ConnectionState, Timestamp};

impl Store {
    /// Writes everything one poll produced in one transaction. Unchanged incidents and dead
    /// letters are not rewritten and not counted in the summary.
    pub fn write_sync_batch(&mut self, batch: &SyncBatch) -> Result<BatchSummary> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut summary = BatchSummary::default();
        if let Some(reports) = &batch.connectors {
            write_reports(&tx, &batch.upstream, batch.at, reports).map_err(err)?;
            summary.connectors = reports.len();
        }
        for incident in &batch.incidents {
            if upsert_incident(&tx, incident).map_err(err)? {
                summary.incidents_changed += 1;
            }
        }
        let mut letters = LetterInserts::new(&tx).map_err(err)?;
        for dead_letter in &batch.dead_letters {
            if letters.upsert(&tx, dead_letter).map_err(err)? {
                summary.dead_letters_changed += 1;
            }
        }
        letters.finish(&tx).map_err(err)?;
        {
            let mut cursor = tx
                .prepare_cached(
                    "INSERT INTO sync_cursors (upstream, stream, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (upstream, stream) DO UPDATE SET value = excluded.value",
                )
                .map_err(err)?;
            for (stream, value) in &batch.cursors {
                cursor
                    .execute(params![batch.upstream, stream, value])
                    .map_err(err)?;
            }
        }
        write_state(&tx, &batch.upstream, &batch.state, batch.at).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(summary)
    }

    pub fn sync_cursor(&self, upstream: &str, stream: &str) -> Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT value FROM sync_cursors WHERE upstream = ?1 AND stream = ?2")
            .and_then(|mut stmt| {
                stmt.query_row([upstream, stream], |row| row.get(0))
                    .optional()
            })
            .map_err(|e| self.sqlite(e))
    }

    pub fn set_upstream_state(&mut self, upstream: &str, state: &ConnectionState) -> Result<()> {
        write_state(&self.conn, upstream, state, chrono::Utc::now()).map_err(|e| self.sqlite(e))
    }

    /// Every upstream's last known connection state, ordered by upstream.
    pub fn upstream_states(&self) -> Result<Vec<(String, ConnectionState)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT upstream, state FROM upstream_state ORDER BY upstream")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (upstream, json) = row.map_err(|e| self.sqlite(e))?;
            let state = serde_json::from_str(&json).map_err(|e| {
                self.corrupt(
                    "upstream_state",
                    format!("state of {upstream:?} is not a connection state: {e}"),
                )
            })?;
            out.push((upstream, state));
        }
        Ok(out)
    }
}

fn write_state(
    conn: &Connection,
    upstream: &str,
    state: &ConnectionState,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(state)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    // The error text of a down upstream may carry its URL: no secret is stored.
    let json = crate::domain::redact::scrub(&json);
    conn.prepare_cached(
        "INSERT INTO upstream_state (upstream, state, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (upstream) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
    )?
    .execute(params![upstream, json, ms(at)])?;
    Ok(())
}
