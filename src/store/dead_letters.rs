//! Dead letters: change-aware upserts (payload kept as exact bytes) and keyset pages, newest
//! failure first, that read only a payload preview.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use chrono::Utc;

use super::codec::{col_u32, col_u64, from_ms, ms, page_limit, where_clause};
use super::query::QuerySql;
use super::search_index::{SearchPlan, candidate_source, needles};
use super::{
    DeadLetterKey, DeadLetterPageQuery, DeadLetterSummary, PREVIEW_BYTES, PageDir, Result,
    SortList, Store,
};
use crate::domain::query::Query;
use crate::domain::{DeadLetter, DeadLetterError, DeadLetterState, Timestamp};

pub(super) const COLUMNS: &str = "upstream, id, connector, payload, content_type, headers, error_code, \
     error_message, http_status, vendor_response, attempts, first_failed_ms, last_failed_ms, state, updated_ms";
/// How many columns [`COLUMNS`] lists (a query may read more after them), and where
/// `last_failed_ms` is among them.
pub(super) const COLUMN_COUNT: usize = 15;
pub(super) const LAST_FAILED_COLUMN: usize = 12;

/// Inserts or updates one dead letter; an identical stored row is left untouched.
/// Returns true when a row was written. (A batch of letters goes through [`LetterInserts`].)
pub(crate) fn upsert_dead_letter(conn: &Connection, d: &DeadLetter) -> rusqlite::Result<bool> {
    let mut inserts = LetterInserts::new(conn)?;
    let written = inserts.upsert(conn, d)?;
    inserts.finish(conn)?;
    Ok(written)
}

/// Writes dead letters inside one transaction — the only way letters are inserted. A new one is
/// counted in `connector_counts` and, when it takes a `row_id` the search index already covers
/// (a deleted last letter's), marked pending for the index — here, not by `AFTER INSERT`
/// triggers (schema V13). The counts of a transaction's new letters are added once per
/// connector by [`LetterInserts::finish`], and the index's watermark is read once. An update
/// keeps the triggers on `UPDATE`.
#[must_use = "the new letters are counted by `finish`"]
pub(crate) struct LetterInserts {
    indexed_to: i64,
    /// New live letters per upstream and connector, not yet added to their counts row.
    counts: HashMap<String, HashMap<String, i64>>,
}

impl LetterInserts {
    pub(crate) fn new(conn: &Connection) -> rusqlite::Result<Self> {
        let indexed_to = conn
            .prepare_cached("SELECT indexed_to FROM dead_letter_search_state")?
            .query_row([], |r| r.get(0))?;
        Ok(LetterInserts {
            indexed_to,
            counts: HashMap::new(),
        })
    }

