//! Planning and driving bulk recovery runs (`domain::run`, `store::runs`).
//!
//! A plan counts a selection of dead letters before anything is sent: per connector and
//! destination, oldest and newest, contract violations (skipped unless forced), letters replayed
//! before that failed again, the stages, the rate and the estimated time. A run is then driven
//! stage by stage: members of the current stage are handed to the outbox at the run's rate with at
//! most `concurrency` waiting for an answer, the outbox sends them (one RabbitMQ pass per DLQ and
//! round, Connector API batches of up to 500), and a stage whose failures exceed the limit pauses
//! the run with the top errors grouped. Any process can drive a run (`triage replay`, `triage runs
//! resume`, the console): state lives in the store, so after `kill -9` the next driver goes on
//! where it stopped, and a member already in the outbox is never enqueued twice.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use tokio::sync::broadcast;

use super::{StoreWriter, Upstreams};
use crate::config::Config;
use crate::demo::contract::Contract;
use crate::domain::query::{Query, RowKind};
use crate::domain::run::{
    FailureLimit, MemberState, Run, RunMember, RunProgress, RunState, StageSize, new_run_id,
    stage_sizes,
};
use crate::domain::{ActionKind, DeadLetter, Timestamp};
use crate::store::{ChangeNotice, Store, StoreError};

/// Members in the outbox at once when neither the command nor the config says.
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
    let ids = store
        .select_dead_letter_ids(&parsed, now)
        .map_err(SelectError::Store)?;
    let mut letters = Vec::with_capacity(ids.len());
    for (upstream, id) in ids.into_iter().rev() {
        if let Some(letter) = store
            .dead_letter(&upstream, &id)
            .map_err(SelectError::Store)?
        {
            letters.push(letter);
        }
    }
    Ok(letters)
}

/// Counts `letters` into a plan and the members a run of it would have (skipped ones included,
/// with the reason). Contracts are the connectors' JSON Schemas from the config.
pub fn plan(
    store: &Store,
    config: &Config,
    letters: &[DeadLetter],
    options: &RunOptions,
) -> Result<(Plan, Vec<RunMember>), StoreError> {
    let mut contracts = Contracts::new(config);
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
        let violation = match options.kind {
            ActionKind::Replay => contracts.violation(&letter.connector, &letter.payload),
            _ => None,
        };
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

/// The connectors' contracts, compiled once each.
struct Contracts<'a> {
    config: &'a Config,
    compiled: HashMap<PathBuf, Result<Contract, String>>,
}

impl<'a> Contracts<'a> {
    fn new(config: &'a Config) -> Self {
        Contracts {
            config,
            compiled: HashMap::new(),
        }
    }

    /// The first violation of `payload` against `connector`'s contract; None when it conforms
    /// or the connector has none. A payload that is not JSON violates any contract.
    fn violation(&mut self, connector: &str, payload: &[u8]) -> Option<String> {
        let path = self.config.connector(connector)?.contract.clone()?;
        let contract = self
            .compiled
            .entry(path.clone())
            .or_insert_with(|| Contract::from_file(&path));
        let contract = match contract {
            Ok(contract) => contract,
            Err(e) => return Some(e.clone()),
        };
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => contract.violations(&value).into_iter().next(),
            Err(e) => Some(format!("payload is not JSON: {e}")),
        }
    }
}

/// Where a run stands, for gauges and progress lines.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    pub run: String,
    pub state: RunState,
    pub reason: Option<String>,
    pub progress: RunProgress,
    /// 1-based current stage and the number of stages.
    pub stage: Option<usize>,
    pub stages: usize,
    /// Members answered per second over the last few seconds.
    pub rate: f64,
    /// The rate the driver sends at now (lowered while the upstream asks to wait).
    pub sending_rate: Option<f64>,
    pub eta_secs: Option<f64>,
}

