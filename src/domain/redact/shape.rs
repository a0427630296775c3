//! Secrets recognised by their shape in free text: URLs (userinfo password, secret query
//! values) and `Bearer` credentials.

use std::borrow::Cow;

use super::{MASK, redact_url};

/// Query keys whose values are secrets (compared without ASCII case).
const SECRET_KEYS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth",
    "key",
    "api_key",
    "apikey",
    "api-key",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Shortest text after `Bearer ` taken for a credential (shorter is ordinary prose).
const MIN_BEARER_LEN: usize = 8;

/// The parts of `scheme://[userinfo@]host[/path][?query][#fragment]`, borrowed from the text.
pub(super) struct UrlParts<'a> {
    pub scheme_and_slashes: &'a str,
    pub userinfo: Option<&'a str>,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    pub fn split(url: &'a str) -> Option<UrlParts<'a>> {
        let colon = url.find("://")?;
        let scheme = &url[..colon];
        let mut chars = scheme.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) || !chars.all(is_scheme_char) {
            return None;
        }
        let rest = &url[colon + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let after = &rest[authority_end..];
        let (before_fragment, fragment) = match after.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (after, None),
        };
        let (path, query) = match before_fragment.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (before_fragment, None),
        };
        Some(UrlParts {
            scheme_and_slashes: &url[..colon + 3],
            userinfo,
            host,
            path,
            query,
            fragment,
        })
    }

    /// The path split into what identifies the service (at most two leading segments, never
    /// the last) and the secret rest (without its leading `/`).
    pub fn split_path(&self) -> (&'a str, &'a str) {
        let path = self.path;
        let count = path.split('/').filter(|s| !s.is_empty()).count();
        let keep = count.saturating_sub(1).min(2);
        let (mut seen, mut end, mut offset) = (0, 0, 0);
        for segment in path.split('/') {
            let segment_end = offset + segment.len();
            if !segment.is_empty() {
                if seen == keep {
                    break;
                }
                seen += 1;
                end = segment_end;
            }
            offset = segment_end + 1;
        }
        (&path[..end], path[end..].trim_start_matches('/'))
    }
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// Ends a URL inside free text (quotes, brackets, whitespace, a JSON escape).
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | '\\')
}

/// `k=v&k2=v2` with the values of secret keys masked.
pub(super) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() && is_secret_key(key) => {
                format!("{key}={MASK}")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.contains(&key.as_str())
        || key.ends_with("_token")
        || key.ends_with("_secret")
        || key.ends_with("_key")
        || key.ends_with("password")
}

/// Every URL in `text` through [`redact_url`], and `Bearer <credential>` masked.
pub(super) fn redact_by_shape(text: &str) -> Cow<'_, str> {
    let urls = redact_urls_in(text);
    match redact_bearer(&urls) {
        Cow::Owned(changed) => Cow::Owned(changed),
        Cow::Borrowed(_) => urls,
    }
}

fn redact_urls_in(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let colons: Vec<usize> = text.match_indices("://").map(|(i, _)| i).collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (n, &colon) in colons.iter().enumerate() {
        let start = scheme_start(text, colon);
        if start == colon || start < copied {
            continue;
        }
        // A URL ends at a delimiter, or where the next one's scheme begins (`x://yhttp://…`).
        let mut end = text[colon..]
            .char_indices()
            .find(|(i, c)| *i >= 3 && ends_url(*c))
            .map_or(text.len(), |(i, _)| colon + i);
        if let Some(&next) = colons.get(n + 1) {
            let next_start = scheme_start(text, next);
            end = end.min(if next_start < next { next_start } else { next });
        }
        let url = &text[start..end];
        let shown = redact_url(url);
        if shown != url {
            out.push_str(&text[copied..start]);
            out.push_str(&shown);
            copied = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where the scheme before the `://` at `colon` starts (`colon` itself when there is none). A
/// scheme starts with a letter: `1http://` is `1` then `http://`.
fn scheme_start(text: &str, colon: usize) -> usize {
    let run_start = text[..colon]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_scheme_char(*c))
        .last()
        .map_or(colon, |(i, _)| i);
    text[run_start..colon]
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or(colon, |i| run_start + i)
}

fn redact_bearer(text: &str) -> Cow<'_, str> {
    const WORD: &[u8] = b"bearer ";
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = bytes.get(search..).and_then(|rest| {
        rest.windows(WORD.len())
            .position(|w| w.eq_ignore_ascii_case(WORD))
    }) {
        let token_start = search + found + WORD.len();
        let token_len = text[token_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=".contains(c)))
            .unwrap_or(text.len() - token_start);
        if token_len >= MIN_BEARER_LEN {
            out.push_str(&text[copied..token_start]);
            out.push_str(MASK);
            copied = token_start + token_len;
        }
        search = token_start + token_len;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}
