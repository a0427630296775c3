//! How far a long search has got: the row-matching functions (`triage_contains`,
//! `triage_dead_letter_query`, `triage_incident_query`) count the rows they examine on their
//! thread, and [`Store::with_scan_progress`] reports that count from SQLite's progress handler
//! (every few hundred thousand VM steps, at most every 200 ms) while a statement runs. The
//! console shows it ("searching… 410k of 1M") instead of an empty result that looks like one.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use super::{Result, Store};

thread_local! {
    static EXAMINED: Cell<u64> = const { Cell::new(0) };
}

/// One more row examined by a matching function on this thread.
pub(crate) fn tick() {
    EXAMINED.with(|n| n.set(n.get() + 1));
}

fn examined() -> u64 {
    EXAMINED.with(Cell::get)
}

/// SQLite VM steps between two calls (a few milliseconds of a scan).
const STEPS: i32 = 200_000;
const EVERY: Duration = Duration::from_millis(200);

impl Store {
    /// Runs `f` (a search on this store) calling `on_step` every few hundred thousand SQLite
    /// steps while it runs: with the rows examined so far every 200 ms (a quick search reports
    /// nothing), with `None` in between. `on_step` returning true interrupts the search (`f` then
    /// fails with SQLite's "interrupted"): a newer request made it useless.
    pub fn with_scan_progress<R>(
        &mut self,
        on_step: impl FnMut(Option<u64>) -> bool + Send + 'static,
        f: impl FnOnce(&mut Store) -> R,
    ) -> R {
        EXAMINED.with(|n| n.set(0));
        let mut on_step = AssertUnwindSafe(on_step);
        let mut last = Instant::now();
        self.conn.progress_handler(
            STEPS,
            Some(move || {
                let due = last.elapsed() >= EVERY;
                if due {
                    last = Instant::now();
                }
                (on_step.0)(due.then(examined))
            }),
        );
        let result = f(self);
        self.conn.progress_handler(STEPS, None::<fn() -> bool>);
        result
    }

    /// How many rows the Dead letters and Incidents lists hold by default (live dead letters,
    /// unresolved incidents), from the maintained per-connector counts: the "of N" of a search.
    pub fn list_totals(&self) -> Result<(u64, u64)> {
        self.conn
            .query_row(
                "SELECT ifnull(sum(dead_letters), 0), ifnull(sum(open_incidents), 0) FROM connector_counts",
                [],
                |row| Ok((row.get::<_, i64>(0)?.max(0) as u64, row.get::<_, i64>(1)?.max(0) as u64)),
            )
            .map_err(|e| self.sqlite(e))
    }
}
