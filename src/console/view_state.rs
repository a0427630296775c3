//! Per-view state owned by `App`: the connectors list, the dead-letter page and detail, the
//! runbook being read and the activity (outbox + audit) lists.

use std::path::PathBuf;

use ratatui::text::Text;

use super::detail::DeadLetterDetail;
use super::msg::ConnectorRow;
use super::paging::PagedList;
use crate::domain::OutboxEntry;
use crate::store::{AuditEntry, DeadLetterSummary};

#[derive(Debug, Clone, Default)]
pub struct ConnectorsState {
    pub rows: Vec<ConnectorRow>,
    pub cursor: usize,
    pub loaded: bool,
    pub filter: String,
}

impl ConnectorsState {
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        (0..self.rows.len())
            .filter(|&i| {
                let c = &self.rows[i].connector;
                needle.is_empty()
                    || [&c.id, &c.name, c.status.as_str()]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect()
    }

    pub fn selected(&self) -> Option<&ConnectorRow> {
        self.visible().get(self.cursor).map(|&i| &self.rows[i])
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
    pub scroll: u16,
}

#[derive(Debug, Clone, Default)]
pub struct ActivityState {
    pub outbox: Vec<OutboxEntry>,
    pub audit: Vec<AuditEntry>,
    pub cursor: usize,
    pub loaded: bool,
    pub filter: String,
}

impl ActivityState {
    pub fn visible(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        (0..self.outbox.len())
            .filter(|&i| {
                let e = &self.outbox[i];
                needle.is_empty()
                    || [
                        &e.action.operator,
                        &e.action.target,
                        &e.action.upstream,
                        e.action.kind.as_str(),
                        e.state.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect()
    }

    pub fn selected(&self) -> Option<&OutboxEntry> {
        self.visible().get(self.cursor).map(|&i| &self.outbox[i])
    }
}
