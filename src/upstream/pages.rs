//! Snapshot pages, for adapters that read whole DLQs (RabbitMQ, SQS): the last read is kept as
//! an in-memory snapshot served in pages of [`PAGE`] through cursors `<generation>:<offset>`; a
//! cursor of an older snapshot (or a foreign one) names nothing, and the caller reads again.

use crate::upstream::FetchPage;

/// Dead letters per page.
pub const PAGE: usize = 500;

/// The page of `items` (snapshot `generation`) that starts at `offset`, with the cursor of the
/// next one when more follow.
pub fn page_of<T: Clone>(items: &[T], generation: u64, offset: usize) -> FetchPage<T> {
    let end = offset.saturating_add(PAGE).min(items.len());
    let items_out = items
        .get(offset..end)
        .map(<[T]>::to_vec)
        .unwrap_or_default();
    let next_cursor = (end < items.len()).then(|| format!("{generation}:{end}"));
    FetchPage {
        items: items_out,
        next_cursor,
    }
}

/// The offset `cursor` names in snapshot `generation`; `None` for an older snapshot's cursor or
/// one that is not a cursor.
pub fn cursor_offset(cursor: &str, generation: u64) -> Option<usize> {
    let (of, offset) = cursor.split_once(':')?;
    if of.parse::<u64>().ok()? != generation {
        return None;
    }
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_with_no_cursor_and_stale_cursors_name_nothing() {
        let items: Vec<usize> = (0..PAGE + 3).collect();
        let first = page_of(&items, 4, 0);
        assert_eq!(first.items.len(), PAGE);
        let cursor = first.next_cursor.expect("a second page");
        assert_eq!(cursor, format!("4:{PAGE}"));
        let offset = cursor_offset(&cursor, 4).expect("current");
        let second = page_of(&items, 4, offset);
        assert_eq!(second.items, vec![PAGE, PAGE + 1, PAGE + 2]);
        assert!(second.next_cursor.is_none());
        assert_eq!(
            cursor_offset(&cursor, 5),
            None,
            "an older snapshot's cursor"
        );
        assert_eq!(cursor_offset("garbage", 4), None);
        assert!(page_of(&items, 4, 10_000).items.is_empty());
    }
}
