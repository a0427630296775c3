//! Actions on marks (#11 point 3), the `update` side: with marks on the Incidents list, ack,
//! un-ack, resolve and escalate ask the store thread to look the marked incidents up (most are
//! not loaded: `*` marks the whole store's matches), then a confirmation names the count and the
//! first few ids per connector; on `y` one outbox action per incident is queued (the same path as
//! a single action) and the marks are cleared.

use super::app::{App, Dialog, StatusLevel};
use super::marks::{self, MarkList};
use super::msg::{Cmd, StoreCmd};
use super::update::load_view;
use crate::domain::{Action, ActionKind, OutboxEntry};

/// Ids shown per connector in a confirmation.
pub const IDS_PER_CONNECTOR: usize = 3;

/// One incident a bulk action will act on, and its connector (for the confirmation).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkTarget {
    pub connector: String,
    pub action: Action,
}

/// `a`/`A`/`x`/`e` with marks: look the marked incidents up first.
pub fn prepare_incidents(app: &mut App, kind: ActionKind) -> Vec<Cmd> {
    let keys = app.marks.keys(MarkList::Incidents);
    app.set_status(
        StatusLevel::Info,
        format!(
            "{}: checking {} marked {}…",
            kind.as_str(),
            keys.len(),
            MarkList::Incidents.noun(keys.len())
        ),
    );
    vec![Cmd::store(StoreCmd::PrepareIncidentBulk {
        kind,
        keys,
        operator: app.operator.clone(),
    })]
}

/// The store's answer: a confirmation of what applies (or why nothing does).
pub fn incidents_ready(
    app: &mut App,
    kind: ActionKind,
    targets: Vec<BulkTarget>,
    skipped: Vec<String>,
    gone: Vec<marks::MarkKey>,
) {
    marks::forget(app, MarkList::Incidents, &gone);
    app.dirty = true;
    if targets.is_empty() {
        let why = skipped
            .first()
            .cloned()
            .unwrap_or_else(|| "the marked incidents are no longer open".into());
        app.set_status(
            StatusLevel::Info,
            format!("nothing to {}: {why}", kind.as_str()),
        );
        return;
    }
    app.status = None;
    app.dialog = Some(Dialog::ConfirmIncidents {
        kind,
        targets,
        skipped,
    });
}

/// `y` on the confirmation: one action per incident, marks cleared.
pub fn confirm_incidents(app: &mut App, kind: ActionKind, targets: Vec<BulkTarget>) -> Vec<Cmd> {
    app.marks.incidents.clear();
    app.set_status(
        StatusLevel::Info,
        format!(
            "{}: queueing {} {}…",
            kind.as_str(),
            targets.len(),
            MarkList::Incidents.noun(targets.len())
        ),
    );
    vec![Cmd::store(StoreCmd::EnqueueMany {
        kind,
        actions: targets.into_iter().map(|t| t.action).collect(),
        at: app.now,
    })]
}

/// The store queued them: say what, track them like single actions, wake the outbox.
pub fn enqueued(
    app: &mut App,
    kind: ActionKind,
    entries: Vec<OutboxEntry>,
    problems: Vec<String>,
) -> Vec<Cmd> {
    // Incidents acted on (an escalation also queues notifications to people).
    let targets = entries
        .iter()
        .filter(|e| e.action.kind != ActionKind::Notify)
        .map(|e| (&e.action.upstream, &e.action.target))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut text = format!(
        "{} of {targets} {} queued",
        kind.as_str(),
        MarkList::Incidents.noun(targets)
    );
    if entries.len() > targets {
        text.push_str(&format!(" ({} actions with notifications)", entries.len()));
    }
    let level = if problems.is_empty() {
        StatusLevel::Info
    } else {
        text.push_str(&format!(
            "; {} not queued: {}",
            problems.len(),
            crate::domain::sanitize::line(&problems[0])
        ));
        StatusLevel::Warning
    };
    app.set_status(level, text);
    app.pending_actions += entries.len() as u64;
    for entry in entries {
        app.tracked_actions.push(entry.id.clone());
        app.open_actions.push(entry);
    }
    app.dirty = true;
    let mut cmds = vec![Cmd::WakeOutbox];
    cmds.extend(load_view(app));
    cmds
}

/// The confirmation's lines: "hubspot: inc-1, inc-2 (+1 more)" per connector.
pub fn target_lines(targets: &[BulkTarget]) -> Vec<String> {
    let pairs: Vec<marks::MarkKey> = targets
        .iter()
        .map(|t| (t.connector.clone(), t.action.target.clone()))
        .collect();
    marks::targets_summary(&pairs, IDS_PER_CONNECTOR)
}
