//! Reading a connector's queue history (`store::queue_history`): the packed blocks of each tier
//! plus the polls not packed yet, as one time-ordered run of DLQ depths; the first and last
//! depth in a window (at most two blocks read per tier); the hourly DLQ depths.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::queue_codec::{self, BlockError, HourDepth};

pub(crate) const MINUTE_MS: i64 = 60 * 1000;
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Tiers by resolution: raw polls, 1-minute points, 15-minute points.
pub(crate) const RAW: i64 = 0;
pub(crate) const MINUTE: i64 = MINUTE_MS;
pub(crate) const QUARTER: i64 = 15 * MINUTE_MS;
pub(crate) const TIERS: [i64; 3] = [RAW, MINUTE, QUARTER];

/// How much time one block of a tier covers: an hour for raw polls and 1-minute points, a day
/// for 15-minute points.
pub(crate) fn block_span(resolution: i64) -> i64 {
    if resolution >= QUARTER {
        DAY_MS
    } else {
        HOUR_MS
    }
}

/// The start of the whole bucket of `size` holding `at_ms`.
pub(crate) fn bucket_start(at_ms: i64, size: i64) -> i64 {
    at_ms - at_ms.rem_euclid(size)
}

/// A block that cannot be decoded, as a SQLite conversion error on its `data` column.
pub(crate) fn damaged(e: BlockError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, Type::Blob, Box::new(e))
}

/// The key of a connector's history, if it has any.
pub(crate) fn series_key(
    conn: &Connection,
    upstream: &str,
    connector: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT key FROM queue_series WHERE upstream = ?1 AND connector = ?2")?
        .query_row(params![upstream, connector], |row| row.get(0))
        .optional()
}

/// The blocks of `tier` that may hold points in `[from, to)`, in time order (`desc`: newest
/// first), at most `limit`.
fn blocks(
    conn: &Connection,
    series: i64,
    tier: i64,
    (from, to): (i64, i64),
    desc: bool,
    limit: i64,
) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    let sql = if desc {
        "SELECT start_ms, data FROM queue_blocks
         WHERE series = ?1 AND resolution_ms = ?2 AND start_ms > ?3 AND start_ms < ?4
         ORDER BY start_ms DESC LIMIT ?5"
    } else {
        "SELECT start_ms, data FROM queue_blocks
         WHERE series = ?1 AND resolution_ms = ?2 AND start_ms > ?3 AND start_ms < ?4
         ORDER BY start_ms LIMIT ?5"
    };
    let lower = from.saturating_sub(block_span(tier));
    conn.prepare_cached(sql)?
        .query_map(params![series, tier, lower, to, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect()
}

/// Every (time, DLQ depth) of `series` in `[from, to)`, oldest first, from every tier and the
/// polls not packed yet.
pub(crate) fn depths(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    let mut out = Vec::new();
    for tier in TIERS {
        for (start, data) in blocks(conn, series, tier, (from, to), false, i64::MAX)? {
            let points = queue_codec::decode_depths(start, &data).map_err(damaged)?;
            out.extend(points.into_iter().filter(|(at, _)| *at >= from && *at < to));
        }
    }
    let mut polls = conn.prepare_cached(
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms",
    )?;
    for row in polls.query_map(params![series, from, to], |r| Ok((r.get(0)?, r.get(1)?)))? {
        out.push(row?);
    }
    // Tiers follow each other in time; a late poll may not. Sorting sorted runs is cheap.
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

/// The first (`last`: the last) (time, DLQ depth) of `series` in `[from, to)`.
pub(crate) fn edge(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
    last: bool,
) -> rusqlite::Result<Option<(i64, i64)>> {
    let better = |a: (i64, i64), b: Option<(i64, i64)>| match b {
        Some(b) if (last && b.0 >= a.0) || (!last && b.0 <= a.0) => Some(b),
        _ => Some(a),
    };
    let mut found = None;
    // Blocks of a tier are aligned to their span: past the first block that reaches into the
    // window, the next one lies wholly on the window's side, so two blocks per tier suffice.
    for tier in TIERS {
        for (start, data) in blocks(conn, series, tier, (from, to), last, 2)? {
            let points = queue_codec::decode_depths(start, &data).map_err(damaged)?;
            let mut inside = points.into_iter().filter(|(at, _)| *at >= from && *at < to);
            let pick = if last {
                inside.next_back()
            } else {
                inside.next()
            };
            if let Some(point) = pick {
                found = better(point, found);
                break;
            }
        }
    }
    let sql = if last {
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms DESC LIMIT 1"
    } else {
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms LIMIT 1"
    };
    let poll = conn
        .prepare_cached(sql)?
        .query_row(params![series, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match poll {
        Some(point) => better(point, found),
        None => found,
    })
}

/// The hourly DLQ depths of `series` for the hours starting in `[from, to)`, in hour order.
pub(crate) fn hour_depths(
    conn: &Connection,
    series: i64,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<HourDepth>> {
    let mut stmt = conn.prepare_cached(
        "SELECT day_ms, data FROM dlq_depth_days
         WHERE series = ?1 AND day_ms > ?2 AND day_ms < ?3 ORDER BY day_ms",
    )?;
    let rows = stmt.query_map(params![series, from.saturating_sub(DAY_MS), to], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (day, data) = row?;
        let hours = queue_codec::decode_hours(day, &data).map_err(damaged)?;
        out.extend(
            hours
                .into_iter()
                .filter(|h| h.hour_ms >= from && h.hour_ms < to),
        );
    }
    Ok(out)
}
