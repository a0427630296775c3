//! Key handling for `update`: the filter prompt, dialogs, help, then the keymap's actions
//! (navigation here, mutating actions in `actions`).

use super::app::{App, Dialog, FilterInput, StatusLevel, View};
use super::filter::{current_filter, on_filter_key, set_filter};
use super::keymap::{Key, KeyAction};
use super::msg::{Cmd, StoreCmd};
use super::scroll::Scroll;
use super::update::load_view;
use super::{actions, marks, open};

pub fn on_key(app: &mut App, key: &Key) -> Vec<Cmd> {
    // Ctrl-Z suspends from anywhere: a prompt or a dialog stays as it is for after `fg`.
    if app.keymap.action(key) == Some(KeyAction::Suspend) {
        return vec![Cmd::Suspend];
    }
    if app.filter_input.is_some() {
        return on_filter_key(app, key);
    }
    if app.command_input.is_some() {
        return super::command::on_key(app, key);
    }
    if app.note_input.is_some() {
        return super::note::on_key(app, key);
    }
    let action = app.keymap.action(key);
    if action == Some(KeyAction::ForceQuit) {
        app.should_quit = true;
        return vec![Cmd::Quit];
    }
    if app.dialog.is_some() {
        return actions::on_dialog_key(app, key);
    }
    if let Some(scroll) = app.help {
        match action {
            Some(KeyAction::Help | KeyAction::Back | KeyAction::Quit) => app.help = None,
            Some(KeyAction::Down) => app.help = Some(scroll.saturating_add(1)),
            Some(KeyAction::Up) => app.help = Some(scroll.saturating_sub(1)),
            Some(KeyAction::Top) => app.help = Some(0),
            _ => {}
        }
        return Vec::new();
    }
    let Some(action) = action else {
        app.set_status(
            StatusLevel::Info,
            format!("{} is not bound here (? shows the keys)", key.name()),
        );
        return Vec::new();
    };
    if action.is_mutating() && app.read_only {
        app.set_status(
            StatusLevel::Warning,
            format!(
                "read-only: {} is disabled (started with --read-only or read_only = true)",
                action.label()
            ),
        );
        return Vec::new();
    }
    app.status = None;
    on_action(app, action)
}

pub(super) fn on_action(app: &mut App, action: KeyAction) -> Vec<Cmd> {
    match action {
        KeyAction::Quit => {
            if app.pending_actions > 0 {
                app.dialog = Some(Dialog::ConfirmQuit {
                    pending: app.pending_actions,
                });
                Vec::new()
            } else {
                app.should_quit = true;
                vec![Cmd::Quit]
            }
        }
        KeyAction::ForceQuit => {
            app.should_quit = true;
            vec![Cmd::Quit]
        }
        KeyAction::Suspend => vec![Cmd::Suspend],
        KeyAction::Help => {
            app.help = Some(0);
            Vec::new()
        }
        KeyAction::Down => move_by(app, 1),
        KeyAction::Up => move_by(app, -1),
        KeyAction::PageDown => move_by(app, app.body_rows() as isize),
        KeyAction::PageUp => move_by(app, -(app.body_rows() as isize)),
        KeyAction::Top => top_or_bottom(app, true),
        KeyAction::Bottom => top_or_bottom(app, false),
        KeyAction::NextView => {
            switch_view(app, View::ALL[(app.view.index() + 1) % View::ALL.len()])
        }
        KeyAction::PrevView => switch_view(
            app,
            View::ALL[(app.view.index() + View::ALL.len() - 1) % View::ALL.len()],
        ),
        KeyAction::ViewConnectors => switch_view(app, View::Connectors),
        KeyAction::ViewIncidents => switch_view(app, View::Incidents),
        KeyAction::ViewDeadLetters => switch_view(app, View::DeadLetters),
        KeyAction::ViewRunbook => switch_view(app, View::Runbook),
        KeyAction::ViewActivity => switch_view(app, View::Activity),
        KeyAction::ViewMetrics => switch_view(app, View::Metrics),
        KeyAction::MetricsWindow => super::metrics::next_span(app),
        KeyAction::MetricsBy => super::metrics::toggle_by(app),
        KeyAction::Open => open::open(app),
        KeyAction::Back => back(app),
        KeyAction::OpenRunbook => open::open_runbook(app),
        KeyAction::Filter => {
            if app.view == View::Runbook {
                app.set_status(StatusLevel::Info, "the runbook has no rows to filter");
            } else {
                app.filter_input = Some(FilterInput {
                    text: current_filter(app),
                });
            }
            Vec::new()
        }
        KeyAction::Ack
        | KeyAction::Unack
        | KeyAction::Escalate
        | KeyAction::Resolve
        | KeyAction::Replay
        | KeyAction::Discard
        | KeyAction::Retry => actions::mutate(app, action),
        KeyAction::EditReplay => super::edit::start(app),
        KeyAction::Note => super::note::open(app),
        KeyAction::Undo => super::undo::undo(app),
        KeyAction::OpenLink => super::link::open(app),
        KeyAction::Page => super::pager::start(app),
        KeyAction::YankId => super::yank::id(app),
        KeyAction::SortNext => super::sort::step(app, 1),
        KeyAction::SortPrev => super::sort::step(app, -1),
        KeyAction::SortReverse => super::sort::reverse(app),
        KeyAction::YankPayload => super::yank::payload(app),
        KeyAction::Command => {
            super::command::open(app);
            Vec::new()
        }
        KeyAction::RunsFocus => super::runs_list::toggle_focus(app),
        KeyAction::PauseRun => super::runs_list::pause_or_resume(app),
        KeyAction::CancelRun => super::runs_list::cancel(app),
        KeyAction::Mark => {
            let cmds = marks::toggle(app);
            move_by_after_mark(app, cmds)
        }
        KeyAction::MarkAll => marks::select_all(app),
        KeyAction::ClearMarks => marks::clear(app),
        KeyAction::None => Vec::new(),
    }
}

