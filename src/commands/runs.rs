//! `triage replay --where QUERY` (plan, confirm, run in stages) and `triage runs`: list, show,
//! pause, resume, cancel. Progress goes to stderr as a bar on a terminal, else (or with
//! `--json`) as JSON lines on stdout. Exit codes: 0 done without failures, 1 done with failures
//! or cancelled, 2 bad arguments, 75 paused (resume with `triage runs resume ID`).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::Utc;
use color_eyre::eyre::{Result, bail, eyre};
use serde_json::json;
use tokio::sync::broadcast;

use super::Context;
use super::act::EXIT_PENDING;
use super::output::{Output, say};
use crate::cli::{BulkArgs, RunsCommand};
use crate::domain::run::{FailureLimit, RunState, parse_rate, parse_stages};
use crate::domain::{ActionKind, redact, sanitize};
use crate::store::Store;
use crate::sync::runs::{
    self as planner, DEFAULT_CONCURRENCY, Driven, Plan, RunOptions, RunStatus, SelectError,
};
use crate::sync::{StoreWriter, Upstreams};

/// Exit code for bad arguments (as clap uses).
const EXIT_USAGE: u8 = 2;

/// How much of the store a bulk run's command maps for reading (`Store::map_reads`): the
/// plan reads every selected letter and each step updates hundreds, so a 10,000-letter run
/// made ≈ 10,000 `pread`s of store pages on its threads.
const RUN_MAPPED_BYTES: u64 = 256 << 20;

pub async fn replay_where(
    ctx: &Context,
    bulk: &BulkArgs,
    json: bool,
    destination: Option<String>,
    drop_ttl: bool,
) -> Result<ExitCode> {
    let Some(query) = bulk.query.as_deref() else {
        bail!("--where QUERY is required");
    };
    let usage = |what: &str, e: String| {
        eprintln!("triage: {what}: {e}");
        Ok(ExitCode::from(EXIT_USAGE))
    };
    let stages = match parse_stages(&bulk.stages) {
        Ok(s) => s,
        Err(e) => return usage("--stages", e),
    };
    let max_failures = match FailureLimit::parse(&bulk.max_failures) {
        Ok(l) => l,
        Err(e) => return usage("--max-failures", e),
    };
    let rate = match bulk.rate.as_deref().map(parse_rate).transpose() {
        Ok(r) => r.flatten(),
        Err(e) => return usage("--rate", e),
    };
    let options = RunOptions {
        kind: ActionKind::Replay,
        selection: query.to_string(),
        operator: ctx.operator.clone(),
        stages,
        max_failures,
        rate,
        concurrency: bulk.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
        force: bulk.force,
        destination,
        drop_ttl,
    };
    let mut store = ctx.open_store()?;
    store.map_reads(RUN_MAPPED_BYTES)?;
    let letters = match planner::select_dead_letters(&store, query, Utc::now()) {
        Ok(letters) => letters,
        Err(SelectError::Query(e)) => {
            eprintln!("triage: --where: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(SelectError::Store(e)) => return Err(e.into()),
    };
    let (plan, members) = planner::plan(&store, &ctx.config, &letters, &options)?;
    print_plan(&plan, json)?;
    if bulk.plan {
        return Ok(ExitCode::SUCCESS);
    }
    if plan.to_send == 0 {
        eprintln!("nothing to replay: no dead letter of the selection would be sent");
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.read_only {
        bail!("read-only mode: replay refused (drop --read-only / `read_only = true` to act)");
    }
    if !bulk.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("triage: not a terminal to ask on: add --yes to start this run");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        eprint!(
            "Replay {} dead letters in {} stage(s)? [y/N] ",
            plan.to_send,
            plan.stages.len()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing sent");
            return Ok(ExitCode::FAILURE);
        }
    }
    let run = planner::new_run(&plan, &options, Utc::now());
    store.create_run(&run, &members)?;
    // Whole letters (payloads and all) and the members are not needed any more: freed on
    // another core while this one drives the run, not after it (≈ 5 ms for 10,000).
    drop_elsewhere((letters, members));
    if !json {
        eprintln!(
            "run {} started: `triage runs pause {}` stops it, `triage runs resume {}` goes on",
            run.id, run.id, run.id
        );
    }
    drive(ctx, &run.id, json, store).await
}

/// Drops `value` on a thread of its own (inline, with the closure that holds it, when no
/// thread can be started).
fn drop_elsewhere<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
    if let Err(e) = spawned {
        tracing::debug!("dropped inline: no thread: {e}");
    }
}

fn print_plan(plan: &Plan, json: bool) -> Result<()> {
    if json {
        return say(json!({ "plan": plan }));
    }
    let when = |t: Option<crate::domain::Timestamp>| {
        t.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        })
    };
    say(format!(
        "Plan: {} {} of {} selected by {:?}",
        plan.kind.as_str(),
        plan.to_send,
        plan.total,
        sanitize::line(&plan.selection)
    ))?;
    let mut table = Output::new(false, &["UPSTREAM", "CONNECTOR", "DESTINATION", "LETTERS"]);
    for g in &plan.groups {
        table.row(vec![
            sanitize::line(&g.upstream),
            sanitize::line(&g.connector),
            sanitize::line(&g.destination),
            g.count.to_string(),
        ])?;
    }
    table.finish()?;
    say(format!(
        "failed between {} and {} (UTC)",
        when(plan.oldest),
        when(plan.newest)
    ))?;
    if plan.violations > 0 {
        say(format!(
            "{} violate their connector's contract: {}",
            plan.violations,
            if plan.force {
                "sent anyway (--force)"
            } else {
                "skipped (--force sends them)"
            }
        ))?;
        for (id, why) in &plan.violation_examples {
            say(format!("  {}: {}", sanitize::line(id), sanitize::line(why)))?;
        }
    }
    if plan.replayed_before > 0 {
        say(format!(
            "{} were replayed before and failed again",
            plan.replayed_before
        ))?;
    }
    if plan.not_dead > 0 {
        say(format!(
            "{} already replayed or discarded: left out",
            plan.not_dead
        ))?;
    }
    let stages: Vec<String> = plan.stages.iter().map(usize::to_string).collect();
    say(format!(
        "stages: {} (a stage failing more than {} pauses the run)",
        if stages.is_empty() {
            "none".to_string()
        } else {
            stages.join(" → ")
        },
        plan.max_failures
    ))?;
    say(format!(
        "rate: {}, at most {} waiting for an answer; estimated {}",
        plan.rate
            .map_or("as fast as the upstreams answer".to_string(), |r| format!(
                "{r:.1}/s"
            )),
        plan.concurrency,
        plan.estimated_secs
            .map_or("—".to_string(), |s| humantime::format_duration(
                Duration::from_secs(s.ceil() as u64)
            )
            .to_string())
    ))
}

