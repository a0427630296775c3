//! Named leases in the store, so that of several processes sharing one store only one acts
//! (e.g. one `triage watch` escalates; a second waits). A lease must be renewed before it runs
//! out; a crashed holder's lease simply expires.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::codec::{from_ms, ms};
use super::{Result, Store, StoreError};
use crate::domain::Timestamp;

/// Who holds a lock, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub holder: String,
    pub lease_until: Timestamp,
    pub acquired_at: Timestamp,
}

impl Store {
    /// Takes or renews the lock `name` for `holder` until `until`. Succeeds when the lock is
    /// free, expired, or already held by `holder`; otherwise returns the current holder.
    pub fn try_lock(
        &mut self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Result<(), LockHolder>> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let current = tx
            .query_row(
                "SELECT holder, lease_until_ms, acquired_ms FROM locks WHERE name = ?1",
                params![name],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(err)?;
        if let Some((current, lease_ms, acquired_ms)) = &current
            && current != holder
            && *lease_ms > ms(now)
        {
            return Ok(Err(LockHolder {
                holder: current.clone(),
                lease_until: from_ms(*lease_ms).unwrap_or(now),
                acquired_at: from_ms(*acquired_ms).unwrap_or(now),
            }));
        }
        let acquired = match &current {
            Some((current, _, acquired_ms)) if current == holder => *acquired_ms,
            _ => ms(now),
        };
        tx.execute(
            "INSERT INTO locks (name, holder, lease_until_ms, acquired_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until_ms = excluded.lease_until_ms,
                acquired_ms = excluded.acquired_ms",
            params![name, holder, ms(until), acquired],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Ok(()))
    }

    /// Gives the lock up (only when `holder` holds it).
    pub fn unlock(&mut self, name: &str, holder: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM locks WHERE name = ?1 AND holder = ?2",
                params![name, holder],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn one_holder_at_a_time_until_the_lease_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut a = Store::open(&dir.path().join("t.db")).expect("open");
        let mut b = Store::open(&dir.path().join("t.db")).expect("open");
        let t0 = Utc
            .with_ymd_and_hms(2026, 1, 1, 3, 0, 0)
            .single()
            .expect("time");
        let lease = Duration::seconds(30);
        assert_eq!(
            a.try_lock("watch", "a", t0, t0 + lease).expect("lock"),
            Ok(())
        );
        let refused = b
            .try_lock("watch", "b", t0, t0 + lease)
            .expect("lock")
            .expect_err("held by a");
        assert_eq!(refused.holder, "a");
        // a renews; b still waits; after a's lease runs out b takes over.
        assert_eq!(
            a.try_lock(
                "watch",
                "a",
                t0 + Duration::seconds(20),
                t0 + Duration::seconds(50)
            )
            .expect("renew"),
            Ok(())
        );
        assert!(
            b.try_lock(
                "watch",
                "b",
                t0 + Duration::seconds(40),
                t0 + Duration::seconds(70)
            )
            .expect("lock")
            .is_err()
        );
        assert_eq!(
            b.try_lock(
                "watch",
                "b",
                t0 + Duration::seconds(51),
                t0 + Duration::seconds(81)
            )
            .expect("lock"),
            Ok(())
        );
        b.unlock("watch", "b").expect("unlock");
        assert_eq!(
            a.try_lock(
                "watch",
                "a",
                t0 + Duration::seconds(52),
                t0 + Duration::seconds(82)
            )
            .expect("lock"),
            Ok(())
        );
    }
}
