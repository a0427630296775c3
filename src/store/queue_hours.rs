//! The hourly DLQ depths of the queue history (`dlq_depth_days`: one packed block per connector
//! and day of (hour, deepest DLQ, last time)), brought up to date by each pass from the points
//! the pass left in the closed hours.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::queue_codec::{self, HourDepth};
use super::queue_points::{self, DAY_MS, HOUR_MS, bucket_start, damaged};

/// Folds the hours `[from, to)` of `series` (what the pass left in them) into its hourly DLQ
/// depths, each hour's deepest depth and last time merged with what is kept for it, and drops
/// the hours before `retain_from`.
pub(crate) fn hourly_depths(
    conn: &Connection,
    series: i64,
    (from, to): (i64, i64),
    retain_from: i64,
) -> rusqlite::Result<()> {
    let mut days: BTreeMap<i64, Vec<HourDepth>> = BTreeMap::new();
    if from < to {
        for (at, dead) in queue_points::depths(conn, series, from, to)? {
            let hour_ms = bucket_start(at, HOUR_MS);
            let day = days.entry(bucket_start(hour_ms, DAY_MS)).or_default();
            match day.last_mut() {
                Some(h) if h.hour_ms == hour_ms => {
                    h.max_dead = h.max_dead.max(dead);
                    h.last_at_ms = h.last_at_ms.max(at);
                }
                _ => day.push(HourDepth {
                    hour_ms,
                    max_dead: dead,
                    last_at_ms: at,
                }),
            }
        }
    }
    // The day that holds the retention line is trimmed; older days go whole.
    let edge = bucket_start(retain_from, DAY_MS);
    days.entry(edge).or_default();
    conn.prepare_cached("DELETE FROM dlq_depth_days WHERE series = ?1 AND day_ms < ?2")?
        .execute(params![series, edge])?;
    for (day, fresh) in days {
        let stored: Option<Vec<u8>> = conn
            .prepare_cached("SELECT data FROM dlq_depth_days WHERE series = ?1 AND day_ms = ?2")?
            .query_row(params![series, day], |r| r.get(0))
            .optional()?;
        if stored.is_none() && fresh.is_empty() {
            continue;
        }
        let mut hours = match &stored {
            Some(data) => queue_codec::decode_hours(day, data).map_err(damaged)?,
            None => Vec::new(),
        };
        let mut changed = false;
        for h in fresh {
            match hours.iter_mut().find(|k| k.hour_ms == h.hour_ms) {
                Some(k) => {
                    let merged = (k.max_dead.max(h.max_dead), k.last_at_ms.max(h.last_at_ms));
                    changed |= merged != (k.max_dead, k.last_at_ms);
                    (k.max_dead, k.last_at_ms) = merged;
                }
                None => {
                    hours.push(h);
                    changed = true;
                }
            }
        }
        let before = hours.len();
        hours.retain(|h| h.hour_ms >= retain_from);
        changed |= hours.len() != before;
        if !changed {
            continue;
        }
        hours.sort_by_key(|h| h.hour_ms);
        if hours.is_empty() {
            conn.prepare_cached("DELETE FROM dlq_depth_days WHERE series = ?1 AND day_ms = ?2")?
                .execute(params![series, day])?;
        } else {
            conn.prepare_cached(
                "INSERT INTO dlq_depth_days (series, day_ms, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (series, day_ms) DO UPDATE SET data = excluded.data",
            )?
            .execute(params![series, day, queue_codec::encode_hours(day, &hours)])?;
        }
    }
    Ok(())
}
