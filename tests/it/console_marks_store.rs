//! Marks against a real SQLite store through the console's store thread commands: `*` with a
//! query marks exactly the store's matches (far more than one page), marks of rows that left
//! the listing are reported gone, and a bulk incident action queues one outbox action per
//! marked incident it applies to.

use crate::console_fixtures;

use console_fixtures::*;
use triage::console::marks::MarkList;
use triage::console::msg::{Cmd, Msg, StoreCmd};
use triage::console::paging::PAGE_LIMIT;
use triage::console::{View, update, worker};
use triage::domain::*;
use triage::store::{Store, SyncBatch};

const LETTERS: usize = 900;

fn seed(store: &mut Store) {
    let letters = (0..LETTERS)
        .map(|i| {
            let mut dl = dead_letter(&format!("dl-{i:05}"), br#"{"email":"a@example.com"}"#);
            dl.last_failed_at = now() - chrono::Duration::seconds(i as i64);
            if i % 3 == 0 {
                dl.connector = "ads-conversions-to-analytics".into();
                dl.error.code = "DUPLICATE_KEY".into();
            }
            if i % 10 == 0 {
                dl.state = DeadLetterState::Replayed;
            }
            dl
        })
        .collect();
    let batch = SyncBatch {
        upstream: "demo".into(),
        at: now(),
        connectors: None,
        incidents: incident_rows().into_iter().map(|r| r.incident).collect(),
        dead_letters: letters,
        cursors: Vec::new(),
        state: ConnectionState::Live { last_ok: now() },
    };
    store.write_sync_batch(&batch).unwrap();
}

fn store_cmd(cmds: Vec<Cmd>) -> StoreCmd {
    cmds.into_iter()
        .find_map(|c| match c {
            Cmd::Store(
                cmd @ (StoreCmd::SelectMatching { .. }
                | StoreCmd::CheckMarks { .. }
                | StoreCmd::PrepareIncidentBulk { .. }
                | StoreCmd::EnqueueMany { .. }),
            ) => Some(cmd),
            _ => None,
        })
        .expect("a store command")
}

#[test]
fn star_marks_exactly_the_stores_matches_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    seed(&mut store);
    let expected: Vec<(String, String)> = (0..LETTERS)
        .filter(|i| i % 3 != 0 && i % 10 != 0)
        .map(|i| ("demo".to_string(), format!("dl-{i:05}")))
        .collect();
    assert!(expected.len() > 2 * PAGE_LIMIT, "more than one page");

    let mut app = loaded_app();
    app.view = View::DeadLetters;
    app.dead_letters.list.filter = "connector:hubspot-form-to-salesforce error:INVALID".into();
    let cmd = store_cmd(key(&mut app, "*"));
    let answer = worker::execute(&mut store, cmd).unwrap();
    update(&mut app, answer);
    let mut marked = app.marks.keys(MarkList::DeadLetters);
    let mut want = expected.clone();
    marked.sort();
    want.sort();
    assert_eq!(marked, want);
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .text
            .contains(&format!("{} dead letters", want.len())),
        "{:?}",
        app.status
    );

    // A letter replayed meanwhile leaves the listing: its mark goes at the next change.
    let (upstream, id) = want[0].clone();
    let mut letter = store.dead_letter(&upstream, &id).unwrap().unwrap();
    letter.state = DeadLetterState::Discarded;
    store
        .write_sync_batch(&SyncBatch {
            upstream: "demo".into(),
            at: now(),
            connectors: None,
            incidents: Vec::new(),
            dead_letters: vec![letter],
            cursors: Vec::new(),
            state: ConnectionState::Live { last_ok: now() },
        })
        .unwrap();
    let cmds = update(
        &mut app,
        Msg::Changed(triage::store::ChangeNotice::DeadLetters),
    );
    let answer = worker::execute(&mut store, store_cmd(cmds)).unwrap();
    update(&mut app, answer);
    assert_eq!(app.marks.dead_letters.len(), want.len() - 1);
    assert!(!app.marks.is_marked(MarkList::DeadLetters, &upstream, &id));
}

