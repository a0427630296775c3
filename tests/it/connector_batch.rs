//! Batch replay/discard through the outbox against the demo upstream over real loopback HTTP:
//! a group of replays goes out in chunks of ≤ 500 per request (counted on the server), each
//! letter is delivered once, per-item refusals stay per item, a 429 with `Retry-After` only
//! delays, a 1.0 upstream (no `GET /v1`) is served one by one, and an answer that cannot be read
//! leaves the items pending.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use triage::config::{Config, RoutingConfig};
use triage::demo::{DemoOptions, DemoServer, Scenario, write_demo_config};
use triage::domain::{Action, ActionKind, DeadLetterState, OutboxEntry, OutboxState};
use triage::store::Store;
use triage::sync::poller::{PollContext, poll_once};
use triage::sync::{StoreWriter, Upstreams, outbox};
use triage::upstream::Upstream;

const HUBSPOT: &str = "hubspot-form-to-salesforce";
const BATCH_ROUTE: &str = "POST /v1/dead-letters/replay";
const SINGLE_ROUTE: &str = "POST /v1/dead-letters/{id}/replay";

struct Fixture {
    _dir: tempfile::TempDir,
    _demo: Option<DemoServer>,
    config: Config,
    routing: RoutingConfig,
    writer: StoreWriter,
    upstreams: Upstreams,
    changes: broadcast::Sender<triage::store::ChangeNotice>,
    http: reqwest::Client,
    url: String,
}

/// The demo with `hubspot_dead` dead letters on HubSpot (fixed, so every letter that died of
/// the renamed field delivers on replay), its simulation frozen, and a polled store.
async fn fixture(hubspot_dead: u32, batch: bool) -> Fixture {
    let demo = demo_server(hubspot_dead, batch).await;
    let url = demo.url();
    let f = fixture_at(Some(demo), &url).await;
    f.admin(&format!("/demo/connectors/{HUBSPOT}/fix"), json!({}))
        .await;
    f.poll().await;
    f
}

