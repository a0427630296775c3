//! The writer's checkpointer: a thread with its own store connection that copies the WAL back
//! into the store file every [`EVERY`] (a passive checkpoint: it never blocks the writer), so
//! the writer's commits never stop to do it (`store::checkpoint`). It ends when the writer is
//! dropped; its connection, closed last, does SQLite's final checkpoint.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::{SAFETY_NET_PAGES, Store};

/// How often the checkpointer looks: a run commits a batch every few tens of milliseconds.
const EVERY: Duration = Duration::from_millis(100);

/// Stops (and waits for) the thread when dropped.
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path` beside `writer`, which then checkpoints itself only past
    /// [`SAFETY_NET_PAGES`]. Without a thread or a connection for it, the writer keeps
    /// checkpointing itself (SQLite's default).
    pub(super) fn start(writer: &Store, path: &Path) -> Option<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                let store = match Store::open(&path) {
                    Ok(store) => store,
                    Err(e) => {
                        tracing::warn!("checkpointer: {e}");
                        return;
                    }
                };
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    if let Err(e) = store.checkpoint_passive() {
                        tracing::debug!("checkpointer: {e}");
                    }
                }
            })
            .ok()?;
        if let Err(e) = writer.set_wal_autocheckpoint(SAFETY_NET_PAGES) {
            tracing::warn!("checkpointer: the writer keeps checkpointing itself: {e}");
        }
        Some(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
