//! Queue history that stays small: raw snapshots (one per poll) are kept for a day, then rolled
//! into 1-minute points kept for 7 days, then into 15-minute points kept for 90 days; older
//! points are dropped. A rolled point keeps the highest `ready`, `in_flight`, `retrying` and
//! `dead` of its bucket (spikes survive, and a DLQ chart never under-reports) and the mean of
//! the rates; it is stamped with the bucket's start and its `resolution_ms`.
//!
//! Maintenance runs inside a sync batch's transaction, at most hourly per upstream
//! (`snapshot_pruning`), one indexed range per connector; buckets are aligned to multiples of
//! their size, and only whole buckets older than a tier's cut-off are rolled, so a bucket is
//! rolled once.

use rusqlite::{Connection, OptionalExtension, params};

use super::codec::ms;
use super::{Result, Store};
use crate::domain::Timestamp;

const MINUTE_MS: i64 = 60 * 1000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Raw polls are kept this long, then rolled into 1-minute points.
pub const RAW_FOR_MS: i64 = DAY_MS;
/// 1-minute points are kept this long (from now), then rolled into 15-minute points.
pub const MINUTE_POINTS_FOR_MS: i64 = 7 * DAY_MS;
/// 15-minute points older than this are dropped.
pub const RETENTION_MS: i64 = 90 * DAY_MS;
/// Maintenance runs at most this often per upstream.
const MAINTAIN_EVERY_MS: i64 = HOUR_MS;

/// (rolled into this resolution, rows older than this before now).
const TIERS: [(i64, i64); 2] = [
    (MINUTE_MS, RAW_FOR_MS),
    (15 * MINUTE_MS, MINUTE_POINTS_FOR_MS),
];

/// Runs [`downsample`] for `upstream` when the last run is an hour old or more.
pub(crate) fn maintain(conn: &Connection, upstream: &str, now_ms: i64) -> rusqlite::Result<()> {
    let last = last_pass(conn, upstream)?;
    if last.is_some_and(|t| now_ms.saturating_sub(t) < MAINTAIN_EVERY_MS) {
        return Ok(());
    }
    run_pass(conn, upstream, now_ms).map(|_| ())
}

/// When the last pass over `upstream` ran.
fn last_pass(conn: &Connection, upstream: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT pruned_ms FROM snapshot_pruning WHERE upstream = ?1")?
        .query_row([upstream], |row| row.get(0))
        .optional()
}

/// One pass now (from where the last one stopped), recorded as the last pass.
fn run_pass(
    conn: &Connection,
    upstream: &str,
    now_ms: i64,
) -> rusqlite::Result<(usize, usize, usize)> {
    let last = last_pass(conn, upstream)?.filter(|last| *last <= now_ms);
    let done = downsample(conn, upstream, now_ms, last)?;
    hourly_depths(conn, upstream, now_ms, last)?;
    conn.prepare_cached(
        "INSERT INTO snapshot_pruning (upstream, pruned_ms) VALUES (?1, ?2)
         ON CONFLICT (upstream) DO UPDATE SET pruned_ms = excluded.pruned_ms",
    )?
    .execute(params![upstream, now_ms])?;
    Ok(done)
}

/// Folds the whole hours since the last pass (all of them on a first pass) into
/// `dlq_depth_hourly` (the deepest DLQ of each hour) and drops hours past the retention.
fn hourly_depths(
    conn: &Connection,
    upstream: &str,
    now_ms: i64,
    last_pass_ms: Option<i64>,
) -> rusqlite::Result<()> {
    let from = last_pass_ms.map_or(i64::MIN, |last| bucket_start(last, HOUR_MS));
    conn.prepare_cached(
        "INSERT INTO dlq_depth_hourly (upstream, connector, hour_ms, max_dead, last_at_ms)
         SELECT s.upstream, s.connector, s.at_ms - s.at_ms % ?4 AS hour, MAX(s.dead), MAX(s.at_ms)
         FROM connectors c CROSS JOIN queue_snapshots s
           ON s.upstream = c.upstream AND s.connector = c.id AND s.at_ms >= ?2 AND s.at_ms < ?3
         WHERE c.upstream = ?1
         GROUP BY s.connector, hour
         ON CONFLICT (upstream, connector, hour_ms) DO UPDATE SET
            max_dead = MAX(max_dead, excluded.max_dead),
            last_at_ms = MAX(last_at_ms, excluded.last_at_ms)",
    )?
    .execute(params![
        upstream,
        from,
        bucket_start(now_ms, HOUR_MS),
        HOUR_MS
    ])?;
    conn.prepare_cached(
        "DELETE FROM dlq_depth_hourly WHERE upstream = ?1
            AND connector IN (SELECT id FROM connectors WHERE upstream = ?1) AND hour_ms < ?2",
    )?
    .execute(params![upstream, now_ms.saturating_sub(RETENTION_MS)])?;
    Ok(())
}

