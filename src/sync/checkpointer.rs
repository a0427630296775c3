//! The writer's checkpointer: a thread with its own store connection that copies the WAL back
//! into the store file every [`EVERY`] (a passive checkpoint: it never blocks the writer), so
//! the writer's commits never stop to do it (`store::checkpoint`). It ends when the writer is
//! dropped; its connection, closed last, does SQLite's final checkpoint.
//!
//! While the writer keeps committing, a passive checkpoint never finds the WAL still at the
//! frame it started from, so SQLite never syncs the store file after one: every page copied
//! during a run stays dirty in the page cache until the final checkpoint's `fsync` — tens of
//! milliseconds at the end of a command that wrote for a second. So after each checkpoint that
//! copied pages the thread flushes the store file itself ([`File::sync_data`] on its own
//! descriptor; the flush is the kernel's, off every other thread), and the final one finds
//! little left to write.

use std::fs::File;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::store::{SAFETY_NET_PAGES, Store};

/// How often the checkpointer looks: a run commits a batch every few tens of milliseconds, and
/// what is left uncopied when the writer closes is copied on its way out.
const EVERY: Duration = Duration::from_millis(25);

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
                // Read-only: `fsync` flushes the file whatever the descriptor's mode.
                let file = File::open(&path).ok();
                let mut copied_before = 0;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    match store.checkpoint_passive() {
                        Ok((_, copied)) => {
                            // A WAL started over counts from 0 again.
                            if copied != copied_before
                                && let Some(file) = &file
                                && let Err(e) = file.sync_data()
                            {
                                tracing::debug!("checkpointer: store file not flushed: {e}");
                            }
                            copied_before = copied;
                        }
                        Err(e) => tracing::debug!("checkpointer: {e}"),
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
