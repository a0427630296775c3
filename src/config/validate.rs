//! Semantic checks on the parsed file and conversion into [`Config`]: unique ids, references
//! between connectors, upstreams, people and teams, URLs, token sources, defaults and paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::chains::{ChainReferences, chains};
use super::connector::{References, connector};
use super::located::Locator;
use super::notifier::notifiers;
use super::raw::{RawConfig, RawPerson, RawTeam};
use super::routes::{RouteReferences, routes};
use super::upstream::upstream;
use super::{Config, ConfigError, Person, RoutingConfig, Team};

const DEFAULT_ACK_SLA: Duration = Duration::from_secs(30 * 60);

/// Checks `raw` and builds the config and its routing; relative paths are resolved against
/// `config_dir`.
pub fn build(
    raw: &RawConfig,
    loc: &Locator,
    file: &Path,
    config_dir: &Path,
) -> Result<(Config, RoutingConfig), ConfigError> {
    let upstreams = raw
        .upstream
        .iter()
        .enumerate()
        .map(|(i, u)| upstream(i, u, loc, config_dir))
        .collect::<Result<Vec<_>, _>>()?;
    unique_ids(
        "upstream",
        raw.upstream.iter().map(|u| &u.get_ref().id),
        loc,
    )?;
    unique_ids("team", raw.team.iter().map(|t| &t.get_ref().id), loc)?;
    unique_ids("person", raw.person.iter().map(|p| &p.get_ref().id), loc)?;

    let person_ids: Vec<&str> = raw
        .person
        .iter()
        .map(|p| p.get_ref().id.get_ref().as_str())
        .collect();
    let team_ids: Vec<&str> = raw
        .team
        .iter()
        .map(|t| t.get_ref().id.get_ref().as_str())
        .collect();
    let teams = raw
        .team
        .iter()
        .enumerate()
        .map(|(i, t)| team(i, t.get_ref(), &person_ids, loc))
        .collect::<Result<Vec<_>, _>>()?;
    let people = raw
        .person
        .iter()
        .enumerate()
        .map(|(i, p)| person(i, p.get_ref(), &team_ids, loc))
        .collect::<Result<Vec<_>, _>>()?;

    let default_ack_sla = raw.default_ack_sla.map_or(DEFAULT_ACK_SLA, |d| d.0);
    let owners: Vec<&str> = person_ids.iter().chain(team_ids.iter()).copied().collect();
    unique_ids(
        "connector",
        raw.connector.iter().map(|c| &c.get_ref().id),
        loc,
    )?;
    let refs = References {
        upstreams: &upstreams,
        owners: &owners,
        default_ack_sla,
        config_dir,
    };
    let connectors = raw
        .connector
        .iter()
        .enumerate()
        .map(|(i, c)| connector(i, c, &refs, loc))
        .collect::<Result<Vec<_>, _>>()?;

    let chains = chains(
        &raw.chain,
        &ChainReferences {
            person_ids: &person_ids,
            team_ids: &team_ids,
            has_bridge: raw.bridge.is_some(),
        },
        loc,
    )?;
    let route_refs = RouteReferences {
        owners: &owners,
        chains: &chains,
        config_dir,
        file,
    };
    let routes = routes(&raw.route, &route_refs, loc)?;
    let notifiers = notifiers(&raw.notifier, loc, config_dir)?;
    let routing = RoutingConfig {
        notifiers,
        routes,
        chains,
        bridge: raw.bridge.clone(),
        vendor_contacts: raw
            .connector
            .iter()
            .filter_map(|c| {
                let c = c.get_ref();
                let contact = c.vendor_contact.clone()?;
                Some((c.id.get_ref().clone(), contact))
            })
            .collect(),
        implicit_ack_sla: raw
            .connector
            .iter()
            .filter(|c| raw.default_ack_sla.is_none() && c.get_ref().ack_sla.is_none())
            .map(|c| c.get_ref().id.get_ref().clone())
            .collect(),
    };
    let config = Config {
        file: Some(file.to_path_buf()),
        operator: raw.operator.clone().unwrap_or_else(default_operator),
        read_only: raw.read_only.unwrap_or(false),
        store: raw.store.as_ref().map(|s| resolve_path(config_dir, s)),
        default_ack_sla,
        upstreams,
        connectors,
        people,
        teams,
    };
    Ok((config, routing))
}

/// `$USER@<hostname>`, the operator recorded in the audit log when the config names none.
pub fn default_operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(account_name)
        .unwrap_or_else(|| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{user}@{host}")
}

/// The login name of the process's user, from the passwd database (sessions started by
/// `su`, cron or a bare `ssh host cmd` may carry no `$USER`).
fn account_name() -> Option<String> {
    // SAFETY: getuid cannot fail and has no preconditions.
    let uid = unsafe { libc::getuid() };
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

pub(super) fn resolve_path(config_dir: &Path, text: &str) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    }
}

fn unique_ids<'r>(
    kind: &str,
    ids: impl Iterator<Item = &'r Spanned<String>>,
    loc: &Locator,
) -> Result<(), ConfigError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, id) in ids.enumerate() {
        let field = format!("{kind}[{index}].id");
        if id.get_ref().trim().is_empty() {
            return Err(loc.at(&id.span(), field, format!("{kind} id must not be empty")));
        }
        if let Some(first_line) = seen.insert(id.get_ref(), loc.line_of(&id.span())) {
            let message = format!(
                "duplicate {kind} id {:?} (first defined on line {first_line})",
                id.get_ref()
            );
            return Err(loc.at(&id.span(), field, message));
        }
    }
    Ok(())
}

fn known_list(known: &[&str]) -> String {
    if known.is_empty() {
        "none defined".to_owned()
    } else {
        format!("known: {}", known.join(", "))
    }
}

pub(super) fn check_reference(
    value: &Spanned<String>,
    known: &[&str],
    what: &str,
    field: String,
    loc: &Locator,
) -> Result<String, ConfigError> {
    let id = value.get_ref();
    if known.contains(&id.as_str()) {
        return Ok(id.clone());
    }
    Err(loc.at(
        &value.span(),
        field,
        format!("unknown {what} {id:?} ({})", known_list(known)),
    ))
}

fn team(
    index: usize,
    raw: &RawTeam,
    person_ids: &[&str],
    loc: &Locator,
) -> Result<Team, ConfigError> {
    let members = raw
        .members
        .iter()
        .enumerate()
        .map(|(m, member)| {
            check_reference(
                member,
                person_ids,
                "person",
                format!("team[{index}].members[{m}]"),
                loc,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Team {
        id: raw.id.get_ref().clone(),
        name: raw.name.clone(),
        channel: raw.channel.clone(),
        members,
    })
}

fn person(
    index: usize,
    raw: &RawPerson,
    team_ids: &[&str],
    loc: &Locator,
) -> Result<Person, ConfigError> {
    let team = match &raw.team {
        Some(team) => Some(check_reference(
            team,
            team_ids,
            "team",
            format!("person[{index}].team"),
            loc,
        )?),
        None => None,
    };
    Ok(Person {
        id: raw.id.get_ref().clone(),
        name: raw.name.clone(),
        team,
        handle: raw.handle.clone(),
        email: raw.email.clone(),
        phone: raw.phone.clone(),
    })
}
