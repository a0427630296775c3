//! Whole-store selections by a query: every matching `(upstream, id)` in listing order, their
//! count, and the plan SQLite chooses — with the listings' default status (live dead letters,
//! unresolved incidents) unless the query has a `status:` term. For marks and plans that act
//! on everything a query matches, not just the loaded page.

use rusqlite::types::Value;

use super::codec::status_rank;
use super::query::QuerySql;
use super::search_index::{SearchPlan, candidate_source, needles};
use super::{Result, Store};
use crate::domain::query::{Query, RowKind};
use crate::domain::{DeadLetter, DeadLetterState, IncidentStatus, Timestamp};

impl Store {
    /// Every dead letter the query selects, as `(upstream, id)` in listing order (newest
    /// failure first). Like the listings, only live (`dead`) letters unless the query has a
    /// `status:` term.
    pub fn select_dead_letter_ids(
        &self,
        query: &Query,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>> {
        self.dead_letter_search(query, now, |from, filter, params| {
            let sql = format!(
                "SELECT upstream, id FROM {from} WHERE {filter}
                 ORDER BY last_failed_ms DESC, row_id DESC"
            );
            self.ids(&sql, params)
        })
    }

    /// Runs `read(from, filter, params)` for a whole-store selection of dead letters: `from` is
    /// the table, or the search index's candidates when the query's text has few
    /// (`store::search_index`), read in one snapshot with the letters the index lacks.
    fn dead_letter_search<T>(
        &self,
        query: &Query,
        now: Timestamp,
        read: impl FnOnce(&str, &str, &[Value]) -> Result<T>,
    ) -> Result<T> {
        let (filter, mut params) = dead_letter_where(query, now);
        let needles = needles(None, Some(query));
        if needles.is_empty() {
            return read("dead_letters", &filter, &params);
        }
        self.catch_up_before_search();
        self.read_snapshot(|_| {
            let from = match self.search_plan(&needles)? {
                SearchPlan::Walk => "dead_letters".to_string(),
                SearchPlan::Candidates { candidates, .. } => {
                    candidate_source(candidates.map(|expr| {
                        params.push(Value::Text(expr));
                        params.len()
                    }))
                }
            };
            read(&from, &filter, &params)
        })
    }

    /// Every dead letter the query selects, whole, oldest failure first (the reverse of
    /// [`Store::select_dead_letter_ids`]: the order they failed in, which a run keeps) — in
    /// one statement, not one lookup per id.
    pub fn select_dead_letters(&self, query: &Query, now: Timestamp) -> Result<Vec<DeadLetter>> {
        self.dead_letter_search(query, now, |from, filter, params| {
            // Sorted here, not by SQLite: an ORDER BY over whole letters (payloads and all)
            // fills a temporary b-tree — spilled to a temp file past the page cache — that costs
            // as much as reading them (10,000 letters: ≈ 30 ms of a run's start).
            let sql = format!(
                "SELECT {}, row_id FROM {from} WHERE {filter}",
                super::dead_letters::COLUMNS
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params))
                .map_err(|e| self.sqlite(e))?;
            let mut keyed = Vec::new();
            while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
                let key: (i64, i64) = (
                    row.get(super::dead_letters::LAST_FAILED_COLUMN)
                        .map_err(|e| self.sqlite(e))?,
                    row.get(super::dead_letters::COLUMN_COUNT)
                        .map_err(|e| self.sqlite(e))?,
                );
                keyed.push((key, self.dead_letter_from_row(row)?));
            }
            // Oldest failure first, ties in the order they were stored (row ids are unique).
            keyed.sort_unstable_by_key(|(key, _)| *key);
            Ok(keyed.into_iter().map(|(_, letter)| letter).collect())
        })
    }

    /// Runs `read` in one read transaction (one snapshot, and one lock on the WAL instead of
    /// one per statement) unless a transaction is already open.
    pub fn read_snapshot<T>(&self, read: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            return read(self);
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(|e| self.sqlite(e))?;
        let result = read(self);
        // A read transaction has nothing to keep: ending it either way releases the snapshot.
        let end = self
            .conn
            .execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        let value = result?;
        end.map_err(|e| self.sqlite(e))?;
        Ok(value)
    }

    /// How many dead letters [`Store::select_dead_letter_ids`] would return.
    pub fn count_dead_letters(&self, query: &Query, now: Timestamp) -> Result<u64> {
        self.dead_letter_search(query, now, |from, filter, params| {
            self.count(
                &format!("SELECT count(*) FROM {from} WHERE {filter}"),
                params,
            )
        })
    }

    /// Every incident the query selects, as `(upstream, id)` in urgency order. Like the
    /// listings, only unresolved ones unless the query has a `status:` term.
    pub fn select_incident_ids(
        &self,
        query: &Query,
        now: Timestamp,
    ) -> Result<Vec<(String, String)>> {
        let (filter, params) = incident_where(query, now);
        let sql = format!(
            "SELECT upstream, id FROM incidents WHERE {filter}
             ORDER BY status_rank, deadline_ms, upstream, id"
        );
        self.ids(&sql, &params)
    }

    /// How many incidents [`Store::select_incident_ids`] would return.
    pub fn count_incidents(&self, query: &Query, now: Timestamp) -> Result<u64> {
        let (filter, params) = incident_where(query, now);
        self.count(
            &format!("SELECT count(*) FROM incidents WHERE {filter}"),
            &params,
        )
    }

    /// SQLite's plan for [`Store::select_dead_letter_ids`] / [`Store::select_incident_ids`]
    /// with `query` (the `detail` lines of `EXPLAIN QUERY PLAN`): which index serves it.
    pub fn explain_selection(&self, query: &Query, now: Timestamp) -> Result<String> {
        let (table, (filter, params)) = match query.kind() {
            RowKind::DeadLetters => ("dead_letters", dead_letter_where(query, now)),
            RowKind::Incidents => ("incidents", incident_where(query, now)),
        };
        let sql = format!("EXPLAIN QUERY PLAN SELECT upstream, id FROM {table} WHERE {filter}");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let lines = stmt
            .query_map(rusqlite::params_from_iter(&params), |r| {
                r.get::<_, String>(3)
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        Ok(lines.join("\n"))
    }

    /// Which of `keys` the listing of `kind` no longer shows by default (gone from the store,
    /// or no longer live: a replayed or discarded letter, a resolved incident). For marks.
    pub fn unlisted(
        &self,
        kind: RowKind,
        keys: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let sql = match kind {
            RowKind::DeadLetters => format!(
                "SELECT 1 FROM dead_letters WHERE upstream = ?1 AND id = ?2 AND state = '{}'",
                DeadLetterState::Dead.as_str()
            ),
            RowKind::Incidents => format!(
                "SELECT 1 FROM incidents WHERE upstream = ?1 AND id = ?2 AND status_rank < {}",
                status_rank(IncidentStatus::Resolved)
            ),
        };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let mut gone = Vec::new();
        for (upstream, id) in keys {
            let listed = stmt
                .exists(rusqlite::params![upstream, id])
                .map_err(|e| self.sqlite(e))?;
            if !listed {
                gone.push((upstream.clone(), id.clone()));
            }
        }
        Ok(gone)
    }

    fn ids(&self, sql: &str, params: &[Value]) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))
    }

    fn count(&self, sql: &str, params: &[Value]) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(rusqlite::params_from_iter(params), |r| r.get(0)))
            .map_err(|e| self.sqlite(e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The `WHERE` of a whole-store selection of dead letters (default: live ones).
fn dead_letter_where(query: &Query, now: Timestamp) -> (String, Vec<Value>) {
    let mut sql = QuerySql::build(query, now.timestamp_millis(), 1);
    if !query.has_status() {
        sql.params
            .push(Value::Text(DeadLetterState::Dead.as_str().into()));
        sql.clauses.push(format!("state = ?{}", sql.params.len()));
    }
    (clauses(&sql.clauses), sql.params)
}

/// The `WHERE` of a whole-store selection of incidents (default: unresolved ones).
fn incident_where(query: &Query, now: Timestamp) -> (String, Vec<Value>) {
    let mut sql = QuerySql::build(query, now.timestamp_millis(), 1);
    if !query.has_status() {
        sql.clauses.push(format!(
            "status_rank < {}",
            status_rank(IncidentStatus::Resolved)
        ));
    }
    (clauses(&sql.clauses), sql.params)
}

fn clauses(clauses: &[String]) -> String {
    if clauses.is_empty() {
        "1".into()
    } else {
        clauses.join(" AND ")
    }
}
