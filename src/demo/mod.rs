//! The embedded demo upstream: an axum server speaking the Triage Connector API v1 on loopback,
//! driven by a simulated marketing-ops scenario (`triage demo`, and the server integration
//! tests sync from). Not a test double of any real system: its connectors fail the way the
//! playbook's connectors do, deterministically for a given seed.

mod config_writer;
pub mod contract;
mod cursor;
mod faults;
mod payloads;
mod problem;
mod replay;
mod routes_admin;
mod routes_batch;
mod routes_dead_letters;
mod routes_incidents;
mod scenario;
mod server;
mod sim;
mod state;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config_writer::{TOKEN_FILE, write_demo_config, write_demo_config_with_token};
pub use faults::FaultPlan;
pub use scenario::{
    Baseline, ConnectorSpec, FaultKind, FaultSpec, IncidentSpec, LinkSpec, PayloadKind, PersonSpec,
    Scenario, TeamSpec,
};

/// How to run the demo upstream.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to listen; must be a loopback address. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed of every random choice of the simulation (timestamps follow the wall clock).
    pub seed: u64,
    /// When set, every `/v1` request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Simulation step.
    pub tick: Duration,
    pub scenario: Scenario,
    /// Serve discovery (`GET /v1`) and the batch endpoints; off, the demo is a v1.0 upstream
    /// (both 404) and clients send one request per dead letter.
    pub batch: bool,
    /// `--scale N`: also serve N generated dead letters and N/10 incidents (`sim::scale`), to
    /// measure ingest, search and the console at size.
    pub scale: Option<usize>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 42,
            token: None,
            tick: Duration::from_secs(1),
            scenario: Scenario::builtin(),
            batch: true,
            scale: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(
        "demo: refusing to listen on {addr}: the demo upstream serves loopback only; use 127.0.0.1:<port>"
    )]
    NotLoopback { addr: SocketAddr },
    #[error("demo: cannot listen on {addr}: {source}; pick another port or use port 0")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("demo: the scenario is unusable: {0}")]
    Scenario(String),
}

/// A running demo upstream. Dropping it without `shutdown` leaves the tasks running until the
/// runtime ends.
pub struct DemoServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    simulation: JoinHandle<()>,
}

impl DemoServer {
    /// Binds, seeds the scenario's start state, and spawns the server and the simulation.
    pub async fn start(opts: DemoOptions) -> Result<DemoServer, DemoError> {
        if !opts.listen.ip().is_loopback() {
            return Err(DemoError::NotLoopback { addr: opts.listen });
        }
        if opts.scenario.connectors.is_empty() {
            return Err(DemoError::Scenario(format!(
                "scenario {:?} has no connectors",
                opts.scenario.name
            )));
        }
        let mut state =
            state::DemoState::new(&opts.scenario, opts.seed).map_err(DemoError::Scenario)?;
        sim::seed(&mut state, &opts.scenario);
        if let Some(n) = opts.scale {
            sim::scale(&mut state, n);
        }
        let shared = server::Shared::new(state, opts.token.clone(), opts.batch);
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| DemoError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| DemoError::Bind {
            addr: opts.listen,
            source,
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let app = server::router(shared.clone());
        let shutdown = server::stopped(stop_rx.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
        let simulation = tokio::spawn(server::simulate(shared, opts.tick, stop_rx));
        tracing::info!(%addr, seed = opts.seed, "demo upstream listening");
        Ok(DemoServer {
            addr,
            stop,
            server,
            simulation,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), and joins both tasks.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(5)).await;
    }

    /// Like [`DemoServer::shutdown`], draining for at most `grace`: after the console quits,
    /// a request held by a `delay_ms` fault must not hold the exit back.
    pub async fn shutdown_within(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut server = self.server;
        if tokio::time::timeout(grace, &mut server).await.is_err() {
            tracing::warn!(addr = %self.addr, ?grace, "demo upstream did not drain; aborting");
            server.abort();
        }
        let _ = self.simulation.await;
    }
}
