//! k9s habits, `update` level: `:` command mode (view switches with filters, Tab completion,
//! history, unknown commands, `:q` asking while actions are pending) and `y`/`Y` copying an id
//! or a payload (the OSC 52 sequence itself, and terminals that do not take it).

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::Dialog;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::yank;
use triage::console::{App, Msg, View, update};

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let name = if c == ' ' {
            "space".to_string()
        } else {
            c.to_string()
        };
        key(app, &name);
    }
}

fn command(app: &mut App, line: &str) -> Vec<Cmd> {
    key(app, ":");
    assert!(app.command_input.is_some(), ": opens the prompt");
    type_text(app, line);
    key(app, "enter")
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[test]
fn commands_switch_views_with_their_filters() {
    let mut app = loaded_app();
    let cmds = command(&mut app, "dl");
    assert_eq!(app.view, View::DeadLetters);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadDeadLetters { .. }))),
        "{cmds:?}"
    );
    command(&mut app, "inc severity:critical");
    assert_eq!(app.view, View::Incidents);
    assert_eq!(app.incidents.filter, "severity:critical");
    command(&mut app, "resolved");
    assert_eq!(app.incidents.filter, "status:resolved");
    command(&mut app, "conn hubspot");
    assert_eq!(
        (app.view, app.connectors.filter.as_str()),
        (View::Connectors, "hubspot")
    );
    command(&mut app, "act");
    assert_eq!(app.view, View::Activity);
    command(&mut app, "nope");
    assert!(
        status(&app).contains("unknown command :nope"),
        "{}",
        status(&app)
    );
    assert!(status(&app).contains(":dl"), "{}", status(&app));
}

#[test]
fn tab_completes_and_up_down_walk_the_history() {
    let mut app = loaded_app();
    key(&mut app, ":");
    key(&mut app, "r");
    key(&mut app, "tab");
    assert_eq!(app.command_input.as_ref().unwrap().text, "runs");
    key(&mut app, "tab");
    assert_eq!(app.command_input.as_ref().unwrap().text, "rb");
    key(&mut app, "tab");
    assert_eq!(app.command_input.as_ref().unwrap().text, "resolved");
    key(&mut app, "esc");
    assert!(app.command_input.is_none());

    command(&mut app, "dl");
    command(&mut app, "inc");
    key(&mut app, ":");
    key(&mut app, "up");
    assert_eq!(app.command_input.as_ref().unwrap().text, "inc");
    key(&mut app, "up");
    assert_eq!(app.command_input.as_ref().unwrap().text, "dl");
    key(&mut app, "down");
    assert_eq!(app.command_input.as_ref().unwrap().text, "inc");
    key(&mut app, "enter");
    assert_eq!(app.view, View::Incidents);
    let text = {
        key(&mut app, ":");
        key(&mut app, "d");
        draw(&app, 80, 24).backend().to_string()
    };
    assert!(text.contains(":d▏") && text.contains("dl"), "{text}");
}

#[test]
fn q_asks_while_actions_are_pending() {
    let mut app = loaded_app();
    app.pending_actions = 2;
    let cmds = command(&mut app, "q");
    assert!(cmds.is_empty());
    assert!(matches!(
        app.dialog,
        Some(Dialog::ConfirmQuit { pending: 2 })
    ));
    app.dialog = None;
    app.pending_actions = 0;
    assert_eq!(command(&mut app, "quit"), vec![Cmd::Quit]);
}

#[test]
fn y_copies_the_selected_id_and_capital_y_the_payload() {
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    let selected = app.dead_letters.list.selected_row().unwrap().clone();
    assert_eq!(
        key(&mut app, "y"),
        vec![Cmd::Yank {
            what: format!("id {}", selected.id),
            bytes: selected.id.clone().into_bytes(),
        }]
    );
    assert_eq!(
        key(&mut app, "Y"),
        vec![Cmd::store(StoreCmd::LoadForYank {
            upstream: selected.upstream.clone(),
            id: selected.id.clone(),
        })]
    );
    let letter = dead_letter(&selected.id, b"{\"email\":\"ana@example.com\"}");
    let cmds = update(&mut app, Msg::YankLoaded(Some(Box::new(letter))));
    assert!(
        matches!(cmds.as_slice(), [Cmd::Yank { bytes, .. }] if bytes == b"{\"email\":\"ana@example.com\"}"),
        "{cmds:?}"
    );
    app.view = View::Incidents;
    let id = app.incidents.selected_row().unwrap().incident.id.clone();
    assert!(
        matches!(key(&mut app, "y").as_slice(), [Cmd::Yank { bytes, .. }] if *bytes == id.as_bytes())
    );
    assert!(key(&mut app, "Y").is_empty());
    assert!(status(&app).contains("press 3"), "{}", status(&app));
}

#[test]
fn the_osc52_sequence_and_the_terminals_that_take_it() {
    assert_eq!(yank::osc52(b"dl-0003"), "\x1b]52;c;ZGwtMDAwMw==\x07");
    assert!(yank::terminal_takes_osc52(Some("xterm-256color")));
    assert!(yank::terminal_takes_osc52(Some("tmux-256color")));
    assert!(!yank::terminal_takes_osc52(Some("linux")));
    assert!(!yank::terminal_takes_osc52(Some("dumb")));
    assert!(!yank::terminal_takes_osc52(None));
}

#[test]
fn ctrl_z_suspends_from_a_dialog_and_from_a_prompt_leaving_them_open() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    key(&mut app, "e");
    assert!(app.dialog.is_some());
    assert_eq!(key(&mut app, "ctrl-z"), vec![Cmd::Suspend]);
    assert!(app.dialog.is_some(), "the dialog waits for after fg");
    key(&mut app, "n");
    key(&mut app, ":");
    assert_eq!(key(&mut app, "ctrl-z"), vec![Cmd::Suspend]);
    assert!(app.command_input.is_some());
}

#[test]
fn capital_o_opens_the_incidents_links_one_after_the_other() {
    let mut app = loaded_app();
    app.view = View::Incidents;
    assert!(key(&mut app, "O").is_empty(), "the list row has no links");
    assert!(status(&app).contains("has no links"), "{}", status(&app));
    let mut detail = incident_detail();
    detail.incident.links.push(triage::domain::Link {
        title: "Alertmanager".into(),
        url: "http://127.0.0.1:9093/#/alerts".into(),
    });
    let urls: Vec<String> = detail
        .incident
        .links
        .iter()
        .map(|l| l.url.clone())
        .collect();
    app.incident_detail = Some(detail);
    let mut opened = Vec::new();
    for _ in 0..3 {
        match key(&mut app, "O").as_slice() {
            [Cmd::OpenUrl { url, what }] => {
                assert!(what.starts_with("link "), "{what}");
                opened.push(url.clone());
            }
            other => panic!("expected a link: {other:?}"),
        }
    }
    assert_eq!(
        opened,
        [urls[0].clone(), urls[1].clone(), urls[0].clone()],
        "cycles"
    );
}
