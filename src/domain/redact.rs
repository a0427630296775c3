//! Redaction of secrets before text is persisted or shown: the store (outbox rows, audit rows,
//! upstream states), the log file, stderr, `--json`. Two layers:
//!
//! - by shape, in any text: a URL's userinfo password (`user:***@host`), the values of secret
//!   query keys (`token`, `api_key`, `signature`, `sig`…) and `Bearer`/`Basic` credentials;
//! - by value: a [`Secrets`] registry of the secret strings triage resolved (tokens, passwords,
//!   webhook URLs and the secret part of their path), each replaced wherever it appears.
//!
//! The process keeps one registry ([`register`], [`register_url`], [`scrub`]), filled when the
//! config is loaded and when a secret is resolved; the real values stay only in memory. Pure
//! string work, no I/O.

use std::borrow::Cow;
use std::sync::RwLock;

/// What replaces a password, a token or a secret query value.
pub const MASK: &str = "***";
/// What replaces the secret path of a webhook URL.
pub const REDACTED_PATH: &str = "…(redacted)";
/// Shorter values are not registered: replacing them everywhere would garble ordinary text.
pub const MIN_SECRET_LEN: usize = 6;

/// Known secret strings and what replaces each (longest first, so a whole URL wins over a part).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    entries: Vec<(String, String)>,
}

impl Secrets {
    /// A token or password: replaced by [`MASK`].
    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= MIN_SECRET_LEN {
            self.insert(secret, MASK.to_string());
        }
    }

    /// A URL that is a secret as a whole (a webhook): the URL itself becomes its
    /// [`redact_secret_url`] form, and the secret part of its path (and each of its segments that
    /// looks like a credential, not a word) becomes [`REDACTED_PATH`] wherever it appears alone.
    pub fn add_url(&mut self, url: &str) {
        let url = url.trim();
        if url.len() < MIN_SECRET_LEN {
            return;
        }
        let shown = redact_secret_url(url);
        self.insert(url, shown.clone());
        if let Some(stripped) = url.strip_suffix('/') {
            self.insert(stripped, shown.clone());
        } else {
            self.insert(&format!("{url}/"), shown);
        }
        if let Some(parts) = UrlParts::split(url) {
            let (_, secret) = parts.split_path();
            if secret.contains('/') || looks_secret(secret) {
                self.add_path(secret);
            }
            for segment in secret.split('/').filter(|s| looks_secret(s)) {
                self.add_path(segment);
            }
            if let Some(query) = parts.query {
                self.add(query);
            }
            if let Some((_, password)) = parts.userinfo.and_then(|u| u.split_once(':')) {
                self.add(password);
            }
        }
    }

    /// Every registered secret in `text` replaced, then secrets recognised by shape.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for (needle, replacement) in &self.entries {
            if out.contains(needle.as_str()) {
                out = Cow::Owned(out.replace(needle.as_str(), replacement));
            }
        }
        match redact_by_shape(&out) {
            Cow::Borrowed(_) => out,
            Cow::Owned(changed) => Cow::Owned(changed),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn add_path(&mut self, secret: &str) {
        if secret.len() >= MIN_SECRET_LEN {
            self.insert(secret, REDACTED_PATH.to_string());
        }
    }

    fn insert(&mut self, needle: &str, replacement: String) {
        if self.entries.iter().any(|(n, _)| n == needle) {
            return;
        }
        self.entries.push((needle.to_string(), replacement));
        self.entries
            .sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }
}

/// A path segment that is a credential rather than a word (`webhook`, `services`): long, or
/// letters mixed with digits. Words are left alone so that redaction does not garble prose.
fn looks_secret(segment: &str) -> bool {
    let has_digit = segment.chars().any(|c| c.is_ascii_digit());
    let has_letter = segment.chars().any(|c| c.is_alphabetic());
    segment.len() >= 16 || (segment.len() >= MIN_SECRET_LEN && has_digit && has_letter)
}

static GLOBAL: RwLock<Secrets> = RwLock::new(Secrets {
    entries: Vec::new(),
});

/// Registers a token or password for the whole process.
pub fn register(secret: &str) {
    if let Ok(mut secrets) = GLOBAL.write() {
        secrets.add(secret);
    }
}

/// Registers a secret URL (a webhook) for the whole process.
pub fn register_url(url: &str) {
    if let Ok(mut secrets) = GLOBAL.write() {
        secrets.add_url(url);
    }
}

/// `text` with every secret the process knows of, and every secret recognised by shape, removed.
pub fn scrub(text: &str) -> Cow<'_, str> {
    match GLOBAL.read() {
        Ok(secrets) => match secrets.scrub(text) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(changed) => Cow::Owned(changed),
        },
        // A poisoned registry still redacts by shape.
        Err(_) => redact_by_shape(text),
    }
}

/// A URL safe to show: the password of its userinfo and the values of secret query keys masked
/// (`http://user:***@host/p?token=***&page=2`). Other text is returned as it is.
pub fn redact_url(url: &str) -> String {
    let Some(parts) = UrlParts::split(url) else {
        return url.to_string();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme_and_slashes);
    if let Some(userinfo) = parts.userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push(':');
                out.push_str(MASK);
            }
            None => out.push_str(userinfo),
        }
        out.push('@');
    }
    out.push_str(parts.host);
    out.push_str(parts.path);
    if let Some(query) = parts.query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    if let Some(fragment) = parts.fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// A URL whose path is a secret (a Slack or generic webhook), shown as scheme, host and the
/// first path segments that identify the service: `https://hooks.slack.com/services/T000/…(redacted)`.
/// At most two segments are kept, and never the last one; the query and userinfo are dropped.
pub fn redact_secret_url(url: &str) -> String {
    let Some(parts) = UrlParts::split(url) else {
        return REDACTED_PATH.to_string();
    };
    let (kept, secret) = parts.split_path();
    let mut out = format!("{}{}{}", parts.scheme_and_slashes, parts.host, kept);
    if !secret.is_empty() || parts.query.is_some() || parts.userinfo.is_some() {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(REDACTED_PATH);
    }
    out
}

mod shape;
use shape::{UrlParts, redact_by_shape, redact_query};

#[cfg(test)]
mod tests;
