//! The `/` filter's match, shared by the store (an SQL function over every row, payloads
//! included) and the console (the rows already loaded, while the store is asked): a substring
//! match that ignores ASCII case and compares every other byte exactly, on text or raw bytes.
//! The store's search index (`store::search_index`) narrows by the byte trigrams of
//! [`trigrams`], folded the same way, so it can only ever find a superset of what [`contains`]
//! accepts.

/// True when `needle` occurs in `haystack`, ASCII letters compared case-insensitively.
/// An empty needle matches everything.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if needle.len() > haystack.len() {
        return false;
    }
    let last_start = haystack.len() - needle.len();
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut from = 0;
    // Candidates are found by their first byte (either case) with memchr, then compared.
    while from <= last_start {
        let Some(offset) = memchr::memchr2(lower, upper, &haystack[from..=last_start]) else {
            return false;
        };
        let start = from + offset;
        if haystack[start + 1..start + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// [`contains`] over text.
pub fn contains_text(haystack: &str, needle: &str) -> bool {
    contains(haystack.as_bytes(), needle.as_bytes())
}

/// The byte trigrams of `bytes` as 24-bit numbers, ASCII letters folded to lower case as
/// [`contains`] compares them (every other byte as it is), in order and with repeats. Text
/// shorter than 3 bytes has none. If a needle of 3 bytes or more occurs in a haystack, every
/// trigram of the needle is a trigram of the haystack.
pub fn trigrams(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.windows(3).map(|w| {
        (u32::from(w[0].to_ascii_lowercase()) << 16)
            | (u32::from(w[1].to_ascii_lowercase()) << 8)
            | u32::from(w[2].to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_needles_trigrams_are_among_its_haystacks() {
        let haystack = "Order ORD-7731 failed: Café".as_bytes();
        for needle in ["ord-7731", "FAILED: c", "Café", "r O"] {
            assert!(contains(haystack, needle.as_bytes()));
            let all: Vec<u32> = trigrams(haystack).collect();
            assert!(
                trigrams(needle.as_bytes()).all(|g| all.contains(&g)),
                "{needle}"
            );
        }
        assert_eq!(trigrams(b"ab").count(), 0);
        assert_eq!(
            trigrams(b"ABC").collect::<Vec<_>>(),
            trigrams(b"abc").collect::<Vec<_>>()
        );
        assert_ne!(
            trigrams("xÉ".as_bytes()).collect::<Vec<_>>(),
            trigrams("xé".as_bytes()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ascii_case_is_ignored_everything_else_is_exact() {
        assert!(contains_text("Order ORD-7731 failed", "ord-7731"));
        assert!(contains_text("ord-7731", "ORD-7731"));
        assert!(contains_text("anything", ""));
        assert!(!contains_text("", "a"));
        assert!(!contains_text("ord-773", "ord-7731"));
        assert!(contains_text("Café crème", "café"));
        assert!(
            !contains_text("CAFÉ", "café"),
            "non-ASCII letters compare exactly"
        );
        assert!(contains_text("100% _done_", "% _d"), "no wildcards");
    }

    #[test]
    fn bytes_match_anywhere_including_binary() {
        assert!(contains(b"\x00\xffKEY=abc\x00", b"key=ABC"));
        assert!(contains(b"\xff\xfe", b"\xfe"));
        assert!(contains(b"aaab", b"aab"), "overlapping candidates");
        assert!(contains(b"xyz", b"xyz"));
        assert!(!contains(b"xy", b"xyz"));
    }
}
