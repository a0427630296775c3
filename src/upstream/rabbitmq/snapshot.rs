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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::domain::{DeadLetter, DeadLetterState};
use crate::upstream::FetchPage;

/// Dead letters per page.
pub const PAGE: usize = 500;
/// Longest time a watermarked poll goes without re-reading unchanged DLQs.
pub const REFRESH: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct BrowseMemory {
    generation: u64,
    items: Vec<DeadLetter>,
    /// Live dead letters of the last browse, by id (for tombstones).
    live: HashMap<String, DeadLetter>,
    /// What triage did to dead letters itself, by id.
    pub handled: HashMap<String, DeadLetterState>,
    /// DLQ depth per connector at the last browse.
    depths: HashMap<String, u64>,
    browsed_at: Option<Instant>,
}

impl BrowseMemory {
    /// True when a watermarked poll can skip the browse: same depths, recent enough.
    pub fn unchanged(&self, depths: &HashMap<String, u64>) -> bool {
        self.browsed_at.is_some_and(|t| t.elapsed() < REFRESH) && &self.depths == depths
    }

    /// The connector whose DLQ held `id` at the last browse.
    pub fn connector_of(&self, id: &str) -> Option<String> {
        self.live.get(id).map(|d| d.connector.clone())
    }

    pub fn last_seen(&self, id: &str) -> Option<DeadLetter> {
        self.live.get(id).cloned()
    }

    /// Replaces the snapshot with `live` plus tombstones for what disappeared; returns page one.
    pub fn replace(
        &mut self,
        live: Vec<DeadLetter>,
        depths: HashMap<String, u64>,
    ) -> FetchPage<DeadLetter> {
        let now = Utc::now();
        let present: HashSet<&str> = live.iter().map(|d| d.id.as_str()).collect();
        let mut tombstones: Vec<DeadLetter> = self
            .live
            .values()
            .filter(|d| !present.contains(d.id.as_str()))
            .map(|d| {
                let mut gone = d.clone();
                gone.state = self
                    .handled
                    .get(&d.id)
                    .copied()
                    .unwrap_or(DeadLetterState::Discarded);
                gone.updated_at = now;
                gone
            })
            .collect();
        tombstones.sort_by(|a, b| a.id.cmp(&b.id));
        self.live = live.iter().map(|d| (d.id.clone(), d.clone())).collect();
        self.items = live;
        self.items.extend(tombstones);
        self.depths = depths;
        self.browsed_at = Some(Instant::now());
        self.generation += 1;
        self.page(0)
    }

    /// Replaces only `connector`'s part of the snapshot (after a pass over its DLQ alone): the
    /// other connectors' live letters stay, this one's vanished letters become tombstones.
    pub fn replace_connector(
        &mut self,
        connector: &str,
        live: Vec<DeadLetter>,
        depth: u64,
    ) -> FetchPage<DeadLetter> {
        let mut all: Vec<DeadLetter> = self
            .items
            .iter()
            .filter(|d| d.connector != connector && self.live.contains_key(&d.id))
            .cloned()
            .collect();
        all.extend(live);
        let mut depths = self.depths.clone();
        depths.insert(connector.to_string(), depth);
        self.replace(all, depths)
    }

    /// The page at `cursor` (`<generation>:<offset>`); `None` when the cursor is from an older
    /// snapshot (the caller then browses again).
    pub fn page_at(&self, cursor: &str) -> Option<FetchPage<DeadLetter>> {
        let (generation, offset) = cursor.split_once(':')?;
        if generation.parse::<u64>().ok()? != self.generation {
            return None;
        }
        Some(self.page(offset.parse().ok()?))
    }

    fn page(&self, offset: usize) -> FetchPage<DeadLetter> {
        let end = (offset + PAGE).min(self.items.len());
        let items = self
            .items
            .get(offset..end)
            .map(<[DeadLetter]>::to_vec)
            .unwrap_or_default();
        let next_cursor = (end < self.items.len()).then(|| format!("{}:{end}", self.generation));
        FetchPage { items, next_cursor }
    }

    pub fn empty_page() -> FetchPage<DeadLetter> {
        FetchPage {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DeadLetterError;

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
        memory.replace(vec![letter("a"), letter("b"), letter("c")], HashMap::new());
        memory.handled.insert("a".into(), DeadLetterState::Replayed);
        let page = memory.replace(vec![letter("c")], HashMap::new());
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
        memory.replace(vec![billing, letter("a"), letter("b")], HashMap::new());
        let page = memory.replace_connector("orders", vec![letter("b")], 1);
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
        assert_eq!(memory.connector_of("bill-1").as_deref(), Some("billing"));
    }

    #[test]
    fn pages_follow_cursors_and_stale_cursors_are_refused() {
        let mut memory = BrowseMemory::default();
        let first = memory.replace(
            (0..PAGE + 3).map(|i| letter(&i.to_string())).collect(),
            HashMap::new(),
        );
        assert_eq!(first.items.len(), PAGE);
        let cursor = first.next_cursor.unwrap_or_default();
        let second = memory.page_at(&cursor).map(|p| p.items.len());
        assert_eq!(second, Some(3));
        memory.replace(Vec::new(), HashMap::new());
        assert!(memory.page_at(&cursor).is_none());
    }
}
