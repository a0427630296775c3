//! `ack`, `unack`, `escalate`, `resolve`, `replay`, `discard`: write the action to the outbox (with its
//! audit row), then — unless `--no-wait` — send it through the same outbox worker the console
//! uses and print the upstream's answer. Exit 0 when confirmed, 1 when refused, 75 when the
//! upstream could not be reached in time (the action stays pending and will be retried).

use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use color_eyre::eyre::{Result, bail, eyre};
use tokio::sync::broadcast;

use super::Context;
use super::output::say;
use crate::cli::{ActionArgs, Command};
use crate::domain::redact;
use crate::domain::{Action, ActionKind, OutboxEntry, OutboxState, sanitize};
use crate::escalate::{Escalation, escalate_now};
use crate::store::Store;
use crate::sync::{StoreWriter, Upstreams, outbox};

/// Exit code when the action is still pending (EX_TEMPFAIL).
pub const EXIT_PENDING: u8 = 75;

pub async fn run(ctx: &Context, command: &Command) -> Result<ExitCode> {
    let (mut destination, mut drop_ttl) = (None, false);
    let (mut edit, mut yes, mut force) = (false, false, false);
    let (kind, args, note, payload) = match command {
        Command::Ack(a) => (ActionKind::Ack, &a.action, a.note.clone(), None),
        Command::Unack(a) => (ActionKind::Unack, &a.action, a.note.clone(), None),
        Command::Escalate(a) => (ActionKind::Escalate, &a.action, a.note.clone(), None),
        Command::Resolve(a) => (ActionKind::Resolve, &a.action, a.note.clone(), None),
        Command::Discard(a) => (ActionKind::Discard, &a.action, a.note.clone(), None),
        Command::Replay {
            action,
            bulk,
            payload_file,
            edit: edit_flag,
            to,
            no_ttl,
        } => {
            let payload = payload_file.as_deref().map(super::read_file).transpose()?;
            (destination, drop_ttl) = (to.clone(), *no_ttl);
            (edit, yes, force) = (*edit_flag, bulk.yes, bulk.force);
            (ActionKind::Replay, action, None, payload)
        }
        _ => bail!("not an action command"),
    };
    if ctx.read_only {
        bail!(
            "read-only mode: {} refused (drop --read-only / `read_only = true` to act)",
            kind.as_str()
        );
    }
    let mut store = ctx.open_store()?;
    let id = args
        .id
        .as_deref()
        .ok_or_else(|| eyre!("which one? give an id"))?;
    let (upstream, target) = resolve_target(&store, kind, id)?;
    if kind == ActionKind::Escalate {
        return escalate(ctx, store, &upstream, &target, note.as_deref(), args).await;
    }
    let (payload, edited_detail) = if edit {
        match super::edit_replay::edit(ctx, &store, &upstream, &target, yes, force).await? {
            Some(confirmed) => (Some(confirmed.payload), Some(confirmed.audit_detail)),
            None => return Ok(ExitCode::FAILURE),
        }
    } else {
        (payload, None)
    };
    let action = Action {
        kind,
        upstream,
        target,
        operator: ctx.operator.clone(),
        note,
        level: None,
        payload,
        destination,
        drop_ttl,
    };
    let entry = match &edited_detail {
        Some(detail) => store.enqueue_edited_replay(&action, detail, Utc::now())?,
        None => store.enqueue_action(&action, Utc::now())?,
    };
    drop(store);
    if args.no_wait {
        print_entry(&entry, args, "queued");
        return Ok(ExitCode::SUCCESS);
    }
    let entry = send_and_wait(ctx, &entry.id, Duration::from_secs(args.timeout)).await?;
    Ok(report(&entry, args))
}

/// Takes the incident's next escalation step (its chain's, or the backup without one): the
/// step's notifications and the upstream escalate, queued and recorded like `triage watch` does.
async fn escalate(
    ctx: &Context,
    mut store: Store,
    upstream: &str,
    id: &str,
    note: Option<&str>,
    args: &ActionArgs,
) -> Result<ExitCode> {
    let incident = store
        .incident(upstream, id)?
        .ok_or_else(|| eyre!("incident {upstream}:{id} vanished from the store"))?;
    match escalate_now(
        &mut store,
        &ctx.config,
        &ctx.routing,
        &incident,
        &ctx.operator,
        note,
        Utc::now(),
    )? {
        Escalation::LastStepReached { level, chain } => {
            eprintln!("already at level {level}, the last step of chain {chain}; nothing sent");
            Ok(ExitCode::FAILURE)
        }
        Escalation::AlreadyTaken { level } => {
            eprintln!(
                "level {level} was just taken by someone else (a watcher?); see `triage outbox`"
            );
            Ok(ExitCode::SUCCESS)
        }
        Escalation::Taken {
            level,
            why,
            actions,
        } => {
            drop(store);
            if !args.json {
                let _ = say(format!(
                    "escalate {upstream}:{id} → level {level}: {}",
                    sanitize::line(&why)
                ));
            }
            if actions.is_empty() && !args.json {
                let _ = say(
                    "(no notifier is configured and this upstream has no escalate endpoint: recorded only)",
                );
            }
            let mut code = ExitCode::SUCCESS;
            for entry in actions {
                let entry = if args.no_wait {
                    entry
                } else {
                    send_and_wait(ctx, &entry.id, Duration::from_secs(args.timeout)).await?
                };
                let this = if args.no_wait {
                    print_entry(&entry, args, "queued");
                    ExitCode::SUCCESS
                } else {
                    report(&entry, args)
                };
                if this != ExitCode::SUCCESS {
                    code = this;
                }
            }
            Ok(code)
        }
    }
}

