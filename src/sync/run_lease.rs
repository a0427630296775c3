//! Who drives a run: a named lease in the store (`run:<id>`, `store::locks`) held by the process
//! driving it (`store::holder`: `host:pid:start`) and renewed as it goes. So two processes never
//! drive one run at once (a second `triage runs resume` says who drives it), a run whose driver
//! died — `kill -9`, a closed SSH session, a console that quit — is seen as having none
//! (`triage runs`, the console's runs list), and `triage watch` adopts it: a dead holder on this
//! host is replaced at once, one on another host when its lease lapses.

use std::collections::BTreeSet;
use std::sync::Mutex;

use chrono::{Duration, Utc};

use super::StoreWriter;
use crate::domain::Timestamp;
use crate::store::{LockHolder, StoreError, holder};

/// How long a driver's lease lasts without renewal.
pub const LEASE_SECS: i64 = 15;
/// Renewed when less than this is left (a step every ~200 ms renews about every 5 s).
const RENEW_WHEN_LEFT_SECS: i64 = 10;

pub fn lock_name(run: &str) -> String {
    format!("run:{run}")
}

/// The runs a driver of this process holds the lease of. The store's lease names the process,
/// not the driver, so without this a second driver in the same process (`p` pressed twice in one
/// console, a resume beside the console's own driver) would find the lease "already its own"
/// and drive the run a second time.
static DRIVEN_HERE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn driven_here() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    DRIVEN_HERE.lock().unwrap_or_else(|e| e.into_inner())
}

/// This process's lease on a run (one per run per process; dropped, it frees the run for
/// another driver of this process — the store's lease is given up by `release`, or lapses).
pub(super) struct RunLease {
    run: String,
    until: Timestamp,
}

impl Drop for RunLease {
    fn drop(&mut self) {
        driven_here().remove(&self.run);
    }
}

impl RunLease {
    /// Takes the run's lease for this process, or says who holds it (this process, when
    /// another of its drivers already drives the run).
    pub(super) async fn take(
        store: &StoreWriter,
        run: &str,
    ) -> Result<Result<RunLease, LockHolder>, StoreError> {
        let now = Utc::now();
        if !driven_here().insert(run.to_string()) {
            return Ok(Err(LockHolder {
                holder: holder::this_process().to_string(),
                lease_until: now + Duration::seconds(LEASE_SECS),
                acquired_at: now,
            }));
        }
        // From here the guard frees the run again if the store refuses or fails.
        let mut lease = RunLease {
            run: run.to_string(),
            until: now,
        };
        let name = lock_name(run);
        let until = now + Duration::seconds(LEASE_SECS);
        let taken = store
            .call(move |s| s.try_lock(&name, holder::this_process(), now, until))
            .await?;
        Ok(taken.map(|()| {
            lease.until = until;
            lease
        }))
    }

    /// Renews the lease when it runs low; `Err(holder)` when another process took it over (this
    /// one stalled past its lease), and this process must stop driving.
    pub(super) async fn keep(
        &mut self,
        store: &StoreWriter,
    ) -> Result<Result<(), LockHolder>, StoreError> {
        let now = Utc::now();
        if self.until - now > Duration::seconds(RENEW_WHEN_LEFT_SECS) {
            return Ok(Ok(()));
        }
        let name = lock_name(&self.run);
        let until = now + Duration::seconds(LEASE_SECS);
        let renewed = store
            .call(move |s| s.try_lock(&name, holder::this_process(), now, until))
            .await?;
        if renewed.is_ok() {
            self.until = until;
        }
        Ok(renewed)
    }

    /// Gives the lease up (the run ended, paused, or this driver stops).
    pub(super) async fn release(self, store: &StoreWriter) {
        let name = lock_name(&self.run);
        if let Err(e) = store
            .call(move |s| s.unlock(&name, holder::this_process()))
            .await
        {
            tracing::warn!("run {}: lease not released: {e}", self.run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_is_driven_once_per_process_and_free_again_when_its_driver_stops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = StoreWriter::open(&dir.path().join("t.db")).expect("store");
        let first = RunLease::take(&store, "run-1")
            .await
            .expect("store")
            .expect("free run");
        // The store's lease would take this process again: the second driver must not.
        let second = RunLease::take(&store, "run-1").await.expect("store");
        let holder = second.err().expect("refused while the first drives it");
        assert_eq!(holder.holder, holder::this_process());
        // Another run is not held up by it.
        let other = RunLease::take(&store, "run-2").await.expect("store");
        assert!(other.is_ok());
        first.release(&store).await;
        let again = RunLease::take(&store, "run-1").await.expect("store");
        assert!(again.is_ok(), "free once the first driver let go");
        // A driver dropped without `release` (its task aborted) frees it too.
        drop(again);
        assert!(
            RunLease::take(&store, "run-1")
                .await
                .expect("store")
                .is_ok()
        );
    }
}
