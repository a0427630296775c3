//! `update` tests: key → state → commands for every binding of the built-in keymap, read-only
//! refusals, confirmation dialogs, quitting with pending actions, live reloads keeping the
//! cursor on the same item, and the keymap overrides.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::{Dialog, StatusLevel};
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::paging::PAGE_LIMIT;
use triage::console::{KeyAction, Keymap, Msg, View, update};
use triage::domain::{ActionKind, IncidentStatus, OutboxState};
use triage::store::{ChangeNotice, PageDir};

fn enqueued(cmds: &[Cmd]) -> Option<&triage::domain::Action> {
    cmds.iter().find_map(|c| match c {
        Cmd::Store(StoreCmd::Enqueue { action, .. })
        | Cmd::Store(StoreCmd::EnqueueHeld { action, .. }) => Some(action),
        _ => None,
    })
}

fn on(view: View) -> triage::console::App {
    let mut app = loaded_app();
    app.view = view;
    app
}

#[test]
fn every_builtin_binding_has_an_action_and_a_description() {
    let keymap = Keymap::builtin().unwrap();
    let bindings: Vec<_> = keymap.bindings().collect();
    assert!(bindings.len() >= 30, "{}", bindings.len());
    for (key, binding) in bindings {
        assert!(
            !binding.description.trim().is_empty(),
            "{key:?} has no description"
        );
        assert_ne!(binding.action, KeyAction::None);
    }
    let help = keymap.help_lines();
    assert!(
        help.iter()
            .any(|(keys, d)| keys == "j down" && d == "Move down one row"),
        "{help:?}"
    );
}

#[test]
fn user_keymap_overrides_key_by_key() {
    let user = "[keys]\n\"h\" = { action = \"help\", description = \"Help on h\" }\n\"q\" = { action = \"none\" }\n\"j\" = { action = \"up\" }\n";
    let keymap = Keymap::with_overrides(user, "user.toml").unwrap();
    let k = |n: &str| triage::console::Key::parse(n).unwrap();
    assert_eq!(keymap.action(&k("h")), Some(KeyAction::Help));
    assert_eq!(keymap.action(&k("q")), None);
    assert_eq!(keymap.action(&k("j")), Some(KeyAction::Up));
    assert_eq!(
        keymap.action(&k("?")),
        Some(KeyAction::Help),
        "keys not in the user file stay"
    );
    let bad = Keymap::with_overrides("[keys]\n\"hyper-x\" = { action = \"help\" }\n", "user.toml")
        .unwrap_err();
    assert!(
        bad.to_string().contains("user.toml") && bad.to_string().contains("hyper-x"),
        "{bad}"
    );
    let unknown = Keymap::with_overrides("[keys]\n\"h\" = { action = \"launch\" }\n", "user.toml")
        .unwrap_err();
    assert!(unknown.to_string().contains("user.toml"), "{unknown}");
}

#[test]
fn views_switch_with_numbers_tab_and_backtab() {
    let mut app = on(View::Connectors);
    for (name, view) in [
        ("2", View::Incidents),
        ("3", View::DeadLetters),
        ("4", View::Runbook),
        ("5", View::Activity),
        ("6", View::Metrics),
        ("1", View::Connectors),
    ] {
        key(&mut app, name);
        assert_eq!(app.view, view, "key {name}");
    }
    let cmds = key(&mut app, "tab");
    assert_eq!(app.view, View::Incidents);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadIncidents { .. }))),
        "{cmds:?}"
    );
    key(&mut app, "backtab");
    key(&mut app, "backtab");
    assert_eq!(app.view, View::Metrics);
}

#[test]
fn movement_keys_move_the_cursor() {
    let mut app = on(View::Connectors);
    for (name, expected) in [
        ("j", 1),
        ("down", 2),
        ("down", 2),
        ("k", 1),
        ("up", 0),
        ("up", 0),
        ("G", 2),
        ("g", 0),
        ("end", 2),
        ("home", 0),
        ("pgdn", 2),
        ("pgup", 0),
        ("ctrl-d", 2),
        ("ctrl-u", 0),
    ] {
        key(&mut app, name);
        assert_eq!(app.connectors.cursor, expected, "after {name}");
    }
    let mut app = on(View::Activity);
    key(&mut app, "j");
    assert_eq!(app.activity.selected().unwrap().id, "ob-2");
    let mut app = on(View::Runbook);
    update(
        &mut app,
        Msg::Resize {
            width: 80,
            height: 10,
        },
    );
    key(&mut app, "j");
    key(&mut app, "j");
    assert_eq!(app.runbook.scroll.offset, 2);
}

