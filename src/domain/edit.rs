//! Edit before replay (#11 point 9), the pure part: what an operator changed in a dead letter's
//! payload — a line diff with context, the SHA-256 of the original and of the edited bytes — and
//! whether the edit may be sent (an unchanged payload is not a replay; a payload that is not UTF-8
//! cannot be edited as text). The editor itself runs in `crate::editor`.

use sha2::{Digest, Sha256};
use similar::{ChangeTag, TextDiff};

/// Lines of unchanged text kept around each change.
pub const DIFF_CONTEXT: usize = 2;

/// One line of a diff, as shown (text is raw; sanitised where drawn or printed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Removed(String),
    Added(String),
    Same(String),
    /// Unchanged lines left out between two hunks.
    Skipped(usize),
}

impl DiffLine {
    /// `- text`, `+ text`, `  text`, or `… 12 unchanged lines`.
    pub fn render(&self) -> String {
        match self {
            DiffLine::Removed(t) => format!("- {t}"),
            DiffLine::Added(t) => format!("+ {t}"),
            DiffLine::Same(t) => format!("  {t}"),
            DiffLine::Skipped(n) => {
                format!("… {n} unchanged line{}", if *n == 1 { "" } else { "s" })
            }
        }
    }
}

/// What an edit changed, and what it is checked against before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditReview {
    pub upstream: String,
    pub id: String,
    pub connector: String,
    pub original_sha256: String,
    pub edited_sha256: String,
    pub original_len: usize,
    pub edited_len: usize,
    pub diff: Vec<DiffLine>,
    /// Lines added and removed.
    pub added: usize,
    pub removed: usize,
    /// The connector's contract file, when it has one.
    pub contract: Option<String>,
    /// The edited payload's first contract violation (None: it conforms, or there is no contract).
    pub violation: Option<String>,
    /// The edited bytes, sent as they are.
    pub edited: Vec<u8>,
}

impl EditReview {
    /// "3 lines changed (+2 −1), 812 → 815 bytes".
    pub fn summary(&self) -> String {
        format!(
            "+{} −{} lines, {} → {} bytes",
            self.added, self.removed, self.original_len, self.edited_len
        )
    }

    /// The contract verdict in a few words.
    pub fn contract_line(&self) -> String {
        match (&self.contract, &self.violation) {
            (None, _) => "no contract for this connector".into(),
            (Some(file), None) => format!("conforms to {file}"),
            (Some(file), Some(v)) => format!("violates {file}: {v}"),
        }
    }

    /// The audit detail of an edited replay: both hashes and sizes.
    pub fn audit_detail(&self) -> String {
        audit_detail(
            &self.original_sha256,
            self.original_len,
            &self.edited_sha256,
            self.edited_len,
        )
    }
}

/// `original sha256:… (N bytes) → sent sha256:… (M bytes)`.
pub fn audit_detail(original: &str, original_len: usize, sent: &str, sent_len: usize) -> String {
    format!(
        "original sha256:{original} ({original_len} bytes) → sent sha256:{sent} ({sent_len} bytes)"
    )
}

/// Why an edit cannot be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditRefusal {
    #[error("the payload is not UTF-8 text ({0} bytes): edit a copy and use --payload-file")]
    Binary(usize),
    #[error("the payload was not changed: nothing to replay")]
    Unchanged,
    #[error("the edited payload is not UTF-8 text")]
    EditedBinary,
}

/// The text the editor shows. Compact JSON (one long line, as most producers send it) is
/// shown indented, key order and number spelling kept, and minified back when saved; any
/// other text is edited byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditDraft {
    pub text: String,
    /// The payload was compact JSON: what is sent is the edited text minified again.
    pub compact_json: bool,
}

impl EditDraft {
    /// The draft of `payload`, or why it cannot be edited as text.
    pub fn of(payload: &[u8]) -> Result<EditDraft, EditRefusal> {
        let text = match std::str::from_utf8(payload) {
            Ok(text) if !text.contains('\0') => text,
            _ => return Err(EditRefusal::Binary(payload.len())),
        };
        let compact_json = is_json(text) && minify_json(text) == text;
        Ok(EditDraft {
            text: if compact_json {
                indent_json(text)
            } else {
                text.to_string()
            },
            compact_json,
        })
    }

