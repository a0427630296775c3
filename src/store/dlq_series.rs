//! A connector's DLQ depth over a metrics window (`domain::metrics::DlqSeries`): the first and
//! last snapshot in the window, and at most `DLQ_SERIES_POINTS` points for charts, each the
//! deepest depth of an even bucket — from the snapshots for windows up to a day, from
//! `dlq_depth_hourly` plus the snapshots since the last hourly pass for longer ones.

use rusqlite::params;

use super::codec::{col_u64, from_ms};
use super::{Result, Store};
use crate::domain::metrics::{DepthSample, DlqSeries};

/// Points per connector in a DLQ depth series (each the deepest depth of its bucket).
pub const DLQ_SERIES_POINTS: i64 = 120;

impl Store {
    /// One connector's first and last snapshot in `[since, until)` and its depth series in
    /// `DLQ_SERIES_POINTS` even buckets (the deepest depth of each, at its last time). Windows
    /// over a day read whole hours from `dlq_depth_hourly` (its first hour may start before
    /// `since`) and the hours since the last queue-history pass from the snapshots; shorter ones
    /// read the snapshots. Each source is one ordered index range, bucketed here.
    pub(super) fn dlq_series(
        &self,
        upstream: &str,
        connector: &str,
        since: i64,
        until: i64,
    ) -> Result<DlqSeries> {
        let end = |order: &str| -> Result<Option<DepthSample>> {
            let sql = format!(
                "SELECT at_ms, dead FROM queue_snapshots
                 WHERE upstream = ?1 AND connector = ?2 AND at_ms >= ?3 AND at_ms < ?4
                 ORDER BY at_ms {order} LIMIT 1"
            );
            let rows = self.query_rows(&sql, params![upstream, connector, since, until], |r| {
                Ok((r.get::<_, i64>(0)?, col_u64(r.get(1)?)))
            })?;
            Ok(rows
                .into_iter()
                .find_map(|(at, dead)| from_ms(at).map(|at| DepthSample { at, dead })))
        };
        let mut series = DlqSeries {
            upstream: upstream.to_string(),
            connector: connector.to_string(),
            first: end("ASC")?,
            last: end("DESC")?,
            points: Vec::new(),
        };
        let mut buckets = Buckets {
            since,
            width: ((until - since) / DLQ_SERIES_POINTS).max(1),
            current: None,
        };
        let mut raw_from = since;
        if until - since > 86_400_000 {
            let hours = self.query_rows(
                "SELECT last_at_ms, max_dead FROM dlq_depth_hourly
                 WHERE upstream = ?1 AND connector = ?2 AND hour_ms >= ?3 AND hour_ms < ?4
                 ORDER BY hour_ms",
                params![
                    upstream,
                    connector,
                    since - since.rem_euclid(3_600_000),
                    until
                ],
                |r| Ok((r.get::<_, i64>(0)?, col_u64(r.get(1)?))),
            )?;
            for (at, dead) in hours {
                buckets.add(at.max(since), dead, &mut series.points);
                raw_from = raw_from.max(at - at.rem_euclid(3_600_000) + 3_600_000);
            }
        }
        let raw = self.query_rows(
            "SELECT at_ms, dead FROM queue_snapshots
             WHERE upstream = ?1 AND connector = ?2 AND at_ms >= ?3 AND at_ms < ?4 ORDER BY at_ms",
            params![upstream, connector, raw_from, until],
            |r| Ok((r.get::<_, i64>(0)?, col_u64(r.get(1)?))),
        )?;
        for (at, dead) in raw {
            buckets.add(at, dead, &mut series.points);
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
