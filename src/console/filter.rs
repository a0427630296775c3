//! The `/` filter: typing into the prompt, and the filter text of each view. Incidents, dead
//! letters and Activity's actions are filtered by the store over the whole list (see `paging`);
//! incidents and dead letters take the query language (`domain::query`), whose errors show in
//! the filter line while the last good filter stays applied; the connectors (all loaded) are
//! filtered in place.

use super::app::{App, View};
use super::keymap::Key;
use super::msg::{Cmd, StoreCmd};
use crate::domain::query::QueryError;

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
            // A text that does not parse stays in the prompt with its error: Enter cannot
            // leave a filter line that says one thing while another is applied.
            let text = input.text.clone();
            if filter_error(app).is_some() {
                return Vec::new();
            }
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
        View::Runbook | View::Metrics => String::new(),
    }
}

/// Why the text typed into the current view's filter is not applied (a query that does not
/// parse); the last good filter stays applied meanwhile.
pub fn filter_error(app: &App) -> Option<&QueryError> {
    let error = match app.view {
        View::Incidents => app.incidents.filter_error(),
        View::DeadLetters => app.dead_letters.list.filter_error(),
        View::Activity => app.activity.list.filter_error(),
        View::Connectors | View::Runbook | View::Metrics => None,
    };
    error.map(|(_, e)| e)
}

/// Sets the current view's filter; for the paged lists, the store query for its first page.
pub fn set_filter(app: &mut App, text: &str) -> Vec<Cmd> {
    let now = app.now;
    match app.view {
        View::Connectors => {
            app.connectors.filter = text.to_string();
            app.connectors.cursor = 0;
        }
        View::Incidents => {
            if let Some((seq, request)) = app.incidents.set_filter(text, now) {
                return vec![Cmd::store(StoreCmd::LoadIncidents {
                    seq,
                    request,
                    connector: None,
                })];
            }
        }
        View::DeadLetters => {
            if let Some((seq, request)) = app.dead_letters.list.set_filter(text, now) {
                return vec![Cmd::store(StoreCmd::LoadDeadLetters {
                    seq,
                    request,
                    connector: app.dead_letters.connector.clone(),
                })];
            }
        }
        View::Activity => {
            if let Some((seq, request)) = app.activity.list.set_filter(text, now) {
                return vec![Cmd::store(StoreCmd::LoadActivity { seq, request })];
            }
        }
        View::Runbook | View::Metrics => {}
    }
    Vec::new()
}
