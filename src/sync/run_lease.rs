//! Who drives a run: a named lease in the store (`run:<id>`, `store::locks`) held by the process
//! driving it (`store::holder`: `host:pid:start`) and renewed as it goes. So two processes never
//! drive one run at once (a second `triage runs resume` says who drives it), a run whose driver
//! died — `kill -9`, a closed SSH session, a console that quit — is seen as having none
//! (`triage runs`, the console's runs list), and `triage watch` adopts it: a dead holder on this
//! host is replaced at once, one on another host when its lease lapses.

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

/// This process's lease on a run.
pub(super) struct RunLease {
    run: String,
    until: Timestamp,
}

impl RunLease {
    /// Takes the run's lease for this process, or says who holds it.
    pub(super) async fn take(
        store: &StoreWriter,
        run: &str,
    ) -> Result<Result<RunLease, LockHolder>, StoreError> {
        let name = lock_name(run);
        let now = Utc::now();
        let until = now + Duration::seconds(LEASE_SECS);
        let taken = store
            .call(move |s| s.try_lock(&name, holder::this_process(), now, until))
            .await?;
        Ok(taken.map(|()| RunLease {
            run: run.to_string(),
            until,
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
