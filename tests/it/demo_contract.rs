//! What schemathesis found where the demo and `assets/connector-api.yaml` disagreed, pinned
//! without schemathesis (`tests/it/schemathesis.rs` runs the whole check in the full suite):
//! blank operators and keys are 400 everywhere (discard included; a batch item is `invalid`),
//! `null` is not an absent field, a whole-number float is an integer, `limit` outside 1..500 is
//! a 400, any cursor of the documented shape is served and other text is a 400, and escalating
//! past the last level does not crash the handler.

use serde_json::{Value, json};
use triage::api::{IncidentDto, Page};

use crate::demo_api::{assert_problem, get_json, post, start};

#[tokio::test]
async fn blank_operators_and_keys_and_nulls_are_400_on_every_action() {
    let (server, client) = start(None).await;
    let base = server.url();
    let incidents: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let incident = &incidents.items[0].id;
    let dead: Page<Value> = get_json(&client, format!("{base}/v1/dead-letters?limit=1")).await;
    let letter = dead.items[0]["id"].as_str().unwrap().to_string();
    for verb in ["ack", "unack", "escalate", "resolve"] {
        let url = format!("{base}/v1/incidents/{incident}/{verb}");
        for body in [
            json!({"operator": ""}),
            json!({"operator": " \t\r\n"}),
            json!({"operator": "alice", "idempotency_key": " "}),
            json!({"operator": "alice", "note": null}),
            json!({"operator": "alice", "level": 1.5}),
        ] {
            let problem = assert_problem(post(&client, url.clone(), body.clone()).await, 400).await;
            assert!(problem.detail.is_some(), "{verb} {body}");
        }
    }
    let discard = format!("{base}/v1/dead-letters/{letter}/discard");
    let problem = assert_problem(
        post(&client, discard.clone(), json!({"operator": ""})).await,
        400,
    )
    .await;
    assert!(problem.detail.unwrap().contains("operator"));
    let replay = format!("{base}/v1/dead-letters/{letter}/replay");
    for body in [
        json!({"operator": "", "idempotency_key": "k1"}),
        json!({"operator": "alice", "idempotency_key": ""}),
        json!({"operator": "alice", "idempotency_key": "k1", "payload": null}),
    ] {
        assert_problem(post(&client, replay.clone(), body).await, 400).await;
    }
    // Nothing above touched the letter: it is still dead and can be discarded.
    let discarded = post(&client, discard, json!({"operator": "alice"})).await;
    assert_eq!(discarded.status(), 200);
    let body: Value = discarded.json().await.unwrap();
    assert_eq!(body["state"], "discarded");
    // In a batch, a blank operator makes only that item invalid.
    let batch = post(
        &client,
        format!("{base}/v1/dead-letters/discard"),
        json!({"items": [{"id": letter, "operator": " "}, {"id": letter, "operator": "alice"}]}),
    )
    .await;
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().await.unwrap();
    assert_eq!(batch["results"][0]["status"], "invalid");
    assert_eq!(batch["results"][1]["status"], "discarded");
    server.shutdown().await;
}

#[tokio::test]
async fn whole_number_levels_count_and_the_last_level_does_not_overflow() {
    let (server, client) = start(None).await;
    let base = server.url();
    let incidents: Page<IncidentDto> = get_json(&client, format!("{base}/v1/incidents")).await;
    let open = incidents
        .items
        .iter()
        .find(|i| i.resolved_at.is_none())
        .expect("an unresolved incident");
    let url = format!("{base}/v1/incidents/{}/escalate", open.id);
    let raised: IncidentDto = post(&client, url.clone(), json!({"operator": "a", "level": 2.0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(raised.escalation_level, 2);
    let top: IncidentDto = post(
        &client,
        url.clone(),
        json!({"operator": "a", "level": 4_294_967_295_u64}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(top.escalation_level, u32::MAX);
    // One more step from the last level (this crashed the handler: an add overflow).
    let again = post(&client, url, json!({"operator": "a"})).await;
    assert_eq!(again.status(), 200);
    let again: IncidentDto = again.json().await.unwrap();
    assert_eq!(again.escalation_level, u32::MAX);
    server.shutdown().await;
}

#[tokio::test]
async fn limits_outside_1_to_500_and_cursors_of_another_shape_are_400() {
    let (server, client) = start(None).await;
    let base = server.url();
    for listing in ["incidents", "dead-letters"] {
        for query in [
            "limit=0",
            "limit=501",
            "cursor=",
            "cursor=bm9wZQ",
            "cursor=12.ABCD",
            "cursor=12.abc",
        ] {
            let response = client
                .get(format!("{base}/v1/{listing}?{query}"))
                .send()
                .await
                .unwrap();
            assert_problem(response, 400).await;
        }
        // Any position is a place to start: before everything, after everything, mid-way.
        let first: Page<Value> = get_json(&client, format!("{base}/v1/{listing}?cursor=0.")).await;
        let all: Page<Value> = get_json(&client, format!("{base}/v1/{listing}")).await;
        assert_eq!(first.items, all.items);
        let none: Page<Value> = get_json(
            &client,
            format!("{base}/v1/{listing}?cursor=999999999999999999.ff"),
        )
        .await;
        assert!(none.items.is_empty() && none.next_cursor.is_none());
        let page: Page<Value> = get_json(&client, format!("{base}/v1/{listing}?limit=2")).await;
        let cursor = page.next_cursor.expect("more than two items");
        let (ms, hex) = cursor.split_once('.').expect("ms.hex");
        let second = &page.items[1];
        assert_eq!(
            hex::decode(hex).unwrap(),
            second["id"].as_str().unwrap().as_bytes()
        );
        assert!(ms.parse::<i64>().is_ok());
        let next: Page<Value> = get_json(
            &client,
            format!("{base}/v1/{listing}?limit=2&cursor={cursor}"),
        )
        .await;
        assert_eq!(next.items[0], all.items[2]);
    }
    server.shutdown().await;
}