/// After `space` the cursor moves to the next row (like file managers), so repeated presses
/// mark a run of rows; the last row stays put.
fn move_by_after_mark(app: &mut App, mut cmds: Vec<Cmd>) -> Vec<Cmd> {
    let detail_open = app.incident_detail.is_some() || app.dead_letters.detail.is_some();
    if app.status.is_none() && !detail_open {
        cmds.extend(move_by(app, 1));
    }
    cmds
}

/// Number keys and Tab: another view. The runbook view (`4`) shows the runbook of the row
/// selected where it was pressed, like `o`, and Esc goes back there.
pub fn switch_view(app: &mut App, view: View) -> Vec<Cmd> {
    if app.view == view {
        return Vec::new();
    }
    if view == View::Runbook {
        return open::open_runbook(app);
    }
    app.back.clear();
    app.view = view;
    load_view(app)
}

fn move_by(app: &mut App, delta: isize) -> Vec<Cmd> {
    match app.view {
        View::Connectors => {
            let count = app.connectors.visible().len();
            app.connectors.cursor = clamp_move(app.connectors.cursor, delta, count);
        }
        View::Incidents => {
            if let Some(detail) = &mut app.incident_detail {
                detail.scroll.scroll_by(delta);
            } else if let Some((seq, request)) = app.incidents.move_by(delta) {
                return vec![Cmd::store(StoreCmd::LoadIncidents {
                    seq,
                    request,
                    connector: None,
                })];
            }
        }
        View::DeadLetters => {
            if let Some(detail) = &mut app.dead_letters.detail {
                detail.scroll.scroll_by(delta);
            } else if let Some((seq, request)) = app.dead_letters.list.move_by(delta) {
                let connector = app.dead_letters.connector.clone();
                return vec![Cmd::store(StoreCmd::LoadDeadLetters {
                    seq,
                    request,
                    connector,
                })];
            }
        }
        View::Runbook => app.runbook.scroll.scroll_by(delta),
        View::Metrics => super::metrics::move_by(app, delta),
        View::Activity if app.activity.runs_focus => super::runs_list::move_by(app, delta),
        View::Activity => {
            if let Some((seq, request)) = app.activity.list.move_by(delta) {
                return vec![Cmd::store(StoreCmd::LoadActivity { seq, request })];
            }
        }
    }
    Vec::new()
}

fn clamp_move(cursor: usize, delta: isize, count: usize) -> usize {
    (cursor as isize + delta).clamp(0, count.saturating_sub(1) as isize) as usize
}

fn top_or_bottom(app: &mut App, top: bool) -> Vec<Cmd> {
    match app.view {
        View::Connectors => {
            app.connectors.cursor = if top {
                0
            } else {
                app.connectors.visible().len().saturating_sub(1)
            }
        }
        View::Activity => {
            let list = &mut app.activity.list;
            let (seq, request) = if top { list.top() } else { list.bottom() };
            return vec![Cmd::store(StoreCmd::LoadActivity { seq, request })];
        }
        View::Runbook => top_or_bottom_of(&mut app.runbook.scroll, top),
        View::Metrics => {
            let last = super::metrics::rows(app).len() as isize;
            super::metrics::move_by(app, if top { -last } else { last });
        }
        View::Incidents => {
            if let Some(detail) = &mut app.incident_detail {
                top_or_bottom_of(&mut detail.scroll, top);
                return Vec::new();
            }
            let (seq, request) = if top {
                app.incidents.top()
            } else {
                app.incidents.bottom()
            };
            return vec![Cmd::store(StoreCmd::LoadIncidents {
                seq,
                request,
                connector: None,
            })];
        }
        View::DeadLetters => {
            if let Some(detail) = &mut app.dead_letters.detail {
                top_or_bottom_of(&mut detail.scroll, top);
                return Vec::new();
            }
            let list = &mut app.dead_letters.list;
            let (seq, request) = if top { list.top() } else { list.bottom() };
            let connector = app.dead_letters.connector.clone();
            return vec![Cmd::store(StoreCmd::LoadDeadLetters {
                seq,
                request,
                connector,
            })];
        }
    }
    Vec::new()
}

fn top_or_bottom_of(scroll: &mut Scroll, top: bool) {
    if top { scroll.top() } else { scroll.bottom() }
}

fn back(app: &mut App) -> Vec<Cmd> {
    if app.view == View::DeadLetters && app.dead_letters.detail.is_some() {
        app.dead_letters.detail = None;
        return load_view(app);
    }
    if app.view == View::Incidents && app.incident_detail.is_some() {
        app.incident_detail = None;
        return load_view(app);
    }
    if app.view == View::Activity && app.activity.open.take().is_some() {
        app.dirty = true;
        return Vec::new();
    }
    if !current_filter(app).is_empty() {
        return set_filter(app, "");
    }
    if app.view == View::DeadLetters && app.dead_letters.connector.is_some() {
        app.dead_letters.connector = None;
        let (seq, request) = app.dead_letters.list.top();
        return vec![Cmd::store(StoreCmd::LoadDeadLetters {
            seq,
            request,
            connector: None,
        })];
    }
    if app.view == View::Runbook {
        // Back where `o` or `4` was pressed (its detail, list and cursor are as they were).
        let to = app.back.pop().map_or(View::Connectors, |crumb| crumb.view);
        app.view = to;
        return load_view(app);
    }
    Vec::new()
}
