//! The demo upstream over real loopback HTTP: pagination, incremental listing, incident
//! actions, replay (contract + fault + idempotency), discard, injected faults, auth, and the
//! generated config.

#[path = "demo_api/edits.rs"]
mod edits;
#[path = "demo_api/replay.rs"]
mod replay;
#[path = "demo_api/transport.rs"]
mod transport;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use triage::api::{ConnectorList, DeadLetterDto, IncidentDto, Page, Problem};
use triage::demo::{DemoOptions, DemoServer};
use triage::domain::{IncidentStatus, PayloadEncoding, Severity};

pub const HUBSPOT: &str = "hubspot-form-to-salesforce";

pub async fn start(token: Option<&str>) -> (DemoServer, reqwest::Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = DemoOptions {
        // The simulation stays still unless a test asks for a tick.
        tick: Duration::from_secs(3600),
        token: token.map(str::to_string),
        ..DemoOptions::default()
    };
    let server = DemoServer::start(options).await.unwrap();
    (server, reqwest::Client::new())
}

pub async fn get_json<T: serde::de::DeserializeOwned>(client: &reqwest::Client, url: String) -> T {
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {url}");
    response.json().await.unwrap()
}

pub async fn post(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client.post(url).json(&body).send().await.unwrap()
}

pub async fn all_dead_letters(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    limit: usize,
) -> Vec<DeadLetterDto> {
    let mut items = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/dead-letters?limit={limit}{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Page<DeadLetterDto> = get_json(client, url).await;
        assert!(page.items.len() <= limit);
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

pub async fn assert_problem(response: reqwest::Response, status: u16) -> Problem {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let problem: Problem = response.json().await.unwrap();
    assert_eq!(problem.status, status);
    problem
}

pub async fn hubspot_dead(client: &reqwest::Client, base: &str) -> Vec<DeadLetterDto> {
    all_dead_letters(client, base, &format!("&connector={HUBSPOT}"), 500).await
}

#[tokio::test]
async fn first_screen_is_alive_and_pages_cover_every_item_once() {
    let (server, client) = start(None).await;
    let base = server.url();
    let connectors: ConnectorList = get_json(&client, format!("{base}/v1/connectors")).await;
    assert_eq!(connectors.items.len(), 5);
    let hubspot = connectors.items.iter().find(|c| c.id == HUBSPOT).unwrap();
    assert_eq!(hubspot.queue.dead, 212);
    assert!(
        hubspot
            .last_error
            .as_deref()
            .unwrap()
            .contains("lead_source")
    );

    let paged = all_dead_letters(&client, &base, &format!("&connector={HUBSPOT}"), 7).await;
    let ids: HashSet<&str> = paged.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), paged.len(), "a dead letter was listed twice");
    assert_eq!(paged.len() as u64, hubspot.queue.dead);
    let full = hubspot_dead(&client, &base).await;
    assert_eq!(
        full.iter().map(|d| &d.id).collect::<Vec<_>>(),
        paged.iter().map(|d| &d.id).collect::<Vec<_>>()
    );

    let all: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents?limit=500")).await;
    assert!((5..=8).contains(&all.items.len()));
    assert!(all.items.iter().any(|i| i.connector == HUBSPOT
        && i.severity == Severity::Critical
        && i.status == IncidentStatus::Open));
    let mut paged = vec![];
    let mut url = format!("{base}/v1/incidents?limit=2");
    loop {
        let page: Page<IncidentDto> = get_json(&client, url.clone()).await;
        paged.extend(page.items.into_iter().map(|i| i.id));
        match page.next_cursor {
            Some(c) => url = format!("{base}/v1/incidents?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn backlog_holds_binary_huge_and_hostile_payloads() {
    let (server, client) = start(None).await;
    let items = all_dead_letters(
        &client,
        &server.url(),
        "&connector=segment-to-warehouse",
        500,
    )
    .await;
    let binary = items
        .iter()
        .find(|d| d.payload_encoding == PayloadEncoding::Base64)
        .unwrap();
    assert_eq!(
        binary.content_type.as_deref(),
        Some("application/x-protobuf")
    );
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&binary.payload)
        .unwrap();
    assert!(bytes.contains(&0x00) && bytes.contains(&0xff));

    let hubspot = hubspot_dead(&client, &server.url()).await;
    assert!(
        hubspot.iter().any(|d| d.payload.len() > 200_000),
        "a 200 KB payload"
    );
    let hostile_header = |needle: &str| {
        hubspot
            .iter()
            .any(|d| d.headers.values().any(|v| v.contains(needle)))
    };
    assert!(hostile_header("\u{1b}[2J"), "an ANSI clear-screen");
    assert!(hostile_header("\u{1b}]52;c;"), "an OSC 52 clipboard write");
    assert!(hostile_header("\u{202e}"), "an RTL override");
    server.shutdown().await;
}

#[tokio::test]
async fn updated_since_lists_only_newer_changes_and_bad_cursor_is_a_problem() {
    let (server, client) = start(None).await;
    let base = server.url();
    let all: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let open = all
        .items
        .iter()
        .find(|i| i.status == IncidentStatus::Open)
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = chrono::Utc::now();
    let acked = post(
        &client,
        format!("{base}/v1/incidents/{}/ack", open.id),
        json!({"operator": "alice"}),
    )
    .await;
    assert_eq!(acked.status(), StatusCode::OK);
    let newer: Page<IncidentDto> = client
        .get(format!("{base}/v1/incidents"))
        .query(&[("updated_since", since.to_rfc3339())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        newer.items.iter().map(|i| &i.id).collect::<Vec<_>>(),
        vec![&open.id]
    );

    let bad = client
        .get(format!("{base}/v1/incidents?cursor=%21%21not-a-cursor"))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400).await;
    let bad = client
        .get(format!("{base}/v1/dead-letters?cursor=bm9wZQ"))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400).await;
    server.shutdown().await;
}

#[tokio::test]
async fn ack_sticks_is_idempotent_and_unknown_ids_are_404() {
    let (server, client) = start(None).await;
    let base = server.url();
    let all: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let open = all
        .items
        .iter()
        .find(|i| i.status == IncidentStatus::Open)
        .unwrap();
    let url = format!("{base}/v1/incidents/{}/ack", open.id);
    let first: IncidentDto = post(&client, url.clone(), json!({"operator": "alice"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first.acked_by.as_deref(), Some("alice"));
    assert_eq!(first.status, IncidentStatus::Acknowledged);
    assert!(first.updated_at > open.updated_at);
    let again = post(&client, url, json!({"operator": "bob"})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<IncidentDto>().await.unwrap(), first);
    let listed: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let listed = listed.items.iter().find(|i| i.id == open.id).unwrap();
    assert_eq!(listed.acked_by.as_deref(), Some("alice"));

    let escalated: IncidentDto = post(
        &client,
        format!("{base}/v1/incidents/{}/escalate", open.id),
        json!({"operator": "alice", "level": 2}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(escalated.escalation_level, 2);
    let resolved: IncidentDto = post(
        &client,
        format!("{base}/v1/incidents/{}/resolve", open.id),
        json!({"operator": "alice"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(resolved.resolved_at.is_some());
    let late = post(
        &client,
        format!("{base}/v1/incidents/{}/ack", open.id),
        json!({"operator": "bob"}),
    )
    .await;
    assert_problem(late, 409).await;

    let unknown = post(
        &client,
        format!("{base}/v1/incidents/inc_nope/ack"),
        json!({"operator": "alice"}),
    )
    .await;
    assert_problem(unknown, 404).await;
    let unknown = post(
        &client,
        format!("{base}/v1/dead-letters/dl_nope/replay"),
        json!({"operator": "a", "idempotency_key": "k"}),
    )
    .await;
    assert_problem(unknown, 404).await;
    server.shutdown().await;
}

#[tokio::test]
async fn unack_reopens_an_acknowledged_incident_once_and_refuses_a_resolved_one() {
    let (server, client) = start(None).await;
    let base = server.url();
    let all: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let open = all
        .items
        .iter()
        .find(|i| i.status == IncidentStatus::Open)
        .unwrap();
    let acked: IncidentDto = post(
        &client,
        format!("{base}/v1/incidents/{}/ack", open.id),
        json!({"operator": "alice"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(acked.status, IncidentStatus::Acknowledged);
    let url = format!("{base}/v1/incidents/{}/unack", open.id);
    let body = json!({"operator": "alice", "idempotency_key": "unack-1"});
    let reopened: IncidentDto = post(&client, url.clone(), body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened.status, IncidentStatus::Open);
    assert_eq!((reopened.acked_by, reopened.acked_at), (None, None));
    assert!(reopened.updated_at >= acked.updated_at);
    let listed: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let listed = listed.items.iter().find(|i| i.id == open.id).unwrap();
    assert_eq!(listed.status, IncidentStatus::Open);
    // The same key answers the same; a fresh un-ack of an open incident changes nothing.
    let replayed: IncidentDto = post(&client, url.clone(), body).await.json().await.unwrap();
    assert_eq!(replayed.status, IncidentStatus::Open);
    let again = post(&client, url.clone(), json!({"operator": "bob"})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<IncidentDto>().await.unwrap().status,
        IncidentStatus::Open
    );
    post(
        &client,
        format!("{base}/v1/incidents/{}/resolve", open.id),
        json!({"operator": "alice"}),
    )
    .await;
    assert_problem(post(&client, url, json!({"operator": "bob"})).await, 409).await;
    server.shutdown().await;
}

/// `triage demo --scale N` (#15): N more dead letters and N/10 incidents, served through the
/// real API and synced into the store with exact counts.
#[test]
fn demo_scale_serves_n_dead_letters_and_a_tenth_as_many_incidents() {
    let demo = crate::support::demo_cli::Demo::start(&["--scale", "3000"]);
    let connectors = demo.get("/v1/connectors");
    let dead: u64 = connectors["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["queue"]["dead"].as_u64().unwrap_or(0))
        .sum();
    // The scenario's own letters (a few hundred) come on top.
    assert!((3000..4000).contains(&dead), "{dead} dead letters served");
    demo.ok(&["sync", "--once"]);
    let letters = crate::support::demo_cli::json_lines(
        &demo.run(&["dead-letters", "--json", "--limit", "0"]).stdout,
    );
    assert_eq!(
        letters.len() as u64,
        dead,
        "every served letter stored once"
    );
    let ids: std::collections::HashSet<&str> =
        letters.iter().filter_map(|l| l["id"].as_str()).collect();
    assert_eq!(ids.len(), letters.len(), "ids are unique");
    let incidents = crate::support::demo_cli::json_lines(
        &demo
            .run(&["incidents", "--json", "--limit", "0", "--all-statuses"])
            .stdout,
    );
    assert!(incidents.len() >= 300, "{} incidents", incidents.len());
    let open = incidents.iter().filter(|i| i["status"] == "open").count();
    assert!(
        open > 0 && open < incidents.len() / 2,
        "{open} open of {}",
        incidents.len()
    );
}
