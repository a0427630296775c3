//! Evaluating a query on one row. The same code runs in Rust on loaded rows and inside SQLite
//! (the store's SQL function builds the fields from columns), so both always agree.

use std::borrow::Cow;
use std::cell::OnceCell;

use super::{AgeCmp, Query, RegexField, StatusValue, Term, TermKind};
use crate::domain::search::{contains, contains_text};
use crate::domain::{DeadLetter, Incident, Timestamp};

/// A dead letter's headers as the caller has them: parsed pairs, the store's JSON text
/// (`[["name","value"],…]`), or not loaded (a list row: matched as if it had none).
#[derive(Debug, Clone, Copy)]
pub enum Headers<'a> {
    Pairs(&'a [(String, String)]),
    Json(&'a str),
    NotLoaded,
}

/// What a query reads of a dead letter.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetterFields<'a> {
    pub id: &'a str,
    pub connector: &'a str,
    pub error_code: &'a str,
    pub error_message: &'a str,
    pub headers: Headers<'a>,
    /// The whole payload (a list row has only its preview).
    pub payload: &'a [u8],
    /// `DeadLetterState::as_str`.
    pub state: &'a str,
    pub last_failed_ms: i64,
}

/// What a query reads of an incident.
#[derive(Debug, Clone, Copy)]
pub struct IncidentFields<'a> {
    pub id: &'a str,
    pub connector: &'a str,
    pub title: &'a str,
    pub kind: &'a str,
    /// `Severity::as_str`, `IncidentStatus::as_str`.
    pub severity: &'a str,
    pub status: &'a str,
    pub acked_by: Option<&'a str>,
    pub opened_ms: i64,
    /// The routed owner (`StoredRoute::owner`), `None` while unrouted or unowned.
    pub owner: Option<&'a str>,
}

impl<'a> DeadLetterFields<'a> {
    pub fn of(d: &'a DeadLetter) -> Self {
        DeadLetterFields {
            id: &d.id,
            connector: &d.connector,
            error_code: &d.error.code,
            error_message: &d.error.message,
            headers: Headers::Pairs(&d.headers),
            payload: &d.payload,
            state: d.state.as_str(),
            last_failed_ms: d.last_failed_at.timestamp_millis(),
        }
    }
}

impl<'a> IncidentFields<'a> {
    pub fn of(i: &'a Incident, owner: Option<&'a str>) -> Self {
        IncidentFields {
            id: &i.id,
            connector: &i.connector,
            title: &i.title,
            kind: &i.kind,
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            acked_by: i.acked_by.as_deref(),
            opened_ms: i.opened_at.timestamp_millis(),
            owner,
        }
    }
}

/// The headers in both forms, each made at most once per row and only when a term needs it.
struct HeaderForms<'a> {
    source: Headers<'a>,
    json: OnceCell<Cow<'a, str>>,
    pairs: OnceCell<Cow<'a, [(String, String)]>>,
}

impl<'a> HeaderForms<'a> {
    fn new(source: Headers<'a>) -> Self {
        HeaderForms {
            source,
            json: OnceCell::new(),
            pairs: OnceCell::new(),
        }
    }

    /// The JSON text the store keeps, which the free text searches (as the `/` always did).
    fn json(&self) -> &str {
        self.json.get_or_init(|| match self.source {
            Headers::Json(text) => Cow::Borrowed(text),
            Headers::Pairs(pairs) => Cow::Owned(serde_json::to_string(pairs).unwrap_or_default()),
            Headers::NotLoaded => Cow::Borrowed(""),
        })
    }

    fn pairs(&self) -> &[(String, String)] {
        self.pairs.get_or_init(|| match self.source {
            Headers::Pairs(pairs) => Cow::Borrowed(pairs),
            // A row the store cannot decode is matched as having no headers.
            Headers::Json(text) => Cow::Owned(serde_json::from_str(text).unwrap_or_default()),
            Headers::NotLoaded => Cow::Borrowed(&[]),
        })
    }
}

/// The queue a dead letter died in: the `queue` of its most recent `x-death` entry (RabbitMQ
/// keeps the newest first, and triage flattens `x-death` to one header whose tables list their
/// keys in order: `[{count=3, exchange=crm, queue=hubspot.work, reason=rejected, …}, …]`);
/// without `x-death` (a Connector API letter, which dies in its own connector's queue) the
/// connector id. Only the header RabbitMQ writes counts: AMQP header names are case-sensitive,
/// and the adapter reads `x-death` alone (another `X-Death` is anyone's header).
pub fn dead_letter_origin<'a>(headers: &'a [(String, String)], connector: &'a str) -> &'a str {
    headers
        .iter()
        .find(|(name, _)| name == "x-death")
        .and_then(|(_, value)| {
            let start = ["{queue=", ", queue="]
                .iter()
                .filter_map(|key| value.find(key).map(|at| at + key.len()))
                .min()?;
            let rest = &value[start..];
            Some(&rest[..rest.find([',', '}']).unwrap_or(rest.len())])
        })
        .unwrap_or(connector)
}

