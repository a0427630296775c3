//! The `/` filter: typing into the prompt, and the filter text of each view (applied client-side
//! to the rows loaded on the current page).

use super::app::{App, View};
use super::keymap::Key;
use super::msg::Cmd;

pub fn on_filter_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    let Some(input) = app.filter_input.as_mut() else {
        return Vec::new();
    };
    match key.name() {
        "esc" => {
            app.filter_input = None;
            set_filter(app, "");
        }
        "enter" => {
            let text = input.text.clone();
            app.filter_input = None;
            set_filter(app, &text);
        }
        "backspace" => {
            input.text.pop();
            let text = input.text.clone();
            set_filter(app, &text);
        }
        "ctrl-c" => {
            app.should_quit = true;
            return vec![Cmd::Quit];
        }
        _ => {
            if let Some(c) = key.typed_char() {
                input.text.push(c);
                let text = input.text.clone();
                set_filter(app, &text);
            }
        }
    }
    Vec::new()
}

pub fn current_filter(app: &App) -> String {
    match app.view {
        View::Connectors => app.connectors.filter.clone(),
        View::Incidents => app.incidents.filter.clone(),
        View::DeadLetters => app.dead_letters.list.filter.clone(),
        View::Activity => app.activity.filter.clone(),
        View::Runbook => String::new(),
    }
}

pub fn set_filter(app: &mut App, text: &str) {
    match app.view {
        View::Connectors => {
            app.connectors.filter = text.to_string();
            app.connectors.cursor = 0;
        }
        View::Incidents => app.incidents.set_filter(text),
        View::DeadLetters => app.dead_letters.list.set_filter(text),
        View::Activity => {
            app.activity.filter = text.to_string();
            app.activity.cursor = 0;
        }
        View::Runbook => {}
    }
}
