//! Incidents: change-aware upserts and keyset pages in urgency order
//! (status rank, ack deadline, upstream, id).

use std::collections::BTreeMap;

use chrono::Utc;
use rusqlite::{Connection, Row, ToSql, params};

use super::codec::{
    RESOLVED_RANK, col_u32, deadline_ms, from_ms, ms, opt_ms, page_limit, status_rank, where_clause,
};
use super::query::QuerySql;
use super::{IncidentKey, IncidentPageQuery, PageDir, Result, SortList, Store};
use crate::domain::query::Query;
use crate::domain::{Incident, IncidentStatus, Link, Severity};

pub(super) const COLUMNS: &str = "upstream, id, connector, kind, severity, status, title, detail, opened_ms, \
     updated_ms, acked_by, acked_ms, resolved_ms, ack_deadline_ms, escalation_level, labels, links, \
     status_rank, deadline_ms";

/// Inserts or updates one incident; an identical stored row is left untouched.
/// Returns true when a row was written. An incident without an ack deadline (an upstream's
/// answer to an action: adapters do not route) keeps the deadline routing gave it at sync, so
/// the urgency order and the metrics' ack-within-SLA survive an ack made through triage.
pub(crate) fn upsert_incident(conn: &Connection, i: &Incident) -> rusqlite::Result<bool> {
    let to_json = |e: serde_json::Error| rusqlite::Error::ToSqlConversionFailure(Box::new(e));
    let labels = serde_json::to_string(&i.labels).map_err(to_json)?;
    let links = serde_json::to_string(&i.links).map_err(to_json)?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO incidents (upstream, id, connector, kind, severity, status, title, detail,
            opened_ms, updated_ms, acked_by, acked_ms, resolved_ms, ack_deadline_ms, escalation_level,
            labels, links, status_rank, deadline_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
         ON CONFLICT (upstream, id) DO UPDATE SET
            connector = excluded.connector, kind = excluded.kind, severity = excluded.severity,
            status = excluded.status, title = excluded.title, detail = excluded.detail,
            opened_ms = excluded.opened_ms, updated_ms = excluded.updated_ms,
            acked_by = excluded.acked_by, acked_ms = excluded.acked_ms,
            resolved_ms = excluded.resolved_ms,
            ack_deadline_ms = COALESCE(excluded.ack_deadline_ms, ack_deadline_ms),
            escalation_level = excluded.escalation_level, labels = excluded.labels,
            links = excluded.links, status_rank = excluded.status_rank,
            deadline_ms = CASE WHEN excluded.ack_deadline_ms IS NULL AND ack_deadline_ms IS NOT NULL
                               THEN deadline_ms ELSE excluded.deadline_ms END
         WHERE (connector, kind, severity, status, title, detail, opened_ms, updated_ms, acked_by,
                acked_ms, resolved_ms, ack_deadline_ms, escalation_level, labels, links)
            IS NOT (excluded.connector, excluded.kind, excluded.severity, excluded.status,
                excluded.title, excluded.detail, excluded.opened_ms, excluded.updated_ms,
                excluded.acked_by, excluded.acked_ms, excluded.resolved_ms,
                COALESCE(excluded.ack_deadline_ms, ack_deadline_ms),
                excluded.escalation_level, excluded.labels, excluded.links)",
    )?;
    // As for dead letters (`dead_letters::forget_last_insert`): 0 afterwards means no insert.
    super::dead_letters::forget_last_insert(conn);
    let written = stmt.execute(params![
        i.upstream,
        i.id,
        i.connector,
        i.kind,
        i.severity.as_str(),
        i.status.as_str(),
        i.title,
        i.detail,
        ms(i.opened_at),
        ms(i.updated_at),
        i.acked_by,
        opt_ms(i.acked_at),
        opt_ms(i.resolved_at),
        opt_ms(i.ack_deadline),
        i64::from(i.escalation_level),
        labels,
        links,
        i64::from(status_rank(i.status)),
        deadline_ms(i.ack_deadline)
    ])?;
    if written > 0 && conn.last_insert_rowid() != 0 {
        // What the V3 `AFTER INSERT` trigger did (schema V13): the new incident counted as
        // open (not resolved) and unacked (open, not acknowledged or suppressed).
        let rank = status_rank(i.status);
        conn.prepare_cached(
            "INSERT INTO connector_counts (upstream, connector, open_incidents, unacked_incidents)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (upstream, connector) DO UPDATE SET
                open_incidents = open_incidents + excluded.open_incidents,
                unacked_incidents = unacked_incidents + excluded.unacked_incidents",
        )?
        .execute(params![
            i.upstream,
            i.connector,
            i64::from(rank < RESOLVED_RANK),
            i64::from(rank == 0)
        ])?;
    }
    Ok(written > 0)
}

impl Store {
    pub fn incident(&self, upstream: &str, id: &str) -> Result<Option<Incident>> {
        let sql = format!("SELECT {COLUMNS} FROM incidents WHERE upstream = ?1 AND id = ?2");
        Ok(self
            .query_incidents(&sql, &[&upstream, &id])?
            .into_iter()
            .next()
            .map(|(_, i)| i))
    }

    /// Finds incidents whose id is `id` in any upstream (CLI lookups by bare id).
    pub fn find_incidents(&self, id: &str) -> Result<Vec<Incident>> {
        let sql = format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1 ORDER BY upstream");
        Ok(self
            .query_incidents(&sql, &[&id])?
            .into_iter()
            .map(|(_, i)| i)
            .collect())
    }

