//! `triage watch` looks only at incidents whose clock needs a look: each carries the time of its
//! next look (the next chain step, or its ack's expiry), and a change to the incident or its
//! route asks for one at once. Looks may come early, never late. Real store, the demo's routing.

use chrono::{DateTime, Duration, TimeZone, Utc};
use triage::config::{Config, RoutingConfig};
use triage::domain::routing::{IncidentFacts, StoredRoute};
use triage::domain::sla::{SlaInput, clock};
use triage::domain::{ConnectionState, Incident, IncidentStatus, Severity};
use triage::store::{Store, SyncBatch, WATCH_NEVER, WatchMark};
use triage::sync::StoreWriter;
use triage::sync::watcher::{WatchSummary, evaluate, look_at_everything};

type Timestamp = DateTime<Utc>;

struct Env {
    _dir: tempfile::TempDir,
    config: Config,
    routing: RoutingConfig,
    path: std::path::PathBuf,
    writer: StoreWriter,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path =
            triage::demo::write_demo_config(dir.path(), "http://127.0.0.1:9").expect("config");
        let (config, routing) = Config::load_with_routing(&config_path).expect("demo config");
        let path = dir.path().join("triage.db");
        let mut store = Store::open(&path).expect("store");
        store
            .sync_inventory(&config.inventory())
            .expect("inventory");
        drop(store);
        let writer = StoreWriter::open(&path).expect("writer");
        Env {
            _dir: dir,
            config,
            routing,
            path,
            writer,
        }
    }

    /// What a sync would write: the incidents and their routes, from another connection.
    fn sync(&self, incidents: Vec<Incident>, at: Timestamp) {
        let mut store = Store::open(&self.path).expect("sync's store");
        let routes: Vec<(String, StoredRoute)> = incidents
            .iter()
            .map(|i| (i.id.clone(), self.route(i)))
            .collect();
        store
            .write_sync_batch(&SyncBatch {
                upstream: "demo".into(),
                at,
                connectors: None,
                incidents,
                dead_letters: Vec::new(),
                cursors: Vec::new(),
                state: ConnectionState::Live { last_ok: at },
            })
            .expect("incidents");
        store
            .write_incident_routes("demo", &routes, at)
            .expect("routes");
    }

    fn route(&self, incident: &Incident) -> StoredRoute {
        let decision = self
            .routing
            .route(&IncidentFacts::from_incident(incident), &self.config);
        StoredRoute::from_decision(&decision)
    }

    async fn tick(&self, now: Timestamp) -> WatchSummary {
        evaluate(&self.config, &self.routing, &self.writer, "watch@test", now)
            .await
            .expect("tick")
    }

    fn mark(&self, id: &str) -> i64 {
        let store = Store::open(&self.path).expect("store");
        store
            .watch_mark("demo", id)
            .expect("mark")
            .expect("incident")
    }
}

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

fn incident(id: &str, connector: &str, status: IncidentStatus) -> Incident {
    Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: connector.into(),
        kind: "delivery_failures".into(),
        severity: Severity::Major,
        status,
        title: format!("incident {id}"),
        detail: String::new(),
        opened_at: t0(),
        updated_at: t0(),
        acked_by: None,
        acked_at: None,
        resolved_at: (status == IncidentStatus::Resolved).then_some(t0()),
        ack_deadline: None,
        escalation_level: 0,
        labels: Default::default(),
        links: Vec::new(),
    }
}

