//! Marks: the rows an operator picked for a bulk action, per list (Incidents, Dead letters),
//! keyed by `(upstream, id)` — never by a row's place — so they survive scrolling, paging,
//! filtering and live reloads. `space` toggles the row under the cursor, `*` asks the store for
//! every row the current filter matches (the whole store, not the loaded page), `u` clears.
//!
//! A mark lives while its row is in the list's store selection (live dead letters, unresolved
//! incidents): after a change notice the store thread is asked which marked rows are gone
//! (replayed, discarded, resolved, deleted) and those marks are dropped; a bulk action also
//! drops what it found gone. Until that answer the count may briefly include them; above
//! [`MARKS_CHECKED_LIVE`] marks only the bulk action prunes them.

use std::collections::BTreeSet;

use super::app::{App, StatusLevel, View};
use super::filter::current_filter;
use super::msg::{Cmd, StoreCmd};
use crate::domain::sanitize;

/// Which list a mark belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkList {
    Incidents,
    DeadLetters,
}

impl MarkList {
    /// The list shown on `view`, if it takes marks.
    pub fn of(view: View) -> Option<MarkList> {
        match view {
            View::Incidents => Some(MarkList::Incidents),
            View::DeadLetters => Some(MarkList::DeadLetters),
            _ => None,
        }
    }

    pub fn noun(self, count: usize) -> &'static str {
        match (self, count) {
            (MarkList::Incidents, 1) => "incident",
            (MarkList::Incidents, _) => "incidents",
            (MarkList::DeadLetters, 1) => "dead letter",
            (MarkList::DeadLetters, _) => "dead letters",
        }
    }
}

/// `(upstream, id)` of a marked row.
pub type MarkKey = (String, String);

/// The marks of both lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Marks {
    pub incidents: BTreeSet<MarkKey>,
    pub dead_letters: BTreeSet<MarkKey>,
    /// A `*` selection is being collected by the store thread for this list and filter.
    pub selecting: Option<(MarkList, String)>,
}

impl Marks {
    pub fn of(&self, list: MarkList) -> &BTreeSet<MarkKey> {
        match list {
            MarkList::Incidents => &self.incidents,
            MarkList::DeadLetters => &self.dead_letters,
        }
    }

    pub fn of_mut(&mut self, list: MarkList) -> &mut BTreeSet<MarkKey> {
        match list {
            MarkList::Incidents => &mut self.incidents,
            MarkList::DeadLetters => &mut self.dead_letters,
        }
    }

    pub fn is_marked(&self, list: MarkList, upstream: &str, id: &str) -> bool {
        self.of(list)
            .contains(&(upstream.to_string(), id.to_string()))
    }

    /// Marks in `list`, in a stable order.
    pub fn keys(&self, list: MarkList) -> Vec<MarkKey> {
        self.of(list).iter().cloned().collect()
    }
}

/// `space`: marks or unmarks the row under the cursor.
pub fn toggle(app: &mut App) -> Vec<Cmd> {
    let Some(list) = list_here(app) else {
        return Vec::new();
    };
    let key = match list {
        MarkList::Incidents => app
            .incidents
            .selected_row()
            .map(|r| (r.incident.upstream.clone(), r.incident.id.clone())),
        MarkList::DeadLetters => app
            .dead_letters
            .list
            .selected_row()
            .map(|r| (r.upstream.clone(), r.id.clone())),
    };
    let Some(key) = key else {
        app.set_status(StatusLevel::Info, format!("no {} to mark", list.noun(1)));
        return Vec::new();
    };
    let marks = app.marks.of_mut(list);
    if !marks.remove(&key) {
        marks.insert(key);
    }
    Vec::new()
}

