//! `triage check [--json]`: audits the inventory against the playbook's ownership rules and
//! lists every violation; exits 1 when there is any (CI-friendly).

use std::process::ExitCode;

use color_eyre::eyre::Result;
use serde_json::json;

use super::Context;
use super::output::say;
use crate::config::check::check;

pub fn run(ctx: &Context, as_json: bool) -> Result<ExitCode> {
    let (config, routing) = (&ctx.config, &ctx.routing);
    let violations = check(config, routing);
    if as_json {
        let value = json!({ "ok": violations.is_empty(), "violations": violations });
        say(serde_json::to_string_pretty(&value)?)?;
    } else if violations.is_empty() {
        say(format!(
            "ok: {} connectors, {} routes, {} chains; every connector has an owner, a backup, a runbook, an ack SLA and a route",
            config.connectors.len(),
            routing.routes.len(),
            routing.chains.len()
        ))?;
    } else {
        for violation in &violations {
            say(violation)?;
        }
        eprintln!("triage check: {} violation(s)", violations.len());
    }
    Ok(if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
