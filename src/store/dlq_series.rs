//! A connector's DLQ depth over a metrics window (`domain::metrics::DlqSeries`): the first and
//! last snapshot in the window, and at most `DLQ_SERIES_POINTS` points for charts, each the
//! deepest depth of an even bucket — from the queue history's points for windows up to a day,
//! from its hourly depths plus the points since the last hourly pass for longer ones
//! (`store::queue_points`).

use super::codec::{col_u64, from_ms};
use super::queue_points::{self, DAY_MS, HOUR_MS};
use super::{Result, Store};
use crate::domain::metrics::{DepthSample, DlqSeries};

/// Points per connector in a DLQ depth series (each the deepest depth of its bucket).
pub const DLQ_SERIES_POINTS: i64 = 120;

impl Store {
    /// One connector's first and last snapshot in `[since, until)` and its depth series in
    /// `DLQ_SERIES_POINTS` even buckets (the deepest depth of each, at its last time). Windows
    /// over a day read whole hours from the hourly depths (the first hour may start before
    /// `since`) and the hours since the last queue-history pass from the points; shorter ones
    /// read the points. Each source comes in time order and is bucketed here.
    pub(super) fn dlq_series(
        &self,
        upstream: &str,
        connector: &str,
        since: i64,
        until: i64,
    ) -> Result<DlqSeries> {
        let mut series = DlqSeries {
            upstream: upstream.to_string(),
            connector: connector.to_string(),
            first: None,
            last: None,
            points: Vec::new(),
        };
        let sql = |e| self.sqlite(e);
        let Some(key) = queue_points::series_key(&self.conn, upstream, connector).map_err(sql)?
        else {
            return Ok(series);
        };
        let sample = |point: Option<(i64, i64)>| {
            point.and_then(|(at, dead)| {
                from_ms(at).map(|at| DepthSample {
                    at,
                    dead: col_u64(dead),
                })
            })
        };
        let mut buckets = Buckets {
            since,
            width: ((until - since) / DLQ_SERIES_POINTS).max(1),
            current: None,
        };
        let mut raw_from = since;
        if until - since > DAY_MS {
            let first_hour = since - since.rem_euclid(HOUR_MS);
            for hour in
                queue_points::hour_depths(&self.conn, key, first_hour, until).map_err(sql)?
            {
                buckets.add(
                    hour.last_at_ms.max(since),
                    col_u64(hour.max_dead),
                    &mut series.points,
                );
                raw_from = raw_from.max(hour.hour_ms + HOUR_MS);
            }
        }
        let raw = queue_points::depths(&self.conn, key, raw_from, until).map_err(sql)?;
        // The points read from `since` hold the window's ends; otherwise ask for what is missing.
        series.first = match raw.first() {
            Some(first) if raw_from == since => sample(Some(*first)),
            _ => sample(queue_points::edge(&self.conn, key, since, until, false).map_err(sql)?),
        };
        series.last = match raw.last() {
            Some(last) => sample(Some(*last)),
            None => sample(queue_points::edge(&self.conn, key, since, until, true).map_err(sql)?),
        };
        for (at, dead) in raw {
            buckets.add(at, col_u64(dead), &mut series.points);
        }
        buckets.finish(&mut series.points);
        Ok(series)
    }
}

/// Even time buckets from `since`, each keeping its deepest sample at its last time.
struct Buckets {
    since: i64,
    width: i64,
    current: Option<(i64, DepthSample)>,
}

impl Buckets {
    /// Adds a sample (in time order); a finished bucket's point goes to `points`.
    fn add(&mut self, at_ms: i64, dead: u64, points: &mut Vec<DepthSample>) {
        let Some(at) = from_ms(at_ms) else { return };
        let bucket = (at_ms - self.since) / self.width;
        match &mut self.current {
            Some((b, point)) if *b == bucket => {
                point.at = at;
                point.dead = point.dead.max(dead);
            }
            _ => {
                self.finish(points);
                self.current = Some((bucket, DepthSample { at, dead }));
            }
        }
    }

    fn finish(&mut self, points: &mut Vec<DepthSample>) {
        if let Some((_, point)) = self.current.take() {
            points.push(point);
        }
    }
}
