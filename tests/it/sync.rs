//! Sync engine and outbox against the demo upstream over real loopback HTTP: the store fills,
//! actions change upstream state, replays are idempotent, and faults (down, 500, garbage) are
//! handled as states and retries, never panics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast;
use triage::config::{Config, RoutingConfig};
use triage::demo::{DemoOptions, DemoServer, write_demo_config};
use triage::domain::{
    Action, ActionKind, ConnectionState, DeadLetterState, IncidentStatus, OutboxState,
};
use triage::store::{DeadLetterPageQuery, IncidentPageQuery, PageDir, Store};
use triage::sync::poller::{PollContext, poll_once};
use triage::sync::{StoreWriter, SyncOptions, Upstreams, outbox};
use triage::upstream::Upstream;

struct Fixture {
    _dir: tempfile::TempDir,
    demo: Option<DemoServer>,
    config: Config,
    routing: RoutingConfig,
    writer: StoreWriter,
    upstreams: Upstreams,
    changes: broadcast::Sender<triage::store::ChangeNotice>,
    http: reqwest::Client,
    url: String,
}

/// Demo upstream with a frozen simulation (long tick), its config, a fresh store.
async fn fixture() -> Fixture {
    triage::upstream::http::install_crypto_provider();
    let demo = DemoServer::start(DemoOptions {
        tick: Duration::from_secs(3600),
        ..DemoOptions::default()
    })
    .await
    .expect("demo starts");
    let url = demo.url();
    fixture_at(Some(demo), &url).await
}

async fn fixture_at(demo: Option<DemoServer>, url: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_demo_config(dir.path(), url).expect("demo config");
    let (config, routing) = Config::load_with_routing(&path).expect("demo config loads");
    let store_path = dir.path().join("triage.db");
    let mut store = Store::open(&store_path).expect("store");
    store
        .sync_inventory(&config.inventory())
        .expect("inventory");
    let writer = StoreWriter::open(&store_path).expect("writer");
    let (upstreams, errors) = Upstreams::from_config(&config, &routing);
    assert!(errors.is_empty(), "{errors:?}");
    let (changes, _) = broadcast::channel(1024);
    Fixture {
        _dir: dir,
        demo,
        config,
        routing,
        writer,
        upstreams,
        changes,
        http: reqwest::Client::new(),
        url: url.to_string(),
    }
}

impl Fixture {
    fn upstream(&self) -> Arc<dyn Upstream> {
        Arc::clone(self.upstreams.all().next().expect("one upstream"))
    }

    fn store(&self) -> Store {
        Store::open(self.writer.path()).expect("reader")
    }

    async fn poll(
        &self,
    ) -> Result<triage::sync::poller::PollSummary, triage::sync::poller::PollError> {
        let ctx = PollContext::new(&self.config, &self.routing, Duration::from_millis(200));
        poll_once(self.upstream().as_ref(), &self.writer, &ctx, &self.changes).await
    }

