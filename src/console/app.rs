//! `App`: the one owner of console state. Only `update` changes it; views only read it.

use super::keymap::Keymap;
use super::paging::{IncidentRow, PagedList};
use super::theme::Theme;
pub use super::view_state::{
    ActivityState, ConnectorsState, DeadLettersState, IncidentDetail, RunbookState,
};
use crate::config::{Config, RoutingConfig};
use crate::domain::routing::StoredRoute;
use crate::domain::{
    ActionKind, ConnectionState, IncidentStatus, OutboxEntry, OutboxState, Timestamp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Connectors,
    Incidents,
    DeadLetters,
    Runbook,
    Activity,
    Metrics,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Connectors,
        View::Incidents,
        View::DeadLetters,
        View::Runbook,
        View::Activity,
        View::Metrics,
    ];

    pub fn title(self) -> &'static str {
        match self {
            View::Connectors => "Connectors",
            View::Incidents => "Incidents",
            View::DeadLetters => "Dead letters",
            View::Runbook => "Runbook",
            View::Activity => "Activity",
            View::Metrics => "Metrics",
        }
    }

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// A place `Esc` goes back to, and its breadcrumb: `Incidents › inc-101`.
#[derive(Debug, Clone, PartialEq)]
pub struct Crumb {
    pub view: View,
    /// What was selected there (raw; sanitised when drawn), if anything.
    pub item: Option<String>,
}