#[tokio::test]
async fn only_incidents_whose_clock_needs_a_look_are_evaluated() {
    let env = Env::new();
    let connector = env.config.inventory()[0].id.clone();
    let open = incident("inc-open", &connector, IncidentStatus::Open);
    let resolved = incident("inc-resolved", &connector, IncidentStatus::Resolved);
    env.sync(vec![open.clone(), resolved], t0());
    // The demo routes a major incident onto the "major" chain: a step at the ack deadline, the
    // next 15 minutes later, and acks that expire after 30 minutes.
    let route = env.route(&open);
    assert_eq!(route.chain.as_deref(), Some("major"));
    let chain = env.routing.chain("major").expect("chain").clone();
    let sla = std::time::Duration::from_secs(route.ack_sla_secs);
    let deadline = clock(&SlaInput::from_incident(&open), sla, Some(&chain), t0()).ack_deadline;
    let ms = |t: Timestamp| t.timestamp_millis();

    // New: looked at once; next look at the first step; the resolved one never again.
    let first = env.tick(t0()).await;
    assert_eq!((first.incidents_checked, first.steps_taken), (1, 0));
    assert_eq!(env.mark("inc-open"), ms(deadline));
    assert_eq!(env.mark("inc-resolved"), WATCH_NEVER);
    let quiet = env.tick(t0() + Duration::minutes(1)).await;
    assert_eq!(
        quiet.incidents_checked, 0,
        "nothing due: no incident is read"
    );

    // The step comes due: taken once, next look at the following step.
    let due = env.tick(deadline).await;
    assert_eq!((due.incidents_checked, due.steps_taken), (1, 1));
    assert_eq!(env.mark("inc-open"), ms(deadline + Duration::minutes(15)));
    assert_eq!(
        env.tick(deadline + Duration::minutes(5))
            .await
            .incidents_checked,
        0
    );

    // An ack synced from the upstream asks for a look at once; the next is the ack's expiry.
    let acked_at = deadline + Duration::minutes(6);
    let mut acked = open.clone();
    acked.status = IncidentStatus::Acknowledged;
    acked.acked_by = Some("dev@laptop".into());
    acked.acked_at = Some(acked_at);
    acked.updated_at = acked_at;
    env.sync(vec![acked.clone()], acked_at);
    assert_eq!(env.mark("inc-open"), 0, "the change asked for a look");
    let looked = env.tick(acked_at).await;
    assert_eq!((looked.incidents_checked, looked.steps_taken), (1, 0));
    let expiry = acked_at + Duration::minutes(30);
    assert_eq!(env.mark("inc-open"), ms(expiry));
    let before = env.tick(expiry - Duration::seconds(1)).await;
    assert_eq!(before.incidents_checked, 0);
    // The ack expires: the clock restarts (a new cycle) and is looked at right then.
    let restarted = env.tick(expiry).await;
    assert_eq!(restarted.incidents_checked, 1);
    assert_eq!(env.mark("inc-open"), ms(expiry + sla_delta(sla)));

    // A new route (another chain) asks for a look too.
    let mut store = Store::open(&env.path).expect("store");
    let mut minor = acked.clone();
    minor.severity = Severity::Warning;
    store
        .write_incident_routes("demo", &[("inc-open".into(), env.route(&minor))], expiry)
        .expect("route");
    assert_eq!(env.mark("inc-open"), 0);
    assert_eq!(
        env.tick(expiry + Duration::minutes(1))
            .await
            .incidents_checked,
        1
    );

    // A look that read an older version of the incident does not overwrite the newer one's
    // request for a look.
    look_at_everything(&env.writer).await.expect("reset");
    let stale = store
        .incidents_due_for_watch(expiry, None, 10)
        .expect("due")
        .into_iter()
        .find(|d| d.incident.id == "inc-open")
        .expect("due after the reset");
    let mut changed = acked.clone();
    changed.status = IncidentStatus::Open;
    changed.acked_by = None;
    changed.acked_at = None;
    env.sync(vec![changed], expiry);
    let written = store
        .mark_watched(
            &[WatchMark {
                upstream: "demo".into(),
                id: "inc-open".into(),
                generation: stale.generation,
                next: Some(expiry + Duration::hours(9)),
            }],
            expiry,
        )
        .expect("mark");
    assert_eq!(written, 0, "stale mark skipped");
    assert_eq!(env.mark("inc-open"), 0, "still due now");
}

fn sla_delta(sla: std::time::Duration) -> Duration {
    Duration::from_std(sla).expect("sla")
}