    async fn admin(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(serde_json::Value::Null)
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    async fn enqueue(&self, kind: ActionKind, target: &str) -> String {
        let action = Action {
            kind,
            upstream: "demo".into(),
            target: target.into(),
            operator: "alice@bastion".into(),
            note: Some("on it".into()),
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        };
        self.writer
            .call(move |s| s.enqueue_action(&action, Utc::now()))
            .await
            .expect("enqueue")
            .id
    }

    async fn process(&self) -> usize {
        outbox::process_due(&self.upstreams, &self.writer, &self.changes)
            .await
            .expect("outbox")
    }

    fn all_dead_letters(&self) -> Vec<triage::store::DeadLetterSummary> {
        let store = self.store();
        let mut out = Vec::new();
        let mut q = DeadLetterPageQuery {
            limit: 97,
            dir: PageDir::Forward,
            ..Default::default()
        };
        loop {
            let page = store.page_dead_letters(&q).expect("page");
            let done = page.len() < 97;
            q.anchor = page.last().map(|d| d.key.clone());
            out.extend(page);
            if done {
                return out;
            }
        }
    }

    fn open_incident(&self) -> triage::domain::Incident {
        let q = IncidentPageQuery {
            statuses: vec![IncidentStatus::Open],
            limit: 1,
            ..Default::default()
        };
        self.store().page_incidents(&q).expect("page").remove(0).1
    }
}

#[tokio::test]
async fn sync_fills_the_store_with_every_item_exactly_once() {
    let f = fixture().await;
    let summary = f.poll().await.expect("poll");
    assert!(summary.connectors >= 5, "{summary:?}");
    let store = f.store();
    let connectors = store.connectors().expect("connectors");
    let hub = connectors
        .iter()
        .find(|c| c.id == "hubspot-form-to-salesforce")
        .expect("hubspot connector");
    assert_eq!(
        hub.owner.as_deref().map(|o| !o.is_empty()),
        Some(true),
        "inventory merged with stats"
    );
    // Every live dead letter the upstream lists is in the store exactly once.
    let mut upstream_ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = f
            .upstream()
            .dead_letters(None, cursor.as_deref())
            .await
            .expect("list");
        upstream_ids.extend(page.items.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(
        upstream_ids.len() > 500,
        "several sync pages: {}",
        upstream_ids.len()
    );
    let mut stored: Vec<String> = f.all_dead_letters().into_iter().map(|d| d.id).collect();
    assert_eq!(stored.len(), upstream_ids.len());
    stored.sort();
    stored.dedup();
    upstream_ids.sort();
    assert_eq!(stored, upstream_ids);
    assert!(matches!(
        store.upstream_states().expect("states")[0].1,
        ConnectionState::Live { .. }
    ));
    // Every incident was routed, the route kept with it, and its deadline comes from the route.
    let q = IncidentPageQuery {
        limit: 100,
        ..Default::default()
    };
    for (_, incident) in store.page_incidents(&q).expect("incidents") {
        let route = store
            .incident_route("demo", &incident.id)
            .expect("route")
            .expect("stored");
        assert!(route.origin.starts_with("triage.toml:"), "{route:?}");
        let sla = chrono::Duration::seconds(route.ack_sla_secs as i64);
        assert_eq!(
            incident.ack_deadline,
            Some(incident.opened_at + sla),
            "{route:?}"
        );
        if incident.kind == "vendor_outage" {
            assert_eq!(
                (route.rule.as_str(), route.chain.as_deref()),
                ("vendor-outages", Some("vendor-outage"))
            );
        }
    }
    // A second poll changes nothing.
    let again = f.poll().await.expect("second poll");
    assert_eq!(
        (again.incidents_changed, again.dead_letters_changed),
        (0, 0),
        "{again:?}"
    );
}

#[tokio::test]
async fn ack_through_the_outbox_sticks_upstream_and_is_audited() {
    let f = fixture().await;
    f.poll().await.expect("poll");
    let incident = f.open_incident();
    let id = f.enqueue(ActionKind::Ack, &incident.id).await;
    assert_eq!(
        f.store()
            .outbox_entry(&id)
            .expect("entry")
            .expect("exists")
            .state,
        OutboxState::Pending
    );
    f.process().await;
    let entry = f.store().outbox_entry(&id).expect("entry").expect("exists");
    assert_eq!(entry.state, OutboxState::Sent, "{entry:?}");
    let local = f
        .store()
        .incident("demo", &incident.id)
        .expect("get")
        .expect("exists");
    assert_eq!(local.status, IncidentStatus::Acknowledged);
    assert_eq!(local.acked_by.as_deref(), Some("alice@bastion"));
    // The upstream agrees.
    let page = f.upstream().incidents(None, None).await.expect("list");
    let mut all = page.items;
    let mut cursor = page.next_cursor;
    while let Some(c) = cursor {
        let next = f.upstream().incidents(None, Some(&c)).await.expect("list");
        all.extend(next.items);
        cursor = next.next_cursor;
    }
    let remote = all
        .into_iter()
        .find(|i| i.id == incident.id)
        .expect("remote incident");
    assert_eq!(remote.acked_by.as_deref(), Some("alice@bastion"));
    let events: Vec<String> = f
        .store()
        .page_audit(None, 10)
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, vec!["ack.sent", "ack.requested"]);
}

#[tokio::test]
async fn replay_and_discard_change_upstream_state_and_one_key_delivers_once() {
    let f = fixture().await;
    f.poll().await.expect("poll");
    f.admin(
        "/demo/connectors/hubspot-form-to-salesforce/fix",
        serde_json::json!({}),
    )
    .await;
    // Dead letters that died only of the renamed field (others also break the contract).
    let dls: Vec<_> = f
        .all_dead_letters()
        .into_iter()
        .filter(|d| d.connector == "hubspot-form-to-salesforce" && d.error_code == "INVALID_FIELD")
        .collect();
    let (first, second) = (&dls[0], &dls[1]);
    // Replay through the outbox.
    let id = f.enqueue(ActionKind::Replay, &first.id).await;
    f.process().await;
    let entry = f.store().outbox_entry(&id).expect("entry").expect("exists");
    assert_eq!(entry.state, OutboxState::Sent, "{entry:?}");
    let local = f
        .store()
        .dead_letter("demo", &first.id)
        .expect("get")
        .expect("exists");
    assert_eq!(local.state, DeadLetterState::Replayed);
    // The same idempotency key again (a retry after a lost answer): one delivery, same answer.
    let action = entry.action.clone();
    let again = f
        .upstream()
        .perform(&action, &entry.idempotency_key)
        .await
        .expect("second send");
    assert_eq!(
        again.outcome.ok,
        entry.outcome.as_ref().expect("outcome").ok
    );
    let deliveries = f.get("/demo/deliveries").await;
    assert_eq!(deliveries[&first.id], 1, "{deliveries}");
    // Discard.
    let id = f.enqueue(ActionKind::Discard, &second.id).await;
    f.process().await;
    assert_eq!(
        f.store()
            .outbox_entry(&id)
            .expect("entry")
            .expect("exists")
            .state,
        OutboxState::Sent
    );
    // The next poll sees both tombstones; neither is in the live DLQ listing any more.
    f.poll().await.expect("poll");
    let live: Vec<String> = f.all_dead_letters().into_iter().map(|d| d.id).collect();
    assert!(!live.contains(&first.id) && !live.contains(&second.id));
    let discarded = f
        .store()
        .dead_letter("demo", &second.id)
        .expect("get")
        .expect("exists");
    assert_eq!(discarded.state, DeadLetterState::Discarded);
}

#[tokio::test]
async fn a_refused_replay_fails_with_the_vendor_reason() {
    let f = fixture().await;
    f.poll().await.expect("poll");
    let dl = f
        .all_dead_letters()
        .into_iter()
        .find(|d| d.connector == "hubspot-form-to-salesforce" && d.error_code == "INVALID_FIELD")
        .expect("one");
    let id = f.enqueue(ActionKind::Replay, &dl.id).await;
    f.process().await;
    let entry = f.store().outbox_entry(&id).expect("entry").expect("exists");
    assert_eq!(entry.state, OutboxState::Failed);
    let summary = entry.outcome.expect("outcome").summary;
    assert!(
        summary.contains("lead_source") || summary.contains("INVALID_FIELD"),
        "{summary}"
    );
    let events: Vec<String> = f
        .store()
        .page_audit(None, 10)
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events[0], "replay.failed");
}

