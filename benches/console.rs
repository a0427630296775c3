//! Console benchmarks on a big store (1,000,000 dead letters, 100,000 incidents by default):
//! time to first frame (App + the "loading" frame, before any store work), and for each view
//! the store page through the console's own store-thread code plus one full frame.
//!
//! `cargo bench --bench console` (`TRIAGE_BENCH_DEAD_LETTERS` / `TRIAGE_BENCH_INCIDENTS` change
//! the sizes; the seeded store is kept in `target/bench-console-<n>-<m>.db` between runs).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use triage::config::Config;
use triage::console::msg::{Msg, StoreCmd};
use triage::console::paging::{Landing, PageRequest};
use triage::console::{App, Keymap, Theme, View, update, views, worker};
use triage::store::{PageDir, Store};

#[path = "support/console_store.rs"]
mod console_store;
use console_store::*;

fn empty_config() -> Config {
    Config {
        file: None,
        operator: "bench@host".into(),
        read_only: false,
        store: None,
        default_ack_sla: Duration::from_secs(900),
        upstreams: Vec::new(),
        connectors: Vec::new(),
        people: Vec::new(),
        teams: Vec::new(),
    }
}

fn new_app() -> App {
    App::new(
        empty_config(),
        triage::config::RoutingConfig::default(),
        "bench@host".into(),
        false,
        Keymap::builtin().expect("keymap"),
        Theme { no_color: false },
        t0(),
    )
}

fn frame(terminal: &mut Terminal<TestBackend>, app: &App) {
    terminal.draw(|f| views::render(f, app)).expect("draw");
}

/// The store command that loads `view`'s data.
fn load_cmd(app: &mut App, view: View) -> StoreCmd {
    match view {
        View::Connectors => StoreCmd::LoadConnectors {
            since: t0() - chrono::Duration::hours(1),
        },
        View::Incidents => {
            let (seq, request) = app.incidents.reload();
            StoreCmd::LoadIncidents {
                seq,
                request,
                connector: None,
            }
        }
        View::DeadLetters => {
            app.dead_letters.list.request_seq += 1;
            let request = PageRequest {
                sort: Default::default(),
                anchor: None,
                dir: PageDir::Forward,
                filter: String::new(),
                land: Landing::First,
            };
            StoreCmd::LoadDeadLetters {
                seq: app.dead_letters.list.request_seq,
                request,
                connector: None,
            }
        }
        View::Activity => {
            let (seq, request) = app.activity.list.reload();
            StoreCmd::LoadActivity { seq, request }
        }
        View::Runbook => StoreCmd::LoadRunbook {
            connector: "connector-0".into(),
            path: None,
        },
        // 30 days that hold every incident of the bench store (opened a second apart from t0).
        View::Metrics => StoreCmd::LoadMetrics {
            span: triage::console::metrics::MetricsSpan::Month,
            now: t0() + chrono::Duration::days(29),
        },
    }
}

fn benches(c: &mut Criterion) {
    let path = big_store(
        size("TRIAGE_BENCH_DEAD_LETTERS", 1_000_000),
        size("TRIAGE_BENCH_INCIDENTS", 100_000),
    );
    c.bench_function("console/first_frame_200x60", |b| {
        b.iter(|| {
            let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
            let app = new_app();
            frame(&mut terminal, &app);
            black_box(terminal.backend().buffer().area);
        })
    });
    let mut store = Store::open(&path).expect("open bench store");
    for view in View::ALL {
        let mut app = new_app();
        update(&mut app, Msg::StoreReady);
        app.view = view;
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
        c.bench_function(&format!("console/{}/load_page", view.title()), |b| {
            b.iter(|| {
                let cmd = load_cmd(&mut app, view);
                let msg = worker::execute(&mut store, cmd).expect("load");
                update(&mut app, msg);
            })
        });
        c.bench_function(&format!("console/{}/frame_200x60", view.title()), |b| {
            b.iter(|| frame(&mut terminal, &app))
        });
        c.bench_function(
            &format!("console/{}/move_and_frame_200x60", view.title()),
            |b| {
                b.iter(|| {
                    update(
                        &mut app,
                        Msg::Key {
                            key: triage::console::Key::parse("j").expect("key"),
                            now: t0(),
                        },
                    );
                    frame(&mut terminal, &app);
                })
            },
        );
    }
}

criterion_group! {
    name = console;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    targets = benches
}
criterion_main!(console);
