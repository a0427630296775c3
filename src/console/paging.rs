//! A keyset-paged window of rows around the cursor: the console never loads a whole table.
//! The window is one store page (`anchor` + direction); the cursor stays on the same item
//! (by identity) across reloads, and walking off either end asks for the neighbouring page.
//!
//! The `/` filter is applied by the store to the whole list (payloads included), so paging walks
//! the matching rows only. Incidents and dead letters take the query language
//! (`domain::query`); a text that does not parse is not sent: its error is kept for the filter
//! line and the last good filter stays applied. While the store answers a new filter, the rows
//! already loaded are narrowed with the same query on what they show.

use crate::domain::query::{
    DeadLetterFields, Headers, IncidentFields, Query, QueryError, RegexField, RowKind, TermKind,
};
use crate::domain::routing::StoredRoute;
use crate::domain::{Incident, OutboxEntry, Timestamp, search};
use crate::store::{DeadLetterKey, DeadLetterSummary, IncidentKey, OutboxKey, PageDir, SortBy};

/// Rows per store page.
pub const PAGE_LIMIT: usize = 200;

/// A row that can live in a [`PagedList`].
pub trait PagedRow {
    type Key: Clone + PartialEq + std::fmt::Debug;
    fn key(&self) -> Self::Key;
    /// (upstream, id): stays the same when the row's sort key changes.
    fn identity(&self) -> (&str, &str);
    /// A parsed filter text, with the `now` its relative times mean.
    type Filter: Clone + std::fmt::Debug;
    fn parse_filter(text: &str, now: Timestamp) -> Result<Self::Filter, QueryError>;
    /// Does the row show what `filter` asks for? Used only while the store has not answered a
    /// new filter text (the store also searches what is not shown).
    fn matches(&self, filter: &Self::Filter) -> bool;
}

/// Which page to ask the store for.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<K> {
    pub anchor: Option<K>,
    pub dir: PageDir,
    /// The `/` filter text the store applies (empty = every row).
    pub filter: String,
    /// The order the store pages in (`<`/`>`/`I`, `:sort`).
    pub sort: SortBy,
    /// Where the cursor goes when the remembered item is not on the new page.
    pub land: Landing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    First,
    Last,
    /// Keep the cursor's index (clamped).
    Keep,
}

#[derive(Debug, Clone)]
pub struct PagedList<T: PagedRow> {
    pub rows: Vec<T>,
    /// Index into the visible (filtered) rows.
    pub cursor: usize,
    pub window: PageRequest<T::Key>,
    pub loaded: bool,
    /// Sequence number of the last request: older answers are ignored.
    pub request_seq: u64,
    /// The last request the store answered (or failed): below `request_seq` a page is on its way.
    answered_seq: u64,
    /// Rows the store's search for the page on its way has examined, and of how many
    /// (`Msg::SearchProgress`); cleared when the page arrives.
    pub search_progress: Option<(u64, u64)>,
    /// A change arrived while a page was on its way: reload once it has answered, instead of
    /// superseding it (a long search would otherwise be restarted by every write, forever).
    reload_deferred: bool,
    /// The filter being typed or applied; `window.filter` is the one the loaded rows answer.
    pub filter: String,
    /// The order asked for; `window.sort` is the one the loaded rows are in.
    pub sort: SortBy,
    /// `filter` parsed (`None` while it is empty).
    parsed: Option<T::Filter>,
    /// The text last typed when it did not parse, and why; `filter` is the last good one.
    error: Option<(String, QueryError)>,
    selected: Option<(String, String)>,
    /// A navigation (top, bottom, the neighbouring page, a new filter) whose page has not
    /// arrived: a reload meanwhile (a live update) repeats it, instead of reloading the old
    /// window and landing the cursor on whatever row now sits at its index.
    pending: Option<PageRequest<T::Key>>,
    has_before: bool,
    has_after: bool,
}

impl<T: PagedRow> Default for PagedList<T> {
    fn default() -> Self {
        PagedList {
            rows: Vec::new(),
            cursor: 0,
            window: PageRequest {
                anchor: None,
                dir: PageDir::Forward,
                filter: String::new(),
                sort: SortBy::default(),
                land: Landing::First,
            },
            loaded: false,
            sort: SortBy::default(),
            request_seq: 0,
            answered_seq: 0,
            search_progress: None,
            reload_deferred: false,
            filter: String::new(),
            parsed: None,
            error: None,
            selected: None,
            pending: None,
            has_before: false,
            has_after: false,
        }
    }
}