async fn demo_server(hubspot_dead: u32, batch: bool) -> DemoServer {
    triage::upstream::http::install_crypto_provider();
    let mut scenario = Scenario::builtin();
    for connector in &mut scenario.connectors {
        if connector.id == HUBSPOT {
            connector.initial_dead = hubspot_dead;
        }
    }
    DemoServer::start(DemoOptions {
        tick: Duration::from_secs(3600),
        scenario,
        batch,
        ..DemoOptions::default()
    })
    .await
    .expect("demo starts")
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
        _demo: demo,
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
    fn upstream(&self) -> std::sync::Arc<dyn Upstream> {
        std::sync::Arc::clone(self.upstreams.all().next().expect("one upstream"))
    }

    fn store(&self) -> Store {
        Store::open(self.writer.path()).expect("reader")
    }

    async fn poll(&self) {
        let ctx = PollContext::new(&self.config, &self.routing, Duration::from_millis(200));
        poll_once(self.upstream().as_ref(), &self.writer, &ctx, &self.changes)
            .await
            .expect("poll");
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("admin call");
        assert!(response.status().is_success(), "{path}");
        response.json().await.unwrap_or(Value::Null)
    }

    async fn counts(&self, path: &str) -> BTreeMap<String, u64> {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json")
    }

    /// HubSpot dead letters that died of the renamed field only (all deliver once fixed).
    async fn deliverable(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .upstream()
                .dead_letters(None, cursor.as_deref())
                .await
                .expect("list");
            ids.extend(
                page.items
                    .into_iter()
                    .filter(|d| d.connector == HUBSPOT && d.error.code == "INVALID_FIELD")
                    .map(|d| d.id),
            );
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert!(ids.len() >= n, "only {} deliverable letters", ids.len());
        ids.truncate(n);
        ids
    }

    async fn enqueue(&self, kind: ActionKind, targets: &[String]) -> Vec<String> {
        let actions: Vec<Action> = targets
            .iter()
            .map(|target| Action {
                kind,
                upstream: "demo".into(),
                target: target.clone(),
                operator: "alice@bastion".into(),
                note: Some("batch".into()),
                level: None,
                payload: None,
                destination: None,
                drop_ttl: false,
            })
            .collect();
        self.writer
            .call(move |s| {
                actions
                    .iter()
                    .map(|a| s.enqueue_action(a, Utc::now()).map(|e| e.id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .expect("enqueue")
    }

    async fn process(&self) -> usize {
        outbox::process_due(&self.upstreams, &self.writer, &self.changes)
            .await
            .expect("outbox")
    }

    fn entries(&self, ids: &[String]) -> Vec<OutboxEntry> {
        let store = self.store();
        ids.iter()
            .map(|id| store.outbox_entry(id).expect("entry").expect("exists"))
            .collect()
    }

    fn states(&self, ids: &[String]) -> BTreeMap<String, usize> {
        let mut states = BTreeMap::new();
        for entry in self.entries(ids) {
            *states.entry(entry.state.as_str().to_string()).or_insert(0) += 1;
        }
        states
    }

    /// Processes due actions until none of `ids` is pending (or `within` passes).
    async fn drain(&self, ids: &[String], within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            self.process().await;
            if self
                .entries(ids)
                .iter()
                .all(|e| e.state != OutboxState::Pending)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "still pending: {:?}",
                self.states(ids)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every target delivered exactly once, recorded sent and replayed locally.
    async fn assert_delivered_once(&self, ids: &[String], targets: &[String]) {
        assert_eq!(
            self.states(ids),
            BTreeMap::from([("sent".to_string(), ids.len())])
        );
        let deliveries = self.counts("/demo/deliveries").await;
        for target in targets {
            assert_eq!(deliveries.get(target), Some(&1), "{target}");
        }
        let store = self.store();
        for target in targets {
            let local = store
                .dead_letter("demo", target)
                .expect("get")
                .expect("exists");
            assert_eq!(local.state, DeadLetterState::Replayed, "{target}");
        }
    }
}

#[tokio::test]
async fn twelve_hundred_replays_go_in_three_batches_and_a_resend_delivers_nothing_twice() {
    let f = fixture(1300, true).await;
    let targets = f.deliverable(1200).await;
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.drain(&ids, Duration::from_secs(60)).await;
    f.assert_delivered_once(&ids, &targets).await;
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(BATCH_ROUTE), Some(&3), "{requests:?}");
    assert_eq!(requests.get(SINGLE_ROUTE), None, "{requests:?}");
    assert_eq!(requests.get("GET /v1"), Some(&1), "discovery is cached");

    // The first batch again with the same keys (an answer lost on the way): the stored answers,
    // no second delivery.
    let again: Vec<(Action, String)> = f
        .entries(&ids[..500])
        .into_iter()
        .map(|e| (e.action, e.idempotency_key))
        .collect();
    let answers = f.upstream().perform_batch(&again).await;
    assert_eq!(answers.len(), 500);
    for answer in &answers {
        let result = answer.as_ref().expect("answered");
        assert!(result.outcome.ok, "{:?}", result.outcome);
        assert!(result.outcome.summary.starts_with("delivered"));
    }
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(BATCH_ROUTE), Some(&4), "{requests:?}");
    let deliveries = f.counts("/demo/deliveries").await;
    assert_eq!(deliveries.values().sum::<u64>(), 1200);
    assert!(deliveries.values().all(|&n| n == 1));
}

#[tokio::test]
async fn unknown_ids_and_conflicts_are_answered_per_item_without_failing_the_rest() {
    let f = fixture(212, true).await;
    let real = f.deliverable(6).await;
    // Replays: three real letters and two that do not exist, in one group.
    let mut targets = real[..3].to_vec();
    targets.insert(1, "dl_does_not_exist".to_string());
    targets.push("dl_nor_this".to_string());
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.drain(&ids, Duration::from_secs(20)).await;
    let entries = f.entries(&ids);
    for (entry, target) in entries.iter().zip(&targets) {
        if target.starts_with("dl_does") || target.starts_with("dl_nor") {
            assert_eq!(entry.state, OutboxState::Failed, "{entry:?}");
            let error = entry.last_error.as_deref().unwrap_or("");
            assert!(
                error.contains("404") && error.contains(target.as_str()),
                "{error}"
            );
        } else {
            assert_eq!(entry.state, OutboxState::Sent, "{entry:?}");
        }
    }
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(BATCH_ROUTE), Some(&1), "{requests:?}");

    // Discards: two live letters, one just replayed (a conflict, as its single call would be).
    let targets = vec![real[3].clone(), real[0].clone(), real[4].clone()];
    let ids = f.enqueue(ActionKind::Discard, &targets).await;
    f.drain(&ids, Duration::from_secs(20)).await;
    let states: Vec<OutboxState> = f.entries(&ids).iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        vec![OutboxState::Sent, OutboxState::Failed, OutboxState::Sent]
    );
    let conflict = f.entries(&ids[1..2]).remove(0);
    assert!(
        conflict.last_error.as_deref().unwrap_or("").contains("409"),
        "{conflict:?}"
    );
    let requests = f.counts("/demo/requests").await;
    assert_eq!(
        requests.get("POST /v1/dead-letters/discard"),
        Some(&1),
        "{requests:?}"
    );
    let store = f.store();
    for target in [&real[3], &real[4]] {
        let local = store
            .dead_letter("demo", target)
            .expect("get")
            .expect("one");
        assert_eq!(local.state, DeadLetterState::Discarded);
    }
}

#[tokio::test]
async fn a_429_with_retry_after_mid_run_delays_the_batch_and_fails_nothing() {
    let f = fixture(1300, true).await;
    let targets = f.deliverable(1200).await;
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    assert_eq!(f.process().await, 500, "first round: one batch of 500");
    f.admin(
        "/demo/faults",
        json!({"status": 429, "retry_after": 2, "count": 1, "path": "/v1/dead-letters/replay"}),
    )
    .await;
    let limited_at = Utc::now();
    f.process().await;
    let limited: Vec<OutboxEntry> = f
        .entries(&ids)
        .into_iter()
        .filter(|e| e.state == OutboxState::Pending && e.attempts == 1)
        .collect();
    assert_eq!(limited.len(), 500, "{:?}", f.states(&ids));
    for entry in &limited {
        assert!(
            entry.last_error.as_deref().unwrap_or("").contains("429"),
            "{entry:?}"
        );
        let wait = entry.next_attempt_at - limited_at;
        assert!(
            wait >= chrono::Duration::milliseconds(1900) && wait <= chrono::Duration::seconds(4),
            "Retry-After 2 honoured: {wait:?}"
        );
    }
    // The rest goes on meanwhile; the limited ones are not retried before their time.
    f.process().await;
    assert_eq!(f.process().await, 0, "nothing due before Retry-After");
    f.drain(&ids, Duration::from_secs(30)).await;
    assert!(Utc::now() - limited_at >= chrono::Duration::seconds(2));
    f.assert_delivered_once(&ids, &targets).await;
    let requests = f.counts("/demo/requests").await;
    // 500, the refused 500, 200, then the retried 500 together (one retry time per group).
    assert_eq!(requests.get(BATCH_ROUTE), Some(&4), "{requests:?}");
    assert_eq!(requests.get(SINGLE_ROUTE), None, "{requests:?}");
}

#[tokio::test]
async fn an_upstream_without_the_batch_endpoint_is_served_one_by_one() {
    let f = fixture(212, false).await;
    let targets = f.deliverable(20).await;
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.drain(&ids, Duration::from_secs(30)).await;
    f.assert_delivered_once(&ids, &targets).await;
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(SINGLE_ROUTE), Some(&20), "{requests:?}");
    assert_eq!(
        requests.get("GET /v1"),
        Some(&1),
        "asked once, the 404 remembered: {requests:?}"
    );
    assert_eq!(requests.get(BATCH_ROUTE), None);
}

