//! Edited replays: an edit that addresses a connector's fault gets through before the fix; an
//! edit that breaks the contract never reaches the destination.

use serde_json::{Value, json};
use triage::api::{DeadLetterDto, ReplayOutcome, ReplayResponse};

use super::{all_dead_letters, post, start};

/// Replays `item` with its payload changed by `edit`; returns the outcome.
async fn edited_replay(
    client: &reqwest::Client,
    base: &str,
    item: &DeadLetterDto,
    key: &str,
    edit: impl Fn(&mut Value),
) -> ReplayResponse {
    let mut payload: Value = serde_json::from_str(&item.payload).unwrap();
    edit(&mut payload);
    let url = format!("{base}/v1/dead-letters/{}/replay", item.id);
    let body = json!({"operator": "alice", "idempotency_key": key,
        "payload": payload.to_string(), "payload_encoding": "utf8"});
    post(client, url, body).await.json().await.unwrap()
}

#[tokio::test]
async fn edits_that_address_each_fault_deliver_before_the_fix() {
    let (server, client) = start(None).await;
    let base = server.url();
    let first_json = |items: Vec<DeadLetterDto>| {
        items
            .into_iter()
            .find(|d| d.content_type.as_deref() == Some("application/json"))
            .unwrap()
    };
    let ads = first_json(
        all_dead_letters(
            &client,
            &base,
            "&connector=ads-conversions-to-analytics",
            500,
        )
        .await,
    );
    let crm =
        first_json(all_dead_letters(&client, &base, "&connector=crm-upgrade-sync", 500).await);
    let segment =
        first_json(all_dead_letters(&client, &base, "&connector=segment-to-warehouse", 500).await);

    // Unedited, each still fails with its connector's fault.
    for (item, code) in [
        (&ads, "DUPLICATE_EVENT"),
        (&crm, "SILENT_FAILURE"),
        (&segment, "SCHEMA_DRIFT"),
    ] {
        let untouched = edited_replay(&client, &base, item, code, |_| {}).await;
        assert_eq!(untouched.outcome, ReplayOutcome::Failed);
        assert_eq!(untouched.dead_letter.error.code, code);
    }
    let crm_failure = edited_replay(&client, &base, &crm, "untouched-2", |_| {}).await;
    assert_eq!(
        crm_failure.response.status,
        Some(200),
        "silent failure: 200 with errors"
    );

    let ads_answer = edited_replay(&client, &base, &ads, "ads-fixed-key", |p| {
        let key = format!(
            "{}:{}",
            p["dedupe_key"].as_str().unwrap(),
            p["transaction_id"].as_str().unwrap()
        );
        p["dedupe_key"] = json!(key);
    })
    .await;
    let crm_answer = edited_replay(&client, &base, &crm, "crm-v2", |p| {
        p["api_version"] = json!("v2")
    })
    .await;
    let segment_answer = edited_replay(&client, &base, &segment, "segment-number", |p| {
        let revenue: f64 = p["properties"]["revenue"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        p["properties"]["revenue"] = json!(revenue);
    })
    .await;
    for answer in [ads_answer, crm_answer, segment_answer] {
        assert_eq!(
            answer.outcome,
            ReplayOutcome::Delivered,
            "{:?}",
            answer.response
        );
    }

    // An edit that breaks the contract is refused before it reaches the destination.
    let fresh = all_dead_letters(&client, &base, "&connector=crm-upgrade-sync", 500).await;
    let broken = edited_replay(&client, &base, &fresh[0], "broken", |p| {
        p["lead_score"] = json!("high")
    })
    .await;
    assert_eq!(broken.outcome, ReplayOutcome::Failed);
    assert_eq!(broken.dead_letter.error.code, "CONTRACT_VIOLATION");
    assert!(
        broken.dead_letter.error.message.contains("lead_score"),
        "{}",
        broken.dead_letter.error.message
    );
    server.shutdown().await;
}
