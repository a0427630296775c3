//! What the adapter remembers between passes: the last snapshot of dead letters (served in pages
//! through cursors `<generation>:<offset>`), the live letters with the DLQ and origin of each,
//! what triage replayed or discarded itself, replays sent whose original is not deleted yet, and
//! the DLQ depths of the last browse.
//!
//! A queue cannot be filtered by time, so a browse reads every DLQ (`pass`). A live letter's
//! `updated_at` is when this process first saw it, so the store's watermark skips it afterwards;
//! a letter a *complete* pass no longer finds becomes a tombstone — `replayed`/`discarded` when
//! triage did it, else `discarded` (removed outside triage) — with `updated_at` = now. Tombstones
//! live in this memory only: a new process relists (`dead_letter_tombstones` = `None`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::domain::{DeadLetter, DeadLetterState, Timestamp};
use crate::upstream::{FetchPage, pages};

pub use crate::upstream::pages::PAGE;
/// A watermarked poll re-reads unchanged DLQs at least this often.
pub const REFRESH: Duration = Duration::from_secs(60);

/// A live dead letter and where it is.
#[derive(Debug, Clone)]
pub struct Live {
    pub letter: DeadLetter,
    pub dlq: String,
    /// The source queue it died in, when known.
    pub origin: Option<String>,
    /// `SentTimestamp`, for the age of the oldest dead letter.
    pub sent_at: Option<Timestamp>,
}

#[derive(Default)]
pub struct Memory {
    generation: u64,
    items: Vec<DeadLetter>,
    pub live: HashMap<String, Live>,
    /// What triage did, by MessageId (kept for the life of the process).
    pub handled: HashMap<String, DeadLetterState>,
    /// Replays sent (MessageId → idempotency key) whose original is not deleted from the DLQ
    /// yet: a retry only deletes.
    pub sent: HashMap<String, String>,
    /// (visible, in flight, delayed) per DLQ at the last browse.
    depths: HashMap<String, (u64, u64, u64)>,
    browsed_at: Option<Instant>,
    /// DLQs a pass of this process read.
    read: std::collections::HashSet<String>,
    /// DLQs whose last pass was not complete, with why.
    pub partial: HashMap<String, String>,
    /// Tombstones of letters triage acted on since the last browse, for the next snapshot.
    acted: Vec<DeadLetter>,
    /// The receipts queue's URL per DLQ (`receipts`); `None`: the server refused to create it.
    pub receipts: HashMap<String, Option<String>>,
}

impl Memory {
    /// True when a watermarked poll may skip the browse: same depths, recent enough.
    pub fn unchanged(&self, depths: &HashMap<String, (u64, u64, u64)>) -> bool {
        self.browsed_at.is_some_and(|t| t.elapsed() < REFRESH) && &self.depths == depths
    }

    pub fn knows(&self, dlq: &str) -> bool {
        self.read.contains(dlq)
    }

    /// Records one DLQ's pass: `seen` are its live letters now. When `complete`, letters of this
    /// DLQ not seen are gone: they become tombstones (returned).
    pub fn record_pass(
        &mut self,
        dlq: &str,
        seen: Vec<Live>,
        complete: bool,
        now: Timestamp,
    ) -> Vec<DeadLetter> {
        self.read.insert(dlq.to_string());
        let seen_ids: std::collections::HashSet<String> =
            seen.iter().map(|l| l.letter.id.clone()).collect();
        let mut tombstones = Vec::new();
        if complete {
            let gone: Vec<String> = self
                .live
                .iter()
                .filter(|(id, l)| l.dlq == dlq && !seen_ids.contains(*id))
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                if let Some(live) = self.live.remove(&id) {
                    let state = self
                        .handled
                        .get(&id)
                        .copied()
                        .unwrap_or(DeadLetterState::Discarded);
                    self.sent.remove(&id);
                    tombstones.push(DeadLetter {
                        state,
                        updated_at: now,
                        ..live.letter
                    });
                }
            }
        }
        for live in seen {
            self.live.insert(live.letter.id.clone(), live);
        }
        tombstones
    }

    /// A letter triage replayed or discarded: forgotten as live, remembered as handled.
    pub fn handled_now(&mut self, id: &str, state: DeadLetterState) -> Option<DeadLetter> {
        self.handled.insert(id.to_string(), state);
        self.sent.remove(id);
        let tombstone = self.live.remove(id).map(|live| DeadLetter {
            state,
            updated_at: Utc::now(),
            ..live.letter
        });
        if let Some(tombstone) = &tombstone {
            self.acted.push(tombstone.clone());
        }
        tombstone
    }

    /// Ends a browse: the new snapshot is every live letter plus `tombstones`, those updated at
    /// or after `since`; returns its first page.
    pub fn replace(
        &mut self,
        tombstones: Vec<DeadLetter>,
        since: Option<Timestamp>,
        depths: HashMap<String, (u64, u64, u64)>,
    ) -> FetchPage<DeadLetter> {
        let mut items: Vec<DeadLetter> = self
            .live
            .values()
            .map(|l| l.letter.clone())
            .chain(tombstones)
            .chain(std::mem::take(&mut self.acted))
            .filter(|l| since.is_none_or(|s| l.updated_at >= s))
            .collect();
        items.sort_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        self.items = items;
        self.generation += 1;
        self.depths = depths;
        self.browsed_at = Some(Instant::now());
        self.page(0)
    }

    pub fn page(&self, offset: usize) -> FetchPage<DeadLetter> {
        pages::page_of(&self.items, self.generation, offset)
    }

    /// The page a cursor of the current snapshot names; `None` for a stale or foreign cursor.
    pub fn page_at(&self, cursor: &str) -> Option<FetchPage<DeadLetter>> {
        Some(self.page(pages::cursor_offset(cursor, self.generation)?))
    }

    /// Live letters per connector, and the oldest `SentTimestamp` of each.
    pub fn shares(&self) -> HashMap<String, (u64, Option<Timestamp>)> {
        let mut shares: HashMap<String, (u64, Option<Timestamp>)> = HashMap::new();
        for live in self.live.values() {
            let entry = shares.entry(live.letter.connector.clone()).or_default();
            entry.0 += 1;
            entry.1 = match (entry.1, live.sent_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        shares
    }
}
