//! Checks one `[[connector]]` entry: id syntax, references to its upstream, owner and backup,
//! queue keys (RabbitMQ and SQS only), and builds the [`ConnectorConfig`] with defaults and absolute paths.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::located::Locator;
use super::raw::RawConnector;
use super::validate::{check_reference, resolve_path};
use super::{ConfigError, ConnectorConfig, UpstreamConfig};
use crate::domain::UpstreamKind;

/// What a connector may refer to.
pub(super) struct References<'a> {
    pub upstreams: &'a [UpstreamConfig],
    pub owners: &'a [&'a str],
    pub default_ack_sla: Duration,
    pub config_dir: &'a Path,
}

pub(super) fn connector(
    index: usize,
    spanned: &Spanned<RawConnector>,
    refs: &References,
    loc: &Locator,
) -> Result<ConnectorConfig, ConfigError> {
    let raw = spanned.get_ref();
    let field = |key: &str| format!("connector[{index}].{key}");
    let id = raw.id.get_ref();
    if !is_valid_connector_id(id) {
        let message = format!(
            "invalid connector id {id:?}: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
        );
        return Err(loc.at(&raw.id.span(), field("id"), message));
    }
    let upstream_ids: Vec<&str> = refs.upstreams.iter().map(|u| u.id.as_str()).collect();
    let upstream = check_reference(
        &raw.upstream,
        &upstream_ids,
        "upstream",
        field("upstream"),
        loc,
    )?;
    let owner = check_reference(
        &raw.owner,
        refs.owners,
        "person or team",
        field("owner"),
        loc,
    )?;
    let backup = match &raw.backup {
        Some(backup) => {
            let backup_id =
                check_reference(backup, refs.owners, "person or team", field("backup"), loc)?;
            if backup_id == owner {
                let message =
                    format!("backup {backup_id:?} is the same as owner; name someone else");
                return Err(loc.at(&backup.span(), field("backup"), message));
            }
            Some(backup_id)
        }
        None => None,
    };
    let kind = refs
        .upstreams
        .iter()
        .find(|u| u.id == upstream)
        .map(|u| u.kind);
    if !matches!(kind, Some(UpstreamKind::Rabbitmq | UpstreamKind::Sqs)) {
        let rabbit_only = [
            ("queue", &raw.queue),
            ("dead_letter_queue", &raw.dead_letter_queue),
        ];
        if let Some((key, value)) = rabbit_only
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        {
            let kind_name = kind.map_or("unknown", UpstreamKind::as_str);
            let message = format!(
                r#"{key} is only valid on connectors of a "rabbitmq" or "sqs" upstream ({upstream:?} is "{kind_name}")"#
            );
            return Err(loc.at(&value.span(), field(key), message));
        }
    }
    Ok(ConnectorConfig {
        id: id.clone(),
        name: raw.name.clone().unwrap_or_else(|| id.clone()),
        source: raw.source.clone(),
        destination: raw.destination.clone(),
        direction: raw.direction,
        purpose: raw.purpose.clone(),
        upstream,
        owner,
        backup,
        ack_sla: raw.ack_sla.map_or(refs.default_ack_sla, |d| d.0),
        runbook: raw
            .runbook
            .as_deref()
            .map(|p| resolve_path(refs.config_dir, p)),
        contract: raw
            .contract
            .as_deref()
            .map(|p| resolve_path(refs.config_dir, p)),
        queue: raw.queue.as_ref().map(|q| q.get_ref().clone()),
        dead_letter_queue: raw.dead_letter_queue.as_ref().map(|q| q.get_ref().clone()),
        line: loc.line_of(&spanned.span()),
    })
}

/// `[a-z0-9][a-z0-9._-]*`
fn is_valid_connector_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}
