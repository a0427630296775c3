//! Reading a connector's queue history (`store::queue_history`): the packed blocks of each tier
//! plus the polls not packed yet, as one time-ordered run of DLQ depths; the first and last
//! depth in a window (reading blocks only until none can hold a better one); the hourly DLQ
//! depths.

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

/// What to do with the next block.
enum Visit {
    /// Decode it and hand its points over.
    Read,
    /// Go on to the next one undecoded.
    Skip,
    /// Stop.
    Stop,
}

/// Visits, in time order of their start (`desc`: newest first), the blocks of every tier that
/// may hold points in `[from, to)`: `look(start, end)` says whether to decode a block (its
/// points go to `take` as (time, DLQ depth)). Blocks that end before `from` are skipped.
fn each_block(
    conn: &Connection,
    series: i64,
    (from, to): (i64, i64),
    desc: bool,
    mut look: impl FnMut(i64, i64) -> Visit,
    mut take: impl FnMut(Vec<(i64, i64)>),
) -> rusqlite::Result<()> {
    let sql = if desc {
        "SELECT resolution_ms, start_ms, data FROM queue_blocks
         WHERE series = ?1 AND start_ms > ?2 AND start_ms < ?3 ORDER BY start_ms DESC"
    } else {
        "SELECT resolution_ms, start_ms, data FROM queue_blocks
         WHERE series = ?1 AND start_ms > ?2 AND start_ms < ?3 ORDER BY start_ms"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params![series, from.saturating_sub(DAY_MS), to])?;
    while let Some(row) = rows.next()? {
        let (tier, start): (i64, i64) = (row.get(0)?, row.get(1)?);
        let end = start.saturating_add(block_span(tier));
        if end <= from {
            continue;
        }
        match look(start, end) {
            Visit::Stop => break,
            Visit::Skip => continue,
            Visit::Read => {}
        }
        let data = row.get_ref(2)?.as_blob()?;
        take(queue_codec::decode_depths(start, data).map_err(damaged)?);
    }
    Ok(())
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
    each_block(
        conn,
        series,
        (from, to),
        false,
        |_, _| Visit::Read,
        |points| out.extend(points.into_iter().filter(|(at, _)| *at >= from && *at < to)),
    )?;
    let mut polls = conn.prepare_cached(
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms",
    )?;
    for row in polls.query_map(params![series, from, to], |r| Ok((r.get(0)?, r.get(1)?)))? {
        out.push(row?);
    }
    // Blocks follow each other in time and the polls come after them; a late poll or a block
    // merged with late points may not. Sorting sorted runs is cheap.
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
    let sql = if last {
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms DESC LIMIT 1"
    } else {
        "SELECT at_ms, dead FROM queue_polls WHERE series = ?1 AND at_ms >= ?2 AND at_ms < ?3
         ORDER BY at_ms LIMIT 1"
    };
    let found: Option<(i64, i64)> = conn
        .prepare_cached(sql)?
        .query_row(params![series, from, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let better = |a: (i64, i64), b: Option<(i64, i64)>| match b {
        Some(b) if (last && b.0 >= a.0) || (!last && b.0 <= a.0) => b,
        _ => a,
    };
    let found = std::cell::Cell::new(found);
    each_block(
        conn,
        series,
        (from, to),
        last,
        |start, end| match found.get() {
            // Going forward, blocks start later: none past the found point can hold a better
            // one. Going back, a block ends within a day of its start.
            Some((at, _)) if !last && start > at => Visit::Stop,
            Some((at, _)) if last && start.saturating_add(DAY_MS) <= at => Visit::Stop,
            Some((at, _)) if last && end <= at => Visit::Skip,
            _ => Visit::Read,
        },
        |points| {
            let mut inside = points.into_iter().filter(|(at, _)| *at >= from && *at < to);
            let pick = if last {
                inside.next_back()
            } else {
                inside.next()
            };
            if let Some(point) = pick {
                found.set(Some(better(point, found.get())));
            }
        },
    )?;
    Ok(found.get())
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
