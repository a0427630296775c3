//! Bulk recovery runs (`domain::run`): the run and its frozen selection, each change in one
//! transaction with its audit row. A member becomes an outbox action (own idempotency key, own
//! audit rows) in the same transaction that marks it queued, so after any crash a member is
//! either still planned (never sent) or has exactly one outbox action.

use rusqlite::{Connection, OptionalExtension, params};

use super::audit::{NewAuditRow, append};
use super::codec::{from_ms, ms};
use super::{Result, Store};
use crate::domain::run::{FailureLimit, MemberState, Run, RunMember, RunState};
use crate::domain::{ActionKind, Timestamp};

/// The upstream name runs are audited under (`run:<id>` in `triage audit`).
pub const RUN_AUDIT_UPSTREAM: &str = "run";

impl Store {
    /// Stores a new run with its members (the frozen selection), audited `run.created`.
    pub fn create_run(&mut self, run: &Run, members: &[RunMember]) -> Result<()> {
        self.write_tx(|tx| {
            tx.prepare_cached(
                "INSERT INTO runs (id, kind, selection, operator, state, reason, stages,
                    max_failures, rate, concurrency, force, destination, drop_ttl, created_ms,
                    updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
            )?
            .execute(params![
                run.id,
                run.kind.as_str(),
                run.selection,
                run.operator,
                run.state.as_str(),
                run.reason,
                serde_json::to_string(&run.stages).unwrap_or_else(|_| "[]".into()),
                run.max_failures.to_string(),
                run.rate,
                run.concurrency as i64,
                run.force,
                run.destination,
                run.drop_ttl,
                ms(run.created_at),
            ])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO run_members (run_id, seq, upstream, target, connector, stage, state,
                    note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for m in members {
                insert.execute(params![
                    run.id,
                    m.seq as i64,
                    m.upstream,
                    m.target,
                    m.connector,
                    m.stage as i64,
                    m.state.as_str(),
                    m.note,
                ])?;
            }
            let skipped = members
                .iter()
                .filter(|m| m.state == MemberState::Skipped)
                .count();
            let detail = format!(
                "{} {} of {:?} in stages {:?}, max failures {}, rate {}, {skipped} skipped",
                members.len(),
                run.kind.as_str(),
                run.selection,
                run.stages,
                run.max_failures,
                run.rate
                    .map_or("unlimited".to_string(), |r| format!("{r:.1}/s")),
            );
            audit(tx, run, "run.created", &detail, run.created_at)
        })
    }

    pub fn run(&self, id: &str) -> Result<Option<Run>> {
        self.conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], run_row).optional())
            .map_err(|e| self.sqlite(e))
    }

    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<Run>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY created_ms DESC, id DESC"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], run_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(rows)
    }

    /// Runs a process should drive: running ones.
    pub fn running_runs(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE state = 'running' ORDER BY created_ms")
            .map_err(|e| self.sqlite(e))?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
            .map_err(|e| self.sqlite(e))?;
        Ok(ids)
    }

    /// Changes a run's state (pause, resume, cancel, done), audited `run.<state>` with `reason`.
    /// A cancel leaves planned members out (skipped); those already in the outbox go on. Returns
    /// false when the run does not exist or is already done or cancelled.
    pub fn set_run_state(
        &mut self,
        id: &str,
        state: RunState,
        reason: Option<&str>,
        operator: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let Some(run) = self.run(id)? else {
            return Ok(false);
        };
        self.write_tx(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE runs SET state = ?2, reason = ?3, updated_ms = ?4
                      WHERE id = ?1 AND state NOT IN ('done', 'cancelled') AND state != ?2",
                )?
                .execute(params![id, state.as_str(), reason, ms(at)])?;
            if changed == 0 {
                return Ok(false);
            }
            if state == RunState::Running {
                // A resume after a pause lets the next stage start: the operator saw why.
                tx.prepare_cached(
                    "UPDATE runs SET gate = max(gate, coalesce((SELECT min(stage) FROM run_members
                        WHERE run_id = ?1 AND state IN ('planned', 'queued')), 0))
                      WHERE id = ?1",
                )?
                .execute([id])?;
            }
            if state == RunState::Cancelled {
                tx.prepare_cached(
                    "UPDATE run_members SET state = 'skipped', note = 'cancelled'
                      WHERE run_id = ?1 AND state = 'planned'",
                )?
                .execute([id])?;
            }
            let event = match state {
                RunState::Running => "run.resumed",
                RunState::Paused => "run.paused",
                RunState::Cancelled => "run.cancelled",
                RunState::Done => "run.done",
            };
            let run = Run {
                operator: operator.to_string(),
                ..run
            };
            audit(tx, &run, event, reason.unwrap_or(""), at)?;
            Ok(true)
        })
    }

    /// The highest stage allowed to start (stages after a checked one, or the operator resumed).
    pub fn run_gate(&self, id: &str) -> Result<usize> {
        self.conn
            .prepare_cached("SELECT gate FROM runs WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get::<_, i64>(0)))
            .optional()
            .map(|g| g.map_or(0, |g| usize::try_from(g).unwrap_or(0)))
            .map_err(|e| self.sqlite(e))
    }

    /// Lets `stage` start (the stage before it stayed within its failure limit).
    pub fn open_run_gate(&mut self, id: &str, stage: usize) -> Result<()> {
        self.write_tx(|tx| {
            tx.prepare_cached("UPDATE runs SET gate = max(gate, ?2) WHERE id = ?1")?
                .execute(params![id, stage as i64])
                .map(|_| ())
        })
    }
}

const RUN_COLUMNS: &str = "id, kind, selection, operator, state, reason, stages, max_failures, \
     rate, concurrency, force, destination, drop_ttl, created_ms, updated_ms";

fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let text = |i: usize| r.get::<_, String>(i);
    let bad = |i: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad {what}").into(),
        )
    };
    let kind = ActionKind::parse(&text(1)?).ok_or_else(|| bad(1, "kind"))?;
    let state = RunState::parse(&text(4)?).ok_or_else(|| bad(4, "state"))?;
    let stages: Vec<usize> = serde_json::from_str(&text(6)?).map_err(|_| bad(6, "stages"))?;
    let max_failures = FailureLimit::parse(&text(7)?).map_err(|_| bad(7, "max_failures"))?;
    Ok(Run {
        id: text(0)?,
        kind,
        selection: text(2)?,
        operator: text(3)?,
        state,
        reason: r.get(5)?,
        stages,
        max_failures,
        rate: r.get(8)?,
        concurrency: usize::try_from(r.get::<_, i64>(9)?).unwrap_or(1),
        force: r.get(10)?,
        destination: r.get(11)?,
        drop_ttl: r.get(12)?,
        created_at: from_ms(r.get(13)?).unwrap_or_default(),
        updated_at: from_ms(r.get(14)?).unwrap_or_default(),
    })
}

fn audit(
    tx: &Connection,
    run: &Run,
    event: &str,
    detail: &str,
    at: Timestamp,
) -> rusqlite::Result<()> {
    append(
        tx,
        &NewAuditRow {
            at,
            operator: &run.operator,
            event,
            upstream: RUN_AUDIT_UPSTREAM,
            target: &run.id,
            outbox_id: None,
            payload_hash: None,
            detail,
        },
    )
    .map(|_| ())
}
