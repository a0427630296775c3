//! Keymap as data: `assets/keymap.toml` (compiled in) overridden key by key by the user's file.
//! Owns key names (`Key`), the actions keys trigger (`KeyAction`) and the `?` help / footer lists.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::app::View;
pub use super::key::Key;

/// The built-in keymap.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// What a key does. The order here is the order of the help screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    Help,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    Open,
    Back,
    NextView,
    PrevView,
    ViewConnectors,
    ViewIncidents,
    ViewDeadLetters,
    ViewRunbook,
    ViewActivity,
    ViewMetrics,
    MetricsWindow,
    MetricsBy,
    Ack,
    Unack,
    Escalate,
    Resolve,
    Replay,
    EditReplay,
    Discard,
    Retry,
    RunsFocus,
    PauseRun,
    CancelRun,
    Mark,
    MarkAll,
    ClearMarks,
    Filter,
    SortNext,
    SortPrev,
    SortReverse,
    Command,
    Note,
    Undo,
    OpenLink,
    Page,
    YankId,
    YankPayload,
    OpenRunbook,
    Quit,
    ForceQuit,
    Suspend,
    /// Unbinds a key in a user keymap.
    None,
}

impl KeyAction {
    /// True for actions that change an upstream (refused in read-only mode).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Self::Ack
                | Self::Unack
                | Self::Escalate
                | Self::Resolve
                | Self::Replay
                | Self::EditReplay
                | Self::Discard
                | Self::Retry
                | Self::PauseRun
                | Self::CancelRun
                | Self::Undo
        )
    }

    /// Short label for the footer.
    pub fn label(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::Down | Self::Up => "scroll",
            Self::Top => "top",
            Self::Bottom => "bottom",
            Self::PageDown | Self::PageUp => "page",
            Self::Open => "open",
            Self::Back => "back",
            Self::NextView | Self::PrevView => "view",
            Self::ViewConnectors => "connectors",
            Self::ViewIncidents => "incidents",
            Self::ViewDeadLetters => "dead letters",
            Self::ViewRunbook => "runbook",
            Self::ViewActivity => "activity",
            Self::ViewMetrics => "metrics",
            Self::MetricsWindow => "window",
            Self::MetricsBy => "by team/connector",
            Self::Ack => "ack",
            Self::Unack => "un-ack",
            Self::Escalate => "escalate",
            Self::Resolve => "resolve",
            Self::Replay => "replay",
            Self::EditReplay => "edit",
            Self::Discard => "discard",
            Self::Retry => "retry",
            Self::RunsFocus => "runs",
            Self::PauseRun => "pause/resume",
            Self::CancelRun => "cancel run",
            Self::Mark => "mark",
            Self::MarkAll => "mark all",
            Self::ClearMarks => "unmark",
            Self::Filter => "filter",
            Self::SortNext | Self::SortPrev => "sort",
            Self::SortReverse => "reverse",
            Self::Command => "command",
            Self::Note => "note",
            Self::Undo => "undo",
            Self::OpenLink => "link",
            Self::Page => "pager",
            Self::YankId => "copy id",
            Self::YankPayload => "copy payload",
            Self::OpenRunbook => "runbook",
            Self::Quit => "quit",
            Self::ForceQuit => "quit now",
            Self::Suspend => "suspend",
            Self::None => "",
        }
    }

    /// Whether the footer of `view` lists this action (the most useful keys there).
    pub fn in_footer(self, view: View) -> bool {
        match self {
            Self::Ack
            | Self::Unack
            | Self::Escalate
            | Self::Resolve
            | Self::Note
            | Self::OpenLink => view == View::Incidents,
            Self::Replay | Self::EditReplay | Self::Discard | Self::YankPayload | Self::Page => {
                view == View::DeadLetters
            }
            Self::Mark | Self::MarkAll | Self::ClearMarks => {
                matches!(view, View::Incidents | View::DeadLetters)
            }
            Self::YankId => view != View::Runbook,
            Self::Command => true,
            // p and C are named in the runs list's title once it has the focus.
            Self::Retry | Self::RunsFocus => view == View::Activity,
            Self::Open => view != View::Runbook,
            Self::OpenRunbook => {
                matches!(view, View::Connectors | View::Incidents | View::DeadLetters)
            }
            Self::MetricsWindow | Self::MetricsBy => view == View::Metrics,
            Self::Filter => !matches!(view, View::Runbook | View::Metrics),
            Self::SortNext => {
                matches!(view, View::Connectors | View::Incidents | View::DeadLetters)
            }
            Self::Down | Self::Back => view == View::Runbook,
            Self::Help | Self::Quit => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub action: KeyAction,
    pub description: String,
    /// `confirm = true|false` in the keymap (None: the action's default).
    pub confirm: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeymapFile {
    #[serde(default)]
    keys: BTreeMap<String, BindingSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingSpec {
    action: KeyAction,
    #[serde(default)]
    description: Option<String>,
    /// Ask before acting (escalate, resolve, un-ack and retry do by default).
    #[serde(default)]
    confirm: Option<bool>,
}

/// A keymap file could not be used; says which file and what to fix.
#[derive(Debug, thiserror::Error)]
#[error("keymap {source_name}: {message}")]
pub struct KeymapError {
    pub source_name: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: BTreeMap<Key, Binding>,
}

impl Keymap {
    /// The built-in keymap alone.
    pub fn builtin() -> Result<Keymap, KeymapError> {
        let mut keymap = Keymap {
            bindings: BTreeMap::new(),
        };
        keymap.apply(DEFAULT_KEYMAP, "assets/keymap.toml (built in)", true)?;
        Ok(keymap)
    }

    /// The built-in keymap overridden key by key by `user_text` (named `user_name` in errors).
    pub fn with_overrides(user_text: &str, user_name: &str) -> Result<Keymap, KeymapError> {
        let mut keymap = Self::builtin()?;
        keymap.apply(user_text, user_name, false)?;
        Ok(keymap)
    }

    /// The built-in keymap plus the user's file at `path` when it exists.
    pub fn load(path: Option<&Path>) -> Result<Keymap, KeymapError> {
        match path {
            Some(path) if path.exists() => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| KeymapError {
                    source_name: name.clone(),
                    message: format!("cannot read it ({e}); fix its permissions or remove it"),
                })?;
                Self::with_overrides(&text, &name)
            }
            _ => Self::builtin(),
        }
    }

    fn apply(&mut self, text: &str, name: &str, need_description: bool) -> Result<(), KeymapError> {
        let file: KeymapFile = toml::from_str(text).map_err(|e| KeymapError {
            source_name: name.into(),
            message: e.to_string(),
        })?;
        for (key_name, spec) in file.keys {
            let key = Key::parse(&key_name).ok_or_else(|| KeymapError {
                source_name: name.into(),
                message: format!("keys.\"{key_name}\": unknown key name (use one character, a named key like `enter`, or `ctrl-x`)"),
            })?;
            if spec.action == KeyAction::None {
                self.bindings.remove(&key);
                continue;
            }
            let description = match spec.description {
                Some(d) if !d.trim().is_empty() => d,
                _ if need_description => {
                    return Err(KeymapError {
                        source_name: name.into(),
                        message: format!("keys.\"{key_name}\": missing description"),
                    });
                }
                _ => self.default_description(spec.action),
            };
            self.bindings.insert(
                key,
                Binding {
                    action: spec.action,
                    description,
                    confirm: spec.confirm,
                },
            );
        }
        Ok(())
    }

    fn default_description(&self, action: KeyAction) -> String {
        self.bindings
            .values()
            .find(|b| b.action == action)
            .map(|b| b.description.clone())
            .unwrap_or_else(|| action.label().into())
    }

    /// Whether `action` asks before it acts: what a binding of it says (`confirm = false` on
    /// any of its keys turns the question off), else its default — escalate pages, resolve
    /// closes, un-ack restarts the clock and retry sends again, so those ask.
    pub fn confirms(&self, action: KeyAction) -> bool {
        let said: Vec<bool> = self
            .bindings
            .values()
            .filter(|b| b.action == action)
            .filter_map(|b| b.confirm)
            .collect();
        if said.is_empty() {
            matches!(
                action,
                KeyAction::Escalate | KeyAction::Resolve | KeyAction::Unack | KeyAction::Retry
            )
        } else {
            said.iter().all(|c| *c)
        }
    }

    pub fn action(&self, key: &Key) -> Option<KeyAction> {
        self.bindings.get(key).map(|b| b.action)
    }

    pub fn bindings(&self) -> impl Iterator<Item = (&Key, &Binding)> {
        self.bindings.iter()
    }

    /// Keys bound to `action`, in key order.
    pub fn keys_for(&self, action: KeyAction) -> Vec<&Key> {
        self.bindings
            .iter()
            .filter(|(_, b)| b.action == action)
            .map(|(k, _)| k)
            .collect()
    }

    /// One help line per action: (keys joined, description), in help order.
    pub fn help_lines(&self) -> Vec<(String, String)> {
        let mut by_action: BTreeMap<KeyAction, (Vec<&str>, &str)> = BTreeMap::new();
        for (key, binding) in &self.bindings {
            let entry = by_action
                .entry(binding.action)
                .or_insert((Vec::new(), &binding.description));
            entry.0.push(key.name());
        }
        by_action
            .into_values()
            .map(|(mut keys, description)| {
                keys.sort_by_key(|k| (k.chars().count(), k.to_string()));
                (keys.join(" "), description.to_string())
            })
            .collect()
    }

    /// Footer entries for `view`: (first key, label).
    pub fn footer(&self, view: View) -> Vec<(String, &'static str)> {
        let mut seen: BTreeMap<KeyAction, String> = BTreeMap::new();
        let mut keys: Vec<(&Key, &Binding)> = self.bindings.iter().collect();
        keys.sort_by_key(|(k, _)| (k.name().chars().count(), k.name().to_string()));
        for (key, binding) in keys {
            if binding.action.in_footer(view) {
                seen.entry(binding.action)
                    .or_insert_with(|| key.name().to_string());
            }
        }
        seen.into_iter()
            .map(|(action, key)| (key, action.label()))
            .collect()
    }
}
