//! Undo of a resolve: a resolve confirmed in the console is held [`RESOLVE_HOLD_SECS`] seconds in
//! the outbox before it is sent; `U` in that time withdraws it (`Store::undo_action`). After that
//! the upstream has it and `U` says so.

use chrono::Duration;

use super::app::{App, StatusLevel};
use super::msg::{Cmd, StoreCmd};
use crate::domain::{ActionKind, OutboxEntry, sanitize};

/// Seconds a resolve waits in the outbox for a change of mind.
pub const RESOLVE_HOLD_SECS: i64 = 10;

/// The last held action this console queued: `U` can still withdraw it until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undoable {
    pub outbox_id: String,
    pub kind: ActionKind,
    pub target: String,
    pub until: crate::domain::Timestamp,
}

/// The command that queues a confirmed action: resolves are held, the rest go at once.
pub fn enqueue(app: &App, action: crate::domain::Action) -> Cmd {
    if action.kind == ActionKind::Resolve {
        Cmd::store(StoreCmd::EnqueueHeld {
            action,
            at: app.now,
            hold_until: app.now + Duration::seconds(RESOLVE_HOLD_SECS),
        })
    } else {
        Cmd::store(StoreCmd::Enqueue {
            action,
            at: app.now,
        })
    }
}

/// A held action was queued: remember it and say how to take it back.
pub fn held(app: &mut App, entry: &OutboxEntry) {
    app.undoable = Some(Undoable {
        outbox_id: entry.id.clone(),
        kind: entry.action.kind,
        target: entry.action.target.clone(),
        until: entry.next_attempt_at,
    });
    app.set_status(
        StatusLevel::Info,
        format!(
            "{} of {} is sent in {RESOLVE_HOLD_SECS} s: U undoes it",
            entry.action.kind.as_str(),
            sanitize::line(&entry.action.target)
        ),
    );
}

/// `U`.
pub fn undo(app: &mut App) -> Vec<Cmd> {
    match app.undoable.take() {
        Some(u) if app.now < u.until => vec![Cmd::store(StoreCmd::Undo {
            outbox_id: u.outbox_id,
            what: format!("{} of {}", u.kind.as_str(), sanitize::line(&u.target)),
            operator: app.operator.clone(),
            at: app.now,
        })],
        Some(u) => {
            app.set_status(
                StatusLevel::Info,
                format!(
                    "{} of {} was sent: the upstream has it (nothing to undo here)",
                    u.kind.as_str(),
                    sanitize::line(&u.target)
                ),
            );
            Vec::new()
        }
        None => {
            app.set_status(
                StatusLevel::Info,
                "nothing to undo (U takes back a resolve for 10 s)",
            );
            Vec::new()
        }
    }
}

/// The store's answer.
pub fn done(app: &mut App, what: String, withdrawn: bool) -> Vec<Cmd> {
    if withdrawn {
        app.set_status(
            StatusLevel::Success,
            format!("{what} undone: it was not sent"),
        );
    } else {
        app.set_status(
            StatusLevel::Warning,
            format!("{what} was already being sent: too late to undo"),
        );
    }
    super::update::load_view(app)
}
