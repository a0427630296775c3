//! Prometheus Alertmanager (API v2) as an upstream: alerts become incidents (grouped by
//! fingerprint), an ack is a silence with the operator as author (the karma convention), un-ack
//! and resolve expire the silences that ack exactly that alert (broader silences such as
//! maintenance windows are left alone and named), resolve also ends the alert. An alert muted by
//! an inhibition rule is `suppressed`. Alertmanager has no dead letters.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::http::HttpClient;
use super::tls::TrustedCa;
use super::{ActionResult, FetchPage, Upstream, UpstreamError};
use crate::domain::{
    Action, ActionKind, ActionOutcome, ConnectorReport, DeadLetter, Incident, IncidentStatus, Link,
    Severity, Timestamp, UpstreamKind, sanitize,
};

/// How long an ack silences the alert when no chain sets an ack timeout.
pub const DEFAULT_ACK_TTL: Duration = Duration::from_secs(2 * 3600);
/// Marker tying a silence to the triage action that created it (idempotency).
const KEY_MARKER: &str = "triage-key:";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub fingerprint: String,
    pub status: AlertStatus,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    #[serde(default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    pub id: String,
    pub status: SilenceStatus,
    pub matchers: Vec<Matcher>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SilenceStatus {
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence<'a> {
    matchers: Vec<Matcher>,
    starts_at: Timestamp,
    ends_at: Timestamp,
    created_by: &'a str,
    comment: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert<'a> {
    labels: &'a BTreeMap<String, String>,
    annotations: &'a BTreeMap<String, String>,
    starts_at: Timestamp,
    ends_at: Timestamp,
}

/// How long an ack of this incident silences it (the route's chain `ack_timeout`), when known.
pub type AckTtl = std::sync::Arc<dyn Fn(&Incident) -> Option<Duration> + Send + Sync>;

pub struct Alertmanager {
    http: HttpClient,
    ack_ttl: Duration,
    ack_ttl_for: Option<AckTtl>,
}

