//! Pacing a run: a token bucket for `--rate` that halves while the upstream holds actions back
//! (429/503 with `Retry-After`) and climbs back 10 % a second, and a meter of members finished
//! per second over the last few seconds (progress lines, ETA).
//!
//! The bucket holds a quarter second of the rate ([`MIN_WINDOW`]), or what was earned since the
//! last look when that was longer (at most [`MAX_WINDOW`]): the driver looks once per step, and a
//! step waits for the batch in flight, which against a slow server takes longer than that. A
//! fixed cap threw the rest away, so a run at 4/s whose steps took 1.25 s went at 3.2/s, and one
//! at 200/s with 10 s steps at 20/s. Tokens are only ever earned at the rate, so the run's
//! average never exceeds it; a batch after a slow step is bigger, not faster than the rate. The
//! quarter second bounds the burst a run that keeps up can bank: with a whole second, a stage of
//! 899 at 200/s could start with 200 banked and measure 219/s over its 4.5 s.

use std::time::{Duration, Instant};

/// The longest stretch whose earned tokens the bucket keeps.
const MAX_WINDOW: f64 = 10.0;
/// What the bucket keeps after a quick look, in seconds of the rate.
const MIN_WINDOW: f64 = 0.25;

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
            let window = elapsed.clamp(MIN_WINDOW, MAX_WINDOW);
            self.tokens = (self.tokens + elapsed * *current).min((*current * window).max(1.0));
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

    /// No rate to keep (none was set, and the upstream is not holding actions back).
    pub(super) fn unlimited(&self) -> bool {
        self.current.is_none() && !self.slowed
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pacer whose last look was `ago` back, holding `tokens`.
    fn looked(rate: f64, tokens: f64, ago: Duration) -> Pacer {
        let mut pacer = Pacer::new(Some(rate));
        pacer.tokens = tokens;
        pacer.last = Instant::now() - ago;
        pacer
    }

    #[test]
    fn a_slow_step_keeps_what_it_earned() {
        // 1.25 s at 4/s earns 5: all of them may go (a 1 s bucket kept 4: 3.2/s).
        let mut pacer = looked(4.0, 0.0, Duration::from_millis(1250));
        pacer.held_back(false);
        assert_eq!(pacer.take(100), 5);
        // 10 s at 200/s: 2,000.
        let mut pacer = looked(200.0, 0.0, Duration::from_secs(10));
        pacer.held_back(false);
        assert_eq!(pacer.take(5_000), 2_000);
    }

    #[test]
    fn an_idle_run_bursts_at_most_a_quarter_second_after_a_quick_look() {
        // Quick looks never let more than a quarter second's worth build up.
        let mut pacer = looked(50.0, 50.0, Duration::from_millis(200));
        pacer.held_back(false);
        assert_eq!(pacer.take(1_000), 12);
        // A slow rate still gets its one token.
        let mut pacer = looked(2.0, 1.0, Duration::from_millis(100));
        pacer.held_back(false);
        assert_eq!(pacer.take(1_000), 1);
        // A very long gap keeps at most MAX_WINDOW seconds of it.
        let mut pacer = looked(50.0, 0.0, Duration::from_secs(60));
        pacer.held_back(false);
        assert_eq!(pacer.take(10_000), 500);
    }

    #[test]
    fn taking_spends_and_the_average_stays_at_the_rate() {
        // Ten looks 1.25 s apart at 4/s: 50 tokens earned, 50 taken, never more.
        let mut pacer = looked(4.0, 0.0, Duration::ZERO);
        let mut taken = 0;
        for _ in 0..10 {
            pacer.last -= Duration::from_millis(1250);
            pacer.held_back(false);
            let n = pacer.take(1_000);
            pacer.spent(n);
            taken += n;
        }
        assert!((49..=50).contains(&taken), "{taken}");
    }
}
