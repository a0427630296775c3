//! Connectors: the inventory from config merged with the upstream's last report, queue
//! snapshots (DLQ depth history) and the per-connector counts kept by triggers.

use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::codec::{col_u64, from_ms, ms, parse_direction, u64_col};
use super::{ConnectorCounts, DepthPoint, Result, Store};
use crate::domain::{Connector, ConnectorReport, ConnectorStatus, QueueStats, Timestamp};

const CONNECTOR_COLUMNS: &str = "upstream, id, name, in_inventory, source, destination, direction, \
     purpose, owner, backup, ack_sla_ms, runbook, contract, status, ready, in_flight, retrying, dead, \
     rate_in, rate_out, rate_fail, last_error, updated_ms";

impl Store {
    /// Writes the inventory (from config): inventory fields of each connector, keeping stats.
    /// Connectors dropped from the inventory lose their inventory fields; those the upstream
    /// never reported are removed.
    pub fn sync_inventory(&mut self, inventory: &[Connector]) -> Result<()> {
        let path = self.path.clone();
        let err = |source| super::StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "UPDATE connectors SET in_inventory = 2 WHERE in_inventory = 1",
            [],
        )
        .map_err(err)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO connectors (upstream, id, name, in_inventory, source, destination, direction,
                        purpose, owner, backup, ack_sla_ms, runbook, contract)
                     VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT (upstream, id) DO UPDATE SET name = excluded.name, in_inventory = 1,
                        source = excluded.source, destination = excluded.destination,
                        direction = excluded.direction, purpose = excluded.purpose, owner = excluded.owner,
                        backup = excluded.backup, ack_sla_ms = excluded.ack_sla_ms,
                        runbook = excluded.runbook, contract = excluded.contract",
                )
                .map_err(err)?;
            for c in inventory {
                let ack_sla_ms = c
                    .ack_sla
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                upsert
                    .execute(params![
                        c.upstream,
                        c.id,
                        c.name,
                        c.source,
                        c.destination,
                        c.direction.map(|d| d.as_str()),
                        c.purpose,
                        c.owner,
                        c.backup,
                        ack_sla_ms,
                        c.runbook,
                        c.contract
                    ])
                    .map_err(err)?;
            }
        }
        tx.execute(
            "DELETE FROM connectors WHERE in_inventory = 2 AND updated_ms IS NULL",
            [],
        )
        .map_err(err)?;
        tx.execute(
            "UPDATE connectors SET in_inventory = 0, source = NULL, destination = NULL, direction = NULL,
                purpose = NULL, owner = NULL, backup = NULL, ack_sla_ms = NULL, runbook = NULL, contract = NULL
             WHERE in_inventory = 2",
            [],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// All connectors, inventory merged with last stats, ordered by id. (The inventory is small.)
    pub fn connectors(&self) -> Result<Vec<Connector>> {
        let sql = format!("SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY id, upstream");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| Ok(self.connector_from_row(row)))
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }

    pub fn connector_counts(&self) -> Result<Vec<ConnectorCounts>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT upstream, connector, dead_letters, open_incidents, unacked_incidents
                 FROM connector_counts ORDER BY upstream, connector",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(ConnectorCounts {
                    upstream: row.get(0)?,
                    connector: row.get(1)?,
                    dead_letters: col_u64(row.get(2)?),
                    open_incidents: col_u64(row.get(3)?),
                    unacked_incidents: col_u64(row.get(4)?),
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))
    }

    /// DLQ depth points of one connector since `since`, oldest first, at most `max_points`.
    /// With more snapshots than that, they are split into `max_points` even runs and each run
    /// gives one point: its last time and its highest depth (so spikes are not lost).
    pub fn dlq_history(
        &self,
        upstream: &str,
        connector: &str,
        since: Timestamp,
        max_points: usize,
    ) -> Result<Vec<DepthPoint>> {
        if max_points == 0 {
            return Ok(Vec::new());
        }
        let Some(series) = super::queue_points::series_key(&self.conn, upstream, connector)
            .map_err(|e| self.sqlite(e))?
        else {
            return Ok(Vec::new());
        };
        let depths = super::queue_points::depths(&self.conn, series, ms(since), i64::MAX)
            .map_err(|e| self.sqlite(e))?;
        let total = depths.len();
        let buckets = max_points.min(total);
        let mut points: Vec<DepthPoint> = Vec::with_capacity(buckets);
        for (index, (at_ms, dead)) in depths.into_iter().enumerate() {
            let at = from_ms(at_ms)
                .ok_or_else(|| self.corrupt("queue_blocks", format!("bad at_ms {at_ms}")))?;
            let dead = col_u64(dead);
            // Point `index` falls in bucket floor(index * buckets / total).
            let bucket = index * buckets / total.max(1);
            match points.get_mut(bucket) {
                Some(point) => {
                    point.at = at;
                    point.dead = point.dead.max(dead);
                }
                None => points.push(DepthPoint { at, dead }),
            }
        }
        Ok(points)
    }

    fn connector_from_row(&self, row: &Row<'_>) -> Result<Connector> {
        let get = |e| self.sqlite(e);
        let direction: Option<String> = row.get(6).map_err(get)?;
        let ack_sla_ms: Option<i64> = row.get(10).map_err(get)?;
        let status: String = row.get(13).map_err(get)?;
        let updated_ms: Option<i64> = row.get(22).map_err(get)?;
        let updated_at = match updated_ms {
            Some(v) => Some(
                from_ms(v)
                    .ok_or_else(|| self.corrupt("connectors", format!("bad updated_ms {v}")))?,
            ),
            None => None,
        };
        Ok(Connector {
            upstream: row.get(0).map_err(get)?,
            id: row.get(1).map_err(get)?,
            name: row.get(2).map_err(get)?,
            source: row.get(4).map_err(get)?,
            destination: row.get(5).map_err(get)?,
            direction: direction.as_deref().and_then(parse_direction),
            purpose: row.get(7).map_err(get)?,
            owner: row.get(8).map_err(get)?,
            backup: row.get(9).map_err(get)?,
            ack_sla: ack_sla_ms.map(|v| std::time::Duration::from_millis(col_u64(v))),
            runbook: row.get(11).map_err(get)?,
            contract: row.get(12).map_err(get)?,
            status: ConnectorStatus::parse(&status),
            stats: QueueStats {
                ready: col_u64(row.get(14).map_err(get)?),
                in_flight: col_u64(row.get(15).map_err(get)?),
                retrying: col_u64(row.get(16).map_err(get)?),
                dead: col_u64(row.get(17).map_err(get)?),
                rate_in: row.get(18).map_err(get)?,
                rate_out: row.get(19).map_err(get)?,
                rate_fail: row.get(20).map_err(get)?,
            },
            last_error: row.get(21).map_err(get)?,
            updated_at,
        })
    }
}

