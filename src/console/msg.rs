//! Messages into `update` (keys, ticks, store answers, change notices) and the commands
//! `update` asks the runtime to perform (store work, waking the outbox, quitting, suspending).

use std::path::PathBuf;

use super::bulk::BulkTarget;
use super::detail::DeadLetterDetail;
use super::keymap::Key;
use super::marks::{MarkKey, MarkList};
use super::paging::{IncidentRow, PageRequest};
use super::runs::{FrozenPlan, RunGauge};
use super::view_state::IncidentDetail;
use crate::domain::{Action, ActionKind, ConnectionState, Connector, OutboxEntry, Timestamp};
use crate::store::{
    AuditEntry, ChangeNotice, ConnectorCounts, DeadLetterKey, DeadLetterSummary, IncidentKey,
    OutboxKey,
};

/// One connector row of the Connectors view: inventory + stats, counts and DLQ depth history.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorRow {
    pub connector: Connector,
    pub counts: ConnectorCounts,
    /// DLQ depth over the last hour, oldest first.
    pub dlq_history: Vec<u64>,
}

#[derive(Debug, Clone)]
pub enum Msg {
    /// A key press, with the time it happened.
    Key {
        key: Key,
        now: Timestamp,
    },
    Resize {
        width: u16,
        height: u16,
    },
    /// The 1 s tick, only while a countdown is on screen.
    Tick {
        now: Timestamp,
    },
    /// Something changed in the store (same-process notice).
    Changed(ChangeNotice),
    /// Another process wrote to the store (`data_version` moved).
    ExternalChange,
    StoreReady,
    StoreFailed(String),
    Header {
        states: Vec<(String, ConnectionState)>,
        pending_actions: u64,
    },
    Connectors(Vec<ConnectorRow>),
    Incidents {
        seq: u64,
        request: PageRequest<IncidentKey>,
        rows: Vec<IncidentRow>,
        limit: usize,
    },
    DeadLetters {
        seq: u64,
        request: PageRequest<DeadLetterKey>,
        rows: Vec<DeadLetterSummary>,
        limit: usize,
    },
    DeadLetterDetail(Box<DeadLetterDetail>),
    /// Triage's replays and discards of one dead letter, newest first (refresh of the open detail).
    DeadLetterHistory {
        upstream: String,
        id: String,
        history: Vec<OutboxEntry>,
    },
    /// The incident detail, fresh from the store (with its stored route).
    IncidentDetail(Box<IncidentDetail>),
    Runbook {
        connector: String,
        path: Option<PathBuf>,
        markdown: Result<String, String>,
    },
    /// How far the store's search for a list's page `seq` has got (sent while it runs).
    SearchProgress {
        list: super::marks::MarkList,
        seq: u64,
        examined: u64,
        /// Rows the list holds by default (the "of N"); 0 when unknown.
        total: u64,
    },
    /// The metrics report of a window (`StoreCmd::LoadMetrics`).
    Metrics {
        span: super::metrics::MetricsSpan,
        report: Box<crate::domain::metrics::MetricsReport>,
    },
    /// A page of the outbox (newest first) and the newest audit rows.
    Activity {
        /// The newest runs and their progress.
        runs: Vec<(crate::domain::run::Run, crate::domain::run::RunProgress)>,
        /// Running runs among them that no live process drives (`sync::run_lease`).
        undriven: Vec<String>,
        seq: u64,
        request: PageRequest<OutboxKey>,
        outbox: Vec<OutboxEntry>,
        audit: Vec<AuditEntry>,
        limit: usize,
    },
    /// Pending and recently failed actions, plus the current state of the ones this console sent.
    OpenActions {
        open: Vec<OutboxEntry>,
        tracked: Vec<OutboxEntry>,
    },
    ActionEnqueued(Box<OutboxEntry>),
    /// A run's state was set (`changed` false: it was already there, done or cancelled).
    RunStateSet {
        id: String,
        state: crate::domain::run::RunState,
        changed: bool,
    },
    /// A held action was queued.
    HeldEnqueued(Box<OutboxEntry>),
    /// The answer to `U` (`withdrawn` false: it was already being sent).
    Undone {
        what: String,
        withdrawn: bool,
    },
    /// A note was stored.
    NoteAdded {
        upstream: String,
        id: String,
    },
    /// `v`: the letter whose payload is paged (None: it is gone).
    PagerLoaded(Option<Box<crate::domain::DeadLetter>>),
    /// `Y`: the letter whose payload is copied (None: it is gone).
    YankLoaded(Option<Box<crate::domain::DeadLetter>>),
    /// `E`: the letter to edit, read from the store (None: it is gone).
    EditLoaded(Option<Box<crate::domain::DeadLetter>>),
    /// What the editor left, reviewed (or why nothing is to be sent).
    EditReviewed(Result<Box<crate::domain::edit::EditReview>, String>),
    /// The operator's escalate took a step (its notifications and upstream escalate queued), or
    /// could not (`entries` empty: the chain's last step was already reached).
    Escalated {
        entries: Vec<OutboxEntry>,
        summary: String,
    },
    /// Every row of `list` the filter matches across the store (the answer to `*`).
    Selected {
        list: MarkList,
        filter: String,
        ids: Vec<MarkKey>,
    },
    /// Marked rows the store no longer lists (their marks are dropped).
    MarksGone {
        list: MarkList,
        gone: Vec<MarkKey>,
    },
    /// The marked incidents looked up for a bulk action: those it applies to, why others
    /// are skipped, and marks of incidents no longer listed.
    IncidentBulkReady {
        kind: ActionKind,
        targets: Vec<BulkTarget>,
        skipped: Vec<String>,
        gone: Vec<MarkKey>,
    },
    /// A bulk action was queued: its outbox entries and what could not be queued.
    BulkEnqueued {
        kind: ActionKind,
        entries: Vec<OutboxEntry>,
        problems: Vec<String>,
    },
    /// The plan of a replay or discard of the marked dead letters, and marks of letters gone.
    RunPlanned {
        plan: FrozenPlan,
        gone: Vec<MarkKey>,
    },
    /// The run was created in the store: the console drives it.
    RunCreated {
        id: String,
        kind: ActionKind,
        total: usize,
        stages: usize,
    },
    /// Progress of the run the console drives.
    RunProgress(Box<RunGauge>),
    /// A store read or write failed; `what` says which.
    StoreError {
        what: String,
        error: String,
    },
}

