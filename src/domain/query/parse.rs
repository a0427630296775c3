//! Text → terms: splitting on spaces outside quotes, `!`, `name:value`, and each field's value,
//! checked against the row kind. Every error names the character column it found the problem at.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};

use super::{AgeCmp, QueryError, RegexField, RowKind, StatusValue, Term, TermKind, TimePoint};
use crate::domain::{DeadLetterState, IncidentStatus, Severity};

/// Every field name, for the unknown-field error.
const FIELDS: &str =
    "connector, error, origin, header, status, severity, owner, age, since, until, re";

/// A regex may not compile to more than this (a filter typed in a console must stay cheap).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// One space-separated word, quotes removed and escapes applied.
struct Word {
    negated: bool,
    /// Column of the term (after `!`).
    column: usize,
    text: String,
    /// `Some((byte index in text, column))` of the first colon outside quotes, when no quote
    /// came before it: the word may be `name:value`.
    colon: Option<(usize, usize)>,
    quoted: bool,
}

pub(super) fn terms(text: &str, kind: RowKind) -> Result<Vec<Term>, QueryError> {
    words(text)?
        .into_iter()
        .map(|word| term(word, kind))
        .collect()
}

fn err(column: usize, reason: impl Into<String>) -> QueryError {
    QueryError {
        column,
        reason: reason.into(),
    }
}

fn words(text: &str) -> Result<Vec<Word>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let negated = chars[i] == '!';
        if negated {
            i += 1;
            if chars.get(i).is_none_or(|c| c.is_whitespace()) {
                return Err(err(i, "! must be followed by a term (no space after it)"));
            }
        }
        let mut word = Word {
            negated,
            column: i + 1,
            text: String::new(),
            colon: None,
            quoted: false,
        };
        while let Some(&c) = chars.get(i).filter(|c| !c.is_whitespace()) {
            match c {
                '"' => {
                    let open = i;
                    word.quoted = true;
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => {
                                return Err(err(open + 1, "unterminated quote: close it with \""));
                            }
                            Some('"') => break,
                            Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                                i += 1;
                                word.text.push(chars[i]);
                            }
                            Some(&c) => word.text.push(c),
                        }
                        i += 1;
                    }
                }
                '\\' if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                    i += 1;
                    word.text.push(chars[i]);
                }
                ':' if word.colon.is_none() && !word.quoted => {
                    word.colon = Some((word.text.len(), i + 1));
                    word.text.push(':');
                }
                c => word.text.push(c),
            }
            i += 1;
        }
        out.push(word);
    }
    Ok(out)
}

/// A field name: an ASCII letter, then letters, digits, `_` or `-` (so `10:42` is text).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn term(word: Word, kind: RowKind) -> Result<Term, QueryError> {
    let field = word
        .colon
        .filter(|(at, _)| is_name(&word.text[..*at]))
        .map(|(at, column)| {
            (
                word.text[..at].to_ascii_lowercase(),
                word.text[at + 1..].to_string(),
                column + 1,
            )
        });
    let term_kind = match field {
        None if word.text.is_empty() => return Err(err(word.column, "empty quotes")),
        None => TermKind::Text(word.text),
        Some((name, value, column)) => field_term(&name, value, column, word.column, kind)?,
    };
    Ok(Term {
        negated: word.negated,
        column: word.column,
        kind: term_kind,
    })
}

/// Which row kind a field applies to; `None` for both.
fn only_for(name: &str) -> Option<RowKind> {
    match name {
        "error" | "origin" | "header" => Some(RowKind::DeadLetters),
        "severity" | "owner" => Some(RowKind::Incidents),
        _ => None,
    }
}

fn other(kind: RowKind) -> RowKind {
    match kind {
        RowKind::DeadLetters => RowKind::Incidents,
        RowKind::Incidents => RowKind::DeadLetters,
    }
}

