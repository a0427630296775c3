//! Checks one `[[notifier]]`: a unique id, exactly one of `url` / `url_env` / `url_file` (a Slack
//! webhook URL is a secret: keep it out of the file with `url_env` or `url_file`), an http(s)
//! URL when written inline, and a timeout.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::located::Locator;
use super::raw::RawNotifier;
use super::validate::resolve_path;
use super::{ConfigError, NotifierConfig, TokenSource};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn notifiers(
    raw: &[Spanned<RawNotifier>],
    loc: &Locator,
    config_dir: &Path,
) -> Result<Vec<NotifierConfig>, ConfigError> {
    let mut out: Vec<NotifierConfig> = Vec::new();
    for (index, spanned) in raw.iter().enumerate() {
        let n = spanned.get_ref();
        let field = |key: &str| format!("notifier[{index}].{key}");
        let id = n.id.get_ref();
        if id.trim().is_empty() {
            return Err(loc.at(&n.id.span(), field("id"), "must not be empty"));
        }
        if let Some(first) = out.iter().find(|o| o.id == *id) {
            let message = format!(
                "duplicate notifier id {id:?} (first defined at line {})",
                first.line
            );
            return Err(loc.at(&n.id.span(), field("id"), message));
        }
        let sources = [
            ("url", &n.url),
            ("url_env", &n.url_env),
            ("url_file", &n.url_file),
        ];
        let set: Vec<(&str, &Spanned<String>)> = sources
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        let url = match set.as_slice() {
            [] => {
                let message = "one of url, url_env or url_file is required".to_string();
                return Err(loc.at(&spanned.span(), field("url"), message));
            }
            [(_, _), (second, value), ..] => {
                let message = "only one of url, url_env, url_file may be set".to_string();
                return Err(loc.at(&value.span(), field(second), message));
            }
            [("url", value)] => {
                let text = value.get_ref();
                match url::Url::parse(text) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => TokenSource::None,
                    _ => {
                        let shown = crate::domain::redact::redact_secret_url(text);
                        let message = format!(
                            "expected an http or https URL like \"https://hooks.slack.com/services/…\", found {shown:?}"
                        );
                        return Err(loc.at(&value.span(), field("url"), message));
                    }
                }
            }
            [("url_env", value)] => TokenSource::Env(value.get_ref().clone()),
            [(_, value)] => TokenSource::File(resolve_path(config_dir, value.get_ref())),
        };
        let timeout = match &n.timeout {
            Some(t) => t.get_ref().0,
            None => DEFAULT_TIMEOUT,
        };
        if timeout.is_zero() {
            let span = n
                .timeout
                .as_ref()
                .map(|t| t.span())
                .unwrap_or_else(|| spanned.span());
            return Err(loc.at(&span, field("timeout"), "must be more than 0s"));
        }
        out.push(NotifierConfig {
            id: id.clone(),
            kind: n.kind,
            url: n.url.as_ref().map(|u| u.get_ref().clone()),
            url_source: url,
            timeout,
            line: loc.line_of(&spanned.span()),
        });
    }
    Ok(out)
}
