//! Read-only listings from the store: tables for people, JSON lines (`--json`) for scripts.
//! Every listing pages through the store (keyset); `--limit 0` streams everything, and a
//! listing cut by `--limit` says on stderr how many rows it left out. Tables print ids as
//! `upstream:id`; JSON keeps `upstream` and `id` apart and adds that form as `ref`.

use std::process::ExitCode;

use base64::Engine;
use chrono::Utc;
use color_eyre::eyre::{Result, eyre};
use serde_json::json;

use super::Context;
use super::output::{Admit, Output, RowBudget};
use crate::cli::ListArgs;
use crate::domain::query::{Query, RowKind};
use crate::domain::{ConnectionState, DeadLetterState, IncidentStatus, Timestamp, sanitize};
use crate::store::{DeadLetterPageQuery, IncidentPageQuery, PageDir};

const PAGE: usize = 500;

pub fn connectors(ctx: &Context, args: &ListArgs) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let counts = store.connector_counts()?;
    let states = store.upstream_states()?;
    let state_of = |upstream: &str| {
        states
            .iter()
            .find(|(id, _)| id == upstream)
            .map(|(_, state)| state.clone())
    };
    let mut out = Output::new(
        args.json,
        &[
            "CONNECTOR",
            "UPSTREAM",
            "LINK",
            "STATUS",
            "OWNER",
            "READY",
            "IN-FLIGHT",
            "DEAD",
            "OPEN",
            "FAIL/s",
        ],
    );
    let mut shown = 0;
    for c in store.connectors()? {
        if args.connector.as_ref().is_some_and(|id| *id != c.id) {
            continue;
        }
        let count = counts
            .iter()
            .find(|n| n.upstream == c.upstream && n.connector == c.id);
        let open = count.map(|n| n.open_incidents).unwrap_or(0);
        let state = state_of(&c.upstream);
        shown += 1;
        if args.json {
            let mut value = serde_json::to_value(&c)?;
            value["ref"] = json!(format!("{}:{}", c.upstream, c.id));
            value["open_incidents"] = json!(open);
            value["upstream_state"] = match &state {
                Some(state) => serde_json::to_value(state)?,
                None => json!({"state": "never polled"}),
            };
            out.json(&value)?;
        } else {
            out.row(vec![
                c.id.clone(),
                c.upstream.clone(),
                link(state.as_ref()),
                c.status.as_str().to_string(),
                c.owner.clone().unwrap_or_else(|| "(unowned)".into()),
                c.stats.ready.to_string(),
                c.stats.in_flight.to_string(),
                c.stats.dead.to_string(),
                open.to_string(),
                format!("{:.1}", c.stats.rate_fail),
            ])?;
        }
    }
    let code = out.finish()?;
    if shown > 0 {
        for (upstream, state) in &states {
            if !matches!(state, ConnectionState::Live { .. }) {
                eprintln!(
                    "note: {}: {} — its connectors show the last successful poll",
                    sanitize::line(upstream),
                    link(Some(state))
                );
            }
        }
    }
    Ok(code)
}

/// An upstream's connection state in a few words: `live`, `stale since 10:02 (timed out)`,
/// `down since 10:01 (connection refused)`, `never polled`.
pub fn link(state: Option<&ConnectionState>) -> String {
    match state {
        None => "never polled".into(),
        Some(ConnectionState::Connecting) => "connecting".into(),
        Some(ConnectionState::Live { .. }) => "live".into(),
        Some(ConnectionState::Stale { last_ok, error, .. }) => format!(
            "stale since {} ({})",
            last_ok.format("%H:%M:%S"),
            sanitize::line(error)
        ),
        Some(ConnectionState::Down { since, error }) => format!(
            "down since {} ({})",
            since.format("%H:%M:%S"),
            sanitize::line(error)
        ),
    }
}

pub fn incidents(
    ctx: &Context,
    args: &ListArgs,
    all_statuses: bool,
    grep: Option<&str>,
    filter: Option<&str>,
) -> Result<ExitCode> {
    let query = match parse_where(filter, RowKind::Incidents) {
        Ok(query) => query,
        Err(code) => return Ok(code),
    };
    let store = ctx.open_store()?;
    let statuses = if all_statuses {
        Vec::new()
    } else {
        vec![
            IncidentStatus::Open,
            IncidentStatus::Acknowledged,
            IncidentStatus::Suppressed,
        ]
    };
    let now = Utc::now();
    let mut query = IncidentPageQuery {
        sort: Default::default(),
        text: grep.map(str::to_string),
        query,
        now: Some(now),
        connector: args.connector.clone(),
        statuses,
        anchor: None,
        dir: PageDir::Forward,
        limit: PAGE,
    };
    let mut out = Output::new(
        args.json,
        &[
            "ID",
            "SEVERITY",
            "CONNECTOR",
            "STATUS",
            "ACK DUE",
            "ACKED BY",
            "TITLE",
        ],
    );
    let mut budget = RowBudget::new(args.limit);
    'pages: loop {
        let page = store.page_incidents(&query)?;
        let full = page.len() == PAGE;
        for (key, i) in page {
            query.anchor = Some(key);
            match budget.admit() {
                Admit::Show => {}
                Admit::Count => continue,
                Admit::Stop => break 'pages,
            }
            if args.json {
                let mut value = serde_json::to_value(&i)?;
                value["ref"] = json!(format!("{}:{}", i.upstream, i.id));
                out.json(&value)?;
            } else {
                let due = match (i.status, i.ack_deadline) {
                    (IncidentStatus::Open, Some(deadline)) => countdown(deadline, now),
                    _ => "-".to_string(),
                };
                out.row(vec![
                    format!("{}:{}", i.upstream, i.id),
                    i.severity.as_str().to_string(),
                    i.connector.clone(),
                    i.status.as_str().to_string(),
                    due,
                    i.acked_by.clone().unwrap_or_default(),
                    i.title.clone(),
                ])?;
            }
        }
        if !full {
            break;
        }
    }
    let code = out.finish()?;
    budget.hint();
    Ok(code)
}

