//! WAL checkpoints: copying committed pages from the `-wal` file back into the store file. By
//! default SQLite has the connection that commits past 1,000 WAL pages do it, inside that commit
//! — for a run's writer that is a stall (pages copied, two fsyncs) on the one thread every write
//! waits for. A writer can hand the job to another connection: it raises its own threshold to a
//! safety net and a checkpointer (`sync::checkpointer`) copies passively, beside it, on its own
//! connection (a passive checkpoint never blocks writers or readers).

use super::{Result, Store};

/// The WAL pages after which a writer with a checkpointer beside it still checkpoints itself
/// (SQLite's default, without one: 1,000). A writer that never pauses never lets a passive
/// checkpoint finish, so the WAL would only grow; the writer's own checkpoint past this many
/// pages finishes (little is left to copy after the checkpointer) and its next commit starts the
/// WAL over. 16 MiB: a 10,000-letter run's WAL stays at that instead of ≈ 46 MB, which the last
/// connection then deleted on the command's way out (≈ 35 ms for the file alone).
pub const SAFETY_NET_PAGES: u32 = 4_000;

impl Store {
    /// After how many WAL pages this connection's commits checkpoint (0: never).
    pub fn set_wal_autocheckpoint(&self, pages: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", pages)
            .map_err(|e| self.sqlite(e))
    }

    /// Copies what it can of the WAL into the store file without waiting for or blocking any
    /// other connection; returns (pages in the WAL, pages copied so far) — equal when the WAL
    /// is fully copied (a writer then starts it over).
    pub fn checkpoint_passive(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.sqlite(e))
    }
}
