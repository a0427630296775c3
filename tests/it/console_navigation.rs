//! Issue #12: the cursor stays on its item across live reloads and dialogs name their target
//! (4); `4`/`o` open the runbook of the current row, Esc goes back, breadcrumbs say where (5).
//! Key → state → commands, with the store's answers simulated, and TestBackend frames.

use crate::console_fixtures;

use console_fixtures::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use triage::console::views;
use triage::console::{App, Msg, View, update};

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| views::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

fn resize(app: &mut App, width: u16, height: u16) {
    update(app, Msg::Resize { width, height });
}

/// 500 dead letters, newest first: `dl-000` … `dl-499`.
fn letters() -> Vec<triage::store::DeadLetterSummary> {
    (0..500)
        .map(|i| {
            let payload = format!(r#"{{"email":"lead{i}@example.com"}}"#);
            dead_letter_summary(
                &format!("dl-{i:03}"),
                "hubspot-form-to-salesforce",
                i,
                1000 - i,
                payload.as_bytes(),
                "INVALID_FIELD",
                &format!("row {i} rejected"),
            )
        })
        .collect()
}

/// What the store thread answers a dead-letter page request with (first or last 200).
fn answer(
    app: &mut App,
    cmds: Vec<triage::console::Cmd>,
    all: &[triage::store::DeadLetterSummary],
) {
    use triage::console::msg::{Cmd, StoreCmd};
    use triage::store::PageDir;
    for cmd in cmds {
        if let Cmd::Store(StoreCmd::LoadDeadLetters { seq, request, .. }) = cmd {
            assert_eq!(request.anchor, None, "only first and last pages here");
            let rows = match request.dir {
                PageDir::Forward => all[..200].to_vec(),
                PageDir::Backward => all[300..].to_vec(),
            };
            // A reload a change asked for meanwhile comes right after the answer: answer it too.
            let next = update(
                app,
                Msg::DeadLetters {
                    seq,
                    request,
                    rows,
                    limit: 200,
                },
            );
            answer(app, next, all);
        }
    }
}

/// Issue #12 (4): `g` then a live update before the first page arrived: the reload waits for the
/// `g`'s page and then repeats the `g` (it used to reload the old window and leave the cursor on
/// its row 0), so `d` targets the row the operator sees first — and the dialog names it: id,
/// connector, error, payload.
#[test]
fn a_live_update_does_not_undo_g_and_the_dialog_names_its_target() {
    let all = letters();
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    load_dead_letters(&mut app, all[..200].to_vec());
    let cmds = key(&mut app, "G");
    answer(&mut app, cmds, &all);
    let selected = |app: &App| app.dead_letters.list.selected_row().unwrap().id.clone();
    assert_eq!(selected(&app), "dl-499");
    let pending_top = key(&mut app, "g");
    let reload = update(
        &mut app,
        Msg::Changed(triage::store::ChangeNotice::DeadLetters),
    );
    assert!(
        !reload.iter().any(|c| matches!(
            c,
            triage::console::Cmd::Store(triage::console::msg::StoreCmd::LoadDeadLetters { .. })
        )),
        "the page on its way is not superseded: {reload:?}"
    );
    answer(&mut app, pending_top, &all);
    assert_eq!(selected(&app), "dl-000");
    key(&mut app, "d");
    match &app.dialog {
        Some(triage::console::app::Dialog::ConfirmDeadLetter { id, .. }) => {
            assert_eq!(id, "dl-000")
        }
        other => panic!("{other:?}"),
    }
    for (w, h) in [(80, 24), (160, 48)] {
        resize(&mut app, w, h);
        let screen = draw(&app, w, h);
        assert!(screen.contains("dl-000 (demo)"), "{screen}");
        assert!(screen.contains("hubspot-form-to-salesforce"), "{screen}");
        assert!(
            screen.contains("INVALID_FIELD: row 0 rejected (5 attempts)"),
            "{screen}"
        );
        assert!(
            screen.contains(r#"{"email":"lead0@example.com"}"#),
            "{screen}"
        );
    }
}

/// Issue #12 (4): new letters arriving above the cursor do not move it off its item.
#[test]
fn the_cursor_stays_on_its_item_when_rows_arrive_above_it() {
    let all = letters();
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    load_dead_letters(&mut app, all[2..202].to_vec());
    key(&mut app, "j");
    key(&mut app, "j");
    assert_eq!(app.dead_letters.list.selected_row().unwrap().id, "dl-004");
    let reload = update(
        &mut app,
        Msg::Changed(triage::store::ChangeNotice::DeadLetters),
    );
    answer(&mut app, reload, &all);
    assert_eq!(app.dead_letters.list.selected_row().unwrap().id, "dl-004");
    assert_eq!(app.dead_letters.list.cursor, 4);
}

fn runbook_load(cmds: &[triage::console::Cmd]) -> Option<String> {
    use triage::console::msg::{Cmd, StoreCmd};
    cmds.iter().find_map(|c| match c {
        Cmd::Store(StoreCmd::LoadRunbook { connector, .. }) => Some(connector.clone()),
        _ => None,
    })
}

/// Issue #12 (5): `4` shows the runbook of the row selected on the current view (not of the
/// Connectors view's selection); Esc goes back there, with breadcrumbs in the title.
#[test]
fn four_opens_the_runbook_of_the_current_row_and_esc_goes_back() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    key(&mut app, "j");
    key(&mut app, "j");
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-103");
    let cmds = key(&mut app, "4");
    assert_eq!(app.view, View::Runbook);
    assert_eq!(
        runbook_load(&cmds).as_deref(),
        Some("ads-conversions-to-analytics"),
        "{cmds:?}"
    );
    update(
        &mut app,
        Msg::Runbook {
            connector: "ads-conversions-to-analytics".into(),
            path: Some("/runbooks/ads-conversions-to-analytics.md".into()),
            markdown: Ok("# Ads conversions\n\nCheck the GA4 quota.\n".into()),
        },
    );
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains("Incidents › inc-103 › runbook: ads-conversions-to-analytics"),
        "{screen}"
    );
    key(&mut app, "esc");
    assert_eq!(
        app.view,
        View::Incidents,
        "Esc goes back, not to Connectors"
    );
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-103");

    // From a dead letter's detail: its connector's runbook, and back to the detail.
    app.view = View::DeadLetters;
    update(&mut app, Msg::DeadLetterDetail(Box::new(detail())));
    let cmds = key(&mut app, "4");
    assert_eq!(
        runbook_load(&cmds).as_deref(),
        Some("hubspot-form-to-salesforce")
    );
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains("Dead letters › dl-0003 › runbook"),
        "{screen}"
    );
    key(&mut app, "esc");
    assert_eq!(app.view, View::DeadLetters);
    assert!(
        app.dead_letters.detail.is_some(),
        "the detail is still open"
    );
    let screen = draw(&app, 120, 30);
    assert!(
        screen.contains("Dead letters › dl-0003 · hubspot"),
        "{screen}"
    );
}
