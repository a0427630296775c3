//! The store thread's side of actions on marks: looking marked incidents up (skipping what an
//! action does not apply to, with the reason) and queueing many actions, each like a single one.

use super::actions::{incident_action_for, refusal};
use super::bulk::BulkTarget;
use super::marks::MarkKey;
use super::msg::{Msg, StoreCmd};
use super::worker::{EscalationContext, execute_with};
use crate::domain::{ActionKind, IncidentStatus, OutboxState, Timestamp, sanitize};
use crate::store::{Store, StoreError};

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
