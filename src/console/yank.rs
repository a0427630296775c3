//! `y` copies the selected row's id and `Y` a dead letter's whole payload to the clipboard by
//! OSC 52 — the terminal (or tmux with `set-clipboard on`) takes it, so it works over SSH. The
//! runtime writes the sequence (`Cmd::Yank`); terminals that do not take OSC 52 (TERM=linux,
//! dumb) are told so instead of being sent it; more than [`MAX_YANK_BYTES`] is refused (xterm
//! and others drop longer sequences silently).

use base64::Engine;

use super::app::{App, StatusLevel, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::sanitize;

/// Bytes that still fit the ~100 KB OSC 52 limit of common terminals once base64-encoded.
pub const MAX_YANK_BYTES: usize = 74_000;

/// The OSC 52 sequence that puts `bytes` on the clipboard.
pub fn osc52(bytes: &[u8]) -> String {
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Whether the terminal `term` ($TERM) may take OSC 52.
pub fn terminal_takes_osc52(term: Option<&str>) -> bool {
    !matches!(term, Some("linux" | "dumb" | "vt100" | "vt220") | None)
}

/// `y`: the id of the selected row (or open detail) of the current view.
pub fn id(app: &mut App) -> Vec<Cmd> {
    let id = match app.view {
        View::Incidents => app.selected_incident().map(|i| i.id.clone()),
        View::DeadLetters => app
            .dead_letters
            .detail
            .as_ref()
            .map(|d| d.letter.id.clone())
            .or_else(|| app.dead_letters.list.selected_row().map(|r| r.id.clone())),
        View::Connectors => app.connectors.selected().map(|r| r.connector.id.clone()),
        View::Activity if app.activity.runs_focus => {
            app.activity.selected_run().map(|r| r.id.clone())
        }
        View::Activity => app.activity.selected().map(|e| e.id.clone()),
        View::Metrics => super::metrics::rows(app)
            .get(app.metrics.cursor)
            .and_then(|r| r.connector.clone().or_else(|| r.team.clone())),
        View::Runbook => None,
    };
    match id {
        Some(id) => vec![Cmd::Yank {
            what: format!("id {}", sanitize::line(&id)),
            bytes: id.into_bytes(),
        }],
        None => {
            app.set_status(StatusLevel::Info, "nothing selected to copy");
            Vec::new()
        }
    }
}

/// `Y`: the selected dead letter's whole payload (read from the store).
pub fn payload(app: &mut App) -> Vec<Cmd> {
    if app.view != View::DeadLetters {
        app.set_status(
            StatusLevel::Info,
            "Y copies a dead letter's payload: press 3 and select one (y copies ids anywhere)",
        );
        return Vec::new();
    }
    if let Some(detail) = &app.dead_letters.detail {
        let letter = &detail.letter;
        return vec![Cmd::Yank {
            what: format!("the payload of {}", sanitize::line(&letter.id)),
            bytes: letter.payload.clone(),
        }];
    }
    match app.dead_letters.list.selected_row() {
        Some(row) => vec![Cmd::store(StoreCmd::LoadForYank {
            upstream: row.upstream.clone(),
            id: row.id.clone(),
        })],
        None => {
            app.set_status(StatusLevel::Info, "no dead letter selected");
            Vec::new()
        }
    }
}

/// The store's answer to `Y` on a list row.
pub fn loaded(app: &mut App, letter: Option<Box<crate::domain::DeadLetter>>) -> Vec<Cmd> {
    match letter {
        Some(letter) => vec![Cmd::Yank {
            what: format!("the payload of {}", sanitize::line(&letter.id)),
            bytes: letter.payload,
        }],
        None => {
            app.set_status(
                StatusLevel::Warning,
                "that dead letter is no longer in the store",
            );
            Vec::new()
        }
    }
}
