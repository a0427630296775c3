//! A run's members: counted per stage and state in one pass ([`Store::run_tally`]), settled
//! from their outbox actions (a recalled one plans its member again), handed to the outbox
//! (optionally leased to this process at birth), their failures grouped. The driver's queries
//! walk the `(run_id, stage, state, seq)` index one stage and state at a time (`INDEXED BY`:
//! without statistics SQLite would take the primary key and read every member of the run), so a
//! step costs what the batch it handles costs, not what the whole run holds; only the tally
//! reads every index entry of the run.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::AuditTail;
use super::codec::ms;
use super::outbox::{Recording, record_in};
use super::outbox_rows::insert_action;
use super::{Result, Store};
use crate::domain::run::{MemberState, Run, RunMember, RunProgress, RunState};
use crate::domain::run_tally::RunTally;
use crate::domain::{Action, OutboxEntry, Timestamp};

impl Store {
    /// The run's members counted per stage and state (one pass over its index entries).
    pub fn run_tally(&self, id: &str) -> Result<RunTally> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT stage, state, count(*) FROM run_members WHERE run_id = ?1
                  GROUP BY stage, state",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        let mut tally = RunTally::default();
        for (stage, state, n) in rows {
            if let Some(state) = MemberState::parse(&state) {
                let stage = usize::try_from(stage).unwrap_or(0);
                tally.add(stage, state, usize::try_from(n).unwrap_or(0));
            }
        }
        Ok(tally)
    }

    /// Counts per member state, whole run (`stage` None) or one stage.
    pub fn run_progress(&self, id: &str, stage: Option<usize>) -> Result<RunProgress> {
        let tally = self.run_tally(id)?;
        Ok(match stage {
            None => tally.whole(),
            Some(stage) => {
                let mut progress = tally.stage(stage);
                // As before: the run's current stage, whichever stage was counted.
                progress.stage = tally.current();
                progress
            }
        })
    }

    /// Members of a run in order (`limit` 0 = all).
    pub fn run_members(&self, id: &str, limit: usize) -> Result<Vec<RunMember>> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, upstream, target, connector, stage, state, note FROM run_members
                  WHERE run_id = ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![id, limit], member_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }

    /// Members whose outbox action was answered take its state (and the failure's words).
    /// Returns how many changed.
    pub fn settle_run_members(&mut self, id: &str) -> Result<usize> {
        self.write_tx(|tx| settle_in(tx, id))
    }

    /// Records the answers of a batch of the run's actions ([`Store::record_actions`]) and
    /// settles the run's members, in one transaction; how many answers were recorded.
    pub fn record_run_answers(
        &mut self,
        id: &str,
        answered: &[(OutboxEntry, Recording)],
        at: Timestamp,
    ) -> Result<usize> {
        self.write_tx(|tx| {
            let recorded = record_in(tx, answered, at)?;
            settle_in(tx, id)?;
            Ok(recorded)
        })
    }

    /// Hands up to `limit` planned members of `stage` to the outbox (one action each, with its
    /// own idempotency key and `requested` audit row), in order, marking them queued in the same
    /// transaction; returns their outbox entries. With `lease_until` the actions are born leased
    /// to this process (the driver sends them itself, without another transaction to claim
    /// them). Nothing while the run is not running (a pause or cancel in between wins).
    pub fn enqueue_run_members(
        &mut self,
        id: &str,
        stage: usize,
        limit: usize,
        at: Timestamp,
        lease_until: Option<Timestamp>,
    ) -> Result<Vec<OutboxEntry>> {
        self.enqueue_planned(id, stage, None, limit, at, lease_until)
    }

    /// As [`Store::enqueue_run_members`], the planned members of `stage` on `upstream` whose
    /// target is one of `targets` (all of them, in order): a whole-queue batch
    /// ([`Upstream::whole_queues`](crate::upstream::Upstream::whole_queues)).
    pub fn enqueue_run_members_of(
        &mut self,
        id: &str,
        stage: usize,
        upstream: &str,
        targets: &[String],
        at: Timestamp,
        lease_until: Option<Timestamp>,
    ) -> Result<Vec<OutboxEntry>> {
        let wanted: HashSet<&str> = targets.iter().map(String::as_str).collect();
        let only = |m: &RunMember| m.upstream == upstream && wanted.contains(m.target.as_str());
        self.enqueue_planned(id, stage, Some(&only), usize::MAX, at, lease_until)
    }

    /// Targets of the planned members of `stage` on `upstream`, in order.
    pub fn planned_run_targets(
        &self,
        id: &str,
        stage: usize,
        upstream: &str,
    ) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT target FROM run_members INDEXED BY run_members_by_stage
                  WHERE run_id = ?1 AND stage = ?2 AND state = 'planned' AND upstream = ?3
                  ORDER BY seq",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![id, stage as i64, upstream], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }

    /// Up to `limit` planned members of `stage` (those `only` keeps, when given) to the outbox.
    fn enqueue_planned(
        &mut self,
        id: &str,
        stage: usize,
        only: Option<&dyn Fn(&RunMember) -> bool>,
        limit: usize,
        at: Timestamp,
        lease_until: Option<Timestamp>,
    ) -> Result<Vec<OutboxEntry>> {
        let Some(run) = self.run(id)? else {
            return Ok(Vec::new());
        };
        self.write_tx(|tx| enqueue_planned_in(tx, &run, stage, only, limit, at, lease_until))
    }

    /// The failures of one stage grouped by their words, most frequent first.
    pub fn run_failures(&self, id: &str, stage: Option<usize>) -> Result<Vec<(String, usize)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT coalesce(note, 'no answer recorded'), count(*) AS n FROM run_members
                  WHERE run_id = ?1 AND state = 'failed' AND (?2 IS NULL OR stage = ?2)
                  GROUP BY 1 ORDER BY n DESC, 1 LIMIT 5",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![id, stage.map(|s| s as i64)], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    usize::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }

    /// Queued members whose action the upstream asked to retry later (rate limited or
    /// unavailable): the run slows down while there are any.
    pub fn run_members_held_back(&self, id: &str, now: Timestamp) -> Result<usize> {
        let count = || -> rusqlite::Result<i64> {
            // Usually no action at all waits for a retry (one probe of the due index); only
            // then are the run's queued members looked at.
            let any_waiting: bool = self
                .conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE state = 'pending'
                        AND next_attempt_ms > ?1 AND attempts > 0)",
                )?
                .query_row([ms(now)], |r| r.get(0))?;
            if !any_waiting {
                return Ok(0);
            }
            let mut held = 0;
            for stage in 0..stage_count(&self.conn, id)? {
                held += self
                    .conn
                    .prepare_cached(
                        "SELECT count(*)
                           FROM run_members AS m INDEXED BY run_members_by_stage
                          CROSS JOIN outbox AS o ON o.id = m.outbox_id
                          WHERE m.run_id = ?1 AND m.stage = ?2 AND m.state = 'queued'
                            AND o.state = 'pending' AND o.attempts > 0 AND o.next_attempt_ms > ?3",
                    )?
                    .query_row(params![id, stage as i64, ms(now)], |r| r.get::<_, i64>(0))?;
            }
            Ok(held)
        };
        count()
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| self.sqlite(e))
    }

    /// Whether triage replayed `target` of `upstream` before (a sent replay in the outbox): a
    /// letter that failed again after a replay.
    pub fn replayed_before(&self, upstream: &str, target: &str) -> Result<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE upstream = ?1 AND target = ?2
                    AND kind = 'replay' AND state = 'sent')",
            )
            .and_then(|mut s| s.query_row(params![upstream, target], |r| r.get::<_, bool>(0)))
            .map_err(|e| self.sqlite(e))
    }
}

