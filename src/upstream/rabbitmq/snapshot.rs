//! What the adapter remembers between browses of its DLQs: the last snapshot (served page by
//! page through cursors), which dead letters it replayed or discarded itself, and the DLQ depths
//! seen at the last browse.
//!
//! How `dead_letters(since, cursor)` maps onto a queue: a queue cannot be filtered by time, so
//! every browse reads each DLQ completely (peek for small ones, one cycling pass for big ones)
//! into an in-memory snapshot served in pages of [`PAGE`]. With a `since` watermark, a browse
//! happens only when a DLQ's depth changed or [`REFRESH`] passed; otherwise the page is empty.
//! Live messages carry `updated_at` = their last `x-death` time, so the store's change-aware
//! upsert skips the unchanged ones. Dead letters of the previous snapshot that are gone become
//! tombstones: `Replayed`/`Discarded` when triage did that, else `Discarded` (removed from the
//! DLQ outside triage, e.g. by a shovel or another consumer), with `updated_at` = now.
//!
//! A browse-and-apply pass (the outbox's replays and discards, `browse_apply`) reads a whole DLQ
//! too, so it refreshes this snapshot for its connector (`replace_connector`: its letters as the
//! pass saw them, acted-on ones with their new state, vanished ones as tombstones, the DLQ depth
//! the pass left). The memory remembers how far each snapshot was handed out (`delivered`, the
//! end of the last page served); a watermarked poll whose depths are unchanged serves the rest
//! (from page one after such a pass, so the poller receives the refreshed letters, tombstones and
//! letters new since its last browse) instead of starting another pass, and an empty page once
//! everything was handed out. A poll cut short by its page limit likewise continues where it
//! stopped. Messages that reach a DLQ after a pass began change its depth: the next poll browses.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::domain::{DeadLetter, DeadLetterState};
use crate::upstream::{FetchPage, pages};

pub use crate::upstream::pages::PAGE;
/// Longest time a watermarked poll goes without re-reading unchanged DLQs.
pub const REFRESH: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct BrowseMemory {
    generation: u64,
    items: Vec<DeadLetter>,
    /// Live dead letters of the last browse: id → index in `items` (for tombstones).
    live: HashMap<String, usize>,
    /// The DLQ each live dead letter was read from.
    queue_of: HashMap<String, String>,
    /// What triage did to dead letters itself, by id.
    pub handled: HashMap<String, DeadLetterState>,
    /// DLQs whose receipts this process has read into `handled` (content identities only).
    pub receipts_learned: HashSet<String>,
    /// Stamped identities with a receipt of a replay, and that replay's key: a retry of the
    /// action with that key finds its replay done (the pass that sent it failed before its
    /// acks were committed).
    pub receipt_keys: HashMap<String, String>,
    /// Content identities with a receipt, and the pass that wrote it: found again while that
    /// pass is unsettled (its acks may not have been committed), the message is its leftover
    /// original, not a new message with the same bytes.
    pub receipt_passes: HashMap<String, String>,
    /// Changes whose commit got no answer: found gone later, they happened.
    pub uncertain: HashMap<String, DeadLetterState>,
    /// Depth per DLQ at the last browse.
    depths: HashMap<String, u64>,
    /// DLQs the last pass could not hold (another consumer), with what to tell the operator.
    held_off: HashMap<String, String>,
    browsed_at: Option<Instant>,
    /// How much of `items` was handed out: the end of the furthest page served.
    delivered: usize,
}

/// One DLQ as a pass read it.
pub struct QueueView {
    pub dlq: String,
    pub letters: Vec<DeadLetter>,
    /// False when only its head was read: letters not seen are not gone.
    pub complete: bool,
    pub depth: u64,
}

impl BrowseMemory {
    /// True when a watermarked poll can skip the browse: same depths, recent enough.
    pub fn unchanged(&self, depths: &HashMap<String, u64>) -> bool {
        self.browsed_at.is_some_and(|t| t.elapsed() < REFRESH) && &self.depths == depths
    }

