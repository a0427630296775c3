//! The values of field terms: statuses, durations, times and regexes.

use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};

use super::parse::err;
use super::{AgeCmp, QueryError, RegexField, RowKind, StatusValue, TermKind, TimePoint};
use crate::domain::{DeadLetterState, IncidentStatus};

/// A regex may not compile to more than this (a filter typed in a console must stay cheap).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn status(value: &str, kind: RowKind) -> Option<StatusValue> {
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

pub(super) fn age(value: &str) -> Option<TermKind> {
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

pub(super) fn time_point(value: &str) -> Option<TimePoint> {
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

pub(super) fn time_error(name: &str, column: usize) -> QueryError {
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

pub(super) fn regex_term(
    value: &str,
    column: usize,
    kind: RowKind,
) -> Result<TermKind, QueryError> {
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
