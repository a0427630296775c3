//! Pacing a run: a token bucket for `--rate` that halves while the upstream holds actions back
//! (429/503 with `Retry-After`) and climbs back 10 % a second, and a meter of members finished
//! per second over the last few seconds (progress lines, ETA).

use std::time::{Duration, Instant};

/// Tokens for the run's rate. While the upstream asks to wait (429, 503 with `Retry-After`),
/// the rate halves (down to one every 2 s); it climbs back 10 % per second once answers flow.
pub(super) struct Pacer {
    target: Option<f64>,
    pub(super) current: Option<f64>,
    tokens: f64,
    last: Instant,
    slowed: bool,
}

impl Pacer {
    pub(super) fn new(rate: Option<f64>) -> Self {
        Pacer {
            target: rate,
            current: rate,
            tokens: rate.map_or(0.0, |r| r.min(1.0)),
            last: Instant::now(),
            slowed: false,
        }
    }

    fn refill(&mut self) {
        let elapsed = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        if let (Some(current), Some(target)) = (self.current.as_mut(), self.target) {
            if !self.slowed && *current < target {
                *current = (*current * 1.1f64.powf(elapsed)).min(target);
            }
            self.tokens = (self.tokens + elapsed * *current).min(current.max(1.0));
        }
    }

    pub(super) fn held_back(&mut self, waiting: bool) {
        self.refill();
        if waiting && !self.slowed {
            let base = self.current.unwrap_or(50.0);
            self.current = Some((base / 2.0).max(0.5));
            self.target.get_or_insert(base);
        }
        self.slowed = waiting;
    }

    /// How many of `room` may go now.
    pub(super) fn take(&mut self, room: usize) -> usize {
        if self.slowed {
            return 0;
        }
        match self.current {
            None => room,
            Some(_) => (self.tokens.floor() as usize).min(room),
        }
    }

    pub(super) fn spent(&mut self, n: usize) {
        if self.current.is_some() {
            self.tokens = (self.tokens - n as f64).max(0.0);
        }
    }

    pub(super) fn wait(&self) -> Duration {
        match self.current {
            Some(rate) if rate > 0.0 => {
                Duration::from_secs_f64(((1.0 - self.tokens).max(0.0) / rate).min(2.0))
            }
            _ => Duration::from_millis(20),
        }
    }
}

/// Members finished per second over a sliding window of about five seconds.
#[derive(Default)]
pub(super) struct Meter {
    samples: std::collections::VecDeque<(Instant, usize)>,
}

impl Meter {
    pub(super) fn note(&mut self, finished: usize) {
        let now = Instant::now();
        self.samples.push_back((now, finished));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(5))
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    pub(super) fn rate(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