    /// True when the last browse was less than `age` ago and found these depths: a complete
    /// read now would read the same.
    pub fn fresh(&self, depths: &HashMap<String, u64>, age: Duration) -> bool {
        self.browsed_at.is_some_and(|t| t.elapsed() < age) && &self.depths == depths
    }

    /// True when `dlq` was read by a pass of this process.
    pub fn knows(&self, dlq: &str) -> bool {
        self.depths.contains_key(dlq)
    }

    /// The whole snapshot again from its first page (a complete read asked for right after one).
    pub fn first_page(&mut self) -> FetchPage<DeadLetter> {
        self.page(0)
    }

    /// Records whether the last pass over `dlq` was held off by another consumer.
    pub fn set_held_off(&mut self, dlq: &str, why: Option<String>) {
        match why {
            Some(why) => self.held_off.insert(dlq.to_string(), why),
            None => self.held_off.remove(dlq),
        };
    }

    /// Why each DLQ held off could not be read whole.
    pub fn held_off(&self) -> HashMap<String, String> {
        self.held_off.clone()
    }

    /// The DLQ that held `id` at the last browse.
    pub fn queue_of(&self, id: &str) -> Option<String> {
        self.queue_of.get(id).cloned()
    }

    pub fn last_seen(&self, id: &str) -> Option<DeadLetter> {
        self.live
            .get(id)
            .and_then(|&index| self.items.get(index))
            .cloned()
    }

