//! Keys that open things (Enter, `o`) and the operator's actions (ack, un-ack, escalate, resolve,
//! replay, discard, retry) with their confirmation dialogs. Actions become `StoreCmd::Enqueue`;
//! the outbox worker sends them.

use super::app::{App, Dialog, StatusLevel, View};
use super::keymap::{Key, KeyAction};
use super::msg::{Cmd, StoreCmd};
use super::views::dead_letters::preview_of;
use crate::domain::{Action, ActionKind, IncidentStatus, OutboxState, sanitize};
use crate::store::PREVIEW_BYTES;

/// A mutating key (read-only mode was already checked).
pub fn mutate(app: &mut App, action: KeyAction) -> Vec<Cmd> {
    match action {
        KeyAction::Ack => incident_action(app, ActionKind::Ack),
        KeyAction::Unack => incident_action(app, ActionKind::Unack),
        KeyAction::Escalate => incident_action(app, ActionKind::Escalate),
        KeyAction::Resolve => incident_action(app, ActionKind::Resolve),
        KeyAction::Replay => confirm_dead_letter(app, ActionKind::Replay),
        KeyAction::Discard => confirm_dead_letter(app, ActionKind::Discard),
        KeyAction::Retry => retry(app),
        _ => Vec::new(),
    }
}

fn incident_action(app: &mut App, kind: ActionKind) -> Vec<Cmd> {
    if app.view != View::Incidents {
        app.set_status(
            StatusLevel::Info,
            format!(
                "{} works on incidents: press 2, select one, then {}",
                kind.as_str(),
                first_key(app, kind)
            ),
        );
        return Vec::new();
    }
    if !app.marks.incidents.is_empty() {
        return super::bulk::prepare_incidents(app, kind);
    }
    let Some(incident) = app.selected_incident() else {
        app.set_status(StatusLevel::Info, "no incident selected");
        return Vec::new();
    };
    let id = sanitize::line(&incident.id);
    if let Some(entry) = app
        .action_on(&incident.upstream, &incident.id)
        .filter(|e| e.state == OutboxState::Pending)
    {
        app.set_status(
            StatusLevel::Info,
            format!("{} of {id} is already pending", entry.action.kind.as_str()),
        );
        return Vec::new();
    }
    let refusal = refusal(kind, incident);
    if let Some(refusal) = refusal {
        app.set_status(StatusLevel::Info, refusal);
        return Vec::new();
    }
    let action = incident_action_for(kind, incident, &app.operator);
    if key_action(kind).is_some_and(|action| app.keymap.confirms(action)) {
        let what = match kind {
            ActionKind::Escalate => "Takes its chain's next step now: the next level is paged.",
            ActionKind::Resolve => {
                "Resolves it upstream (held 10 s first: U undoes it); it leaves the open list."
            }
            ActionKind::Unack => "It is open again and its ack clock and escalation resume.",
            _ => "Sends it to the upstream.",
        };
        let verb = match kind {
            ActionKind::Escalate => "Escalate",
            ActionKind::Resolve => "Resolve",
            ActionKind::Unack => "Un-ack",
            _ => "Ack",
        };
        app.dialog = Some(Dialog::ConfirmAction {
            title: format!("{verb} {id}?"),
            subject: vec![
                (
                    "incident".into(),
                    format!("{} ({})", id, sanitize::line(&incident.upstream)),
                ),
                ("title".into(), sanitize::line(&incident.title)),
                ("connector".into(), sanitize::line(&incident.connector)),
            ],
            what: what.into(),
            action: Box::new(action),
        });
        return Vec::new();
    }
    vec![super::undo::enqueue(app, action)]
}

/// The key action of an action kind (None: notifications have no key).
fn key_action(kind: ActionKind) -> Option<KeyAction> {
    Some(match kind {
        ActionKind::Ack => KeyAction::Ack,
        ActionKind::Unack => KeyAction::Unack,
        ActionKind::Escalate => KeyAction::Escalate,
        ActionKind::Resolve => KeyAction::Resolve,
        ActionKind::Replay => KeyAction::Replay,
        ActionKind::Discard => KeyAction::Discard,
        ActionKind::Notify => return None,
    })
}