/// Updates the status and stats of each reported connector (inserting unknown ones under the
/// reported name) and appends one queue snapshot each; downsamples and prunes old snapshots at
/// most hourly (`queue_history`).
pub(crate) fn write_reports(
    conn: &Connection,
    upstream: &str,
    at: Timestamp,
    reports: &[ConnectorReport],
) -> rusqlite::Result<()> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO connectors (upstream, id, name, status, ready, in_flight, retrying, dead,
            rate_in, rate_out, rate_fail, last_error, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (upstream, id) DO UPDATE SET
            name = CASE WHEN in_inventory = 1 THEN name ELSE excluded.name END,
            status = excluded.status, ready = excluded.ready, in_flight = excluded.in_flight,
            retrying = excluded.retrying, dead = excluded.dead, rate_in = excluded.rate_in,
            rate_out = excluded.rate_out, rate_fail = excluded.rate_fail,
            last_error = excluded.last_error, updated_ms = excluded.updated_ms",
    )?;
    let mut series = conn.prepare_cached(
        "INSERT INTO queue_series (upstream, connector) VALUES (?1, ?2)
         ON CONFLICT (upstream, connector) DO NOTHING",
    )?;
    let mut snapshot = conn.prepare_cached(
        "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
            rate_out, rate_fail)
         SELECT key, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 FROM queue_series
         WHERE upstream = ?1 AND connector = ?2",
    )?;
    let at_ms = ms(at);
    for r in reports {
        let s = &r.stats;
        let (ready, in_flight, retrying, dead) = (
            u64_col(s.ready),
            u64_col(s.in_flight),
            u64_col(s.retrying),
            u64_col(s.dead),
        );
        upsert.execute(params![
            upstream,
            r.id,
            r.name,
            r.status.as_str(),
            ready,
            in_flight,
            retrying,
            dead,
            s.rate_in,
            s.rate_out,
            s.rate_fail,
            r.last_error,
            ms(r.updated_at)
        ])?;
        series.execute(params![upstream, r.id])?;
        snapshot.execute(params![
            upstream,
            r.id,
            at_ms,
            ready,
            in_flight,
            retrying,
            dead,
            s.rate_in,
            s.rate_out,
            s.rate_fail
        ])?;
    }
    super::queue_history::maintain(conn, upstream, at_ms)
}