impl<T: PagedRow> PagedList<T> {
    /// Indices of the rows shown, in order: all loaded rows once the store answered the current
    /// filter; until then, those of the loaded rows that show the new filter text.
    pub fn visible(&self) -> Vec<usize> {
        let interim = self
            .parsed
            .as_ref()
            .filter(|_| self.filter != self.window.filter);
        (0..self.rows.len())
            .filter(|&i| interim.is_none_or(|f| self.rows[i].matches(f)))
            .collect()
    }

    /// True while the store has not yet answered the current filter text.
    pub fn filter_pending(&self) -> bool {
        self.filter != self.window.filter
    }

    pub fn selected_row(&self) -> Option<&T> {
        self.visible().get(self.cursor).map(|&i| &self.rows[i])
    }

    /// A new request for the same window (a reload after a change notice).
    pub fn reload(&mut self) -> (u64, PageRequest<T::Key>) {
        if let Some(pending) = self.pending.clone() {
            return self.next_request(pending);
        }
        let mut request = self.window.clone();
        request.land = Landing::Keep;
        self.next_request(request)
    }

    /// True while a page asked for has not arrived.
    pub fn in_flight(&self) -> bool {
        self.answered_seq < self.request_seq
    }

    /// A reload after a change: the same window again — unless a page is on its way, which is
    /// then let answer first (`None`; [`Self::take_deferred_reload`] asks again after it).
    pub fn reload_after_change(&mut self) -> Option<(u64, PageRequest<T::Key>)> {
        if self.in_flight() {
            self.reload_deferred = true;
            return None;
        }
        Some(self.reload())
    }

    /// The reload a change asked for while a page was on its way, once that page has arrived.
    pub fn take_deferred_reload(&mut self) -> Option<(u64, PageRequest<T::Key>)> {
        if !self.reload_deferred || self.in_flight() {
            return None;
        }
        self.reload_deferred = false;
        Some(self.reload())
    }

    /// The store could not answer (an error was shown): nothing is on its way any more.
    pub fn request_failed(&mut self) {
        self.answered_seq = self.request_seq;
        self.search_progress = None;
    }

    /// The store's search for page `seq` has examined `examined` of about `total` rows.
    pub fn search_progressed(&mut self, seq: u64, examined: u64, total: u64) -> bool {
        if seq != self.request_seq || !self.in_flight() {
            return false;
        }
        self.search_progress = Some((examined, total));
        true
    }

    /// A request that moves the window; remembered until its page arrives.
    fn navigate(&mut self, request: PageRequest<T::Key>) -> (u64, PageRequest<T::Key>) {
        let (seq, request) = self.next_request(request);
        self.pending = Some(request.clone());
        (seq, request)
    }

    fn next_request(&mut self, mut request: PageRequest<T::Key>) -> (u64, PageRequest<T::Key>) {
        self.request_seq += 1;
        request.filter = self.filter.clone();
        request.sort = self.sort;
        (self.request_seq, request)
    }

    /// Moves the cursor by `delta`; returns a page request when it walks off the window.
    pub fn move_by(&mut self, delta: isize) -> Option<(u64, PageRequest<T::Key>)> {
        let count = self.visible().len();
        let target = self.cursor as isize + delta;
        if target >= count as isize {
            if self.has_after && !self.filter_pending() {
                let last = self.rows.last()?.key();
                self.selected = None;
                return Some(self.navigate(PageRequest {
                    anchor: Some(last),
                    dir: PageDir::Forward,
                    filter: String::new(),
                    sort: SortBy::default(),
                    land: Landing::First,
                }));
            }
            self.cursor = count.saturating_sub(1);
        } else if target < 0 {
            if self.has_before && !self.filter_pending() {
                let first = self.rows.first()?.key();
                self.selected = None;
                return Some(self.navigate(PageRequest {
                    anchor: Some(first),
                    dir: PageDir::Backward,
                    filter: String::new(),
                    sort: SortBy::default(),
                    land: Landing::Last,
                }));
            }
            self.cursor = 0;
        } else {
            self.cursor = target as usize;
        }
        self.remember();
        None
    }

