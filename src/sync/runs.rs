//! Planning and driving bulk recovery runs (`domain::run`, `store::runs`).
//!
//! A plan counts a selection of dead letters before anything is sent: per connector and
//! destination, oldest and newest, contract violations (skipped unless forced), letters replayed
//! before that failed again, the stages, the rate and the estimated time. A run is then driven
//! stage by stage: members of the current stage are handed to the outbox at the run's rate with at
//! most `concurrency` waiting for an answer, the outbox sends them (one RabbitMQ pass per DLQ and
//! round, Connector API batches of up to 500), and a stage whose failures exceed the limit pauses
//! the run with the top errors grouped (the driver: `run_driver`). Any process can drive a run
//! (`triage replay`, `triage runs resume`, the console): state lives in the store, so after
//! `kill -9` the next driver goes on where it stopped, and a member already in the outbox is
//! never enqueued twice.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::domain::query::{Query, RowKind};
use crate::domain::run::{
    FailureLimit, MemberState, Run, RunMember, RunState, StageSize, new_run_id, stage_sizes,
};
use crate::domain::{ActionKind, DeadLetter, Timestamp};
use crate::store::{Store, StoreError};

/// Members in flight at once when neither the command nor the config says.
pub const DEFAULT_CONCURRENCY: usize = 500;

/// What the operator asked for, before the selection is counted.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub kind: ActionKind,
    /// The selection as given (shown and audited).
    pub selection: String,
    pub operator: String,
    pub stages: Vec<StageSize>,
    pub max_failures: FailureLimit,
    pub rate: Option<f64>,
    pub concurrency: usize,
    pub force: bool,
    pub destination: Option<String>,
    pub drop_ttl: bool,
}

/// Letters of one connector going to one destination.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanGroup {
    pub upstream: String,
    pub connector: String,
    pub destination: String,
    pub count: usize,
}

/// What a run would do, counted before anything is sent.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub kind: ActionKind,
    pub selection: String,
    /// Letters chosen.
    pub total: usize,
    /// Letters that would be sent (total minus skipped).
    pub to_send: usize,
    pub groups: Vec<PlanGroup>,
    pub oldest: Option<Timestamp>,
    pub newest: Option<Timestamp>,
    /// Letters whose payload violates their connector's contract.
    pub violations: usize,
    /// A few of them: (id, first violation).
    pub violation_examples: Vec<(String, String)>,
    /// Violators are sent anyway (`--force`); else they are skipped.
    pub force: bool,
    /// Letters triage replayed before that are dead again.
    pub replayed_before: usize,
    /// Letters already replayed or discarded (not dead): left out.
    pub not_dead: usize,
    /// Members per stage.
    pub stages: Vec<usize>,
    pub max_failures: String,
    /// Actions per second (None: as fast as the upstreams answer).
    pub rate: Option<f64>,
    pub concurrency: usize,
    /// Seconds at the rate (None without one).
    pub estimated_secs: Option<f64>,
}

/// Why a selection could not be made: the operator's query (with a caret line), or the store.
#[derive(Debug)]
pub enum SelectError {
    Query(String),
    Store(StoreError),
}

/// The dead letters `query` (the `/` language) selects, in full, oldest failure first — the
/// order they failed in (and a RabbitMQ DLQ's order): a run replays them in that order. An empty
/// query is refused: it would select every dead letter.
pub fn select_dead_letters(
    store: &Store,
    query: &str,
    now: Timestamp,
) -> Result<Vec<DeadLetter>, SelectError> {
    if query.trim().is_empty() {
        return Err(SelectError::Query(
            "an empty query would select every dead letter; say what to replay".to_string(),
        ));
    }
    let parsed = Query::parse(query, RowKind::DeadLetters)
        .map_err(|e| SelectError::Query(e.render(query)))?;
    store
        .select_dead_letters(&parsed, now)
        .map_err(SelectError::Store)
}

/// Counts `letters` into a plan and the members a run of it would have (skipped ones included,
/// with the reason). Contracts are the connectors' JSON Schemas from the config.
pub fn plan(
    store: &Store,
    config: &Config,
    letters: &[DeadLetter],
    options: &RunOptions,
) -> Result<(Plan, Vec<RunMember>), StoreError> {
    // One snapshot for the per-letter look-ups (replayed before?).
    store.read_snapshot(|store| count_plan(store, config, letters, options))
}

