//! The metrics report's inputs (`domain::metrics`), gathered in a few indexed queries: incidents
//! opened in the window (a covering index, no row lookups), the escalation steps and notified
//! teams of those incidents, replay counts grouped in SQL, and per connector the first and last
//! queue snapshot plus a bucketed DLQ depth series. The definitions live in the domain.

use std::sync::Arc;

use rusqlite::params;

use super::codec::{col_u32, col_u64, from_ms, ms};
use super::{Result, Store};
use crate::domain::metrics::fnv::FnvMap;
use crate::domain::metrics::{
    ConnectorOwnership, IncidentTimeline, MetricsInput, MetricsReport, MetricsWindow, ReplayTally,
    compute_report,
};

impl Store {
    /// Person or team id → team id (from config, `Config::team_directory`), replacing the
    /// previous directory; the metrics group connectors by their owner's team with it.
    pub fn sync_team_directory(&mut self, directory: &[(String, String)]) -> Result<()> {
        self.write_tx(|tx| {
            tx.execute("DELETE FROM team_directory", [])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO team_directory (member, team) VALUES (?1, ?2)
                 ON CONFLICT (member) DO UPDATE SET team = excluded.team",
            )?;
            for (member, team) in directory {
                insert.execute(params![member, team])?;
            }
            Ok(())
        })
    }

    /// The metrics of `window` (usually `MetricsWindow::last(7 days, now)`), per connector and
    /// per team, worst first, with series; only `connector` (any upstream) when given.
    /// Read-only; meant for the console's store thread and `triage report`.
    pub fn metrics_report(
        &self,
        window: MetricsWindow,
        connector: Option<&str>,
    ) -> Result<MetricsReport> {
        let input = self.metrics_input(window, connector)?;
        Ok(compute_report(&input))
    }

    /// The raw inputs of [`Store::metrics_report`] (for tests and benches of the definitions).
    pub fn metrics_input(
        &self,
        window: MetricsWindow,
        connector: Option<&str>,
    ) -> Result<MetricsInput> {
        // Read the pages in place instead of copying each through read(2) (this connection's
        // setting; a no-op where mmap is unavailable) — for this report only: left on, a later
        // full scan of the letters on this connection (a `/` search in the console) would map
        // the store's first 256 MB into the process (RSS 253 MB measured at 1M letters).
        self.conn
            .pragma_update(None, "mmap_size", 256 * 1024 * 1024)
            .map_err(|e| self.sqlite(e))?;
        let input = self.metrics_input_mapped(window, connector);
        self.conn
            .pragma_update(None, "mmap_size", 0)
            .map_err(|e| self.sqlite(e))?;
        input
    }

    fn metrics_input_mapped(
        &self,
        window: MetricsWindow,
        connector: Option<&str>,
    ) -> Result<MetricsInput> {
        let (since, until) = (ms(window.since), ms(window.until));
        let keep = |c: &str| connector.is_none_or(|wanted| wanted == c);
        let connectors: Vec<ConnectorOwnership> = self
            .query_rows(
                "SELECT c.upstream, c.id, c.owner, t.team, c.dead FROM connectors c
                 LEFT JOIN team_directory t ON t.member = c.owner ORDER BY c.upstream, c.id",
                params![],
                |row| {
                    Ok(ConnectorOwnership {
                        upstream: row.get(0)?,
                        connector: row.get(1)?,
                        owner: row.get(2)?,
                        team: row.get(3)?,
                        dlq_now: col_u64(row.get(4)?),
                    })
                },
            )?
            .into_iter()
            .filter(|c| keep(&c.connector))
            .collect();
        // Side tables keyed by the incident's rowid, read from covering indexes by time: a step
        // or notification in the window (incidents opened earlier are simply never asked for;
        // one opened in the window has all its steps after `since`). No row lookups.
        let mut steps: FnvMap<i64, Vec<u32>> = FnvMap::default();
        for (key, level) in self.query_rows(
            "SELECT i.rowid, s.level FROM escalation_steps s INDEXED BY escalation_steps_by_time
             CROSS JOIN incidents i ON i.upstream = s.upstream AND i.id = s.id
             WHERE s.at_ms >= ?1 AND s.at_ms < ?2",
            params![since, until],
            |row| Ok((row.get::<_, i64>(0)?, col_u32(row.get(1)?))),
        )? {
            steps.entry(key).or_default().push(level);
        }
        let mut teams: FnvMap<i64, Vec<String>> = FnvMap::default();
        for (key, team) in self.query_rows(
            "SELECT i.rowid, n.team FROM notified_teams n INDEXED BY notified_teams_by_time
             CROSS JOIN incidents i ON i.upstream = n.upstream AND i.id = n.id
             WHERE n.at_ms >= ?1 AND n.at_ms < ?2",
            params![since, until],
            |row| Ok((row.get::<_, i64>(0)?, row.get(1)?)),
        )? {
            teams.entry(key).or_default().push(team);
        }
        let incidents = self.incident_timelines(since, until, connector, &mut steps, &mut teams)?;
        let replays = self
            .query_rows(
                "SELECT o.upstream, d.connector, SUM(o.state = 'sent'), SUM(o.state = 'failed'),
                        SUM(o.state = 'pending')
                 FROM outbox o INDEXED BY outbox_newest
                 JOIN dead_letters d ON d.upstream = o.upstream AND d.id = o.target
                 WHERE o.created_ms >= ?1 AND o.created_ms < ?2 AND o.kind = 'replay'
                 GROUP BY o.upstream, d.connector",
                params![since, until],
                |row| {
                    Ok(ReplayTally {
                        upstream: row.get(0)?,
                        connector: row.get(1)?,
                        delivered: col_u64(row.get(2)?),
                        failed: col_u64(row.get(3)?),
                        pending: col_u64(row.get(4)?),
                    })
                },
            )?
            .into_iter()
            .filter(|r| keep(&r.connector))
            .collect();
        let mut dlq = Vec::with_capacity(connectors.len());
        for c in &connectors {
            dlq.push(self.dlq_series(&c.upstream, &c.connector, since, until)?);
        }
        Ok(MetricsInput {
            window,
            connectors,
            incidents,
            replays,
            dlq,
        })
    }

    fn incident_timelines(
        &self,
        since: i64,
        until: i64,
        connector: Option<&str>,
        steps: &mut FnvMap<i64, Vec<u32>>,
        teams: &mut FnvMap<i64, Vec<String>>,
    ) -> Result<Vec<IncidentTimeline>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT upstream, connector, rowid, opened_ms, acked_ms, resolved_ms, ack_deadline_ms,
                        reopens
                 FROM incidents INDEXED BY incidents_by_opened
                 WHERE opened_ms >= ?1 AND opened_ms < ?2 AND (?3 IS NULL OR connector = ?3)",
            )
            .map_err(|e| self.sqlite(e))?;
        let mut rows = stmt
            .query(params![since, until, connector])
            .map_err(|e| self.sqlite(e))?;
        let side_tables = !steps.is_empty() || !teams.is_empty();
        // Upstream and connector names, interned: one allocation per connector, not per row.
        let mut names: FnvMap<String, (Arc<str>, Arc<str>)> = FnvMap::default();
        let mut key = String::new();
        let mut out = Vec::new();
        let time = |v: Option<i64>| v.and_then(from_ms);
        while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
            let get = |e| self.sqlite(e);
            let text = |i: usize| -> Result<&str> {
                row.get_ref(i)
                    .and_then(|v| v.as_str().map_err(rusqlite::Error::from))
                    .map_err(|e| self.sqlite(e))
            };
            let (upstream, connector) = (text(0)?, text(1)?);
            key.clear();
            key.push_str(upstream);
            key.push('\u{0}');
            key.push_str(connector);
            let (upstream_name, connector_name) = match names.get(key.as_str()) {
                Some(pair) => pair.clone(),
                None => {
                    let pair: (Arc<str>, Arc<str>) = (upstream.into(), connector.into());
                    names.insert(key.clone(), pair.clone());
                    pair
                }
            };
            let (escalation_steps, notified_teams) = if side_tables {
                let rowid: i64 = row.get(2).map_err(get)?;
                (
                    steps.remove(&rowid).unwrap_or_default(),
                    teams.remove(&rowid).unwrap_or_default(),
                )
            } else {
                (Vec::new(), Vec::new())
            };
            let opened_ms: i64 = row.get(3).map_err(get)?;
            let Some(opened_at) = from_ms(opened_ms) else {
                return Err(self.corrupt("incidents", format!("bad opened_ms {opened_ms}")));
            };
            out.push(IncidentTimeline {
                upstream: upstream_name,
                connector: connector_name,
                opened_at,
                acked_at: time(row.get(4).map_err(get)?),
                resolved_at: time(row.get(5).map_err(get)?),
                ack_deadline: time(row.get(6).map_err(get)?),
                reopens: col_u32(row.get(7).map_err(get)?),
                escalation_steps,
                notified_teams,
            });
        }
        Ok(out)
    }

    /// Every row of a query, mapped.
    pub(super) fn query_rows<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt.query_map(args, map).map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))
    }
}