/// `time` against an age or time-range term, in milliseconds like the store.
fn time_holds(kind: &TermKind, time_ms: i64, now_ms: i64) -> Option<bool> {
    Some(match kind {
        TermKind::Age { cmp, duration } => {
            let bound = now_ms.saturating_sub(duration.num_milliseconds());
            match cmp {
                AgeCmp::YoungerThan => time_ms > bound,
                AgeCmp::OlderThan => time_ms < bound,
            }
        }
        TermKind::Since(point) => time_ms >= point.ms(now_ms),
        TermKind::Until(point) => time_ms < point.ms(now_ms),
        _ => return None,
    })
}

impl Query {
    /// Does the dead letter match at `now`?
    pub fn matches_dead_letter(&self, d: &DeadLetter, now: Timestamp) -> bool {
        self.matches_dead_letter_fields(&DeadLetterFields::of(d), now.timestamp_millis(), |_| true)
    }

    /// Does the incident (routed to `owner`) match at `now`?
    pub fn matches_incident(&self, i: &Incident, owner: Option<&str>, now: Timestamp) -> bool {
        self.matches_incident_fields(
            &IncidentFields::of(i, owner),
            now.timestamp_millis(),
            |_| true,
        )
    }

    /// Do the terms `which` selects hold for the dead letter? (The store evaluates in SQL the
    /// terms it has columns for, and only the others here.)
    pub fn matches_dead_letter_fields(
        &self,
        f: &DeadLetterFields<'_>,
        now_ms: i64,
        which: impl Fn(&Term) -> bool,
    ) -> bool {
        let headers = HeaderForms::new(f.headers);
        let text = |needle: &str| {
            let n = needle.as_bytes();
            [f.id, f.connector, f.error_code, f.error_message]
                .iter()
                .any(|field| contains_text(field, needle))
                || contains_text(headers.json(), needle)
                || contains(f.payload, n)
        };
        let origin = || dead_letter_origin(headers.pairs(), f.connector);
        self.terms.iter().filter(|t| which(t)).all(|term| {
            let holds = match &term.kind {
                TermKind::Text(needle) => text(needle),
                TermKind::Connector(c) => f.connector == c,
                TermKind::Error(needle) => {
                    contains_text(f.error_code, needle) || contains_text(f.error_message, needle)
                }
                TermKind::Origin(queue) => origin() == queue,
                TermKind::Header { name, value } => headers.pairs().iter().any(|(n, v)| {
                    n.eq_ignore_ascii_case(name) && value.as_ref().is_none_or(|value| v == value)
                }),
                TermKind::Status(StatusValue::DeadLetter(s)) => f.state == s.as_str(),
                TermKind::Regex { field, regex } => match field {
                    RegexField::Text => {
                        [
                            f.id,
                            f.connector,
                            f.error_code,
                            f.error_message,
                            headers.json(),
                        ]
                        .iter()
                        .any(|s| regex.is_match(s.as_bytes()))
                            || regex.is_match(f.payload)
                    }
                    RegexField::Id => regex.is_match(f.id.as_bytes()),
                    RegexField::Connector => regex.is_match(f.connector.as_bytes()),
                    RegexField::Error => {
                        regex.is_match(f.error_code.as_bytes())
                            || regex.is_match(f.error_message.as_bytes())
                    }
                    RegexField::Origin => regex.is_match(origin().as_bytes()),
                    RegexField::Payload => regex.is_match(f.payload),
                    // Incident fields never parse for dead letters.
                    _ => false,
                },
                other => time_holds(other, f.last_failed_ms, now_ms).unwrap_or(false),
            };
            holds != term.negated
        })
    }

    /// Do the terms `which` selects hold for the incident?
    pub fn matches_incident_fields(
        &self,
        f: &IncidentFields<'_>,
        now_ms: i64,
        which: impl Fn(&Term) -> bool,
    ) -> bool {
        let texts = || {
            [f.id, f.connector, f.title, f.kind, f.severity, f.status]
                .into_iter()
                .chain(f.acked_by)
        };
        self.terms.iter().filter(|t| which(t)).all(|term| {
            let holds = match &term.kind {
                TermKind::Text(needle) => texts().any(|s| contains_text(s, needle)),
                TermKind::Connector(c) => f.connector == c,
                TermKind::Status(StatusValue::Incident(s)) => f.status == s.as_str(),
                TermKind::Severity(s) => f.severity == s.as_str(),
                TermKind::Owner(o) => f.owner.is_some_and(|owner| owner.eq_ignore_ascii_case(o)),
                TermKind::Regex { field, regex } => {
                    let is = |s: &str| regex.is_match(s.as_bytes());
                    match field {
                        RegexField::Text => texts().any(is),
                        RegexField::Id => is(f.id),
                        RegexField::Connector => is(f.connector),
                        RegexField::Title => is(f.title),
                        RegexField::Kind => is(f.kind),
                        RegexField::Owner => f.owner.is_some_and(is),
                        _ => false,
                    }
                }
                other => time_holds(other, f.opened_ms, now_ms).unwrap_or(false),
            };
            holds != term.negated
        })
    }
}
