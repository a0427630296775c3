//! `:` command mode (k9s habits): `:dl`, `:inc`, `:conn [TEXT]`, `:act`, `:runs`, `:rb`,
//! `:resolved`, `:sort [-]COLUMN`, `:help`, `:q` — a view switch (with a filter where given) typed instead of keyed.
//! Tab completes the command word (again: the next candidate), Up/Down walk this session's
//! history, Enter runs, Esc leaves. Unknown commands say which exist.

use super::app::{App, StatusLevel, View};
use super::keymap::{Key, KeyAction};
use super::msg::Cmd;
use crate::domain::sanitize;

/// The prompt while `:` is open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandInput {
    pub text: String,
    /// Position in the history while walking it with Up/Down (None: a new line).
    pub history_at: Option<usize>,
    /// Tab pressed on this prefix: the candidates and the one shown.
    pub completing: Option<(String, usize)>,
}

/// Every command: its names (the first is shown) and what it does.
pub const COMMANDS: &[(&[&str], &str)] = &[
    (
        &["dl", "dead-letters", "deadletters"],
        "dead letters (a filter may follow)",
    ),
    (&["inc", "incidents"], "incidents (a filter may follow)"),
    (&["conn", "connectors"], "connectors (a filter may follow)"),
    (
        &["act", "activity", "outbox"],
        "the outbox and the audit log",
    ),
    (&["runs"], "bulk recovery runs (Activity, runs selected)"),
    (&["metrics"], "metrics (a window may follow: 24h, 7d, 30d)"),
    (&["rb", "runbook"], "the runbook of the selection"),
    (&["resolved"], "resolved incidents (status:resolved)"),
    (
        &["sort"],
        "sort the list by a column (-COLUMN reversed; alone: the default order)",
    ),
    (&["help"], "the keys and the query language"),
    (&["q", "quit"], "quit"),
];

/// Names a prefix could complete to, in the table's order (each command once, by its first
/// name that starts with the prefix).
pub fn candidates(prefix: &str) -> Vec<&'static str> {
    COMMANDS
        .iter()
        .filter_map(|(names, _)| names.iter().find(|n| n.starts_with(prefix)).copied())
        .collect()
}

pub fn open(app: &mut App) {
    app.command_input = Some(CommandInput::default());
    app.dirty = true;
}

pub fn on_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    let Some(input) = app.command_input.as_mut() else {
        return Vec::new();
    };
    match key.name() {
        "esc" => app.command_input = None,
        "ctrl-c" => {
            app.should_quit = true;
            return vec![Cmd::Quit];
        }
        "enter" => {
            let line = input.text.trim().to_string();
            app.command_input = None;
            if line.is_empty() {
                return Vec::new();
            }
            app.command_history.retain(|h| *h != line);
            app.command_history.push(line.clone());
            return run(app, &line);
        }
        "backspace" => {
            input.text.pop();
            input.completing = None;
        }
        "tab" => complete(input),
        "up" => {
            let history = &app.command_history;
            if !history.is_empty() {
                let at = input
                    .history_at
                    .map_or(history.len() - 1, |at| at.saturating_sub(1));
                input.history_at = Some(at);
                input.text = history[at].clone();
            }
        }
        "down" => match input.history_at {
            Some(at) if at + 1 < app.command_history.len() => {
                input.history_at = Some(at + 1);
                input.text = app.command_history[at + 1].clone();
            }
            Some(_) => {
                input.history_at = None;
                input.text.clear();
            }
            None => {}
        },
        _ => {
            if let Some(c) = key.typed_char() {
                input.text.push(c);
                input.completing = None;
            }
        }
    }
    app.dirty = true;
    Vec::new()
}

/// Tab: the command word completes to the next candidate for what was typed.
fn complete(input: &mut CommandInput) {
    if input.text.contains(' ') {
        return;
    }
    let (prefix, next) = match &input.completing {
        Some((prefix, shown)) => (prefix.clone(), shown + 1),
        None => (input.text.clone(), 0),
    };
    let found = candidates(&prefix);
    if found.is_empty() {
        return;
    }
    let shown = next % found.len();
    input.text = found[shown].to_string();
    input.completing = Some((prefix, shown));
}

/// Runs one command line.
pub fn run(app: &mut App, line: &str) -> Vec<Cmd> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let Some((names, _)) = COMMANDS.iter().find(|(names, _)| names.contains(&word)) else {
        let known: Vec<String> = COMMANDS.iter().map(|(n, _)| format!(":{}", n[0])).collect();
        app.set_status(
            StatusLevel::Warning,
            format!(
                "unknown command :{} (there are {})",
                sanitize::line(word),
                known.join(" ")
            ),
        );
        return Vec::new();
    };
    let view_with = |app: &mut App, view: View, filter: Option<&str>| {
        let mut cmds = super::keys::switch_view(app, view);
        if let Some(text) = filter {
            cmds.extend(super::filter::set_filter(app, text));
        }
        cmds
    };
    let filter = (!rest.is_empty()).then_some(rest);
    match names[0] {
        "dl" => view_with(app, View::DeadLetters, filter),
        "inc" => view_with(app, View::Incidents, filter),
        "conn" => view_with(app, View::Connectors, filter),
        "act" => view_with(app, View::Activity, filter),
        "runs" => {
            let cmds = view_with(app, View::Activity, None);
            app.activity.runs_focus = !app.activity.runs.is_empty();
            cmds
        }
        "rb" => super::keys::switch_view(app, View::Runbook),
        "metrics" => {
            let span = match rest {
                "" => None,
                text => match super::metrics::MetricsSpan::parse(text) {
                    Some(span) => Some(span),
                    None => {
                        app.set_status(
                            StatusLevel::Warning,
                            format!(
                                "no window {:?}: :metrics 24h, 7d or 30d",
                                sanitize::line(text)
                            ),
                        );
                        return Vec::new();
                    }
                },
            };
            if let Some(span) = span {
                app.metrics.span = span;
            }
            super::keys::switch_view(app, View::Metrics)
        }
        "resolved" => view_with(app, View::Incidents, Some("status:resolved")),
        "sort" => super::sort::command(app, rest),
        "help" => super::keys::on_action(app, KeyAction::Help),
        // Like `q`: asks first while actions are pending.
        _ => super::keys::on_action(app, KeyAction::Quit),
    }
}
