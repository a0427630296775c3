//! Injected transport faults for trying failure modes (`POST /demo/faults`): the next `count`
//! `/v1` requests answer an error status (with `Retry-After`), a 200 with a non-JSON body, or
//! arrive late; a plan may target one path. Also the bearer-token check of `/v1` and the request
//! counter.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::problem::ApiError;
use super::server::Shared;

/// Body of `POST /demo/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// Status to answer (>= 400); absent or below 400 means "answer normally" (after the delay).
    #[serde(default)]
    pub status: Option<u16>,
    /// How many following `/v1` requests are affected.
    #[serde(default = "one")]
    pub count: u32,
    /// Seconds for the `Retry-After` header of the error answer.
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// Answer 200 with an HTML body instead of JSON (a misrouted proxy).
    #[serde(default)]
    pub garbage: bool,
    /// Wait this long before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Only requests for this path (e.g. `/v1/dead-letters/replay`) are affected and use up
    /// `count`; absent: every `/v1` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl FaultPlan {
    pub fn applies_to(&self, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| p == path)
    }
}

fn one() -> u32 {
    1
}

/// What a misconfigured proxy in front of an API answers.
const GARBAGE_BODY: &str = "<html><head><title>Welcome</title></head><body><h1>It works!</h1>\
<p>This is the default page of the load balancer.</p></body></html>";

/// Middleware on `/v1`: consumes one armed fault, if any, and acts it out.
pub async fn inject(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let Some(plan) = shared.take_fault(request.uri().path()) else {
        return next.run(request).await;
    };
    if plan.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
    }
    if plan.garbage {
        let mut response = (StatusCode::OK, GARBAGE_BODY).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return response;
    }
    match plan.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(status) if status.as_u16() >= 400 => {
            let mut error = ApiError::new(
                status,
                "injected by POST /demo/faults: the demo upstream is simulating a failure",
            );
            error.retry_after = plan.retry_after;
            error.into_response()
        }
        _ => next.run(request).await,
    }
}

/// Middleware on `/v1`, outermost: counts every request by method and route (`GET /demo/requests`),
/// so tests can tell a batch request from one request per dead letter.
pub async fn count(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| format!("(no route) {}", request.uri().path()));
    shared.count_request(format!("{} {route}", request.method()));
    next.run(request).await
}

/// Middleware on `/v1`: when a token is configured, `Authorization: Bearer <token>` is required.
pub async fn require_token(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(expected) = shared.token() {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(expected) {
            let detail = if presented.is_none() {
                "missing Authorization: Bearer <token>; set the upstream's token in triage.toml"
            } else {
                "the bearer token is not the one this demo was started with"
            };
            return ApiError::unauthorized(detail).into_response();
        }
    }
    next.run(request).await
}
