//! The runs list in Activity (#11 point 7), the `update` side: the newest runs with their
//! progress come with each Activity load; `w` moves the focus between the outbox and the runs,
//! `j`/`k` then move in the runs, `p` pauses a running run or resumes a paused one (this console
//! then drives it) — or drives here a running run whose driver is gone — `C` cancels after a confirmation naming the run and what is left.

use super::app::{App, Dialog, StatusLevel, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::run::{Run, RunProgress, RunState};
use crate::domain::sanitize;

/// A new Activity load: the runs replace the old ones; the cursor stays on the same run.
pub fn loaded(app: &mut App, runs: Vec<(Run, RunProgress)>) {
    let selected = app.activity.selected_run().map(|r| r.id.clone());
    app.activity.runs = runs;
    app.activity.runs_cursor = selected
        .and_then(|id| app.activity.runs.iter().position(|(r, _)| r.id == id))
        .unwrap_or(0)
        .min(app.activity.runs.len().saturating_sub(1));
    if app.activity.runs.is_empty() {
        app.activity.runs_focus = false;
    }
}

/// `w`: the focus goes to the runs (or back to the outbox).
pub fn toggle_focus(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Activity {
        app.set_status(StatusLevel::Info, "runs are listed in Activity: press 5");
        return Vec::new();
    }
    if app.activity.runs.is_empty() {
        app.set_status(
            StatusLevel::Info,
            "no runs yet: mark dead letters (space, *) and press r",
        );
        return Vec::new();
    }
    app.activity.runs_focus = !app.activity.runs_focus;
    app.dirty = true;
    Vec::new()
}

/// `j`/`k` while the runs have the focus.
pub fn move_by(app: &mut App, delta: isize) {
    let count = app.activity.runs.len();
    let cursor = app.activity.runs_cursor as isize + delta;
    app.activity.runs_cursor = cursor.clamp(0, count.saturating_sub(1) as isize) as usize;
    app.dirty = true;
}

fn focused_run(app: &mut App, what: &str) -> Option<Run> {
    if app.view != View::Activity || !app.activity.runs_focus {
        app.set_status(
            StatusLevel::Info,
            format!("{what} works on runs: press 5, then w to select the runs"),
        );
        return None;
    }
    let run = app.activity.selected_run().cloned();
    if run.is_none() {
        app.set_status(StatusLevel::Info, "no run selected");
    }
    run
}

/// `p`: pause a running run, resume a paused one.
pub fn pause_or_resume(app: &mut App) -> Vec<Cmd> {
    let Some(run) = focused_run(app, "pause/resume") else {
        return Vec::new();
    };
    if run.state == RunState::Running && app.activity.undriven.contains(&run.id) {
        // Its driver is gone: drive it here (no state change needed).
        app.activity.undriven.retain(|id| *id != run.id);
        app.set_status(
            StatusLevel::Info,
            format!(
                "run {}: no process drove it; driving it here",
                sanitize::line(&run.id)
            ),
        );
        return vec![Cmd::DriveRun { id: run.id }];
    }
    let state = match run.state {
        RunState::Running => RunState::Paused,
        RunState::Paused => RunState::Running,
        RunState::Done | RunState::Cancelled => {
            app.set_status(
                StatusLevel::Info,
                format!(
                    "run {} is {}: nothing to pause or resume",
                    sanitize::line(&run.id),
                    run.state.as_str()
                ),
            );
            return Vec::new();
        }
    };
    vec![Cmd::store(StoreCmd::SetRunState {
        id: run.id,
        state,
        operator: app.operator.clone(),
        at: app.now,
    })]
}

/// `C`: ask before cancelling.
pub fn cancel(app: &mut App) -> Vec<Cmd> {
    let Some(run) = focused_run(app, "cancel") else {
        return Vec::new();
    };
    if matches!(run.state, RunState::Done | RunState::Cancelled) {
        app.set_status(
            StatusLevel::Info,
            format!(
                "run {} is {} already",
                sanitize::line(&run.id),
                run.state.as_str()
            ),
        );
        return Vec::new();
    }
    let left = app
        .activity
        .runs
        .iter()
        .find(|(r, _)| r.id == run.id)
        .map_or(0, |(_, p)| p.remaining());
    app.dialog = Some(Dialog::ConfirmRunCancel {
        id: run.id,
        kind: run.kind,
        selection: run.selection,
        left,
    });
    Vec::new()
}

/// The cancel was confirmed.
pub fn confirm_cancel(app: &mut App, id: String) -> Vec<Cmd> {
    vec![Cmd::store(StoreCmd::SetRunState {
        id,
        state: RunState::Cancelled,
        operator: app.operator.clone(),
        at: app.now,
    })]
}

/// The store set the state: say so, drive a resumed run here, reload the list.
pub fn state_set(app: &mut App, id: String, state: RunState, changed: bool) -> Vec<Cmd> {
    let name = sanitize::line(&id);
    if !changed {
        app.set_status(
            StatusLevel::Info,
            format!(
                "run {name} was not changed (already {} or finished)",
                state.as_str()
            ),
        );
        return super::update::load_view(app);
    }
    let text = match state {
        RunState::Paused => {
            format!("run {name} paused: the driver stops at its next step (p resumes)")
        }
        RunState::Running => format!("run {name} resumed: driving it here"),
        RunState::Cancelled => format!("run {name} cancelled: letters not yet sent are skipped"),
        RunState::Done => format!("run {name} done"),
    };
    app.set_status(StatusLevel::Success, text);
    let mut cmds = super::update::load_view(app);
    if state == RunState::Running {
        cmds.push(Cmd::DriveRun { id });
    }
    cmds
}