#[tokio::test]
async fn a_500_then_200_is_retried_once_and_the_audit_shows_both() {
    let f = fixture().await;
    f.poll().await.expect("poll");
    let incident = f.open_incident();
    f.admin(
        "/demo/faults",
        serde_json::json!({"status": 500, "count": 1}),
    )
    .await;
    let id = f.enqueue(ActionKind::Ack, &incident.id).await;
    f.process().await;
    let entry = f.store().outbox_entry(&id).expect("entry").expect("exists");
    assert_eq!(
        (entry.state, entry.attempts),
        (OutboxState::Pending, 1),
        "{entry:?}"
    );
    assert!(
        entry.last_error.as_deref().unwrap_or("").contains("500"),
        "{entry:?}"
    );
    // Not due before its backoff; due after.
    assert_eq!(f.process().await, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    f.process().await;
    let entry = f.store().outbox_entry(&id).expect("entry").expect("exists");
    assert_eq!(entry.state, OutboxState::Sent, "{entry:?}");
    let events: Vec<String> = f
        .store()
        .page_audit(None, 10)
        .expect("audit")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, vec!["ack.sent", "ack.retry", "ack.requested"]);
}

#[tokio::test]
async fn garbage_json_is_a_clear_error_and_writes_nothing() {
    let f = fixture().await;
    f.admin(
        "/demo/faults",
        serde_json::json!({"garbage": true, "count": 1}),
    )
    .await;
    let err = f.poll().await.expect_err("garbage must fail");
    let message = err.to_string();
    assert!(
        message.contains("malformed") && message.contains("/v1/connectors"),
        "{message}"
    );
    let store = f.store();
    assert!(
        store
            .connectors()
            .expect("connectors")
            .iter()
            .all(|c| c.updated_at.is_none()),
        "no stats written"
    );
    assert!(f.all_dead_letters().is_empty());
}