impl Crumb {
    /// `Incidents › inc-101` (raw).
    pub fn label(&self) -> String {
        match &self.item {
            Some(item) => format!("{} › {item}", self.view.title()),
            None => self.view.title().to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreStatus {
    Opening,
    Ready,
    Failed(String),
}

/// A question the operator must answer before anything happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Dialog {
    /// Replay or discard of one dead letter: what it acts on, as the operator saw it.
    ConfirmDeadLetter {
        kind: ActionKind,
        upstream: String,
        id: String,
        connector: String,
        destination: String,
        /// "INVALID_FIELD: No such column …" (raw; sanitised when drawn).
        error: String,
        attempts: u32,
        /// One-line payload preview (already sanitised).
        payload: String,
        /// Where a RabbitMQ replay may go (`t` cycles): "last origin", `first-origin`,
        /// `queue:NAME` of each work queue of that upstream; empty for other upstreams.
        routes: Vec<String>,
        /// The chosen entry of `routes` (0: the last origin).
        route: usize,
        /// `T`: replay without the message's own TTL.
        drop_ttl: bool,
    },
    /// An incident action on every marked incident it applies to.
    ConfirmIncidents {
        kind: ActionKind,
        targets: Vec<super::bulk::BulkTarget>,
        /// Why marked incidents are left out ("inc-9 is already acknowledged by …").
        skipped: Vec<String>,
    },
    /// A replay or discard run of the marked dead letters, as planned.
    ConfirmRun { plan: super::runs::FrozenPlan },
    /// Quit while actions are still pending.
    ConfirmQuit { pending: u64 },
    /// One action that pages, closes or resends (escalate, resolve, un-ack, retry): what it acts
    /// on as (label, value) lines, and what will happen.
    ConfirmAction {
        /// "Escalate inc_…?", "Retry ack of …?".
        title: String,
        action: Box<crate::domain::Action>,
        subject: Vec<(String, String)>,
        what: String,
    },
    /// Cancel a run (Activity's runs list, `C`).
    ConfirmRunCancel {
        id: String,
        kind: ActionKind,
        selection: String,
        /// Members not yet answered.
        left: usize,
    },
    /// Replay of an edited payload: the diff and the contract check (`E`).
    ConfirmEdited {
        review: Box<crate::domain::edit::EditReview>,
        /// `f`: send it even though it violates the contract.
        force: bool,
        /// First diff line shown.
        scroll: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusLevel {
    Info,
    Success,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub text: String,
    pub level: StatusLevel,
}

/// Text being typed after `/`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterInput {
    pub text: String,
}

/// Everything the console shows, and nothing else.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    /// Routes, escalation chains, bridge and vendor contacts (the SLA clocks need the chains).
    pub routing: RoutingConfig,
    pub operator: String,
    pub read_only: bool,
    /// Draw web links as OSC 8 hyperlinks (`views::hyperlink`); set by the runtime from the
    /// terminal (off for TERM=dumb/linux and with `TRIAGE_HYPERLINKS=0`).
    pub hyperlinks: bool,
    pub keymap: Keymap,
    pub theme: Theme,
    pub now: Timestamp,
    pub view: View,
    pub store: StoreStatus,
    pub upstream_states: Vec<(String, ConnectionState)>,
    pub pending_actions: u64,
    pub connectors: ConnectorsState,
    pub incidents: PagedList<IncidentRow>,
    /// The incident opened with Enter on the Incidents view (Esc closes it).
    pub incident_detail: Option<IncidentDetail>,
    pub dead_letters: DeadLettersState,
    pub runbook: RunbookState,
    /// Where `Esc` goes back to from the runbook (`o`/`4` push the view they left; switching
    /// views with the number keys or Tab starts over).
    pub back: Vec<Crumb>,
    pub activity: ActivityState,
    /// The Metrics view (and the header's numbers for the selected connector).
    pub metrics: super::metrics::MetricsState,
    /// Pending and recently failed actions: marks on incident and dead-letter rows.
    pub open_actions: Vec<OutboxEntry>,
    /// Ids of outbox entries this console enqueued and has not yet seen settle.
    pub tracked_actions: Vec<String>,
    /// Rows marked for a bulk action (`space`, `*`, `u`), per list.
    pub marks: super::marks::Marks,
    /// The bulk run this console drives (its progress is in the status line).
    pub run: Option<super::runs::RunGauge>,
    pub dialog: Option<Dialog>,
    /// `Some(scroll)` while the help overlay is open.
    pub help: Option<u16>,
    pub filter_input: Option<FilterInput>,
    /// `:` command prompt, and this session's command history (oldest first).
    pub command_input: Option<super::command::CommandInput>,
    pub command_history: Vec<String>,
    /// The held resolve `U` can still take back.
    pub undoable: Option<super::undo::Undoable>,
    /// `O`: which of an incident's links comes next.
    pub link_cursor: super::link::LinkCursor,
    /// `n`: the note being written.
    pub note_input: Option<super::note::NoteInput>,
    pub status: Option<StatusLine>,
    /// Terminal size (rows matter for paging).
    pub size: (u16, u16),
    pub dirty: bool,
    pub should_quit: bool,
}

impl App {
    pub fn new(
        config: Config,
        routing: RoutingConfig,
        operator: String,
        read_only: bool,
        keymap: Keymap,
        theme: Theme,
        now: Timestamp,
    ) -> App {
        let read_only = read_only || config.read_only;
        App {
            config,
            routing,
            operator,
            read_only,
            hyperlinks: false,
            keymap,
            theme,
            now,
            view: View::Connectors,
            store: StoreStatus::Opening,
            upstream_states: Vec::new(),
            pending_actions: 0,
            connectors: ConnectorsState::default(),
            incidents: PagedList::default(),
            incident_detail: None,
            dead_letters: DeadLettersState::default(),
            runbook: RunbookState::default(),
            back: Vec::new(),
            activity: ActivityState::default(),
            metrics: Default::default(),
            open_actions: Vec::new(),
            tracked_actions: Vec::new(),
            marks: Default::default(),
            run: None,
            dialog: None,
            help: None,
            filter_input: None,
            command_input: None,
            command_history: Vec::new(),
            note_input: None,
            link_cursor: Default::default(),
            undoable: None,
            status: None,
            size: (80, 24),
            dirty: true,
            should_quit: false,
        }
    }

    /// A person's or team's display name from the config (the id when unknown).
    pub fn person_name(&self, id: &str) -> String {
        if let Some(person) = self.config.person(id) {
            return person.name.clone();
        }
        self.config
            .teams
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// "Owner → Backup" with first names only (narrow screens).
    pub fn owner_chain_short(&self, connector_id: &str) -> String {
        self.owner_chain(connector_id)
            .split(" → ")
            .map(|name| name.split_whitespace().next().unwrap_or(name).to_string())
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// "Owner → Backup" for a connector, from the config inventory (else the store's copy).
    pub fn owner_chain(&self, connector_id: &str) -> String {
        let (owner, backup) = match self.config.connector(connector_id) {
            Some(c) => (Some(c.owner.clone()), c.backup.clone()),
            None => match self
                .connectors
                .rows
                .iter()
                .find(|r| r.connector.id == connector_id)
            {
                Some(r) => (r.connector.owner.clone(), r.connector.backup.clone()),
                None => (None, None),
            },
        };
        match (owner, backup) {
            (Some(o), Some(b)) => format!("{} → {}", self.person_name(&o), self.person_name(&b)),
            (Some(o), None) => self.person_name(&o),
            (None, _) => "unowned".into(),
        }
    }

    /// The incident actions act on: the open detail's, else the selected row's.
    pub fn selected_incident(&self) -> Option<&crate::domain::Incident> {
        match &self.incident_detail {
            Some(detail) => Some(&detail.incident),
            None => self.incidents.selected_row().map(|r| &r.incident),
        }
    }

    /// True (and the status line says so) when an action on `(upstream, id)` is still pending.
    pub fn refuse_while_pending(&mut self, upstream: &str, id: &str) -> bool {
        let pending = self
            .action_on(upstream, id)
            .is_some_and(|e| e.state == OutboxState::Pending);
        if pending {
            self.set_status(
                StatusLevel::Info,
                format!(
                    "an action on {} is already pending",
                    crate::domain::sanitize::line(id)
                ),
            );
        }
        pending
    }

    /// The newest open (pending or failed) action on `target`, if any.
    pub fn action_on(&self, upstream: &str, target: &str) -> Option<&OutboxEntry> {
        self.open_actions
            .iter()
            .filter(|e| e.action.upstream == upstream && e.action.target == target)
            .max_by_key(|e| e.updated_at)
    }

    /// Short mark for a row with an open action: "ack pending…" / "replay failed: reason".
    pub fn action_mark(&self, upstream: &str, target: &str) -> Option<(String, OutboxState)> {
        let entry = self.action_on(upstream, target)?;
        let text = match entry.state {
            OutboxState::Pending => format!("{} pending…", entry.action.kind.as_str()),
            OutboxState::Failed => {
                let reason = entry
                    .outcome
                    .as_ref()
                    .map(|o| o.summary.clone())
                    .or_else(|| entry.last_error.clone())
                    .unwrap_or_default();
                format!("{} failed: {reason}", entry.action.kind.as_str())
            }
            OutboxState::Sent => format!("{} sent", entry.action.kind.as_str()),
            OutboxState::Recalled => format!("{} recalled by its run", entry.action.kind.as_str()),
        };
        Some((text, entry.state))
    }

    /// Body rows available to lists (terminal minus header, tabs, status and footer).
    pub fn body_rows(&self) -> usize {
        usize::from(self.size.1.saturating_sub(6)).max(1)
    }

    /// A countdown is on screen: the 1 s tick runs only then.
    pub fn needs_tick(&self) -> bool {
        if self.view != View::Incidents || self.dialog.is_some() {
            return false;
        }
        let counting = |incident: &crate::domain::Incident, route: Option<&StoredRoute>| {
            match incident.status {
                IncidentStatus::Open => incident.ack_deadline.is_some() || route.is_some(),
                // An ack can expire (chains with an ack timeout).
                IncidentStatus::Acknowledged => route
                    .and_then(|r| r.chain.as_deref())
                    .and_then(|name| self.routing.chain(name))
                    .is_some_and(|chain| chain.ack_timeout.is_some()),
                IncidentStatus::Suppressed | IncidentStatus::Resolved => false,
            }
        };
        match &self.incident_detail {
            Some(detail) => counting(&detail.incident, detail.route.as_ref()),
            None => self
                .incidents
                .rows
                .iter()
                .any(|r| counting(&r.incident, r.route.as_ref())),
        }
    }

    pub fn set_status(&mut self, level: StatusLevel, text: impl Into<String>) {
        self.status = Some(StatusLine {
            text: text.into(),
            level,
        });
    }
}
