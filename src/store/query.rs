//! Running a `domain::query::Query` over every row of a table in one `SELECT`.
//!
//! Terms with a column of their own become bound `WHERE` clauses, which the indexes serve:
//! dead letters' `connector`, `status` (`state`) and times (`last_failed_ms`, in
//! `dead_letters_by_state_newest` and `dead_letters_by_connector_state`); incidents'
//! `connector`, `status` (`status_rank`, in `incidents_by_urgency`), `severity` and times
//! (`opened_ms`). Every other term (text, error, origin, header, owner, regex) is evaluated by
//! an application function, `triage_dead_letter_query` / `triage_incident_query`, which parses
//! the query text once per statement (SQLite keeps it as auxiliary data of the constant
//! argument) and runs the same Rust code as the console on the row's columns, skipping the
//! terms already in SQL. Columns no remaining term reads are passed as NULL, so a connector
//! and age query never reads a payload.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

use super::codec::status_rank;
use crate::domain::query::{
    AgeCmp, DeadLetterFields, Headers, IncidentFields, Query, RegexField, RowKind, StatusValue,
    Term, TermKind,
};

/// A query's part of a `WHERE`: clauses (ANDed) with `?N` placeholders numbered from the
/// `first` given to [`QuerySql::build`], and the values to bind in that order.
#[derive(Debug, Default)]
pub(super) struct QuerySql {
    pub clauses: Vec<String>,
    pub params: Vec<Value>,
}

/// Is `term` a bound `WHERE` clause (true) or left to the SQL function (false)?
fn in_sql(term: &Term) -> bool {
    matches!(
        term.kind,
        TermKind::Connector(_)
            | TermKind::Status(_)
            | TermKind::Severity(_)
            | TermKind::Age { .. }
            | TermKind::Since(_)
            | TermKind::Until(_)
    )
}

/// `column OP ?` for a time term; negation flips the comparison so the index still serves it.
fn time_clause(kind: &TermKind, negated: bool, now_ms: i64) -> Option<(&'static str, i64)> {
    let (op, bound) = match kind {
        TermKind::Age { cmp, duration } => {
            let bound = now_ms.saturating_sub(duration.num_milliseconds());
            match cmp {
                AgeCmp::YoungerThan => (">", bound),
                AgeCmp::OlderThan => ("<", bound),
            }
        }
        TermKind::Since(point) => (">=", point.ms(now_ms)),
        TermKind::Until(point) => ("<", point.ms(now_ms)),
        _ => return None,
    };
    let op = match (negated, op) {
        (false, op) => op,
        (true, ">") => "<=",
        (true, "<") => ">=",
        (true, _) => "<",
    };
    Some((op, bound))
}

impl QuerySql {
    /// The clauses for `query` at `now_ms`, placeholders from `?first` on.
    pub fn build(query: &Query, now_ms: i64, first: usize) -> QuerySql {
        let mut sql = QuerySql::default();
        let kind = query.kind();
        for term in query.terms().iter().filter(|t| in_sql(t)) {
            let eq = if term.negated { "<>" } else { "=" };
            let (column, op, value): (&str, &str, Value) = match (&term.kind, kind) {
                (TermKind::Connector(c), _) => ("connector", eq, Value::Text(c.clone())),
                (TermKind::Status(StatusValue::DeadLetter(s)), _) => {
                    ("state", eq, Value::Text(s.as_str().into()))
                }
                (TermKind::Status(StatusValue::Incident(s)), _) => (
                    "status_rank",
                    eq,
                    Value::Integer(i64::from(status_rank(*s))),
                ),
                (TermKind::Severity(s), _) => ("severity", eq, Value::Text(s.as_str().into())),
                (other, kind) => {
                    let Some((op, bound)) = time_clause(other, term.negated, now_ms) else {
                        continue;
                    };
                    let column = match kind {
                        RowKind::DeadLetters => "last_failed_ms",
                        RowKind::Incidents => "opened_ms",
                    };
                    (column, op, Value::Integer(bound))
                }
            };
            sql.params.push(value);
            sql.clauses
                .push(format!("{column} {op} ?{}", first + sql.params.len() - 1));
        }
        if query.terms().iter().any(|t| !in_sql(t)) {
            let n = first + sql.params.len();
            sql.params.push(Value::Text(query.text().to_string()));
            sql.params.push(Value::Integer(now_ms));
            sql.clauses.push(match kind {
                RowKind::DeadLetters => dead_letter_call(query, n),
                RowKind::Incidents => incident_call(query, n),
            });
        }
        sql
    }
}