#[test]
fn g_and_shift_g_ask_the_store_for_the_first_and_last_page() {
    let mut app = on(View::Incidents);
    let cmds = key(&mut app, "G");
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadIncidents { request, .. })] => {
            assert!(request.anchor.is_none() && request.dir == PageDir::Backward)
        }
        other => panic!("{other:?}"),
    }
    let cmds = key(&mut app, "g");
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadIncidents { request, .. })] => {
            assert!(request.anchor.is_none() && request.dir == PageDir::Forward)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn walking_off_a_full_page_loads_the_next_page_from_the_last_key() {
    let mut app = on(View::DeadLetters);
    let rows: Vec<_> = (0..triage::console::paging::PAGE_LIMIT as i64)
        .map(|i| {
            dead_letter_summary(
                &format!("dl-{i:05}"),
                "hubspot-form-to-salesforce",
                i,
                10_000 - i,
                b"{}",
                "E",
                "m",
            )
        })
        .collect();
    let last_key = rows.last().unwrap().key.clone();
    load_dead_letters(&mut app, rows);
    key(&mut app, "G");
    // G asked for the last page; pretend we are still on the first and walk down to its end.
    let (seq, request) = app.dead_letters.list.top();
    let rows: Vec<_> = (0..triage::console::paging::PAGE_LIMIT as i64)
        .map(|i| {
            dead_letter_summary(
                &format!("dl-{i:05}"),
                "hubspot-form-to-salesforce",
                i,
                10_000 - i,
                b"{}",
                "E",
                "m",
            )
        })
        .collect();
    update(
        &mut app,
        Msg::DeadLetters {
            seq,
            request,
            rows,
            limit: triage::console::paging::PAGE_LIMIT,
        },
    );
    for _ in 0..triage::console::paging::PAGE_LIMIT - 1 {
        assert!(key(&mut app, "j").is_empty());
    }
    let cmds = key(&mut app, "j");
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadDeadLetters { request, .. })] => {
            assert_eq!(request.anchor.as_ref(), Some(&last_key));
            assert_eq!(request.dir, PageDir::Forward);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn enter_opens_dead_letters_of_a_connector_then_the_detail_and_esc_goes_back() {
    let mut app = on(View::Connectors);
    key(&mut app, "G"); // hubspot-form-to-salesforce
    let cmds = key(&mut app, "enter");
    assert_eq!(app.view, View::DeadLetters);
    assert_eq!(
        app.dead_letters.connector.as_deref(),
        Some("hubspot-form-to-salesforce")
    );
    assert!(
        matches!(&cmds[..], [Cmd::Store(StoreCmd::LoadDeadLetters { connector: Some(c), .. })] if c == "hubspot-form-to-salesforce"),
        "{cmds:?}"
    );
    load_dead_letters(&mut app, dead_letter_rows());
    let cmds = key(&mut app, "enter");
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadDeadLetterDetail { id, contract, .. })] => {
            assert_eq!(id, "dl-0003");
            assert_eq!(
                contract.as_deref(),
                Some(std::path::Path::new(
                    "/contracts/hubspot-form-to-salesforce.json"
                ))
            );
        }
        other => panic!("{other:?}"),
    }
    update(&mut app, Msg::DeadLetterDetail(Box::new(detail())));
    assert!(app.dead_letters.detail.is_some());
    key(&mut app, "j");
    assert_eq!(app.dead_letters.detail.as_ref().unwrap().scroll.offset, 1);
    key(&mut app, "esc");
    assert!(app.dead_letters.detail.is_none());
    let cmds = key(&mut app, "esc");
    assert!(
        app.dead_letters.connector.is_none(),
        "second Esc shows all connectors"
    );
    assert!(
        matches!(
            &cmds[..],
            [Cmd::Store(StoreCmd::LoadDeadLetters {
                connector: None,
                ..
            })]
        ),
        "{cmds:?}"
    );
}

#[test]
fn the_open_dead_letter_detail_reloads_its_attempt_history_when_the_outbox_changes() {
    let mut app = on(View::DeadLetters);
    let history_of = |cmds: &[Cmd]| -> Vec<(String, String)> {
        cmds.iter()
            .filter_map(|c| match c {
                Cmd::Store(StoreCmd::LoadDeadLetterHistory { upstream, id }) => {
                    Some((upstream.clone(), id.clone()))
                }
                _ => None,
            })
            .collect()
    };
    let dl_0003 = vec![("demo".to_string(), "dl-0003".to_string())];
    // No detail open: an outbox change reloads no history.
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Outbox));
    assert!(history_of(&cmds).is_empty(), "{cmds:?}");

    key(&mut app, "enter");
    let mut older = dead_letter_history();
    let newest = older.remove(0);
    update(
        &mut app,
        Msg::DeadLetterDetail(Box::new(detail().with_history(older.clone()))),
    );
    assert_eq!(app.dead_letters.detail.as_ref().unwrap().history, older);
    key(&mut app, "j");

    // The outbox changed (the worker sent a replay, another process queued one): only the
    // history reloads, not the list behind the detail.
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Outbox));
    assert_eq!(history_of(&cmds), dl_0003, "{cmds:?}");
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadDeadLetters { .. }))),
        "{cmds:?}"
    );
    assert_eq!(history_of(&update(&mut app, Msg::ExternalChange)), dl_0003);
    assert!(history_of(&update(&mut app, Msg::Changed(ChangeNotice::Incidents))).is_empty());

    // The fresh history replaces the shown one; the scroll stays.
    let fresh = dead_letter_history();
    app.dirty = false;
    update(
        &mut app,
        Msg::DeadLetterHistory {
            upstream: "demo".into(),
            id: "dl-0003".into(),
            history: fresh.clone(),
        },
    );
    let shown = app.dead_letters.detail.as_ref().unwrap();
    assert_eq!(shown.history.first(), Some(&newest));
    assert_eq!(shown.history, fresh);
    assert_eq!(shown.scroll.offset, 1);
    assert!(app.dirty);

    // A replay queued from the detail reloads its history at once.
    let cmds = key(&mut app, "r");
    assert!(cmds.is_empty(), "asks first: {cmds:?}");
    let cmds = key(&mut app, "y");
    let replay = enqueued(&cmds).expect("replay enqueued").clone();
    let mut entry = newest.clone();
    entry.action = replay;
    let cmds = update(&mut app, Msg::ActionEnqueued(Box::new(entry)));
    assert_eq!(history_of(&cmds), dl_0003, "{cmds:?}");

    // A late answer for another letter, or after Esc, changes nothing.
    update(
        &mut app,
        Msg::DeadLetterHistory {
            upstream: "demo".into(),
            id: "dl-0001".into(),
            history: Vec::new(),
        },
    );
    assert_eq!(app.dead_letters.detail.as_ref().unwrap().history, fresh);
    key(&mut app, "esc");
    update(
        &mut app,
        Msg::DeadLetterHistory {
            upstream: "demo".into(),
            id: "dl-0003".into(),
            history: Vec::new(),
        },
    );
    assert!(app.dead_letters.detail.is_none());
}