    /// Live letters per connector at the last browse (a shared DLQ split by origin).
    pub fn counts(&self) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        for &index in self.live.values() {
            if let Some(letter) = self.items.get(index)
                && letter.state == DeadLetterState::Dead
            {
                *counts.entry(letter.connector.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Replaces the snapshot with `views` plus tombstones for what disappeared; returns page one.
    pub fn replace(&mut self, views: Vec<QueueView>) -> FetchPage<DeadLetter> {
        self.install(views, true);
        self.page(0)
    }

    /// Replaces only the DLQs of `views` (after a pass over them alone): the other DLQs' live
    /// letters stay, these ones' vanished letters become tombstones. Nothing of it is handed out
    /// yet: the next watermarked poll serves it (see the module doc).
    pub fn replace_queues(&mut self, views: Vec<QueueView>) {
        self.install(views, false);
    }

    /// A new snapshot: the views' letters in order (and, with `all`, only them; else the other
    /// DLQs' live letters too), then tombstones (by id) for the live letters of the previous one
    /// that are gone from a completely read DLQ; nothing handed out yet.
    fn install(&mut self, views: Vec<QueueView>, all: bool) {
        let now = Utc::now();
        let previous = std::mem::take(&mut self.items);
        let was_live = std::mem::take(&mut self.live);
        let was_queue = std::mem::take(&mut self.queue_of);
        let read: HashMap<&str, bool> =
            views.iter().map(|v| (v.dlq.as_str(), v.complete)).collect();
        let mut items: Vec<DeadLetter> = Vec::new();
        let mut queue_of: HashMap<String, String> = HashMap::new();
        // Letters of DLQs this pass did not read, or read only the head of, are still there.
        let mut carried: Vec<(usize, &String)> = was_live
            .iter()
            .filter_map(|(id, &index)| {
                let queue = was_queue.get(id)?;
                let keep = match read.get(queue.as_str()) {
                    None => !all,
                    Some(complete) => !complete,
                };
                keep.then_some((index, queue))
            })
            .collect();
        carried.sort_by_key(|(index, _)| *index);
        let mut depths = if all {
            HashMap::new()
        } else {
            self.depths.clone()
        };
        // Carried letters first (they were read earlier), then the views' letters in order; an id
        // both carried and read again is the fresh one.
        let fresh: HashSet<String> = views
            .iter()
            .flat_map(|v| v.letters.iter().map(|d| d.id.clone()))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for (index, queue) in carried {
            if let Some(letter) = previous.get(index)
                && !fresh.contains(&letter.id)
                && seen.insert(letter.id.clone())
            {
                queue_of.insert(letter.id.clone(), queue.clone());
                items.push(letter.clone());
            }
        }
        for view in views {
            depths.insert(view.dlq.clone(), view.depth);
            for letter in view.letters {
                if seen.insert(letter.id.clone()) {
                    queue_of.insert(letter.id.clone(), view.dlq.clone());
                    items.push(letter);
                }
            }
        }
        self.live = items
            .iter()
            .enumerate()
            .map(|(index, d)| (d.id.clone(), index))
            .collect();
        let mut tombstones: Vec<DeadLetter> = was_live
            .iter()
            .filter(|(id, _)| !self.live.contains_key(id.as_str()))
            .filter_map(|(_, &index)| previous.get(index))
            .map(|d| {
                let mut gone = d.clone();
                gone.state = self
                    .handled
                    .get(&d.id)
                    .or_else(|| self.uncertain.get(&d.id))
                    .copied()
                    .unwrap_or(DeadLetterState::Discarded);
                gone.updated_at = now;
                gone
            })
            .collect();
        tombstones.sort_by(|a, b| a.id.cmp(&b.id));
        self.items = items;
        self.items.extend(tombstones);
        self.queue_of = queue_of;
        self.depths = depths;
        self.browsed_at = Some(Instant::now());
        self.generation += 1;
        self.delivered = 0;
    }

    /// The page at `cursor` (`<generation>:<offset>`); `None` when the cursor is from an older
    /// snapshot (the caller then browses again).
    pub fn page_at(&mut self, cursor: &str) -> Option<FetchPage<DeadLetter>> {
        let offset = pages::cursor_offset(cursor, self.generation)?;
        Some(self.page(offset))
    }

    /// The first page of the snapshot not handed out yet (all of it after a browse-and-apply
    /// pass), continuing with cursors; `None` when everything was served.
    pub fn undelivered_page(&mut self) -> Option<FetchPage<DeadLetter>> {
        (self.delivered < self.items.len()).then(|| self.page(self.delivered))
    }

    /// The page from `offset`; marks it handed out.
    fn page(&mut self, offset: usize) -> FetchPage<DeadLetter> {
        let page = pages::page_of(&self.items, self.generation, offset);
        let end = offset.saturating_add(PAGE).min(self.items.len());
        self.delivered = self.delivered.max(end);
        page
    }

    pub fn empty_page() -> FetchPage<DeadLetter> {
        FetchPage::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeadLetterError;

    fn view(dlq: &str, letters: Vec<DeadLetter>) -> QueueView {
        let depth = letters.len() as u64;
        QueueView {
            dlq: dlq.into(),
            letters,
            complete: true,
            depth,
        }
    }

    fn letter(id: &str) -> DeadLetter {
        let t = Utc::now();
        DeadLetter {
            upstream: "rmq".into(),
            id: id.into(),
            connector: "orders".into(),
            payload: id.as_bytes().to_vec(),
            content_type: None,
            headers: Vec::new(),
            error: DeadLetterError::default(),
            attempts: 1,
            first_failed_at: t,
            last_failed_at: t,
            state: DeadLetterState::Dead,
            updated_at: t,
        }
    }

    #[test]
    fn vanished_letters_become_tombstones_with_what_triage_did() {
        let mut memory = BrowseMemory::default();
        memory.replace(vec![view("q", vec![letter("a"), letter("b"), letter("c")])]);
        memory.handled.insert("a".into(), DeadLetterState::Replayed);
        let page = memory.replace(vec![view("q", vec![letter("c")])]);
        let states: Vec<(&str, DeadLetterState)> = page
            .items
            .iter()
            .map(|d| (d.id.as_str(), d.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("c", DeadLetterState::Dead),
                ("a", DeadLetterState::Replayed),
                ("b", DeadLetterState::Discarded)
            ]
        );
    }

    #[test]
    fn a_one_connector_pass_keeps_the_other_connectors_letters() {
        let mut memory = BrowseMemory::default();
        let mut billing = letter("bill-1");
        billing.connector = "billing".into();
        memory.replace(vec![
            view("billing.dlq", vec![billing]),
            view("q", vec![letter("a"), letter("b")]),
        ]);
        memory.replace_queues(vec![view("q", vec![letter("b")])]);
        let page = memory
            .undelivered_page()
            .unwrap_or_else(BrowseMemory::empty_page);
        let ids: Vec<(&str, DeadLetterState)> = page
            .items
            .iter()
            .map(|d| (d.id.as_str(), d.state))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("bill-1", DeadLetterState::Dead),
                ("b", DeadLetterState::Dead),
                ("a", DeadLetterState::Discarded)
            ]
        );
        assert_eq!(memory.queue_of("bill-1").as_deref(), Some("billing.dlq"));
        assert_eq!(memory.counts().get("billing"), Some(&1));
    }

    #[test]
    fn a_head_only_read_tombstones_nothing_it_did_not_reach() {
        let mut memory = BrowseMemory::default();
        memory.replace(vec![view("q", vec![letter("a"), letter("b"), letter("c")])]);
        let mut head = view("q", vec![letter("a")]);
        head.complete = false;
        let page = memory.replace(vec![head]);
        let states: Vec<(&str, DeadLetterState)> = page
            .items
            .iter()
            .map(|d| (d.id.as_str(), d.state))
            .collect();
        let mut states = states;
        states.sort_by_key(|(id, _)| *id);
        assert_eq!(
            states,
            vec![
                ("a", DeadLetterState::Dead),
                ("b", DeadLetterState::Dead),
                ("c", DeadLetterState::Dead)
            ]
        );
    }

    #[test]
    fn a_pass_refresh_is_served_once_then_nothing_until_the_next_change() {
        let mut memory = BrowseMemory::default();
        let first = memory.replace(vec![view("q", vec![letter("a"), letter("b"), letter("c")])]);
        assert_eq!(first.items.len(), 3);
        assert!(memory.undelivered_page().is_none(), "the browse served it");
        // A pass replayed "a" (kept in its view with the new state) and "b" vanished.
        memory.handled.insert("a".into(), DeadLetterState::Replayed);
        let mut replayed = letter("a");
        replayed.state = DeadLetterState::Replayed;
        let mut after = view("q", vec![replayed, letter("c"), letter("d")]);
        after.depth = 2;
        memory.replace_queues(vec![after]);
        assert!(memory.unchanged(&HashMap::from([("q".to_string(), 2)])));
        let served = memory.undelivered_page().map(|p| {
            p.items
                .iter()
                .map(|d| (d.id.clone(), d.state))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            served,
            Some(vec![
                ("a".to_string(), DeadLetterState::Replayed),
                ("c".to_string(), DeadLetterState::Dead),
                ("d".to_string(), DeadLetterState::Dead),
                ("b".to_string(), DeadLetterState::Discarded),
            ])
        );
        assert!(memory.undelivered_page().is_none(), "served once");
    }

    #[test]
    fn an_unfinished_delivery_continues_where_it_stopped() {
        let mut memory = BrowseMemory::default();
        let first = memory.replace(vec![view(
            "q",
            (0..2 * PAGE + 3).map(|i| letter(&i.to_string())).collect(),
        )]);
        assert_eq!(first.items.len(), PAGE);
        // The poller stopped after page one; the next poll goes on from page two.
        let rest = memory.undelivered_page().expect("page two");
        assert_eq!(
            rest.items.first().map(|d| d.id.clone()),
            Some(PAGE.to_string())
        );
        let cursor = rest.next_cursor.expect("page three");
        assert_eq!(memory.page_at(&cursor).map(|p| p.items.len()), Some(3));
        assert!(memory.undelivered_page().is_none());
    }

    #[test]
    fn pages_follow_cursors_and_stale_cursors_are_refused() {
        let mut memory = BrowseMemory::default();
        let first = memory.replace(vec![view(
            "q",
            (0..PAGE + 3).map(|i| letter(&i.to_string())).collect(),
        )]);
        assert_eq!(first.items.len(), PAGE);
        let cursor = first.next_cursor.unwrap_or_default();
        let second = memory.page_at(&cursor).map(|p| p.items.len());
        assert_eq!(second, Some(3));
        memory.replace(Vec::new());
        assert!(memory.page_at(&cursor).is_none());
    }
}
