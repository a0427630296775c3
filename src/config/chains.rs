//! Checks the `[[chain]]` entries (escalation chains): unique names, at least one step, steps in
//! time order, known notify targets (people, teams, a configured bridge) and contingencies.

use toml::Spanned;

use super::ConfigError;
use super::located::Locator;
use super::raw::{RawChain, RawStep};
use super::routes::unique_names;
use super::validate::check_reference;
use crate::domain::escalation::{Contingency, EscalationChain, EscalationStep, NotifyTarget};

/// What chain steps may name.
pub(super) struct ChainReferences<'a> {
    pub person_ids: &'a [&'a str],
    pub team_ids: &'a [&'a str],
    /// Whether a top-level `bridge` is configured.
    pub has_bridge: bool,
}

pub(super) fn chains(
    raw: &[Spanned<RawChain>],
    refs: &ChainReferences,
    loc: &Locator,
) -> Result<Vec<EscalationChain>, ConfigError> {
    unique_names("chain", raw.iter().map(|c| &c.get_ref().name), loc)?;
    raw.iter()
        .enumerate()
        .map(|(i, c)| chain(i, c, refs, loc))
        .collect()
}

fn chain(
    index: usize,
    spanned: &Spanned<RawChain>,
    refs: &ChainReferences,
    loc: &Locator,
) -> Result<EscalationChain, ConfigError> {
    let raw = spanned.get_ref();
    let name = raw.name.get_ref();
    if raw.step.is_empty() {
        let message = format!(
            "chain {name:?} has no steps; add [[chain.step]] with after and notify (e.g. after = \"0m\", notify = [\"backup\"])"
        );
        return Err(loc.at(&raw.name.span(), format!("chain[{index}].step"), message));
    }
    let ack_timeout = match &raw.ack_timeout {
        Some(timeout) if timeout.get_ref().0.is_zero() => {
            let message = "ack_timeout must be greater than zero (omit it so acks never expire)";
            return Err(loc.at(
                &timeout.span(),
                format!("chain[{index}].ack_timeout"),
                message,
            ));
        }
        Some(timeout) => Some(timeout.get_ref().0),
        None => None,
    };
    let mut steps: Vec<EscalationStep> = Vec::with_capacity(raw.step.len());
    for (s, step_spanned) in raw.step.iter().enumerate() {
        let field = |key: &str| format!("chain[{index}].step[{s}].{key}");
        let step = step(step_spanned.get_ref(), refs, loc, &field)?;
        if let Some(previous) = steps.last()
            && step.after < previous.after
        {
            let message = format!(
                "steps must be in time order: after = \"{}\" comes before the previous step's \"{}\"",
                humantime::format_duration(step.after),
                humantime::format_duration(previous.after)
            );
            return Err(loc.at(
                &step_spanned.get_ref().after.span(),
                field("after"),
                message,
            ));
        }
        steps.push(step);
    }
    Ok(EscalationChain {
        name: name.clone(),
        ack_timeout,
        steps,
        line: loc.line_of(&raw.name.span()),
    })
}

fn step(
    raw: &RawStep,
    refs: &ChainReferences,
    loc: &Locator,
    field: &dyn Fn(&str) -> String,
) -> Result<EscalationStep, ConfigError> {
    if raw.notify.is_empty() {
        return Err(loc.at(
            &raw.after.span(),
            field("notify"),
            "notify is empty; name at least one target: owner, backup, team:<id>, person:<id>, bridge or vendor",
        ));
    }
    let mut notify = Vec::with_capacity(raw.notify.len());
    for (n, text) in raw.notify.iter().enumerate() {
        let target_field = format!("{}[{n}]", field("notify"));
        let Some(target) = NotifyTarget::parse(text.get_ref()) else {
            let message = format!(
                "unknown notify target {:?}: use owner, backup, team:<id>, person:<id>, bridge or vendor",
                text.get_ref()
            );
            return Err(loc.at(&text.span(), target_field, message));
        };
        let reference = |id: &str, known: &[&str], what: &str| {
            let spanned = Spanned::new(text.span(), id.to_owned());
            check_reference(&spanned, known, what, target_field.clone(), loc).map(|_| ())
        };
        match &target {
            NotifyTarget::Team(id) => reference(id, refs.team_ids, "team")?,
            NotifyTarget::Person(id) => reference(id, refs.person_ids, "person")?,
            NotifyTarget::Bridge if !refs.has_bridge => {
                let message = "notify \"bridge\" needs a top-level bridge = \"…\" (e.g. bridge = \"#incident-bridge\")";
                return Err(loc.at(&text.span(), target_field, message));
            }
            _ => {}
        }
        notify.push(target);
    }
    let contingency = match &raw.contingency {
        Some(text) => Some(Contingency::parse(text.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = Contingency::ALL.iter().map(|c| c.as_str()).collect();
            let message = format!(
                "unknown contingency {:?} (known: {})",
                text.get_ref(),
                known.join(", ")
            );
            loc.at(&text.span(), field("contingency"), message)
        })?),
        None => None,
    };
    Ok(EscalationStep {
        after: raw.after.get_ref().0,
        notify,
        contingency,
    })
}