#[test]
fn ack_escalate_resolve_enqueue_actions_as_the_operator() {
    let mut app = on(View::Incidents);
    let cmds = key(&mut app, "a");
    let ack = enqueued(&cmds).expect("ack enqueued");
    assert_eq!(
        (ack.kind, ack.target.as_str(), ack.operator.as_str()),
        (ActionKind::Ack, "inc-101", OPERATOR)
    );
    let cmds = confirmed(&mut app, "e");
    let escalate = enqueued(&cmds).expect("escalate enqueued");
    assert_eq!(
        (escalate.kind, escalate.level),
        (ActionKind::Escalate, Some(1))
    );
    let cmds = confirmed(&mut app, "x");
    assert_eq!(enqueued(&cmds).unwrap().kind, ActionKind::Resolve);
    // Acking an already acknowledged incident is refused with the reason.
    key(&mut app, "g");
    load_incidents(&mut app, incident_rows());
    while app.incidents.selected_row().unwrap().incident.status != IncidentStatus::Acknowledged {
        key(&mut app, "j");
    }
    assert!(enqueued(&key(&mut app, "a")).is_none());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("already acknowledged by dev@laptop")
    );
    // Incident actions elsewhere explain where they work.
    let mut app = on(View::Connectors);
    assert!(key(&mut app, "a").is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("press 2"));
}

#[test]
fn unack_enqueues_on_an_acknowledged_incident_and_explains_on_an_open_one() {
    let mut app = on(View::Incidents);
    assert_eq!(
        app.incidents.selected_row().unwrap().incident.status,
        IncidentStatus::Open
    );
    assert!(enqueued(&key(&mut app, "A")).is_none());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("not acknowledged: nothing to un-ack")
    );
    while app.incidents.selected_row().unwrap().incident.status != IncidentStatus::Acknowledged {
        key(&mut app, "j");
    }
    let id = app.incidents.selected_row().unwrap().incident.id.clone();
    let cmds = confirmed(&mut app, "A");
    let unack = enqueued(&cmds).expect("unack enqueued");
    assert_eq!(
        (unack.kind, unack.target.as_str(), unack.operator.as_str()),
        (ActionKind::Unack, id.as_str(), OPERATOR)
    );
}

#[test]
fn enqueued_action_shows_pending_at_once_wakes_the_outbox_then_shows_the_outcome() {
    let mut app = on(View::Incidents);
    key(&mut app, "a");
    let entry = outbox_entry("ob-9", ActionKind::Ack, "inc-101", OutboxState::Pending, 0);
    let cmds = update(&mut app, Msg::ActionEnqueued(Box::new(entry.clone())));
    assert!(cmds.contains(&Cmd::WakeOutbox), "{cmds:?}");
    assert_eq!(
        app.action_mark("demo", "inc-101").unwrap().0,
        "ack pending…"
    );
    let mut sent = entry.clone();
    sent.state = OutboxState::Sent;
    sent.outcome = Some(triage::domain::ActionOutcome {
        ok: true,
        summary: "acknowledged".into(),
        response: serde_json::Value::Null,
    });
    update(
        &mut app,
        Msg::OpenActions {
            open: Vec::new(),
            tracked: vec![sent],
        },
    );
    let status = app.status.clone().unwrap();
    assert_eq!(status.level, StatusLevel::Success);
    assert!(
        status
            .text
            .contains("inc-101 acknowledged by maria@bastion"),
        "{}",
        status.text
    );
    assert!(app.tracked_actions.is_empty());
    let mut failed = entry;
    failed.state = OutboxState::Failed;
    failed.last_error = Some("HTTP 409: already resolved".into());
    app.tracked_actions.push(failed.id.clone());
    update(
        &mut app,
        Msg::OpenActions {
            open: vec![failed.clone()],
            tracked: vec![failed],
        },
    );
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("failed: HTTP 409: already resolved")
    );
    assert!(
        app.action_mark("demo", "inc-101")
            .unwrap()
            .0
            .starts_with("ack failed")
    );
}