#[tokio::test]
async fn a_batch_endpoint_gone_after_discovery_falls_back_to_one_by_one() {
    let f = fixture(212, true).await;
    let targets = f.deliverable(30).await;
    let first = f.enqueue(ActionKind::Replay, &targets[..10]).await;
    f.drain(&first, Duration::from_secs(20)).await;
    // Rolled back to 1.0 while triage remembers the capability: the batch answers 404, and the
    // same actions go one by one at once (nothing fails, nothing waits).
    f.admin("/demo/capabilities", json!({"batch": false})).await;
    let second = f.enqueue(ActionKind::Replay, &targets[10..]).await;
    f.process().await;
    f.drain(&second, Duration::from_secs(20)).await;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    f.assert_delivered_once(&all, &targets).await;
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(SINGLE_ROUTE), Some(&20), "{requests:?}");
    assert_eq!(
        requests.get("POST (no route) /v1/dead-letters/replay"),
        None,
        "the route exists but answers 404: {requests:?}"
    );
    assert_eq!(requests.get(BATCH_ROUTE), Some(&2), "{requests:?}");
    // A lone replay never asks for a batch.
    f.admin("/demo/capabilities", json!({"batch": true})).await;
    let lone = f.deliverable(31).await.split_off(30);
    let ids = f.enqueue(ActionKind::Replay, &lone).await;
    f.drain(&ids, Duration::from_secs(20)).await;
    let requests = f.counts("/demo/requests").await;
    assert_eq!(requests.get(SINGLE_ROUTE), Some(&21), "{requests:?}");
}