/// `*`: asks the store thread for every row the current filter matches.
pub fn select_all(app: &mut App) -> Vec<Cmd> {
    let Some(list) = list_here(app) else {
        return Vec::new();
    };
    let mut filter = current_filter(app);
    if list == MarkList::DeadLetters
        && let Some(connector) = &app.dead_letters.connector
    {
        filter = format!("connector:{connector} {filter}");
    }
    app.marks.selecting = Some((list, filter.clone()));
    app.set_status(
        StatusLevel::Info,
        format!("marking every {} the filter matches…", list.noun(1)),
    );
    vec![Cmd::store(StoreCmd::SelectMatching {
        list,
        filter,
        now: app.now,
    })]
}

/// The store's answer to `*`: the marks become exactly these rows (an answer for an older
/// request is ignored).
pub fn selected(app: &mut App, list: MarkList, filter: &str, ids: Vec<MarkKey>) {
    if app
        .marks
        .selecting
        .as_ref()
        .is_none_or(|(l, f)| *l != list || f != filter)
    {
        return;
    }
    app.marks.selecting = None;
    let count = ids.len();
    *app.marks.of_mut(list) = ids.into_iter().collect();
    let what = if filter.trim().is_empty() {
        String::new()
    } else {
        format!(" matching {}", sanitize::line(filter.trim()))
    };
    app.set_status(
        StatusLevel::Info,
        format!("{count} {}{what} marked", list.noun(count)),
    );
    app.dirty = true;
}

/// `u`: clears the marks of the current list.
pub fn clear(app: &mut App) -> Vec<Cmd> {
    let Some(list) = list_here(app) else {
        return Vec::new();
    };
    app.marks.selecting = None;
    let count = app.marks.of(list).len();
    app.marks.of_mut(list).clear();
    app.set_status(
        StatusLevel::Info,
        format!("{count} {} unmarked", list.noun(count)),
    );
    Vec::new()
}

/// Drops marks of rows the store no longer lists.
pub fn forget(app: &mut App, list: MarkList, gone: &[MarkKey]) {
    let marks = app.marks.of_mut(list);
    let before = marks.len();
    for key in gone {
        marks.remove(key);
    }
    app.dirty |= marks.len() != before;
}

/// Most marks checked against the store after each change notice (≈ 1 µs a key on the store
/// thread). Bigger selections are pruned by the bulk action's own look-up instead, so a `*` over
/// a million letters never slows page loads.
pub const MARKS_CHECKED_LIVE: usize = 10_000;

/// After a change notice: asks which marked rows are gone (only when there are marks, and not
/// too many of them).
pub fn check_cmd(app: &App, list: MarkList) -> Option<Cmd> {
    let count = app.marks.of(list).len();
    if count == 0 || count > MARKS_CHECKED_LIVE {
        return None;
    }
    Some(Cmd::store(StoreCmd::CheckMarks {
        list,
        keys: app.marks.keys(list),
    }))
}

/// The list of the current view, else a hint in the status line.
fn list_here(app: &mut App) -> Option<MarkList> {
    let list = MarkList::of(app.view);
    if list.is_none() {
        app.set_status(
            StatusLevel::Info,
            "marks work on incidents (2) and dead letters (3)",
        );
    }
    list
}

/// "312 marked" for a list title (empty without marks).
pub fn title_suffix(app: &App, list: MarkList) -> String {
    let count = app.marks.of(list).len();
    match &app.marks.selecting {
        Some((l, _)) if *l == list => format!(" · {count} marked (marking…)"),
        _ if count > 0 => format!(" · {count} marked"),
        _ => String::new(),
    }
}

/// "demo: inc_1, inc_2 (+1 more); crm: inc_9": the first few ids per upstream.
pub fn targets_summary(keys: &[MarkKey], per_group: usize) -> Vec<String> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for (upstream, id) in keys {
        match groups.iter_mut().find(|(u, _)| u == upstream) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((upstream.clone(), vec![id])),
        }
    }
    groups
        .into_iter()
        .map(|(upstream, ids)| {
            let shown: Vec<String> = ids
                .iter()
                .take(per_group)
                .map(|id| sanitize::line(id))
                .collect();
            let more = ids.len().saturating_sub(per_group);
            let tail = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            format!("{}: {}{tail}", sanitize::line(&upstream), shown.join(", "))
        })
        .collect()
}