#[test]
fn replay_and_discard_ask_first_y_or_enter_enqueue_n_or_esc_cancel() {
    for (action_key, kind) in [("r", ActionKind::Replay), ("d", ActionKind::Discard)] {
        for (answer, confirms) in [("y", true), ("enter", true), ("n", false), ("esc", false)] {
            let mut app = on(View::DeadLetters);
            assert!(
                key(&mut app, action_key).is_empty(),
                "nothing is sent before confirmation"
            );
            match app.dialog.as_ref().expect("dialog") {
                Dialog::ConfirmDeadLetter {
                    kind: k,
                    id,
                    connector,
                    destination,
                    ..
                } => {
                    assert_eq!(
                        (*k, id.as_str(), connector.as_str(), destination.as_str()),
                        (kind, "dl-0003", "hubspot-form-to-salesforce", "Salesforce")
                    );
                }
                other => panic!("{other:?}"),
            }
            assert!(
                key(&mut app, "j").is_empty(),
                "other keys leave the dialog open"
            );
            assert!(app.dialog.is_some());
            let cmds = key(&mut app, answer);
            assert!(app.dialog.is_none());
            assert_eq!(
                enqueued(&cmds).map(|a| (a.kind, a.target.clone(), a.operator.clone())),
                confirms.then(|| (kind, "dl-0003".to_string(), OPERATOR.to_string())),
                "{action_key} {answer}"
            );
        }
    }
}

#[test]
fn retry_reenqueues_a_failed_action_only() {
    let mut app = on(View::Activity);
    assert!(
        enqueued(&key(&mut app, "R")).is_none(),
        "pending one is not retried"
    );
    key(&mut app, "j");
    let cmds = confirmed(&mut app, "R");
    let retried = enqueued(&cmds).expect("failed action retried");
    assert_eq!(
        (retried.kind, retried.target.as_str()),
        (ActionKind::Replay, "dl-0001")
    );
}

#[test]
fn read_only_refuses_every_mutating_key_with_a_message() {
    for (view, name) in [
        (View::Incidents, "a"),
        (View::Incidents, "A"),
        (View::Incidents, "e"),
        (View::Incidents, "x"),
        (View::DeadLetters, "r"),
        (View::DeadLetters, "d"),
        (View::Activity, "R"),
    ] {
        let mut app = loaded_app();
        app.read_only = true;
        app.view = view;
        let cmds = key(&mut app, name);
        assert!(cmds.is_empty(), "{name}: {cmds:?}");
        assert!(app.dialog.is_none());
        let status = app.status.as_ref().expect("status message");
        assert_eq!(status.level, StatusLevel::Warning);
        assert!(status.text.starts_with("read-only"), "{}", status.text);
    }
}

#[test]
fn quit_asks_while_actions_are_pending_and_ctrl_c_does_not() {
    let mut app = loaded_app();
    assert_eq!(key(&mut app, "q"), vec![Cmd::Quit]);
    let mut app = loaded_app();
    update(
        &mut app,
        Msg::Header {
            states: Vec::new(),
            pending_actions: 2,
        },
    );
    assert!(key(&mut app, "q").is_empty());
    assert_eq!(app.dialog, Some(Dialog::ConfirmQuit { pending: 2 }));
    assert!(key(&mut app, "n").is_empty());
    assert!(!app.should_quit);
    key(&mut app, "q");
    assert_eq!(key(&mut app, "y"), vec![Cmd::Quit]);
    assert!(app.should_quit);
    let mut app = loaded_app();
    app.pending_actions = 3;
    assert_eq!(key(&mut app, "ctrl-c"), vec![Cmd::Quit]);
}

#[test]
fn help_suspend_filter_and_open_runbook() {
    let mut app = on(View::Incidents);
    key(&mut app, "?");
    assert_eq!(app.help, Some(0));
    key(&mut app, "j");
    assert_eq!(app.help, Some(1), "j scrolls the help, not the list");
    key(&mut app, "?");
    assert_eq!(app.help, None);
    assert_eq!(key(&mut app, "ctrl-z"), vec![Cmd::Suspend]);

    key(&mut app, "/");
    for c in ["d", "u", "p"] {
        key(&mut app, c);
    }
    assert_eq!(
        app.incidents.visible().len(),
        1,
        "only 'Duplicate conversion ids'"
    );
    key(&mut app, "enter");
    assert!(app.filter_input.is_none());
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-103");
    key(&mut app, "esc");
    assert_eq!(app.incidents.visible().len(), 6);
    assert_eq!(
        app.incidents.selected_row().unwrap().incident.id,
        "inc-103",
        "cursor stays on the item"
    );

    let cmds = key(&mut app, "o");
    assert_eq!(app.view, View::Runbook);
    match &cmds[..] {
        [Cmd::Store(StoreCmd::LoadRunbook { connector, path })] => {
            assert_eq!(connector, "ads-conversions-to-analytics");
            assert_eq!(
                path.as_deref(),
                Some(std::path::Path::new(
                    "/runbooks/ads-conversions-to-analytics.md"
                ))
            );
        }
        other => panic!("{other:?}"),
    }
    let mut app = on(View::Runbook);
    key(&mut app, "esc");
    assert_eq!(app.view, View::Connectors, "Esc leaves the runbook");
}

