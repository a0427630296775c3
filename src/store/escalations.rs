//! Escalation progress kept by `triage watch`: the level reached per incident and ack cycle.
//! A step's notifications and upstream actions are enqueued in the same transaction that
//! records the level, so a step is taken exactly once even with a crash or a second watcher.
//! Each step is also logged (`escalation_steps`, with who took it) with the teams it notified
//! (`notified_teams`), for the metrics.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::audit::{AuditTail, NewAuditRow};
use super::codec::{from_ms, ms};
use super::outbox_rows::insert_action;
use super::{Result, Store, StoreError};
use crate::domain::{Action, OutboxEntry, Timestamp};

/// One escalation step to record.
#[derive(Debug, Clone)]
pub struct EscalationStepRecord<'a> {
    pub upstream: &'a str,
    pub incident: &'a str,
    pub cycle_started_at: Timestamp,
    pub level: u32,
    /// Who took the step (the watcher).
    pub operator: &'a str,
    /// Why, for the audit log: "no ack by 09:41 UTC: level 1 of chain major → backup".
    pub why: &'a str,
    pub actions: &'a [Action],
    /// The team of each notification the step sends (one per team; for the metrics'
    /// cross-team pings). Recipients without a team (the bridge, a vendor) are not listed.
    pub teams: &'a [String],
}

impl Store {
    /// The level reached in the ack cycle that started at `cycle_started_at` (0 = none).
    pub fn escalation_level(
        &self,
        upstream: &str,
        incident: &str,
        cycle_started_at: Timestamp,
    ) -> Result<u32> {
        let level: Option<i64> = self
            .conn
            .query_row(
                "SELECT level FROM escalations WHERE upstream = ?1 AND id = ?2 AND cycle_ms = ?3",
                params![upstream, incident, ms(cycle_started_at)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(level.map_or(0, |l| u32::try_from(l).unwrap_or(0)))
    }

    /// Every level taken for the incident, per ack cycle: `(cycle_started_at, level)`, oldest
    /// cycle first (the console's clocks; see `domain::sla::clock_with_taken`).
    pub fn escalation_levels(
        &self,
        upstream: &str,
        incident: &str,
    ) -> Result<Vec<(Timestamp, u32)>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT cycle_ms, level FROM escalations WHERE upstream = ?1 AND id = ?2 ORDER BY cycle_ms",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![upstream, incident], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (cycle, level) = row.map_err(|e| self.sqlite(e))?;
            if let Some(at) = from_ms(cycle) {
                out.push((at, u32::try_from(level).unwrap_or(0)));
            }
        }
        Ok(out)
    }

    /// Records the step and enqueues its actions in one transaction. Returns `None` (writing
    /// nothing) when this level or a higher one is already recorded for the cycle.
    pub fn record_escalation(
        &mut self,
        step: &EscalationStepRecord<'_>,
        at: Timestamp,
    ) -> Result<Option<Vec<OutboxEntry>>> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let cycle = ms(step.cycle_started_at);
        let current: Option<i64> = tx
            .query_row(
                "SELECT level FROM escalations WHERE upstream = ?1 AND id = ?2 AND cycle_ms = ?3",
                params![step.upstream, step.incident, cycle],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if current.is_some_and(|level| level >= i64::from(step.level)) {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO escalations (upstream, id, cycle_ms, level, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (upstream, id, cycle_ms) DO UPDATE SET level = excluded.level, updated_ms = excluded.updated_ms",
            params![step.upstream, step.incident, cycle, i64::from(step.level), ms(at)],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO escalation_steps (upstream, id, cycle_ms, level, at_ms, operator)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                step.upstream,
                step.incident,
                cycle,
                i64::from(step.level),
                ms(at),
                step.operator
            ],
        )
        .map_err(err)?;
        for team in step.teams {
            tx.execute(
                "INSERT INTO notified_teams (upstream, id, at_ms, level, team) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![step.upstream, step.incident, ms(at), i64::from(step.level), team],
            )
            .map_err(err)?;
        }
        let row = NewAuditRow {
            at,
            operator: step.operator,
            event: "watch.escalated",
            upstream: step.upstream,
            target: step.incident,
            outbox_id: None,
            payload_hash: None,
            detail: step.why,
        };
        let mut tail = AuditTail::read(&tx).map_err(err)?;
        tail.append(&tx, &row).map_err(err)?;
        let mut entries = Vec::with_capacity(step.actions.len());
        for action in step.actions {
            entries.push(insert_action(&tx, &mut tail, action, at, None).map_err(err)?);
        }
        tx.commit().map_err(err)?;
        Ok(Some(entries))
    }
}
