//! SQS's server-side redrive (`StartMessageMoveTask`) as a run's "everything" batch asks for it.
//! moto answers these calls with a 500, so a loopback listener (`support::sqs_proxy`) plays the
//! AWS side of the three move-task calls — recording what the SDK sent over a real socket — and
//! relays everything else to moto: the run's rate in the request, the cancel with the task's
//! handle when the run stops (what it left recalled when the run paused), the progress reported,
//! and the batched fallback when the server answers an error. Whole runs paused, resumed and
//! cancelled during a task are in `sqs_move_runs`. Ignored by plain `cargo test`.

use crate::sqs::action;
use crate::support::sqs::{PATIENT, Redrive, adapter_at, browse_all, depth, drain_look, send};
use crate::support::sqs_proxy::{MoveProxy, MoveScript, TASK_HANDLE};
use triage::domain::{Action, ActionKind};
use triage::upstream::run_batch::{RunBatch, RunStop};
use triage::upstream::sqs::message::REPLAY_ID_ATTRIBUTE;
use triage::upstream::{Upstream, UpstreamError};

/// A plain replay of every letter listed, each with its own key.
pub(crate) fn everything(
    letters: &[triage::domain::DeadLetter],
    prefix: &str,
) -> Vec<(Action, String)> {
    letters
        .iter()
        .enumerate()
        .map(|(n, l)| {
            (
                action(ActionKind::Replay, &l.id, None),
                format!("{prefix}-{n}"),
            )
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_move_task_runs_at_the_runs_rate_and_is_cancelled_with_its_handle_when_the_run_stops() {
    let q = Redrive::new("move-stop", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    for n in 0..3 {
        send(&q.client, &url, &format!("m{n}"), &[], None).await;
    }
    q.fail_all(0).await;
    let proxy = MoveProxy::start(&q.endpoint, MoveScript::Run).await;
    let adapter = adapter_at(&proxy.endpoint, vec![q.binding(0, "orders")], None, PATIENT);
    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 3);
    let batch = everything(&letters, "stop");

    let (run, mut control) = RunBatch::new("run-stop", Some(7.0));
    let performing = adapter.perform_run_batch(&batch, &run);
    let operator = async {
        // The operator pauses the run once SQS reports the task running.
        let seen = control
            .progress
            .wait_for(|p| p.as_ref().is_some_and(|m| m.status == "RUNNING"))
            .await
            .expect("progress reported")
            .clone();
        control.stop(RunStop::Paused);
        seen
    };
    let (answers, seen) = futures::join!(performing, operator);
    let seen = seen.expect("a move in progress");
    assert_eq!(seen.queue, q.dlq);
    assert_eq!((seen.moved, seen.to_move), (0, Some(3)));

    let starts = proxy.requests("StartMessageMoveTask");
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(starts[0]["SourceArn"], q.dlq_arn.as_str());
    assert_eq!(
        starts[0]["MaxNumberOfMessagesPerSecond"], 7,
        "the run's rate"
    );
    let lists = proxy.requests("ListMessageMoveTasks");
    assert!(!lists.is_empty());
    assert!(lists.iter().all(|l| l["SourceArn"] == q.dlq_arn.as_str()));
    let cancels = proxy.requests("CancelMessageMoveTask");
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(cancels[0]["TaskHandle"], TASK_HANDLE);

    // Paused: nothing was done, and each action goes back to its run (recalled, not failed).
    for answer in &answers {
        match answer {
            Err(UpstreamError::Recalled { message, .. }) => assert!(
                message.contains("run-stop was paused")
                    && message.contains("still in the dead-letter queue"),
                "{message}"
            ),
            other => panic!("recalled, not {other:?}"),
        }
    }
    // Nothing was replayed after the stop: the letters are where they were.
    assert_eq!(depth(&q.client, &url).await, (0, 0, 0));
    assert_eq!(drain_look(&q.client, &q.dlq_url).await.len(), 3);
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_server_refusing_the_move_task_is_remembered_and_the_batch_is_replayed_in_batches() {
    let q = Redrive::new("move-refused", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    for n in 0..3 {
        send(&q.client, &url, &format!("m{n}"), &[], None).await;
    }
    q.fail_all(0).await;
    let proxy = MoveProxy::start(&q.endpoint, MoveScript::Refuse).await;
    let adapter = adapter_at(&proxy.endpoint, vec![q.binding(0, "orders")], None, PATIENT);
    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 3);

    let (run, _control) = RunBatch::new("run-refused", Some(900.0));
    let answers = adapter
        .perform_run_batch(&everything(&letters, "refused"), &run)
        .await;
    for answer in &answers {
        let result = answer.as_ref().expect("answered");
        assert!(result.outcome.ok, "{:?}", result.outcome);
        assert!(
            result.outcome.summary.starts_with("replayed to"),
            "sent by the adapter: {}",
            result.outcome.summary
        );
    }
    let starts = proxy.requests("StartMessageMoveTask");
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0]["MaxNumberOfMessagesPerSecond"], 500,
        "SQS's cap, not the run's 900/s"
    );
    assert!(proxy.requests("CancelMessageMoveTask").is_empty());
    let arrived = drain_look(&q.client, &url).await;
    assert_eq!(arrived.len(), 3, "each replayed once");
    assert!(arrived.iter().all(|m| {
        m.message_attributes()
            .and_then(|a| a.get(REPLAY_ID_ATTRIBUTE))
            .is_some()
    }));
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0));

    // The refusal is remembered: the next "everything" goes straight to batches.
    for n in 0..2 {
        send(&q.client, &url, &format!("again{n}"), &[], None).await;
    }
    // The replays above sit in the source too: the failing consumer sends them all back.
    q.fail_all(0).await;
    let again = browse_all(&adapter).await;
    let live: Vec<_> = again
        .into_iter()
        .filter(|l| l.state == triage::domain::DeadLetterState::Dead)
        .collect();
    assert_eq!(live.len(), 5);
    let answers = adapter
        .perform_run_batch(&everything(&live, "again"), &run)
        .await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().is_ok_and(|r| r.outcome.ok))
    );
    assert_eq!(
        proxy.requests("StartMessageMoveTask").len(),
        1,
        "not asked again"
    );
    q.delete().await;
}
