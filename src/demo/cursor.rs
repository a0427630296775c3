//! Keyset pagination for the demo API: opaque cursors (base64url of the last item's
//! `(updated_at_ms, id)`), `updated_since` filtering and limit clamping.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};

use crate::api::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::domain::Timestamp;

/// Position in the (updated_at, id) order: the key every listing is sorted by.
pub type SortKey = (i64, String);

pub fn encode(key: &SortKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", key.0, key.1))
}

/// Decodes a cursor made by [`encode`]; the error says why it is not one.
pub fn decode(cursor: &str) -> Result<SortKey, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|e| format!("cursor {cursor:?} is not base64url: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("cursor {cursor:?} is not UTF-8"))?;
    let (ms, id) = text
        .split_once(':')
        .ok_or_else(|| format!("cursor {cursor:?} has no position"))?;
    let ms: i64 = ms
        .parse()
        .map_err(|_| format!("cursor {cursor:?} has a bad timestamp"))?;
    if id.is_empty() {
        return Err(format!("cursor {cursor:?} has no id"));
    }
    Ok((ms, id.to_string()))
}

/// The page size to serve: default when absent, clamped to 1..=500.
pub fn clamp_limit(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE_LIMIT).clamp(1, MAX_PAGE_LIMIT)
}

/// Milliseconds since the epoch (the precision of every demo timestamp).
pub fn millis(ts: &Timestamp) -> i64 {
    ts.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Timestamp {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Walks `keys` (sorted ascending) and returns up to `limit` keys at or after `updated_since`
/// and strictly after `after`, plus the cursor of the next page when more match.
pub fn page<'a, I>(
    keys: I,
    updated_since: Option<&Timestamp>,
    after: Option<&SortKey>,
    limit: usize,
    mut keep: impl FnMut(&SortKey) -> bool,
) -> (Vec<SortKey>, Option<String>)
where
    I: Iterator<Item = &'a SortKey>,
{
    let since_ms = updated_since.map(millis);
    let mut out: Vec<SortKey> = Vec::with_capacity(limit.min(64));
    let mut more = false;
    for key in keys {
        if since_ms.is_some_and(|since| key.0 < since) {
            continue;
        }
        if after.is_some_and(|a| key <= a) {
            continue;
        }
        if !keep(key) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(key.clone());
    }
    let next = if more { out.last().map(encode) } else { None };
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_junk() {
        let key = (1_764_400_000_123, "dl_01JDEMO".to_string());
        assert_eq!(decode(&encode(&key)).unwrap(), key);
        assert!(decode("not a cursor!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("12x:abc")).is_err());
    }

    #[test]
    fn pages_cover_every_key_once() {
        let keys: Vec<SortKey> = (0..23).map(|i| (i / 3, format!("id{i:02}"))).collect();
        let mut seen = vec![];
        let mut after = None;
        loop {
            let (items, next) = page(keys.iter(), None, after.as_ref(), 7, |_| true);
            seen.extend(items);
            match next {
                Some(c) => after = Some(decode(&c).unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, keys);
    }
}