/// Does some term left to the function read `what`?
fn reads(query: &Query, what: impl Fn(&TermKind) -> bool) -> bool {
    query.terms().iter().any(|t| !in_sql(t) && what(&t.kind))
}

fn dead_letter_call(query: &Query, n: usize) -> String {
    let payload = reads(query, |k| {
        matches!(
            k,
            TermKind::Text(_)
                | TermKind::Regex {
                    field: RegexField::Text | RegexField::Payload,
                    ..
                }
        )
    });
    let headers = reads(query, |k| {
        matches!(
            k,
            TermKind::Text(_)
                | TermKind::Origin(_)
                | TermKind::Header { .. }
                | TermKind::Regex {
                    field: RegexField::Text | RegexField::Origin,
                    ..
                }
        )
    });
    format!(
        "triage_dead_letter_query(?{n}, ?{}, id, connector, error_code, error_message, {}, {})",
        n + 1,
        if headers { "headers" } else { "NULL" },
        if payload { "payload" } else { "NULL" },
    )
}

fn incident_call(query: &Query, n: usize) -> String {
    let owner = reads(query, |k| {
        matches!(
            k,
            TermKind::Owner(_)
                | TermKind::Regex {
                    field: RegexField::Owner,
                    ..
                }
        )
    });
    let owner = if owner {
        "(SELECT json_extract(r.route, '$.owner') FROM incident_routes r
           WHERE r.upstream = incidents.upstream AND r.id = incidents.id)"
    } else {
        "NULL"
    };
    format!(
        "triage_incident_query(?{n}, ?{}, id, connector, title, kind, severity, status, acked_by, {owner})",
        n + 1
    )
}

/// Registers the two query functions on a connection.
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("triage_dead_letter_query", 8, flags, |ctx| {
        super::scan_progress::tick();
        let query = parsed(ctx, RowKind::DeadLetters)?;
        let headers = match ctx.get_raw(6) {
            ValueRef::Text(b) => Headers::Json(std::str::from_utf8(b).unwrap_or_default()),
            _ => Headers::NotLoaded,
        };
        let fields = DeadLetterFields {
            id: text(ctx, 2),
            connector: text(ctx, 3),
            error_code: text(ctx, 4),
            error_message: text(ctx, 5),
            headers,
            payload: bytes(ctx, 7),
            // Status and times are SQL clauses; the function never reads them.
            state: "",
            last_failed_ms: 0,
        };
        let now_ms: i64 = ctx.get(1)?;
        Ok(query.matches_dead_letter_fields(&fields, now_ms, |t| !in_sql(t)))
    })?;
    conn.create_scalar_function("triage_incident_query", 10, flags, |ctx| {
        super::scan_progress::tick();
        let query = parsed(ctx, RowKind::Incidents)?;
        let acked_by = match ctx.get_raw(8) {
            ValueRef::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        };
        let owner = match ctx.get_raw(9) {
            ValueRef::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        };
        let fields = IncidentFields {
            id: text(ctx, 2),
            connector: text(ctx, 3),
            title: text(ctx, 4),
            kind: text(ctx, 5),
            severity: text(ctx, 6),
            status: text(ctx, 7),
            acked_by,
            opened_ms: 0,
            owner,
        };
        let now_ms: i64 = ctx.get(1)?;
        Ok(query.matches_incident_fields(&fields, now_ms, |t| !in_sql(t)))
    })
}

/// The query in argument 0, parsed once per statement.
fn parsed(ctx: &Context<'_>, kind: RowKind) -> rusqlite::Result<std::sync::Arc<Query>> {
    ctx.get_or_create_aux(0, |v| -> std::result::Result<Query, String> {
        let text = v.as_str().map_err(|e| e.to_string())?;
        Query::parse(text, kind).map_err(|e| e.to_string())
    })
}

fn text<'a>(ctx: &'a Context<'_>, i: usize) -> &'a str {
    match ctx.get_raw(i) {
        ValueRef::Text(b) => std::str::from_utf8(b).unwrap_or_default(),
        _ => "",
    }
}

fn bytes<'a>(ctx: &'a Context<'_>, i: usize) -> &'a [u8] {
    match ctx.get_raw(i) {
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        _ => &[],
    }
}
