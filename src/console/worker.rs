//! The console's store thread: its own `Store` connection, off the render path. It runs
//! `StoreCmd`s (coalescing repeated reloads) and answers with `Msg`s.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use super::detail::{DeadLetterDetail, HISTORY_LIMIT};
use super::marks::MarkList;
use super::msg::{ConnectorRow, Msg, StoreCmd};
use super::paging::{IncidentRow, PAGE_LIMIT};
use super::view_state::IncidentDetail;
use crate::config::{Config, RoutingConfig};
use crate::domain::query::{Query, RowKind};
use crate::domain::{ActionKind, IncidentStatus, OutboxState};
use crate::escalate::{Escalation, escalate_now};
use crate::store::{
    ConnectorCounts, DeadLetterPageQuery, IncidentPageQuery, OutboxPageQuery, Store, StoreError,
};

/// Points in a connector's DLQ sparkline.
const SPARKLINE_POINTS: usize = 60;
/// Audit rows under the Activity view's outbox list (the newest; `triage audit` pages them all).
const AUDIT_ROWS: usize = 200;

/// What the store thread needs to take escalation steps (the operator's `e`).
pub struct EscalationContext {
    pub config: Config,
    pub routing: RoutingConfig,
}

/// Runs until the command channel closes (escalate enqueues a plain upstream action).
pub fn run(path: PathBuf, commands: Receiver<StoreCmd>, replies: UnboundedSender<Msg>) {
    run_with(path, commands, replies, None);
}

/// Runs until the command channel closes; with `escalation`, `e` takes the incident's next
/// chain step (notifications + upstream escalate), the same way `triage watch` does.
pub fn run_with(
    path: PathBuf,
    commands: Receiver<StoreCmd>,
    replies: UnboundedSender<Msg>,
    escalation: Option<EscalationContext>,
) {
    let mut store = match Store::open(&path) {
        Ok(store) => store,
        Err(e) => {
            let _ = replies.send(Msg::StoreFailed(e.to_string()));
            return;
        }
    };
    let _ = replies.send(Msg::StoreReady);
    let mut last_version = store.data_version().ok();
    // Commands a running search saw arrive (it looks, to give way to a newer one of its list).
    let commands = Arc::new(Mutex::new(commands));
    let arrived: Arc<Mutex<VecDeque<StoreCmd>>> = Arc::default();
    loop {
        let mut batch: Vec<StoreCmd> = lock(&arrived).drain(..).collect();
        {
            let commands = lock(&commands);
            if batch.is_empty() {
                match commands.recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => return,
                }
            }
            loop {
                match commands.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
        }
        for cmd in coalesce(batch) {
            if let StoreCmd::CheckDataVersion = cmd {
                let version = store.data_version().ok();
                if version != last_version {
                    last_version = version;
                    let _ = replies.send(Msg::ExternalChange);
                }
                continue;
            }
            let what = describe(&cmd);
            let run = |store: &mut Store, cmd| execute_with(store, cmd, escalation.as_ref());
            // A filtered page may read the whole list: say how far it has got while it runs.
            let reply = match search_of(&cmd) {
                Some((list, seq)) => {
                    let total = store.list_totals().map_or(0, |(dl, inc)| match list {
                        MarkList::DeadLetters => dl,
                        MarkList::Incidents => inc,
                    });
                    let progress = replies.clone();
                    let (pending, seen) = (commands.clone(), arrived.clone());
                    let given_way = Arc::new(AtomicBool::new(false));
                    let gave_way = given_way.clone();
                    let on_step = move |examined: Option<u64>| {
                        // A newer page of the same list (the operator typed on): this answer
                        // would be dropped, so stop reading now.
                        if let Ok(commands) = pending.try_lock() {
                            while let Ok(cmd) = commands.try_recv() {
                                lock(&seen).push_back(cmd);
                            }
                        }
                        if lock(&seen).iter().any(|c| loads(c, list)) {
                            gave_way.store(true, Ordering::Relaxed);
                            return true;
                        }
                        if let Some(examined) = examined {
                            let _ = progress.send(Msg::SearchProgress {
                                list,
                                seq,
                                examined,
                                total,
                            });
                        }
                        false
                    };
                    let answer = store.with_scan_progress(on_step, |store| run(store, cmd));
                    if answer.is_err() && given_way.load(Ordering::Relaxed) {
                        // Superseded: the newer request answers instead.
                        continue;
                    }
                    answer
                }
                None => run(&mut store, cmd),
            }
            .unwrap_or_else(|e| Msg::StoreError {
                what,
                error: e.to_string(),
            });
            if replies.send(reply).is_err() {
                return;
            }
        }
    }
}

