//! Secrets written in the config file itself — a password in an upstream's `url`/`amqp_url`, an
//! inline webhook `url` — registered with `domain::redact` when the config is loaded, so that
//! they are scrubbed from everything triage writes or prints. Secrets from `token_env`,
//! `token_file`, `token_cmd`, `url_env` and `url_file` are registered when they are resolved.

use super::{Config, RoutingConfig};
use crate::domain::redact;

/// Secrets written in the file itself: passwords in upstream URLs, inline webhook URLs.
pub(super) fn register_inline(config: &Config, routing: &RoutingConfig) {
    let urls = config
        .upstreams
        .iter()
        .flat_map(|u| std::iter::once(&u.url).chain(u.amqp_url.as_ref()));
    for url in urls {
        if let Ok(parsed) = url::Url::parse(url)
            && let Some(password) = parsed.password()
        {
            redact::register(password);
        }
    }
    for url in routing.notifiers.iter().filter_map(|n| n.url.as_ref()) {
        redact::register_url(url);
    }
}
