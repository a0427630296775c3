//! `triage watch`'s evaluator: for every unresolved incident, run its SLA clock (route + chain)
//! and take each escalation step that has come due — notify through every notifier, escalate
//! on the upstream when it has an escalate endpoint, note contingencies — exactly once per ack
//! cycle. Only the holder of the store's `watch` lease evaluates; others stand by.

use chrono::Utc;

use super::StoreWriter;
use crate::config::{Config, RoutingConfig};
use crate::domain::escalation::{EscalationChain, NotifyTarget};
use crate::domain::routing::{IncidentFacts, StoredRoute};
use crate::domain::sla::{SlaInput, clock};
use crate::domain::{Action, ActionKind, Incident, IncidentStatus, Timestamp, UpstreamKind};
use crate::notify::Notification;
use crate::store::{EscalationStepRecord, IncidentPageQuery, PageDir, Store, StoreError};

/// The lock every watcher competes for.
pub const WATCH_LOCK: &str = "watch";
const PAGE: usize = 500;

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchSummary {
    pub incidents_checked: usize,
    pub steps_taken: usize,
    pub actions_enqueued: usize,
}

/// Evaluates every open or acknowledged incident at `now`. Call only while holding the lease.
pub async fn evaluate(
    config: &Config,
    routing: &RoutingConfig,
    store: &StoreWriter,
    operator: &str,
    now: Timestamp,
) -> Result<WatchSummary, StoreError> {
    let (config, routing, operator) = (config.clone(), routing.clone(), operator.to_string());
    store
        .call(move |s| evaluate_blocking(s, &config, &routing, &operator, now))
        .await
}

fn evaluate_blocking(
    store: &mut Store,
    config: &Config,
    routing: &RoutingConfig,
    operator: &str,
    now: Timestamp,
) -> Result<WatchSummary, StoreError> {
    let mut summary = WatchSummary::default();
    let mut query = IncidentPageQuery {
        statuses: vec![IncidentStatus::Open, IncidentStatus::Acknowledged],
        dir: PageDir::Forward,
        limit: PAGE,
        ..Default::default()
    };
    loop {
        let page = store.page_incidents(&query)?;
        let full = page.len() == PAGE;
        for (key, incident) in page {
            query.anchor = Some(key);
            summary.incidents_checked += 1;
            let route = match store.incident_route(&incident.upstream, &incident.id)? {
                Some(route) => route,
                None => StoredRoute::from_decision(
                    &routing.route(&IncidentFacts::from_incident(&incident), config),
                ),
            };
            let Some(chain) = route.chain.as_deref().and_then(|name| routing.chain(name)) else {
                continue;
            };
            let sla = std::time::Duration::from_secs(route.ack_sla_secs);
            let c = clock(&SlaInput::from_incident(&incident), sla, Some(chain), now);
            let recorded =
                store.escalation_level(&incident.upstream, &incident.id, c.cycle_started_at)?;
            let reached = recorded.max(c.level_reached);
            for level in (reached + 1)..=c.level_due {
                let step = Step {
                    config,
                    routing,
                    chain,
                    route: &route,
                    incident: &incident,
                    level,
                    deadline: c.ack_deadline,
                };
                let actions = step.actions(operator);
                let why = step.why();
                let record = EscalationStepRecord {
                    upstream: &incident.upstream,
                    incident: &incident.id,
                    cycle_started_at: c.cycle_started_at,
                    level,
                    operator,
                    why: &why,
                    actions: &actions,
                };
                if let Some(entries) = store.record_escalation(&record, Utc::now())? {
                    tracing::info!(incident = %incident.id, level, "watch: {why}");
                    summary.steps_taken += 1;
                    summary.actions_enqueued += entries.len();
                }
            }
        }
        if !full {
            return Ok(summary);
        }
    }
}

/// One escalation step of one incident, and what it turns into.
struct Step<'a> {
    config: &'a Config,
    routing: &'a RoutingConfig,
    chain: &'a EscalationChain,
    route: &'a StoredRoute,
    incident: &'a Incident,
    level: u32,
    deadline: Timestamp,
}

impl Step<'_> {
    fn why(&self) -> String {
        let targets: Vec<String> = self.targets().iter().map(ToString::to_string).collect();
        let mut why = format!(
            "no ack by {}: level {} of chain {} → {}",
            self.deadline.format("%H:%M:%S UTC"),
            self.level,
            self.chain.name,
            targets.join(", ")
        );
        if let Some(contingency) = self
            .chain
            .step_for_level(self.level)
            .and_then(|s| s.contingency)
        {
            let kind = self
                .config
                .upstream(&self.incident.upstream)
                .map(|u| u.kind.as_str())
                .unwrap_or("unknown");
            why.push_str(&format!(
                "; contingency {} not supported by {kind} upstreams yet",
                contingency.as_str()
            ));
        }
        why
    }

    fn targets(&self) -> Vec<NotifyTarget> {
        self.chain
            .step_for_level(self.level)
            .map(|s| s.notify.clone())
            .unwrap_or_default()
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

    fn actions(&self, operator: &str) -> Vec<Action> {
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
            reason: self.why(),
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
                note: Some(notification.reason.clone()),
                level: Some(self.level),
                payload: payload.clone(),
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
                note: Some(notification.reason.clone()),
                level: Some(self.level),
                payload: None,
            });
        }
        actions
    }
}
