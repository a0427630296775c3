//! Checks the `[[route]]` entries: unique names, match keys and patterns, references to people,
//! teams and chains, and the default-route rules (the last route must be a default; nothing may
//! follow a default). Builds domain [`RouteRule`]s that keep their file and line.

use std::collections::HashMap;
use std::path::Path;

use toml::Spanned;

use super::ConfigError;
use super::located::Locator;
use super::raw::{RawMatch, RawRoute};
use super::validate::{check_reference, resolve_path};
use crate::domain::Severity;
use crate::domain::escalation::EscalationChain;
use crate::domain::route_pattern::{FactKey, FactMatcher, Pattern};
use crate::domain::routing::{RouteRule, RuleOrigin};

/// Every severity an incident can have.
const SEVERITIES: [Severity; 4] = [
    Severity::Info,
    Severity::Warning,
    Severity::Major,
    Severity::Critical,
];

/// What a route may refer to.
pub(super) struct RouteReferences<'a> {
    pub owners: &'a [&'a str],
    pub chains: &'a [EscalationChain],
    pub config_dir: &'a Path,
    pub file: &'a Path,
}

/// Builds the rules in file order. No routes at all is allowed (the implicit default applies);
/// otherwise the last must be a default and nothing may follow a default.
pub(super) fn routes(
    raw: &[Spanned<RawRoute>],
    refs: &RouteReferences,
    loc: &Locator,
) -> Result<Vec<RouteRule>, ConfigError> {
    unique_names("route", raw.iter().map(|r| &r.get_ref().name), loc)?;
    let rules = raw
        .iter()
        .enumerate()
        .map(|(i, r)| route(i, r.get_ref(), refs, loc))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first_default) = rules.iter().position(RouteRule::is_default)
        && let Some(after) = raw.get(first_default + 1)
    {
        let default = &rules[first_default];
        let name = after.get_ref().name.get_ref();
        let message = format!(
            "route {name:?} is unreachable: the default route {:?} on line {} matches every incident first; move the default route to the end",
            default.name, default.origin.line
        );
        return Err(loc.at(
            &after.get_ref().name.span(),
            format!("route[{}]", first_default + 1),
            message,
        ));
    }
    if let Some(last) = rules.last()
        && !last.is_default()
    {
        let end = raw.last().map_or(0, |r| r.get_ref().end());
        let message = format!(
            "no default route: the last route {:?} has a match; add a final [[route]] without match (e.g. name = \"default\") so every incident has an owner",
            last.name
        );
        return Err(loc.at(&(end..end), "route", message));
    }
    Ok(rules)
}

fn route(
    index: usize,
    raw: &RawRoute,
    refs: &RouteReferences,
    loc: &Locator,
) -> Result<RouteRule, ConfigError> {
    let field = |key: &str| format!("route[{index}].{key}");
    let matchers = match &raw.matches {
        Some(spanned) => matchers(spanned, loc, &field)?,
        None => Vec::new(),
    };
    let reference = |value: &Option<Spanned<String>>, key: &str| {
        value
            .as_ref()
            .map(|v| check_reference(v, refs.owners, "person or team", field(key), loc))
            .transpose()
    };
    let owner = reference(&raw.owner, "owner")?;
    let backup = reference(&raw.backup, "backup")?;
    if let (Some(owner), Some(backup), Some(spanned)) = (&owner, &backup, &raw.backup)
        && owner == backup
    {
        let message = format!("backup {backup:?} is the same as owner; name someone else");
        return Err(loc.at(&spanned.span(), field("backup"), message));
    }
    let chain_names: Vec<&str> = refs.chains.iter().map(|c| c.name.as_str()).collect();
    let chain = raw
        .chain
        .as_ref()
        .map(|c| check_reference(c, &chain_names, "chain", field("chain"), loc))
        .transpose()?;
    let ack_sla = match &raw.ack_sla {
        Some(sla) if sla.get_ref().0.is_zero() => {
            return Err(loc.at(
                &sla.span(),
                field("ack_sla"),
                "ack_sla must be greater than zero",
            ));
        }
        Some(sla) => Some(sla.get_ref().0),
        None => None,
    };
    Ok(RouteRule {
        name: raw.name.get_ref().clone(),
        origin: RuleOrigin {
            file: refs.file.display().to_string(),
            line: loc.line_of(&raw.name.span()),
        },
        matchers,
        owner,
        backup,
        ack_sla,
        chain,
        runbook: raw.runbook.as_ref().map(|p| {
            resolve_path(refs.config_dir, p.get_ref())
                .display()
                .to_string()
        }),
    })
}

fn matchers(
    spanned: &Spanned<RawMatch>,
    loc: &Locator,
    field: &dyn Fn(&str) -> String,
) -> Result<Vec<FactMatcher>, ConfigError> {
    let raw = spanned.get_ref();
    let mut entries: Vec<(FactKey, &Spanned<String>)> = [
        (FactKey::Connector, &raw.connector),
        (FactKey::Kind, &raw.kind),
        (FactKey::Severity, &raw.severity),
        (FactKey::Upstream, &raw.upstream),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.as_ref().map(|v| (key, v)))
    .collect();
    for (name, value) in raw.label.iter().flatten() {
        entries.push((FactKey::Label(name.clone()), value));
    }
    if entries.is_empty() {
        let message = "match is empty; omit match entirely to make this the default route";
        return Err(loc.at(&spanned.span(), field("match"), message));
    }
    entries
        .into_iter()
        .map(|(key, value)| {
            let pattern = Pattern::parse(value.get_ref()).map_err(|problem| {
                loc.at(&value.span(), field(&format!("match.{key}")), problem)
            })?;
            if key == FactKey::Severity
                && let Some(text) = pattern.exact()
                && !SEVERITIES.iter().any(|s| s.as_str() == text)
            {
                let known: Vec<&str> = SEVERITIES.iter().map(|s| s.as_str()).collect();
                let message = format!(
                    "severity {text:?} never matches: severities are {}; for several use a regex like \"re:major|critical\"",
                    known.join(", ")
                );
                return Err(loc.at(&value.span(), field("match.severity"), message));
            }
            Ok(FactMatcher { key, pattern })
        })
        .collect()
}

/// Names must be non-empty and unique; the error points at the second one.
pub(super) fn unique_names<'r>(
    kind: &str,
    names: impl Iterator<Item = &'r Spanned<String>>,
    loc: &Locator,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, name) in names.enumerate() {
        let field = format!("{kind}[{index}].name");
        if name.get_ref().trim().is_empty() {
            return Err(loc.at(
                &name.span(),
                field,
                format!("{kind} name must not be empty"),
            ));
        }
        if let Some(first_line) = seen.insert(name.get_ref(), loc.line_of(&name.span())) {
            let message = format!(
                "duplicate {kind} name {:?} (first defined on line {first_line})",
                name.get_ref()
            );
            return Err(loc.at(&name.span(), field, message));
        }
    }
    Ok(())
}
