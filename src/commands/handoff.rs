//! `triage handoff [--since 12h] [--post NOTIFIER]`: the shift summary in Markdown — open and
//! acknowledged incidents (owner, age, SLA state, last note), what was done during the shift and
//! by whom (the audit log), runs in progress, DLQs that grew, upstreams and connectors down or
//! stale, and the audit range it covers (first and last hash) so the next operator can verify
//! it. `--post` sends it through a configured notifier, directly (not via the outbox).

use std::process::ExitCode;

use chrono::{TimeDelta, Utc};
use color_eyre::eyre::{Result, WrapErr, eyre};

use super::Context;
use super::handoff_more::{actions, dlq_growth, down_or_stale, runs};
use crate::cli::HandoffArgs;
use crate::domain::metrics::MetricsWindow;
use crate::domain::sla::{ClockState, SlaInput, clock};
use crate::domain::{Incident, IncidentStatus, Timestamp, sanitize};
use crate::store::{IncidentPageQuery, Store};

/// Open incidents listed at most (the rest are counted).
const MAX_INCIDENTS: usize = 200;

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
pub(super) fn cell(text: &str) -> String {
    sanitize::line(text).replace('|', "\\|")
}

pub(super) fn ago(delta: TimeDelta) -> String {
    let secs = delta.num_seconds().max(0) as u64;
    humantime::format_duration(std::time::Duration::from_secs(secs / 60 * 60)).to_string()
}

pub(super) fn hhmm(at: Timestamp) -> String {
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
        out.push_str("\n…and more: `triage incidents` lists them all.\n");
    }
    Ok(())
}
