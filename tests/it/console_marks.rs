//! Marks, `update` level: `space` toggles the row (and moves on), `*` asks the store for every
//! match of the current filter and marks exactly its answer, `u` clears; marks are kept by
//! `(upstream, id)` across scrolling and live reloads and dropped when the store says a row left
//! the listing; the titles say "N marked".

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::app::Dialog;
use triage::console::bulk::{self, BulkTarget};
use triage::console::marks::MarkList;
use triage::console::msg::{Cmd, StoreCmd};
use triage::console::{Msg, View, update};
use triage::domain::{Action, ActionKind, OutboxState};
use triage::store::ChangeNotice;

fn on(view: View) -> triage::console::App {
    let mut app = loaded_app();
    app.view = view;
    app
}

fn ids(app: &triage::console::App, list: MarkList) -> Vec<String> {
    app.marks.keys(list).into_iter().map(|(_, id)| id).collect()
}

#[test]
fn space_toggles_the_row_under_the_cursor_and_moves_down() {
    let mut app = on(View::Incidents);
    assert_eq!(app.incidents.cursor, 0);
    key(&mut app, "space");
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101"]);
    assert_eq!(app.incidents.cursor, 1, "space moves to the next row");
    key(&mut app, "space");
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101", "inc-102"]);
    key(&mut app, "k");
    key(&mut app, "space");
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101"], "space unmarks");
    // Dead letters keep their own marks.
    app.view = View::DeadLetters;
    key(&mut app, "space");
    assert_eq!(ids(&app, MarkList::DeadLetters), ["dl-0003"]);
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101"]);
}

#[test]
fn marks_elsewhere_and_on_empty_lists_explain_and_never_panic() {
    let mut app = on(View::Connectors);
    assert!(key(&mut app, "space").is_empty());
    assert!(app.status.as_ref().unwrap().text.contains("marks work on"));
    let mut app = on(View::Incidents);
    load_incidents(&mut app, Vec::new());
    key(&mut app, "space");
    assert!(app.marks.incidents.is_empty());
    assert!(key(&mut app, "u").is_empty());
}

#[test]
fn star_asks_the_store_for_every_match_of_the_filter_and_marks_its_answer() {
    let mut app = on(View::DeadLetters);
    app.dead_letters.list.filter = "error:INVALID".into();
    let cmds = key(&mut app, "*");
    let (list, filter) = cmds
        .iter()
        .find_map(|c| match c {
            Cmd::Store(StoreCmd::SelectMatching { list, filter, .. }) => {
                Some((*list, filter.clone()))
            }
            _ => None,
        })
        .expect("a selection is asked of the store");
    assert_eq!(
        (list, filter.as_str()),
        (MarkList::DeadLetters, "error:INVALID")
    );
    // Rows far beyond the loaded page are marked too.
    let answer: Vec<(String, String)> = (0..312)
        .map(|i| ("demo".to_string(), format!("dl-{i:05}")))
        .collect();
    // An answer for another filter text is ignored.
    update(
        &mut app,
        Msg::Selected {
            list,
            filter: "older".into(),
            ids: answer.clone(),
        },
    );
    assert!(app.marks.dead_letters.is_empty());
    update(
        &mut app,
        Msg::Selected {
            list,
            filter,
            ids: answer,
        },
    );
    assert_eq!(app.marks.dead_letters.len(), 312);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("312 dead letters"),
        "{:?}",
        app.status
    );
    // A connector scope narrows the selection.
    app.dead_letters.connector = Some("hubspot-form-to-salesforce".into());
    let cmds = key(&mut app, "*");
    assert!(cmds.iter().any(|c| matches!(c,
        Cmd::Store(StoreCmd::SelectMatching { filter, .. })
            if filter.starts_with("connector:hubspot-form-to-salesforce"))));
}

#[test]
fn u_clears_the_marks_of_the_current_list_only() {
    let mut app = on(View::Incidents);
    key(&mut app, "space");
    app.view = View::DeadLetters;
    key(&mut app, "space");
    key(&mut app, "u");
    assert!(app.marks.dead_letters.is_empty());
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101"]);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("1 dead letter unmarked")
    );
}