    /// The bytes to send for what the editor saved.
    pub fn to_send(&self, edited: &str) -> Vec<u8> {
        if self.compact_json && is_json(edited) {
            minify_json(edited).into_bytes()
        } else {
            edited.as_bytes().to_vec()
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compares what the editor showed and saved; `check` is the caller's contract check of the
/// bytes to be sent (the domain does no I/O): the contract's name and the first violation.
pub fn review(
    upstream: &str,
    id: &str,
    connector: &str,
    original: &[u8],
    draft: &EditDraft,
    saved: &[u8],
    check: impl FnOnce(&[u8]) -> (Option<String>, Option<String>),
) -> Result<EditReview, EditRefusal> {
    let saved = std::str::from_utf8(saved).map_err(|_| EditRefusal::EditedBinary)?;
    let edited = draft.to_send(saved);
    if original == edited.as_slice() {
        return Err(EditRefusal::Unchanged);
    }
    let (contract, violation) = check(&edited);
    let (diff, added, removed) = line_diff(&draft.text, saved, DIFF_CONTEXT);
    Ok(EditReview {
        upstream: upstream.to_string(),
        id: id.to_string(),
        connector: connector.to_string(),
        original_sha256: sha256_hex(original),
        edited_sha256: sha256_hex(&edited),
        original_len: original.len(),
        edited_len: edited.len(),
        diff,
        added,
        removed,
        contract,
        violation,
        edited,
    })
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Where a character of JSON text falls: inside a string (escapes included) or not.
#[derive(Default)]
struct JsonStrings {
    in_string: bool,
    escaped: bool,
}

impl JsonStrings {
    /// True when `c` belongs to a string (its quotes included): copy it as it is.
    fn in_string(&mut self, c: char) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if c == '\\' {
                self.escaped = true;
            } else if c == '"' {
                self.in_string = false;
            }
            true
        } else if c == '"' {
            self.in_string = true;
            true
        } else {
            false
        }
    }
}

/// Valid JSON without the whitespace between tokens (strings untouched).
pub fn minify_json(text: &str) -> String {
    let mut strings = JsonStrings::default();
    text.chars()
        .filter(|&c| strings.in_string(c) || !c.is_ascii_whitespace())
        .collect()
}

/// Valid JSON indented by two spaces per level, one member per line (strings, key order and
/// numbers exactly as they were; empty objects and arrays stay `{}` / `[]`).
pub fn indent_json(text: &str) -> String {
    let compact = minify_json(text);
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut strings) = (0usize, JsonStrings::default());
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if strings.in_string(c) {
            out.push(c);
            continue;
        }
        match c {
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out.push('\n');
    out
}

/// A line diff keeping `context` unchanged lines around each change; returns the lines and the
/// counts of added and removed lines. A change only in the final newline shows as a changed line.
pub fn line_diff(before: &str, after: &str, context: usize) -> (Vec<DiffLine>, usize, usize) {
    let diff = TextDiff::from_lines(before, after);
    let changes: Vec<(ChangeTag, String)> = diff
        .iter_all_changes()
        .map(|c| {
            let text = c.value();
            let text = text.strip_suffix('\n').unwrap_or(text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            (c.tag(), text.to_string())
        })
        .collect();
    let near_change: Vec<bool> = (0..changes.len())
        .map(|i| {
            let lo = i.saturating_sub(context);
            let hi = (i + context + 1).min(changes.len());
            changes[lo..hi].iter().any(|(t, _)| *t != ChangeTag::Equal)
        })
        .collect();
    let (mut lines, mut added, mut removed, mut skipped) = (Vec::new(), 0, 0, 0);
    for (i, (tag, text)) in changes.into_iter().enumerate() {
        match tag {
            ChangeTag::Equal if !near_change[i] => {
                skipped += 1;
                continue;
            }
            _ => {}
        }
        if skipped > 0 {
            lines.push(DiffLine::Skipped(skipped));
            skipped = 0;
        }
        lines.push(match tag {
            ChangeTag::Equal => DiffLine::Same(text),
            ChangeTag::Delete => {
                removed += 1;
                DiffLine::Removed(text)
            }
            ChangeTag::Insert => {
                added += 1;
                DiffLine::Added(text)
            }
        });
    }
    if skipped > 0 {
        lines.push(DiffLine::Skipped(skipped));
    }
    (lines, added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_contract(_: &[u8]) -> (Option<String>, Option<String>) {
        (None, None)
    }

    #[test]
    fn a_changed_line_shows_with_its_context_and_the_rest_is_counted() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let after = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let (lines, added, removed) = line_diff(before, after, 1);
        assert_eq!((added, removed), (1, 1));
        assert_eq!(
            lines,
            vec![
                DiffLine::Skipped(3),
                DiffLine::Same("d".into()),
                DiffLine::Removed("e".into()),
                DiffLine::Added("E".into()),
                DiffLine::Same("f".into()),
                DiffLine::Skipped(2),
            ]
        );
    }

    #[test]
    fn compact_json_is_shown_indented_and_sent_compact_in_its_own_key_order() {
        let original = br#"{"z":1,"a":{"s":"x, \"y\": {z}","e":[],"n":-1.50e3},"b":[true,null]}"#;
        let draft = EditDraft::of(original).expect("text");
        assert!(draft.compact_json);
        assert_eq!(
            draft.text,
            "{\n  \"z\": 1,\n  \"a\": {\n    \"s\": \"x, \\\"y\\\": {z}\",\n    \"e\": [],\n    \"n\": -1.50e3\n  },\n  \"b\": [\n    true,\n    null\n  ]\n}\n"
        );
        assert_eq!(draft.to_send(&draft.text), original.to_vec());
        let edited = draft.text.replace("\"z\": 1", "\"z\": 2");
        let r = review(
            "u",
            "i",
            "c",
            original,
            &draft,
            edited.as_bytes(),
            no_contract,
        )
        .expect("a real edit");
        assert_eq!(
            r.edited,
            br#"{"z":2,"a":{"s":"x, \"y\": {z}","e":[],"n":-1.50e3},"b":[true,null]}"#.to_vec()
        );
        assert_eq!((r.added, r.removed), (1, 1));
    }

    #[test]
    fn review_hashes_both_payloads_and_refuses_no_change_and_binary() {
        let original = b"{\"a\": 1}";
        let draft = EditDraft::of(original).expect("text");
        assert!(!draft.compact_json, "spaced JSON is edited as it is");
        let r = review(
            "demo",
            "dl-1",
            "c",
            original,
            &draft,
            b"{\"a\": 2}",
            |sent| {
                assert_eq!(sent, b"{\"a\": 2}");
                (Some("x.json".into()), Some("/a: 2 is not a string".into()))
            },
        )
        .expect("a real edit");
        assert_eq!(r.original_sha256, sha256_hex(original));
        assert_eq!(r.edited_sha256, sha256_hex(b"{\"a\": 2}"));
        assert_eq!(r.contract_line(), "violates x.json: /a: 2 is not a string");
        assert!(r.audit_detail().contains(&r.original_sha256));
        assert!(r.audit_detail().contains(&r.edited_sha256));
        assert_eq!(
            review("u", "i", "c", original, &draft, original, no_contract),
            Err(EditRefusal::Unchanged)
        );
        assert_eq!(EditDraft::of(&[0xff, 0]), Err(EditRefusal::Binary(2)));
        assert_eq!(
            review("u", "i", "c", original, &draft, &[0xff], no_contract),
            Err(EditRefusal::EditedBinary)
        );
    }

    #[test]
    fn the_sha256_is_the_standard_one() {
        assert_eq!(
            sha256_hex(b"{\"a\":1}"),
            "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }

    #[test]
    fn a_lone_trailing_newline_change_is_a_change() {
        let draft = EditDraft::of(b"x").expect("text");
        let r = review("u", "i", "c", b"x", &draft, b"x\n", no_contract).expect("changed");
        assert!(r.added + r.removed > 0);
    }
}