#[test]
fn enter_on_an_incident_opens_its_detail_from_the_store_and_esc_goes_back() {
    let mut app = on(View::Incidents);
    key(&mut app, "j"); // inc-102
    let cmds = key(&mut app, "enter");
    assert_eq!(
        cmds,
        vec![Cmd::store(StoreCmd::LoadIncidentDetail {
            upstream: "demo".into(),
            id: "inc-102".into(),
        })]
    );
    let shown = app.incident_detail.as_ref().expect("detail shown at once");
    assert!(shown.loading && shown.incident.id == "inc-102");
    assert_eq!(
        shown.route.as_ref().map(|r| r.rule.as_str()),
        Some("vendor-outages"),
        "the row's route until the store answers"
    );
    assert_eq!(app.view, View::Incidents);

    // The store's answer replaces it; an answer for another incident is ignored.
    let mut other = incident_detail();
    other.incident.title = "not this one".into();
    update(&mut app, Msg::IncidentDetail(Box::new(other)));
    assert_eq!(app.incident_detail.as_ref().unwrap().incident.id, "inc-102");
    let row = incident_rows().remove(1);
    let mut fresh = triage::console::app::IncidentDetail::new(row.incident, row.route);
    fresh.incident.detail = "line one\nline two".into();
    fresh = triage::console::app::IncidentDetail::new(fresh.incident, fresh.route);
    update(&mut app, Msg::IncidentDetail(Box::new(fresh)));
    let shown = app.incident_detail.as_ref().unwrap();
    assert!(!shown.loading);
    assert_eq!(shown.text, ["line one", "line two"]);

    // j/k/PgDn/g scroll the detail, not the list (PgDn stops at the last row: the notes section
    // ends it).
    for (name, scroll) in [("j", 1), ("j", 2), ("k", 1), ("pgdn", 7), ("g", 0)] {
        key(&mut app, name);
        assert_eq!(
            app.incident_detail.as_ref().unwrap().scroll.offset,
            scroll,
            "{name}"
        );
    }
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-102");
    assert!(app.needs_tick(), "the detail's clock counts down");

    // A change reloads the detail, not the list.
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Incidents));
    assert!(
        cmds.iter().any(
            |c| matches!(c, Cmd::Store(StoreCmd::LoadIncidentDetail { id, .. }) if id == "inc-102")
        ),
        "{cmds:?}"
    );
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadIncidents { .. })))
    );

    // Escalate from the detail: the detail's incident, one level up.
    let cmds = confirmed(&mut app, "e");
    let escalate = enqueued(&cmds).expect("escalate enqueued");
    assert_eq!(
        (escalate.target.as_str(), escalate.level),
        ("inc-102", Some(1))
    );

    // `o` still opens the runbook of the incident's connector.
    let mut with_runbook = app.clone();
    match &key(&mut with_runbook, "o")[..] {
        [Cmd::Store(StoreCmd::LoadRunbook { connector, .. })] => {
            assert_eq!(connector, "hubspot-form-to-salesforce")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(with_runbook.view, View::Runbook);

    // Esc closes the detail and reloads the list; the cursor stays on the incident.
    let cmds = key(&mut app, "esc");
    assert!(app.incident_detail.is_none());
    assert_eq!(app.view, View::Incidents);
    assert!(
        matches!(&cmds[..], [Cmd::Store(StoreCmd::LoadIncidents { .. })]),
        "{cmds:?}"
    );
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-102");
}

#[test]
fn escalate_asks_for_the_level_above_the_one_reached() {
    let mut app = on(View::Incidents);
    app.incident_detail = Some(incident_detail()); // already at level 1
    let cmds = confirmed(&mut app, "e");
    let escalate = enqueued(&cmds).expect("escalate enqueued");
    assert_eq!(
        (escalate.kind, escalate.target.as_str(), escalate.level),
        (ActionKind::Escalate, "inc-101", Some(2))
    );
}

#[test]
fn a_route_runbook_wins_over_the_connector_runbook() {
    let mut app = on(View::Incidents);
    let mut rows = incident_rows();
    rows[0].route.as_mut().unwrap().runbook = Some("/runbooks/vendor-outage.md".into());
    load_incidents(&mut app, rows);
    match &key(&mut app, "o")[..] {
        [Cmd::Store(StoreCmd::LoadRunbook { path, .. })] => assert_eq!(
            path.as_deref(),
            Some(std::path::Path::new("/runbooks/vendor-outage.md"))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_acked_incident_without_ack_timeout_stops_the_tick() {
    let mut app = on(View::Incidents);
    let mut acked = incident_rows().remove(4);
    acked.route.as_mut().unwrap().chain = None;
    app.incident_detail = Some(triage::console::app::IncidentDetail::new(
        acked.incident.clone(),
        acked.route.clone(),
    ));
    assert!(!app.needs_tick(), "nothing counts down on screen");
    acked.route.as_mut().unwrap().chain = Some("vendor-outage".into());
    app.incident_detail = Some(triage::console::app::IncidentDetail::new(
        acked.incident,
        acked.route,
    ));
    assert!(app.needs_tick(), "the ack expiry counts down");
}

#[test]
fn reload_keeps_the_cursor_on_the_same_incident_when_rows_move() {
    let mut app = on(View::Incidents);
    key(&mut app, "j");
    key(&mut app, "j");
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-103");
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Incidents));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::LoadIncidents { .. }))),
        "{cmds:?}"
    );
    let mut rows = incident_rows();
    let moved = rows.remove(2);
    rows.push(moved);
    load_incidents(&mut app, rows);
    assert_eq!(app.incidents.selected_row().unwrap().incident.id, "inc-103");
    assert_eq!(app.incidents.cursor, 5);
}

#[test]
fn stale_page_answers_are_ignored_and_countdown_ticks_only_when_shown() {
    let mut app = on(View::Incidents);
    let (old_seq, old_request) = app.incidents.reload();
    let (_new_seq, _) = app.incidents.reload();
    assert!(
        !app.incidents
            .page_loaded(old_seq, old_request, Vec::new(), 10)
    );
    assert!(app.needs_tick());
    app.view = View::Connectors;
    assert!(!app.needs_tick());
}