#[tokio::test]
async fn a_garbage_batch_answer_leaves_every_item_pending_then_they_go_once() {
    let f = fixture(212, true).await;
    let targets = f.deliverable(40).await;
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.admin(
        "/demo/faults",
        json!({"garbage": true, "count": 1, "path": "/v1/dead-letters/replay"}),
    )
    .await;
    f.process().await;
    for entry in f.entries(&ids) {
        assert_eq!(
            (entry.state, entry.attempts),
            (OutboxState::Pending, 1),
            "{entry:?}"
        );
        let error = entry.last_error.unwrap_or_default();
        assert!(
            error.contains("cannot read") && error.contains("whether it acted is unknown"),
            "{error}"
        );
    }
    f.drain(&ids, Duration::from_secs(20)).await;
    f.assert_delivered_once(&ids, &targets).await;
}

/// A 1.1 upstream whose batch answer is short a result (a buggy implementation): nothing can be
/// matched, so every item stays pending with a clear error — none recorded sent or failed.
#[tokio::test]
async fn fewer_results_than_items_leave_every_item_pending() {
    let (url, server) = replay_batch_server(|body: Value| {
        let first = &body["items"][0];
        json!({"results": [{
            "id": first["id"], "idempotency_key": first["idempotency_key"],
            "status": "not_found", "detail": "no such letter"
        }]})
    })
    .await;
    let f = fixture_at(None, &url).await;
    let targets: Vec<String> = (0..3).map(|i| format!("dl_{i}")).collect();
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.process().await;
    let entries = f.entries(&ids);
    let mut errors = HashSet::new();
    for entry in &entries {
        assert_eq!(entry.state, OutboxState::Pending, "{entry:?}");
        assert!(entry.outcome.is_none());
        errors.insert(entry.last_error.clone().unwrap_or_default());
    }
    let error = errors.into_iter().next().unwrap_or_default();
    assert!(
        error.contains("1 results for 3 items") && error.contains("whether it acted is unknown"),
        "{error}"
    );
    server.abort();
}

