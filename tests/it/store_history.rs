//! A dead letter's history of triage's own actions: the replays and discards queued for it,
//! newest first, with their state and the upstream's answer — and nothing of other targets.

use chrono::{Duration, TimeZone, Utc};
use triage::domain::{Action, ActionKind, ActionOutcome, OutboxState, Timestamp};
use triage::store::Store;

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 14, 2, 0, 0).unwrap()
}

fn action(kind: ActionKind, upstream: &str, target: &str, operator: &str) -> Action {
    Action {
        kind,
        upstream: upstream.into(),
        target: target.into(),
        operator: operator.into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    }
}

#[test]
fn actions_for_a_dead_letter_are_its_replays_and_discards_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let first = store
        .enqueue_action(
            &action(ActionKind::Replay, "demo", "dl-0003", "alice@bastion"),
            t0(),
        )
        .unwrap();
    // Another dead letter, the same id on another upstream, and an incident action: not ours.
    store
        .enqueue_action(
            &action(ActionKind::Replay, "demo", "dl-0004", "alice@bastion"),
            t0() + Duration::minutes(1),
        )
        .unwrap();
    store
        .enqueue_action(
            &action(ActionKind::Discard, "rabbit", "dl-0003", "bob@laptop"),
            t0() + Duration::minutes(2),
        )
        .unwrap();
    store
        .enqueue_action(
            &action(ActionKind::Ack, "demo", "dl-0003", "bob@laptop"),
            t0() + Duration::minutes(3),
        )
        .unwrap();
    let mut edited = action(ActionKind::Replay, "demo", "dl-0003", "bob@laptop");
    edited.payload = Some(br#"{"lead_source":"web"}"#.to_vec());
    let second = store
        .enqueue_action(&edited, t0() + Duration::minutes(4))
        .unwrap();
    store
        .record_action_outcome(
            &first.id,
            &ActionOutcome {
                ok: false,
                summary: "destination refused (400): INVALID_FIELD".into(),
                response: serde_json::Value::Null,
            },
            None,
            None,
            t0() + Duration::minutes(5),
        )
        .unwrap();

    let history = store.actions_for_target("demo", "dl-0003", 50).unwrap();
    let ids: Vec<&str> = history.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, [second.id.as_str(), first.id.as_str()], "newest first");
    assert_eq!(history[0].action.operator, "bob@laptop");
    assert_eq!(history[0].action.payload, edited.payload, "edited replay");
    assert_eq!(history[0].state, OutboxState::Pending);
    assert_eq!(history[1].state, OutboxState::Failed);
    assert_eq!(history[1].attempts, 1);
    assert_eq!(
        history[1].outcome.as_ref().map(|o| o.summary.as_str()),
        Some("destination refused (400): INVALID_FIELD")
    );

    let newest = store.actions_for_target("demo", "dl-0003", 1).unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].id, second.id, "the limit keeps the newest");
    assert!(
        store
            .actions_for_target("demo", "dl-9999", 50)
            .unwrap()
            .is_empty()
    );
}