    /// One page in urgency order from the anchor (exclusive), at most `limit` (1..=1000) rows,
    /// always returned in display order.
    pub fn page_incidents(&self, q: &IncidentPageQuery) -> Result<Vec<(IncidentKey, Incident)>> {
        let mut filters: Vec<String> = Vec::new();
        let mut args: Vec<&dyn ToSql> = Vec::new();
        if let Some(connector) = &q.connector {
            args.push(connector);
            filters.push(format!("connector = ?{}", args.len()));
        }
        // A `status:` term of the query replaces the listing's default statuses.
        if !q.statuses.is_empty() && !q.query.as_ref().is_some_and(Query::has_status) {
            let ranks: Vec<String> = q
                .statuses
                .iter()
                .map(|s| status_rank(*s).to_string())
                .collect();
            filters.push(format!("status_rank IN ({})", ranks.join(", ")));
        }
        if let Some(text) = q.text.as_ref().filter(|t| !t.is_empty()) {
            args.push(text);
            filters.push(format!(
                "triage_contains(?{}, id, connector, title, kind, severity, status, acked_by)",
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
        // The urgency order, reversed when the sort is; the tie-breaker under another column.
        let forward = (q.dir == PageDir::Forward) != q.sort.reverse;
        let (cmp, order) = if forward { (">", "ASC") } else { ("<", "DESC") };
        let sorted = q.sort.sql(SortList::Incidents, q.dir == PageDir::Forward);
        let rank;
        if let Some(anchor) = &q.anchor {
            rank = i64::from(anchor.status_rank);
            args.extend([
                &rank as &dyn ToSql,
                &anchor.deadline_ms,
                &anchor.upstream,
                &anchor.id,
            ]);
            let n = args.len();
            let tie = format!(
                "(status_rank, deadline_ms, upstream, id) {cmp} (?{}, ?{}, ?{}, ?{n})",
                n - 3,
                n - 2,
                n - 1
            );
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
        let filter = where_clause(&filters);
        let (sort_column, sort_order) = match &sorted {
            Some(s) => (s.expr, format!("{} {}, ", s.expr, s.order)),
            None => ("NULL", String::new()),
        };
        let sql = format!(
            "SELECT {COLUMNS}, {sort_column} FROM incidents {filter}
             ORDER BY {sort_order}status_rank {order}, deadline_ms {order}, upstream {order}, id {order} LIMIT ?{}",
            args.len()
        );
        let mut page = self.query_incidents(&sql, &args)?;
        if q.dir == PageDir::Backward {
            page.reverse();
        }
        Ok(page)
    }

    fn query_incidents(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
    ) -> Result<Vec<(IncidentKey, Incident)>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(args, |row| Ok(self.incident_from_row(row)))
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }

    pub(super) fn incident_from_row(&self, row: &Row<'_>) -> Result<(IncidentKey, Incident)> {
        let get = |e| self.sqlite(e);
        let bad = |what: &str| self.corrupt("incidents", what.to_string());
        let time = |idx: usize| -> Result<Option<crate::domain::Timestamp>> {
            match row.get::<_, Option<i64>>(idx).map_err(get)? {
                Some(v) => from_ms(v)
                    .map(Some)
                    .ok_or_else(|| bad(&format!("timestamp {v} out of range"))),
                None => Ok(None),
            }
        };
        let required = |idx: usize| -> Result<crate::domain::Timestamp> {
            time(idx)?.ok_or_else(|| bad("missing timestamp"))
        };
        let severity: String = row.get(4).map_err(get)?;
        let status: String = row.get(5).map_err(get)?;
        let labels: String = row.get(15).map_err(get)?;
        let links: String = row.get(16).map_err(get)?;
        let labels: BTreeMap<String, String> = serde_json::from_str(&labels)
            .map_err(|e| bad(&format!("labels are not a JSON object: {e}")))?;
        let links: Vec<Link> = serde_json::from_str(&links)
            .map_err(|e| bad(&format!("links are not a JSON list: {e}")))?;
        let incident = Incident {
            upstream: row.get(0).map_err(get)?,
            id: row.get(1).map_err(get)?,
            connector: row.get(2).map_err(get)?,
            kind: row.get(3).map_err(get)?,
            severity: Severity::parse_lenient(&severity),
            status: IncidentStatus::parse(&status)
                .ok_or_else(|| bad(&format!("unknown status {status:?}")))?,
            title: row.get(6).map_err(get)?,
            detail: row.get(7).map_err(get)?,
            opened_at: required(8)?,
            updated_at: required(9)?,
            acked_by: row.get(10).map_err(get)?,
            acked_at: time(11)?,
            resolved_at: time(12)?,
            ack_deadline: time(13)?,
            escalation_level: col_u32(row.get(14).map_err(get)?),
            labels,
            links,
        };
        let rank: i64 = row.get(17).map_err(get)?;
        let key = IncidentKey {
            sort: super::sort::read_value(row, 19),
            status_rank: u8::try_from(rank).map_err(|_| bad(&format!("status_rank {rank}")))?,
            deadline_ms: row.get(18).map_err(get)?,
            upstream: incident.upstream.clone(),
            id: incident.id.clone(),
        };
        Ok((key, incident))
    }
}
