//! Median and 90th percentile of durations, exactly (no sketch): the median of an even count is
//! the mean of the two middle values; p90 is the nearest rank, the smallest value with at least
//! 90 % of the values at or below it.

use std::time::Duration;

use serde::Serialize;

/// Median and p90 of a set of durations, in seconds (milliseconds kept as decimals).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DurationStats {
    /// How many durations there were.
    pub count: u64,
    pub median_secs: Option<f64>,
    pub p90_secs: Option<f64>,
}

impl DurationStats {
    /// From durations in milliseconds (any order; sorted in place — a stable sort, which merges
    /// already sorted runs in one pass: a team's samples are its connectors' sorted samples).
    pub fn from_millis(values: &mut [i64]) -> DurationStats {
        values.sort();
        let n = values.len();
        if n == 0 {
            return DurationStats::default();
        }
        let median = if n % 2 == 1 {
            values[n / 2] as f64
        } else {
            (values[n / 2 - 1] as f64 + values[n / 2] as f64) / 2.0
        };
        // Nearest rank: ceil(0.9 n), 1-based.
        let rank = (n * 9).div_ceil(10).max(1);
        DurationStats {
            count: n as u64,
            median_secs: Some(median / 1000.0),
            p90_secs: Some(values[rank - 1] as f64 / 1000.0),
        }
    }

    pub fn median(&self) -> Option<Duration> {
        self.median_secs.map(Duration::from_secs_f64)
    }

    pub fn p90(&self) -> Option<Duration> {
        self.p90_secs.map(Duration::from_secs_f64)
    }
}