/// Why `kind` does not apply to `incident` as it stands (None: it does).
pub fn refusal(kind: ActionKind, incident: &crate::domain::Incident) -> Option<String> {
    let id = sanitize::line(&incident.id);
    match (kind, incident.status) {
        (_, IncidentStatus::Resolved) => Some(format!("{id} is already resolved")),
        (ActionKind::Ack, IncidentStatus::Acknowledged) => Some(format!(
            "{id} is already acknowledged by {}",
            sanitize::line(incident.acked_by.as_deref().unwrap_or("someone"))
        )),
        (ActionKind::Unack, IncidentStatus::Open) => {
            Some(format!("{id} is not acknowledged: nothing to un-ack"))
        }
        _ => None,
    }
}

/// The upstream action `kind` on `incident` by `operator`.
pub fn incident_action_for(
    kind: ActionKind,
    incident: &crate::domain::Incident,
    operator: &str,
) -> Action {
    Action {
        kind,
        upstream: incident.upstream.clone(),
        target: incident.id.clone(),
        operator: operator.to_string(),
        note: None,
        level: (kind == ActionKind::Escalate).then_some(incident.escalation_level + 1),
        payload: None,
        destination: None,
        drop_ttl: false,
    }
}

fn first_key(app: &App, kind: ActionKind) -> String {
    let Some(action) = key_action(kind) else {
        return kind.as_str().to_string();
    };
    app.keymap
        .keys_for(action)
        .first()
        .map_or_else(|| kind.as_str().to_string(), |k| k.name().to_string())
}

fn confirm_dead_letter(app: &mut App, kind: ActionKind) -> Vec<Cmd> {
    if app.view != View::DeadLetters {
        app.set_status(
            StatusLevel::Info,
            format!(
                "{} works on dead letters: press 3, select one, then {}",
                kind.as_str(),
                first_key(app, kind)
            ),
        );
        return Vec::new();
    }
    if !app.marks.dead_letters.is_empty() {
        return super::runs::prepare(app, kind);
    }
    // The open detail's letter, else the selected row's (by id: the cursor follows its item).
    let selected = match &app.dead_letters.detail {
        Some(d) => {
            let dl = &d.letter;
            let head = &dl.payload[..dl.payload.len().min(PREVIEW_BYTES)];
            Some(Target {
                upstream: dl.upstream.clone(),
                id: dl.id.clone(),
                connector: dl.connector.clone(),
                error: format!("{}: {}", dl.error.code, dl.error.message),
                attempts: dl.attempts,
                payload: preview_of(head, dl.payload.len() as u64),
            })
        }
        None => app.dead_letters.list.selected_row().map(|r| Target {
            upstream: r.upstream.clone(),
            id: r.id.clone(),
            connector: r.connector.clone(),
            error: format!("{}: {}", r.error_code, r.error_message),
            attempts: r.attempts,
            payload: preview_of(&r.preview, r.payload_len),
        }),
    };
    let Some(Target {
        upstream,
        id,
        connector,
        error,
        attempts,
        payload,
    }) = selected
    else {
        app.set_status(StatusLevel::Info, "no dead letter selected");
        return Vec::new();
    };
    if app.refuse_while_pending(&upstream, &id) {
        return Vec::new();
    }
    let destination = app
        .config
        .connector(&connector)
        .map(|c| c.destination.clone())
        .or_else(|| {
            app.connectors
                .rows
                .iter()
                .find(|r| r.connector.id == connector)
                .and_then(|r| r.connector.destination.clone())
        })
        .unwrap_or_else(|| "(unknown destination)".into());
    let routes = replay_routes(app, kind, &upstream);
    app.dialog = Some(Dialog::ConfirmDeadLetter {
        kind,
        upstream,
        id,
        connector,
        destination,
        error,
        attempts,
        payload,
        routes,
        route: 0,
        drop_ttl: false,
    });
    Vec::new()
}

/// The label of the default route in [`Dialog::ConfirmDeadLetter::routes`].
pub const LAST_ORIGIN: &str = "last origin";

