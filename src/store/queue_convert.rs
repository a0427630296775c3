//! Schema V9's conversion of the queue history (inside the migration's transaction): every V8
//! `queue_snapshots` row becomes a point of a packed block of its tier (raw rows of any age stay
//! raw: the next hourly pass rolls what is due), every `dlq_depth_hourly` row an hour of its
//! day's depth block; values are kept exactly (rates that are not whole thousandths keep their
//! bits). Then the two V8 tables are dropped.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::queue_codec::{self, HourDepth, QueuePoint};
use super::queue_points::{DAY_MS, MINUTE, QUARTER, RAW, block_span, bucket_start};

/// Runs after V9's SQL has made the new tables.
pub(crate) fn convert_v8(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "INSERT INTO queue_series (upstream, connector)
            SELECT upstream, connector FROM queue_snapshots
            UNION SELECT upstream, connector FROM dlq_depth_hourly
         ORDER BY 1, 2;",
    )?;
    convert_snapshots(conn)?;
    convert_hourly_depths(conn)?;
    conn.execute_batch("DROP TABLE queue_snapshots; DROP TABLE dlq_depth_hourly;")
}

/// A V8 row's resolution as a V9 tier (only 0, 60 000 and 900 000 were ever written; anything
/// else is kept as raw, to be rolled like a poll).
fn tier(resolution_ms: i64) -> i64 {
    match resolution_ms {
        MINUTE => MINUTE,
        QUARTER => QUARTER,
        _ => RAW,
    }
}

fn convert_snapshots(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT q.key, s.resolution_ms, s.at_ms, s.ready, s.in_flight, s.retrying, s.dead,
                s.rate_in, s.rate_out, s.rate_fail
         FROM queue_series q CROSS JOIN queue_snapshots s
           ON s.upstream = q.upstream AND s.connector = q.connector
         ORDER BY q.key, s.at_ms",
    )?;
    let mut rows = stmt.query([])?;
    let mut current: Option<i64> = None;
    let mut blocks: BTreeMap<(i64, i64), Vec<QueuePoint>> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let series: i64 = row.get(0)?;
        if current != Some(series) {
            if let Some(done) = current {
                write_blocks(conn, done, std::mem::take(&mut blocks))?;
            }
            current = Some(series);
        }
        let tier = tier(row.get(1)?);
        let point = QueuePoint {
            at_ms: row.get(2)?,
            ready: row.get(3)?,
            in_flight: row.get(4)?,
            retrying: row.get(5)?,
            dead: row.get(6)?,
            rate_in: row.get(7)?,
            rate_out: row.get(8)?,
            rate_fail: row.get(9)?,
        };
        let start = bucket_start(point.at_ms, block_span(tier));
        blocks.entry((tier, start)).or_default().push(point);
    }
    if let Some(done) = current {
        write_blocks(conn, done, blocks)?;
    }
    Ok(())
}

fn write_blocks(
    conn: &Connection,
    series: i64,
    blocks: BTreeMap<(i64, i64), Vec<QueuePoint>>,
) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO queue_blocks (series, resolution_ms, start_ms, points, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for ((tier, start), points) in blocks {
        let data = queue_codec::encode_points(start, &points);
        insert.execute(params![series, tier, start, points.len() as i64, data])?;
    }
    Ok(())
}

fn convert_hourly_depths(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(
        "SELECT q.key, d.hour_ms, d.max_dead, d.last_at_ms
         FROM queue_series q CROSS JOIN dlq_depth_hourly d
           ON d.upstream = q.upstream AND d.connector = q.connector
         ORDER BY q.key, d.hour_ms",
    )?;
    let mut days: BTreeMap<(i64, i64), Vec<HourDepth>> = BTreeMap::new();
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            HourDepth {
                hour_ms: r.get(1)?,
                max_dead: r.get(2)?,
                last_at_ms: r.get(3)?,
            },
        ))
    })? {
        let (series, hour) = row?;
        days.entry((series, bucket_start(hour.hour_ms, DAY_MS)))
            .or_default()
            .push(hour);
    }
    let mut insert = conn
        .prepare_cached("INSERT INTO dlq_depth_days (series, day_ms, data) VALUES (?1, ?2, ?3)")?;
    for ((series, day), hours) in days {
        insert.execute(params![series, day, queue_codec::encode_hours(day, &hours)])?;
    }
    Ok(())
}
