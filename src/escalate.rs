//! Taking an escalation step: notify the step's targets through every notifier, escalate on the
//! upstream when it has an escalate endpoint (the Connector API), and record the level reached
//! for the incident's ack cycle — all in one store transaction, so a step is taken once.
//! Shared by `triage watch` (steps that came due) and the operator's `e` (the next step, now).

use crate::config::{Config, RoutingConfig};
use crate::domain::escalation::{EscalationChain, NotifyTarget};
use crate::domain::routing::{IncidentFacts, StoredRoute};
use crate::domain::sla::{ClockState, SlaInput, clock};
use crate::domain::{Action, ActionKind, Incident, OutboxEntry, Timestamp, UpstreamKind};
use crate::notify::Notification;
use crate::store::{EscalationStepRecord, Store, StoreError};

/// What the operator's escalate did.
#[derive(Debug, Clone, PartialEq)]
pub enum Escalation {
    /// The step was taken: the level reached and the actions enqueued.
    Taken {
        level: u32,
        why: String,
        actions: Vec<OutboxEntry>,
    },
    /// The chain has no step after the level already reached.
    LastStepReached { level: u32, chain: String },
    /// Someone (a watcher, another console) took that step at the same moment.
    AlreadyTaken { level: u32 },
}

/// The route stored with the incident at sync, else the one the current config gives.
pub fn route_of(
    store: &Store,
    config: &Config,
    routing: &RoutingConfig,
    incident: &Incident,
) -> Result<StoredRoute, StoreError> {
    Ok(
        match store.incident_route(&incident.upstream, &incident.id)? {
            Some(route) => route,
            None => StoredRoute::from_decision(
                &routing.route(&IncidentFacts::from_incident(incident), config),
            ),
        },
    )
}

/// What one look at an incident's clock (`triage watch`) did and when it needs the next one.
#[derive(Debug, Default)]
pub struct DueSteps {
    /// The steps taken, with the actions each enqueued.
    pub taken: Vec<(u32, Vec<OutboxEntry>)>,
    /// When the clock next needs a look: the next chain step's time, or when the ack expires;
    /// `None` when nothing can come due until the incident (or its route) changes.
    pub next_look: Option<Timestamp>,
}

/// Takes every step of the incident's chain that is due at `now` and not taken yet in this ack
/// cycle (`triage watch`). Returns the steps taken and when to look again.
pub fn take_due_steps(
    store: &mut Store,
    config: &Config,
    routing: &RoutingConfig,
    incident: &Incident,
    operator: &str,
    now: Timestamp,
) -> Result<DueSteps, StoreError> {
    let route = route_of(store, config, routing, incident)?;
    let Some(chain) = route.chain.as_deref().and_then(|name| routing.chain(name)) else {
        return Ok(DueSteps::default());
    };
    let sla = std::time::Duration::from_secs(route.ack_sla_secs);
    let c = clock(&SlaInput::from_incident(incident), sla, Some(chain), now);
    let recorded = store.escalation_level(&incident.upstream, &incident.id, c.cycle_started_at)?;
    let mut taken = Vec::new();
    for level in (recorded.max(c.level_reached) + 1)..=c.level_due {
        let plan = StepPlan {
            config,
            routing,
            chain: Some(chain),
            route: &route,
            incident,
            level,
            deadline: c.ack_deadline,
        };
        let why = format!(
            "no ack by {}: {}",
            c.ack_deadline.format("%H:%M:%S UTC"),
            plan.what()
        );
        if let Some(entries) = plan.record(store, c.cycle_started_at, operator, &why, None, now)? {
            taken.push((level, entries));
        }
    }
    // The next step after every due one (never later than the next one the loop above would
    // take); an acked clock restarts when its ack expires; a suppressed or resolved one waits
    // for a change.
    let next_look = match c.state {
        ClockState::Running => c.next_step.map(|step| step.at),
        ClockState::Acknowledged { expires_at } => expires_at,
        ClockState::Suppressed | ClockState::Resolved => None,
    };
    Ok(DueSteps { taken, next_look })
}