fn field_term(
    name: &str,
    value: String,
    column: usize,
    term_column: usize,
    kind: RowKind,
) -> Result<TermKind, QueryError> {
    if !FIELDS.split(", ").any(|f| f == name) {
        return Err(err(
            term_column,
            format!(
                "unknown field {name:?} (fields: {FIELDS}); put text that contains a colon in quotes"
            ),
        ));
    }
    if only_for(name).is_some_and(|k| k != kind) {
        return Err(err(
            term_column,
            format!(
                "{name}: applies to {}, not {}",
                other(kind).noun(),
                kind.noun()
            ),
        ));
    }
    if value.is_empty() {
        return Err(err(
            column,
            format!("{name}: expects a value after the colon"),
        ));
    }
    Ok(match name {
        "connector" => TermKind::Connector(value),
        "error" => TermKind::Error(value),
        "origin" => TermKind::Origin(value),
        "owner" => TermKind::Owner(value),
        "header" => match value.split_once('=') {
            Some(("", _)) => return Err(err(column, "header: expects header:NAME=VALUE")),
            Some((name, value)) => TermKind::Header {
                name: name.to_string(),
                value: Some(value.to_string()),
            },
            None => TermKind::Header {
                name: value,
                value: None,
            },
        },
        "status" => TermKind::Status(status(&value, kind).ok_or_else(|| {
            let allowed = match kind {
                RowKind::DeadLetters => "dead, replayed or discarded",
                RowKind::Incidents => "open, acknowledged (acked), suppressed or resolved",
            };
            err(
                column,
                format!("status: expects {allowed} for {}", kind.noun()),
            )
        })?),
        "severity" => TermKind::Severity(
            Severity::parse_known(&value)
                .ok_or_else(|| err(column, format!("severity: expects {}", Severity::ALLOWED)))?,
        ),
        "age" => age(&value).ok_or_else(|| err(column, "age: expects <2h or >1d"))?,
        "since" => TermKind::Since(time_point(&value).ok_or_else(|| time_error(name, column))?),
        "until" => TermKind::Until(time_point(&value).ok_or_else(|| time_error(name, column))?),
        _ => regex_term(&value, column, kind)?,
    })
}

fn status(value: &str, kind: RowKind) -> Option<StatusValue> {
    let value = value.to_ascii_lowercase();
    Some(match kind {
        RowKind::DeadLetters => StatusValue::DeadLetter(DeadLetterState::parse(&value)?),
        RowKind::Incidents => StatusValue::Incident(match value.as_str() {
            "acked" | "ack" => IncidentStatus::Acknowledged,
            other => IncidentStatus::parse(other)?,
        }),
    })
}

/// `30m`, `2h`, `1d`, `1w`, `1h30m` (humantime), as a delta.
fn duration(value: &str) -> Option<TimeDelta> {
    humantime::parse_duration(value)
        .ok()
        .and_then(|d| TimeDelta::from_std(d).ok())
}

fn age(value: &str) -> Option<TermKind> {
    let (cmp, rest) = if let Some(rest) = value.strip_prefix('<') {
        (AgeCmp::YoungerThan, rest)
    } else {
        (AgeCmp::OlderThan, value.strip_prefix('>')?)
    };
    Some(TermKind::Age {
        cmp,
        duration: duration(rest)?,
    })
}

fn time_point(value: &str) -> Option<TimePoint> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(TimePoint::At(t.with_timezone(&Utc)));
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Some(TimePoint::At(
            Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?),
        ));
    }
    duration(value).map(TimePoint::Ago)
}

fn time_error(name: &str, column: usize) -> QueryError {
    err(
        column,
        format!("{name}: expects a time: 2h (that long ago), 2026-12-01 or 2026-12-01T02:10:00Z"),
    )
}

fn regex_fields(kind: RowKind) -> &'static [(&'static str, RegexField)] {
    match kind {
        RowKind::DeadLetters => &[
            ("text", RegexField::Text),
            ("id", RegexField::Id),
            ("connector", RegexField::Connector),
            ("error", RegexField::Error),
            ("origin", RegexField::Origin),
            ("payload", RegexField::Payload),
        ],
        RowKind::Incidents => &[
            ("text", RegexField::Text),
            ("id", RegexField::Id),
            ("connector", RegexField::Connector),
            ("title", RegexField::Title),
            ("kind", RegexField::Kind),
            ("owner", RegexField::Owner),
        ],
    }
}

fn regex_term(value: &str, column: usize, kind: RowKind) -> Result<TermKind, QueryError> {
    let fields = regex_fields(kind);
    let names = || {
        fields
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((name, pattern)) = value.split_once('=') else {
        return Err(err(
            column,
            format!(
                "re: expects re:FIELD=REGEX (fields for {}: {})",
                kind.noun(),
                names()
            ),
        ));
    };
    let Some(&(_, field)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
        return Err(err(
            column,
            format!(
                "re: unknown field {name:?} (fields for {}: {})",
                kind.noun(),
                names()
            ),
        ));
    };
    let pattern_column = column + name.chars().count() + 1;
    if pattern.is_empty() {
        return Err(err(pattern_column, "re: expects a regex after ="));
    }
    let regex = regex::bytes::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            err(
                pattern_column,
                format!("re: bad regex: {}", regex_reason(&e)),
            )
        })?;
    Ok(TermKind::Regex { field, regex })
}

/// The one-line reason of a regex error (its Display spans several lines with its own caret).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string())
}
