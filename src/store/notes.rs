//! Notes on incidents (schema V7): appended with their `note.added` audit row in one
//! transaction, listed oldest first.

use rusqlite::params;

use super::audit::{NewAuditRow, append};
use super::codec::ms;
use super::{Result, Store};
use crate::domain::Timestamp;
use crate::domain::note::IncidentNote;

impl Store {
    /// Adds `text` (already checked by `domain::note::note_text`) to the incident's notes.
    pub fn add_note(
        &mut self,
        upstream: &str,
        incident: &str,
        operator: &str,
        text: &str,
        at: Timestamp,
    ) -> Result<IncidentNote> {
        self.write_tx(|tx| {
            tx.prepare_cached(
                "INSERT INTO incident_notes (upstream, incident, at_ms, operator, text)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![upstream, incident, ms(at), operator, text])?;
            append(
                tx,
                &NewAuditRow {
                    at,
                    operator,
                    event: "note.added",
                    upstream,
                    target: incident,
                    outbox_id: None,
                    payload_hash: None,
                    detail: text,
                },
            )?;
            Ok(IncidentNote {
                at,
                operator: operator.to_string(),
                text: text.to_string(),
            })
        })
    }

    /// The incident's notes, oldest first.
    pub fn notes(&self, upstream: &str, incident: &str) -> Result<Vec<IncidentNote>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT at_ms, operator, text FROM incident_notes
                  WHERE upstream = ?1 AND incident = ?2 ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![upstream, incident], |row| {
                let at_ms: i64 = row.get(0)?;
                Ok(IncidentNote {
                    at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
                    operator: row.get(1)?,
                    text: row.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }
}
