//! The packed form of queue history (`store::queue_history`): a block of points, column by
//! column. No I/O; the store keeps one block per connector and tier and hour (raw polls,
//! 1-minute points) or day (15-minute points, hourly DLQ depths).
//!
//! A block is `version (1) · points (varint) · columns`, each column `byte length (varint) ·
//! column` (`store::queue_columns`: every column written the smallest of a few ways), so a
//! reader that wants only the times and DLQ depths stops after two columns. Points: the times
//! (as the first one's distance from the block's start, then the intervals), `dead`, `ready`,
//! `in_flight`, `retrying`, then the three rates. Hourly depths: the hours, the deepest DLQ, the
//! last times. Every value comes back exactly (rates too, bit for bit).

use std::fmt;

use super::queue_columns::{get_integers, get_rates, put_integers, put_rates, put_varint, varint};

/// Format version written in the first byte of a block.
const VERSION: u8 = 1;
/// The most points a block is read with: an hour of polls ten times a second is 36,000.
pub(crate) const MAX_POINTS: usize = 1 << 22;

/// One point of a connector's queue history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueuePoint {
    pub at_ms: i64,
    pub ready: i64,
    pub in_flight: i64,
    pub retrying: i64,
    pub dead: i64,
    pub rate_in: f64,
    pub rate_out: f64,
    pub rate_fail: f64,
}

/// The deepest DLQ of one hour (`store::queue_history`'s hourly depths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HourDepth {
    pub hour_ms: i64,
    pub max_dead: i64,
    pub last_at_ms: i64,
}

/// A block that cannot be read (damaged bytes or a format this build does not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockError(pub &'static str);

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "queue history block cannot be read: {}", self.0)
    }
}

impl std::error::Error for BlockError {}

type Decoded<T> = Result<T, BlockError>;

/// Packs `points` (in time order) into a block; `base_ms` (the block's start) makes the first
/// time small.
pub(crate) fn encode_points(base_ms: i64, points: &[QueuePoint]) -> Vec<u8> {
    let mut out = header(points.len());
    let col = |f: fn(&QueuePoint) -> i64| points.iter().map(f).collect::<Vec<_>>();
    put_column(&mut out, &times(base_ms, &col(|p| p.at_ms)));
    for column in [
        col(|p| p.dead),
        col(|p| p.ready),
        col(|p| p.in_flight),
        col(|p| p.retrying),
    ] {
        put_column(&mut out, &put_integers(&column));
    }
    let rate = |f: fn(&QueuePoint) -> f64| points.iter().map(f).collect::<Vec<_>>();
    for column in [
        rate(|p| p.rate_in),
        rate(|p| p.rate_out),
        rate(|p| p.rate_fail),
    ] {
        put_column(&mut out, &put_rates(&column));
    }
    out
}

/// Every point of a block written by [`encode_points`] with the same `base_ms`.
pub(crate) fn decode_points(base_ms: i64, block: &[u8]) -> Decoded<Vec<QueuePoint>> {
    let mut reader = Reader::open(block)?;
    let at = reader.times(base_ms)?;
    let [dead, ready, in_flight, retrying] = [
        reader.integers()?,
        reader.integers()?,
        reader.integers()?,
        reader.integers()?,
    ];
    let [rate_in, rate_out, rate_fail] = [reader.rates()?, reader.rates()?, reader.rates()?];
    Ok((0..reader.points)
        .map(|i| QueuePoint {
            at_ms: at[i],
            ready: ready[i],
            in_flight: in_flight[i],
            retrying: retrying[i],
            dead: dead[i],
            rate_in: rate_in[i],
            rate_out: rate_out[i],
            rate_fail: rate_fail[i],
        })
        .collect())
}

/// Only the (time, DLQ depth) of each point of a block: two columns read, the rest skipped.
pub(crate) fn decode_depths(base_ms: i64, block: &[u8]) -> Decoded<Vec<(i64, i64)>> {
    let mut reader = Reader::open(block)?;
    let at = reader.times(base_ms)?;
    let dead = reader.integers()?;
    Ok(at.into_iter().zip(dead).collect())
}

/// Packs a day's hourly depths (in hour order) into a block.
pub(crate) fn encode_hours(base_ms: i64, hours: &[HourDepth]) -> Vec<u8> {
    let mut out = header(hours.len());
    let col = |f: fn(&HourDepth) -> i64| hours.iter().map(f).collect::<Vec<_>>();
    put_column(&mut out, &times(base_ms, &col(|h| h.hour_ms)));
    put_column(&mut out, &put_integers(&col(|h| h.max_dead)));
    put_column(&mut out, &times(base_ms, &col(|h| h.last_at_ms)));
    out
}

/// The hourly depths of a block written by [`encode_hours`].
pub(crate) fn decode_hours(base_ms: i64, block: &[u8]) -> Decoded<Vec<HourDepth>> {
    let mut reader = Reader::open(block)?;
    let hour = reader.times(base_ms)?;
    let max_dead = reader.integers()?;
    let last_at = reader.times(base_ms)?;
    Ok((0..reader.points)
        .map(|i| HourDepth {
            hour_ms: hour[i],
            max_dead: max_dead[i],
            last_at_ms: last_at[i],
        })
        .collect())
}

fn header(points: usize) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_varint(&mut out, points as u64);
    out
}

fn put_column(out: &mut Vec<u8>, column: &[u8]) {
    put_varint(out, column.len() as u64);
    out.extend_from_slice(column);
}

/// Times: the first as its distance from `base_ms`, then the intervals.
fn times(base_ms: i64, at: &[i64]) -> Vec<u8> {
    let mut prev = base_ms;
    let intervals: Vec<i64> = at
        .iter()
        .map(|&t| {
            let interval = t.wrapping_sub(prev);
            prev = t;
            interval
        })
        .collect();
    put_integers(&intervals)
}

/// Reads a block's columns in order.
struct Reader<'a> {
    bytes: &'a [u8],
    points: usize,
}

impl<'a> Reader<'a> {
    fn open(block: &'a [u8]) -> Decoded<Self> {
        let Some((&version, mut bytes)) = block.split_first() else {
            return Err(BlockError("empty"));
        };
        if version != VERSION {
            return Err(BlockError("unknown format version"));
        }
        let points = usize::try_from(varint(&mut bytes)?).unwrap_or(usize::MAX);
        // A damaged count must not size an allocation.
        if points > MAX_POINTS {
            return Err(BlockError("more points than a block holds"));
        }
        Ok(Reader { bytes, points })
    }

    /// The next column's bytes.
    fn column(&mut self) -> Decoded<&'a [u8]> {
        let len = usize::try_from(varint(&mut self.bytes)?).unwrap_or(usize::MAX);
        if len > self.bytes.len() {
            return Err(BlockError("column longer than the block"));
        }
        let (column, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(column)
    }

    fn times(&mut self, base_ms: i64) -> Decoded<Vec<i64>> {
        let mut at = base_ms;
        Ok(self
            .integers()?
            .into_iter()
            .map(|interval| {
                at = at.wrapping_add(interval);
                at
            })
            .collect())
    }

    fn integers(&mut self) -> Decoded<Vec<i64>> {
        get_integers(self.column()?, self.points)
    }

    fn rates(&mut self) -> Decoded<Vec<f64>> {
        get_rates(self.column()?, self.points)
    }
}

#[cfg(test)]
#[path = "queue_codec_tests.rs"]
mod tests;
