//! The later sections of `triage handoff` (see `handoff`): what was done during the shift and
//! by whom, runs in progress, DLQs that grew, and upstreams or connectors down or stale.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use color_eyre::eyre::Result;

use super::handoff::{ago, cell, hhmm};
use crate::domain::metrics::MetricsWindow;
use crate::domain::{ConnectionState, ConnectorStatus, OutboxState, Timestamp};
use crate::store::{ShiftAction, Store};

/// Individual lines per kind of action (every operator's count is always given).
const MAX_ACTION_LINES: usize = 20;
/// A connector whose last report is older than this is stale.
const STALE_AFTER: TimeDelta = TimeDelta::minutes(15);

fn state_text(state: Option<OutboxState>) -> &'static str {
    match state {
        Some(OutboxState::Sent) => "sent",
        Some(OutboxState::Failed) => "failed",
        Some(OutboxState::Pending) => "pending",
        Some(OutboxState::Recalled) => "recalled by its run",
        None => "recorded",
    }
}

/// "Acknowledged" for `ack`… (the heading of each kind).
fn heading(kind: &str) -> &str {
    match kind {
        "ack" => "Acknowledged",
        "escalate" => "Escalated (upstream)",
        "watch.escalated" => "Escalation steps",
        "resolve" => "Resolved",
        "replay" => "Replayed",
        "discard" => "Discarded",
        "notify" => "Notifications",
        other => other,
    }
}

pub(super) fn actions(actions: &[ShiftAction], out: &mut String) {
    out.push_str("\n## Done during the shift\n");
    if actions.is_empty() {
        out.push_str("\nNothing was acked, escalated, resolved, replayed or discarded.\n");
        return;
    }
    let mut by_kind: BTreeMap<&str, Vec<&ShiftAction>> = BTreeMap::new();
    for a in actions {
        by_kind.entry(a.kind.as_str()).or_default().push(a);
    }
    for (kind, list) in by_kind {
        out.push_str(&format!("\n### {} ({})\n\n", heading(kind), list.len()));
        let mut per_operator: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for a in &list {
            *per_operator
                .entry(&a.operator)
                .or_default()
                .entry(state_text(a.state))
                .or_default() += 1;
        }
        for (operator, states) in per_operator {
            let counts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            out.push_str(&format!("- by {}: {}\n", cell(operator), counts.join(", ")));
        }
        for a in list.iter().rev().take(MAX_ACTION_LINES).rev() {
            out.push_str(&format!(
                "  - {} {} {}:{} ({})\n",
                hhmm(a.at),
                cell(&a.operator),
                cell(&a.upstream),
                cell(&a.target),
                state_text(a.state)
            ));
        }
    }
}

pub(super) fn runs(store: &Store, out: &mut String) -> Result<()> {
    use crate::domain::run::RunState;
    let runs: Vec<_> = store
        .runs()?
        .into_iter()
        .filter(|r| matches!(r.state, RunState::Running | RunState::Paused))
        .collect();
    out.push_str("\n## Runs in progress\n\n");
    if runs.is_empty() {
        out.push_str("None.\n");
    }
    for r in runs {
        out.push_str(&format!(
            "- {} {} by {}, {}{} — `{}`\n",
            r.id,
            r.kind.as_str(),
            cell(&r.operator),
            r.state.as_str(),
            r.reason
                .map(|why| format!(": {}", cell(&why)))
                .unwrap_or_default(),
            cell(&r.selection)
        ));
    }
    Ok(())
}

pub(super) fn dlq_growth(store: &Store, window: MetricsWindow, out: &mut String) -> Result<()> {
    let report = store.metrics_report(window, None)?;
    out.push_str("\n## DLQs that grew\n\n");
    let grew: Vec<_> = report
        .dlq_series
        .iter()
        .filter(|s| match (s.first, s.last) {
            (Some(f), Some(l)) => l.dead > f.dead,
            _ => false,
        })
        .collect();
    if grew.is_empty() {
        out.push_str("None.\n");
    }
    for s in grew {
        if let (Some(f), Some(l)) = (s.first, s.last) {
            out.push_str(&format!(
                "- {}:{}: {} → {} (+{})\n",
                cell(&s.upstream),
                cell(&s.connector),
                f.dead,
                l.dead,
                l.dead - f.dead
            ));
        }
    }
    Ok(())
}

pub(super) fn down_or_stale(store: &Store, now: Timestamp, out: &mut String) -> Result<()> {
    out.push_str("\n## Down or stale\n\n");
    let mut lines = Vec::new();
    for (upstream, state) in store.upstream_states()? {
        match state {
            ConnectionState::Live { .. } => {}
            ConnectionState::Connecting => {
                lines.push(format!("- upstream {}: never reached yet", cell(&upstream)))
            }
            ConnectionState::Stale { last_ok, error, .. } => lines.push(format!(
                "- upstream {}: stale, last answer {} ago ({})",
                cell(&upstream),
                ago(now - last_ok),
                cell(&error)
            )),
            ConnectionState::Down { since, error } => lines.push(format!(
                "- upstream {}: down for {} ({})",
                cell(&upstream),
                ago(now - since),
                cell(&error)
            )),
        }
    }
    for c in store.connectors()? {
        let status = matches!(c.status, ConnectorStatus::Failing | ConnectorStatus::Paused)
            .then(|| c.status.as_str().to_string());
        let stale = c
            .updated_at
            .filter(|at| now - *at > STALE_AFTER)
            .map(|at| format!("no report for {}", ago(now - at)));
        let what: Vec<String> = status.into_iter().chain(stale).collect();
        if !what.is_empty() {
            let error = c
                .last_error
                .as_deref()
                .map(|e| format!(" — {}", cell(e)))
                .unwrap_or_default();
            lines.push(format!(
                "- {}:{}: {}{error}",
                cell(&c.upstream),
                cell(&c.id),
                what.join(", ")
            ));
        }
    }
    if lines.is_empty() {
        out.push_str("None.\n");
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    Ok(())
}
