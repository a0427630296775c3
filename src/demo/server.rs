//! The demo HTTP server: the shared state handle, the router (Connector API v1 under `/v1`,
//! admin under `/demo`), and the tasks that serve and simulate until shutdown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::sync::watch;

use super::faults::{self, FaultPlan};
use super::problem::ApiError;
use super::state::DemoState;
use super::{routes_admin, routes_batch, routes_dead_letters, routes_incidents, sim};

/// Largest batch body accepted: 500 edited payloads of a few tens of KiB each (axum's default
/// of 2 MiB would refuse ordinary batches).
const BATCH_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Handle every route shares: the simulation state, the armed fault, the token, whether the
/// batch endpoints are served, and the request counts.
#[derive(Clone)]
pub struct Shared {
    inner: Arc<SharedInner>,
}

struct SharedInner {
    state: Mutex<DemoState>,
    fault: Mutex<Option<FaultPlan>>,
    token: Option<String>,
    batch: AtomicBool,
    /// `/v1` requests received, by "METHOD route" (faulted ones included).
    requests: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    pub fn new(state: DemoState, token: Option<String>, batch: bool) -> Shared {
        Shared {
            inner: Arc::new(SharedInner {
                state: Mutex::new(state),
                fault: Mutex::new(None),
                token,
                batch: AtomicBool::new(batch),
                requests: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Whether `GET /v1` and the batch endpoints are served (else 404, a v1.0 upstream).
    pub fn batch_enabled(&self) -> bool {
        self.inner.batch.load(Ordering::Relaxed)
    }

    pub fn set_batch(&self, on: bool) {
        self.inner.batch.store(on, Ordering::Relaxed);
    }

    pub fn count_request(&self, route: String) {
        let mut requests = self
            .inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *requests.entry(route).or_insert(0) += 1;
    }

    pub fn requests(&self) -> BTreeMap<String, u64> {
        self.inner
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Locks the simulation state. Never hold it across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, DemoState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn token(&self) -> Option<&str> {
        self.inner.token.as_deref()
    }

    pub fn arm_fault(&self, plan: FaultPlan) {
        let mut fault = self.inner.fault.lock().unwrap_or_else(|p| p.into_inner());
        *fault = (plan.count > 0).then_some(plan);
    }

    /// Takes one use of the armed fault, if any applies to a request for `path`.
    pub fn take_fault(&self, path: &str) -> Option<FaultPlan> {
        let mut fault = self.inner.fault.lock().unwrap_or_else(|p| p.into_inner());
        let plan = fault.as_mut().filter(|plan| plan.applies_to(path))?;
        plan.count = plan.count.saturating_sub(1);
        let taken = plan.clone();
        if plan.count == 0 {
            *fault = None;
        }
        Some(taken)
    }
}

/// The whole HTTP surface.
pub fn router(shared: Shared) -> Router {
    let v1 = Router::new()
        .route("/v1", get(routes_batch::info))
        .route("/v1/connectors", get(routes_dead_letters::connectors))
        .route("/v1/incidents", get(routes_incidents::list))
        .route("/v1/incidents/{id}/ack", post(routes_incidents::ack))
        .route("/v1/incidents/{id}/unack", post(routes_incidents::unack))
        .route(
            "/v1/incidents/{id}/escalate",
            post(routes_incidents::escalate),
        )
        .route(
            "/v1/incidents/{id}/resolve",
            post(routes_incidents::resolve),
        )
        .route("/v1/dead-letters", get(routes_dead_letters::list))
        .route(
            "/v1/dead-letters/replay",
            post(routes_batch::replay).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route(
            "/v1/dead-letters/discard",
            post(routes_batch::discard).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT)),
        )
        .route(
            "/v1/dead-letters/{id}/replay",
            post(routes_dead_letters::replay),
        )
        .route(
            "/v1/dead-letters/{id}/discard",
            post(routes_dead_letters::discard),
        )
        .fallback(unknown_route)
        .layer(from_fn_with_state(shared.clone(), faults::require_token))
        .layer(from_fn_with_state(shared.clone(), faults::inject))
        .layer(from_fn_with_state(shared.clone(), faults::count));
    let admin = Router::new()
        .route("/demo/faults", post(routes_admin::arm_faults))
        .route(
            "/demo/connectors/{id}/fix",
            post(routes_admin::fix_connector),
        )
        .route(
            "/demo/connectors/{id}/dead-letters",
            post(routes_admin::add_dead_letters),
        )
        .route("/demo/tick", post(routes_admin::tick))
        .route(
            "/demo/expire-tombstones",
            post(routes_admin::expire_tombstones),
        )
        .route("/demo/deliveries", get(routes_admin::deliveries))
        .route("/demo/requests", get(routes_admin::requests))
        .route("/demo/capabilities", post(routes_admin::capabilities));
    // Merged, not layered together: the admin routes skip the v1 token check and faults.
    admin.merge(v1).with_state(shared)
}

pub async fn unknown_route() -> ApiError {
    ApiError::not_found(
        "no such route; the Connector API v1 is described in assets/connector-api.yaml",
    )
}

/// Runs the simulation every `tick` until `stop` flips.
pub async fn simulate(shared: Shared, tick: Duration, mut stop: watch::Receiver<bool>) {
    let period = tick.max(Duration::from_millis(10));
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => sim::tick(&mut shared.state()),
            _ = stop.changed() => break,
        }
    }
}

/// Resolves once `stop` flips (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
}