impl Alertmanager {
    pub fn new(
        id: &str,
        url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<Self, UpstreamError> {
        Ok(Alertmanager {
            http: HttpClient::new(id, url, timeout, token)?,
            ack_ttl: DEFAULT_ACK_TTL,
            ack_ttl_for: None,
        })
    }

    /// The same upstream, trusting `ca` (its `ca_file`) for an `https://` URL on top of the
    /// system roots.
    pub fn trusting(self, ca: TrustedCa) -> Result<Self, UpstreamError> {
        Ok(Alertmanager {
            http: self.http.trusting(ca)?,
            ..self
        })
    }

    pub fn with_ack_ttl(mut self, ttl: Duration) -> Self {
        self.ack_ttl = ttl;
        self
    }

    /// Silences last as long as the incident's ack timeout says (fallback: the fixed TTL).
    pub fn with_ack_ttl_for(mut self, ttl_for: AckTtl) -> Self {
        self.ack_ttl_for = Some(ttl_for);
        self
    }

    async fn alerts(&self) -> Result<Vec<GettableAlert>, UpstreamError> {
        let query = [
            ("active", "true"),
            ("silenced", "true"),
            ("inhibited", "true"),
            ("unprocessed", "true"),
        ];
        self.http.get_json(&["api", "v2", "alerts"], &query).await
    }

    async fn silences(&self) -> Result<Vec<GettableSilence>, UpstreamError> {
        self.http.get_json(&["api", "v2", "silences"], &()).await
    }

    /// The alert with `fingerprint`, and every current alert (to name what inhibits it).
    async fn find_alert(
        &self,
        fingerprint: &str,
    ) -> Result<(GettableAlert, Vec<GettableAlert>), UpstreamError> {
        let alerts = self.alerts().await?;
        alerts
            .iter()
            .find(|a| a.fingerprint == fingerprint)
            .cloned()
            .map(|alert| (alert, alerts))
            .ok_or_else(|| UpstreamError::Status {
                upstream: self.http.upstream().to_string(),
                method: "GET".into(),
                url: "api/v2/alerts".into(),
                status: 404,
                message: format!(
                    "no active alert with fingerprint {}",
                    sanitize::line(fingerprint)
                ),
                retry_after: None,
            })
    }

    /// Active silences that cover `alert` (Alertmanager lists them in `silencedBy`).
    fn acks_of<'a>(
        alert: &GettableAlert,
        silences: &'a [GettableSilence],
    ) -> Vec<&'a GettableSilence> {
        let mut acks: Vec<&GettableSilence> = silences
            .iter()
            .filter(|s| s.status.state == "active" && alert.status.silenced_by.contains(&s.id))
            .collect();
        acks.sort_by_key(|s| s.starts_at);
        acks
    }

    /// True when `silence` acks exactly `alert`: one `=` matcher per label of the alert, nothing
    /// else (what triage creates). A broader silence covers other alerts too.
    fn acks_exactly(alert: &GettableAlert, silence: &GettableSilence) -> bool {
        silence.matchers.len() == alert.labels.len()
            && silence
                .matchers
                .iter()
                .all(|m| m.is_equal && !m.is_regex && alert.labels.get(&m.name) == Some(&m.value))
    }

    /// "Suppressed: inhibited by …" naming the inhibiting alerts that are still listed.
    fn inhibition_note(alert: &GettableAlert, alerts: &[GettableAlert]) -> Option<String> {
        if alert.status.inhibited_by.is_empty() {
            return None;
        }
        let names: Vec<String> = alert
            .status
            .inhibited_by
            .iter()
            .map(|fp| match alerts.iter().find(|a| &a.fingerprint == fp) {
                Some(source) => format!(
                    "{} on {} ({fp})",
                    source
                        .labels
                        .get("alertname")
                        .map_or("alert", String::as_str),
                    source
                        .labels
                        .get("connector")
                        .map_or("(no connector)", String::as_str)
                ),
                None => format!("alert {fp}"),
            })
            .collect();
        Some(format!(
            "Suppressed by Alertmanager: inhibited by {}",
            names.join(", ")
        ))
    }

    fn incident(
        &self,
        alert: &GettableAlert,
        silences: &[GettableSilence],
        alerts: &[GettableAlert],
    ) -> Incident {
        let label = |k: &str| alert.labels.get(k).cloned();
        // Only a silence of exactly this alert is someone's ack; a broader one (a maintenance
        // window) mutes it without anyone acknowledging it.
        let covering = Self::acks_of(alert, silences);
        let ack = covering.iter().find(|s| Self::acks_exactly(alert, s));
        let broad = covering.iter().find(|s| !Self::acks_exactly(alert, s));
        let muted = match (ack, broad) {
            (None, Some(silence)) => Some(silence_note(silence, Utc::now())),
            _ => None,
        };
        let inhibition = Self::inhibition_note(alert, alerts);
        let updated_at = covering
            .iter()
            .map(|s| s.updated_at)
            .chain([alert.updated_at, alert.starts_at])
            .max();
        let mut links = Vec::new();
        if let Some(url) = alert.annotations.get("runbook_url") {
            links.push(Link {
                title: "runbook".into(),
                url: url.clone(),
            });
        }
        if let Some(url) = alert.generator_url.as_ref().filter(|u| !u.is_empty()) {
            links.push(Link {
                title: "source".into(),
                url: url.clone(),
            });
        }
        let alertname = label("alertname").unwrap_or_else(|| "alert".into());
        Incident {
            upstream: self.http.upstream().to_string(),
            id: alert.fingerprint.clone(),
            connector: label("connector").unwrap_or_else(|| "(none)".into()),
            kind: alertname.clone(),
            severity: label("severity")
                .map(|s| Severity::parse_lenient(&s))
                .unwrap_or(Severity::Warning),
            status: match (ack, muted.is_some() || inhibition.is_some()) {
                (Some(_), _) => IncidentStatus::Acknowledged,
                (None, true) => IncidentStatus::Suppressed,
                (None, false) => IncidentStatus::Open,
            },
            title: alert
                .annotations
                .get("summary")
                .cloned()
                .unwrap_or(alertname),
            detail: {
                let description = alert.annotations.get("description").cloned();
                [muted, description, inhibition]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("\n\n")
            },
            opened_at: alert.starts_at,
            updated_at: updated_at.unwrap_or(alert.updated_at),
            acked_by: ack.map(|s| s.created_by.clone()),
            acked_at: ack.map(|s| s.starts_at),
            resolved_at: None,
            ack_deadline: None,
            escalation_level: 0,
            labels: alert.labels.clone(),
            links,
        }
    }

    async fn ack(&self, action: &Action, key: &str) -> Result<ActionResult, UpstreamError> {
        let (alert, alerts) = self.find_alert(&action.target).await?;
        let silences = self.silences().await?;
        let marker = format!("{KEY_MARKER}{key}");
        // The same action sent twice (answer lost) must not create a second silence.
        let existing = silences
            .iter()
            .find(|s| s.status.state == "active" && s.comment.contains(&marker));
        let silence_id = match existing {
            Some(s) => s.id.clone(),
            None => {
                let now = Utc::now();
                let for_incident = self
                    .ack_ttl_for
                    .as_ref()
                    .and_then(|f| f(&self.incident(&alert, &silences, &alerts)));
                let ttl = chrono::Duration::from_std(for_incident.unwrap_or(self.ack_ttl))
                    .unwrap_or(chrono::Duration::hours(2));
                let note = action
                    .note
                    .clone()
                    .unwrap_or_else(|| "acknowledged in triage".into());
                let body = PostableSilence {
                    matchers: alert
                        .labels
                        .iter()
                        .map(|(k, v)| Matcher {
                            name: k.clone(),
                            value: v.clone(),
                            is_regex: false,
                            is_equal: true,
                        })
                        .collect(),
                    starts_at: now,
                    ends_at: now + ttl,
                    created_by: &action.operator,
                    comment: format!("ACK: {note} ({marker})"),
                };
                let created: SilenceCreated = self
                    .http
                    .post_json(&["api", "v2", "silences"], &body)
                    .await?;
                created.silence_id
            }
        };
        let mut incident = self.incident(&alert, &silences, &alerts);
        incident.status = IncidentStatus::Acknowledged;
        incident.acked_by = Some(action.operator.clone());
        incident.acked_at.get_or_insert(Utc::now());
        incident.updated_at = Utc::now();
        let outcome = ActionOutcome {
            ok: true,
            summary: format!(
                "acknowledged by {} (silence {silence_id})",
                sanitize::line(&action.operator)
            ),
            response: serde_json::json!({ "silenceID": silence_id }),
        };
        Ok(ActionResult {
            outcome,
            incident: Some(incident),
            dead_letter: None,
            letter_state: None,
        })
    }

    /// Expires the silences that ack exactly `alert`; returns their ids.
    async fn expire_acks(
        &self,
        alert: &GettableAlert,
        silences: &[GettableSilence],
    ) -> Result<Vec<String>, UpstreamError> {
        let mut expired = Vec::new();
        for silence in Self::acks_of(alert, silences) {
            if Self::acks_exactly(alert, silence) {
                self.expire_silence(&silence.id).await?;
                expired.push(silence.id.clone());
            }
        }
        Ok(expired)
    }

    /// Ends the ack: expires the silences that ack exactly this alert. Broader silences that
    /// also cover it (maintenance windows) stay; the answer is then not ok and names them.
    async fn unack(&self, action: &Action) -> Result<ActionResult, UpstreamError> {
        let (alert, alerts) = self.find_alert(&action.target).await?;
        let silences = self.silences().await?;
        let expired = self.expire_acks(&alert, &silences).await?;
        let remaining: Vec<GettableSilence> = Self::acks_of(&alert, &silences)
            .into_iter()
            .filter(|s| !expired.contains(&s.id))
            .cloned()
            .collect();
        let mut incident = self.incident(&alert, &remaining, &alerts);
        incident.updated_at = Utc::now();
        let response = serde_json::json!({
            "expired_silences": expired,
            "remaining_silences": remaining.iter().map(|s| &s.id).collect::<Vec<_>>(),
        });
        let outcome = if remaining.is_empty() {
            // Alertmanager still lists the expired silences in `silencedBy` for a moment.
            incident.acked_by = None;
            incident.acked_at = None;
            if incident.status == IncidentStatus::Acknowledged {
                incident.status = IncidentStatus::Open;
            }
            ActionOutcome {
                ok: true,
                summary: match expired.len() {
                    0 => "was not acknowledged in Alertmanager: nothing to expire".into(),
                    n => format!("open again; {n} silence(s) expired"),
                },
                response,
            }
        } else {
            let names: Vec<String> = remaining
                .iter()
                .map(|s| {
                    format!(
                        "{} by {} until {}",
                        s.id,
                        s.created_by,
                        s.ends_at.format("%Y-%m-%d %H:%M")
                    )
                })
                .collect();
            ActionOutcome {
                ok: false,
                summary: sanitize::line(&format!(
                    "{} silence(s) expired, but broader silences still cover the alert: {} \
                     (they cover other alerts too; expire them in Alertmanager if meant)",
                    expired.len(),
                    names.join("; ")
                )),
                response,
            }
        };
        Ok(ActionResult {
            outcome,
            incident: Some(incident),
            dead_letter: None,
            letter_state: None,
        })
    }

    /// Ends the alert in Alertmanager and expires the silences that acked exactly it.
    async fn resolve(&self, action: &Action) -> Result<ActionResult, UpstreamError> {
        let (alert, _) = self.find_alert(&action.target).await?;
        let silences = self.silences().await?;
        let expired = self.expire_acks(&alert, &silences).await?;
        let now = Utc::now();
        let ended = [PostableAlert {
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: alert.starts_at,
            ends_at: now,
        }];
        self.http
            .post_ignoring_body(&["api", "v2", "alerts"], &ended)
            .await?;
        let mut incident = self.incident(&alert, &[], &[]);
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(now);
        incident.updated_at = now;
        let outcome = ActionOutcome {
            ok: true,
            summary: format!("resolved; {} silence(s) expired", expired.len()),
            response: serde_json::json!({ "expired_silences": expired }),
        };
        Ok(ActionResult {
            outcome,
            incident: Some(incident),
            dead_letter: None,
            letter_state: None,
        })
    }

    /// Expires a silence; one Alertmanager no longer knows (it answers 500 "silence not found")
    /// counts as already gone.
    pub async fn expire_silence(&self, id: &str) -> Result<(), UpstreamError> {
        match self.http.delete(&["api", "v2", "silence", id]).await {
            Err(UpstreamError::Status {
                status: 500 | 404,
                message,
                ..
            }) if message.contains("not found") => Ok(()),
            other => other,
        }
    }
}

