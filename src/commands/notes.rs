//! `triage note ID TEXT` adds a note to an incident; `triage incidents show ID [--json]` shows
//! one incident whole — status, owner and route, ack, level, labels, links — with its notes.

use std::process::ExitCode;

use chrono::Utc;
use color_eyre::eyre::{Result, eyre};
use serde_json::json;

use super::Context;
use super::act::resolve_target;
use super::output::say;
use crate::domain::note::note_text;
use crate::domain::{ActionKind, sanitize};

pub fn add(ctx: &Context, id: &str, text: &str) -> Result<ExitCode> {
    let text = note_text(text).map_err(|e| eyre!("{e}"))?;
    let mut store = ctx.open_store()?;
    let (upstream, incident) = resolve_target(&store, ActionKind::Ack, id)?;
    let note = store.add_note(&upstream, &incident, &ctx.operator, &text, Utc::now())?;
    say(format!(
        "note added to {upstream}:{} by {} at {}",
        sanitize::line(&incident),
        sanitize::line(&note.operator),
        note.at.format("%Y-%m-%d %H:%M:%S UTC")
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn show_incident(ctx: &Context, id: &str, json: bool) -> Result<ExitCode> {
    let store = ctx.open_store()?;
    let (upstream, id) = resolve_target(&store, ActionKind::Ack, id)?;
    let incident = store
        .incident(&upstream, &id)?
        .ok_or_else(|| eyre!("incident {upstream}:{id} vanished from the store"))?;
    let route = store.incident_route(&upstream, &id)?;
    let notes = store.notes(&upstream, &id)?;
    if json {
        let value = json!({
            "ref": format!("{upstream}:{id}"),
            "incident": incident,
            "route": route,
            "notes": notes,
        });
        say(serde_json::to_string(&value)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let line = |label: &str, value: String| say(format!("{label:<12} {}", sanitize::line(&value)));
    line("incident", format!("{upstream}:{id}"))?;
    line("title", incident.title.clone())?;
    line("connector", incident.connector.clone())?;
    line(
        "status",
        format!(
            "{} · {} · level {}",
            incident.status.as_str(),
            incident.severity.as_str(),
            incident.escalation_level
        ),
    )?;
    line(
        "opened",
        incident
            .opened_at
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
    )?;
    if let (Some(by), Some(at)) = (&incident.acked_by, incident.acked_at) {
        line(
            "acked",
            format!("by {by} at {}", at.format("%Y-%m-%d %H:%M:%S UTC")),
        )?;
    }
    if let Some(route) = &route {
        line(
            "owner",
            format!(
                "{} → {} (rule {} at {})",
                route.owner.as_deref().unwrap_or("-"),
                route.backup.as_deref().unwrap_or("-"),
                route.rule,
                route.origin
            ),
        )?;
    }
    for (name, value) in &incident.labels {
        line(&format!("label {name}"), value.clone())?;
    }
    for link in &incident.links {
        line("link", format!("{}: {}", link.title, link.url))?;
    }
    if !incident.detail.is_empty() {
        say("")?;
        for text in incident.detail.lines() {
            say(format!("  {}", sanitize::line(text)))?;
        }
    }
    say("")?;
    if notes.is_empty() {
        say("no notes yet: `triage note ID TEXT`, or n in the console")?;
    }
    for note in notes {
        say(format!(
            "{}  {}: {}",
            note.at.format("%Y-%m-%d %H:%M"),
            sanitize::line(&note.operator),
            sanitize::line(&note.text)
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