#[test]
fn a_confirmed_bulk_ack_queues_one_outbox_action_per_applicable_incident() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    seed(&mut store);
    let mut app = loaded_app();
    app.view = View::Incidents;
    app.incidents.filter.clear();
    let cmd = store_cmd(key(&mut app, "*"));
    let answer = worker::execute(&mut store, cmd).unwrap();
    update(&mut app, answer);
    let marked = app.marks.incidents.len();
    assert!(marked >= 5, "{marked}");
    let cmd = store_cmd(key(&mut app, "a"));
    let answer = worker::execute(&mut store, cmd).unwrap();
    update(&mut app, answer);
    let Some(triage::console::app::Dialog::ConfirmIncidents {
        targets, skipped, ..
    }) = app.dialog.clone()
    else {
        panic!("a confirmation: {:?}", app.status);
    };
    // The acknowledged one is left out with its reason.
    assert_eq!(targets.len() + skipped.len(), marked);
    assert!(
        skipped.iter().any(|s| s.contains("already acknowledged")),
        "{skipped:?}"
    );
    let cmd = store_cmd(key(&mut app, "y"));
    let answer = worker::execute(&mut store, cmd).unwrap();
    update(&mut app, answer);
    let pending = store.pending_action_count().unwrap();
    assert_eq!(pending as usize, targets.len());
    assert_eq!(
        app.status.as_ref().unwrap().text,
        format!("ack of {} incidents queued", targets.len())
    );
    assert!(app.marks.incidents.is_empty());
}

#[test]
fn replay_on_marks_plans_in_the_store_thread_then_creates_a_run_of_exactly_the_marks() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    seed(&mut store);
    // The ads connector's contract needs a conversion id; the others have none.
    let contract = dir.path().join("ads.json");
    std::fs::write(
        &contract,
        r#"{"type":"object","required":["conversion_id"]}"#,
    )
    .unwrap();
    let mut config = config();
    for connector in &mut config.connectors {
        connector.contract =
            (connector.id == "ads-conversions-to-analytics").then(|| contract.clone());
    }
    let ctx = worker::EscalationContext {
        config,
        routing: routing(),
    };
    let mut app = loaded_app();
    app.view = View::DeadLetters;
    app.dead_letters.list.filter.clear();
    let answer = worker::execute(&mut store, store_cmd(key(&mut app, "*"))).unwrap();
    update(&mut app, answer);
    let marked = app.marks.dead_letters.len();
    assert_eq!(marked, (0..LETTERS).filter(|i| i % 10 != 0).count());

    let cmds = key(&mut app, "r");
    let plan_cmd = cmds
        .into_iter()
        .find_map(|c| match c {
            Cmd::Store(cmd @ StoreCmd::PlanRun { .. }) => Some(cmd),
            _ => None,
        })
        .expect("a plan is asked of the store");
    let answer = worker::execute_with(&mut store, plan_cmd, Some(&ctx)).unwrap();
    update(&mut app, answer);
    let Some(triage::console::app::Dialog::ConfirmRun { plan }) = app.dialog.clone() else {
        panic!("a confirmation: {:?}", app.status);
    };
    assert_eq!(plan.plan().total, marked);
    // The ads connector's contract refuses these payloads: skipped, and said so.
    let ads = (0..LETTERS).filter(|i| i % 3 == 0 && i % 10 != 0).count();
    assert_eq!(plan.plan().violations, ads);
    assert_eq!(plan.plan().to_send, marked - ads);
    assert_eq!(
        plan.plan().stages.iter().sum::<usize>(),
        plan.plan().to_send
    );
    let lines = triage::console::runs::plan_lines(&plan);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("hubspot-form-to-salesforce → "))
            && lines.iter().any(|l| l.starts_with("contract violations: ")),
        "{lines:?}"
    );

    let cmds = key(&mut app, "y");
    assert!(app.marks.dead_letters.is_empty());
    let create = cmds
        .into_iter()
        .find_map(|c| match c {
            Cmd::Store(cmd @ StoreCmd::CreateRun { .. }) => Some(cmd),
            _ => None,
        })
        .expect("the run is created");
    let answer = worker::execute(&mut store, create).unwrap();
    let Msg::RunCreated { id, total, .. } = answer.clone() else {
        panic!("{answer:?}");
    };
    assert_eq!(total, plan.plan().to_send);
    let cmds = update(&mut app, answer);
    assert_eq!(cmds, vec![Cmd::DriveRun { id: id.clone() }]);
    let run = store.run(&id).unwrap().expect("the run is in the store");
    assert_eq!(run.kind, ActionKind::Replay);
    let progress = store.run_progress(&id, None).unwrap();
    assert_eq!(progress.total, marked);
}
