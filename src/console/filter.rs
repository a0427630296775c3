//! The `/` filter: typing into the prompt, and the filter text of each view. Incidents, dead
//! letters and Activity's actions are filtered by the store over the whole list (see `paging`);
//! the connectors (all loaded) are filtered in place.

use super::app::{App, View};
use super::keymap::Key;
use super::msg::{Cmd, StoreCmd};

pub fn on_filter_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    let Some(input) = app.filter_input.as_mut() else {
        return Vec::new();
    };
    match key.name() {
        "esc" => {
            app.filter_input = None;
            set_filter(app, "")
        }
        "enter" => {
            let text = input.text.clone();
            app.filter_input = None;
            set_filter(app, &text)
        }
        "backspace" => {
            input.text.pop();
            let text = input.text.clone();
            set_filter(app, &text)
        }
        "ctrl-c" => {
            app.should_quit = true;
            vec![Cmd::Quit]
        }
        _ => match key.typed_char() {
            Some(c) => {
                input.text.push(c);
                let text = input.text.clone();
                set_filter(app, &text)
            }
            None => Vec::new(),
        },
    }
}

pub fn current_filter(app: &App) -> String {
    match app.view {
        View::Connectors => app.connectors.filter.clone(),
        View::Incidents => app.incidents.filter.clone(),
        View::DeadLetters => app.dead_letters.list.filter.clone(),
        View::Activity => app.activity.list.filter.clone(),
        View::Runbook => String::new(),
    }
}

/// Sets the current view's filter; for the paged lists, the store query for its first page.
pub fn set_filter(app: &mut App, text: &str) -> Vec<Cmd> {
    match app.view {
        View::Connectors => {
            app.connectors.filter = text.to_string();
            app.connectors.cursor = 0;
        }
        View::Incidents => {
            if let Some((seq, request)) = app.incidents.set_filter(text) {
                return vec![Cmd::store(StoreCmd::LoadIncidents {
                    seq,
                    request,
                    connector: None,
                })];
            }
        }
        View::DeadLetters => {
            if let Some((seq, request)) = app.dead_letters.list.set_filter(text) {
                return vec![Cmd::store(StoreCmd::LoadDeadLetters {
                    seq,
                    request,
                    connector: app.dead_letters.connector.clone(),
                })];
            }
        }
        View::Activity => {
            if let Some((seq, request)) = app.activity.list.set_filter(text) {
                return vec![Cmd::store(StoreCmd::LoadActivity { seq, request })];
            }
        }
        View::Runbook => {}
    }
    Vec::new()
}
