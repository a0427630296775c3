//! `triage routes test key=value… [--tree] [--json]`: which route an incident with these facts
//! takes (owner, backup, ack SLA, chain steps, runbook) and the rule that matched, with `--tree`
//! every rule tried and why. Reads only the config.

use std::process::ExitCode;

use color_eyre::eyre::Result;
use serde_json::json;

use super::Context;
use super::output::say;
use crate::domain::route_report;
use crate::domain::routing::IncidentFacts;

pub fn test(ctx: &Context, pairs: &[String], tree: bool, as_json: bool) -> Result<ExitCode> {
    let (config, routing) = (&ctx.config, &ctx.routing);
    let facts = match IncidentFacts::from_pairs(pairs.iter().map(String::as_str)) {
        Ok(facts) => facts,
        Err(problem) => {
            // A usage error, like clap's: exit 2.
            eprintln!("error: routes test: {problem}");
            return Ok(ExitCode::from(2));
        }
    };
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
        say(serde_json::to_string_pretty(&value)?)?;
    } else {
        let report = route_report::render(&decision, chain, tree);
        say(report.trim_end_matches('\n'))?;
        if routing.only_implicit_default() {
            say(
                "note: no [[route]] in the config; the implicit default applies (see `triage check`)",
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
