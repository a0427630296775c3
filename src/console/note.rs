//! `n` adds a note to the selected incident (or the open detail's): a one-line prompt at the
//! bottom, Enter stores it (with author and time, audited) and reloads the detail, Esc drops it.
//! Notes are triage's own record (the upstreams' APIs take none), so read-only mode allows them.

use super::app::{App, StatusLevel, View};
use super::keymap::Key;
use super::msg::{Cmd, StoreCmd};
use crate::domain::note::note_text;
use crate::domain::sanitize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteInput {
    pub upstream: String,
    pub id: String,
    pub text: String,
}

pub fn open(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Incidents {
        app.set_status(
            StatusLevel::Info,
            "notes are on incidents: press 2, select one, then n",
        );
        return Vec::new();
    }
    match app.selected_incident() {
        Some(incident) => {
            app.note_input = Some(NoteInput {
                upstream: incident.upstream.clone(),
                id: incident.id.clone(),
                text: String::new(),
            });
            app.dirty = true;
        }
        None => app.set_status(StatusLevel::Info, "no incident selected"),
    }
    Vec::new()
}

pub fn on_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    let Some(input) = app.note_input.as_mut() else {
        return Vec::new();
    };
    app.dirty = true;
    match key.name() {
        "esc" => {
            app.note_input = None;
            app.set_status(StatusLevel::Info, "note dropped");
        }
        "ctrl-c" => {
            app.should_quit = true;
            return vec![Cmd::Quit];
        }
        "backspace" => {
            input.text.pop();
        }
        "enter" => match note_text(&input.text) {
            Ok(text) => {
                let Some(input) = app.note_input.take() else {
                    return Vec::new();
                };
                return vec![Cmd::store(StoreCmd::AddNote {
                    upstream: input.upstream,
                    id: input.id,
                    operator: app.operator.clone(),
                    text,
                    at: app.now,
                })];
            }
            Err(why) => app.set_status(StatusLevel::Warning, why),
        },
        _ => {
            if let Some(c) = key.typed_char() {
                input.text.push(c);
            }
        }
    }
    Vec::new()
}

/// The store kept it: say so and show it in the detail.
pub fn added(app: &mut App, upstream: &str, id: &str) -> Vec<Cmd> {
    app.set_status(
        StatusLevel::Success,
        format!("note added to {}", sanitize::line(id)),
    );
    let open = app
        .incident_detail
        .as_ref()
        .is_some_and(|d| d.is_of(upstream, id));
    if open {
        return super::update::load_view(app);
    }
    Vec::new()
}
