//! Edit before replay from the console (#11 point 9), the `update` side: `E` on a dead letter
//! asks the store for it, the runtime gives the terminal to `$EDITOR` (`Cmd::EditPayload`) and
//! reviews what was saved (`crate::editor::review`), and a dialog shows the diff, the sizes and
//! the contract check. `y` queues the edited bytes as the replay's payload with a
//! `replay.edited` audit row; a contract violation needs `f` (force) first; `j`/`k` scroll.

use super::app::{App, Dialog, StatusLevel, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::edit::{EditDraft, EditReview};
use crate::domain::{Action, ActionKind, DeadLetter, sanitize};

/// `E`: the letter of the open detail, else the selected row.
pub fn start(app: &mut App) -> Vec<Cmd> {
    if app.view != View::DeadLetters {
        app.set_status(
            StatusLevel::Info,
            "edit works on dead letters: press 3, select one, then E",
        );
        return Vec::new();
    }
    let selected = match &app.dead_letters.detail {
        Some(d) => Some((d.letter.upstream.clone(), d.letter.id.clone())),
        None => app
            .dead_letters
            .list
            .selected_row()
            .map(|r| (r.upstream.clone(), r.id.clone())),
    };
    let Some((upstream, id)) = selected else {
        app.set_status(StatusLevel::Info, "no dead letter selected");
        return Vec::new();
    };
    if app.refuse_while_pending(&upstream, &id) {
        return Vec::new();
    }
    vec![Cmd::store(StoreCmd::LoadForEdit { upstream, id })]
}

/// The store's answer to `E`: hand the payload to the editor, or say why not.
pub fn on_loaded(app: &mut App, letter: Option<Box<DeadLetter>>) -> Vec<Cmd> {
    let Some(letter) = letter else {
        app.set_status(
            StatusLevel::Warning,
            "that dead letter is no longer in the store",
        );
        return Vec::new();
    };
    match EditDraft::of(&letter.payload) {
        Ok(draft) => vec![Cmd::EditPayload { letter, draft }],
        Err(refusal) => {
            app.set_status(
                StatusLevel::Warning,
                format!("{}: {refusal}", sanitize::line(&letter.id)),
            );
            Vec::new()
        }
    }
}

/// What the editor saved, reviewed: the confirmation dialog, or why nothing is sent.
pub fn on_reviewed(app: &mut App, review: Result<Box<EditReview>, String>) -> Vec<Cmd> {
    match review {
        Ok(review) => {
            app.dialog = Some(Dialog::ConfirmEdited {
                review,
                force: false,
                scroll: 0,
            });
        }
        Err(why) => app.set_status(StatusLevel::Info, sanitize::line(&why)),
    }
    Vec::new()
}

/// Keys of the edited-replay dialog: `y`/Enter replays (a violation needs `f` first), `f`
/// toggles force, `j`/`k`/arrows scroll the diff, `n`/Esc cancels.
pub fn on_dialog_key(app: &mut App, name: &str) -> Vec<Cmd> {
    let Some(Dialog::ConfirmEdited {
        review,
        force,
        scroll,
    }) = app.dialog.as_mut()
    else {
        return Vec::new();
    };
    match name {
        "f" => *force = !*force,
        "j" | "down" => *scroll = (*scroll + 1).min(review.diff.len().saturating_sub(1)),
        "k" | "up" => *scroll = scroll.saturating_sub(1),
        "n" | "N" | "esc" => {
            app.dialog = None;
            app.set_status(StatusLevel::Info, "edit discarded: nothing replayed");
        }
        "y" | "Y" | "enter" => {
            if review.violation.is_some() && !*force {
                app.set_status(
                    StatusLevel::Warning,
                    "the edited payload violates its contract: f to send it anyway, n to drop it",
                );
                return Vec::new();
            }
            let Some(Dialog::ConfirmEdited { review, .. }) = app.dialog.take() else {
                return Vec::new();
            };
            app.status = None;
            let detail = review.audit_detail();
            let action = Action {
                kind: ActionKind::Replay,
                upstream: review.upstream,
                target: review.id,
                operator: app.operator.clone(),
                note: None,
                level: None,
                payload: Some(review.edited),
                destination: None,
                drop_ttl: false,
            };
            return vec![Cmd::store(StoreCmd::EnqueueEdited {
                action,
                detail,
                at: app.now,
            })];
        }
        _ => app.set_status(
            StatusLevel::Info,
            "y replay the edit · f force past the contract · j/k scroll · n drop it",
        ),
    }
    Vec::new()
}
