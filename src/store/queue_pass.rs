//! One queue-history pass over one connector (`store::queue_history`): its blocks read once,
//! changed in memory (polls packed, whole blocks rolled down a tier, old points dropped) and
//! written once. Its hourly DLQ depths follow (`store::queue_hours`).

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::queue_codec::{self, QueuePoint};
use super::queue_history::QueueHistoryPass;
use super::queue_points::{QUARTER, RAW, block_span, bucket_start, damaged};

/// One block being changed by a pass: its row (when stored) and its points.
#[derive(Default)]
struct Block {
    rowid: Option<i64>,
    points: Vec<QueuePoint>,
    changed: bool,
}

/// A pass over one connector's history: blocks are read once, changed in memory, written once.
pub(crate) struct SeriesPass<'c> {
    conn: &'c Connection,
    series: i64,
    /// By (resolution, start).
    blocks: BTreeMap<(i64, i64), Block>,
    /// What the pass did so far.
    pub done: QueueHistoryPass,
}

impl<'c> SeriesPass<'c> {
    pub(crate) fn new(conn: &'c Connection, series: i64) -> Self {
        SeriesPass {
            conn,
            series,
            blocks: BTreeMap::new(),
            done: QueueHistoryPass::default(),
        }
    }

    /// The block of `tier` starting at `start`, read from the store the first time.
    fn block(&mut self, tier: i64, start: i64) -> rusqlite::Result<&mut Block> {
        if !self.blocks.contains_key(&(tier, start)) {
            let row: Option<(i64, Vec<u8>)> = self
                .conn
                .prepare_cached(
                    "SELECT rowid, data FROM queue_blocks
                     WHERE series = ?1 AND resolution_ms = ?2 AND start_ms = ?3",
                )?
                .query_row(params![self.series, tier, start], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let block = match row {
                Some((rowid, data)) => Block {
                    rowid: Some(rowid),
                    points: queue_codec::decode_points(start, &data).map_err(damaged)?,
                    changed: false,
                },
                None => Block::default(),
            };
            self.blocks.insert((tier, start), block);
        }
        Ok(self.blocks.entry((tier, start)).or_default())
    }

    fn add(&mut self, tier: i64, point: QueuePoint) -> rusqlite::Result<()> {
        let block = self.block(tier, bucket_start(point.at_ms, block_span(tier)))?;
        block.points.push(point);
        block.changed = true;
        Ok(())
    }

    /// Moves the polls of the clock hours before `hour` into raw blocks.
    pub(crate) fn pack_polls(&mut self, hour: i64) -> rusqlite::Result<()> {
        let polls: Vec<QueuePoint> = self
            .conn
            .prepare_cached(
                "SELECT at_ms, ready, in_flight, retrying, dead, rate_in, rate_out, rate_fail
                 FROM queue_polls WHERE series = ?1 AND at_ms < ?2 ORDER BY at_ms",
            )?
            .query_map(params![self.series, hour], |r| {
                Ok(QueuePoint {
                    at_ms: r.get(0)?,
                    ready: r.get(1)?,
                    in_flight: r.get(2)?,
                    retrying: r.get(3)?,
                    dead: r.get(4)?,
                    rate_in: r.get(5)?,
                    rate_out: r.get(6)?,
                    rate_fail: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        for point in polls {
            self.add(RAW, point)?;
        }
        self.conn
            .prepare_cached("DELETE FROM queue_polls WHERE series = ?1 AND at_ms < ?2")?
            .execute(params![self.series, hour])?;
        Ok(())
    }

    /// Rolls every block of `from` that starts before `cutoff` into points of `to`.
    pub(crate) fn roll(&mut self, from: i64, to: i64, cutoff: i64) -> rusqlite::Result<()> {
        self.load_before(from, cutoff)?;
        let keys: Vec<(i64, i64)> = self
            .blocks
            .range((from, i64::MIN)..(from, cutoff))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            let Some(block) = self.blocks.get_mut(&key) else {
                continue;
            };
            let mut points = std::mem::take(&mut block.points);
            block.changed = true;
            points.sort_by_key(|p| p.at_ms);
            let rolled = roll_up(&points, to);
            self.done.rolled += points.len();
            self.done.written += rolled.len();
            for point in rolled {
                self.add(to, point)?;
            }
        }
        Ok(())
    }

    /// Reads the stored blocks of `tier` that start before `before`.
    fn load_before(&mut self, tier: i64, before: i64) -> rusqlite::Result<()> {
        let starts: Vec<i64> = self
            .conn
            .prepare_cached(
                "SELECT start_ms FROM queue_blocks
                 WHERE series = ?1 AND resolution_ms = ?2 AND start_ms < ?3",
            )?
            .query_map(params![self.series, tier, before], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for start in starts {
            self.block(tier, start)?;
        }
        Ok(())
    }

    /// Drops the 15-minute points older than `line`.
    pub(crate) fn drop_old(&mut self, line: i64) -> rusqlite::Result<()> {
        self.load_before(QUARTER, line)?;
        for block in self
            .blocks
            .range_mut((QUARTER, i64::MIN)..(QUARTER, line))
            .map(|(_, block)| block)
        {
            let before = block.points.len();
            block.points.retain(|p| p.at_ms >= line);
            if block.points.len() < before {
                self.done.dropped += before - block.points.len();
                block.changed = true;
            }
        }
        Ok(())
    }

    /// Writes every changed block (an emptied one is deleted).
    pub(crate) fn flush(&mut self) -> rusqlite::Result<()> {
        for ((tier, start), block) in &mut self.blocks {
            if !block.changed {
                continue;
            }
            match (block.rowid, block.points.is_empty()) {
                (Some(rowid), true) => {
                    self.conn
                        .prepare_cached("DELETE FROM queue_blocks WHERE rowid = ?1")?
                        .execute([rowid])?;
                }
                (None, true) => {}
                (rowid, false) => {
                    block.points.sort_by_key(|p| p.at_ms);
                    let data = queue_codec::encode_points(*start, &block.points);
                    let count = block.points.len() as i64;
                    match rowid {
                        Some(rowid) => self
                            .conn
                            .prepare_cached(
                                "UPDATE queue_blocks SET points = ?2, data = ?3 WHERE rowid = ?1",
                            )?
                            .execute(params![rowid, count, data])?,
                        None => self
                            .conn
                            .prepare_cached(
                                "INSERT INTO queue_blocks (series, resolution_ms, start_ms, points,
                                    data) VALUES (?1, ?2, ?3, ?4, ?5)",
                            )?
                            .execute(params![self.series, tier, start, count, data])?,
                    };
                }
            }
        }
        Ok(())
    }
}

/// Points (in time order) rolled into buckets of `resolution`: the highest counts, the mean
/// rates rounded to 0.001 msg/s, stamped with the bucket's start.
pub(crate) fn roll_up(points: &[QueuePoint], resolution: i64) -> Vec<QueuePoint> {
    let mut out: Vec<QueuePoint> = Vec::new();
    let mut sums = ([0.0f64; 3], 0u32);
    let close = |out: &mut Vec<QueuePoint>, sums: &mut ([f64; 3], u32)| {
        if let Some(last) = out.last_mut() {
            let n = f64::from(sums.1.max(1));
            last.rate_in = milli(sums.0[0] / n);
            last.rate_out = milli(sums.0[1] / n);
            last.rate_fail = milli(sums.0[2] / n);
        }
        *sums = ([0.0; 3], 0);
    };
    for p in points {
        let bucket = bucket_start(p.at_ms, resolution);
        match out.last_mut() {
            Some(last) if last.at_ms == bucket => {
                last.ready = last.ready.max(p.ready);
                last.in_flight = last.in_flight.max(p.in_flight);
                last.retrying = last.retrying.max(p.retrying);
                last.dead = last.dead.max(p.dead);
            }
            _ => {
                close(&mut out, &mut sums);
                out.push(QueuePoint {
                    at_ms: bucket,
                    ..*p
                });
            }
        }
        sums.0[0] += p.rate_in;
        sums.0[1] += p.rate_out;
        sums.0[2] += p.rate_fail;
        sums.1 += 1;
    }
    close(&mut out, &mut sums);
    out
}

/// `v` rounded to a whole number of thousandths (left as it is when not finite).
fn milli(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1000.0).round() / 1000.0
    } else {
        v
    }
}

#[cfg(test)]
#[path = "queue_pass_tests.rs"]
mod tests;