/// The start of the whole bucket of `resolution` holding `at_ms`.
fn bucket_start(at_ms: i64, resolution: i64) -> i64 {
    at_ms - at_ms.rem_euclid(resolution)
}

/// Rolls every tier of `upstream`'s snapshots as of `now_ms` and drops points past retention.
/// `last_pass_ms`: when the previous pass ran; everything it rolled or dropped is skipped, so an
/// hourly pass reads about an hour of rows per tier (`None`: look at the whole history).
/// Returns (rows rolled away, rows written, rows dropped).
fn downsample(
    conn: &Connection,
    upstream: &str,
    now_ms: i64,
    last_pass_ms: Option<i64>,
) -> rusqlite::Result<(usize, usize, usize)> {
    let (mut rolled, mut written) = (0, 0);
    let from = |keep_ms: i64, resolution: i64| {
        last_pass_ms.map_or(i64::MIN, |last| {
            bucket_start(last.saturating_sub(keep_ms), resolution)
        })
    };
    for (resolution, keep_ms) in TIERS {
        let cutoff = bucket_start(now_ms.saturating_sub(keep_ms), resolution);
        let lower = from(keep_ms, resolution);
        // One indexed range per connector (the index leads with upstream, connector, at_ms).
        written += conn
            .prepare_cached(
                "INSERT INTO queue_snapshots (upstream, connector, at_ms, ready, in_flight,
                    retrying, dead, rate_in, rate_out, rate_fail, resolution_ms)
                 SELECT s.upstream, s.connector, s.at_ms - s.at_ms % ?3 AS bucket, MAX(s.ready),
                        MAX(s.in_flight), MAX(s.retrying), MAX(s.dead), AVG(s.rate_in),
                        AVG(s.rate_out), AVG(s.rate_fail), ?3
                 FROM connectors c CROSS JOIN queue_snapshots s
                   ON s.upstream = c.upstream AND s.connector = c.id
                  AND s.at_ms >= ?4 AND s.at_ms < ?2
                 WHERE c.upstream = ?1 AND s.resolution_ms < ?3
                 GROUP BY s.connector, bucket",
            )?
            .execute(params![upstream, cutoff, resolution, lower])?;
        rolled += conn
            .prepare_cached(
                "DELETE FROM queue_snapshots WHERE rowid IN (
                    SELECT s.rowid FROM connectors c CROSS JOIN queue_snapshots s
                      ON s.upstream = c.upstream AND s.connector = c.id
                     AND s.at_ms >= ?4 AND s.at_ms < ?2
                     WHERE c.upstream = ?1 AND s.resolution_ms < ?3)",
            )?
            .execute(params![upstream, cutoff, resolution, lower])?;
    }
    let dropped = conn
        .prepare_cached(
            "DELETE FROM queue_snapshots WHERE rowid IN (
                SELECT s.rowid FROM connectors c CROSS JOIN queue_snapshots s
                  ON s.upstream = c.upstream AND s.connector = c.id
                 AND s.at_ms >= ?3 AND s.at_ms < ?2
                 WHERE c.upstream = ?1)",
        )?
        .execute(params![
            upstream,
            now_ms.saturating_sub(RETENTION_MS),
            from(RETENTION_MS, 1)
        ])?;
    Ok((rolled, written, dropped))
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
                .prepare("SELECT DISTINCT upstream FROM connectors")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut pass = QueueHistoryPass::default();
            for upstream in upstreams {
                let (rolled, written, dropped) = run_pass(tx, &upstream, ms(now))?;
                pass.rolled += rolled;
                pass.written += written;
                pass.dropped += dropped;
            }
            Ok(pass)
        })
    }

    /// Queue snapshot rows per resolution (0 = raw polls), finest first.
    pub fn queue_history_tiers(&self) -> Result<Vec<(i64, u64)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT resolution_ms, COUNT(*) FROM queue_snapshots
                 GROUP BY resolution_ms ORDER BY resolution_ms",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get(0)?, super::codec::col_u64(row.get(1)?)))
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))
    }
}