    /// Inserts or updates one dead letter; an identical stored row is left untouched.
    /// Returns true when a row was written.
    ///
    /// Looked up first, then inserted or updated, not one `INSERT … ON CONFLICT DO UPDATE`: an
    /// upsert's `DO UPDATE` may abort and fire the `UPDATE` triggers, so SQLite kept a statement
    /// journal for every letter (each page the insert touched copied first) — ≈ 7 % of a
    /// sync's CPU. A plain insert fires no trigger, and `UPDATE OR FAIL` cannot abort alone:
    /// neither keeps one. Every caller runs inside a transaction that is rolled back whole on
    /// any error (as for [`record_dead_letter`]).
    pub(crate) fn upsert(&mut self, conn: &Connection, d: &DeadLetter) -> rusqlite::Result<bool> {
        let headers = serde_json::to_string(&d.headers)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let stored: Option<i64> = conn
            .prepare_cached("SELECT row_id FROM dead_letters WHERE upstream = ?1 AND id = ?2")?
            .query_row(params![d.upstream, d.id], |r| r.get(0))
            .optional()?;
        let columns = params![
            d.upstream,
            d.id,
            d.connector,
            d.payload,
            d.content_type,
            headers,
            d.error.code,
            d.error.message,
            d.error.http_status,
            d.error.vendor_response,
            i64::from(d.attempts),
            ms(d.first_failed_at),
            ms(d.last_failed_at),
            d.state.as_str(),
            ms(d.updated_at),
        ];
        let Some(row_id) = stored else {
            conn.prepare_cached(
                "INSERT INTO dead_letters (upstream, id, connector, payload, content_type,
                    headers, error_code, error_message, http_status, vendor_response, attempts,
                    first_failed_ms, last_failed_ms, state, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?
            .execute(columns)?;
            self.inserted(conn, d, conn.last_insert_rowid())?;
            return Ok(true);
        };
        let mut update = conn.prepare_cached(
            "UPDATE OR FAIL dead_letters SET
                connector = ?3, payload = ?4, content_type = ?5, headers = ?6, error_code = ?7,
                error_message = ?8, http_status = ?9, vendor_response = ?10, attempts = ?11,
                first_failed_ms = ?12, last_failed_ms = ?13, state = ?14, updated_ms = ?15
              WHERE row_id = ?16 AND upstream = ?1 AND id = ?2
                AND (connector, payload, content_type, headers, error_code, error_message,
                     http_status, vendor_response, attempts, first_failed_ms, last_failed_ms,
                     state, updated_ms)
                IS NOT (?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for (i, value) in columns.iter().enumerate() {
            update.raw_bind_parameter(i + 1, value)?;
        }
        update.raw_bind_parameter(16, row_id)?;
        Ok(update.raw_execute()? > 0)
    }

    /// What the V1 and V10 `AFTER INSERT` triggers did for a new letter at `row_id`: a live
    /// letter counts for its connector, and a `row_id` at or below the search index's watermark
    /// goes pending (the index may hold an earlier letter's text there).
    fn inserted(&mut self, conn: &Connection, d: &DeadLetter, row_id: i64) -> rusqlite::Result<()> {
        if d.state == DeadLetterState::Dead {
            let upstream = match self.counts.get_mut(&d.upstream) {
                Some(connectors) => connectors,
                None => self.counts.entry(d.upstream.clone()).or_default(),
            };
            match upstream.get_mut(&d.connector) {
                Some(n) => *n += 1,
                None => {
                    // The counts row exists from here on, so that an `UPDATE` trigger later in
                    // the transaction (the same letter again) finds it.
                    conn.prepare_cached(
                        "INSERT INTO connector_counts (upstream, connector) VALUES (?1, ?2)
                         ON CONFLICT (upstream, connector) DO NOTHING",
                    )?
                    .execute(params![d.upstream, d.connector])?;
                    upstream.insert(d.connector.clone(), 1);
                }
            }
        }
        if row_id <= self.indexed_to {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO dead_letter_search_pending (row_id) VALUES (?1)",
            )?
            .execute([row_id])?;
        }
        Ok(())
    }

    /// Adds the new live letters to their connectors' counts.
    pub(crate) fn finish(self, conn: &Connection) -> rusqlite::Result<()> {
        let mut add = conn.prepare_cached(
            "UPDATE connector_counts SET dead_letters = dead_letters + ?3
              WHERE upstream = ?1 AND connector = ?2",
        )?;
        for (upstream, connectors) in &self.counts {
            for (connector, n) in connectors {
                add.execute(params![upstream, connector, n])?;
            }
        }
        Ok(())
    }
}

/// Sets the connection's last inserted row id to 0 (`sqlite3_set_last_insert_rowid`): row ids
/// start at 1, so an upsert after which it is still 0 inserted nothing.
pub(super) fn forget_last_insert(conn: &Connection) {
    // SAFETY: the handle is this open connection's, used on this thread only for the call, and
    // the function only stores the value on the connection.
    unsafe { rusqlite::ffi::sqlite3_set_last_insert_rowid(conn.handle(), 0) };
}

/// Writes the dead letter an upstream answered an action with (a replay or discard): usually the
/// stored letter in a new state, so only `state` and `updated_ms` are set when every other
/// column is as stored — the ~1 KB row is not rebuilt from every column, the search index's
/// trigger (which watches the text columns) does not fire and only the count triggers on
/// `state` run. Any other difference (or no such row) goes through [`upsert_dead_letter`].
/// Returns true when a row was written.
///
/// `UPDATE OR FAIL`: with the default `ABORT`, a statement that fires triggers keeps a statement
/// journal (each page it touches copied first, spilled to a temporary file past 64 KiB) so it
/// can undo itself alone; a run's step writes 500 of them per transaction. Every caller runs
/// inside a transaction that is rolled back whole on any error, so the statement's own undo is
/// never needed. Measured on a run's letters: ≈ 13 µs a letter instead of ≈ 20.
pub(crate) fn record_dead_letter(conn: &Connection, d: &DeadLetter) -> rusqlite::Result<bool> {
    let headers = serde_json::to_string(&d.headers)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let written = conn
        .prepare_cached(
            "UPDATE OR FAIL dead_letters SET state = ?3, updated_ms = ?4
              WHERE upstream = ?1 AND id = ?2
                AND (connector, payload, content_type, headers, error_code, error_message,
                     http_status, vendor_response, attempts, first_failed_ms, last_failed_ms)
                 IS (?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                AND (state, updated_ms) IS NOT (?3, ?4)",
        )?
        .execute(params![
            d.upstream,
            d.id,
            d.state.as_str(),
            ms(d.updated_at),
            d.connector,
            d.payload,
            d.content_type,
            headers,
            d.error.code,
            d.error.message,
            d.error.http_status,
            d.error.vendor_response,
            i64::from(d.attempts),
            ms(d.first_failed_at),
            ms(d.last_failed_at),
        ])?;
    if written > 0 {
        return Ok(true);
    }
    upsert_dead_letter(conn, d)
}

impl Store {
    /// The ids of `upstream`'s dead letters triage replayed or discarded, with that state.
    pub fn handled_dead_letter_ids(
        &self,
        upstream: &str,
    ) -> Result<Vec<(String, DeadLetterState)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, state FROM dead_letters
                  WHERE upstream = ?1 AND state IN ('replayed', 'discarded')",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([upstream], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, state)| DeadLetterState::parse(&state).map(|s| (id, s)))
            .collect())
    }

    pub fn dead_letter(&self, upstream: &str, id: &str) -> Result<Option<DeadLetter>> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE upstream = ?1 AND id = ?2");
        Ok(self
            .query_dead_letters(&sql, &[&upstream, &id])?
            .into_iter()
            .next())
    }