/// Finds which upstream holds `id` (`upstream:id` picks explicitly).
pub(crate) fn resolve_target(
    store: &Store,
    kind: ActionKind,
    id: &str,
) -> Result<(String, String)> {
    let what = if kind.targets_incident() {
        "incident"
    } else {
        "dead letter"
    };
    if kind.targets_incident() {
        let mut found = store.find_incidents(id)?;
        if found.is_empty()
            && let Some((upstream, rest)) = id.split_once(':')
            && let Some(incident) = store.incident(upstream, rest)?
        {
            found.push(incident);
        }
        let incident = single(found, what, id, |i| format!("{}:{}", i.upstream, i.id))?;
        Ok((incident.upstream, incident.id))
    } else {
        let mut found = store.find_dead_letters(id)?;
        if found.is_empty()
            && let Some((upstream, rest)) = id.split_once(':')
            && let Some(dl) = store.dead_letter(upstream, rest)?
        {
            found.push(dl);
        }
        let dl = single(found, what, id, |d| format!("{}:{}", d.upstream, d.id))?;
        Ok((dl.upstream, dl.id))
    }
}

fn single<T>(mut found: Vec<T>, what: &str, id: &str, name: impl Fn(&T) -> String) -> Result<T> {
    match found.len() {
        0 => Err(eyre!(
            "no {what} {:?} in the store (run `triage sync --once` to refresh it)",
            sanitize::line(id)
        )),
        1 => Ok(found.remove(0)),
        _ => {
            let names: Vec<String> = found.iter().map(name).collect();
            Err(eyre!(
                "{what} id {:?} is ambiguous; name one of: {}",
                sanitize::line(id),
                names.join(", ")
            ))
        }
    }
}

/// Runs the outbox worker (same code as the console's) until the entry is no longer pending.
pub async fn send_and_wait(
    ctx: &Context,
    entry_id: &str,
    timeout: Duration,
) -> Result<OutboxEntry> {
    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
    for e in errors {
        eprintln!("warning: {}", redact::scrub(&e.to_string()));
    }
    let writer = StoreWriter::open(&ctx.store_path)?;
    upstreams.remember_handled(&writer).await;
    let (changes, _) = broadcast::channel(16);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        outbox::process_due(&upstreams, &writer, &changes).await?;
        let id = entry_id.to_string();
        let entry = writer
            .call(move |s| s.outbox_entry(&id))
            .await?
            .ok_or_else(|| eyre!("outbox entry {entry_id} vanished from the store"))?;
        if entry.state != OutboxState::Pending || tokio::time::Instant::now() >= deadline {
            return Ok(entry);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn report(entry: &OutboxEntry, args: &ActionArgs) -> ExitCode {
    match entry.state {
        OutboxState::Sent => {
            print_entry(entry, args, "sent");
            ExitCode::SUCCESS
        }
        OutboxState::Failed => {
            print_entry(entry, args, "failed");
            ExitCode::FAILURE
        }
        // Only a run's actions are recalled (never one a command sent alone); not sent.
        OutboxState::Recalled => {
            print_entry(entry, args, "recalled");
            ExitCode::FAILURE
        }
        OutboxState::Pending => {
            print_entry(entry, args, "pending");
            if !args.json {
                eprintln!(
                    "not confirmed within {}s; it stays in the outbox and is retried by the console or `triage sync`",
                    args.timeout
                );
            }
            ExitCode::from(EXIT_PENDING)
        }
    }
}

/// The action's state (the exit code tells it too, so a closed stdout is ignored here).
fn print_entry(entry: &OutboxEntry, args: &ActionArgs, label: &str) {
    if args.json {
        let _ = say(super::list_more::outbox_json(entry));
        return;
    }
    let a = &entry.action;
    let answer = match (&entry.outcome, &entry.last_error) {
        (Some(outcome), _) => outcome.summary.clone(),
        (None, Some(error)) => format!("last error: {error}"),
        (None, None) => String::new(),
    };
    let _ = say(format!(
        "{} {}:{} {label} (attempts {}) {}",
        a.kind.as_str(),
        sanitize::line(&a.upstream),
        sanitize::line(&a.target),
        entry.attempts,
        sanitize::line(&answer)
    ));
}
