//! The value side of a routing matcher: `"exact"`, `"glob:hub*-*"` or `"re:^(major|critical)$"`,
//! and the incident fact it is compared with (`connector`, `kind`, `severity`, `upstream`,
//! `label.<name>`). Pure: compiling a pattern is the only thing that can fail.

use std::fmt;

use serde::{Serialize, Serializer};

/// Which incident fact a matcher looks at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FactKey {
    Connector,
    Kind,
    Severity,
    Upstream,
    /// `label.<name>`: an upstream label such as `team` or `alertname`.
    Label(String),
}

impl FactKey {
    /// `connector`, `kind`, `severity`, `upstream` or `label.<name>`.
    pub fn parse(text: &str) -> Option<FactKey> {
        match text {
            "connector" => Some(FactKey::Connector),
            "kind" => Some(FactKey::Kind),
            "severity" => Some(FactKey::Severity),
            "upstream" => Some(FactKey::Upstream),
            _ => text
                .strip_prefix("label.")
                .filter(|name| !name.is_empty())
                .map(|name| FactKey::Label(name.to_owned())),
        }
    }
}

impl fmt::Display for FactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactKey::Connector => f.write_str("connector"),
            FactKey::Kind => f.write_str("kind"),
            FactKey::Severity => f.write_str("severity"),
            FactKey::Upstream => f.write_str("upstream"),
            FactKey::Label(name) => write!(f, "label.{name}"),
        }
    }
}

/// How a matcher compares: exact text, a glob (`*`, `?`, `[abc]`, `{a,b}`) or a regular
/// expression. Globs and regexes must match the WHOLE value (regexes are anchored for you).
#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Glob {
        source: String,
        matcher: globset::GlobMatcher,
    },
    Regex {
        source: String,
        regex: regex::Regex,
    },
}

/// Prefix selecting a glob pattern.
pub const GLOB_PREFIX: &str = "glob:";
/// Prefix selecting a regular expression.
pub const REGEX_PREFIX: &str = "re:";

impl Pattern {
    /// Parses the config syntax: `glob:<glob>`, `re:<regex>`, anything else is exact text.
    /// The error says what is wrong with the glob or regex.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if let Some(glob) = text.strip_prefix(GLOB_PREFIX) {
            let matcher = globset::GlobBuilder::new(glob)
                .literal_separator(false)
                .build()
                .map_err(|err| format!("invalid glob {glob:?}: {}", err.kind()))?
                .compile_matcher();
            return Ok(Pattern::Glob {
                source: glob.to_owned(),
                matcher,
            });
        }
        if let Some(source) = text.strip_prefix(REGEX_PREFIX) {
            let regex = regex::Regex::new(&format!("^(?:{source})$"))
                .map_err(|err| format!("invalid regular expression {source:?}: {err}"))?;
            return Ok(Pattern::Regex {
                source: source.to_owned(),
                regex,
            });
        }
        Ok(Pattern::Exact(text.to_owned()))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(expected) => expected == value,
            Pattern::Glob { matcher, .. } => matcher.is_match(value),
            Pattern::Regex { regex, .. } => regex.is_match(value),
        }
    }

    /// True when this pattern matches exactly one text.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Pattern::Exact(text) => Some(text),
            _ => None,
        }
    }
}

/// The config syntax back, e.g. `glob:hub*-*`.
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(text) => f.write_str(text),
            Pattern::Glob { source, .. } => write!(f, "{GLOB_PREFIX}{source}"),
            Pattern::Regex { source, .. } => write!(f, "{REGEX_PREFIX}{source}"),
        }
    }
}

/// Two patterns are equal when they were written the same way.
impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One `key = "pattern"` entry of a rule's `match`.
#[derive(Debug, Clone, PartialEq)]
pub struct FactMatcher {
    pub key: FactKey,
    pub pattern: Pattern,
}

impl Serialize for FactMatcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}={}", self.key, self.pattern))
    }
}