#[test]
fn walking_past_the_end_stays_and_an_emptied_window_restarts_from_the_top() {
    let mut app = on(View::Incidents);
    let rows = incident_rows();
    let limit = rows.len();
    let (seq, request) = app.incidents.reload();
    update(
        &mut app,
        Msg::Incidents {
            seq,
            request,
            rows,
            limit,
        },
    );
    for _ in 0..limit - 1 {
        key(&mut app, "j");
    }
    let cmds = key(&mut app, "j");
    let (seq, request) = match cmds.as_slice() {
        [Cmd::Store(StoreCmd::LoadIncidents { seq, request, .. })] => (*seq, request.clone()),
        other => panic!("a full page asks for the next one: {other:?}"),
    };
    update(
        &mut app,
        Msg::Incidents {
            seq,
            request,
            rows: Vec::new(),
            limit,
        },
    );
    assert_eq!(
        app.incidents.selected_row().unwrap().incident.id,
        "inc-098",
        "still on the last row"
    );
    assert!(key(&mut app, "j").is_empty(), "no more pages after that");

    // A reload of an anchored window that came back empty starts from the top.
    let (seq, _) = app.incidents.reload();
    let request = triage::console::paging::PageRequest {
        sort: Default::default(),
        anchor: Some(app.incidents.rows[0].key.clone()),
        dir: PageDir::Forward,
        filter: String::new(),
        land: triage::console::paging::Landing::Keep,
    };
    let cmds = update(
        &mut app,
        Msg::Incidents {
            seq,
            request,
            rows: Vec::new(),
            limit,
        },
    );
    assert!(
        matches!(&cmds[..], [Cmd::Store(StoreCmd::LoadIncidents { request, .. })] if request.anchor.is_none()),
        "{cmds:?}"
    );
}

/// The only `LoadDeadLetters` among `cmds`: (seq, request).
fn dead_letter_load(
    cmds: &[Cmd],
) -> (
    u64,
    triage::console::paging::PageRequest<triage::store::DeadLetterKey>,
) {
    match cmds {
        [Cmd::Store(StoreCmd::LoadDeadLetters { seq, request, .. })] => (*seq, request.clone()),
        other => panic!("expected one dead-letter page load, got {other:?}"),
    }
}

#[test]
fn the_filter_searches_the_whole_store_and_pages_through_its_matches() {
    let mut app = on(View::DeadLetters);
    assert_eq!(app.dead_letters.list.visible().len(), 3);
    key(&mut app, "/");
    // Every keystroke asks the store for the first page of the whole list's matches…
    let (_, first) = dead_letter_load(&key(&mut app, "c"));
    assert_eq!((first.filter.as_str(), &first.anchor), ("c", &None));
    let (seq, request) = dead_letter_load(&key(&mut app, "-"));
    assert_eq!(request.filter, "c-");
    assert_eq!(request.dir, PageDir::Forward);
    // …while the loaded rows are narrowed at once by what they show ("c-88" in dl-0002's payload).
    assert!(app.dead_letters.list.filter_pending());
    let shown: Vec<&str> = app
        .dead_letters
        .list
        .visible()
        .into_iter()
        .map(|i| app.dead_letters.list.rows[i].id.as_str())
        .collect();
    assert_eq!(shown, ["dl-0002"]);

    // The store's answer is shown whole: it matched beyond what a row shows (deep in a payload).
    let deep = |n: i64| {
        dead_letter_summary(
            &format!("dl-9{n:03}"),
            "hubspot-form-to-salesforce",
            n,
            9000 + n,
            b"{\"head\":\"no match in the preview\"}",
            "INVALID_FIELD",
            "rejected",
        )
    };
    let page: Vec<_> = (1..=PAGE_LIMIT as i64).map(deep).collect();
    let last_key = page.last().map(|r| r.key.clone());
    update(
        &mut app,
        Msg::DeadLetters {
            seq: seq - 1,
            request: first,
            rows: vec![deep(999)],
            limit: PAGE_LIMIT,
        },
    );
    assert!(
        app.dead_letters.list.filter_pending(),
        "an older answer (filter \"c\") is ignored"
    );
    update(
        &mut app,
        Msg::DeadLetters {
            seq,
            request,
            rows: page,
            limit: PAGE_LIMIT,
        },
    );
    assert!(!app.dead_letters.list.filter_pending());
    assert_eq!(app.dead_letters.list.visible().len(), PAGE_LIMIT);
    assert_eq!(
        app.dead_letters.list.selected_row().map(|r| r.id.as_str()),
        Some("dl-9001")
    );
    key(&mut app, "enter");
    assert!(app.filter_input.is_none());

    // Walking off the end of a full page asks for the next page of matches.
    for _ in 1..PAGE_LIMIT {
        assert!(key(&mut app, "j").is_empty(), "within the loaded page");
    }
    let (_, next) = dead_letter_load(&key(&mut app, "j"));
    assert_eq!(next.filter, "c-", "the next page keeps the filter");
    assert_eq!(next.anchor, last_key);

    // Esc clears the filter: the store is asked for the unfiltered list again.
    let (_, cleared) = dead_letter_load(&key(&mut app, "esc"));
    assert_eq!(cleared.filter, "");
    assert_eq!(cleared.anchor, None);
}

