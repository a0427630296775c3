//! Replay and discard of demo dead letters: contract and fault checks, fixes, idempotency.

use reqwest::StatusCode;
use serde_json::{Value, json};
use triage::api::{DeadLetterDto, ReplayOutcome, ReplayResponse};
use triage::domain::DeadLetterState;

use super::{HUBSPOT, all_dead_letters, assert_problem, get_json, hubspot_dead, post, start};

#[tokio::test]
async fn hubspot_replay_fails_until_fixed_then_delivers_once_per_key() {
    let (server, client) = start(None).await;
    let base = server.url();
    let dead = hubspot_dead(&client, &base).await;
    let mut invalid_field = dead.iter().filter(|d| d.error.code == "INVALID_FIELD");
    let target = invalid_field.next().unwrap();
    let replay_url = format!("{base}/v1/dead-letters/{}/replay", target.id);

    let before: ReplayResponse = post(
        &client,
        replay_url.clone(),
        json!({"operator": "alice", "idempotency_key": "k-before"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(before.outcome, ReplayOutcome::Failed);
    assert_eq!(before.dead_letter.state, DeadLetterState::Dead);
    assert_eq!(before.dead_letter.error.code, "INVALID_FIELD");
    assert!(
        before
            .response
            .body
            .unwrap()
            .contains("No such column 'lead_source'")
    );
    assert_eq!(before.dead_letter.attempts, target.attempts + 1);

    // An edited payload that uses the new field name gets through even before the fix.
    let other = invalid_field.next().unwrap();
    let mut edited: Value = serde_json::from_str(&other.payload).unwrap();
    let source = edited
        .as_object_mut()
        .unwrap()
        .remove("lead_source")
        .unwrap();
    edited["LeadSource__c"] = source;
    let edited_answer: ReplayResponse = post(
        &client,
        format!("{base}/v1/dead-letters/{}/replay", other.id),
        json!({"operator": "alice", "idempotency_key": "k-edited", "payload": edited.to_string()}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(edited_answer.outcome, ReplayOutcome::Delivered);

    let fixed = client
        .post(format!("{base}/demo/connectors/{HUBSPOT}/fix"))
        .send()
        .await
        .unwrap();
    assert_eq!(fixed.status(), StatusCode::OK);
    let first = post(
        &client,
        replay_url.clone(),
        json!({"operator": "alice", "idempotency_key": "k-after"}),
    )
    .await
    .text()
    .await
    .unwrap();
    let second = post(
        &client,
        replay_url.clone(),
        json!({"operator": "alice", "idempotency_key": "k-after"}),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(first, second, "the same key must get the identical answer");
    let first: ReplayResponse = serde_json::from_str(&first).unwrap();
    assert_eq!(first.outcome, ReplayOutcome::Delivered);
    assert_eq!(first.dead_letter.state, DeadLetterState::Replayed);
    assert_eq!(first.response.status, Some(201));
    let deliveries: Value = get_json(&client, format!("{base}/demo/deliveries")).await;
    assert_eq!(deliveries[&target.id], json!(1));
    assert_eq!(deliveries[&other.id], json!(1));

    let fresh_key = post(
        &client,
        replay_url,
        json!({"operator": "alice", "idempotency_key": "k-new"}),
    )
    .await;
    assert_problem(fresh_key, 409).await;
    server.shutdown().await;
}

#[tokio::test]
async fn discarded_dead_letter_leaves_the_default_listing_but_shows_as_tombstone() {
    let (server, client) = start(None).await;
    let base = server.url();
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let victim = hubspot_dead(&client, &base).await.remove(3);
    let discarded: DeadLetterDto = post(
        &client,
        format!("{base}/v1/dead-letters/{}/discard", victim.id),
        json!({"operator": "alice", "note": "spam"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(discarded.state, DeadLetterState::Discarded);
    assert!(
        !hubspot_dead(&client, &base)
            .await
            .iter()
            .any(|d| d.id == victim.id)
    );
    let query = format!(
        "&connector={HUBSPOT}&updated_since={}",
        since.to_rfc3339().replace('+', "%2B")
    );
    let changed = all_dead_letters(&client, &base, &query, 50).await;
    let tombstone = changed.iter().find(|d| d.id == victim.id).unwrap();
    assert_eq!(tombstone.state, DeadLetterState::Discarded);
    server.shutdown().await;
}

async fn replay_all(
    client: &reqwest::Client,
    base: &str,
    items: &[DeadLetterDto],
    key_prefix: &str,
) -> Vec<ReplayResponse> {
    let mut answers = Vec::with_capacity(items.len());
    for (n, item) in items.iter().enumerate() {
        let url = format!("{base}/v1/dead-letters/{}/replay", item.id);
        // Keys by position (ids carry the start time), so two runs send the same keys.
        let body = json!({"operator": "alice", "idempotency_key": format!("{key_prefix}-{n}")});
        let response = post(client, url, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(response.json().await.unwrap());
    }
    answers
}

#[tokio::test]
async fn fixing_every_connector_drains_the_backlog_except_contract_violations() {
    let (server, client) = start(None).await;
    let base = server.url();
    let backlog = all_dead_letters(&client, &base, "", 500).await;
    assert!(
        backlog.len() > 500,
        "expected a realistic backlog, got {}",
        backlog.len()
    );
    let connectors: triage::api::ConnectorList =
        get_json(&client, format!("{base}/v1/connectors")).await;
    for connector in &connectors.items {
        let fixed = client
            .post(format!("{base}/demo/connectors/{}/fix", connector.id))
            .send()
            .await
            .unwrap();
        assert_eq!(fixed.status(), StatusCode::OK);
    }
    let answers = replay_all(&client, &base, &backlog, "drain").await;
    for (item, answer) in backlog.iter().zip(&answers) {
        let expected = if item.error.code == "CONTRACT_VIOLATION" {
            ReplayOutcome::Failed
        } else {
            ReplayOutcome::Delivered
        };
        assert_eq!(
            answer.outcome, expected,
            "{} ({}): {:?}",
            item.id, item.connector, answer.response
        );
    }
    let violations = backlog
        .iter()
        .filter(|d| d.error.code == "CONTRACT_VIOLATION")
        .count();
    assert!(
        violations > 0,
        "the hubspot backlog should hold a few contract violations"
    );
    let left = all_dead_letters(&client, &base, "", 500).await;
    assert_eq!(left.len(), violations);
    server.shutdown().await;
}

#[tokio::test]
async fn vendor_outage_replays_succeed_about_seven_in_ten_deterministically() {
    let mut outcomes = vec![];
    for _ in 0..2 {
        let (server, client) = start(None).await;
        let base = server.url();
        let items = all_dead_letters(&client, &base, "&connector=clearbit-enrichment", 500).await;
        let answers = replay_all(&client, &base, &items, "outage").await;
        let failed: Vec<&ReplayResponse> = answers
            .iter()
            .filter(|a| a.outcome == ReplayOutcome::Failed)
            .collect();
        assert!(failed.iter().all(|a| a.response.status == Some(503)));
        outcomes.push(answers.iter().map(|a| a.outcome).collect::<Vec<_>>());
        server.shutdown().await;
    }
    assert_eq!(
        outcomes[0], outcomes[1],
        "same seed and keys must give the same outcomes"
    );
    let delivered = outcomes[0]
        .iter()
        .filter(|o| **o == ReplayOutcome::Delivered)
        .count();
    let share = delivered as f64 / outcomes[0].len() as f64;
    assert!((0.5..=0.9).contains(&share), "delivered share {share}");
}