pub fn dead_letters(
    ctx: &Context,
    args: &ListArgs,
    state: Option<&str>,
    grep: Option<&str>,
    filter: Option<&str>,
) -> Result<ExitCode> {
    let query = match parse_where(filter, RowKind::DeadLetters) {
        Ok(query) => query,
        Err(code) => return Ok(code),
    };
    let state = state
        .map(|s| {
            DeadLetterState::parse(s)
                .ok_or_else(|| eyre!("--state {s:?}: expected dead, replayed or discarded"))
        })
        .transpose()?;
    let store = ctx.open_store()?;
    let mut query = DeadLetterPageQuery {
        sort: Default::default(),
        text: grep.map(str::to_string),
        query,
        now: Some(Utc::now()),
        connector: args.connector.clone(),
        state,
        anchor: None,
        dir: PageDir::Forward,
        limit: PAGE,
    };
    let mut out = Output::new(
        args.json,
        &["ID", "CONNECTOR", "FAILED", "ATTEMPTS", "ERROR", "PAYLOAD"],
    );
    let mut budget = RowBudget::new(args.limit);
    if args.json {
        // Whole records for scripts, one statement per page, each serialised as it is read.
        'whole: loop {
            let page = store.page_dead_letters_whole(&query)?;
            let full = page.len() == PAGE;
            for (key, dl) in page {
                query.anchor = Some(key);
                match budget.admit() {
                    Admit::Show => out.json(&DeadLetterRecord::of(&dl))?,
                    Admit::Count => continue,
                    Admit::Stop => break 'whole,
                }
            }
            if !full {
                break;
            }
        }
        let code = out.finish()?;
        budget.hint();
        return Ok(code);
    }
    'pages: loop {
        let page = store.page_dead_letters(&query)?;
        let full = page.len() == PAGE;
        for summary in page {
            query.anchor = Some(summary.key.clone());
            match budget.admit() {
                Admit::Show => {}
                Admit::Count => continue,
                Admit::Stop => break 'pages,
            }
            out.row(vec![
                format!("{}:{}", summary.upstream, summary.id),
                summary.connector.clone(),
                summary
                    .last_failed_at
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                summary.attempts.to_string(),
                format!("{}: {}", summary.error_code, summary.error_message),
                sanitize::bytes_line(&summary.preview),
            ])?;
        }
        if !full {
            break;
        }
    }
    let code = out.finish()?;
    budget.hint();
    Ok(code)
}

/// `--where QUERY` parsed for `kind`; a bad query is a usage error like clap's: the reason and
/// a caret under where it went wrong on stderr, exit 2.
fn parse_where(filter: Option<&str>, kind: RowKind) -> Result<Option<Query>, ExitCode> {
    filter
        .map(|text| {
            Query::parse(text, kind).map_err(|e| {
                eprintln!("error: --where {}", e.render(text));
                ExitCode::from(2)
            })
        })
        .transpose()
}

/// "in 4m12s" / "overdue 2m".
pub fn countdown(deadline: Timestamp, now: Timestamp) -> String {
    let secs = (deadline - now).num_seconds();
    let fmt = |s: i64| {
        if s >= 3600 {
            format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
        } else {
            format!("{}m{:02}s", s / 60, s % 60)
        }
    };
    if secs >= 0 {
        format!("in {}", fmt(secs))
    } else {
        format!("overdue {}", fmt(-secs))
    }
}

/// A dead letter as `dead-letters --json` prints it: the payload as UTF-8 text, or base64 when
/// binary (`payload_encoding` says which), and `ref` as the tables print the id.
#[derive(serde::Serialize)]
struct DeadLetterRecord<'a> {
    upstream: &'a str,
    id: &'a str,
    #[serde(rename = "ref")]
    reference: String,
    connector: &'a str,
    payload: std::borrow::Cow<'a, str>,
    payload_encoding: &'static str,
    content_type: &'a Option<String>,
    headers: &'a [(String, String)],
    error: &'a crate::domain::DeadLetterError,
    attempts: u32,
    first_failed_at: crate::domain::Timestamp,
    last_failed_at: crate::domain::Timestamp,
    state: crate::domain::DeadLetterState,
    updated_at: crate::domain::Timestamp,
}

impl<'a> DeadLetterRecord<'a> {
    fn of(dl: &'a crate::domain::DeadLetter) -> Self {
        let text = dl.payload_is_text();
        DeadLetterRecord {
            upstream: &dl.upstream,
            id: &dl.id,
            reference: format!("{}:{}", dl.upstream, dl.id),
            connector: &dl.connector,
            payload: if text {
                String::from_utf8_lossy(&dl.payload)
            } else {
                std::borrow::Cow::Owned(
                    base64::engine::general_purpose::STANDARD.encode(&dl.payload),
                )
            },
            payload_encoding: if text { "utf8" } else { "base64" },
            content_type: &dl.content_type,
            headers: &dl.headers,
            error: &dl.error,
            attempts: dl.attempts,
            first_failed_at: dl.first_failed_at,
            last_failed_at: dl.last_failed_at,
            state: dl.state,
            updated_at: dl.updated_at,
        }
    }
}
