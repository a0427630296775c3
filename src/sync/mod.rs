//! The sync engine: one poller per upstream writing batches to the store, and the outbox
//! worker sending the operator's actions. Both tell same-process readers what changed.

mod checkpointer;
pub mod outbox;
pub mod poller;
pub mod run_adopt;
mod run_contracts;
mod run_driver;
mod run_gate;
pub mod run_lease;
mod run_pace;
pub mod runs;
pub mod upstreams;
pub mod watcher;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, RoutingConfig};
use crate::store::{ChangeNotice, Store, StoreError};
pub use upstreams::Upstreams;

/// The sync engine's handle on the store: one writer connection used from blocking tasks, and a
/// checkpointer beside it (`checkpointer`) so its commits never stop to copy the WAL back.
#[derive(Clone)]
pub struct StoreWriter {
    store: Arc<Shared>,
    path: PathBuf,
    _checkpointer: Option<Arc<checkpointer::Checkpointer>>,
}

/// Writers' stores not closed yet: a handle, or a call still running on a blocking thread (whose
/// future may be gone), holds one open.
static WRITERS_OPEN: AtomicUsize = AtomicUsize::new(0);

/// How many writers' stores are still open: the binary waits for its runtime's threads while
/// any is (a write in progress finishes and the store closes), and not otherwise.
pub fn writers_open() -> usize {
    WRITERS_OPEN.load(Ordering::SeqCst)
}

/// A writer's store and its place in [`WRITERS_OPEN`], given back once the store has closed
/// (fields drop in order).
struct Shared {
    store: Mutex<Store>,
    _open: Open,
}

struct Open;

impl Open {
    fn new() -> Open {
        WRITERS_OPEN.fetch_add(1, Ordering::SeqCst);
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        WRITERS_OPEN.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StoreWriter {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(StoreWriter::new(Store::open(path)?))
    }

    /// The engine's handle on a store already open (a command that planned on it goes on
    /// with the same connection: no second open, no checkpoint when the first one closes).
    pub fn new(store: Store) -> Self {
        let path = store.path().to_path_buf();
        let checkpointer = checkpointer::Checkpointer::start(&store, &path).map(Arc::new);
        StoreWriter {
            store: Arc::new(Shared {
                store: Mutex::new(store),
                _open: Open::new(),
            }),
            path,
            _checkpointer: checkpointer,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store off the async threads.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let store = Arc::clone(&self.store);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in another store call must not wedge the engine: keep using the connection.
            let mut guard = store
                .store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Io {
                path,
                message: format!("store task failed: {e}"),
            })
        })
    }
}

/// What runs in the background.
#[derive(Debug, Clone, Copy)]
pub struct SyncOptions {
    pub pollers: bool,
    pub outbox_worker: bool,
}

/// Handle on the running engine; dropping it does not stop the tasks, `shutdown` does.
pub struct SyncHandle {
    pub changes: broadcast::Sender<ChangeNotice>,
    pub outbox_wakeup: Arc<Notify>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl SyncHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeNotice> {
        self.changes.subscribe()
    }

    /// Stops every task and waits (at most 5 s) for them to finish their current step.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(5)).await;
    }

    /// Stops every task, gives them `grace` to finish their current step, then aborts those
    /// still running (a request to a hung upstream). Aborting loses nothing: an action being
    /// sent is an outbox row that stays pending (its lease is taken over by the next process),
    /// and a store write already handed to a blocking thread still commits or rolls back whole.
    pub async fn shutdown_within(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let aborts: Vec<_> = self.tasks.iter().map(JoinHandle::abort_handle).collect();
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

/// Starts pollers and/or the outbox worker for every upstream in `config`.
pub fn start(
    config: &Config,
    routing: &RoutingConfig,
    upstreams: Upstreams,
    store: StoreWriter,
    options: SyncOptions,
) -> SyncHandle {
    let (changes, _) = broadcast::channel(256);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let outbox_wakeup = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    if options.pollers {
        for upstream in upstreams.all().filter(|u| u.polls()) {
            let interval = config
                .upstream(upstream.id())
                .map(|u| u.poll_interval)
                .unwrap_or(Duration::from_secs(5));
            let ctx = poller::PollContext::new(config, routing, interval);
            tasks.push(tokio::spawn(poller::run(
                Arc::clone(upstream),
                store.clone(),
                ctx,
                changes.clone(),
                shutdown_rx.clone(),
            )));
        }
    }
    if options.outbox_worker {
        tasks.push(tokio::spawn(outbox::run(
            upstreams,
            store,
            changes.clone(),
            Arc::clone(&outbox_wakeup),
            shutdown_rx,
        )));
    }
    SyncHandle {
        changes,
        outbox_wakeup,
        shutdown,
        tasks,
    }
}
