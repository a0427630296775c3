//! The move tasks of `support::sqs_proxy`'s `MoveScript::Move`: each moves messages for real,
//! as AWS's `StartMessageMoveTask` does — received from the DLQ named by the start request's
//! `SourceArn`, sent to the DLQ's source queue (body and message attributes: a new message, as
//! SQS copies it), deleted from the DLQ — and is listed with its status and counts. A task moves
//! the number of messages the script gives it and then stays `RUNNING` until cancelled, or
//! moves everything and is `COMPLETED`; a cancel is `CANCELLING` until the task stops moving.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::sqs_proxy::{MovingTask, Shared, TASK_HANDLE, json_answer, requests};

/// Answers one move-task call of a `MoveScript::Move` listener.
pub(super) fn answer(
    shared: &Arc<Shared>,
    holds: &'static [usize],
    operation: &str,
    request: &Value,
) -> Response {
    match operation {
        "StartMessageMoveTask" => {
            // This request is already recorded: the n-th start is task n.
            let n = requests(shared, "StartMessageMoveTask").len() - 1;
            *shared.cancelled.lock().expect("cancelled") = false;
            *shared.task.lock().expect("task") = MovingTask {
                status: "RUNNING",
                moved: 0,
                to_move: 0,
            };
            let arn = request["SourceArn"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            tokio::spawn(move_for_real(shared.clone(), arn, holds.get(n).copied()));
            json_answer(StatusCode::OK, json!({ "TaskHandle": TASK_HANDLE }))
        }
        "CancelMessageMoveTask" => {
            *shared.cancelled.lock().expect("cancelled") = true;
            let mut task = shared.task.lock().expect("task");
            if task.status == "RUNNING" {
                task.status = "CANCELLING";
            }
            json_answer(
                StatusCode::OK,
                json!({ "ApproximateNumberOfMessagesMoved": task.moved }),
            )
        }
        _ => {
            let started = !requests(shared, "StartMessageMoveTask").is_empty();
            let task = shared.task.lock().expect("task").clone();
            let results = if started {
                vec![json!({
                    "TaskHandle": TASK_HANDLE,
                    "Status": task.status,
                    "SourceArn": request.get("SourceArn").cloned().unwrap_or(Value::Null),
                    "ApproximateNumberOfMessagesMoved": task.moved,
                    "ApproximateNumberOfMessagesToMove": task.to_move,
                    "StartedTimestamp": 1_700_000_000_000_i64,
                })]
            } else {
                Vec::new()
            };
            json_answer(StatusCode::OK, json!({ "Results": results }))
        }
    }
}

fn set(shared: &Shared, change: impl FnOnce(&mut MovingTask)) {
    change(&mut shared.task.lock().expect("task"));
}

fn cancelled(shared: &Shared) -> bool {
    *shared.cancelled.lock().expect("cancelled")
}

/// One task: moves `hold` messages (then waits for its cancel) or all of them.
async fn move_for_real(shared: Arc<Shared>, arn: String, hold: Option<usize>) {
    let client = super::sqs::client(&shared.target).await;
    let name = arn.rsplit(':').next().unwrap_or_default().to_string();
    let dlq = client
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .ok()
        .and_then(|o| o.queue_url().map(str::to_string));
    let source = match &dlq {
        Some(dlq) => client
            .list_dead_letter_source_queues()
            .queue_url(dlq)
            .send()
            .await
            .ok()
            .and_then(|o| o.queue_urls().first().cloned()),
        None => None,
    };
    let (Some(dlq), Some(source)) = (dlq, source) else {
        set(&shared, |t| t.status = "FAILED");
        return;
    };
    let (visible, _, _) = super::sqs::depth(&client, &dlq).await;
    set(&shared, |t| t.to_move = visible);
    let mut moved = 0usize;
    let mut empty = 0;
    while !cancelled(&shared) {
        if hold.is_some_and(|h| moved >= h) {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let want = hold.map_or(10, |h| (h - moved).min(10));
        let got = client
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .visibility_timeout(30)
            .message_attribute_names("All")
            .send()
            .await
            .expect("the task receives from the DLQ");
        if got.messages().is_empty() {
            empty += 1;
            if empty >= 2 && hold.is_none() {
                set(&shared, |t| t.status = "COMPLETED");
                return;
            }
            continue;
        }
        for message in got.messages() {
            client
                .send_message()
                .queue_url(&source)
                .message_body(message.body().unwrap_or_default())
                .set_message_attributes(message.message_attributes().cloned())
                .send()
                .await
                .expect("the task sends to the source");
            client
                .delete_message()
                .queue_url(&dlq)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("the task deletes from the DLQ");
            moved += 1;
            set(&shared, |t| t.moved = moved as u64);
        }
    }
    set(&shared, |t| t.status = "CANCELLED");
}