/// Drives run `id` until it is done, paused or cancelled (by this driver or another process),
/// calling `report` after every step. Returns the state it ended in.
pub async fn drive(
    id: &str,
    store: &StoreWriter,
    upstreams: &Upstreams,
    changes: &broadcast::Sender<ChangeNotice>,
    mut report: impl FnMut(&RunStatus),
) -> Result<RunState, StoreError> {
    let id = id.to_string();
    let mut pacer: Option<Pacer> = None;
    let mut meter = Meter::default();
    loop {
        let run_id = id.clone();
        let (run, progress) = store
            .call(move |s| {
                s.settle_run_members(&run_id)?;
                let run = s.run(&run_id)?;
                let progress = s.run_progress(&run_id, None)?;
                Ok((run, progress))
            })
            .await?;
        let Some(run) = run else {
            return Ok(RunState::Cancelled);
        };
        let pacer = pacer.get_or_insert_with(|| Pacer::new(run.rate));
        let finished = progress.finished();
        let status = |state: RunState, reason: Option<String>, pacer: &Pacer, meter: &Meter| {
            let rate = meter.rate();
            RunStatus {
                run: run.id.clone(),
                state,
                reason,
                progress: progress.clone(),
                stage: progress.stage.map(|s| s + 1),
                stages: run.stages.len(),
                rate,
                sending_rate: pacer.current,
                eta_secs: (rate > 0.0).then(|| progress.remaining() as f64 / rate),
            }
        };
        meter.note(finished);
        if run.state != RunState::Running {
            report(&status(run.state, run.reason.clone(), pacer, &meter));
            return Ok(run.state);
        }
        let Some(stage) = progress.stage else {
            let run_id = id.clone();
            let operator = run.operator.clone();
            let summary = format!(
                "{} sent, {} failed, {} skipped",
                progress.sent, progress.failed, progress.skipped
            );
            let reason = summary.clone();
            store
                .call(move |s| {
                    s.set_run_state(
                        &run_id,
                        RunState::Done,
                        Some(&reason),
                        &operator,
                        Utc::now(),
                    )
                })
                .await?;
            report(&status(RunState::Done, Some(summary), pacer, &meter));
            let _ = changes.send(ChangeNotice::Outbox);
            return Ok(RunState::Done);
        };
        // A stage starts only when the one before stayed within its failure limit (or the
        // operator resumed after it paused the run).
        if stage > 0 {
            let run_id = id.clone();
            let limit = run.max_failures;
            let verdict = store
                .call(move |s| {
                    if s.run_gate(&run_id)? >= stage {
                        return Ok(None);
                    }
                    let before = s.run_progress(&run_id, Some(stage - 1))?;
                    let sent_or_failed = before.sent + before.failed;
                    if limit.exceeded(before.failed, sent_or_failed) {
                        let top = s.run_failures(&run_id, Some(stage - 1))?;
                        return Ok(Some((before, top)));
                    }
                    s.open_run_gate(&run_id, stage)?;
                    Ok(None)
                })
                .await?;
            if let Some((before, top)) = verdict {
                let reason = pause_reason(stage, &before, &top, limit);
                let run_id = id.clone();
                let (why, operator) = (reason.clone(), run.operator.clone());
                store
                    .call(move |s| {
                        s.set_run_state(
                            &run_id,
                            RunState::Paused,
                            Some(&why),
                            &operator,
                            Utc::now(),
                        )
                    })
                    .await?;
                report(&status(RunState::Paused, Some(reason), pacer, &meter));
                let _ = changes.send(ChangeNotice::Outbox);
                return Ok(RunState::Paused);
            }
        }
        let run_id = id.clone();
        let (in_stage, held_back) = store
            .call(move |s| {
                Ok((
                    s.run_progress(&run_id, Some(stage))?,
                    s.run_members_held_back(&run_id, Utc::now())?,
                ))
            })
            .await?;
        pacer.held_back(held_back > 0);
        let room = run.concurrency.saturating_sub(in_stage.queued);
        let take = pacer.take(room.min(in_stage.planned));
        let mut enqueued = 0;
        if take > 0 {
            let run_id = id.clone();
            enqueued = store
                .call(move |s| s.enqueue_run_members(&run_id, stage, take, Utc::now()))
                .await?;
            pacer.spent(enqueued);
        }
        let round = run.concurrency.max(super::outbox::DUE_LIMIT);
        let handled = super::outbox::process_due_up_to(upstreams, store, changes, round).await?;
        report(&status(RunState::Running, None, pacer, &meter));
        if enqueued == 0 && handled == 0 {
            tokio::time::sleep(pacer.wait().min(Duration::from_millis(200))).await;
        }
    }
}

fn pause_reason(
    stage: usize,
    before: &RunProgress,
    top: &[(String, usize)],
    limit: FailureLimit,
) -> String {
    let errors: Vec<String> = top.iter().map(|(e, n)| format!("{n}× {e}")).collect();
    format!(
        "stage {stage} failed {} of {} (limit {limit}): {}",
        before.failed,
        before.sent + before.failed,
        errors.join("; ")
    )
}

/// Tokens for the run's rate. While the upstream asks to wait (429, 503 with `Retry-After`),
/// the rate halves (down to one every 2 s); it climbs back 10 % per second once answers flow.
struct Pacer {
    target: Option<f64>,
    current: Option<f64>,
    tokens: f64,
    last: Instant,
    slowed: bool,
}

impl Pacer {
    fn new(rate: Option<f64>) -> Self {
        Pacer {
            target: rate,
            current: rate,
            tokens: rate.map_or(0.0, |r| r.min(1.0)),
            last: Instant::now(),
            slowed: false,
        }
    }

    fn refill(&mut self) {
        let elapsed = self.last.elapsed().as_secs_f64();
        self.last = Instant::now();
        if let (Some(current), Some(target)) = (self.current.as_mut(), self.target) {
            if !self.slowed && *current < target {
                *current = (*current * 1.1f64.powf(elapsed)).min(target);
            }
            self.tokens = (self.tokens + elapsed * *current).min(current.max(1.0));
        }
    }

    fn held_back(&mut self, waiting: bool) {
        self.refill();
        if waiting && !self.slowed {
            let base = self.current.unwrap_or(50.0);
            self.current = Some((base / 2.0).max(0.5));
            self.target.get_or_insert(base);
        }
        self.slowed = waiting;
    }

    /// How many of `room` may go now.
    fn take(&mut self, room: usize) -> usize {
        if self.slowed {
            return 0;
        }
        match self.current {
            None => room,
            Some(_) => (self.tokens.floor() as usize).min(room),
        }
    }

    fn spent(&mut self, n: usize) {
        if self.current.is_some() {
            self.tokens = (self.tokens - n as f64).max(0.0);
        }
    }

    fn wait(&self) -> Duration {
        match self.current {
            Some(rate) if rate > 0.0 => {
                Duration::from_secs_f64(((1.0 - self.tokens).max(0.0) / rate).min(2.0))
            }
            _ => Duration::from_millis(20),
        }
    }
}

/// Members finished per second over a sliding window of about five seconds.
#[derive(Default)]
struct Meter {
    samples: std::collections::VecDeque<(Instant, usize)>,
}

impl Meter {
    fn note(&mut self, finished: usize) {
        let now = Instant::now();
        self.samples.push_back((now, finished));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(5))
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
    }

    fn rate(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