    /// First row of the whole list (a fresh first page).
    pub fn top(&mut self) -> (u64, PageRequest<T::Key>) {
        self.selected = None;
        self.cursor = 0;
        self.navigate(PageRequest {
            anchor: None,
            dir: PageDir::Forward,
            filter: String::new(),
            sort: SortBy::default(),
            land: Landing::First,
        })
    }

    /// Last row of the whole list (the last page).
    pub fn bottom(&mut self) -> (u64, PageRequest<T::Key>) {
        self.selected = None;
        self.navigate(PageRequest {
            anchor: None,
            dir: PageDir::Backward,
            filter: String::new(),
            sort: SortBy::default(),
            land: Landing::Last,
        })
    }

    /// A page arrived. Ignored unless it answers the latest request.
    pub fn page_loaded(
        &mut self,
        seq: u64,
        request: PageRequest<T::Key>,
        rows: Vec<T>,
        limit: usize,
    ) -> bool {
        if seq != self.request_seq {
            return false;
        }
        self.answered_seq = seq;
        self.search_progress = None;
        self.pending = None;
        let full = rows.len() >= limit;
        let anchored = request.anchor.is_some();
        if rows.is_empty() && anchored && request.land != Landing::Keep && !self.rows.is_empty() {
            // Walked past the last (or first) row: nothing more that way; stay here.
            match request.dir {
                PageDir::Forward => self.has_after = false,
                PageDir::Backward => self.has_before = false,
            }
            self.remember();
            return true;
        }
        if rows.is_empty() && anchored {
            // The window emptied (rows moved or went away): start over from the top.
            self.rows.clear();
            self.window = PageRequest {
                anchor: None,
                dir: PageDir::Forward,
                filter: request.filter,
                sort: request.sort,
                land: Landing::First,
            };
            self.has_before = false;
            self.has_after = false;
            self.loaded = false;
            return true;
        }
        (self.has_before, self.has_after) = match request.dir {
            PageDir::Forward => (anchored, full),
            PageDir::Backward => (full, anchored),
        };
        self.rows = rows;
        self.loaded = true;
        let land = request.land;
        self.window = request;
        let visible = self.visible();
        let remembered = self.selected.as_ref().and_then(|(u, id)| {
            visible
                .iter()
                .position(|&i| self.rows[i].identity() == (u.as_str(), id.as_str()))
        });
        self.cursor = match (remembered, land) {
            (Some(position), _) => position,
            (None, Landing::First) => 0,
            (None, Landing::Last) => visible.len().saturating_sub(1),
            (None, Landing::Keep) => self.cursor.min(visible.len().saturating_sub(1)),
        };
        self.remember();
        true
    }

    /// Why the text last typed is not a filter (it is not applied), if it is not.
    pub fn filter_error(&self) -> Option<&(String, QueryError)> {
        self.error.as_ref()
    }

    /// Sets the filter text: the loaded rows are narrowed at once (the cursor stays on the same
    /// item while it is visible) and the store is asked for the first page of the whole list's
    /// matches. `None` when the text did not change, or did not parse (kept as the error; the
    /// last good filter stays applied). `now` is what relative times in it mean.
    pub fn set_filter(
        &mut self,
        filter: &str,
        now: Timestamp,
    ) -> Option<(u64, PageRequest<T::Key>)> {
        let parsed = match T::parse_filter(filter, now) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.error = Some((filter.to_string(), e));
                return None;
            }
        };
        self.error = None;
        if filter == self.filter {
            return None;
        }
        self.filter = filter.to_string();
        self.parsed = (!filter.is_empty()).then_some(parsed);
        let visible = self.visible();
        self.cursor = self
            .selected
            .as_ref()
            .and_then(|(u, id)| {
                visible
                    .iter()
                    .position(|&i| self.rows[i].identity() == (u.as_str(), id.as_str()))
            })
            .unwrap_or(0);
        self.remember();
        Some(self.navigate(PageRequest {
            anchor: None,
            dir: PageDir::Forward,
            filter: String::new(),
            sort: SortBy::default(),
            land: Landing::First,
        }))
    }

    /// Sorts the list by `sort`: the store is asked for the first page in the new order; the
    /// cursor stays on its item if that page holds it. `None` when the order did not change.
    pub fn set_sort(&mut self, sort: SortBy) -> Option<(u64, PageRequest<T::Key>)> {
        if sort == self.sort {
            return None;
        }
        self.sort = sort;
        Some(self.navigate(PageRequest {
            anchor: None,
            dir: PageDir::Forward,
            filter: String::new(),
            sort,
            land: Landing::First,
        }))
    }

    fn remember(&mut self) {
        if let Some(row) = self.selected_row() {
            let (u, id) = row.identity();
            self.selected = Some((u.to_string(), id.to_string()));
        }
    }

    /// True when rows exist beyond the loaded window (shown as "more" in the title).
    pub fn more_before(&self) -> bool {
        self.has_before
    }
    pub fn more_after(&self) -> bool {
        self.has_after
    }
}