#[test]
fn activity_pages_through_every_action_and_filters_in_the_store() {
    let mut app = on(View::Activity);
    let page: Vec<_> = (0..PAGE_LIMIT as i64)
        .map(|n| {
            outbox_entry(
                &format!("ob-{n:03}"),
                ActionKind::Replay,
                &format!("dl-{n:03}"),
                OutboxState::Sent,
                n,
            )
        })
        .collect();
    let last_id = page.last().map(|e| e.id.clone());
    let (seq, request) = app.activity.list.reload();
    update(
        &mut app,
        Msg::Activity {
            undriven: Vec::new(),
            runs: Vec::new(),
            seq,
            request,
            outbox: page,
            audit: Vec::new(),
            limit: PAGE_LIMIT,
        },
    );
    for _ in 1..PAGE_LIMIT {
        assert!(key(&mut app, "j").is_empty(), "within the loaded page");
    }
    match &key(&mut app, "j")[..] {
        [Cmd::Store(StoreCmd::LoadActivity { request, .. })] => {
            assert_eq!(request.anchor.as_ref().map(|k| k.id.clone()), last_id);
            assert_eq!(request.dir, PageDir::Forward);
        }
        other => panic!("expected the next page of actions, got {other:?}"),
    }
    key(&mut app, "/");
    match &key(&mut app, "d")[..] {
        [Cmd::Store(StoreCmd::LoadActivity { request, .. })] => {
            assert_eq!((request.filter.as_str(), &request.anchor), ("d", &None));
        }
        other => panic!("expected a filtered first page, got {other:?}"),
    }
}

