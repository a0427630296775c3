//! Queue history that stays small: raw snapshots (one per poll) are kept for a day, then rolled
//! into 1-minute points kept for 7 days, then into 15-minute points kept for 90 days; older
//! points are dropped. A rolled point keeps the highest `ready`, `in_flight`, `retrying` and
//! `dead` of its bucket (spikes survive, and a DLQ chart never under-reports) and the mean of
//! the rates (to 0.001 msg/s); it is stamped with the bucket's start.
//!
//! Storage (schema V9, docs/METRICS.md): a poll is one row of `queue_polls` until its clock
//! hour has passed; the hourly pass then packs each connector's hour into one `queue_blocks`
//! row (`store::queue_codec`), and moves whole blocks down the tiers as they age: raw and
//! 1-minute points in hour blocks, 15-minute points in day blocks. The tiers' cut-offs are whole
//! hours (raw polls: the last 24 to 25 hours). The same pass keeps the deepest DLQ of each hour
//! (`dlq_depth_days`, one block per connector and day) for the charts.
//!
//! Maintenance runs inside a sync batch's transaction, in the first batch of each clock hour
//! per upstream (`snapshot_pruning`); it reads only what the tiers' cut-offs moved past.

use rusqlite::{Connection, OptionalExtension, params};

use super::codec::ms;
use super::queue_hours::hourly_depths;
use super::queue_pass::SeriesPass;
use super::queue_points::{DAY_MS, HOUR_MS, MINUTE, QUARTER, RAW, bucket_start};
use super::{Result, Store};
use crate::domain::Timestamp;

/// Raw polls are kept this long (counted in whole hours), then rolled into 1-minute points.
pub const RAW_FOR_MS: i64 = DAY_MS;
/// 1-minute points are kept this long (from now), then rolled into 15-minute points.
pub const MINUTE_POINTS_FOR_MS: i64 = 7 * DAY_MS;
/// 15-minute points older than this are dropped.
pub const RETENTION_MS: i64 = 90 * DAY_MS;

/// Runs a pass for `upstream` when none ran yet in the clock hour of `now_ms`. A pass that
/// fails (a damaged block) is undone and logged; the sync batch goes on and the polls wait.
pub(crate) fn maintain(conn: &Connection, upstream: &str, now_ms: i64) -> rusqlite::Result<()> {
    let last = last_pass(conn, upstream)?;
    if last.is_some_and(|t| bucket_start(t, HOUR_MS) == bucket_start(now_ms, HOUR_MS)) {
        return Ok(());
    }
    conn.execute_batch("SAVEPOINT queue_history")?;
    match run_pass(conn, upstream, now_ms) {
        Ok(_) => conn.execute_batch("RELEASE queue_history"),
        Err(e) => {
            tracing::warn!(upstream, error = %e, "queue history pass failed; kept as it was");
            conn.execute_batch("ROLLBACK TO queue_history; RELEASE queue_history")?;
            record_pass(conn, upstream, now_ms)
        }
    }
}

/// When the last pass over `upstream` ran.
fn last_pass(conn: &Connection, upstream: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT pruned_ms FROM snapshot_pruning WHERE upstream = ?1")?
        .query_row([upstream], |row| row.get(0))
        .optional()
}

fn record_pass(conn: &Connection, upstream: &str, now_ms: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO snapshot_pruning (upstream, pruned_ms) VALUES (?1, ?2)
         ON CONFLICT (upstream) DO UPDATE SET pruned_ms = excluded.pruned_ms",
    )?
    .execute(params![upstream, now_ms])?;
    Ok(())
}

/// One pass now over every connector of `upstream`, recorded as the last pass.
fn run_pass(conn: &Connection, upstream: &str, now_ms: i64) -> rusqlite::Result<QueueHistoryPass> {
    let last = last_pass(conn, upstream)?.filter(|last| *last <= now_ms);
    let series: Vec<i64> = conn
        .prepare_cached("SELECT key FROM queue_series WHERE upstream = ?1 ORDER BY key")?
        .query_map([upstream], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut total = QueueHistoryPass::default();
    for key in series {
        let mut pass = SeriesPass::new(conn, key);
        let hour = bucket_start(now_ms, HOUR_MS);
        pass.pack_polls(hour)?;
        pass.roll(
            RAW,
            MINUTE,
            bucket_start(now_ms.saturating_sub(RAW_FOR_MS), HOUR_MS),
        )?;
        pass.roll(
            MINUTE,
            QUARTER,
            bucket_start(now_ms.saturating_sub(MINUTE_POINTS_FOR_MS), HOUR_MS),
        )?;
        pass.drop_old(now_ms.saturating_sub(RETENTION_MS))?;
        pass.flush()?;
        let from = last.map_or(i64::MIN, |last| bucket_start(last, HOUR_MS));
        hourly_depths(conn, key, (from, hour), now_ms.saturating_sub(RETENTION_MS))?;
        total.rolled += pass.done.rolled;
        total.written += pass.done.written;
        total.dropped += pass.done.dropped;
    }
    record_pass(conn, upstream, now_ms)?;
    Ok(total)
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueHistoryPass {
    /// Snapshots replaced by coarser points.
    pub rolled: usize,
    /// Coarser points written.
    pub written: usize,
    /// Points older than the retention, dropped.
    pub dropped: usize,
}

impl Store {
    /// Runs the queue history's maintenance for every upstream now, whatever the hourly gate
    /// says, from where the last pass stopped (sync runs it by itself; this is for tests,
    /// benches and `--bench`-style checks).
    pub fn downsample_queue_history(&mut self, now: Timestamp) -> Result<QueueHistoryPass> {
        self.write_tx(|tx| {
            let upstreams: Vec<String> = tx
                .prepare("SELECT DISTINCT upstream FROM queue_series")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut pass = QueueHistoryPass::default();
            for upstream in upstreams {
                let done = run_pass(tx, &upstream, ms(now))?;
                pass.rolled += done.rolled;
                pass.written += done.written;
                pass.dropped += done.dropped;
            }
            Ok(pass)
        })
    }

    /// Queue history points per resolution (0 = raw polls, packed or not), finest first; tiers
    /// without points are left out.
    pub fn queue_history_tiers(&self) -> Result<Vec<(i64, u64)>> {
        let rows = self.query_rows(
            "SELECT resolution_ms, SUM(n) FROM (
                SELECT resolution_ms, points AS n FROM queue_blocks
                UNION ALL SELECT 0, COUNT(*) FROM queue_polls)
             GROUP BY resolution_ms HAVING SUM(n) > 0 ORDER BY resolution_ms",
            [],
            |row| Ok((row.get(0)?, super::codec::col_u64(row.get(1)?))),
        )?;
        Ok(rows)
    }

    /// Bytes the queue history takes in the file: every page of its tables and indexes
    /// (SQLite's `dbstat`), free space inside them included.
    pub fn queue_history_bytes(&self) -> Result<u64> {
        let bytes: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ('queue_series',
                    'sqlite_autoindex_queue_series_1', 'queue_polls', 'queue_polls_by_series',
                    'queue_blocks', 'queue_blocks_by_series', 'dlq_depth_days')",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(super::codec::col_u64(bytes))
    }
}