/// The endpoint itself: items in order, each meaning what its single request means (the same
/// key twice delivers once, a key reused for another letter is a conflict, a single request
/// with a batch's key gets the batch's answer), 413 past 500 items, discovery advertises it.
#[tokio::test]
async fn the_batch_endpoint_mirrors_the_single_one_item_by_item() {
    let f = fixture(212, true).await;
    let ids = f.deliverable(3).await;
    let info: Value = f
        .http
        .get(format!("{}/v1", f.url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["max_batch_items"], 500);
    assert!(
        info["capabilities"]
            .as_array()
            .expect("list")
            .contains(&json!("dead-letters.replay-batch"))
    );
    let item = |id: &str, key: &str| json!({"id": id, "operator": "op", "idempotency_key": key});
    let body = json!({"items": [
        item(&ids[0], "k0"),
        item(&ids[0], "k0"),
        item(&ids[1], "k0"),
        item("dl_missing", "k1"),
        item(&ids[2], ""),
        item(&ids[2], "k2"),
    ]});
    let response = f
        .http
        .post(format!("{}/v1/dead-letters/replay", f.url))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("json");
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses,
        vec![
            "delivered",
            "delivered",
            "conflict",
            "not_found",
            "invalid",
            "delivered"
        ]
    );
    assert_eq!(answer["results"][0], answer["results"][1], "stored answer");
    assert_eq!(answer["results"][5]["dead_letter"]["state"], "replayed");
    // The single endpoint with a batch's key: the batch's answer, no second delivery.
    let single: Value = f
        .http
        .post(format!("{}/v1/dead-letters/{}/replay", f.url, ids[2]))
        .json(&json!({"operator": "op", "idempotency_key": "k2"}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(single["outcome"], "delivered");
    assert_eq!(single["dead_letter"], answer["results"][5]["dead_letter"]);
    let deliveries = f.counts("/demo/deliveries").await;
    assert_eq!(deliveries.values().sum::<u64>(), 2, "{deliveries:?}");

    let too_many: Vec<Value> = (0..501).map(|i| item("x", &format!("k{i}"))).collect();
    let response = f
        .http
        .post(format!("{}/v1/dead-letters/replay", f.url))
        .json(&json!({ "items": too_many }))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("at most 500"),
        "{problem}"
    );
}

/// `Prefer: return=minimal` (RFC 7240): delivered and discarded results leave the letter out
/// and say the preference was applied; a failed result keeps it (its error changed); without
/// the header every result carries its letter. triage's own batches ask for it, and the letters
/// they replay and discard end replayed and discarded in the store all the same
/// (`assert_delivered_once`, the discard test above).
#[tokio::test]
async fn a_minimal_preference_leaves_settled_letters_out_of_the_answer_but_not_failed_ones() {
    let f = fixture(212, true).await;
    let ids = f.deliverable(4).await;
    let post = |path: &'static str, body: Value, minimal: bool| {
        let mut request = f.http.post(format!("{}{path}", f.url)).json(&body);
        if minimal {
            request = request.header("Prefer", "handling=lenient, return=minimal");
        }
        request.send()
    };
    let item = |id: &str, key: &str| json!({"id": id, "operator": "op", "idempotency_key": key});
    // A payload the connector's contract refuses: the destination is never asked, the replay
    // fails and the letter stays dead with a new error.
    let mut refused = item(&ids[1], "k-refused");
    refused["payload"] = json!("{}");
    let response = post(
        "/v1/dead-letters/replay",
        json!({"items": [item(&ids[0], "k0"), refused]}),
        true,
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["preference-applied"], "return=minimal");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["results"][0]["status"], "delivered", "{answer}");
    assert!(
        answer["results"][0].get("dead_letter").is_none(),
        "{answer}"
    );
    assert_eq!(answer["results"][0]["response"]["status"], 201, "{answer}");
    assert_eq!(answer["results"][1]["status"], "failed", "{answer}");
    assert_eq!(
        answer["results"][1]["dead_letter"]["state"], "dead",
        "{answer}"
    );

    let response = post(
        "/v1/dead-letters/discard",
        json!({"items": [{"id": &ids[2], "operator": "op"}]}),
        true,
    )
    .await
    .expect("post");
    assert_eq!(response.headers()["preference-applied"], "return=minimal");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer["results"][0]["status"], "discarded", "{answer}");
    assert!(
        answer["results"][0].get("dead_letter").is_none(),
        "{answer}"
    );

    // No preference: the letters, as before.
    let response = post(
        "/v1/dead-letters/replay",
        json!({"items": [item(&ids[3], "k3")]}),
        false,
    )
    .await
    .expect("post");
    assert!(response.headers().get("preference-applied").is_none());
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer["results"][0]["dead_letter"]["state"], "replayed",
        "{answer}"
    );
}

/// A 1.1 upstream on loopback that advertises the batch replay and answers each batch with
/// `answer(request body)`; its URL and its task.
async fn replay_batch_server(
    answer: impl Fn(Value) -> Value + Clone + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::Json;
    use axum::routing::{get, post};
    triage::upstream::http::install_crypto_provider();
    let app = axum::Router::new()
        .route(
            "/v1",
            get(|| async {
                Json(json!({"version": "1.1.0", "capabilities": ["dead-letters.replay-batch"]}))
            }),
        )
        .route(
            "/v1/dead-letters/replay",
            post(move |Json(body): Json<Value>| {
                let answer = answer.clone();
                async move { Json(answer(body)) }
            }),
        );
    serve(app).await
}

