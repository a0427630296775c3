//! The runs list in Activity, `update` level and drawn: runs arrive with each Activity load, `w`
//! gives them the focus, `j`/`k` move, `p` pauses a running run and resumes a paused one (which
//! this console then drives), `C` asks before cancelling; finished runs, other views and
//! read-only mode are refused with a reason. Snapshots at 80×24 and 160×48.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::Dialog;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::paging::PAGE_LIMIT;
use triage::console::{App, Msg, View, update};
use triage::domain::ActionKind;
use triage::domain::run::{FailureLimit, Run, RunProgress, RunState};

fn run(id: &str, state: RunState, minutes_ago: i64) -> Run {
    Run {
        id: id.into(),
        kind: ActionKind::Replay,
        selection: "connector:hubspot-form-to-salesforce error:INVALID_FIELD".into(),
        operator: OPERATOR.into(),
        state,
        reason: None,
        stages: vec![1, 21, 190],
        max_failures: FailureLimit::Percent(10.0),
        rate: Some(50.0),
        concurrency: 500,
        force: false,
        destination: None,
        drop_ttl: false,
        created_at: now() - chrono::Duration::minutes(minutes_ago),
        updated_at: now(),
    }
}

fn progress(sent: usize, failed: usize, total: usize, stage: Option<usize>) -> RunProgress {
    RunProgress {
        total,
        sent,
        failed,
        planned: total - sent - failed,
        stage,
        ..Default::default()
    }
}

fn with_runs(read_only: bool) -> App {
    let mut app = if read_only {
        app_with(true)
    } else {
        loaded_app()
    };
    app.view = View::Activity;
    let (seq, request) = app.activity.list.reload();
    update(
        &mut app,
        Msg::Activity {
            undriven: Vec::new(),
            runs: vec![
                (
                    run("run-0kq3v8x2mzab", RunState::Running, 2),
                    progress(40, 2, 212, Some(2)),
                ),
                (
                    run("run-a", RunState::Paused, 30),
                    progress(1, 1, 212, Some(1)),
                ),
                (run("run-0", RunState::Done, 90), progress(50, 0, 50, None)),
            ],
            seq,
            request,
            outbox: outbox(),
            audit: audit(),
            limit: PAGE_LIMIT,
        },
    );
    app
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

fn set_state(id: &str, state: RunState) -> Cmd {
    Cmd::store(StoreCmd::SetRunState {
        id: id.into(),
        state,
        operator: OPERATOR.into(),
        at: now(),
    })
}

#[test]
fn p_pauses_the_running_run_and_resumes_the_paused_one() {
    let mut app = with_runs(false);
    assert!(key(&mut app, "p").is_empty(), "the outbox has the focus");
    assert!(
        status(&app).contains("w to select the runs"),
        "{}",
        status(&app)
    );
    key(&mut app, "w");
    assert!(app.activity.runs_focus);
    assert_eq!(
        key(&mut app, "p"),
        vec![set_state("run-0kq3v8x2mzab", RunState::Paused)]
    );
    key(&mut app, "j");
    assert_eq!(
        key(&mut app, "p"),
        vec![set_state("run-a", RunState::Running)]
    );
    key(&mut app, "j");
    assert!(key(&mut app, "p").is_empty(), "a done run");
    assert!(status(&app).contains("is done"), "{}", status(&app));
}

#[test]
fn a_resumed_run_is_driven_here_and_the_list_reloads() {
    let mut app = with_runs(false);
    let cmds = update(
        &mut app,
        Msg::RunStateSet {
            id: "run-a".into(),
            state: RunState::Running,
            changed: true,
        },
    );
    assert!(
        cmds.contains(&Cmd::DriveRun { id: "run-a".into() }),
        "{cmds:?}"
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadActivity { .. }))),
        "{cmds:?}"
    );
    let cmds = update(
        &mut app,
        Msg::RunStateSet {
            id: "run-0kq3v8x2mzab".into(),
            state: RunState::Paused,
            changed: false,
        },
    );
    assert!(!cmds.contains(&Cmd::DriveRun {
        id: "run-0kq3v8x2mzab".into()
    }));
    assert!(status(&app).contains("not changed"), "{}", status(&app));
}

