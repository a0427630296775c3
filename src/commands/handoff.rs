//! `triage handoff [--since 12h] [--post NOTIFIER]`: the shift summary in Markdown — open and
//! acknowledged incidents (owner, age, SLA state, last note), what was done during the shift and
//! by whom (the audit log), runs in progress, DLQs that grew, upstreams and connectors down or
//! stale, and the audit range it covers (first and last hash) so the next operator can verify
//! it. `--post` sends it through a configured notifier, directly (not via the outbox).

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{TimeDelta, Utc};
use color_eyre::eyre::{Result, WrapErr, eyre};

use super::Context;
use crate::cli::HandoffArgs;
use crate::domain::metrics::MetricsWindow;
use crate::domain::sla::{ClockState, SlaInput, clock};
use crate::domain::{
    ConnectionState, ConnectorStatus, Incident, IncidentStatus, OutboxState, Timestamp, sanitize,
};
use crate::store::{IncidentPageQuery, ShiftAction, Store};

/// Open incidents listed at most (the rest are counted).
const MAX_INCIDENTS: usize = 200;
/// Individual lines per kind of action (every operator's count is always given).
const MAX_ACTION_LINES: usize = 20;
/// A connector whose last report is older than this is stale.
const STALE_AFTER: TimeDelta = TimeDelta::minutes(15);

pub async fn run(ctx: &Context, args: &HandoffArgs) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let now = Utc::now();
    let window = MetricsWindow::last(args.since, now);
    let text = summary(ctx, &store, window)?;
    print!("{text}");
    if let Some(id) = &args.post {
        let config = ctx
            .routing
            .notifiers
            .iter()
            .find(|n| &n.id == id)
            .ok_or_else(|| eyre!("no [[notifier]] with id {id:?} in the config"))?;
        let url = config
            .resolve_url()
            .map_err(|e| eyre!("notifier {id}: {e}"))?;
        let notifier = crate::notify::Notifier::new(&config.id, config.kind, &url, config.timeout)?;
        let title = format!("Shift handoff from {}", ctx.operator);
        notifier
            .post_summary(&title, &text)
            .await
            .wrap_err_with(|| format!("cannot post the handoff via {id}"))?;
        eprintln!("handoff: posted via {id}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One table cell or line of untrusted text: control characters gone, pipes escaped.
fn cell(text: &str) -> String {
    sanitize::line(text).replace('|', "\\|")
}

fn ago(delta: TimeDelta) -> String {
    let secs = delta.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs / 60 * 60)).to_string()
}

fn hhmm(at: Timestamp) -> String {
    at.format("%m-%d %H:%M").to_string()
}

/// The whole summary for `window` (its end is "now").
pub fn summary(ctx: &Context, store: &Store, window: MetricsWindow) -> Result<String> {
    let now = window.until;
    let mut out = format!(
        "# Shift handoff — {} → {} UTC, by {}\n",
        window.since.format("%Y-%m-%d %H:%M"),
        window.until.format("%Y-%m-%d %H:%M"),
        cell(&ctx.operator)
    );
    open_incidents(ctx, store, now, &mut out)?;
    actions(&store.shift_actions(window.since, window.until)?, &mut out);
    runs(store, &mut out)?;
    dlq_growth(store, window, &mut out)?;
    down_or_stale(store, now, &mut out)?;
    out.push_str("\n## Audit range\n\n");
    match store.audit_range(window.since, window.until)? {
        Some(r) => out.push_str(&format!(
            "Rows {}–{} ({} rows). First hash `{}`, last hash `{}`. Check the chain with `triage audit --verify`.\n",
            r.first_seq, r.last_seq, r.rows, r.first_hash, r.last_hash
        )),
        None => out.push_str("No audit rows during the shift.\n"),
    }
    Ok(out)
}

fn sla_state(
    ctx: &Context,
    store: &Store,
    incident: &Incident,
    now: Timestamp,
) -> Result<(String, String)> {
    let route = crate::escalate::route_of(store, &ctx.config, &ctx.routing, incident)?;
    let chain = route.chain.as_deref().and_then(|n| ctx.routing.chain(n));
    let c = clock(
        &SlaInput::from_incident(incident),
        std::time::Duration::from_secs(route.ack_sla_secs),
        chain,
        now,
    );
    let state = match c.state {
        ClockState::Running => {
            let left = c.time_left.unwrap_or_default();
            let text = if c.overdue() {
                format!("overdue {}", ago(-left))
            } else {
                format!("{} left", ago(left))
            };
            if c.ack_expired {
                format!("ack expired; {text}")
            } else {
                text
            }
        }
        ClockState::Acknowledged {
            expires_at: Some(at),
        } => format!("acked until {}", hhmm(at)),
        ClockState::Acknowledged { expires_at: None } => "acked".into(),
        ClockState::Suppressed => "suppressed".into(),
        ClockState::Resolved => "resolved".into(),
    };
    Ok((route.owner.unwrap_or_else(|| "(unowned)".into()), state))
}

fn open_incidents(ctx: &Context, store: &Store, now: Timestamp, out: &mut String) -> Result<()> {
    let page = store.page_incidents(&IncidentPageQuery {
        statuses: vec![IncidentStatus::Open, IncidentStatus::Acknowledged],
        limit: MAX_INCIDENTS + 1,
        ..Default::default()
    })?;
    out.push_str(&format!(
        "\n## Open and acknowledged incidents ({})\n\n",
        page.len().min(MAX_INCIDENTS)
    ));
    if page.is_empty() {
        out.push_str("None.\n");
        return Ok(());
    }
    out.push_str("| incident | connector | severity | status | owner | age | SLA | last note |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for (_, i) in page.iter().take(MAX_INCIDENTS) {
        let (owner, sla) = sla_state(ctx, store, i, now)?;
        let note = store.notes(&i.upstream, &i.id)?.pop().map_or_else(
            || "—".to_string(),
            |n| format!("{} ({}, {})", cell(&n.text), cell(&n.operator), hhmm(n.at)),
        );
        out.push_str(&format!(
            "| {}:{} {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&i.upstream),
            cell(&i.id),
            cell(&i.title),
            cell(&i.connector),
            i.severity.as_str(),
            i.status.as_str(),
            cell(&owner),
            ago(now - i.opened_at),
            sla,
            note
        ));
    }
    if page.len() > MAX_INCIDENTS {
        out.push_str(&format!(
            "\n…and more: `triage incidents` lists them all.\n"
        ));
    }
    Ok(())
}

fn state_text(state: Option<OutboxState>) -> &'static str {
    match state {
        Some(OutboxState::Sent) => "sent",
        Some(OutboxState::Failed) => "failed",
        Some(OutboxState::Pending) => "pending",
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

fn actions(actions: &[ShiftAction], out: &mut String) {
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

fn runs(store: &Store, out: &mut String) -> Result<()> {
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

fn dlq_growth(store: &Store, window: MetricsWindow, out: &mut String) -> Result<()> {
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

fn down_or_stale(store: &Store, now: Timestamp, out: &mut String) -> Result<()> {
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
