//! Checks one `[[upstream]]` entry: URL schemes, a single token source, RabbitMQ-only and
//! SQS-only keys (`sqs_upstream`), `ca_file` only with a TLS URL (`https://`, or `amqps://` on
//! RabbitMQ) and the poll interval floor, and builds the [`UpstreamConfig`] with defaults.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::located::Locator;
use super::raw::RawUpstream;
use super::validate::resolve_path;
use super::{ConfigError, TokenSource, UpstreamConfig};
use crate::config::sqs_upstream;
use crate::domain::UpstreamKind;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(200);

pub(super) fn upstream(
    index: usize,
    spanned: &Spanned<RawUpstream>,
    loc: &Locator,
    config_dir: &Path,
) -> Result<UpstreamConfig, ConfigError> {
    let raw = spanned.get_ref();
    let field = |key: &str| format!("upstream[{index}].{key}");
    check_url(
        &raw.url,
        &["http", "https"],
        r#""http://127.0.0.1:7777""#,
        field("url"),
        loc,
    )?;

    let sources = [
        ("token_env", &raw.token_env),
        ("token_file", &raw.token_file),
        ("token_cmd", &raw.token_cmd),
    ];
    let set: Vec<(&str, &Spanned<String>)> = sources
        .iter()
        .filter_map(|(key, value)| value.as_ref().map(|v| (*key, v)))
        .collect();
    if let [(first, _), (second, value), ..] = set.as_slice() {
        let message = format!(
            "only one of token_env, token_file, token_cmd may be set ({first} is also set)"
        );
        return Err(loc.at(&value.span(), field(second), message));
    }
    let token = match (&raw.token_env, &raw.token_file, &raw.token_cmd) {
        (Some(name), _, _) => TokenSource::Env(name.get_ref().clone()),
        (_, Some(path), _) => TokenSource::File(resolve_path(config_dir, path.get_ref())),
        (_, _, Some(cmd)) => TokenSource::Cmd(cmd.get_ref().clone()),
        _ => TokenSource::None,
    };

    if raw.kind != UpstreamKind::Rabbitmq {
        let rabbit_only = [
            ("amqp_url", &raw.amqp_url),
            ("vhost", &raw.vhost),
            ("username", &raw.username),
        ];
        if let Some((key, value)) = rabbit_only
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        {
            let message = format!(
                r#"{key} is only valid for kind = "rabbitmq" (this upstream is "{}")"#,
                raw.kind.as_str()
            );
            return Err(loc.at(&value.span(), field(key), message));
        }
    }
    let sqs = sqs_upstream::check(index, spanned, loc, config_dir)?;
    if let Some(amqp_url) = &raw.amqp_url {
        check_url(
            amqp_url,
            &["amqp", "amqps"],
            r#""amqp://127.0.0.1:5672""#,
            field("amqp_url"),
            loc,
        )?;
    }
    if let Some(ca_file) = &raw.ca_file {
        check_ca_file(ca_file, raw, field("ca_file"), loc)?;
    }

    let poll_interval = raw
        .poll_interval
        .as_ref()
        .map_or(DEFAULT_POLL_INTERVAL, |p| p.get_ref().0);
    if let Some(spanned_poll) = &raw.poll_interval
        && poll_interval < MIN_POLL_INTERVAL
    {
        let message = format!(
            "poll_interval {} is too small (minimum 200ms)",
            humantime::format_duration(poll_interval)
        );
        return Err(loc.at(&spanned_poll.span(), field("poll_interval"), message));
    }
    let timeout = raw
        .timeout
        .as_ref()
        .map_or(DEFAULT_TIMEOUT, |t| t.get_ref().0);
    if let Some(spanned_timeout) = &raw.timeout
        && timeout.is_zero()
    {
        return Err(loc.at(
            &spanned_timeout.span(),
            field("timeout"),
            "timeout must be greater than zero",
        ));
    }

    Ok(UpstreamConfig {
        id: raw.id.get_ref().clone(),
        kind: raw.kind,
        url: raw.url.get_ref().clone(),
        amqp_url: raw.amqp_url.as_ref().map(|v| v.get_ref().clone()),
        vhost: raw.vhost.as_ref().map(|v| v.get_ref().clone()),
        username: raw.username.as_ref().map(|v| v.get_ref().clone()),
        ca_file: raw
            .ca_file
            .as_ref()
            .map(|v| resolve_path(config_dir, v.get_ref())),
        token,
        poll_interval,
        timeout,
        sqs,
        line: loc.line_of(&spanned.span()),
    })
}

/// `ca_file` only means something for a TLS connection: an `https://` url (every kind) or, on
/// RabbitMQ, an `amqps://` amqp_url.
fn check_ca_file(
    ca_file: &Spanned<String>,
    raw: &RawUpstream,
    field: String,
    loc: &Locator,
) -> Result<(), ConfigError> {
    if ca_file.get_ref().trim().is_empty() {
        return Err(loc.at(&ca_file.span(), field, "ca_file must not be empty"));
    }
    let scheme = |url: Option<&Spanned<String>>| {
        url.and_then(|u| url::Url::parse(u.get_ref()).ok())
            .map(|u| u.scheme().to_string())
    };
    let https = scheme(Some(&raw.url)).as_deref() == Some("https");
    let amqps = scheme(raw.amqp_url.as_ref()).as_deref() == Some("amqps");
    if https || amqps {
        return Ok(());
    }
    let message = if raw.kind == UpstreamKind::Rabbitmq {
        "ca_file only applies to TLS connections: url must be an https:// URL or amqp_url an \
         amqps:// URL (remove ca_file, or switch to the broker's TLS listeners)"
    } else {
        "ca_file only applies to TLS connections: url must be an https:// URL (remove ca_file, \
         or switch url to https://)"
    };
    Err(loc.at(&ca_file.span(), field, message))
}

fn check_url(
    value: &Spanned<String>,
    schemes: &[&str],
    example: &str,
    field: String,
    loc: &Locator,
) -> Result<(), ConfigError> {
    let text = value.get_ref();
    let problem = match url::Url::parse(text) {
        Ok(parsed) if schemes.contains(&parsed.scheme()) => return Ok(()),
        Ok(parsed) => format!("scheme {:?} is not allowed", parsed.scheme()),
        Err(err) => err.to_string(),
    };
    let wanted = schemes.join(" or ");
    let shown = crate::domain::redact::redact_url(text);
    let message = format!("expected a {wanted} URL like {example}, found {shown:?} ({problem})");
    Err(loc.at(&value.span(), field, message))
}
