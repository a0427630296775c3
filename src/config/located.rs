//! Turns byte spans and toml/serde errors into [`ConfigError`]s that name file, line, column
//! and the dotted field path (`connector[2].owner`).

use std::ops::Range;
use std::path::Path;

use serde_path_to_error::Segment;

use super::ConfigError;
use super::key_path;

/// Marker prefix of the private keys `toml::Spanned` uses; never shown in field paths.
const SPANNED_PRIVATE_PREFIX: &str = "$__serde_spanned";

/// Knows the config text so it can turn byte offsets into 1-based line and column.
pub struct Locator<'a> {
    text: &'a str,
    file: &'a Path,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str, file: &'a Path) -> Self {
        Self { text, file }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// 1-based line of a span's start.
    pub fn line_of(&self, span: &Range<usize>) -> usize {
        self.position(span.start).0
    }

    /// An error pointing at `span`.
    pub fn at(
        &self,
        span: &Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        self.error(line, column, field, message)
    }

    fn error(
        &self,
        line: usize,
        column: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Without a span the error still gets a real position: the start of the file.
    fn at_optional(
        &self,
        span: Option<Range<usize>>,
        field: String,
        message: String,
    ) -> ConfigError {
        match span {
            Some(span) => self.at(&span, field, message),
            None => self.error(1, 1, field, message),
        }
    }

    /// A TOML syntax error (the document could not be parsed at all): the parser's words, what
    /// it found there, and the key the broken line belongs to.
    pub fn syntax(&self, err: toml::de::Error) -> ConfigError {
        let span = err.span();
        let offset = span.as_ref().map_or(0, |s| s.start);
        let found = span.as_ref().map(|s| self.found(s));
        let said = tidy_message(err.message());
        let message = match (said.as_str(), found) {
            ("duplicate key", Some(key)) => {
                format!("invalid TOML: duplicate key: {key} is already defined in this table")
            }
            ("", Some(found)) => format!("invalid TOML: unexpected {found}"),
            ("", None) => "invalid TOML: the parser gave no reason".to_owned(),
            (said, Some(found)) => format!("invalid TOML: {said}; found {found}"),
            (said, None) => format!("invalid TOML: {said}"),
        };
        self.at_optional(span, key_path::at(self.text, offset), message)
    }

    /// What the text holds at `span`, in words: a quoted snippet, "end of line" or "end of file".
    fn found(&self, span: &Range<usize>) -> String {
        let start = span.start.min(self.text.len());
        let rest = self.text.get(start..).unwrap_or_default();
        let end = span.end.clamp(start, self.text.len()) - start;
        let snippet = rest.get(..end).unwrap_or_default();
        let snippet = if snippet.trim().is_empty() {
            rest.chars().next().map(String::from).unwrap_or_default()
        } else {
            snippet.to_owned()
        };
        match snippet.as_str() {
            "" => "end of file".to_owned(),
            "\n" | "\r" | "\r\n" => "end of line".to_owned(),
            s if s.starts_with('\n') || s.starts_with('\r') => "end of line".to_owned(),
            s => {
                let short: String = s.chars().take(24).collect();
                let more = if s.chars().count() > 24 { "…" } else { "" };
                format!("{short:?}{more}")
            }
        }
    }

    /// A shape error: unknown key, missing key, wrong type, bad duration or enum value.
    pub fn shape(&self, err: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
        let mut field = field_path(err.path());
        let inner = err.inner();
        let raw_message = inner.message();
        let named = quoted_name_after(raw_message, "missing field `")
            .or_else(|| quoted_name_after(raw_message, "unknown field `"));
        if let Some(name) = named
            && field != name
            && !field.ends_with(&format!(".{name}"))
        {
            field = join_field(&field, name);
        }
        let field = if field.is_empty() {
            key_path::at(self.text, inner.span().map_or(0, |s| s.start))
        } else {
            field
        };
        self.at_optional(inner.span(), field, tidy_message(raw_message))
    }
}

/// `upstream[0].poll_interval` from a serde path, skipping `Spanned`'s private keys.
fn field_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !key.starts_with(SPANNED_PRIVATE_PREFIX) {
                    out = join_field(&out, key);
                }
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join_field(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// The name between the backticks following `prefix`, e.g. `ownr` in "unknown field `ownr`, …".
fn quoted_name_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// serde quotes names with backticks; operators read double quotes more easily.
fn tidy_message(message: &str) -> String {
    message.trim().replace('`', "\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let text = "a = 1\nb = \"é\"\nc";
        let locator = Locator::new(text, Path::new("t.toml"));
        assert_eq!(locator.position(0), (1, 1));
        assert_eq!(locator.position(6), (2, 1));
        let c = text.find('c').unwrap_or_default();
        assert_eq!(locator.position(c), (3, 1));
        let after_e = text.find("é\"").unwrap_or_default() + 'é'.len_utf8();
        assert_eq!(locator.position(after_e), (2, 7));
    }
}
