//! Keyset pagination for the demo API: cursors (`<updated_at ms>.<id as lowercase hex>`, the
//! position after which the next page starts), `updated_since` filtering and the page size.
//!
//! A cursor is a position in the (updated_at, id) order, and every position is a valid place to
//! start a page, so any text of that shape is accepted (the OpenAPI document gives the pattern);
//! only text of another shape is a 400. The id is hex so that any id (any bytes) fits.

use chrono::{DateTime, TimeZone, Utc};

use crate::api::{DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::domain::Timestamp;

/// Position in the (updated_at, id) order: the key every listing is sorted by.
pub type SortKey = (i64, String);

/// Where a page starts: strictly after this (updated_at ms, id bytes) position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub ms: i64,
    pub id: Vec<u8>,
}

impl Position {
    /// Whether `key` comes at or before this position (so a page after it skips the key).
    fn covers(&self, key: &SortKey) -> bool {
        (key.0, key.1.as_bytes()) <= (self.ms, self.id.as_slice())
    }
}

pub fn encode(key: &SortKey) -> String {
    format!("{}.{}", key.0, hex::encode(key.1.as_bytes()))
}

/// Decodes a cursor of the shape `-?[0-9]{1,18}\.([0-9a-f]{2})*`; the error says why the text
/// is not one.
pub fn decode(cursor: &str) -> Result<Position, String> {
    let shape = "a cursor is <updated_at ms>.<id as lowercase hex>";
    let (ms, id) = cursor
        .split_once('.')
        .ok_or_else(|| format!("cursor {cursor:?} has no '.' ({shape})"))?;
    let digits = ms.strip_prefix('-').unwrap_or(ms);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "cursor {cursor:?}: {ms:?} is not 1 to 18 digits ({shape})"
        ));
    }
    let ms: i64 = ms
        .parse()
        .map_err(|_| format!("cursor {cursor:?} has a bad timestamp ({shape})"))?;
    if id.len() % 2 != 0 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "cursor {cursor:?}: the id is not lowercase hex of whole bytes ({shape})"
        ));
    }
    let id = hex::decode(id).map_err(|e| format!("cursor {cursor:?}: {e} ({shape})"))?;
    Ok(Position { ms, id })
}

/// The page size to serve: the default when absent; outside 1..=500 the error says so.
pub fn page_limit(limit: Option<usize>) -> Result<usize, String> {
    match limit {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "limit {n} is out of range; send 1 to {MAX_PAGE_LIMIT} (default {DEFAULT_PAGE_LIMIT})"
        )),
    }
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

/// The smallest key a page may hold: the later of `updated_since` and the cursor's instant
/// (keys at the cursor's instant may still come after its id).
pub fn lower_bound(updated_since: Option<&Timestamp>, after: Option<&Position>) -> Option<SortKey> {
    let since = updated_since.map(millis);
    let at = after.map(|p| p.ms);
    since.max(at).map(|ms| (ms, String::new()))
}

/// Walks `keys` (sorted ascending) and returns up to `limit` keys at or after `updated_since`
/// and strictly after `after`, plus the cursor of the next page when more match.
pub fn page<'a, I>(
    keys: I,
    updated_since: Option<&Timestamp>,
    after: Option<&Position>,
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
        if after.is_some_and(|a| a.covers(key)) {
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
    fn cursor_round_trips_and_rejects_other_shapes() {
        let key = (1_764_400_000_123, "dl_01JDEMO".to_string());
        let position = decode(&encode(&key)).unwrap();
        assert_eq!((position.ms, position.id), (key.0, key.1.into_bytes()));
        for junk in [
            "",
            "not a cursor!",
            "bm9wZQ",
            ".00",
            "12.abc",
            "12.AB",
            "1234567890123456789.00",
            "12x.00",
        ] {
            assert!(decode(junk).is_err(), "{junk:?}");
        }
        // Any position is one: no id, an id that is not UTF-8, a negative instant.
        assert_eq!(decode("0.").unwrap().id, b"");
        assert_eq!(decode("5.ff00").unwrap().id, vec![0xff, 0x00]);
        assert_eq!(decode("-5.").unwrap().ms, -5);
    }

    #[test]
    fn limit_outside_one_to_500_is_refused() {
        assert_eq!(page_limit(None), Ok(DEFAULT_PAGE_LIMIT));
        assert_eq!(page_limit(Some(500)), Ok(500));
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(501)).is_err());
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

    #[test]
    fn a_made_up_position_starts_after_it() {
        let keys: Vec<SortKey> = vec![(1, "a".into()), (1, "b".into()), (2, "a".into())];
        let after = decode(&format!("1.{}", hex::encode("a"))).unwrap();
        let (items, _) = page(keys.iter(), None, Some(&after), 10, |_| true);
        assert_eq!(items, keys[1..].to_vec());
        let after = decode("1.ff").unwrap();
        let (items, _) = page(keys.iter(), None, Some(&after), 10, |_| true);
        assert_eq!(items, keys[2..].to_vec());
    }
}
