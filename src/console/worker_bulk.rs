//! The store thread's side of actions on marks: looking marked incidents up (skipping what an
//! action does not apply to, with the reason) and queueing many actions, each like a single one.

use super::actions::{incident_action_for, refusal};
use super::bulk::BulkTarget;
use super::marks::MarkKey;
use super::msg::{Msg, StoreCmd};
use super::worker::{EscalationContext, execute_with};
use crate::domain::{ActionKind, IncidentStatus, OutboxState, Timestamp, sanitize};
use std::sync::Arc;

use super::runs::{CONSOLE_MAX_FAILURES, CONSOLE_STAGES, FrozenPlan};
use crate::domain::run::{FailureLimit, parse_stages};
use crate::store::{Store, StoreError};
use crate::sync::runs::{DEFAULT_CONCURRENCY, RunOptions, new_run, plan};

/// The marked incidents `kind` applies to; the others with the reason; marks of incidents gone.
pub fn prepare_incidents(
    store: &Store,
    kind: ActionKind,
    keys: &[MarkKey],
    operator: &str,
) -> Result<Msg, StoreError> {
    let (mut targets, mut skipped, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for (upstream, id) in keys {
        let Some(incident) = store.incident(upstream, id)? else {
            gone.push((upstream.clone(), id.clone()));
            continue;
        };
        if incident.status == IncidentStatus::Resolved {
            gone.push((upstream.clone(), id.clone()));
            continue;
        }
        if let Some(why) = refusal(kind, &incident) {
            skipped.push(why);
            continue;
        }
        let pending = store
            .actions_for_target(upstream, id, 1)?
            .into_iter()
            .find(|e| e.state == OutboxState::Pending);
        if let Some(entry) = pending {
            skipped.push(format!(
                "{} of {} is already pending",
                entry.action.kind.as_str(),
                sanitize::line(id)
            ));
            continue;
        }
        targets.push(BulkTarget {
            connector: incident.connector.clone(),
            action: incident_action_for(kind, &incident, operator),
        });
    }
    Ok(Msg::IncidentBulkReady {
        kind,
        targets,
        skipped,
        gone,
    })
}

/// Queues each action as a single `Enqueue` would; what fails is reported, the rest goes on.
pub fn enqueue_many(
    store: &mut Store,
    kind: ActionKind,
    actions: Vec<crate::domain::Action>,
    at: Timestamp,
    escalation: Option<&EscalationContext>,
) -> Msg {
    let (mut entries, mut problems) = (Vec::new(), Vec::new());
    for action in actions {
        let target = sanitize::line(&action.target);
        match execute_with(store, StoreCmd::Enqueue { action, at }, escalation) {
            Ok(Msg::ActionEnqueued(entry)) => entries.push(*entry),
            Ok(Msg::Escalated {
                entries: taken,
                summary,
            }) => {
                if taken.is_empty() {
                    problems.push(format!("{target}: {}", sanitize::line(&summary)));
                }
                entries.extend(taken);
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{target}: {e}")),
        }
    }
    Msg::BulkEnqueued {
        kind,
        entries,
        problems,
    }
}

/// Plans a run of the marked dead letters with the console's stages and failure limit.
pub fn plan_run(
    store: &Store,
    config: &crate::config::Config,
    kind: ActionKind,
    keys: &[MarkKey],
    operator: &str,
) -> Result<Msg, StoreError> {
    let (mut letters, mut gone) = (Vec::new(), Vec::new());
    for (upstream, id) in keys {
        match store.dead_letter(upstream, id)? {
            Some(letter) => letters.push(letter),
            None => gone.push((upstream.clone(), id.clone())),
        }
    }
    let options = RunOptions {
        kind,
        selection: format!("{} marked in the console", keys.len()),
        operator: operator.to_string(),
        stages: parse_stages(CONSOLE_STAGES).unwrap_or_default(),
        max_failures: FailureLimit::parse(CONSOLE_MAX_FAILURES)
            .unwrap_or(FailureLimit::Percent(10.0)),
        rate: None,
        concurrency: DEFAULT_CONCURRENCY,
        force: false,
        destination: None,
        drop_ttl: false,
    };
    let (plan, members) = plan(store, config, &letters, &options)?;
    Ok(Msg::RunPlanned {
        plan: FrozenPlan(Arc::new((plan, members, options))),
        gone,
    })
}

/// Creates the confirmed run (its members frozen as planned).
pub fn create_run(
    store: &mut Store,
    frozen: &FrozenPlan,
    at: Timestamp,
) -> Result<Msg, StoreError> {
    let (plan, members, options) = &*frozen.0;
    let run = new_run(plan, options, at);
    store.create_run(&run, members)?;
    Ok(Msg::RunCreated {
        id: run.id.clone(),
        kind: plan.kind,
        total: plan.to_send,
        stages: plan.stages.len(),
    })
}