/// Is `cmd` a page load of `list`?
fn loads(cmd: &StoreCmd, list: MarkList) -> bool {
    matches!(
        (cmd, list),
        (StoreCmd::LoadDeadLetters { .. }, MarkList::DeadLetters)
            | (StoreCmd::LoadIncidents { .. }, MarkList::Incidents)
    )
}

/// A lock that a panic elsewhere did not poison for good (the data is a queue of commands).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The list and request of a page load that carries a filter (a search).
fn search_of(cmd: &StoreCmd) -> Option<(MarkList, u64)> {
    match cmd {
        StoreCmd::LoadDeadLetters { seq, request, .. } if !request.filter.trim().is_empty() => {
            Some((MarkList::DeadLetters, *seq))
        }
        StoreCmd::LoadIncidents { seq, request, .. } if !request.filter.trim().is_empty() => {
            Some((MarkList::Incidents, *seq))
        }
        _ => None,
    }
}

/// Keeps only the last of each kind of reload; every enqueue is kept, in order.
fn coalesce(batch: Vec<StoreCmd>) -> Vec<StoreCmd> {
    let mut out: Vec<StoreCmd> = Vec::with_capacity(batch.len());
    for cmd in batch {
        // An incident detail reload is replaceable too: only one is shown at a time.
        let replaceable = !matches!(
            cmd,
            StoreCmd::Enqueue { .. }
                | StoreCmd::EnqueueEdited { .. }
                | StoreCmd::SetRunState { .. }
                | StoreCmd::AddNote { .. }
                | StoreCmd::EnqueueHeld { .. }
                | StoreCmd::Undo { .. }
                | StoreCmd::EnqueueMany { .. }
                | StoreCmd::CreateRun { .. }
                | StoreCmd::LoadDeadLetterDetail { .. }
        );
        if replaceable && let Some(pos) = out.iter().position(|c| same_kind(c, &cmd)) {
            out.remove(pos);
        }
        out.push(cmd);
    }
    out
}

