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
        // A holder that is a process of this host no longer running (`kill -9`, a crash) is
        // replaced at once; others are trusted until their lease ends.
        if let Some((current, lease_ms, acquired_ms)) = &current
            && current != holder
            && *lease_ms > ms(now)
            && super::holder::alive(current)
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

    /// The live holders of the locks whose names start with `prefix` (e.g. `run:`), by name:
    /// unexpired leases of processes that still run (as far as this host can tell).
    pub fn lock_holders(&self, prefix: &str, now: Timestamp) -> Result<Vec<(String, LockHolder)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, holder, lease_until_ms, acquired_ms FROM locks
                 WHERE substr(name, 1, length(?1)) = ?1 AND lease_until_ms > ?2 ORDER BY name",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![prefix, ms(now)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, holder, lease_ms, acquired_ms) = row.map_err(|e| self.sqlite(e))?;
            if super::holder::alive(&holder) {
                out.push((
                    name,
                    LockHolder {
                        holder,
                        lease_until: from_ms(lease_ms).unwrap_or(now),
                        acquired_at: from_ms(acquired_ms).unwrap_or(now),
                    },
                ));
            }
        }
        Ok(out)
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

    #[test]
    fn a_holder_process_that_is_gone_is_replaced_at_once_and_not_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(&dir.path().join("t.db")).expect("open");
        let now = Utc::now();
        // A process of this host that ran and exited: its lease is not worth waiting for.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        let me = crate::store::holder::this_process();
        let host = me.rsplitn(3, ':').nth(2).expect("host");
        let dead = format!("{host}:{pid}:12345");
        let lease = now + Duration::seconds(60);
        assert_eq!(
            store.try_lock("run:r1", &dead, now, lease).expect("lock"),
            Ok(())
        );
        assert!(store.lock_holders("run:", now).expect("holders").is_empty());
        assert_eq!(
            store.try_lock("run:r1", me, now, lease).expect("lock"),
            Ok(())
        );
        let holders = store.lock_holders("run:", now).expect("holders");
        assert_eq!(holders.len(), 1);
        assert_eq!(holders[0].1.holder, me);
        // A live holder (this process) is not replaced before its lease ends.
        let refused = store
            .try_lock("run:r1", "otherhost:1:1", now, lease)
            .expect("lock")
            .expect_err("held");
        assert_eq!(refused.holder, me);
    }
}