    pub fn find_dead_letters(&self, id: &str) -> Result<Vec<DeadLetter>> {
        let sql = format!("SELECT {COLUMNS} FROM dead_letters WHERE id = ?1 ORDER BY upstream");
        self.query_dead_letters(&sql, &[&id])
    }

    /// One page, newest failure first, from the anchor (exclusive): at most `limit` (1..=1000)
    /// rows, always in display order. Only the first [`PREVIEW_BYTES`] of each payload are read.
    pub fn page_dead_letters(&self, q: &DeadLetterPageQuery) -> Result<Vec<DeadLetterSummary>> {
        // A list row reads the first PREVIEW_BYTES of the payload, never all of it.
        let columns = format!(
            "row_id, upstream, id, connector, ifnull(substr(payload, 1, {PREVIEW_BYTES}), X''), \
             length(payload), content_type, error_code, error_message, attempts, first_failed_ms, \
             last_failed_ms, state"
        );
        self.page_with(q, &columns, |row| self.summary_from_row(row))
    }

    /// One page of whole dead letters (payload, headers, the upstream's response) in the same
    /// order and from the same query as [`Self::page_dead_letters`], with each row's key: what
    /// `triage dead-letters --json` streams, one statement per page.
    pub fn page_dead_letters_whole(
        &self,
        q: &DeadLetterPageQuery,
    ) -> Result<Vec<(DeadLetterKey, DeadLetter)>> {
        let columns = format!("{COLUMNS}, row_id");
        self.page_with(q, &columns, |row| {
            let letter = self.dead_letter_from_row(row)?;
            let key = DeadLetterKey {
                sort: super::sort::read_value(row, 16),
                last_failed_ms: ms(letter.last_failed_at),
                rowid: row.get(15).map_err(|e| self.sqlite(e))?,
            };
            Ok((key, letter))
        })
    }

