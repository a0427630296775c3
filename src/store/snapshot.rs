//! Complete listings reconcile the store. Upstreams that list every current incident each poll
//! (Alertmanager) never send tombstones: an incident that is no longer listed has ended, and is
//! resolved here. Likewise after a complete listing of an upstream's live dead letters (a
//! relist), a dead letter still `dead` here but not listed was removed upstream while triage
//! could not see its tombstone (offline longer than the upstream keeps them, or an adapter that
//! keeps them only in memory): it is marked `discarded` (gone outside triage).

use std::collections::HashSet;

use rusqlite::params;

use super::codec::ms;
use super::{Result, Store, StoreError};
use crate::domain::Timestamp;

impl Store {
    /// Resolves every open or acknowledged incident of `upstream` whose id is not in `listed`,
    /// in one transaction; returns how many were resolved.
    pub fn resolve_unlisted_incidents(
        &mut self,
        upstream: &str,
        listed: &[String],
        at: Timestamp,
    ) -> Result<usize> {
        self.settle_unlisted(
            "SELECT id FROM incidents WHERE upstream = ?1 AND status_rank < 3",
            "UPDATE incidents SET status = 'resolved', status_rank = 3, resolved_ms = ?3, updated_ms = ?3
             WHERE upstream = ?1 AND id = ?2",
            upstream,
            listed,
            at,
        )
    }

    /// Marks every `dead` dead letter of `upstream` whose id is not in `listed` (a complete
    /// listing of its live dead letters) as `discarded` at `at`, in one transaction; returns how
    /// many changed.
    pub fn reconcile_dead_letters(
        &mut self,
        upstream: &str,
        listed: &[String],
        at: Timestamp,
    ) -> Result<usize> {
        self.settle_unlisted(
            "SELECT id FROM dead_letters WHERE state = 'dead' AND upstream = ?1",
            "UPDATE dead_letters SET state = 'discarded', updated_ms = ?3
             WHERE upstream = ?1 AND id = ?2 AND state = 'dead'",
            upstream,
            listed,
            at,
        )
    }

    /// In one transaction: the ids `select` finds for `upstream` (?1) that are not in `listed`
    /// get `update` (?1 upstream, ?2 id, ?3 `at` in ms); returns how many rows changed.
    fn settle_unlisted(
        &mut self,
        select: &str,
        update: &str,
        upstream: &str,
        listed: &[String],
        at: Timestamp,
    ) -> Result<usize> {
        let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut changed = 0;
        {
            let ids: Vec<String> = tx
                .prepare_cached(select)
                .and_then(|mut stmt| {
                    stmt.query_map(params![upstream], |row| row.get(0))?
                        .collect()
                })
                .map_err(err)?;
            let mut update = tx.prepare_cached(update).map_err(err)?;
            for id in ids.iter().filter(|id| !listed.contains(id.as_str())) {
                changed += update.execute(params![upstream, id, ms(at)]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }
}
