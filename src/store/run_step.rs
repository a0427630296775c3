//! One step of a run's driver in one transaction: the answers of the batch sent before recorded,
//! the members settled, where the run stands read — and, when the driver asks for it and the run
//! is still in the same stage, the next batch handed to the outbox in the same transaction.
//!
//! A run's store work is its bound (the sends overlap it), and a step used to be two
//! transactions on the store's thread: the answers, then the next batch. One transaction saves a
//! commit (its WAL frames: the audit log's, the outbox's and the members' pages touched by both
//! halves are written once), a `BEGIN`, a read of the audit chain's tail and a trip to the
//! store's thread, per step.

use super::outbox::{Recording, record_in};
use super::run_members::{enqueue_planned_in, settle_answered_in, settle_in};
use super::{Result, Store};
use crate::domain::run::{Run, RunState};
use crate::domain::run_tally::RunTally;
use crate::domain::{OutboxEntry, Timestamp};

/// The batch a step may prepare in its own transaction ([`Store::run_step`]): up to
/// `concurrency` planned members of `stage`, leased until `lease_until`.
#[derive(Debug, Clone, Copy)]
pub struct NextBatch {
    pub stage: usize,
    pub concurrency: usize,
    pub lease_until: Timestamp,
}

/// What one step found and did.
#[derive(Debug)]
pub struct RunStep {
    /// How many answers were recorded.
    pub recorded: usize,
    pub run: Option<Run>,
    pub tally: RunTally,
    /// Queued members whose action waits for a retry the upstream asked for.
    pub held_back: usize,
    /// The next batch, when it was asked for and the run is running, still in that stage, with
    /// nothing held back; its size is what fits (at most `concurrency` in flight and as many
    /// prepared behind them), maybe none. `None`: the driver decides (a new stage, a gate, a
    /// pause, a rate).
    pub prepared: Option<Vec<OutboxEntry>>,
}

impl Store {
    /// Records `answered` (see [`Store::record_run_answers`]), settles the run's members, reads
    /// the run, its tally and what is held back, and prepares `next` when the run is still in
    /// its stage — in one `IMMEDIATE` transaction: all of it or nothing. Only the members of
    /// `answered` are settled unless `settle_all` (or nothing was answered, or an entry does not
    /// say its member): the driver asks for every queued member to be looked at when some may
    /// have been answered elsewhere (the outbox's round, another process).
    pub fn run_step(
        &mut self,
        id: &str,
        answered: &[(OutboxEntry, Recording)],
        at: Timestamp,
        next: Option<NextBatch>,
        settle_all: bool,
    ) -> Result<RunStep> {
        self.immediate(|s| {
            let recorded = record_in(&s.conn, answered, at).map_err(|e| s.sqlite(e))?;
            let settled = match settle_all || answered.is_empty() {
                true => None,
                false => settle_answered_in(&s.conn, id, answered).map_err(|e| s.sqlite(e))?,
            };
            if settled.is_none() {
                settle_in(&s.conn, id).map_err(|e| s.sqlite(e))?;
            }
            let run = s.run(id)?;
            let tally = s.run_tally(id)?;
            let held_back = match tally.whole().queued {
                0 => 0,
                _ => s.run_members_held_back(id, at)?,
            };
            let prepared = match (next, &run) {
                (Some(next), Some(run))
                    if run.state == RunState::Running
                        && held_back == 0
                        && tally.current() == Some(next.stage) =>
                {
                    let in_stage = tally.stage(next.stage);
                    let room = (2 * next.concurrency)
                        .saturating_sub(in_stage.queued)
                        .min(next.concurrency)
                        .min(in_stage.planned);
                    let entries = match room {
                        0 => Vec::new(),
                        _ => enqueue_planned_in(
                            &s.conn,
                            run,
                            next.stage,
                            None,
                            room,
                            at,
                            Some(next.lease_until),
                        )
                        .map_err(|e| s.sqlite(e))?,
                    };
                    Some(entries)
                }
                _ => None,
            };
            Ok(RunStep {
                recorded,
                run,
                tally,
                held_back,
                prepared,
            })
        })
    }
}