/// Commands of one kind replace each other (marks: of one list).
fn same_kind(a: &StoreCmd, b: &StoreCmd) -> bool {
    match (a, b) {
        (StoreCmd::SelectMatching { list: x, .. }, StoreCmd::SelectMatching { list: y, .. })
        | (StoreCmd::CheckMarks { list: x, .. }, StoreCmd::CheckMarks { list: y, .. }) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn describe(cmd: &StoreCmd) -> String {
    match cmd {
        StoreCmd::LoadHeader => "loading upstream states".into(),
        StoreCmd::LoadMetrics { span, .. } => format!("computing the metrics of {}", span.label()),
        StoreCmd::LoadConnectors { .. } => "loading connectors".into(),
        StoreCmd::LoadIncidents { .. } => "loading incidents".into(),
        StoreCmd::LoadDeadLetters { .. } => "loading dead letters".into(),
        StoreCmd::LoadDeadLetterDetail { id, .. } => {
            format!("loading dead letter {}", crate::domain::sanitize::line(id))
        }
        StoreCmd::LoadDeadLetterHistory { id, .. } => format!(
            "loading the actions on dead letter {}",
            crate::domain::sanitize::line(id)
        ),
        StoreCmd::LoadIncidentDetail { id, .. } => {
            format!("loading incident {}", crate::domain::sanitize::line(id))
        }
        StoreCmd::LoadRunbook { connector, .. } => format!(
            "loading the runbook of {}",
            crate::domain::sanitize::line(connector)
        ),
        StoreCmd::LoadActivity { .. } => "loading activity".into(),
        StoreCmd::LoadOpenActions { .. } => "loading pending actions".into(),
        StoreCmd::SetRunState { id, state, .. } => format!(
            "setting run {} {}",
            crate::domain::sanitize::line(id),
            state.as_str()
        ),
        StoreCmd::EnqueueHeld { action, .. } => format!(
            "queueing {} of {} (nothing was sent)",
            action.kind.as_str(),
            crate::domain::sanitize::line(&action.target)
        ),
        StoreCmd::Undo { what, .. } => format!("undoing {what}"),
        StoreCmd::AddNote { id, .. } => format!(
            "adding a note to {} (not saved)",
            crate::domain::sanitize::line(id)
        ),
        StoreCmd::LoadForPager { id, .. } => format!(
            "reading dead letter {} for the pager",
            crate::domain::sanitize::line(id)
        ),
        StoreCmd::LoadForYank { id, .. } => format!(
            "reading dead letter {} to copy its payload",
            crate::domain::sanitize::line(id)
        ),
        StoreCmd::LoadForEdit { id, .. } => format!(
            "reading dead letter {} to edit",
            crate::domain::sanitize::line(id)
        ),
        StoreCmd::EnqueueEdited { action, .. } | StoreCmd::Enqueue { action, .. } => {
            format!(
                "queueing {} of {} (nothing was sent)",
                action.kind.as_str(),
                crate::domain::sanitize::line(&action.target)
            )
        }
        StoreCmd::CheckDataVersion => "checking for changes".into(),
        StoreCmd::SelectMatching { list, .. } => {
            format!("marking every {} the filter matches", list.noun(1))
        }
        StoreCmd::CheckMarks { list, .. } => format!("checking the marked {}", list.noun(2)),
        StoreCmd::PlanRun { kind, keys, .. } => format!(
            "planning a {} of {} marked dead letter(s)",
            kind.as_str(),
            keys.len()
        ),
        StoreCmd::CreateRun { .. } => "creating the run (nothing was sent)".into(),
        StoreCmd::PrepareIncidentBulk { kind, .. } => {
            format!("checking the marked incidents for {}", kind.as_str())
        }
        StoreCmd::EnqueueMany { kind, actions, .. } => format!(
            "queueing {} of {} incident(s) (some may not be queued)",
            kind.as_str(),
            actions.len()
        ),
    }
}

/// Runs one command; an escalate goes through the shared escalation steps when a context is given.
pub fn execute_with(
    store: &mut Store,
    cmd: StoreCmd,
    escalation: Option<&EscalationContext>,
) -> Result<Msg, StoreError> {
    match (cmd, escalation) {
        (StoreCmd::Enqueue { action, at }, Some(ctx)) if action.kind == ActionKind::Escalate => {
            let Some(incident) = store.incident(&action.upstream, &action.target)? else {
                return Ok(Msg::Escalated {
                    entries: Vec::new(),
                    summary: format!("incident {} is no longer in the store", action.target),
                });
            };
            let outcome = escalate_now(
                store,
                &ctx.config,
                &ctx.routing,
                &incident,
                &action.operator,
                action.note.as_deref(),
                at,
            )?;
            Ok(match outcome {
                Escalation::Taken { level, actions, .. } => Msg::Escalated {
                    summary: format!(
                        "escalation to level {level} queued ({} action(s))",
                        actions.len()
                    ),
                    entries: actions,
                },
                Escalation::LastStepReached { level, chain } => Msg::Escalated {
                    entries: Vec::new(),
                    summary: format!("already at level {level}, the last step of chain {chain}"),
                },
                Escalation::AlreadyTaken { level } => Msg::Escalated {
                    entries: Vec::new(),
                    summary: format!("level {level} was just taken by someone else"),
                },
            })
        }
        (StoreCmd::EnqueueMany { kind, actions, at }, ctx) => Ok(super::worker_bulk::enqueue_many(
            store, kind, actions, at, ctx,
        )),
        (
            StoreCmd::PlanRun {
                kind,
                keys,
                operator,
            },
            Some(ctx),
        ) => super::worker_bulk::plan_run(store, &ctx.config, kind, &keys, &operator),
        (cmd, _) => execute(store, cmd),
    }
}

/// A page request's filter as a query: `Some(None)` when empty, `None` when it does not parse
/// (the console sends only texts that do; this is a second line of defence).
fn parsed(filter: &str, kind: RowKind) -> Option<Option<Query>> {
    if filter.trim().is_empty() {
        return Some(None);
    }
    Query::parse(filter, kind).ok().map(Some)
}

fn bad_filter(filter: &str, kind: RowKind) -> Msg {
    let reason = Query::parse(filter, kind)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    Msg::StoreError {
        what: format!("filter {:?}", crate::domain::sanitize::line(filter)),
        error: reason,
    }
}

/// Runs one command on `store` (public for the console benchmark).
pub fn execute(store: &mut Store, cmd: StoreCmd) -> Result<Msg, StoreError> {
    Ok(match cmd {
        StoreCmd::LoadMetrics { span, now } => {
            let window = crate::domain::metrics::MetricsWindow::last(span.duration(), now);
            Msg::Metrics {
                span,
                report: Box::new(store.metrics_report(window, None)?),
            }
        }
        StoreCmd::LoadHeader => Msg::Header {
            states: store.upstream_states()?,
            pending_actions: store.pending_action_count()?,
        },
        StoreCmd::LoadConnectors { since } => {
            let counts = store.connector_counts()?;
            let mut rows = Vec::new();
            for connector in store.connectors()? {
                let history = store.dlq_history(
                    &connector.upstream,
                    &connector.id,
                    since,
                    SPARKLINE_POINTS,
                )?;
                let counts = counts
                    .iter()
                    .find(|c| c.upstream == connector.upstream && c.connector == connector.id)
                    .cloned()
                    .unwrap_or_else(|| ConnectorCounts {
                        upstream: connector.upstream.clone(),
                        connector: connector.id.clone(),
                        ..Default::default()
                    });
                rows.push(ConnectorRow {
                    dlq_history: history.iter().map(|p| p.dead).collect(),
                    counts,
                    connector,
                });
            }
            Msg::Connectors(rows)
        }
        StoreCmd::LoadIncidents {
            seq,
            request,
            connector,
        } => {
            let Some(filter) = parsed(&request.filter, RowKind::Incidents) else {
                return Ok(bad_filter(&request.filter, RowKind::Incidents));
            };
            let query = IncidentPageQuery {
                sort: request.sort,
                text: None,
                query: filter,
                now: None,
                connector,
                statuses: vec![
                    IncidentStatus::Open,
                    IncidentStatus::Acknowledged,
                    IncidentStatus::Suppressed,
                ],
                anchor: request.anchor.clone(),
                dir: request.dir,
                limit: PAGE_LIMIT,
            };
            let mut rows = Vec::new();
            for (key, incident) in store.page_incidents(&query)? {
                let route = store.incident_route(&incident.upstream, &incident.id)?;
                let taken = store.escalation_levels(&incident.upstream, &incident.id)?;
                rows.push(IncidentRow {
                    key,
                    incident,
                    route,
                    taken,
                });
            }
            Msg::Incidents {
                seq,
                request,
                rows,
                limit: PAGE_LIMIT,
            }
        }
        StoreCmd::LoadDeadLetters {
            seq,
            request,
            connector,
        } => {
            let Some(filter) = parsed(&request.filter, RowKind::DeadLetters) else {
                return Ok(bad_filter(&request.filter, RowKind::DeadLetters));
            };
            let query = DeadLetterPageQuery {
                sort: request.sort,
                text: None,
                query: filter,
                now: None,
                connector,
                state: None,
                anchor: request.anchor.clone(),
                dir: request.dir,
                limit: PAGE_LIMIT,
            };
            Msg::DeadLetters {
                seq,
                request,
                rows: store.page_dead_letters(&query)?,
                limit: PAGE_LIMIT,
            }
        }
        StoreCmd::LoadDeadLetterDetail {
            upstream,
            id,
            contract,
        } => match store.dead_letter(&upstream, &id)? {
            Some(letter) => {
                let (schema, problem) = match contract.as_deref().map(read_contract) {
                    Some(Ok(schema)) => (Some(schema), None),
                    Some(Err(problem)) => (None, Some(problem)),
                    None => (None, None),
                };
                let history = store.actions_for_target(&upstream, &id, HISTORY_LIMIT)?;
                Msg::DeadLetterDetail(Box::new(
                    DeadLetterDetail::new(letter, schema.as_ref(), problem).with_history(history),
                ))
            }
            None => Msg::StoreError {
                what: format!("dead letter {}", crate::domain::sanitize::line(&id)),
                error: "no longer in the store".into(),
            },
        },
        StoreCmd::LoadDeadLetterHistory { upstream, id } => Msg::DeadLetterHistory {
            history: store.actions_for_target(&upstream, &id, HISTORY_LIMIT)?,
            upstream,
            id,
        },
        StoreCmd::LoadIncidentDetail { upstream, id } => match store.incident(&upstream, &id)? {
            Some(incident) => {
                let route = store.incident_route(&upstream, &id)?;
                let taken = store.escalation_levels(&upstream, &id)?;
                let notes = store.notes(&upstream, &id)?;
                Msg::IncidentDetail(Box::new(
                    IncidentDetail::new(incident, route)
                        .with_taken(taken)
                        .with_notes(notes),
                ))
            }
            None => Msg::StoreError {
                what: format!("incident {}", crate::domain::sanitize::line(&id)),
                error: "no longer in the store".into(),
            },
        },
        StoreCmd::LoadRunbook { connector, path } => {
            let markdown = match &path {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read {}: {e}", p.display())),
                None => Err("no runbook configured for this connector".into()),
            };
            Msg::Runbook {
                connector,
                path,
                markdown,
            }
        }
        StoreCmd::LoadActivity { seq, request } => {
            let query = OutboxPageQuery {
                text: Some(request.filter.clone()),
                anchor: request.anchor.clone(),
                dir: request.dir,
                limit: PAGE_LIMIT,
            };
            let runs = recent_runs(store)?;
            let driven: Vec<String> = store
                .lock_holders("run:", chrono::Utc::now())?
                .into_iter()
                .map(|(name, _)| name)
                .collect();
            let undriven = runs
                .iter()
                .filter(|(r, _)| r.state == crate::domain::run::RunState::Running)
                .filter(|(r, _)| !driven.contains(&crate::sync::run_lease::lock_name(&r.id)))
                .map(|(r, _)| r.id.clone())
                .collect();
            Msg::Activity {
                runs,
                undriven,
                seq,
                outbox: store.page_outbox_keyset(&query)?,
                request,
                audit: store.page_audit(None, AUDIT_ROWS)?,
                limit: PAGE_LIMIT,
            }
        }
        StoreCmd::LoadOpenActions {
            failed_since,
            tracked,
        } => {
            let mut settled = Vec::new();
            for id in &tracked {
                if let Some(entry) = store.outbox_entry(id)?
                    && entry.state != OutboxState::Pending
                {
                    settled.push(entry);
                }
            }
            Msg::OpenActions {
                open: store.open_actions(failed_since)?,
                tracked: settled,
            }
        }
        StoreCmd::Enqueue { action, at } => {
            Msg::ActionEnqueued(Box::new(store.enqueue_action(&action, at)?))
        }
        StoreCmd::EnqueueEdited { action, detail, at } => {
            Msg::ActionEnqueued(Box::new(store.enqueue_edited_replay(&action, &detail, at)?))
        }
        StoreCmd::SetRunState {
            id,
            state,
            operator,
            at,
        } => {
            let reason = match state {
                crate::domain::run::RunState::Paused => Some("paused by the operator"),
                crate::domain::run::RunState::Cancelled => Some("cancelled by the operator"),
                crate::domain::run::RunState::Running => Some("resumed"),
                crate::domain::run::RunState::Done => None,
            };
            let changed = store.set_run_state(&id, state, reason, &operator, at)?;
            Msg::RunStateSet { id, state, changed }
        }
        StoreCmd::EnqueueHeld {
            action,
            at,
            hold_until,
        } => Msg::HeldEnqueued(Box::new(store.enqueue_held(&action, at, hold_until)?)),
        StoreCmd::Undo {
            outbox_id,
            what,
            operator,
            at,
        } => {
            let withdrawn = store.undo_action(&outbox_id, &operator, at)?;
            Msg::Undone {
                what,
                withdrawn: withdrawn == crate::store::Undo::Withdrawn,
            }
        }
        StoreCmd::AddNote {
            upstream,
            id,
            operator,
            text,
            at,
        } => {
            store.add_note(&upstream, &id, &operator, &text, at)?;
            Msg::NoteAdded { upstream, id }
        }
        StoreCmd::LoadForPager { upstream, id } => {
            Msg::PagerLoaded(store.dead_letter(&upstream, &id)?.map(Box::new))
        }
        StoreCmd::LoadForYank { upstream, id } => {
            Msg::YankLoaded(store.dead_letter(&upstream, &id)?.map(Box::new))
        }
        StoreCmd::LoadForEdit { upstream, id } => {
            Msg::EditLoaded(store.dead_letter(&upstream, &id)?.map(Box::new))
        }
        StoreCmd::CheckDataVersion => Msg::ExternalChange,
        StoreCmd::SelectMatching { list, filter, now } => {
            let kind = row_kind(list);
            let query = match Query::parse(&filter, kind) {
                Ok(query) => query,
                Err(_) => return Ok(bad_filter(&filter, kind)),
            };
            let ids = match list {
                MarkList::Incidents => store.select_incident_ids(&query, now)?,
                MarkList::DeadLetters => store.select_dead_letter_ids(&query, now)?,
            };
            Msg::Selected { list, filter, ids }
        }
        StoreCmd::PrepareIncidentBulk {
            kind,
            keys,
            operator,
        } => super::worker_bulk::prepare_incidents(store, kind, &keys, &operator)?,
        StoreCmd::EnqueueMany { kind, actions, at } => {
            super::worker_bulk::enqueue_many(store, kind, actions, at, None)
        }
        StoreCmd::PlanRun { .. } => Msg::StoreError {
            what: "planning the run".into(),
            error: "the store thread has no config (contracts, destinations)".into(),
        },
        StoreCmd::CreateRun { plan, at } => super::worker_bulk::create_run(store, &plan, at)?,
        StoreCmd::CheckMarks { list, keys } => Msg::MarksGone {
            gone: store.unlisted(row_kind(list), &keys)?,
            list,
        },
    })
}

fn row_kind(list: MarkList) -> RowKind {
    match list {
        MarkList::Incidents => RowKind::Incidents,
        MarkList::DeadLetters => RowKind::DeadLetters,
    }
}

fn read_contract(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("contract {}: cannot read it: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("contract {}: not valid JSON: {e}", path.display()))
}

/// Runs shown in Activity: the newest few, each with its progress.
const RECENT_RUNS: usize = 20;

fn recent_runs(
    store: &Store,
) -> Result<Vec<(crate::domain::run::Run, crate::domain::run::RunProgress)>, crate::store::StoreError>
{
    let mut runs = store.runs()?;
    runs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    runs.truncate(RECENT_RUNS);
    runs.into_iter()
        .map(|run| {
            let progress = store.run_progress(&run.id, None)?;
            Ok((run, progress))
        })
        .collect()
}