pub async fn run(ctx: &Context, command: Option<&RunsCommand>, json: bool) -> Result<ExitCode> {
    match command {
        None => list(ctx, json),
        Some(RunsCommand::Show { id, json }) => show(ctx, id, *json),
        Some(RunsCommand::Pause { id }) => {
            change(ctx, id, RunState::Paused, "paused by the operator")
        }
        Some(RunsCommand::Cancel { id }) => {
            change(ctx, id, RunState::Cancelled, "cancelled by the operator")
        }
        Some(RunsCommand::Resume { id, json }) => {
            if ctx.read_only {
                bail!("read-only mode: resume refused");
            }
            let mut store = ctx.open_store()?;
            store.map_reads(RUN_MAPPED_BYTES)?;
            let run = store
                .run(id)?
                .ok_or_else(|| eyre!("no run {id} (see `triage runs`)"))?;
            match run.state {
                RunState::Done | RunState::Cancelled => {
                    eprintln!("run {id} is {}: nothing to resume", run.state.as_str());
                    return Ok(ExitCode::FAILURE);
                }
                RunState::Paused => {
                    store.set_run_state(
                        id,
                        RunState::Running,
                        Some("resumed"),
                        &ctx.operator,
                        Utc::now(),
                    )?;
                }
                RunState::Running => {}
            }
            drive(ctx, id, *json, store).await
        }
    }
}

