//! `triage watch`'s evaluation tick over many unresolved incidents. The first tick looks at every
//! incident (its SLA clock run against its stored route and chain) and takes every due step
//! (outbox rows, escalation records). Measured: the steady tick, where every step is taken and no
//! incident's next look is due (the tick reads the due marks only), and a full look, as when a
//! watcher takes over the lease (every mark reset, every clock run again, no step due).
//!
//! `cargo bench --bench watch` (set `TRIAGE_BENCH_INCIDENTS` for the size; default 10,000).

use std::hint::black_box;

use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use triage::config::Config;
use triage::domain::routing::{IncidentFacts, StoredRoute};
use triage::domain::{ConnectionState, Incident, IncidentStatus, Severity};
use triage::store::{Store, SyncBatch};
use triage::sync::StoreWriter;
use triage::sync::watcher::{evaluate, look_at_everything};

fn incident(n: usize, connector: &str) -> Incident {
    let opened = Utc::now() - Duration::hours(30);
    Incident {
        upstream: "demo".into(),
        id: format!("inc-{n:07}"),
        connector: connector.into(),
        kind: if n.is_multiple_of(3) {
            "vendor_outage"
        } else {
            "delivery_failures"
        }
        .into(),
        severity: [Severity::Critical, Severity::Major, Severity::Warning][n % 3],
        status: if n.is_multiple_of(4) {
            IncidentStatus::Acknowledged
        } else {
            IncidentStatus::Open
        },
        title: format!("incident {n}"),
        detail: String::new(),
        opened_at: opened,
        updated_at: opened,
        acked_by: (n.is_multiple_of(4)).then(|| "dev@laptop".to_string()),
        acked_at: (n.is_multiple_of(4)).then_some(opened + Duration::minutes(5)),
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: Default::default(),
        links: Vec::new(),
    }
}

fn bench_watch(c: &mut Criterion) {
    let size: usize = std::env::var("TRIAGE_BENCH_INCIDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = triage::demo::write_demo_config(dir.path(), "http://127.0.0.1:9").expect("config");
    let (config, routing) = Config::load_with_routing(&path).expect("demo config loads");
    let store_path = dir.path().join("triage.db");
    let mut store = Store::open(&store_path).expect("store");
    store
        .sync_inventory(&config.inventory())
        .expect("inventory");
    let connectors: Vec<String> = config.inventory().into_iter().map(|c| c.id).collect();
    for chunk in (0..size).collect::<Vec<_>>().chunks(1_000) {
        let incidents: Vec<Incident> = chunk
            .iter()
            .map(|&n| incident(n, &connectors[n % connectors.len()]))
            .collect();
        let routes: Vec<(String, StoredRoute)> = incidents
            .iter()
            .map(|i| {
                let decision = routing.route(&IncidentFacts::from_incident(i), &config);
                (i.id.clone(), StoredRoute::from_decision(&decision))
            })
            .collect();
        store
            .write_sync_batch(&SyncBatch {
                upstream: "demo".into(),
                at: Utc::now(),
                connectors: None,
                incidents,
                dead_letters: Vec::new(),
                cursors: Vec::new(),
                state: ConnectionState::Live {
                    last_ok: Utc::now(),
                },
            })
            .expect("incidents");
        store
            .write_incident_routes("demo", &routes, Utc::now())
            .expect("routes");
    }
    drop(store);
    let writer = StoreWriter::open(&store_path).expect("writer");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let tick = || {
        rt.block_on(evaluate(
            &config,
            &routing,
            &writer,
            "watch@bench",
            Utc::now(),
        ))
        .expect("tick")
    };
    let first = tick();
    assert_eq!(first.incidents_checked, size, "every incident checked");
    assert!(first.steps_taken > 0, "the first tick takes the due steps");
    let mut group = c.benchmark_group("watch");
    group.sample_size(10);
    group.bench_function(format!("full look at {size} unresolved incidents"), |b| {
        b.iter(|| {
            rt.block_on(look_at_everything(&writer)).expect("reset");
            let summary = tick();
            assert_eq!(summary.incidents_checked, size, "every incident looked at");
            assert_eq!(summary.steps_taken, 0, "steps are taken once");
            black_box(summary)
        });
    });
    group.bench_function(
        format!("steady tick over {size} unresolved incidents"),
        |b| {
            b.iter(|| {
                let summary = tick();
                assert_eq!(summary.steps_taken, 0, "steps are taken once");
                assert_eq!(summary.incidents_checked, 0, "no look is due");
                black_box(summary)
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench_watch);
criterion_main!(benches);
