//! The console's run driver (what `y` on a replay of marked dead letters starts) against the
//! real demo upstream on loopback: a run planned and created by the console's store thread is
//! driven to its end, its progress arriving as `Msg::RunProgress` and the letters delivered.

use crate::support::demo_cli;

use std::time::Duration;

use clap::Parser;
use demo_cli::Demo;
use triage::console::Msg;
use triage::console::msg::StoreCmd;
use triage::console::worker::{EscalationContext, execute_with};
use triage::domain::ActionKind;
use triage::domain::query::{Query, RowKind};
use triage::domain::run::RunState;
use triage::store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_run_of_marked_letters_is_driven_to_its_end_with_progress() {
    let demo = Demo::start(&[]);
    demo.ok(&["sync", "--once"]);
    let cli = triage::cli::Cli::try_parse_from([
        "triage".as_ref(),
        "--config".as_ref(),
        demo.config.as_os_str(),
        "--store".as_ref(),
        demo.store.as_os_str(),
    ])
    .unwrap();
    let ctx = triage::commands::Context::load(&cli).unwrap();
    let mut store = Store::open(&demo.store).unwrap();
    // Mark every live letter of a connector whose destination accepts them.
    let all = store
        .select_dead_letter_ids(
            &Query::parse("", RowKind::DeadLetters).unwrap(),
            chrono::Utc::now(),
        )
        .unwrap();
    assert!(!all.is_empty(), "the demo has dead letters");
    let esc = EscalationContext {
        config: ctx.config.clone(),
        routing: ctx.routing.clone(),
    };
    let planned = execute_with(
        &mut store,
        StoreCmd::PlanRun {
            kind: ActionKind::Discard,
            keys: all.clone(),
            operator: "tester".into(),
        },
        Some(&esc),
    )
    .unwrap();
    let Msg::RunPlanned { plan, .. } = planned else {
        panic!("{planned:?}");
    };
    assert_eq!(plan.plan().to_send, all.len(), "a discard skips nothing");
    let created = execute_with(
        &mut store,
        StoreCmd::CreateRun {
            plan,
            at: chrono::Utc::now(),
        },
        Some(&esc),
    )
    .unwrap();
    let Msg::RunCreated { id, .. } = created else {
        panic!("{created:?}");
    };
    let (changes, _) = tokio::sync::broadcast::channel(16);
    let driver = triage::commands::console::run_driver(&ctx, changes);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(driver(id.clone(), tx));
    let mut reports = 0;
    let last = loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("progress within 60 s")
            .expect("the driver reports its end");
        let Msg::RunProgress(gauge) = msg else {
            panic!("{msg:?}");
        };
        reports += 1;
        assert_eq!(gauge.id, id);
        assert_eq!(gauge.kind, ActionKind::Discard);
        if gauge.finished {
            break gauge;
        }
    };
    assert!(reports > 1, "progress before the end");
    assert_eq!(last.state, RunState::Done, "{}", last.line());
    assert_eq!(last.progress.sent, all.len(), "{}", last.line());
    assert!(last.error.is_none());
    let live = store
        .select_dead_letter_ids(
            &Query::parse("", RowKind::DeadLetters).unwrap(),
            chrono::Utc::now(),
        )
        .unwrap();
    assert!(
        live.iter().all(|k| !all.contains(k)),
        "every marked letter was discarded"
    );
}