#[test]
fn marks_survive_scrolling_reloads_and_filters_and_go_when_the_store_drops_the_row() {
    let mut app = on(View::Incidents);
    key(&mut app, "space"); // inc-101
    key(&mut app, "j");
    key(&mut app, "space"); // inc-103
    key(&mut app, "G");
    key(&mut app, "g");
    // A live reload with the rows in another order, one of them gone from the page.
    let mut rows = incident_rows();
    rows.reverse();
    rows.retain(|r| r.incident.id != "inc-103");
    load_incidents(&mut app, rows);
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101", "inc-103"]);
    // A change notice asks the store which marked rows left the listing…
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Incidents));
    let keys = cmds
        .iter()
        .find_map(|c| match c {
            Cmd::Store(StoreCmd::CheckMarks { list, keys }) => {
                assert_eq!(*list, MarkList::Incidents);
                Some(keys.clone())
            }
            _ => None,
        })
        .expect("marks are checked");
    assert_eq!(keys.len(), 2);
    // …and drops those.
    update(
        &mut app,
        Msg::MarksGone {
            list: MarkList::Incidents,
            gone: vec![("demo".into(), "inc-103".into())],
        },
    );
    assert_eq!(ids(&app, MarkList::Incidents), ["inc-101"]);
    // Without marks nothing is checked.
    key(&mut app, "u");
    let cmds = update(&mut app, Msg::Changed(ChangeNotice::Incidents));
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Cmd::Store(StoreCmd::CheckMarks { .. })))
    );
}

fn prepared(cmds: &[Cmd]) -> Option<(triage::domain::ActionKind, usize)> {
    cmds.iter().find_map(|c| match c {
        Cmd::Store(StoreCmd::PrepareIncidentBulk { kind, keys, .. }) => Some((*kind, keys.len())),
        _ => None,
    })
}

fn bulk_target(connector: &str, id: &str, kind: ActionKind) -> BulkTarget {
    BulkTarget {
        connector: connector.into(),
        action: Action {
            kind,
            upstream: "demo".into(),
            target: id.into(),
            operator: OPERATOR.into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        },
    }
}

#[test]
fn incident_actions_on_marks_ask_the_store_then_confirm_with_count_and_ids_per_connector() {
    for (action_key, kind) in [
        ("a", ActionKind::Ack),
        ("A", ActionKind::Unack),
        ("x", ActionKind::Resolve),
        ("e", ActionKind::Escalate),
    ] {
        let mut app = on(View::Incidents);
        key(&mut app, "space");
        key(&mut app, "space");
        let cmds = key(&mut app, action_key);
        assert_eq!(prepared(&cmds), Some((kind, 2)), "{action_key}");
        assert!(
            !cmds
                .iter()
                .any(|c| matches!(c, Cmd::Store(StoreCmd::Enqueue { .. }))),
            "nothing is queued before the confirmation"
        );
        let targets = vec![
            bulk_target("hubspot", "inc_1", kind),
            bulk_target("hubspot", "inc_2", kind),
            bulk_target("hubspot", "inc_3", kind),
            bulk_target("hubspot", "inc_4", kind),
            bulk_target("ads", "inc_9", kind),
        ];
        update(
            &mut app,
            Msg::IncidentBulkReady {
                kind,
                targets: targets.clone(),
                skipped: vec!["inc_7 is already acknowledged by dev@laptop".into()],
                gone: vec![("demo".into(), "inc-102".into())],
            },
        );
        assert_eq!(
            ids(&app, MarkList::Incidents),
            ["inc-101"],
            "gone marks dropped"
        );
        match app.dialog.as_ref().expect("a confirmation") {
            Dialog::ConfirmIncidents {
                kind: k,
                targets: t,
                skipped,
            } => {
                assert_eq!((*k, t.len(), skipped.len()), (kind, 5, 1));
                assert_eq!(
                    bulk::target_lines(t),
                    ["hubspot: inc_1, inc_2, inc_3 (+1 more)", "ads: inc_9"]
                );
            }
            other => panic!("{other:?}"),
        }
        // n cancels and keeps the marks.
        let mut cancelled = app.clone();
        assert!(key(&mut cancelled, "n").is_empty());
        assert_eq!(cancelled.marks.incidents.len(), 1);
        // y queues one action per incident and clears the marks.
        let cmds = key(&mut app, "y");
        let actions = cmds
            .iter()
            .find_map(|c| match c {
                Cmd::Store(StoreCmd::EnqueueMany {
                    kind: k, actions, ..
                }) => {
                    assert_eq!(*k, kind);
                    Some(actions.clone())
                }
                _ => None,
            })
            .expect("queued");
        assert_eq!(
            actions,
            targets.into_iter().map(|t| t.action).collect::<Vec<_>>()
        );
        assert!(app.marks.incidents.is_empty());
        assert!(app.dialog.is_none());
    }
}

