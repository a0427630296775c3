//! The console's store thread against a real store: commands in, messages out, fed through
//! `update` and drawn — the whole read path without a terminal. Also: other processes' writes
//! are noticed through `data_version`, and an unusable store is reported, not a crash.

use crate::console_fixtures;

use std::sync::mpsc;
use std::time::Duration;

use console_fixtures::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::UnboundedReceiver;
use triage::console::msg::{Msg, StoreCmd};
use triage::console::paging::{Landing, PageRequest};
use triage::console::{View, update, views, worker};
use triage::domain::*;
use triage::store::{PageDir, Store, SyncBatch};

fn seed(path: &std::path::Path) {
    let mut store = Store::open(path).unwrap();
    let report = |id: &str, dead: u64| ConnectorReport {
        id: id.into(),
        name: id.into(),
        status: ConnectorStatus::Failing,
        stats: QueueStats {
            ready: 38,
            in_flight: 6,
            retrying: 1,
            dead,
            rate_in: 3.4,
            rate_out: 2.1,
            rate_fail: 1.3,
        },
        last_error: None,
        updated_at: now(),
    };
    let batch = SyncBatch {
        upstream: "demo".into(),
        at: now(),
        connectors: Some(vec![report("hubspot-form-to-salesforce", 2)]),
        incidents: incident_rows().into_iter().map(|r| r.incident).collect(),
        dead_letters: vec![dead_letter("dl-0003", br#"{"email":"ana@example.com"}"#), {
            let mut older = dead_letter("dl-0002", &[0, 1, 2]);
            older.last_failed_at = now() - chrono::Duration::minutes(9);
            older
        }],
        cursors: Vec::new(),
        state: ConnectionState::Live { last_ok: now() },
    };
    store.write_sync_batch(&batch).unwrap();
    let routed = incident_rows().remove(0).incident;
    let route = route_for(&routed, Some("vendor-outage"));
    store
        .write_incident_routes("demo", &[(routed.id, route)], now())
        .unwrap();
}