fn count_plan(
    store: &Store,
    config: &Config,
    letters: &[DeadLetter],
    options: &RunOptions,
) -> Result<(Plan, Vec<RunMember>), StoreError> {
    let dead: Vec<&DeadLetter> = letters
        .iter()
        .filter(|l| l.state == crate::domain::DeadLetterState::Dead)
        .collect();
    let mut first_violations = match options.kind {
        ActionKind::Replay => super::run_contracts::first_violations(config, &dead),
        _ => vec![None; dead.len()],
    }
    .into_iter();
    let mut groups: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut members = Vec::new();
    let (mut violations, mut replayed_before, mut not_dead) = (0, 0, 0);
    let mut examples = Vec::new();
    let (mut oldest, mut newest): (Option<Timestamp>, Option<Timestamp>) = (None, None);
    for letter in letters {
        if letter.state != crate::domain::DeadLetterState::Dead {
            not_dead += 1;
            continue;
        }
        oldest = Some(oldest.map_or(letter.first_failed_at, |o| o.min(letter.first_failed_at)));
        newest = Some(newest.map_or(letter.last_failed_at, |n| n.max(letter.last_failed_at)));
        let destination = options.destination.clone().unwrap_or_else(|| {
            config
                .connector(&letter.connector)
                .map(|c| c.destination.clone())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "its origin".to_string())
        });
        let violation = first_violations.next().flatten();
        if let Some(v) = &violation {
            violations += 1;
            if examples.len() < 5 {
                examples.push((letter.id.clone(), v.clone()));
            }
        }
        let before = letter
            .headers
            .iter()
            .any(|(k, _)| k == "x-triage-replay-id")
            || store.replayed_before(&letter.upstream, &letter.id)?;
        replayed_before += usize::from(before);
        let skip = violation.filter(|_| !options.force);
        if skip.is_none() {
            *groups
                .entry((
                    letter.upstream.clone(),
                    letter.connector.clone(),
                    destination,
                ))
                .or_default() += 1;
        }
        members.push(RunMember {
            seq: members.len(),
            upstream: letter.upstream.clone(),
            target: letter.id.clone(),
            connector: letter.connector.clone(),
            stage: 0,
            state: match skip {
                Some(_) => MemberState::Skipped,
                None => MemberState::Planned,
            },
            note: skip.map(|v| format!("violates its contract: {v}")),
        });
    }
    let to_send = members
        .iter()
        .filter(|m| m.state == MemberState::Planned)
        .count();
    let stages = stage_sizes(&options.stages, to_send);
    // Stage numbers for the members that are sent, in order; skipped ones ride with stage 0.
    let mut stage_of = stages
        .iter()
        .enumerate()
        .flat_map(|(i, &n)| std::iter::repeat_n(i, n));
    for member in members
        .iter_mut()
        .filter(|m| m.state == MemberState::Planned)
    {
        member.stage = stage_of.next().unwrap_or(0);
    }
    let plan = Plan {
        kind: options.kind,
        selection: options.selection.clone(),
        total: letters.len(),
        to_send,
        groups: groups
            .into_iter()
            .map(|((upstream, connector, destination), count)| PlanGroup {
                upstream,
                connector,
                destination,
                count,
            })
            .collect(),
        oldest,
        newest,
        violations,
        violation_examples: examples,
        force: options.force,
        replayed_before,
        not_dead,
        stages,
        max_failures: options.max_failures.to_string(),
        rate: options.rate,
        concurrency: options.concurrency,
        estimated_secs: options.rate.map(|r| to_send as f64 / r),
    };
    Ok((plan, members))
}

/// A run for `plan` (state running), ready for `Store::create_run`.
pub fn new_run(plan: &Plan, options: &RunOptions, now: Timestamp) -> Run {
    Run {
        id: new_run_id(now),
        kind: options.kind,
        selection: options.selection.clone(),
        operator: options.operator.clone(),
        state: RunState::Running,
        reason: None,
        stages: plan.stages.clone(),
        max_failures: options.max_failures,
        rate: options.rate,
        concurrency: options.concurrency.max(1),
        force: options.force,
        destination: options.destination.clone(),
        drop_ttl: options.drop_ttl,
        created_at: now,
        updated_at: now,
    }
}

pub use super::run_driver::{Driven, RunStatus, drive};
