//! A loopback HTTP listener (127.0.0.1) between the adapter and the SQS-compatible server: it
//! plays the AWS side of the three move-task calls moto does not serve —
//! `StartMessageMoveTask`, `ListMessageMoveTasks`, `CancelMessageMoveTask` (the SDK's JSON
//! protocol: `X-Amz-Target: AmazonSQS.<operation>`) — recording each request body as the SDK sent
//! it, and relays every other request to the real server unchanged (real HTTP both ways). With
//! [`MoveScript::Move`] its tasks move messages for real (`support::sqs_mover`), as AWS's would.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How the listener answers `StartMessageMoveTask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveScript {
    /// An error answer (400 `UnsupportedOperation`): the adapter must fall back.
    Refuse,
    /// A task handle; the task is listed `RUNNING` (nothing moved) until it is cancelled.
    Run,
    /// Tasks that move messages for real (receive from the DLQ, send to its source queue,
    /// delete): the n-th task started moves `holds[n]` messages and then stays `RUNNING` until it
    /// is cancelled (`CANCELLED`); a task past the list moves every message (`COMPLETED`).
    Move(&'static [usize]),
}

pub const TASK_HANDLE: &str = "task-handle-from-the-test";

pub(super) struct Shared {
    script: MoveScript,
    pub(super) target: String,
    relay: reqwest::Client,
    /// (operation, request body) of every move-task call, in order.
    requests: Mutex<Vec<(String, Value)>>,
    pub(super) cancelled: Mutex<bool>,
    /// The last task a [`MoveScript::Move`] started, as its listing says.
    pub(super) task: Mutex<MovingTask>,
}

/// How a task that moves for real goes.
#[derive(Debug, Clone, Default)]
pub(super) struct MovingTask {
    pub status: &'static str,
    pub moved: u64,
    pub to_move: u64,
}

pub struct MoveProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl MoveProxy {
    pub async fn start(target: &str, script: MoveScript) -> MoveProxy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shared = Arc::new(Shared {
            script,
            target: target.trim_end_matches('/').to_string(),
            relay: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("relay client"),
            requests: Mutex::new(Vec::new()),
            cancelled: Mutex::new(false),
            task: Mutex::new(MovingTask::default()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the move-task listener");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MoveProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            task,
        }
    }

    /// The bodies of the `operation` requests received, in order.
    pub fn requests(&self, operation: &str) -> Vec<Value> {
        requests(&self.shared, operation)
    }
}

pub(super) fn requests(shared: &Shared, operation: &str) -> Vec<Value> {
    shared
        .requests
        .lock()
        .expect("requests")
        .iter()
        .filter(|(op, _)| op == operation)
        .map(|(_, body)| body.clone())
        .collect()
}

impl Drop for MoveProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) fn json_answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AmazonSQS."))
        .unwrap_or("")
        .to_string();
    if matches!(
        operation.as_str(),
        "StartMessageMoveTask" | "ListMessageMoveTasks" | "CancelMessageMoveTask"
    ) {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        shared
            .requests
            .lock()
            .expect("requests")
            .push((operation.clone(), request.clone()));
        return move_task(&shared, &operation, &request);
    }
    relay(&shared, method, uri, headers, body).await
}

fn move_task(shared: &Arc<Shared>, operation: &str, request: &Value) -> Response {
    let cancelled = *shared.cancelled.lock().expect("cancelled");
    if let MoveScript::Move(holds) = shared.script {
        return super::sqs_mover::answer(shared, holds, operation, request);
    }
    match (operation, shared.script) {
        ("StartMessageMoveTask", MoveScript::Refuse) => json_answer(
            StatusCode::BAD_REQUEST,
            json!({
                "__type": "com.amazonaws.sqs#UnsupportedOperation",
                "message": "StartMessageMoveTask is not served by this test listener",
            }),
        ),
        ("StartMessageMoveTask", _) => {
            json_answer(StatusCode::OK, json!({ "TaskHandle": TASK_HANDLE }))
        }
        ("CancelMessageMoveTask", _) => {
            *shared.cancelled.lock().expect("cancelled") = true;
            json_answer(
                StatusCode::OK,
                json!({ "ApproximateNumberOfMessagesMoved": 0 }),
            )
        }
        _ => {
            let started: Option<Value> = shared
                .requests
                .lock()
                .expect("requests")
                .iter()
                .find(|(op, _)| op == "StartMessageMoveTask")
                .map(|(_, body)| body.clone());
            let results = match started {
                Some(start) if shared.script == MoveScript::Run => vec![json!({
                    "TaskHandle": TASK_HANDLE,
                    "Status": if cancelled { "CANCELLED" } else { "RUNNING" },
                    "SourceArn": request.get("SourceArn").cloned().unwrap_or(Value::Null),
                    "ApproximateNumberOfMessagesMoved": 0,
                    "ApproximateNumberOfMessagesToMove": 3,
                    "MaxNumberOfMessagesPerSecond": start.get("MaxNumberOfMessagesPerSecond").cloned().unwrap_or(Value::Null),
                    "StartedTimestamp": 1_700_000_000_000_i64,
                })],
                _ => Vec::new(),
            };
            json_answer(StatusCode::OK, json!({ "Results": results }))
        }
    }
}

async fn relay(
    shared: &Shared,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .relay
        .request(method, format!("{}{path}", shared.target))
        .body(body);
    for (name, value) in &headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let mut out = HeaderMap::new();
            for (name, value) in answer.headers() {
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    out.insert(name.clone(), value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, out, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