/// Takes the next step now (the operator pressed `e` or ran `triage escalate`): the chain's next
/// step, or — without a chain — the backup is notified and the upstream escalated.
pub fn escalate_now(
    store: &mut Store,
    config: &Config,
    routing: &RoutingConfig,
    incident: &Incident,
    operator: &str,
    note: Option<&str>,
    now: Timestamp,
) -> Result<Escalation, StoreError> {
    let route = route_of(store, config, routing, incident)?;
    let chain = route.chain.as_deref().and_then(|name| routing.chain(name));
    let sla = std::time::Duration::from_secs(route.ack_sla_secs);
    let c = clock(&SlaInput::from_incident(incident), sla, chain, now);
    let recorded = store.escalation_level(&incident.upstream, &incident.id, c.cycle_started_at)?;
    let level = recorded.max(c.level_reached) + 1;
    if let Some(chain) = chain
        && chain.step_for_level(level).is_none()
    {
        return Ok(Escalation::LastStepReached {
            level: level - 1,
            chain: chain.name.clone(),
        });
    }
    let plan = StepPlan {
        config,
        routing,
        chain,
        route: &route,
        incident,
        level,
        deadline: c.ack_deadline,
    };
    let mut why = format!("escalated by {operator}: {}", plan.what());
    if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
        why.push_str(&format!(" — {note}"));
    }
    Ok(
        match plan.record(store, c.cycle_started_at, operator, &why, note, now)? {
            Some(actions) => Escalation::Taken {
                level,
                why,
                actions,
            },
            None => Escalation::AlreadyTaken { level },
        },
    )
}

/// One step of one incident, and the actions it turns into.
struct StepPlan<'a> {
    config: &'a Config,
    routing: &'a RoutingConfig,
    chain: Option<&'a EscalationChain>,
    route: &'a StoredRoute,
    incident: &'a Incident,
    level: u32,
    deadline: Timestamp,
}