/// Work for the store thread.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreCmd {
    /// The metrics of the last `span` before `now` (`Store::metrics_report`).
    LoadMetrics {
        span: super::metrics::MetricsSpan,
        now: crate::domain::Timestamp,
    },
    LoadHeader,
    LoadConnectors {
        since: Timestamp,
    },
    LoadIncidents {
        seq: u64,
        request: PageRequest<IncidentKey>,
        connector: Option<String>,
    },
    LoadDeadLetters {
        seq: u64,
        request: PageRequest<DeadLetterKey>,
        connector: Option<String>,
    },
    LoadDeadLetterDetail {
        upstream: String,
        id: String,
        contract: Option<PathBuf>,
    },
    /// Only the attempt history of the open dead-letter detail (after an outbox change).
    LoadDeadLetterHistory {
        upstream: String,
        id: String,
    },
    /// One incident and its stored route, for the incident detail.
    LoadIncidentDetail {
        upstream: String,
        id: String,
    },
    LoadRunbook {
        connector: String,
        path: Option<PathBuf>,
    },
    LoadActivity {
        seq: u64,
        request: PageRequest<OutboxKey>,
    },
    LoadOpenActions {
        failed_since: Timestamp,
        tracked: Vec<String>,
    },
    Enqueue {
        action: Action,
        at: Timestamp,
    },
    /// Pause, resume or cancel a run (Activity's runs list), audited as `operator`.
    SetRunState {
        id: String,
        state: crate::domain::run::RunState,
        operator: String,
        at: Timestamp,
    },
    /// Queue `action`, sent no earlier than `hold_until` (a resolve `U` can take back).
    EnqueueHeld {
        action: Action,
        at: Timestamp,
        hold_until: Timestamp,
    },
    /// `U`: withdraw a held action still pending.
    Undo {
        outbox_id: String,
        what: String,
        operator: String,
        at: Timestamp,
    },
    /// `n`: add a note to an incident (audited `note.added`).
    AddNote {
        upstream: String,
        id: String,
        operator: String,
        text: String,
        at: Timestamp,
    },
    /// `v` on a list row: read the letter whose payload is paged.
    LoadForPager {
        upstream: String,
        id: String,
    },
    /// `Y` on a list row: read the letter whose payload is copied.
    LoadForYank {
        upstream: String,
        id: String,
    },
    /// `E`: read the letter whose payload is to be edited.
    LoadForEdit {
        upstream: String,
        id: String,
    },
    /// Queues an edited replay with its `replay.edited` audit row (`detail`: both SHA-256s).
    EnqueueEdited {
        action: Action,
        detail: String,
        at: Timestamp,
    },
    CheckDataVersion,
    /// `*`: every `(upstream, id)` of `list` the filter text matches (the whole store).
    SelectMatching {
        list: MarkList,
        filter: String,
        now: Timestamp,
    },
    /// Looks the marked incidents up for a bulk `kind` by `operator`.
    PrepareIncidentBulk {
        kind: ActionKind,
        keys: Vec<MarkKey>,
        operator: String,
    },
    /// Queues each action like a single `Enqueue` (escalations take their chain step).
    EnqueueMany {
        kind: ActionKind,
        actions: Vec<Action>,
        at: Timestamp,
    },
    /// Plans a replay or discard run of the marked dead letters (`sync::runs::plan`).
    PlanRun {
        kind: ActionKind,
        keys: Vec<MarkKey>,
        operator: String,
    },
    /// Creates the confirmed run in the store.
    CreateRun {
        plan: FrozenPlan,
        at: Timestamp,
    },
    /// Which of these marked rows the store no longer lists.
    CheckMarks {
        list: MarkList,
        keys: Vec<MarkKey>,
    },
}

/// What `update` asks for; it never does I/O itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Store(StoreCmd),
    /// Tell the outbox worker there is something to send.
    WakeOutbox,
    /// Drive run `id` in a background task (its progress comes back as `Msg::RunProgress`).
    DriveRun {
        id: String,
    },
    /// Restore the terminal and stop the process (Ctrl-Z); redraw on resume.
    Suspend,
    /// Give the terminal to `$PAGER` on `text` (`v`), named `name` (the file's stem).
    Page {
        name: String,
        text: String,
    },
    /// Open `url` in `$BROWSER` (detached), or show it and copy it by OSC 52 without one.
    OpenUrl {
        what: String,
        url: String,
    },
    /// Put `bytes` on the clipboard by OSC 52 (`what` names it in the status line).
    Yank {
        what: String,
        bytes: Vec<u8>,
    },
    /// Give the terminal to `$EDITOR` on this letter's payload (`E`), then review what it saved.
    EditPayload {
        letter: Box<crate::domain::DeadLetter>,
        draft: crate::domain::edit::EditDraft,
    },
    Quit,
}

impl Cmd {
    pub fn store(cmd: StoreCmd) -> Cmd {
        Cmd::Store(cmd)
    }
}
