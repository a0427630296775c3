//! Injected transport faults, bearer auth, determinism and ticks, and the generated config.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use triage::api::{ConnectorList, DeadLetterDto};

use super::{HUBSPOT, assert_problem, get_json, hubspot_dead, post, start};

#[tokio::test]
async fn injected_faults_answer_once_then_recover() {
    let (server, client) = start(None).await;
    let base = server.url();
    let armed = post(
        &client,
        format!("{base}/demo/faults"),
        json!({"status": 503, "count": 1, "retry_after": 7}),
    )
    .await;
    assert_eq!(armed.status(), StatusCode::OK);
    let failed = client
        .get(format!("{base}/v1/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.headers()["retry-after"], "7");
    assert_problem(failed, 503).await;
    let recovered = client
        .get(format!("{base}/v1/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(recovered.status(), StatusCode::OK);

    post(
        &client,
        format!("{base}/demo/faults"),
        json!({"status": 500, "count": 1}),
    )
    .await;
    assert_problem(
        client
            .get(format!("{base}/v1/incidents"))
            .send()
            .await
            .unwrap(),
        500,
    )
    .await;
    assert_eq!(
        client
            .get(format!("{base}/v1/incidents"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    post(
        &client,
        format!("{base}/demo/faults"),
        json!({"garbage": true, "count": 1}),
    )
    .await;
    let garbage = client
        .get(format!("{base}/v1/connectors"))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&garbage.text().await.unwrap()).is_err());
    server.shutdown().await;
}

#[tokio::test]
async fn token_is_required_when_configured() {
    let (server, client) = start(Some("s3cret")).await;
    let url = format!("{}/v1/connectors", server.url());
    assert_problem(client.get(&url).send().await.unwrap(), 401).await;
    assert_problem(
        client.get(&url).bearer_auth("wrong").send().await.unwrap(),
        401,
    )
    .await;
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("s3cret")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_the_same_backlog_and_ticks_move_the_stack() {
    let (a, client) = start(None).await;
    let (b, _) = start(None).await;
    let emails = |items: Vec<DeadLetterDto>| -> Vec<Option<String>> {
        items
            .iter()
            .map(|d| {
                serde_json::from_str::<Value>(&d.payload)
                    .ok()
                    .and_then(|v| v["email"].as_str().map(str::to_string))
            })
            .collect()
    };
    assert_eq!(
        emails(hubspot_dead(&client, &a.url()).await),
        emails(hubspot_dead(&client, &b.url()).await)
    );

    let before: ConnectorList = get_json(&client, format!("{}/v1/connectors", a.url())).await;
    for _ in 0..5 {
        assert_eq!(
            client
                .post(format!("{}/demo/tick", a.url()))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    let after: ConnectorList = get_json(&client, format!("{}/v1/connectors", a.url())).await;
    assert!(
        after
            .items
            .iter()
            .zip(&before.items)
            .all(|(n, o)| n.updated_at > o.updated_at)
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn written_demo_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = triage::demo::write_demo_config(dir.path(), "http://127.0.0.1:7777").unwrap();
    assert!(
        dir.path()
            .join("runbooks/hubspot-form-to-salesforce.md")
            .is_file()
    );
    assert!(
        dir.path()
            .join("contracts/hubspot-form-lead.json")
            .is_file()
    );
    let config = triage::config::Config::load(&path).unwrap();
    assert_eq!(config.connectors.len(), 5);
    assert_eq!(
        config.upstream("demo").unwrap().url,
        "http://127.0.0.1:7777"
    );
    let hubspot = config.connector(HUBSPOT).unwrap();
    assert_eq!(hubspot.ack_sla, Duration::from_secs(15 * 60));
    assert!(hubspot.runbook.as_ref().unwrap().is_file());
}

#[tokio::test]
async fn ticks_bring_new_dead_letters_only_on_connectors_still_broken() {
    let (server, client) = start(None).await;
    let base = server.url();
    let before: ConnectorList = get_json(&client, format!("{base}/v1/connectors")).await;
    let fixed = client
        .post(format!("{base}/demo/connectors/{HUBSPOT}/fix"))
        .send()
        .await
        .unwrap();
    assert_eq!(fixed.status(), StatusCode::OK);
    let since = chrono::Utc::now();
    for _ in 0..60 {
        client
            .post(format!("{base}/demo/tick"))
            .send()
            .await
            .unwrap();
    }
    let after: ConnectorList = get_json(&client, format!("{base}/v1/connectors")).await;
    let dead =
        |list: &ConnectorList, id: &str| list.items.iter().find(|c| c.id == id).unwrap().queue.dead;
    assert_eq!(
        dead(&after, HUBSPOT),
        dead(&before, HUBSPOT),
        "a fixed connector stops dead-lettering"
    );
    let hubspot = after.items.iter().find(|c| c.id == HUBSPOT).unwrap();
    assert_eq!(hubspot.status, triage::domain::ConnectorStatus::Healthy);
    assert!(hubspot.last_error.is_none());
    let grown: u64 = after.items.iter().map(|c| c.queue.dead).sum::<u64>()
        - before.items.iter().map(|c| c.queue.dead).sum::<u64>();
    assert!(
        grown > 0,
        "60 ticks should bring new dead letters on the broken connectors"
    );
    let since = since.to_rfc3339().replace('+', "%2B");
    let fresh: triage::api::Page<DeadLetterDto> = get_json(
        &client,
        format!("{base}/v1/dead-letters?limit=500&updated_since={since}"),
    )
    .await;
    assert_eq!(
        fresh.items.len() as u64,
        grown,
        "new dead letters are visible to an incremental sync"
    );
    assert!(fresh.items.iter().all(|d| d.connector != HUBSPOT));
    server.shutdown().await;
}

#[tokio::test]
async fn the_simulation_advances_on_its_own_tick() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = triage::demo::DemoOptions {
        tick: Duration::from_millis(20),
        ..triage::demo::DemoOptions::default()
    };
    let server = triage::demo::DemoServer::start(options).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v1/connectors", server.url());
    let before: ConnectorList = get_json(&client, url.clone()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after: ConnectorList = get_json(&client, url).await;
    assert!(after.items[0].updated_at > before.items[0].updated_at);
    server.shutdown().await;
}
