//! Text → terms: splitting on spaces outside quotes, `!`, `name:value`, and each field's value,
//! checked against the row kind. Every error names the character column it found the problem at.

use super::values::{age, regex_term, status, time_error, time_point};
use super::{QueryError, RowKind, Term, TermKind};
use crate::domain::Severity;

/// Every field name, for the unknown-field error.
const FIELDS: &str =
    "connector, error, origin, header, status, severity, owner, age, since, until, re";

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

pub(super) fn err(column: usize, reason: impl Into<String>) -> QueryError {
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
