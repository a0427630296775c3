//! Reading the outbox: due actions, single entries, newest-first pages, what the console marks
//! as open, and decoding rows back into [`OutboxEntry`]s.

use rusqlite::{Row, ToSql};

use super::codec::{col_u32, from_ms, ms, page_limit, where_clause};
use super::{PageDir, Result, Store};
use crate::domain::{OutboxEntry, OutboxLease, OutboxState, Stored, Timestamp};

/// The columns [`Store::outbox_from_row`] decodes, in its order.
pub(crate) const COLUMNS: &str = "id, idempotency_key, action, state, attempts, next_attempt_ms, last_error, \
     outcome, created_ms, updated_ms, lease_holder, lease_since_ms, lease_until_ms";

/// Position of an outbox entry in the Activity list (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxKey {
    pub created_ms: i64,
    pub id: String,
}

/// One keyset page of the outbox, newest first.
#[derive(Debug, Clone, Default)]
pub struct OutboxPageQuery {
    /// Only entries whose operator, target, upstream, kind, note, state, error or outcome contain
    /// this text, ASCII case ignored (`domain::search`); `None` or empty = all.
    pub text: Option<String>,
    pub anchor: Option<OutboxKey>,
    pub dir: PageDir,
    pub limit: usize,
}

impl Store {
    /// One page from the anchor (exclusive), at most `limit` (1..=1000) rows, always newest
    /// first (display order).
    pub fn page_outbox_keyset(&self, q: &OutboxPageQuery) -> Result<Vec<OutboxEntry>> {
        let mut filters = Vec::new();
        let mut args: Vec<&dyn ToSql> = Vec::new();
        if let Some(text) = q.text.as_ref().filter(|t| !t.is_empty()) {
            args.push(text);
            filters.push(format!(
                "triage_contains(?{}, json_extract(action, '$.operator'),
                    json_extract(action, '$.target'), json_extract(action, '$.upstream'),
                    json_extract(action, '$.kind'), json_extract(action, '$.note'), state,
                    last_error, outcome)",
                args.len()
            ));
        }
        let (cmp, order) = match q.dir {
            PageDir::Forward => ("<", "DESC"),
            PageDir::Backward => (">", "ASC"),
        };
        if let Some(anchor) = &q.anchor {
            args.extend([&anchor.created_ms as &dyn ToSql, &anchor.id]);
            let n = args.len();
            filters.push(format!("(created_ms, id) {cmp} (?{}, ?{n})", n - 1));
        }
        let limit = page_limit(q.limit);
        args.push(&limit);
        let filter = where_clause(&filters);
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox {filter} ORDER BY created_ms {order}, id {order} LIMIT ?{}",
            args.len()
        );
        let mut page = self.query_outbox(&sql, &args)?;
        if q.dir == PageDir::Backward {
            page.reverse();
        }
        Ok(page)
    }

    /// Pending actions whose `next_attempt_at <= now` and whose lease is free, oldest first.
    pub fn due_actions(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox INDEXED BY outbox_pending_due
             WHERE state = 'pending' AND next_attempt_ms <= ?1
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?1 OR NOT triage_holder_alive(lease_holder))
             ORDER BY created_ms, id LIMIT ?2"
        );
        // Not a page: a run's stage may take thousands in one round (one RabbitMQ pass).
        let limit = limit.clamp(1, 100_000) as i64;
        self.query_outbox(&sql, &[&ms(now), &limit])
    }

    pub fn outbox_entry(&self, id: &str) -> Result<Option<OutboxEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
        Ok(self.query_outbox(&sql, &[&id])?.into_iter().next())
    }

    /// Newest first; `states` empty = all; `before` = id of the last entry of the previous page
    /// (the page continues from its created_at/id).
    pub fn page_outbox(
        &self,
        states: &[OutboxState],
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let mut filters = Vec::new();
        let mut args: Vec<&dyn ToSql> = Vec::new();
        if !states.is_empty() {
            let names: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
            filters.push(format!("state IN ({})", names.join(", ")));
        }
        if let Some(before) = &before {
            args.push(before);
            filters.push(
                "(created_ms, id) < (SELECT created_ms, id FROM outbox WHERE id = ?1)".to_string(),
            );
        }
        let limit = page_limit(limit);
        args.push(&limit);
        let filter = where_clause(&filters);
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox {filter} ORDER BY created_ms DESC, id DESC LIMIT ?{}",
            args.len()
        );
        self.query_outbox(&sql, &args)
    }

    /// Pending actions plus failed ones updated since `failed_since`: what the console marks on rows.
    pub fn open_actions(&self, failed_since: Timestamp) -> Result<Vec<OutboxEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM outbox INDEXED BY outbox_pending_due WHERE state = 'pending'
             UNION ALL
             SELECT {COLUMNS} FROM outbox INDEXED BY outbox_failed_updated
              WHERE state = 'failed' AND updated_ms >= ?1
             ORDER BY created_ms, id"
        );
        self.query_outbox(&sql, &[&ms(failed_since)])
    }

    pub fn pending_action_count(&self) -> Result<u64> {
        let count: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM outbox INDEXED BY outbox_pending_due WHERE state = 'pending'",
            )
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|e| self.sqlite(e))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
    fn query_outbox(&self, sql: &str, args: &[&dyn ToSql]) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(args, |row| Ok(self.outbox_from_row(row)))
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }

    pub(crate) fn outbox_from_row(&self, row: &Row<'_>) -> Result<OutboxEntry> {
        let get = |e| self.sqlite(e);
        let bad = |message: String| self.corrupt("outbox", message);
        let time = |idx: usize| -> Result<Timestamp> {
            let v: i64 = row.get(idx).map_err(get)?;
            from_ms(v).ok_or_else(|| bad(format!("timestamp {v} out of range")))
        };
        let action: String = row.get(2).map_err(get)?;
        let state: String = row.get(3).map_err(get)?;
        let outcome: Option<String> = row.get(7).map_err(get)?;
        Ok(OutboxEntry {
            id: row.get(0).map_err(get)?,
            idempotency_key: row.get(1).map_err(get)?,
            action: serde_json::from_str(&action)
                .map_err(|e| bad(format!("action is not valid: {e}")))?,
            state: OutboxState::parse(&state)
                .ok_or_else(|| bad(format!("unknown state {state:?}")))?,
            attempts: col_u32(row.get(4).map_err(get)?),
            next_attempt_at: time(5)?,
            last_error: row.get(6).map_err(get)?,
            outcome: outcome
                .map(|o| {
                    serde_json::from_str(&o).map_err(|e| bad(format!("outcome is not valid: {e}")))
                })
                .transpose()?,
            created_at: time(8)?,
            updated_at: time(9)?,
            lease: match row.get::<_, Option<String>>(10).map_err(get)? {
                Some(holder) => {
                    let since: Option<i64> = row.get(11).map_err(get)?;
                    let until: Option<i64> = row.get(12).map_err(get)?;
                    Some(OutboxLease {
                        alive: super::holder::alive(&holder),
                        holder,
                        since: since.and_then(from_ms),
                        until: until.and_then(from_ms),
                    })
                }
                None => None,
            },
            stored: Stored::default(),
        })
    }
}
