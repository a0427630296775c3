//! The dotted key path (`upstream[1].token_env`) at a byte offset of a config text, found by
//! reading the lines before it. Used for errors the TOML parser reports without a path: a syntax
//! error stops parsing, so there is no document to ask, yet the operator still wants to know
//! which entry is broken. Best effort by design (a `[` at the start of a line inside a multi-line
//! string would be taken for a header); it is only ever used to name a field in a message.

use std::collections::HashMap;

/// Field name for errors about the whole file (unreadable, not UTF-8, empty).
pub const WHOLE_FILE: &str = "(file)";
/// Field name for errors outside any key (a stray character at the top level).
pub const TOP_LEVEL: &str = "(top level)";

/// The key path at `offset` of `text`, e.g. `upstream[1].url`, or the table's path when the
/// line holds no key, or [`TOP_LEVEL`].
pub fn at(text: &str, offset: usize) -> String {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut tables = Tables::default();
    let mut last_key: Option<String> = None;
    for line in text[..line_start].lines() {
        if let Some(header) = header_of(line) {
            tables.enter(&header);
            last_key = None;
        } else if let Some(key) = key_of(line) {
            last_key = Some(key);
        }
    }
    let line = &text[line_start..line_end];
    if let Some(header) = header_of(line) {
        // The broken line is a header itself: name the table it opens.
        tables.enter(&header);
        return or_top_level(tables.current.clone());
    }
    // A line without `key =` continues a multi-line value: it belongs to the key before it.
    let key = key_of(line).or(last_key);
    let path = match key {
        Some(key) if tables.current.is_empty() => key,
        Some(key) => format!("{}.{key}", tables.current),
        None => tables.current.clone(),
    };
    or_top_level(path)
}

fn or_top_level(path: String) -> String {
    if path.is_empty() {
        TOP_LEVEL.to_owned()
    } else {
        path
    }
}

#[derive(Debug, Clone)]
struct Header {
    segments: Vec<String>,
    array: bool,
}

#[derive(Default)]
struct Tables {
    /// The current table's path with indices, e.g. `chain[0].step[2]`.
    current: String,
    /// Array-of-tables count per parent-resolved path (`chain[0].step` → 3).
    counts: HashMap<String, usize>,
    /// Plain dotted name of an array of tables → its latest element's path.
    latest: HashMap<String, String>,
}

impl Tables {
    fn enter(&mut self, header: &Header) {
        let mut resolved = String::new();
        let mut plain = String::new();
        let last = header.segments.len().saturating_sub(1);
        for (i, segment) in header.segments.iter().enumerate() {
            plain = join(&plain, segment);
            resolved = join(&resolved, segment);
            if i == last && header.array {
                let count = self.counts.entry(resolved.clone()).or_insert(0);
                let element = format!("{resolved}[{count}]");
                *count += 1;
                self.latest.insert(plain.clone(), element.clone());
                resolved = element;
            } else if let Some(element) = self.latest.get(&plain) {
                resolved = element.clone();
            }
        }
        self.current = resolved;
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `[a.b]` or `[[a.b]]` (an unclosed one too, for the line a syntax error is on).
fn header_of(line: &str) -> Option<Header> {
    let trimmed = line.trim_start();
    let (inner, array) = if let Some(rest) = trimmed.strip_prefix("[[") {
        (rest, true)
    } else if let Some(rest) = trimmed.strip_prefix('[') {
        (rest, false)
    } else {
        return None;
    };
    let name = inner.split(']').next().unwrap_or_default();
    let segments = dotted(name)?;
    Some(Header { segments, array })
}

/// The key of a `key = value` line (dotted keys kept dotted), if the line starts with one.
fn key_of(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with('[') {
        return None;
    }
    let (key, _) = trimmed.split_once('=')?;
    dotted(key).map(|segments| segments.join("."))
}

/// Segments of a dotted key (`a . "b c"` → `a`, `b c`); `None` if it is not a plausible key.
fn dotted(key: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = key
        .split('.')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
        .collect();
    let plausible = segments.iter().all(|s| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' ' | '@' | ':'))
    });
    plausible.then_some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_needle(text: &str, needle: &str) -> String {
        at(text, text.find(needle).unwrap_or(usize::MAX))
    }

    #[test]
    fn names_keys_in_arrays_of_tables_and_nested_ones() {
        let text = "operator = \"x\"\n[[upstream]]\nid = \"a\"\n[[upstream]]\nid = \"b\"\n\
                    url = oops\n[[chain]]\nname = \"c\"\n[[chain.step]]\nafter = \"1m\"\n\
                    [[chain.step]]\nafter = bad\n[[chain]]\n[[chain.step]]\nnotify = [1,\n 2 x]\n";
        assert_eq!(at_needle(text, "oops"), "upstream[1].url");
        assert_eq!(at_needle(text, "\"x\""), "operator");
        assert_eq!(at_needle(text, "bad"), "chain[0].step[1].after");
        assert_eq!(at_needle(text, "2 x"), "chain[1].step[0].notify");
    }

    #[test]
    fn a_broken_header_names_its_table_and_a_stray_top_level_character_says_so() {
        assert_eq!(at_needle("a = 1\n[[upstream]\nid = 2", "]"), "upstream[0]");
        assert_eq!(at_needle("= 3\n", "="), TOP_LEVEL);
        assert_eq!(at("", 0), TOP_LEVEL);
    }
}
