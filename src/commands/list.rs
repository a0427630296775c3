//! Read-only listings from the store: tables for people, JSON lines (`--json`) for scripts.
//! Every listing pages through the store (keyset); `--limit 0` streams everything.

use std::io::Write;
use std::process::ExitCode;

use base64::Engine;
use chrono::Utc;
use color_eyre::eyre::{Result, eyre};
use serde_json::json;

use super::Context;
use crate::cli::ListArgs;
use crate::domain::{
    DeadLetterState, IncidentStatus, OutboxEntry, OutboxState, Timestamp, sanitize,
};
use crate::store::{AuditVerification, DeadLetterPageQuery, IncidentPageQuery, PageDir};

const PAGE: usize = 500;

pub fn connectors(ctx: &Context, args: &ListArgs) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let counts = store.connector_counts()?;
    let mut out = Output::new(
        args.json,
        &[
            "CONNECTOR",
            "UPSTREAM",
            "STATUS",
            "OWNER",
            "READY",
            "IN-FLIGHT",
            "DEAD",
            "OPEN",
            "FAIL/s",
        ],
    );
    for c in store.connectors()? {
        if args.connector.as_ref().is_some_and(|id| *id != c.id) {
            continue;
        }
        let count = counts
            .iter()
            .find(|n| n.upstream == c.upstream && n.connector == c.id);
        let open = count.map(|n| n.open_incidents).unwrap_or(0);
        if args.json {
            let mut value = serde_json::to_value(&c)?;
            value["open_incidents"] = json!(open);
            out.json(&value)?;
        } else {
            out.row(vec![
                c.id.clone(),
                c.upstream.clone(),
                c.status.as_str().to_string(),
                c.owner.clone().unwrap_or_else(|| "(unowned)".into()),
                c.stats.ready.to_string(),
                c.stats.in_flight.to_string(),
                c.stats.dead.to_string(),
                open.to_string(),
                format!("{:.1}", c.stats.rate_fail),
            ]);
        }
    }
    out.finish()
}

pub fn incidents(
    ctx: &Context,
    args: &ListArgs,
    all_statuses: bool,
    grep: Option<&str>,
) -> Result<ExitCode> {
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
    let mut query = IncidentPageQuery {
        text: grep.map(str::to_string),
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
    let now = Utc::now();
    let mut shown = 0;
    loop {
        let page = store.page_incidents(&query)?;
        let full = page.len() == PAGE;
        for (key, i) in page {
            if args.limit != 0 && shown >= args.limit {
                return out.finish();
            }
            shown += 1;
            query.anchor = Some(key);
            if args.json {
                out.json(&serde_json::to_value(&i)?)?;
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
                ]);
            }
        }
        if !full {
            return out.finish();
        }
    }
}

pub fn dead_letters(
    ctx: &Context,
    args: &ListArgs,
    state: Option<&str>,
    grep: Option<&str>,
) -> Result<ExitCode> {
    let state = state
        .map(|s| {
            DeadLetterState::parse(s)
                .ok_or_else(|| eyre!("--state {s:?}: expected dead, replayed or discarded"))
        })
        .transpose()?;
    let store = ctx.open_store()?;
    let mut query = DeadLetterPageQuery {
        text: grep.map(str::to_string),
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
    let mut shown = 0;
    loop {
        let page = store.page_dead_letters(&query)?;
        let full = page.len() == PAGE;
        for summary in page {
            if args.limit != 0 && shown >= args.limit {
                return out.finish();
            }
            shown += 1;
            query.anchor = Some(summary.key.clone());
            if args.json {
                // Full record for scripts: payload as UTF-8 text, or base64 when binary.
                let Some(dl) = store.dead_letter(&summary.upstream, &summary.id)? else {
                    continue;
                };
                let text = dl.payload_is_text();
                let payload = if text {
                    String::from_utf8_lossy(&dl.payload).into_owned()
                } else {
                    base64::engine::general_purpose::STANDARD.encode(&dl.payload)
                };
                out.json(&json!({
                    "upstream": dl.upstream, "id": dl.id, "connector": dl.connector,
                    "payload": payload, "payload_encoding": if text { "utf8" } else { "base64" },
                    "content_type": dl.content_type, "headers": dl.headers, "error": dl.error,
                    "attempts": dl.attempts, "first_failed_at": dl.first_failed_at,
                    "last_failed_at": dl.last_failed_at, "state": dl.state, "updated_at": dl.updated_at,
                }))?;
            } else {
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
                ]);
            }
        }
        if !full {
            return out.finish();
        }
    }
}