#[tokio::test]
async fn an_upstream_down_at_start_shows_down_then_recovers() {
    // A port nobody listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut f = fixture_at(None, &format!("http://{addr}")).await;
    let mut config = f.config.clone();
    config.upstreams[0].poll_interval = Duration::from_millis(200);
    let handle = triage::sync::start(
        &config,
        &f.routing,
        f.upstreams.clone(),
        f.writer.clone(),
        SyncOptions {
            pollers: true,
            outbox_worker: true,
        },
    );
    let state = wait_for_state(&f, "down", Duration::from_secs(10)).await;
    assert!(
        matches!(&state, ConnectionState::Down { error, .. } if error.contains("cannot reach")),
        "{state:?}"
    );
    // The upstream comes up on that port: the poller recovers by itself.
    f.demo = Some(
        DemoServer::start(DemoOptions {
            listen: addr,
            tick: Duration::from_secs(3600),
            ..DemoOptions::default()
        })
        .await
        .expect("demo starts late"),
    );
    wait_for_state(&f, "live", Duration::from_secs(10)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while f.all_dead_letters().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead letters never synced after recovery"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    handle.shutdown().await;
}

async fn wait_for_state(f: &Fixture, label: &str, within: Duration) -> ConnectionState {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let states = f.store().upstream_states().expect("states");
        if let Some((_, state)) = states.into_iter().find(|(_, s)| s.label() == label) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "upstream never became {label}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Dead letters that vanish upstream while triage is away longer than the upstream keeps
/// tombstones stay `dead` locally until a relist: once the last complete poll is older than
/// half the retention, the next poll lists every live dead letter and marks the rest gone.
#[tokio::test]
async fn a_relist_after_a_long_absence_reconciles_dead_letters_gone_unseen() {
    let f = fixture().await;
    f.poll().await.expect("poll");
    let dls: Vec<_> = f
        .all_dead_letters()
        .into_iter()
        .filter(|d| d.connector == "hubspot-form-to-salesforce")
        .collect();
    let (gone, tombstoned) = (dls[0].id.clone(), dls[1].id.clone());
    let discard = |id: &str| {
        f.http
            .post(format!("{}/v1/dead-letters/{id}/discard", f.url))
            .json(&serde_json::json!({"operator": "bob@elsewhere"}))
            .send()
    };
    // One discarded elsewhere whose tombstone then expires; one whose tombstone is still kept.
    assert!(discard(&gone).await.expect("discard").status().is_success());
    f.admin("/demo/expire-tombstones", serde_json::json!({}))
        .await;
    assert!(
        discard(&tombstoned)
            .await
            .expect("discard")
            .status()
            .is_success()
    );
    let state = |id: &str| {
        f.store()
            .dead_letter("demo", id)
            .expect("get")
            .expect("exists")
            .state
    };
    // A regular poll (complete poll recent) sees the tombstone only.
    f.poll().await.expect("poll");
    assert_eq!(state(&tombstoned), DeadLetterState::Discarded);
    assert_eq!(
        state(&gone),
        DeadLetterState::Dead,
        "no tombstone, no relist"
    );

    // Away 13 h (the demo keeps tombstones 24 h): the next poll relists and reconciles.
    let backdated = triage::store::SyncBatch {
        upstream: "demo".into(),
        at: Utc::now(),
        connectors: None,
        incidents: Vec::new(),
        dead_letters: Vec::new(),
        cursors: vec![(
            triage::sync::poller::DEAD_LETTERS_COMPLETE_STREAM.to_string(),
            (Utc::now() - chrono::Duration::hours(13)).to_rfc3339(),
        )],
        state: triage::domain::ConnectionState::Live {
            last_ok: Utc::now(),
        },
    };
    f.writer
        .call(move |s| s.write_sync_batch(&backdated))
        .await
        .expect("backdate");
    let summary = f.poll().await.expect("poll");
    assert!(summary.dead_letters_changed >= 1, "{summary:?}");
    assert_eq!(state(&gone), DeadLetterState::Discarded, "reconciled");
    assert_eq!(state(&tombstoned), DeadLetterState::Discarded);
    // Local dead letters now match the upstream's live listing exactly.
    let mut upstream_live = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = f
            .upstream()
            .dead_letters(None, cursor.as_deref())
            .await
            .expect("list");
        upstream_live.extend(page.items.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut local: Vec<String> = f.all_dead_letters().into_iter().map(|d| d.id).collect();
    upstream_live.sort();
    local.sort();
    assert_eq!(local, upstream_live);
    let complete_at = f
        .store()
        .sync_cursor("demo", triage::sync::poller::DEAD_LETTERS_COMPLETE_STREAM)
        .expect("cursor")
        .expect("set");
    let complete_at = chrono::DateTime::parse_from_rfc3339(&complete_at).expect("rfc3339");
    assert!(Utc::now() - complete_at.with_timezone(&Utc) < chrono::Duration::minutes(1));
}
