//! Plain-text explanation of a [`RouteDecision`] for `triage routes test`: the route (owner,
//! backup, ack SLA, chain steps, runbook), the rule that matched and where, and with `tree`
//! every rule tried and why it did or did not match. Pure string building.

use std::fmt::Write as _;

use super::escalation::EscalationChain;
use super::routing::RouteDecision;
use super::sanitize;

fn or_none(value: Option<&str>) -> String {
    value.map_or_else(|| "(none)".to_owned(), sanitize::line)
}

/// The report; `chain` is the decision's chain looked up by name (None when unset or unknown).
pub fn render(decision: &RouteDecision, chain: Option<&EscalationChain>, tree: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", decision.explanation());
    let _ = writeln!(out, "owner:    {}", or_none(decision.owner.as_deref()));
    let _ = writeln!(out, "backup:   {}", or_none(decision.backup.as_deref()));
    let _ = writeln!(
        out,
        "ack SLA:  {}",
        humantime::format_duration(decision.ack_sla)
    );
    let _ = writeln!(out, "runbook:  {}", or_none(decision.runbook.as_deref()));
    match (&decision.chain, chain) {
        (None, _) => {
            let _ = writeln!(out, "chain:    (none: only the owner is notified)");
        }
        (Some(name), None) => {
            let _ = writeln!(out, "chain:    {name} (not defined)");
        }
        (Some(name), Some(chain)) => {
            let timeout = chain.ack_timeout.map_or_else(
                || "acks never expire".to_owned(),
                |t| format!("acks expire after {}", humantime::format_duration(t)),
            );
            let _ = writeln!(out, "chain:    {name} ({timeout})");
            for (i, step) in chain.steps.iter().enumerate() {
                let notify: Vec<String> = step.notify.iter().map(ToString::to_string).collect();
                let when = if step.after.is_zero() {
                    "at the ack deadline".to_owned()
                } else {
                    format!(
                        "{} after the ack deadline",
                        humantime::format_duration(step.after)
                    )
                };
                let _ = write!(
                    out,
                    "  level {}: {when} → notify {}",
                    i + 1,
                    notify.join(", ")
                );
                if let Some(contingency) = step.contingency {
                    let _ = write!(out, "; contingency {}", contingency.as_str());
                }
                out.push('\n');
            }
        }
    }
    if tree {
        let _ = writeln!(out, "rules tried:");
        for trial in &decision.tried {
            let mark = if trial.matched { "✓" } else { "✗" };
            let _ = writeln!(
                out,
                "  {mark} {} ({}): {}",
                trial.rule,
                trial.origin,
                sanitize::line(&trial.why)
            );
        }
        if decision.tried.is_empty() || decision.tried.iter().all(|t| !t.matched) {
            let _ = writeln!(
                out,
                "  ✓ {}: no [[route]] matched; connector defaults apply",
                decision.rule
            );
        }
    }
    out
}