impl StepPlan<'_> {
    /// "level 2 of chain major → bridge" (+ contingency note).
    fn what(&self) -> String {
        let targets: Vec<String> = self.targets().iter().map(ToString::to_string).collect();
        let mut what = match self.chain {
            Some(chain) => format!(
                "level {} of chain {} → {}",
                self.level,
                chain.name,
                targets.join(", ")
            ),
            None => format!(
                "level {} (no chain: backup) → {}",
                self.level,
                targets.join(", ")
            ),
        };
        let contingency = self
            .chain
            .and_then(|c| c.step_for_level(self.level))
            .and_then(|s| s.contingency);
        if let Some(contingency) = contingency {
            let kind = self
                .config
                .upstream(&self.incident.upstream)
                .map(|u| u.kind.as_str())
                .unwrap_or("unknown");
            what.push_str(&format!(
                "; contingency {} not supported by {kind} upstreams yet",
                contingency.as_str()
            ));
        }
        what
    }

    fn targets(&self) -> Vec<NotifyTarget> {
        match self.chain {
            Some(chain) => chain
                .step_for_level(self.level)
                .map(|s| s.notify.clone())
                .unwrap_or_default(),
            None => vec![NotifyTarget::Backup],
        }
    }

    /// "Maria Lopez (@maria)", a team with its channel, the bridge, the vendor contact.
    fn recipient(&self, target: &NotifyTarget) -> Option<String> {
        let named = |id: &str| -> String {
            if let Some(p) = self.config.person(id) {
                return match &p.handle {
                    Some(handle) => format!("{} ({handle})", p.name),
                    None => p.name.clone(),
                };
            }
            match self.config.teams.iter().find(|t| t.id == id) {
                Some(t) => match &t.channel {
                    Some(channel) => format!("{} ({channel})", t.name),
                    None => t.name.clone(),
                },
                None => id.to_string(),
            }
        };
        match target {
            NotifyTarget::Owner => self.route.owner.as_deref().map(named),
            NotifyTarget::Backup => self.route.backup.as_deref().map(named),
            NotifyTarget::Team(id) | NotifyTarget::Person(id) => Some(named(id)),
            NotifyTarget::Bridge => self
                .routing
                .bridge
                .as_ref()
                .map(|b| format!("incident bridge {b}")),
            NotifyTarget::Vendor => self
                .routing
                .vendor_contacts
                .get(&self.incident.connector)
                .map(|v| format!("vendor {v}")),
        }
    }

    /// The team of each target: a team itself, a person's team, the owner's or backup's team;
    /// the bridge and vendors have none. Deduplicated, in target order.
    fn teams(&self) -> Vec<String> {
        let team_of = |id: &str| self.config.team_of(id).map(str::to_string);
        let mut teams: Vec<String> = Vec::new();
        for target in self.targets() {
            let team = match &target {
                NotifyTarget::Owner => self.route.owner.as_deref().and_then(team_of),
                NotifyTarget::Backup => self.route.backup.as_deref().and_then(team_of),
                NotifyTarget::Team(id) | NotifyTarget::Person(id) => team_of(id),
                NotifyTarget::Bridge | NotifyTarget::Vendor => None,
            };
            if let Some(team) = team.filter(|t| !teams.contains(t)) {
                teams.push(team);
            }
        }
        teams
    }

    fn actions(&self, operator: &str, reason: &str, note: Option<&str>) -> Vec<Action> {
        let name = |id: &Option<String>| {
            id.as_deref().map(|id| {
                self.recipient(&NotifyTarget::Person(id.to_string()))
                    .unwrap_or_default()
            })
        };
        let notification = Notification {
            upstream: self.incident.upstream.clone(),
            incident: self.incident.id.clone(),
            connector: self.incident.connector.clone(),
            severity: self.incident.severity.as_str().to_string(),
            title: self.incident.title.clone(),
            reason: reason.to_string(),
            recipients: self
                .targets()
                .iter()
                .filter_map(|t| self.recipient(t))
                .collect(),
            owner: name(&self.route.owner),
            backup: name(&self.route.backup),
            ack_deadline: Some(self.deadline),
            escalation_level: self.level,
            runbook: self.route.runbook.clone(),
            ack_command: format!("triage ack {}:{}", self.incident.upstream, self.incident.id),
        };
        let payload = serde_json::to_vec(&notification).ok();
        let target = format!("{}:{}", self.incident.upstream, self.incident.id);
        let mut actions: Vec<Action> = self
            .routing
            .notifiers
            .iter()
            .map(|n| Action {
                kind: ActionKind::Notify,
                upstream: n.id.clone(),
                target: target.clone(),
                operator: operator.to_string(),
                note: Some(reason.to_string()),
                level: Some(self.level),
                payload: payload.clone(),
                destination: None,
                drop_ttl: false,
            })
            .collect();
        // The Connector API has an escalate endpoint; Alertmanager and RabbitMQ do not.
        if self
            .config
            .upstream(&self.incident.upstream)
            .is_some_and(|u| u.kind == UpstreamKind::ConnectorApi)
        {
            actions.push(Action {
                kind: ActionKind::Escalate,
                upstream: self.incident.upstream.clone(),
                target: self.incident.id.clone(),
                operator: operator.to_string(),
                note: Some(
                    note.map(str::to_string)
                        .unwrap_or_else(|| reason.to_string()),
                ),
                level: Some(self.level),
                payload: None,
                destination: None,
                drop_ttl: false,
            });
        }
        actions
    }

    fn record(
        &self,
        store: &mut Store,
        cycle_started_at: Timestamp,
        operator: &str,
        why: &str,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<Vec<OutboxEntry>>, StoreError> {
        let actions = self.actions(operator, why, note);
        let teams = self.teams();
        let record = EscalationStepRecord {
            upstream: &self.incident.upstream,
            incident: &self.incident.id,
            cycle_started_at,
            level: self.level,
            operator,
            why,
            actions: &actions,
            teams: &teams,
        };
        store.record_escalation(&record, now)
    }
}
