//! `triage outbox` and `triage audit`: triage's own actions and its audit log, newest first,
//! paged through the store (`--limit 0` = every row, page by page; a cut listing says on
//! stderr how many rows it left out).

use std::process::ExitCode;

use color_eyre::eyre::Result;
use serde_json::json;

use super::Context;
use super::output::{Admit, Output, RowBudget, say};
use crate::cli::ListArgs;
use crate::domain::{OutboxEntry, OutboxState};
use crate::store::AuditVerification;

const PAGE: usize = 500;

pub fn outbox(ctx: &Context, args: &ListArgs, all: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let states = if all {
        Vec::new()
    } else {
        vec![OutboxState::Pending, OutboxState::Failed]
    };
    let mut out = Output::new(
        args.json,
        &[
            "CREATED", "ACTION", "TARGET", "OPERATOR", "STATE", "TRIES", "ANSWER",
        ],
    );
    let mut before: Option<String> = None;
    let mut budget = RowBudget::new(args.limit);
    'pages: loop {
        let page = store.page_outbox(&states, before.as_deref(), PAGE)?;
        let full = page.len() == PAGE;
        for entry in page {
            before = Some(entry.id.clone());
            match budget.admit() {
                Admit::Show => {}
                Admit::Count => continue,
                Admit::Stop => break 'pages,
            }
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

pub fn audit(ctx: &Context, args: &ListArgs, verify: bool) -> Result<ExitCode> {
    // Not `open_store`: the audit log needs no inventory, and skipping that write lets an
    // operator export the log from a store whose other tables are damaged (the remedy the
    // damaged-store error gives).
    let store = crate::store::Store::open(&ctx.store_path)?;
    if verify {
        return match store.verify_audit_chain()? {
            AuditVerification::Intact { rows } => {
                say(format!(
                    "audit log intact: {rows} rows, hash chain verified"
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            AuditVerification::Broken { seq, reason } => {
                say(format!("audit log BROKEN at seq {seq}: {reason}"))?;
                Ok(ExitCode::FAILURE)
            }
        };
    }
    let mut out = Output::new(
        args.json,
        &["SEQ", "AT", "OPERATOR", "EVENT", "TARGET", "DETAIL"],
    );
    let mut before = None;
    let mut budget = RowBudget::new(args.limit);
    'pages: loop {
        let page = store.page_audit(before, PAGE)?;
        if page.is_empty() {
            break;
        }
        for e in page {
            before = Some(e.seq);
            match budget.admit() {
                Admit::Show => {}
                Admit::Count => continue,
                Admit::Stop => break 'pages,
            }
            if args.json {
                let mut value = serde_json::to_value(&e)?;
                value["target_ref"] = json!(format!("{}:{}", e.upstream, e.target));
                out.json(&value)?;
            } else {
                out.row(vec![
                    e.seq.to_string(),
                    e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    e.operator.clone(),
                    e.event.clone(),
                    format!("{}:{}", e.upstream, e.target),
                    e.detail.clone(),
                ])?;
            }
        }
    }
    let code = out.finish()?;
    budget.hint();
    Ok(code)
}

/// An outbox entry for scripts (the payload override is summarised by size, not dumped);
/// `target_ref` is the `upstream:target` the tables print.
pub fn outbox_json(entry: &OutboxEntry) -> serde_json::Value {
    let a = &entry.action;
    json!({
        "id": entry.id, "idempotency_key": entry.idempotency_key, "action": a.kind, "upstream": a.upstream,
        "target": a.target, "target_ref": format!("{}:{}", a.upstream, a.target), "operator": a.operator,
        "note": a.note, "level": a.level,
        "payload_bytes": a.payload.as_ref().map(Vec::len), "state": entry.state, "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at, "last_error": entry.last_error, "outcome": entry.outcome,
        "created_at": entry.created_at, "updated_at": entry.updated_at, "lease": entry.lease,
    })
}

/// "pending", "pending, held by host:pid:start since 10:42:07", or, when that process no longer
/// runs (the next worker takes the action over), "pending, holder gone: host:pid:start since …":
/// the verdict comes first so a table cut at its column width still shows it.
fn outbox_state(entry: &OutboxEntry) -> String {
    match &entry.lease {
        Some(lease) => format!(
            "{}, {} {}{}",
            entry.state.as_str(),
            if lease.alive {
                "held by"
            } else {
                "holder gone:"
            },
            lease.holder,
            lease
                .since
                .map(|t| format!(" since {}", t.format("%H:%M:%S")))
                .unwrap_or_default(),
        ),
        None => entry.state.as_str().to_string(),
    }
}