pub fn outbox(ctx: &Context, args: &ListArgs) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let states = if args.all {
        Vec::new()
    } else {
        vec![OutboxState::Pending, OutboxState::Failed]
    };
    let limit = if args.limit == 0 { 1000 } else { args.limit };
    let mut out = Output::new(
        args.json,
        &[
            "CREATED", "ACTION", "TARGET", "OPERATOR", "STATE", "TRIES", "ANSWER",
        ],
    );
    for entry in store.page_outbox(&states, None, limit)? {
        if args.json {
            out.json(&outbox_json(&entry))?;
        } else {
            let answer = entry
                .outcome
                .as_ref()
                .map(|o| o.summary.clone())
                .or(entry.last_error.clone())
                .unwrap_or_default();
            out.row(vec![
                entry.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                entry.action.kind.as_str().to_string(),
                format!("{}:{}", entry.action.upstream, entry.action.target),
                entry.action.operator.clone(),
                outbox_state(&entry),
                entry.attempts.to_string(),
                answer,
            ]);
        }
    }
    out.finish()
}

pub fn audit(ctx: &Context, args: &ListArgs, verify: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    if verify {
        return match store.verify_audit_chain()? {
            AuditVerification::Intact { rows } => {
                println!("audit log intact: {rows} rows, hash chain verified");
                Ok(ExitCode::SUCCESS)
            }
            AuditVerification::Broken { seq, reason } => {
                println!("audit log BROKEN at seq {seq}: {reason}");
                Ok(ExitCode::FAILURE)
            }
        };
    }
    let limit = if args.limit == 0 {
        usize::MAX
    } else {
        args.limit
    };
    let mut out = Output::new(
        args.json,
        &["SEQ", "AT", "OPERATOR", "EVENT", "TARGET", "DETAIL"],
    );
    let mut before = None;
    let mut shown = 0;
    while shown < limit {
        let page = store.page_audit(before, PAGE.min(limit - shown))?;
        if page.is_empty() {
            break;
        }
        for e in page {
            shown += 1;
            before = Some(e.seq);
            if args.json {
                out.json(&serde_json::to_value(&e)?)?;
            } else {
                out.row(vec![
                    e.seq.to_string(),
                    e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.operator.clone(),
                    e.event.clone(),
                    format!("{}:{}", e.upstream, e.target),
                    e.detail.clone(),
                ]);
            }
        }
    }
    out.finish()
}

/// An outbox entry for scripts (the payload override is summarised by size, not dumped).
pub fn outbox_json(entry: &OutboxEntry) -> serde_json::Value {
    let a = &entry.action;
    json!({
        "id": entry.id, "idempotency_key": entry.idempotency_key, "action": a.kind, "upstream": a.upstream,
        "target": a.target, "operator": a.operator, "note": a.note, "level": a.level,
        "payload_bytes": a.payload.as_ref().map(Vec::len), "state": entry.state, "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at, "last_error": entry.last_error, "outcome": entry.outcome,
        "created_at": entry.created_at, "updated_at": entry.updated_at, "lease": entry.lease,
    })
}

/// "pending", or "pending, held by host:pid:start since 10:42:07" (", holder gone" when that
/// process no longer runs: the next worker takes the action over).
fn outbox_state(entry: &OutboxEntry) -> String {
    match &entry.lease {
        Some(lease) => format!(
            "{}, held by {}{}{}",
            entry.state.as_str(),
            lease.holder,
            lease
                .since
                .map(|t| format!(" since {}", t.format("%H:%M:%S")))
                .unwrap_or_default(),
            if lease.alive { "" } else { ", holder gone" }
        ),
        None => entry.state.as_str().to_string(),
    }
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

/// A table (sanitised, columns sized to content, capped) or JSON lines, written to stdout.
struct Output {
    json: bool,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Output {
    fn new(json: bool, headers: &[&str]) -> Self {
        Output {
            json,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.iter().map(|c| sanitize::line(c)).collect());
    }

    fn json(&mut self, value: &serde_json::Value) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{value}")?;
        Ok(())
    }

    fn finish(self) -> Result<ExitCode> {
        if self.json {
            return Ok(ExitCode::SUCCESS);
        }
        const MAX_COL: usize = 60;
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count().min(MAX_COL));
            }
        }
        let mut stdout = std::io::stdout().lock();
        let last = widths.len().saturating_sub(1);
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                let cell: String = if i == last {
                    cell.clone()
                } else {
                    truncate(cell, *w)
                };
                line.push_str(&cell);
                if i != last {
                    line.push_str(&" ".repeat(w + 2 - cell.chars().count()));
                }
            }
            writeln!(stdout, "{}", line.trim_end())?;
        }
        if self.rows.is_empty() {
            writeln!(stdout, "(none)")?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