/// Serves `app` on a free loopback port; its URL and its task.
async fn serve(app: axum::Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

/// A loopback proxy in front of `upstream` that drops the request's `Prefer` header — an
/// upstream that ignores the preference and answers in full — and counts the batch answers
/// that carried letters.
async fn proxy_without_prefer(
    upstream: String,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let full = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&full);
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (client, upstream, counted) = (client.clone(), upstream.clone(), counted.clone());
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut request = client.request(method, format!("{upstream}{path}"));
                for (name, value) in &headers {
                    if name != "prefer" && name != "host" && name != "content-length" {
                        request = request.header(name, value);
                    }
                }
                let answer = request.body(body).send().await.expect("upstream answers");
                let status = answer.status();
                let kind = answer.headers().get("content-type").cloned();
                let bytes = answer.bytes().await.expect("body");
                if path == "/v1/dead-letters/replay"
                    && String::from_utf8_lossy(&bytes).contains("\"dead_letter\"")
                {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
                *response.status_mut() = status;
                if let Some(kind) = kind {
                    response.headers_mut().insert("content-type", kind);
                }
                response
            }
        },
    );
    let (url, server) = serve(app).await;
    (url, full, server)
}

/// An upstream that ignores `Prefer: return=minimal` answers every result with its letter:
/// triage reads those as before (the letter written through `record_dead_letter`), each letter
/// delivered once and replayed in the store.
#[tokio::test]
async fn an_upstream_that_ignores_the_minimal_preference_is_read_in_full() {
    let demo = demo_server(212, true).await;
    let (url, full_answers, proxy) = proxy_without_prefer(demo.url()).await;
    let f = fixture_at(Some(demo), &url).await;
    f.admin(&format!("/demo/connectors/{HUBSPOT}/fix"), json!({}))
        .await;
    f.poll().await;
    let targets = f.deliverable(30).await;
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.drain(&ids, Duration::from_secs(20)).await;
    f.assert_delivered_once(&ids, &targets).await;
    assert!(
        full_answers.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the batch went through the proxy and was answered in full"
    );
    proxy.abort();
}

/// A server that leaves the letter out of every result under the preference, failed ones too
/// (RFC 7240 lets it): delivered is recorded sent, failed is recorded failed with the server's
/// detail — a certain refusal, not retried — and nothing stays pending.
#[tokio::test]
async fn a_failed_result_without_its_letter_is_a_refusal_not_an_unknown() {
    let (url, server) = replay_batch_server(|body: Value| {
        let results: Vec<Value> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let mut result = json!({
                    "id": item["id"], "idempotency_key": item["idempotency_key"],
                });
                if i % 2 == 0 {
                    result["status"] = json!("delivered");
                    result["response"] = json!({"status": 201, "body": "{}"});
                } else {
                    result["status"] = json!("failed");
                    result["detail"] = json!("INVALID_FIELD: Lead.Region__c is unknown");
                    result["response"] = json!({"status": 400, "body": "no"});
                }
                result
            })
            .collect();
        json!({ "results": results })
    })
    .await;
    let f = fixture_at(None, &url).await;
    let targets: Vec<String> = (0..4).map(|i| format!("dl_{i}")).collect();
    let ids = f.enqueue(ActionKind::Replay, &targets).await;
    f.process().await;
    let entries = f.entries(&ids);
    let states: Vec<OutboxState> = entries.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        vec![
            OutboxState::Sent,
            OutboxState::Failed,
            OutboxState::Sent,
            OutboxState::Failed
        ],
        "{entries:?}"
    );
    let refused = entries[1].outcome.as_ref().expect("an outcome");
    assert!(!refused.ok);
    assert_eq!(
        refused.summary,
        "destination refused (400): INVALID_FIELD: Lead.Region__c is unknown"
    );
    assert_eq!(entries[1].attempts, 1, "not retried");
    server.abort();
}