#[async_trait]
impl Upstream for Alertmanager {
    fn id(&self) -> &str {
        self.http.upstream()
    }

    fn kind(&self) -> UpstreamKind {
        UpstreamKind::Alertmanager
    }

    fn incidents_are_snapshot(&self) -> bool {
        true
    }

    async fn connectors(&self) -> Result<Vec<ConnectorReport>, UpstreamError> {
        Ok(Vec::new())
    }

    async fn incidents(
        &self,
        _since: Option<Timestamp>,
        _cursor: Option<&str>,
    ) -> Result<FetchPage<Incident>, UpstreamError> {
        let (alerts, silences) = tokio::try_join!(self.alerts(), self.silences())?;
        let items = alerts
            .iter()
            .map(|a| self.incident(a, &silences, &alerts))
            .collect();
        Ok(FetchPage {
            items,
            next_cursor: None,
        })
    }

    async fn dead_letters(
        &self,
        _since: Option<Timestamp>,
        _cursor: Option<&str>,
    ) -> Result<FetchPage<DeadLetter>, UpstreamError> {
        Ok(FetchPage::empty())
    }

    async fn perform(
        &self,
        action: &Action,
        idempotency_key: &str,
    ) -> Result<ActionResult, UpstreamError> {
        match action.kind {
            ActionKind::Ack => self.ack(action, idempotency_key).await,
            ActionKind::Unack => self.unack(action).await,
            ActionKind::Resolve => self.resolve(action).await,
            ActionKind::Escalate => Err(UpstreamError::Unsupported {
                upstream: self.http.upstream().to_string(),
                message:
                    "Alertmanager has no escalate endpoint; escalation runs triage's notifiers"
                        .into(),
            }),
            ActionKind::Replay | ActionKind::Discard | ActionKind::Notify => {
                Err(UpstreamError::Unsupported {
                    upstream: self.http.upstream().to_string(),
                    message: "Alertmanager holds no dead letters".into(),
                })
            }
        }
    }
}

/// "Silenced by carol@maint until 14:00: CRM maintenance window" (UTC; the first line of the
/// detail of an alert muted by a broader silence; `domain::incident::silence_note` finds it).
fn silence_note(silence: &GettableSilence, now: Timestamp) -> String {
    let until = if silence.ends_at - now < chrono::Duration::hours(20) {
        silence.ends_at.format("%H:%M")
    } else {
        silence.ends_at.format("%Y-%m-%d %H:%M")
    };
    let comment = silence.comment.trim();
    let mut note = format!(
        "{}{} until {until}",
        crate::domain::SILENCED_BY,
        sanitize::line(&silence.created_by)
    );
    if !comment.is_empty() {
        note.push_str(&format!(": {}", sanitize::line(comment)));
    }
    note
}
