//! The query language of the console's `/` and the CLI's `--where`, parsed in one place.
//!
//! A query is terms separated by spaces; every term must hold (AND); `!` before a term negates
//! it. Free text (a word, or `"several words"` in double quotes; `\"` and `\\` escape) matches
//! as the `/` search always did ([`super::search`]: substring, ASCII case ignored) on the row's
//! searchable fields. Field terms are `name:value` (value quoted for spaces):
//!
//! | term | dead letters | incidents |
//! |---|---|---|
//! | `connector:ID` | exact connector id | exact connector id |
//! | `error:TEXT` | substring of error code or message | — |
//! | `origin:QUEUE` | exact queue it died in (see [`dead_letter_origin`]) | — |
//! | `header:NAME=VALUE`, `header:NAME` | a header equal to VALUE (name: ASCII case ignored), or present | — |
//! | `status:S` | `dead`, `replayed`, `discarded` | `open`, `acknowledged` (`acked`), `suppressed`, `resolved` |
//! | `severity:S` | — | `critical`, `major`, `warning`, `info` (and aliases) |
//! | `owner:ID` | — | the routed owner (person id, ASCII case ignored) |
//! | `age:<2h`, `age:>1d` | last failure younger / older than | opened younger / older than |
//! | `since:T`, `until:T` | last failure at or after T / before T | opened at or after / before |
//! | `re:FIELD=REGEX` | FIELD: text, id, connector, error, origin, payload | FIELD: text, id, connector, title, kind, owner |
//!
//! `T` is RFC 3339 (`2026-12-01T02:10:00Z`), a date (`2026-12-01`, midnight UTC) or a duration
//! meaning that long ago (`2h`, `1d`, `30m`). A term that does not apply to the row kind is an
//! error, as is an unknown field: text containing a colon is quoted (`"ord:7"`).
//!
//! [`Query`] is evaluated here on a row ([`Query::matches_dead_letter`],
//! [`Query::matches_incident`]); the store runs the same query over every row (`store::query`).

mod eval;
mod parse;
#[cfg(test)]
mod tests;
mod values;

pub use eval::{DeadLetterFields, Headers, IncidentFields, dead_letter_origin};

use super::{DeadLetterState, IncidentStatus, Severity, Timestamp};

/// Which list a query selects from: the fields that apply differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    DeadLetters,
    Incidents,
}

impl RowKind {
    pub fn noun(self) -> &'static str {
        match self {
            RowKind::DeadLetters => "dead letters",
            RowKind::Incidents => "incidents",
        }
    }
}

/// A parsed query: its terms, all of which must hold. Built only by [`Query::parse`], so its
/// text always parses back to the same terms (the store hands the text to its SQL function).
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    kind: RowKind,
    terms: Vec<Term>,
}

/// One term, possibly negated (`!`), with the 1-based character column it starts at.
#[derive(Debug, Clone)]
pub struct Term {
    pub negated: bool,
    pub column: usize,
    pub kind: TermKind,
}

#[derive(Debug, Clone)]
pub enum TermKind {
    /// Free text: substring, ASCII case ignored, on the row's searchable fields.
    Text(String),
    Connector(String),
    Error(String),
    Origin(String),
    Header {
        name: String,
        value: Option<String>,
    },
    Status(StatusValue),
    Severity(Severity),
    Owner(String),
    Age {
        cmp: AgeCmp,
        duration: chrono::TimeDelta,
    },
    Since(TimePoint),
    Until(TimePoint),
    Regex {
        field: RegexField,
        regex: regex::bytes::Regex,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusValue {
    DeadLetter(DeadLetterState),
    Incident(IncidentStatus),
}

/// `age:<D` (younger than D) or `age:>D` (older than D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeCmp {
    YoungerThan,
    OlderThan,
}

/// A point in time: absolute, or a duration before the query's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePoint {
    At(Timestamp),
    Ago(chrono::TimeDelta),
}

impl TimePoint {
    /// Milliseconds since the epoch at `now_ms` (the store's precision).
    pub fn ms(self, now_ms: i64) -> i64 {
        match self {
            TimePoint::At(t) => t.timestamp_millis(),
            TimePoint::Ago(d) => now_ms.saturating_sub(d.num_milliseconds()),
        }
    }
}

/// Which field `re:FIELD=REGEX` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexField {
    /// Every free-text field (what a word searches).
    Text,
    Id,
    Connector,
    Error,
    Origin,
    Payload,
    Title,
    Kind,
    Owner,
}

/// A query that cannot be used: where (1-based character column) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at column {column}: {reason}")]
pub struct QueryError {
    pub column: usize,
    pub reason: String,
}

impl QueryError {
    /// The message, the query and a caret under the column, for a terminal:
    /// ```text
    /// at column 13: unknown field "colour" (…)
    ///   status:dead colour:red
    ///               ^
    /// ```
    pub fn render(&self, query: &str) -> String {
        let line = super::sanitize::line(query);
        let pad = " ".repeat(self.column.saturating_sub(1));
        format!("{self}\n  {line}\n  {pad}^")
    }
}

/// The short syntax guide shown by `?` and `--help`.
pub const SYNTAX_HELP: &[&str] = &[
    "words: substring in id, connector, title, error, headers, payload…",
    "\"two words\" in quotes; terms AND together; !term negates",
    "connector:ID  status:dead|replayed|discarded|open|acked|resolved",
    "severity:major  owner:ID  (incidents)",
    "error:TEXT  origin:QUEUE  header:NAME=VALUE  (dead letters)",
    "age:<2h  age:>1d  since:2h  until:2026-12-01 (or …T02:10:00Z)",
    "re:FIELD=REGEX  FIELD: text id connector error origin payload",
    "                    or text id connector title kind owner",
];

impl Query {
    /// Parses `text` as a query over `kind`; an empty text is the query that matches everything.
    pub fn parse(text: &str, kind: RowKind) -> Result<Query, QueryError> {
        let terms = parse::terms(text, kind)?;
        Ok(Query {
            text: text.to_string(),
            kind,
            terms,
        })
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> RowKind {
        self.kind
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when some term (negated or not) constrains the status, so a listing's default
    /// status (live dead letters, unresolved incidents) must not be added.
    pub fn has_status(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.kind, TermKind::Status(_)))
    }
}