/// Settles the run's queued members whose action was answered, inside the caller's transaction:
/// sent or failed as their action; a *recalled* action (the run's pause stopped the upstream
/// before it acted) makes its member planned again — no longer pointing at that action, its note
/// saying why — so a resumed driver hands it to the outbox with a new action. Recalled after a
/// cancel (the operator cancelled while the batch was still being answered), it is skipped
/// (`cancelled`), as a cancel leaves every planned member.
pub(super) fn settle_in(tx: &Connection, id: &str) -> rusqlite::Result<usize> {
    let cancelled = cancelled(tx, id)?;
    let mut settled = 0;
    // One pass over the stage's queued members (each looks its action up once): recalled,
    // sent and failed actions settled by the same statement.
    for stage in 0..stage_count(tx, id)? {
        settled += tx
            .prepare_cached(&format!(
                "UPDATE OR FAIL run_members INDEXED BY run_members_by_stage {SETTLE}
                  WHERE run_members.run_id = ?1 AND run_members.stage = ?2 {SETTLED}"
            ))?
            .execute(params![id, stage as i64, cancelled])?;
    }
    Ok(settled)
}

/// Whether the run was cancelled (or is gone): a recalled member is then skipped.
fn cancelled(tx: &Connection, id: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached("SELECT state = 'cancelled' FROM runs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or(true))
}

/// What settling sets: a member takes its action's state, a recalled one is planned again (or
/// skipped after a cancel, `?3`), a failed one keeps the failure's words.
const SETTLE: &str = "SET state = CASE o.state
                WHEN 'recalled' THEN CASE WHEN ?3 THEN 'skipped' ELSE 'planned' END
                ELSE o.state END,
        outbox_id = CASE WHEN o.state = 'recalled' THEN NULL ELSE run_members.outbox_id END,
        note = CASE o.state
               WHEN 'recalled' THEN CASE WHEN ?3 THEN 'cancelled' ELSE o.last_error END
               WHEN 'failed' THEN coalesce(json_extract(o.outcome, '$.summary'), o.last_error)
               END
   FROM outbox AS o";

/// Which members settling changes: queued ones whose action was answered.
const SETTLED: &str = "AND run_members.state = 'queued' AND o.id = run_members.outbox_id
    AND o.state IN ('recalled', 'sent', 'failed')";

/// As [`settle_in`], the members of `answered` only: each by its `seq`, which its entry carries
/// when this process made the action for it ([`Stored::member`]) — one look-up each instead of
/// a walk over every queued member of the stage (the batch in flight too). None, and nothing
/// done, when an entry does not say its member: then every queued member is looked at.
///
/// [`Stored::member`]: crate::domain::Stored::member
pub(super) fn settle_answered_in(
    tx: &Connection,
    id: &str,
    answered: &[(OutboxEntry, Recording)],
) -> rusqlite::Result<Option<usize>> {
    let Some(seqs) = answered
        .iter()
        .map(|(entry, _)| entry.stored.member)
        .collect::<Option<Vec<usize>>>()
    else {
        return Ok(None);
    };
    let cancelled = cancelled(tx, id)?;
    // One statement for the batch: its members looked up by key from a JSON array of seqs.
    let seqs = serde_json::to_string(&seqs)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let settled = tx
        .prepare_cached(&format!(
            "UPDATE OR FAIL run_members {SETTLE}
              WHERE run_members.run_id = ?1
                AND run_members.seq IN (SELECT value FROM json_each(?2)) {SETTLED}"
        ))?
        .execute(params![id, seqs, cancelled])?;
    Ok(Some(settled))
}

/// [`Store::enqueue_run_members`] inside the caller's transaction, for `run` as read before it:
/// nothing unless the run is still running (a pause or cancel in between wins).
#[allow(clippy::too_many_arguments)]
pub(super) fn enqueue_planned_in(
    tx: &Connection,
    run: &Run,
    stage: usize,
    only: Option<&dyn Fn(&RunMember) -> bool>,
    limit: usize,
    at: Timestamp,
    lease_until: Option<Timestamp>,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let id = run.id.as_str();
    // Filtered after the read: every planned member of the stage is read, the limit applies
    // to those kept.
    let read_limit = match only {
        Some(_) => -1,
        None => i64::try_from(limit).unwrap_or(i64::MAX),
    };
    let state: String = tx
        .prepare_cached("SELECT state FROM runs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    if state != RunState::Running.as_str() {
        return Ok(Vec::new());
    }
    let members: Vec<RunMember> = tx
        .prepare_cached(
            "SELECT seq, upstream, target, connector, stage, state, note
               FROM run_members INDEXED BY run_members_by_stage
              WHERE run_id = ?1 AND stage = ?2 AND state = 'planned'
              ORDER BY seq LIMIT ?3",
        )?
        .query_map(params![id, stage as i64, read_limit], member_row)?
        .filter(|m| match (m, only) {
            (Ok(m), Some(only)) => only(m),
            _ => true,
        })
        .take(limit)
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let mut mark = tx.prepare_cached(
        "UPDATE run_members SET state = 'queued', outbox_id = ?3
          WHERE run_id = ?1 AND seq = ?2",
    )?;
    let mut tail = AuditTail::read(tx)?;
    let mut entries = Vec::with_capacity(members.len());
    let note = format!("{} stage {}", run.id, stage + 1);
    for m in members {
        let action = Action {
            kind: run.kind,
            upstream: m.upstream,
            target: m.target,
            operator: run.operator.clone(),
            note: Some(note.clone()),
            level: None,
            payload: None,
            destination: run.destination.clone(),
            drop_ttl: run.drop_ttl,
        };
        let mut entry = insert_action(tx, &mut tail, &action, at, lease_until)?;
        entry.stored.member = Some(m.seq);
        mark.execute(params![id, m.seq as i64, entry.id])?;
        entries.push(entry);
    }
    tx.prepare_cached("UPDATE runs SET updated_ms = ?2 WHERE id = ?1")?
        .execute(params![id, ms(at)])?;
    Ok(entries)
}

/// How many stages the run's members span (the highest stage + 1; one index probe).
fn stage_count(conn: &Connection, id: &str) -> rusqlite::Result<usize> {
    let max: Option<i64> = conn
        .prepare_cached(
            "SELECT stage FROM run_members INDEXED BY run_members_by_stage
              WHERE run_id = ?1 ORDER BY stage DESC LIMIT 1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(max.map_or(0, |m| usize::try_from(m).unwrap_or(0) + 1))
}

pub(super) fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunMember> {
    let state: String = r.get(5)?;
    Ok(RunMember {
        seq: usize::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        upstream: r.get(1)?,
        target: r.get(2)?,
        connector: r.get(3)?,
        stage: usize::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        state: MemberState::parse(&state).unwrap_or(MemberState::Planned),
        note: r.get(6)?,
    })
}