/// Where a replay on `upstream` may go: on RabbitMQ its last origin, its first origin, or any
/// work queue of that upstream's connectors; on SQS its source queue or any bound source queue;
/// nothing to choose elsewhere.
fn replay_routes(app: &App, kind: ActionKind, upstream: &str) -> Vec<String> {
    let upstream_kind = app.config.upstream(upstream).map(|u| u.kind);
    let mut routes = match upstream_kind {
        Some(crate::domain::UpstreamKind::Rabbitmq) if kind == ActionKind::Replay => {
            vec![LAST_ORIGIN.to_string(), "first-origin".to_string()]
        }
        Some(crate::domain::UpstreamKind::Sqs) if kind == ActionKind::Replay => {
            vec![LAST_ORIGIN.to_string()]
        }
        _ => return Vec::new(),
    };
    for connector in app
        .config
        .connectors
        .iter()
        .filter(|c| c.upstream == upstream)
    {
        if let Some(queue) = &connector.queue {
            let route = format!("queue:{queue}");
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
    }
    routes
}

/// The dead letter a replay or discard would act on.
struct Target {
    upstream: String,
    id: String,
    connector: String,
    error: String,
    attempts: u32,
    payload: String,
}

fn retry(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Activity {
        app.set_status(
            StatusLevel::Info,
            "retry works on failed actions: press 5, select one, then R",
        );
        return Vec::new();
    }
    match app.activity.selected() {
        Some(entry) if entry.state == OutboxState::Failed => {
            let mut action = entry.action.clone();
            action.operator = app.operator.clone();
            if app.keymap.confirms(KeyAction::Retry) {
                app.dialog = Some(Dialog::ConfirmAction {
                    title: format!("Retry {}?", action.kind.as_str()),
                    subject: vec![
                        (
                            "action".into(),
                            format!(
                                "{} of {}:{}",
                                action.kind.as_str(),
                                sanitize::line(&action.upstream),
                                sanitize::line(&action.target)
                            ),
                        ),
                        (
                            "failed".into(),
                            sanitize::line(entry.last_error.as_deref().unwrap_or("")),
                        ),
                    ],
                    what: "Sends it again, as a new action with its own idempotency key.".into(),
                    action: Box::new(action),
                });
                return Vec::new();
            }
            vec![Cmd::store(StoreCmd::Enqueue {
                action,
                at: app.now,
            })]
        }
        Some(entry) => {
            app.set_status(
                StatusLevel::Info,
                format!(
                    "only failed actions can be retried (this one is {})",
                    entry.state.as_str()
                ),
            );
            Vec::new()
        }
        None => {
            app.set_status(StatusLevel::Info, "no action selected");
            Vec::new()
        }
    }
}

/// y / Enter confirms, n / Esc cancels; in a RabbitMQ replay dialog `t` changes where it goes
/// and `T` whether the message's TTL is restored; anything else leaves the dialog open.
pub fn on_dialog_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    if matches!(app.dialog, Some(Dialog::ConfirmEdited { .. })) {
        return super::edit::on_dialog_key(app, key.name());
    }
    if let Some(Dialog::ConfirmDeadLetter {
        routes,
        route,
        drop_ttl,
        ..
    }) = app.dialog.as_mut()
        && !routes.is_empty()
    {
        match key.name() {
            "t" => {
                *route = (*route + 1) % routes.len();
                return Vec::new();
            }
            "T" => {
                *drop_ttl = !*drop_ttl;
                return Vec::new();
            }
            _ => {}
        }
    }
    let confirmed = match key.name() {
        "y" | "Y" | "enter" => true,
        "n" | "N" | "esc" => false,
        _ => {
            app.set_status(
                StatusLevel::Info,
                "y or Enter to confirm, n or Esc to cancel",
            );
            return Vec::new();
        }
    };
    let Some(dialog) = app.dialog.take() else {
        return Vec::new();
    };
    if !confirmed {
        app.set_status(StatusLevel::Info, "cancelled");
        return Vec::new();
    }
    app.status = None;
    match dialog {
        Dialog::ConfirmRun { plan } => super::runs::confirm(app, plan),
        Dialog::ConfirmIncidents { kind, targets, .. } => {
            super::bulk::confirm_incidents(app, kind, targets)
        }
        Dialog::ConfirmQuit { .. } => {
            app.should_quit = true;
            vec![Cmd::Quit]
        }
        Dialog::ConfirmRunCancel { id, .. } => super::runs_list::confirm_cancel(app, id),
        Dialog::ConfirmAction { action, .. } => vec![super::undo::enqueue(app, *action)],
        // Answered by `edit::on_dialog_key` above.
        Dialog::ConfirmEdited { .. } => Vec::new(),
        Dialog::ConfirmDeadLetter {
            kind,
            upstream,
            id,
            routes,
            route,
            drop_ttl,
            ..
        } => {
            let destination = routes.get(route).filter(|_| route > 0).cloned();
            let action = Action {
                kind,
                upstream,
                target: id,
                operator: app.operator.clone(),
                note: None,
                level: None,
                payload: None,
                destination,
                drop_ttl,
            };
            vec![Cmd::store(StoreCmd::Enqueue {
                action,
                at: app.now,
            })]
        }
    }
}