#[test]
fn a_bulk_action_nothing_applies_to_says_why_and_the_status_says_what_was_queued() {
    let mut app = on(View::Incidents);
    key(&mut app, "space");
    key(&mut app, "a");
    update(
        &mut app,
        Msg::IncidentBulkReady {
            kind: ActionKind::Ack,
            targets: Vec::new(),
            skipped: vec!["inc-101 is already acknowledged by dev@laptop".into()],
            gone: Vec::new(),
        },
    );
    assert!(app.dialog.is_none());
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains("nothing to ack: inc-101 is already")
    );
    // The answer to a confirmed bulk: tracked, outbox woken, status names the count.
    let entries: Vec<_> = ["inc-101", "inc-102", "inc-103"]
        .iter()
        .map(|id| {
            let mut e = outbox()[0].clone();
            e.id = format!("act-{id}");
            e.action.kind = ActionKind::Ack;
            e.action.target = (*id).into();
            e.state = OutboxState::Pending;
            e
        })
        .collect();
    let cmds = update(
        &mut app,
        Msg::BulkEnqueued {
            kind: ActionKind::Ack,
            entries,
            problems: Vec::new(),
        },
    );
    assert!(cmds.contains(&Cmd::WakeOutbox));
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "ack of 3 incidents queued"
    );
    assert_eq!(app.tracked_actions.len(), 3);
    // Without marks, `a` acts on the row as before.
    key(&mut app, "u");
    let cmds = key(&mut app, "a");
    assert!(prepared(&cmds).is_none());
}

#[test]
fn replay_and_discard_on_marks_plan_first_and_the_run_reports_in_the_status_line() {
    for (action_key, kind) in [("r", ActionKind::Replay), ("d", ActionKind::Discard)] {
        let mut app = on(View::DeadLetters);
        key(&mut app, "space");
        key(&mut app, "space");
        let cmds = key(&mut app, action_key);
        assert!(
            cmds.iter().any(|c| matches!(c,
                Cmd::Store(StoreCmd::PlanRun { kind: k, keys, .. }) if *k == kind && keys.len() == 2)),
            "{cmds:?}"
        );
        assert!(app.dialog.is_none(), "the plan comes first");
    }
    // Progress of the driven run, then its end.
    let mut app = on(View::DeadLetters);
    let mut gauge = triage::console::runs::RunGauge {
        id: "run-1".into(),
        kind: ActionKind::Replay,
        state: triage::domain::run::RunState::Running,
        progress: triage::domain::run::RunProgress {
            total: 312,
            sent: 40,
            failed: 2,
            skipped: 5,
            ..Default::default()
        },
        stage: Some(2),
        stages: 3,
        finished: false,
        error: None,
        speed: None,
    };
    update(&mut app, Msg::RunProgress(Box::new(gauge.clone())));
    assert_eq!(
        app.status.as_ref().unwrap().text,
        "replay run run-1: 40 done · 2 failed · 5 skipped · 265 left · stage 2/3"
    );
    gauge.finished = true;
    gauge.state = triage::domain::run::RunState::Paused;
    update(&mut app, Msg::RunProgress(Box::new(gauge)));
    assert!(app.status.as_ref().unwrap().text.ends_with("— paused"));
    assert_eq!(
        app.status.as_ref().unwrap().level,
        triage::console::app::StatusLevel::Warning
    );
}