fn next(rx: &mut UnboundedReceiver<Msg>) -> Msg {
    for _ in 0..500 {
        if let Ok(msg) = rx.try_recv() {
            return msg;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the store thread did not answer within 5 s");
}

#[test]
fn store_thread_answers_every_command_and_the_views_draw_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    seed(&path);
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker_path = path.clone();
    let handle = std::thread::spawn(move || worker::run(worker_path, cmd_rx, msg_tx));
    let mut app = app_with(false);
    assert!(matches!(next(&mut msg_rx), Msg::StoreReady));

    cmd_tx.send(StoreCmd::LoadHeader).unwrap();
    let header = next(&mut msg_rx);
    assert!(
        matches!(&header, Msg::Header { states, pending_actions: 0 } if states.len() == 1 && states[0].1.label() == "live"),
        "{header:?}"
    );
    update(&mut app, header);

    cmd_tx
        .send(StoreCmd::LoadConnectors {
            since: now() - chrono::Duration::hours(1),
        })
        .unwrap();
    let connectors = next(&mut msg_rx);
    assert!(
        matches!(&connectors, Msg::Connectors(rows) if rows.len() == 1 && rows[0].connector.stats.dead == 2),
        "{connectors:?}"
    );
    update(&mut app, connectors);

    let (seq, request) = app.incidents.reload();
    cmd_tx
        .send(StoreCmd::LoadIncidents {
            seq,
            request,
            connector: None,
        })
        .unwrap();
    let incidents = next(&mut msg_rx);
    match &incidents {
        Msg::Incidents { rows, .. } => {
            let ids: Vec<&str> = rows.iter().map(|r| r.incident.id.as_str()).collect();
            assert_eq!(
                ids,
                [
                    "inc-101", "inc-102", "inc-103", "inc-104", "inc-099", "inc-098"
                ],
                "most urgent first: open, acknowledged, suppressed"
            );
            let routed: Vec<bool> = rows.iter().map(|r| r.route.is_some()).collect();
            assert_eq!(
                routed,
                [true, false, false, false, false, false],
                "each row carries its stored route"
            );
        }
        other => panic!("{other:?}"),
    }
    update(&mut app, incidents);

    // Enter on the routed incident: the detail comes back with its route.
    app.view = View::Incidents;
    let cmds = update(
        &mut app,
        Msg::Key {
            key: triage::console::Key::parse("enter").unwrap(),
            now: now(),
        },
    );
    for cmd in cmds {
        if let triage::console::Cmd::Store(cmd) = cmd {
            cmd_tx.send(cmd).unwrap();
        }
    }
    let detail = next(&mut msg_rx);
    match &detail {
        Msg::IncidentDetail(d) => {
            assert_eq!(d.incident.id, "inc-101");
            assert_eq!(
                d.route.as_ref().map(|r| r.explanation()),
                Some("matched rule \"vendor-outages\" at triage.toml:42".to_string())
            );
        }
        other => panic!("{other:?}"),
    }
    update(&mut app, detail);
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    let text = terminal.backend().to_string();
    assert!(
        text.contains("next       level 2 (bridge) in 13m30s"),
        "{text}"
    );
    cmd_tx
        .send(StoreCmd::LoadIncidentDetail {
            upstream: "demo".into(),
            id: "inc-404".into(),
        })
        .unwrap();
    let missing = next(&mut msg_rx);
    assert!(
        matches!(&missing, Msg::StoreError { what, error } if what == "incident inc-404" && error.contains("no longer")),
        "{missing:?}"
    );

    let request = PageRequest {
        sort: Default::default(),
        anchor: None,
        dir: PageDir::Forward,
        filter: String::new(),
        land: Landing::First,
    };
    app.dead_letters.list.request_seq = 7;
    cmd_tx
        .send(StoreCmd::LoadDeadLetters {
            seq: 7,
            request,
            connector: Some("hubspot-form-to-salesforce".into()),
        })
        .unwrap();
    let letters = next(&mut msg_rx);
    assert!(
        matches!(&letters, Msg::DeadLetters { rows, .. } if rows.len() == 2 && rows[0].id == "dl-0003"),
        "{letters:?}"
    );
    update(&mut app, letters);

    let contract_path = dir.path().join("contract.json");
    std::fs::write(&contract_path, contract().to_string()).unwrap();
    cmd_tx
        .send(StoreCmd::LoadDeadLetterDetail {
            upstream: "demo".into(),
            id: "dl-0003".into(),
            contract: Some(contract_path),
        })
        .unwrap();
    let detail = next(&mut msg_rx);
    assert!(
        matches!(&detail, Msg::DeadLetterDetail(d) if d.missing_required == ["lead_source"]),
        "{detail:?}"
    );
    update(&mut app, detail);

    let action = Action {
        kind: ActionKind::Ack,
        upstream: "demo".into(),
        target: "inc-101".into(),
        operator: OPERATOR.into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    cmd_tx
        .send(StoreCmd::Enqueue { action, at: now() })
        .unwrap();
    let enqueued = next(&mut msg_rx);
    let entry_id = match &enqueued {
        Msg::ActionEnqueued(entry) => entry.id.clone(),
        other => panic!("{other:?}"),
    };
    let cmds = update(&mut app, enqueued);
    assert!(cmds.contains(&triage::console::Cmd::WakeOutbox));
    cmd_tx
        .send(StoreCmd::LoadOpenActions {
            failed_since: now() - chrono::Duration::hours(1),
            tracked: vec![entry_id],
        })
        .unwrap();
    match next(&mut msg_rx) {
        Msg::OpenActions { open, tracked } => {
            assert_eq!(open.len(), 1);
            assert!(tracked.is_empty(), "still pending, so not settled");
        }
        other => panic!("{other:?}"),
    }
    let request = PageRequest {
        sort: Default::default(),
        anchor: None,
        dir: PageDir::Forward,
        filter: String::new(),
        land: Landing::First,
    };
    cmd_tx
        .send(StoreCmd::LoadActivity { seq: 1, request })
        .unwrap();
    match next(&mut msg_rx) {
        Msg::Activity { outbox, audit, .. } => {
            assert_eq!(outbox.len(), 1);
            assert!(
                audit.iter().any(|a| a.event == "ack.requested"),
                "{audit:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Another connection writes: the next data_version check reports it.
    cmd_tx.send(StoreCmd::CheckDataVersion).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut other = Store::open(&path).unwrap();
    other
        .set_upstream_state(
            "demo",
            &ConnectionState::Down {
                since: now(),
                error: "refused".into(),
            },
        )
        .unwrap();
    cmd_tx.send(StoreCmd::CheckDataVersion).unwrap();
    assert!(matches!(next(&mut msg_rx), Msg::ExternalChange));

    app.view = View::DeadLetters;
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    let text = terminal.backend().to_string();
    assert!(
        text.contains("contract: missing required field `lead_source`"),
        "{text}"
    );
    assert!(text.contains("\"email\": \"ana@example.com\""), "{text}");
    drop(cmd_tx);
    handle.join().unwrap();
}

#[test]
fn the_dead_letter_detail_loads_and_refreshes_triages_actions_on_the_letter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    seed(&path);
    let mut writer = Store::open(&path).unwrap();
    let replay = |target: &str, operator: &str| Action {
        kind: ActionKind::Replay,
        upstream: "demo".into(),
        target: target.into(),
        operator: operator.into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let minutes = chrono::Duration::minutes;
    let first = writer
        .enqueue_action(&replay("dl-0003", "alice@bastion"), now() - minutes(3))
        .unwrap();
    writer
        .enqueue_action(&replay("dl-0002", "alice@bastion"), now() - minutes(2))
        .unwrap();
    let mut edited = replay("dl-0003", "bob@laptop");
    edited.payload = Some(br#"{"email":"ana@example.com","lead_source":"web"}"#.to_vec());
    writer.enqueue_action(&edited, now() - minutes(1)).unwrap();

    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel();
    let worker_path = path.clone();
    let handle = std::thread::spawn(move || worker::run(worker_path, cmd_rx, msg_tx));
    assert!(matches!(next(&mut msg_rx), Msg::StoreReady));
    let mut app = app_with(false);
    app.view = View::DeadLetters;
    let draw = |app: &triage::console::App| {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|f| views::render(f, app)).unwrap();
        terminal.backend().to_string()
    };

    cmd_tx
        .send(StoreCmd::LoadDeadLetterDetail {
            upstream: "demo".into(),
            id: "dl-0003".into(),
            contract: None,
        })
        .unwrap();
    let detail = next(&mut msg_rx);
    match &detail {
        Msg::DeadLetterDetail(d) => {
            let operators: Vec<&str> = d
                .history
                .iter()
                .map(|e| e.action.operator.as_str())
                .collect();
            assert_eq!(operators, ["bob@laptop", "alice@bastion"], "newest first");
        }
        other => panic!("{other:?}"),
    }
    update(&mut app, detail);
    let text = draw(&app);
    assert!(
        text.contains("2026-03-14 02:59 bob@laptop edited replay → pending"),
        "{text}"
    );
    assert!(
        text.contains("2026-03-14 02:57 alice@bastion replay → pending"),
        "{text}"
    );

    // The outbox worker gets the upstream's answer; the change notice reloads the history.
    writer
        .record_action_outcome(
            &first.id,
            &ActionOutcome {
                ok: false,
                summary: "destination refused (400): INVALID_FIELD".into(),
                response: serde_json::Value::Null,
            },
            None,
            None,
            now(),
        )
        .unwrap();
    let cmds = update(&mut app, Msg::Changed(triage::store::ChangeNotice::Outbox));
    for cmd in cmds {
        if let triage::console::Cmd::Store(cmd @ StoreCmd::LoadDeadLetterHistory { .. }) = cmd {
            cmd_tx.send(cmd).unwrap();
        }
    }
    let refreshed = next(&mut msg_rx);
    assert!(
        matches!(&refreshed, Msg::DeadLetterHistory { id, history, .. } if id == "dl-0003" && history.len() == 2),
        "{refreshed:?}"
    );
    update(&mut app, refreshed);
    let text = draw(&app);
    assert!(
        text.contains(
            "2026-03-14 02:57 alice@bastion replay → failed: destination refused (400): INVALID_FIELD"
        ),
        "{text}"
    );
    drop(cmd_tx);
    handle.join().unwrap();
}

#[test]
fn an_unusable_store_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_db = dir.path().join("store.db");
    std::fs::write(
        &not_a_db,
        b"this is not sqlite, just text that is long enough to not be a header",
    )
    .unwrap();
    let (_cmd_tx, cmd_rx) = mpsc::channel::<StoreCmd>();
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || worker::run(not_a_db, cmd_rx, msg_tx));
    let msg = next(&mut msg_rx);
    let mut app = app_with(false);
    app.store = triage::console::app::StoreStatus::Opening;
    match &msg {
        Msg::StoreFailed(error) => assert!(error.contains("store.db"), "{error}"),
        other => panic!("{other:?}"),
    }
    update(&mut app, msg);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| views::render(f, &app)).unwrap();
    assert!(terminal.backend().to_string().contains("store unavailable"));
}