#[test]
fn a_rabbitmq_replay_dialog_chooses_where_it_goes_and_whether_the_ttl_comes_back() {
    let mut app = on(View::DeadLetters);
    // The fixture's dead letters live on upstream "demo": make it a RabbitMQ with two queues.
    app.config.upstreams.push(triage::config::UpstreamConfig {
        sqs: None,
        id: "demo".into(),
        kind: triage::domain::UpstreamKind::Rabbitmq,
        url: "http://127.0.0.1:15672".into(),
        amqp_url: Some("amqp://127.0.0.1:5672".into()),
        vhost: None,
        username: None,
        ca_file: None,
        token: triage::config::TokenSource::None,
        poll_interval: std::time::Duration::from_secs(5),
        timeout: std::time::Duration::from_secs(5),
        line: 1,
    });
    for (n, connector) in app.config.connectors.iter_mut().enumerate() {
        connector.upstream = "demo".into();
        connector.queue = Some(format!("work-{n}"));
    }
    key(&mut app, "r");
    let routes = match app.dialog.as_ref().expect("dialog") {
        Dialog::ConfirmDeadLetter { routes, route, .. } => {
            assert_eq!(*route, 0, "the last origin by default");
            routes.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        &routes[..3],
        ["last origin", "first-origin", "queue:work-0"]
    );
    assert!(key(&mut app, "t").is_empty() && key(&mut app, "T").is_empty());
    let cmds = key(&mut app, "y");
    let action = enqueued(&cmds).expect("replay enqueued");
    assert_eq!(
        (action.destination.as_deref(), action.drop_ttl),
        (Some("first-origin"), true)
    );
    // `t` once per route wraps around past the queues back to the default: no destination.
    key(&mut app, "r");
    for _ in 0..routes.len() {
        key(&mut app, "t");
    }
    let action = enqueued(&key(&mut app, "enter")).cloned().expect("replay");
    assert_eq!((action.destination, action.drop_ttl), (None, false));
    // A demo (Connector API) replay offers no choice: `t` is not a dialog key there.
    let mut demo = on(View::DeadLetters);
    key(&mut demo, "r");
    assert!(matches!(
        demo.dialog.as_ref(),
        Some(Dialog::ConfirmDeadLetter { routes, .. }) if routes.is_empty()
    ));
}

/// Types `text` into the open filter prompt, one key per character; the commands of the last.
fn type_filter(app: &mut triage::console::App, text: &str) -> Vec<Cmd> {
    let mut last = Vec::new();
    for c in text.chars() {
        last = key(app, &c.to_string());
    }
    last
}

fn status_line(app: &triage::console::App) -> String {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    terminal
        .draw(|frame| triage::console::views::render(frame, app))
        .unwrap();
    let screen = terminal.backend().to_string();
    screen
        .lines()
        .find(|l| l.contains('/') && l.contains('▏'))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_filter_that_does_not_parse_says_where_and_keeps_the_last_good_one() {
    let mut app = on(View::DeadLetters);
    key(&mut app, "/");
    let (_, good) = dead_letter_load(&type_filter(
        &mut app,
        "connector:ads-conversions-to-analytics",
    ));
    assert_eq!(good.filter, "connector:ads-conversions-to-analytics");
    let shown = |app: &triage::console::App| -> Vec<String> {
        let list = &app.dead_letters.list;
        list.visible()
            .into_iter()
            .map(|i| list.rows[i].id.clone())
            .collect()
    };
    assert_eq!(shown(&app), ["dl-0002"], "narrowed at once by the query");

    // A bad term: nothing is sent to the store, the error says where and why, the list stays.
    let cmds = type_filter(&mut app, " severity:major");
    assert!(cmds.is_empty(), "a bad query is not sent: {cmds:?}");
    let list = &app.dead_letters.list;
    assert_eq!(
        list.filter,
        "connector:ads-conversions-to-analytics severity"
    );
    let (text, error) = list.filter_error().expect("an error");
    assert_eq!(
        text,
        "connector:ads-conversions-to-analytics severity:major"
    );
    assert_eq!(error.column, 40);
    assert_eq!(
        error.reason,
        "severity: applies to incidents, not dead letters"
    );
    // Typed key by key, the word "severity" was a good filter before the colon: it stays.
    assert!(shown(&app).is_empty());
    let line = status_line(&app);
    assert!(
        line.contains("at column 40: severity: applies to incidents, not dead letters"),
        "{line}"
    );
    assert!(line.contains("(not applied)"), "{line}");
    // Enter does not leave the prompt on a bad query.
    assert!(key(&mut app, "enter").is_empty());
    assert!(app.filter_input.is_some());

    // Fixed: the good query goes to the store and the error is gone.
    for _ in "severity:major".chars() {
        key(&mut app, "backspace");
    }
    let (_, fixed) = dead_letter_load(&type_filter(&mut app, "error:duplicate age:<1h"));
    assert_eq!(
        fixed.filter,
        "connector:ads-conversions-to-analytics error:duplicate age:<1h"
    );
    assert!(app.dead_letters.list.filter_error().is_none());
    assert_eq!(shown(&app), ["dl-0002"]);
    assert!(status_line(&app).contains("Enter keep · Esc clear"));
    key(&mut app, "enter");
    assert!(app.filter_input.is_none());

    // Plain text alone filters as before (substring, ASCII case ignored).
    key(&mut app, "esc");
    key(&mut app, "/");
    let (_, plain) = dead_letter_load(&type_filter(&mut app, "C-88"));
    assert_eq!(plain.filter, "C-88");
    assert!(app.dead_letters.list.filter_pending());
}

#[test]
fn header_and_origin_terms_keep_loaded_rows_until_the_store_answers() {
    // A list row carries no headers: such a term cannot be told from it, so the rows stay
    // (narrowed by the other terms) while the store, which reads the headers, is asked.
    let mut app = on(View::DeadLetters);
    key(&mut app, "/");
    let (_, request) = dead_letter_load(&type_filter(&mut app, "header:x-tenant=acme origin:q"));
    assert_eq!(request.filter, "header:x-tenant=acme origin:q");
    assert!(app.dead_letters.list.filter_pending());
    assert_eq!(app.dead_letters.list.visible().len(), 3);
    dead_letter_load(&type_filter(
        &mut app,
        " connector:hubspot-form-to-salesforce",
    ));
    assert_eq!(app.dead_letters.list.visible().len(), 2);
}

/// Presses `name`, which must ask first (escalate, resolve, un-ack, retry), and confirms with `y`.
fn confirmed(app: &mut triage::console::App, name: &str) -> Vec<triage::console::Cmd> {
    assert!(
        key(app, name).is_empty(),
        "{name} acts only after the question"
    );
    assert!(
        matches!(
            app.dialog,
            Some(triage::console::app::Dialog::ConfirmAction { .. })
        ),
        "{name} asks first: {:?}",
        app.dialog
    );
    key(app, "y")
}

#[test]
fn escalate_resolve_unack_and_retry_ask_first_unless_the_keymap_says_not() {
    let mut app = on(View::Incidents);
    assert!(key(&mut app, "e").is_empty());
    let text = draw(&app, 80, 24).backend().to_string();
    assert!(text.contains("Escalate inc-101?"), "{text}");
    assert!(text.contains("next level is paged"), "{text}");
    assert!(key(&mut app, "n").is_empty(), "n cancels");
    assert!(app.dialog.is_none());
    // Ack does not ask; a keymap can turn the question off for escalate.
    assert!(enqueued(&key(&mut app, "a")).is_some());
    app.keymap = triage::console::Keymap::with_overrides(
        "[keys]\n\"e\" = { action = \"escalate\", confirm = false }\n",
        "test keymap",
    )
    .unwrap();
    assert!(enqueued(&key(&mut app, "e")).is_some(), "no question now");
}

#[test]
fn a_confirmed_resolve_is_held_ten_seconds_and_capital_u_takes_it_back() {
    let mut app = on(View::Incidents);
    let cmds = confirmed(&mut app, "x");
    let [
        Cmd::Store(StoreCmd::EnqueueHeld {
            action, hold_until, ..
        }),
    ] = cmds.as_slice()
    else {
        panic!("a held resolve: {cmds:?}");
    };
    assert_eq!(action.kind, ActionKind::Resolve);
    assert_eq!(*hold_until, now() + chrono::Duration::seconds(10));
    let mut entry = outbox_entry(
        "ob-r",
        ActionKind::Resolve,
        "inc-101",
        OutboxState::Pending,
        0,
    );
    entry.next_attempt_at = *hold_until;
    update(&mut app, Msg::HeldEnqueued(Box::new(entry.clone())));
    assert!(app.status.as_ref().unwrap().text.contains("U undoes it"));
    let cmds = key(&mut app, "U");
    assert!(
        matches!(cmds.as_slice(), [Cmd::Store(StoreCmd::Undo { outbox_id, .. })] if outbox_id == "ob-r"),
        "{cmds:?}"
    );
    update(
        &mut app,
        Msg::Undone {
            what: "resolve of inc-101".into(),
            withdrawn: true,
        },
    );
    assert!(app.status.as_ref().unwrap().text.contains("undone"));
    // Too late: the hold is over.
    update(&mut app, Msg::HeldEnqueued(Box::new(entry)));
    let later = Msg::Key {
        key: triage::console::Key::parse("U").unwrap(),
        now: now() + chrono::Duration::seconds(11),
    };
    assert!(update(&mut app, later).is_empty());
    assert!(
        app.status.as_ref().unwrap().text.contains("was sent"),
        "{:?}",
        app.status
    );
}