/// An incident row with its sort key and the route sync stored for it (loaded with the page).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub key: IncidentKey,
    pub incident: Incident,
    /// `None` until sync routed the incident.
    pub route: Option<StoredRoute>,
    /// Escalation levels taken per ack cycle (`Store::escalation_levels`).
    pub taken: Vec<(Timestamp, u32)>,
}

impl PagedRow for IncidentRow {
    type Key = IncidentKey;
    fn key(&self) -> IncidentKey {
        self.key.clone()
    }
    fn identity(&self) -> (&str, &str) {
        (&self.incident.upstream, &self.incident.id)
    }
    type Filter = (Query, Timestamp);
    fn parse_filter(text: &str, now: Timestamp) -> Result<Self::Filter, QueryError> {
        Ok((Query::parse(text, RowKind::Incidents)?, now))
    }
    fn matches(&self, (query, now): &Self::Filter) -> bool {
        let owner = self.route.as_ref().and_then(|r| r.owner.as_deref());
        query.matches_incident_fields(
            &IncidentFields::of(&self.incident, owner),
            now.timestamp_millis(),
            |_| true,
        )
    }
}

impl PagedRow for DeadLetterSummary {
    type Key = DeadLetterKey;
    fn key(&self) -> DeadLetterKey {
        self.key.clone()
    }
    fn identity(&self) -> (&str, &str) {
        (&self.upstream, &self.id)
    }
    type Filter = (Query, Timestamp);
    fn parse_filter(text: &str, now: Timestamp) -> Result<Self::Filter, QueryError> {
        Ok((Query::parse(text, RowKind::DeadLetters)?, now))
    }
    fn matches(&self, (query, now): &Self::Filter) -> bool {
        // What the row shows: headers are not loaded (a header or origin term cannot be told
        // yet and keeps the row until the store answers), the payload is its preview.
        let fields = DeadLetterFields {
            id: &self.id,
            connector: &self.connector,
            error_code: &self.error_code,
            error_message: &self.error_message,
            headers: Headers::NotLoaded,
            payload: &self.preview,
            state: self.state.as_str(),
            last_failed_ms: self.last_failed_at.timestamp_millis(),
        };
        query.matches_dead_letter_fields(&fields, now.timestamp_millis(), |t| {
            !matches!(
                t.kind,
                TermKind::Header { .. }
                    | TermKind::Origin(_)
                    | TermKind::Regex {
                        field: RegexField::Origin,
                        ..
                    }
            )
        })
    }
}

impl PagedRow for OutboxEntry {
    type Key = OutboxKey;
    fn key(&self) -> OutboxKey {
        OutboxKey {
            created_ms: self.created_at.timestamp_millis(),
            id: self.id.clone(),
        }
    }
    fn identity(&self) -> (&str, &str) {
        (&self.action.upstream, &self.id)
    }
    /// Actions are filtered by plain text (no query language).
    type Filter = String;
    fn parse_filter(text: &str, _now: Timestamp) -> Result<String, QueryError> {
        Ok(text.to_string())
    }
    fn matches(&self, needle: &String) -> bool {
        [
            &self.action.operator,
            &self.action.target,
            &self.action.upstream,
            self.action.kind.as_str(),
            self.state.as_str(),
        ]
        .iter()
        .any(|field| search::contains_text(field, needle))
    }
}