    /// A page of `select` (then the sort column) rows of the query, mapped by `map`. A search
    /// (text or free-text terms) reads the search index's candidates when it has few, in the
    /// same snapshot as the letters it does not cover yet (`store::search_index`).
    fn page_with<T>(
        &self,
        q: &DeadLetterPageQuery,
        select: &str,
        map: impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let text = q.text.as_deref().filter(|t| !t.is_empty());
        let needles = needles(text, q.query.as_ref());
        if needles.is_empty() {
            return self.page_from(q, select, SearchPlan::Walk, &map);
        }
        self.catch_up_before_search();
        self.read_snapshot(|_| {
            let plan = self.search_plan(&needles)?;
            self.page_from(q, select, plan, &map)
        })
    }

    fn page_from<T>(
        &self,
        q: &DeadLetterPageQuery,
        select: &str,
        plan: SearchPlan,
        map: &impl Fn(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let candidates = match &plan {
            SearchPlan::Candidates { candidates, .. } => candidates.clone(),
            SearchPlan::Walk => None,
        };
        // The live DLQ unless asked otherwise, by `state` or by a `status:` term of the query.
        let state = q
            .state
            .or_else(|| {
                (!q.query.as_ref().is_some_and(Query::has_status)).then_some(DeadLetterState::Dead)
            })
            .map(DeadLetterState::as_str);
        let mut args: Vec<&dyn ToSql> = Vec::new();
        let mut filters = Vec::new();
        if let Some(state) = &state {
            args.push(state);
            filters.push(format!("state = ?{}", args.len()));
        }
        if let Some(connector) = &q.connector {
            args.push(connector);
            filters.push(format!("connector = ?{}", args.len()));
        }
        if let Some(text) = q.text.as_ref().filter(|t| !t.is_empty()) {
            args.push(text);
            filters.push(format!(
                "triage_contains(?{}, id, connector, error_code, error_message, headers, payload)",
                args.len()
            ));
        }
        let now_ms = q.now.unwrap_or_else(Utc::now).timestamp_millis();
        let query = q
            .query
            .as_ref()
            .map(|query| QuerySql::build(query, now_ms, args.len() + 1));
        if let Some(query) = &query {
            args.extend(query.params.iter().map(|p| p as &dyn ToSql));
            filters.extend(query.clauses.iter().cloned());
        }
        // Newest failure first, reversed when the sort is; the tie-breaker under another column.
        let forward = (q.dir == PageDir::Forward) != q.sort.reverse;
        let (cmp, order) = if forward { ("<", "DESC") } else { (">", "ASC") };
        let sorted = q.sort.sql(SortList::DeadLetters, q.dir == PageDir::Forward);
        if let Some(anchor) = &q.anchor {
            args.extend([&anchor.last_failed_ms as &dyn ToSql, &anchor.rowid]);
            let n = args.len();
            let tie = format!("(last_failed_ms, row_id) {cmp} (?{}, ?{n})", n - 1);
            match (&sorted, &anchor.sort) {
                (Some(sorted), Some(value)) => {
                    args.push(value);
                    filters.push(sorted.keyset(args.len(), &tie));
                }
                _ => filters.push(tie),
            }
        }
        let limit = page_limit(q.limit);
        args.push(&limit);
        let (sort_column, sort_order) = match &sorted {
            Some(s) => (s.expr, format!("{} {}, ", s.expr, s.order)),
            None => ("NULL", String::new()),
        };
        let limit_param = args.len();
        let from = match plan {
            SearchPlan::Walk => "dead_letters".to_string(),
            SearchPlan::Candidates { .. } => candidate_source(candidates.as_ref().map(|expr| {
                args.push(expr);
                args.len()
            })),
        };
        let sql = format!(
            "SELECT {select}, {sort_column}
             FROM {from} {}
             ORDER BY {sort_order}last_failed_ms {order}, row_id {order} LIMIT ?{limit_param}",
            where_clause(&filters),
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(args.as_slice(), |row| Ok(map(row)))
            .map_err(|e| self.sqlite(e))?;
        let mut page = Vec::new();
        for row in rows {
            page.push(row.map_err(|e| self.sqlite(e))??);
        }
        if q.dir == PageDir::Backward {
            page.reverse();
        }
        Ok(page)
    }

    fn query_dead_letters(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<DeadLetter>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(args, |row| Ok(self.dead_letter_from_row(row)))
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }

    fn dl_time(&self, row: &Row<'_>, idx: usize) -> Result<Timestamp> {
        let v: i64 = row.get(idx).map_err(|e| self.sqlite(e))?;
        from_ms(v)
            .ok_or_else(|| self.corrupt("dead_letters", format!("timestamp {v} out of range")))
    }

    fn dl_state(&self, row: &Row<'_>, idx: usize) -> Result<DeadLetterState> {
        let s: String = row.get(idx).map_err(|e| self.sqlite(e))?;
        DeadLetterState::parse(&s)
            .ok_or_else(|| self.corrupt("dead_letters", format!("unknown state {s:?}")))
    }

    pub(super) fn dead_letter_from_row(&self, row: &Row<'_>) -> Result<DeadLetter> {
        let get = |e| self.sqlite(e);
        let headers: String = row.get(5).map_err(get)?;
        let headers: Vec<(String, String)> = serde_json::from_str(&headers).map_err(|e| {
            self.corrupt(
                "dead_letters",
                format!("headers are not a JSON list of pairs: {e}"),
            )
        })?;
        Ok(DeadLetter {
            upstream: row.get(0).map_err(get)?,
            id: row.get(1).map_err(get)?,
            connector: row.get(2).map_err(get)?,
            payload: row.get(3).map_err(get)?,
            content_type: row.get(4).map_err(get)?,
            headers,
            error: DeadLetterError {
                code: row.get(6).map_err(get)?,
                message: row.get(7).map_err(get)?,
                http_status: row.get(8).map_err(get)?,
                vendor_response: row.get(9).map_err(get)?,
            },
            attempts: col_u32(row.get(10).map_err(get)?),
            first_failed_at: self.dl_time(row, 11)?,
            last_failed_at: self.dl_time(row, 12)?,
            state: self.dl_state(row, 13)?,
            updated_at: self.dl_time(row, 14)?,
        })
    }

    fn summary_from_row(&self, row: &Row<'_>) -> Result<DeadLetterSummary> {
        let get = |e| self.sqlite(e);
        Ok(DeadLetterSummary {
            key: DeadLetterKey {
                sort: super::sort::read_value(row, 13),
                last_failed_ms: row.get(11).map_err(get)?,
                rowid: row.get(0).map_err(get)?,
            },
            upstream: row.get(1).map_err(get)?,
            id: row.get(2).map_err(get)?,
            connector: row.get(3).map_err(get)?,
            preview: row.get(4).map_err(get)?,
            payload_len: col_u64(row.get(5).map_err(get)?),
            content_type: row.get(6).map_err(get)?,
            error_code: row.get(7).map_err(get)?,
            error_message: row.get(8).map_err(get)?,
            attempts: col_u32(row.get(9).map_err(get)?),
            first_failed_at: self.dl_time(row, 10)?,
            last_failed_at: self.dl_time(row, 11)?,
            state: self.dl_state(row, 12)?,
        })
    }
}