fn list(ctx: &Context, json: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let mut out = Output::new(
        json,
        &[
            "RUN",
            "STATE",
            "KIND",
            "SENT",
            "FAILED",
            "SKIPPED",
            "LEFT",
            "STAGE",
            "CREATED",
            "OPERATOR",
            "SELECTION",
        ],
    );
    let drivers = run_drivers(&store)?;
    for run in store.runs()? {
        let p = store.run_progress(&run.id, None)?;
        let driver = drivers.get(&run.id);
        if json {
            out.json(&json!({
                "run": run, "progress": p, "stage": p.stage.map(|s| s + 1),
                "driver": driver.map(|d| &d.holder),
            }))?;
            continue;
        }
        out.row(vec![
            run.id.clone(),
            state_text(run.state, driver.is_some()),
            run.kind.as_str().to_string(),
            p.sent.to_string(),
            p.failed.to_string(),
            p.skipped.to_string(),
            p.remaining().to_string(),
            p.stage.map_or("-".to_string(), |s| {
                format!("{}/{}", s + 1, run.stages.len())
            }),
            run.created_at.format("%Y-%m-%d %H:%M").to_string(),
            sanitize::line(&run.operator),
            sanitize::line(&run.selection),
        ])?;
    }
    out.finish()
}

/// The live driver of each run that has one (`sync::run_lease`), by run id.
fn run_drivers(
    store: &Store,
) -> Result<std::collections::HashMap<String, crate::store::LockHolder>> {
    Ok(store
        .lock_holders("run:", Utc::now())?
        .into_iter()
        .filter_map(|(name, holder)| Some((name.strip_prefix("run:")?.to_string(), holder)))
        .collect())
}

/// A run's state for the table: a running run nobody drives says so.
fn state_text(state: RunState, driven: bool) -> String {
    match state {
        RunState::Running if !driven => "running (no driver)".to_string(),
        other => other.as_str().to_string(),
    }
}