#[test]
fn c_asks_before_cancelling_and_names_what_is_left() {
    let mut app = with_runs(false);
    key(&mut app, "w");
    assert!(key(&mut app, "C").is_empty());
    let Some(Dialog::ConfirmRunCancel { id, left, .. }) = &app.dialog else {
        panic!("expected the cancel dialog: {:?}", app.dialog);
    };
    assert_eq!((id.as_str(), *left), ("run-0kq3v8x2mzab", 170));
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(
        text.contains("Cancel run run-0kq3v8x2mzab?") && text.contains("170 not answered"),
        "{text}"
    );
    assert_eq!(
        key(&mut app, "y"),
        vec![set_state("run-0kq3v8x2mzab", RunState::Cancelled)]
    );
    key(&mut app, "C");
    assert!(key(&mut app, "n").is_empty());
    assert!(app.dialog.is_none());
}

#[test]
fn the_cursor_stays_on_its_run_across_reloads_and_read_only_refuses() {
    let mut app = with_runs(false);
    key(&mut app, "w");
    key(&mut app, "j");
    assert_eq!(
        app.activity.selected_run().map(|r| r.id.as_str()),
        Some("run-a")
    );
    // A newer run arrives on top: the cursor follows run-a.
    let (seq, request) = app.activity.list.reload();
    update(
        &mut app,
        Msg::Activity {
            undriven: Vec::new(),
            runs: vec![
                (
                    run("run-c", RunState::Running, 0),
                    progress(0, 0, 10, Some(0)),
                ),
                (
                    run("run-0kq3v8x2mzab", RunState::Running, 2),
                    progress(41, 2, 212, Some(2)),
                ),
                (
                    run("run-a", RunState::Paused, 30),
                    progress(1, 1, 212, Some(1)),
                ),
            ],
            seq,
            request,
            outbox: outbox(),
            audit: audit(),
            limit: PAGE_LIMIT,
        },
    );
    assert_eq!(
        app.activity.selected_run().map(|r| r.id.as_str()),
        Some("run-a")
    );

    let mut app = with_runs(true);
    key(&mut app, "w");
    assert!(key(&mut app, "p").is_empty());
    assert!(status(&app).contains("read-only"), "{}", status(&app));
}

#[test]
fn activity_with_runs_snapshots() {
    let mut app = with_runs(false);
    key(&mut app, "w");
    for (w, h) in [(80, 24), (120, 40), (160, 48), (200, 60)] {
        let terminal = draw(&app, w, h);
        let text = terminal.backend().to_string();
        assert!(
            text.contains("Runs (3)") && text.contains("run-0kq3v8x2mzab"),
            "{text}"
        );
        // Every run's id and state whole.
        for (id, state) in [
            ("run-0kq3v8x2mzab", "running"),
            ("run-a", "paused"),
            ("run-0", "done"),
        ] {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().any(|w| w == id))
                .unwrap_or_default();
            assert!(line.contains(state), "{w}×{h}: {id}:\n{text}");
        }
        insta::assert_snapshot!(format!("activity_runs_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn enter_on_an_action_shows_it_whole_and_esc_goes_back() {
    let mut app = with_runs(false);
    key(&mut app, "j");
    let entry = app.activity.selected().unwrap().clone();
    assert!(key(&mut app, "enter").is_empty());
    assert_eq!(app.activity.open.as_ref().map(|e| &e.id), Some(&entry.id));
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(text.contains(&entry.idempotency_key), "{text}");
    let error = entry
        .last_error
        .clone()
        .or(entry.outcome.as_ref().map(|o| o.summary.clone()))
        .unwrap();
    assert!(
        text.replace('\n', "")
            .contains(&error[..error.len().min(40)]),
        "the whole answer: {text}"
    );
    insta::assert_snapshot!("activity_action_open_80x24", draw(&app, 80, 24).backend());
    key(&mut app, "esc");
    assert!(app.activity.open.is_none());
}

#[test]
fn a_running_run_nobody_drives_reads_stalled_and_p_drives_it_here() {
    let mut app = with_runs(false);
    app.activity.undriven = vec!["run-0kq3v8x2mzab".into()];
    let screen = draw(&app, 120, 40).backend().to_string();
    let row = screen
        .lines()
        .find(|l| l.contains("run-0kq3v8x2mzab"))
        .expect("the run's row");
    assert!(row.contains("stalled") && !row.contains("running"), "{row}");
    key(&mut app, "w");
    let cmds = key(&mut app, "p");
    assert_eq!(
        cmds,
        vec![Cmd::DriveRun {
            id: "run-0kq3v8x2mzab".into()
        }],
        "no pause: it is driven here"
    );
    assert!(status(&app).contains("driving it here"), "{}", status(&app));
    let screen = draw(&app, 120, 40).backend().to_string();
    assert!(!screen.contains("stalled"), "{screen}");
}
