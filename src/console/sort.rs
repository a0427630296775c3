//! Sorting lists by a column (htop and k9s habits): `>` sorts by the next column, `<` by the
//! previous one, `I` reverses; `:sort COLUMN` (or `:sort -COLUMN` reversed, `:sort` alone back to
//! the default) says it in words. Incidents and dead letters are sorted by the store (the whole
//! list, keyset-paged: `store::sort`); connectors, all loaded, in memory. The list's title says
//! the order ("sorted by attempts ↓"); the default order says nothing.

use super::app::{App, StatusLevel, View};
use super::msg::{Cmd, StoreCmd};
use crate::store::{SortBy, SortColumn, SortList};

/// The sortable list the view shows, if any.
pub fn list_of(view: View) -> Option<SortList> {
    match view {
        View::Incidents => Some(SortList::Incidents),
        View::DeadLetters => Some(SortList::DeadLetters),
        View::Connectors => Some(SortList::Connectors),
        View::Runbook | View::Activity | View::Metrics => None,
    }
}

/// The order of `list` now.
pub fn current(app: &App, list: SortList) -> SortBy {
    match list {
        SortList::Incidents => app.incidents.sort,
        SortList::DeadLetters => app.dead_letters.list.sort,
        SortList::Connectors => app.connectors.sort,
    }
}

/// `<` / `>`: the previous / next column of the view's list (the reverse flag is kept).
pub fn step(app: &mut App, delta: isize) -> Vec<Cmd> {
    let Some(list) = sortable(app) else {
        return Vec::new();
    };
    let columns = SortColumn::for_list(list);
    let now = current(app, list);
    let at = columns.iter().position(|&c| c == now.column).unwrap_or(0) as isize;
    let next = (at + delta).rem_euclid(columns.len() as isize) as usize;
    set(
        app,
        list,
        SortBy {
            column: columns[next],
            reverse: now.reverse,
        },
    )
}

/// `I`: the same column the other way round.
pub fn reverse(app: &mut App) -> Vec<Cmd> {
    let Some(list) = sortable(app) else {
        return Vec::new();
    };
    let now = current(app, list);
    set(
        app,
        list,
        SortBy {
            reverse: !now.reverse,
            ..now
        },
    )
}

/// `:sort [-]COLUMN` on the view's list (`:sort` alone: the default order).
pub fn command(app: &mut App, words: &str) -> Vec<Cmd> {
    let Some(list) = sortable(app) else {
        return Vec::new();
    };
    let words = words.trim();
    let (reverse, name) = match words.strip_prefix('-') {
        Some(name) => (true, name.trim()),
        None => (false, words),
    };
    if name.is_empty() {
        return set(
            app,
            list,
            SortBy {
                column: SortColumn::Default,
                reverse,
            },
        );
    }
    match SortColumn::parse(name, list) {
        Some(column) => set(app, list, SortBy { column, reverse }),
        None => {
            let known: Vec<&str> = SortColumn::for_list(list)
                .iter()
                .map(|c| c.name(list))
                .collect();
            app.set_status(
                StatusLevel::Warning,
                format!(
                    "no column {:?} to sort by here (there are: {})",
                    crate::domain::sanitize::line(name),
                    known.join(", ")
                ),
            );
            Vec::new()
        }
    }
}

fn sortable(app: &mut App) -> Option<SortList> {
    let list =
        list_of(app.view).filter(|_| app.incident_detail.is_none() || app.view != View::Incidents);
    let list = list.filter(|_| app.dead_letters.detail.is_none() || app.view != View::DeadLetters);
    if list.is_none() {
        app.set_status(StatusLevel::Info, "this view has no list to sort");
    }
    list
}

fn set(app: &mut App, list: SortList, sort: SortBy) -> Vec<Cmd> {
    app.dirty = true;
    let label = sort
        .label(list)
        .unwrap_or_else(|| format!("default order ({})", SortColumn::Default.name(list)));
    app.set_status(StatusLevel::Info, label);
    match list {
        SortList::Incidents => match app.incidents.set_sort(sort) {
            Some((seq, request)) => vec![Cmd::store(StoreCmd::LoadIncidents {
                seq,
                request,
                connector: None,
            })],
            None => Vec::new(),
        },
        SortList::DeadLetters => match app.dead_letters.list.set_sort(sort) {
            Some((seq, request)) => {
                let connector = app.dead_letters.connector.clone();
                vec![Cmd::store(StoreCmd::LoadDeadLetters {
                    seq,
                    request,
                    connector,
                })]
            }
            None => Vec::new(),
        },
        SortList::Connectors => {
            let selected = app.connectors.selected().map(|r| r.connector.id.clone());
            app.connectors.sort = sort;
            let visible = app.connectors.visible();
            app.connectors.cursor = selected
                .and_then(|id| {
                    visible
                        .iter()
                        .position(|&i| app.connectors.rows[i].connector.id == id)
                })
                .unwrap_or(0);
            Vec::new()
        }
    }
}
