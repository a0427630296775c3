//! Per-view state owned by `App`: the connectors list, the incident detail, the dead-letter page
//! and detail, the runbook being read and the activity (outbox + audit) lists.

use std::path::PathBuf;

use ratatui::text::Text;

use super::detail::DeadLetterDetail;
use super::msg::ConnectorRow;
use super::paging::PagedList;
use super::scroll::Scroll;
use crate::domain::ConnectorStatus;
use crate::domain::routing::StoredRoute;
use crate::domain::{Incident, OutboxEntry, Timestamp, sanitize};
use crate::store::{AuditEntry, DeadLetterSummary, SortBy, SortColumn, SortList};

/// Connectors by how bad they are: failing first, healthy last.
fn status_rank(status: ConnectorStatus) -> u64 {
    match status {
        ConnectorStatus::Failing => 0,
        ConnectorStatus::Degraded => 1,
        ConnectorStatus::Unknown => 2,
        ConnectorStatus::Paused => 3,
        ConnectorStatus::Healthy => 4,
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConnectorsState {
    pub rows: Vec<ConnectorRow>,
    pub cursor: usize,
    pub loaded: bool,
    pub filter: String,
    /// The order (`<`/`>`/`I`; default: by name as loaded).
    pub sort: SortBy,
}

impl ConnectorsState {
    /// The rows the filter lets through, in the sort's order (ties keep the loaded order).
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let c = &self.rows[i].connector;
                needle.is_empty()
                    || [&c.id, &c.name, c.status.as_str()]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        let key = |i: usize| -> u64 {
            let row = &self.rows[i];
            match self.sort.column {
                SortColumn::Status => status_rank(row.connector.status),
                SortColumn::Dead => row.counts.dead_letters.max(row.connector.stats.dead),
                SortColumn::Queue => row.connector.stats.ready,
                SortColumn::Incidents => row.counts.open_incidents,
                _ => 0,
            }
        };
        let descending = self.sort.column.descending(SortList::Connectors);
        rows.sort_by(|&a, &b| {
            let order = key(a).cmp(&key(b));
            if descending { order.reverse() } else { order }
        });
        if self.sort.reverse {
            rows.reverse();
        }
        rows
    }

    pub fn selected(&self) -> Option<&ConnectorRow> {
        self.visible().get(self.cursor).map(|&i| &self.rows[i])
    }
}

/// An incident opened with Enter: the incident, the route sync stored for it, and its detail
/// text (sanitised once, here).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentDetail {
    pub incident: Incident,
    /// `None` until sync routed the incident.
    pub route: Option<StoredRoute>,
    /// Escalation levels taken per ack cycle (`Store::escalation_levels`).
    pub taken: Vec<(Timestamp, u32)>,
    /// The incident's detail text, sanitised, one entry per line.
    pub text: Vec<String>,
    /// Operators' notes, oldest first (`n` adds one).
    pub notes: Vec<crate::domain::note::IncidentNote>,
    /// True while shown from the list row, before the store answered.
    pub loading: bool,
    pub scroll: Scroll,
}

impl IncidentDetail {
    pub fn new(incident: Incident, route: Option<StoredRoute>) -> IncidentDetail {
        let text = sanitize::multiline(&incident.detail)
            .lines()
            .map(str::to_string)
            .collect();
        IncidentDetail {
            incident,
            route,
            taken: Vec::new(),
            text,
            notes: Vec::new(),
            loading: false,
            scroll: Scroll::default(),
        }
    }

    /// The same detail with the escalation levels taken per ack cycle.
    pub fn with_taken(mut self, taken: Vec<(Timestamp, u32)>) -> Self {
        self.taken = taken;
        self
    }

    /// The same detail with its notes.
    pub fn with_notes(mut self, notes: Vec<crate::domain::note::IncidentNote>) -> Self {
        self.notes = notes;
        self
    }

    /// Is this the detail of `(upstream, id)`?
    pub fn is_of(&self, upstream: &str, id: &str) -> bool {
        self.incident.upstream == upstream && self.incident.id == id
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeadLettersState {
    pub list: PagedList<DeadLetterSummary>,
    /// Only this connector's dead letters (None = all).
    pub connector: Option<String>,
    pub detail: Option<DeadLetterDetail>,
}

#[derive(Debug, Clone, Default)]
pub struct RunbookState {
    pub connector: Option<String>,
    pub path: Option<PathBuf>,
    pub text: Option<Text<'static>>,
    pub problem: Option<String>,
    pub scroll: Scroll,
}

/// The Activity view: triage's actions (the outbox, keyset-paged like the other lists, filtered
/// by the store) above the newest audit rows.
#[derive(Debug, Clone, Default)]
pub struct ActivityState {
    pub list: PagedList<OutboxEntry>,
    pub audit: Vec<AuditEntry>,
    /// The newest bulk recovery runs with their progress (shown above the outbox when any).
    pub runs: Vec<(crate::domain::run::Run, crate::domain::run::RunProgress)>,
    pub runs_cursor: usize,
    /// Running runs no live process drives (their driver quit or died): `p` drives one here.
    pub undriven: Vec<String>,
    /// `w`: j/k/p/C act on the runs list instead of the outbox.
    pub runs_focus: bool,
    /// Enter on an action: all of it (the list cuts its cells), until Esc.
    pub open: Option<OutboxEntry>,
}

impl ActivityState {
    pub fn selected(&self) -> Option<&OutboxEntry> {
        self.list.selected_row()
    }

    pub fn selected_run(&self) -> Option<&crate::domain::run::Run> {
        self.runs.get(self.runs_cursor).map(|(run, _)| run)
    }
}
