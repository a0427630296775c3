//! `triage routes test key=value… [--tree] [--json]`: which route an incident with these facts
//! takes (owner, backup, ack SLA, chain steps, runbook) and the rule that matched, with `--tree`
//! every rule tried and why. Reads only the config.

use std::process::ExitCode;

use color_eyre::eyre::{Result, eyre};
use serde_json::json;

use super::Context;
use crate::domain::route_report;
use crate::domain::routing::IncidentFacts;

pub fn test(ctx: &Context, pairs: &[String], tree: bool, as_json: bool) -> Result<ExitCode> {
    let (config, routing) = (&ctx.config, &ctx.routing);
    let facts = IncidentFacts::from_pairs(pairs.iter().map(String::as_str))
        .map_err(|problem| eyre!("routes test: {problem}"))?;
    let decision = routing.route(&facts, config);
    let chain = decision
        .chain
        .as_deref()
        .and_then(|name| routing.chain(name));
    if as_json {
        let value = json!({
            "facts": facts,
            "explanation": decision.explanation(),
            "decision": decision,
            "chain": chain,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", route_report::render(&decision, chain, tree));
        if routing.only_implicit_default() {
            println!(
                "note: no [[route]] in the config; the implicit default applies (see `triage check`)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