fn show(ctx: &Context, id: &str, json: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let run = store
        .run(id)?
        .ok_or_else(|| eyre!("no run {id} (see `triage runs`)"))?;
    let progress = store.run_progress(id, None)?;
    let failures = store.run_failures(id, None)?;
    let members = store.run_members(id, 20)?;
    if json {
        let driver = run_drivers(&store)?.remove(&run.id).map(|d| d.holder);
        say(json!({
            "run": run, "progress": progress, "driver": driver,
            "failures": failures.iter().map(|(e, n)| json!({"error": e, "count": n})).collect::<Vec<_>>(),
            "members": members,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    say(format!(
        "run {} ({} by {}, {}): {}",
        run.id,
        run.kind.as_str(),
        sanitize::line(&run.operator),
        run.created_at.format("%Y-%m-%d %H:%M:%S"),
        run.state.as_str()
    ))?;
    if let Some(reason) = &run.reason {
        say(format!("  {}", sanitize::line(reason)))?;
    }
    if run.state == RunState::Running {
        say(match run_drivers(&store)?.get(&run.id) {
            Some(driver) => format!(
                "driven by {} since {}",
                driver.holder,
                driver.acquired_at.format("%H:%M:%S UTC")
            ),
            None => format!(
                "no process drives it (its driver stopped): `triage runs resume {}` here, or a running `triage watch` adopts it",
                run.id
            ),
        })?;
    }
    say(format!("selection: {}", sanitize::line(&run.selection)))?;
    say(format!(
        "sent {}, failed {}, skipped {}, queued {}, planned {} of {}; stage {} of {} {:?}",
        progress.sent,
        progress.failed,
        progress.skipped,
        progress.queued,
        progress.planned,
        progress.total,
        progress
            .stage
            .map_or("-".to_string(), |s| (s + 1).to_string()),
        run.stages.len(),
        run.stages
    ))?;
    say(format!(
        "rate {}, concurrency {}, max failures {}{}",
        run.rate
            .map_or("unlimited".to_string(), |r| format!("{r:.1}/s")),
        run.concurrency,
        run.max_failures,
        if run.force {
            ", contract violators forced"
        } else {
            ""
        }
    ))?;
    if !failures.is_empty() {
        say("failures:")?;
        for (error, n) in &failures {
            say(format!("  {n}× {}", sanitize::line(error)))?;
        }
    }
    let mut table = Output::new(
        false,
        &["#", "STAGE", "STATE", "TARGET", "CONNECTOR", "NOTE"],
    );
    for m in &members {
        table.row(vec![
            (m.seq + 1).to_string(),
            (m.stage + 1).to_string(),
            m.state.as_str().to_string(),
            format!(
                "{}:{}",
                sanitize::line(&m.upstream),
                sanitize::line(&m.target)
            ),
            sanitize::line(&m.connector),
            sanitize::line(m.note.as_deref().unwrap_or("")),
        ])?;
    }
    table.finish()?;
    if progress.total > members.len() {
        eprintln!("… {} more members", progress.total - members.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn change(ctx: &Context, id: &str, state: RunState, reason: &str) -> Result<ExitCode> {
    if ctx.read_only {
        bail!("read-only mode: refused");
    }
    let mut store = ctx.open_store()?;
    if store.run(id)?.is_none() {
        bail!("no run {id} (see `triage runs`)");
    }
    if store.set_run_state(id, state, Some(reason), &ctx.operator, Utc::now())? {
        say(format!("run {id} {}", state.as_str()))?;
        Ok(ExitCode::SUCCESS)
    } else {
        let now = store.run(id)?.map(|r| r.state.as_str()).unwrap_or("gone");
        eprintln!("run {id} is {now}: not changed");
        Ok(ExitCode::FAILURE)
    }
}

/// Drives run `id` here until it is done, paused or cancelled, showing its progress — on the
/// store connection the command already opened (no second open, no checkpoint in between).
async fn drive(ctx: &Context, id: &str, json: bool, store: Store) -> Result<ExitCode> {
    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
    for e in errors {
        eprintln!("warning: {}", redact::scrub(&e.to_string()));
    }
    let writer = StoreWriter::new(store);
    upstreams.remember_handled(&writer).await;
    let (changes, _) = broadcast::channel(16);
    let mut progress = Progress::new(json || !std::io::stderr().is_terminal());
    let state = crate::sync::runs::drive(id, &writer, &upstreams, &changes, |status| {
        progress.show(status)
    })
    .await?;
    progress.finish();
    let state = match state {
        Driven::Ended(state) => state,
        Driven::Elsewhere(other) => {
            eprintln!(
                "run {id} is driven by {} (since {}); it goes on there — `triage runs show {id}` follows it",
                other.holder,
                other.acquired_at.format("%H:%M:%S UTC")
            );
            return Ok(ExitCode::from(EXIT_PENDING));
        }
    };
    let p = writer
        .call({
            let id = id.to_string();
            move |s| s.run_progress(&id, None)
        })
        .await?;
    Ok(match state {
        RunState::Done if p.failed == 0 => ExitCode::SUCCESS,
        RunState::Paused | RunState::Running => ExitCode::from(EXIT_PENDING),
        _ => ExitCode::FAILURE,
    })
}

/// A bar on a terminal; JSON lines (at most one a second, and every change of state or stage)
/// otherwise.
struct Progress {
    lines: bool,
    bar: Option<indicatif::ProgressBar>,
    last: Option<(Instant, RunState, Option<usize>)>,
}

impl Progress {
    fn new(lines: bool) -> Self {
        Progress {
            lines,
            bar: None,
            last: None,
        }
    }

    fn show(&mut self, status: &RunStatus) {
        let p = &status.progress;
        if self.lines {
            let due = self.last.is_none_or(|(at, state, stage)| {
                at.elapsed() >= Duration::from_secs(1)
                    || state != status.state
                    || stage != status.stage
            });
            if due || status.state != RunState::Running {
                self.last = Some((Instant::now(), status.state, status.stage));
                let _ = say(json!({ "progress": status }));
            }
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(p.total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_length(p.total as u64);
        bar.set_position(p.finished() as u64);
        let moving = status.moving.as_ref().map_or(String::new(), |m| {
            format!(
                " · {} moving {}{} ({})",
                sanitize::line(&m.queue),
                m.moved,
                m.to_move.map_or(String::new(), |t| format!("/{t}")),
                sanitize::line(&m.status)
            )
        });
        bar.set_message(format!(
            "stage {}/{} · sent {} failed {} skipped {} · {:.0}/s{}{}{moving}",
            status.stage.map_or("-".to_string(), |s| s.to_string()),
            status.stages,
            p.sent,
            p.failed,
            p.skipped,
            status.rate,
            status
                .eta_secs
                .map_or(String::new(), |s| format!(" · ETA {}s", s.ceil())),
            if status.state == RunState::Running {
                String::new()
            } else {
                format!(
                    " · {}{}",
                    status.state.as_str(),
                    status
                        .reason
                        .as_deref()
                        .map_or(String::new(), |r| format!(": {}", sanitize::line(r)))
                )
            }
        ));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
