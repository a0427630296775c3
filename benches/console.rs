//! Console benchmarks on a big store (1,000,000 dead letters, 100,000 incidents by default):
//! time to first frame (App + the "loading" frame, before any store work), and for each view
//! the store page through the console's own store-thread code plus one full frame.
//!
//! `cargo bench --bench console` (`TRIAGE_BENCH_DEAD_LETTERS` / `TRIAGE_BENCH_INCIDENTS` change
//! the sizes; the seeded store is kept in `target/bench-console-<n>-<m>.db` between runs).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use triage::config::Config;
use triage::console::msg::{Msg, StoreCmd};
use triage::console::paging::{Landing, PageRequest};
use triage::console::{App, Keymap, Theme, View, update, views, worker};
use triage::domain::*;
use triage::store::{PageDir, Store, SyncBatch};

const CONNECTORS: usize = 8;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn dead_letter(n: usize) -> DeadLetter {
    let at = t0() + chrono::Duration::seconds(n as i64);
    DeadLetter {
        upstream: "bench".into(),
        id: format!("dl-{n:08}"),
        connector: format!("connector-{}", n % CONNECTORS),
        payload: format!(
            "{{\"order\":{n},\"email\":\"lead{n}@example.com\",\"note\":\"{}\"}}",
            "x".repeat(700)
        )
        .into_bytes(),
        content_type: Some("application/json".into()),
        headers: vec![("content-type".into(), "application/json".into())],
        error: DeadLetterError {
            code: "INVALID_FIELD".into(),
            message: "No such column 'lead_source'".into(),
            http_status: Some(400),
            vendor_response: None,
        },
        attempts: 5,
        first_failed_at: at,
        last_failed_at: at,
        state: DeadLetterState::Dead,
        updated_at: at,
    }
}

fn incident(n: usize) -> Incident {
    let at = t0() + chrono::Duration::seconds(n as i64);
    Incident {
        upstream: "bench".into(),
        id: format!("inc-{n:07}"),
        connector: format!("connector-{}", n % CONNECTORS),
        kind: "dlq_growth".into(),
        severity: if n.is_multiple_of(3) {
            Severity::Critical
        } else {
            Severity::Major
        },
        status: if n.is_multiple_of(4) {
            IncidentStatus::Acknowledged
        } else {
            IncidentStatus::Open
        },
        title: format!("DLQ growing on connector-{}", n % CONNECTORS),
        detail: String::new(),
        opened_at: at,
        updated_at: at,
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: Some(at + chrono::Duration::minutes(15)),
        escalation_level: 0,
        labels: Default::default(),
        links: Vec::new(),
    }
}

/// The seeded store, built once and kept under target/.
fn big_store(dead_letters: usize, incidents: usize) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "target/bench-console-{dead_letters}-{incidents}.db"
    ));
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut store = Store::open(&tmp).expect("open bench store");
    let reports: Vec<ConnectorReport> = (0..CONNECTORS)
        .map(|c| ConnectorReport {
            id: format!("connector-{c}"),
            name: format!("Connector {c}"),
            status: ConnectorStatus::Failing,
            stats: QueueStats {
                ready: 10,
                in_flight: 2,
                retrying: 1,
                dead: (dead_letters / CONNECTORS) as u64,
                rate_in: 3.0,
                rate_out: 2.0,
                rate_fail: 1.0,
            },
            last_error: None,
            updated_at: t0(),
        })
        .collect();
    let batch_size = 1_000;
    let batches = dead_letters.max(incidents).div_ceil(batch_size);
    for b in 0..batches {
        let range = b * batch_size..(b + 1) * batch_size;
        let batch = SyncBatch {
            upstream: "bench".into(),
            at: t0() + chrono::Duration::seconds(b as i64),
            connectors: b.is_multiple_of(100).then(|| reports.clone()),
            incidents: range
                .clone()
                .filter(|&n| n < incidents)
                .map(incident)
                .collect(),
            dead_letters: range
                .filter(|&n| n < dead_letters)
                .map(dead_letter)
                .collect(),
            cursors: Vec::new(),
            state: ConnectionState::Live { last_ok: t0() },
        };
        store.write_sync_batch(&batch).expect("seed batch");
    }
    drop(store);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    std::fs::rename(&tmp, &path).expect("keep the seeded store");
    path
}

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
