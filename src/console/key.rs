//! Key names: the canonical spelling of a key press (`j`, `G`, `enter`, `ctrl-c`) shared by
//! the keymap file, terminal events and tests.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key in its canonical name: one character (`j`, `G`, `?`), a named key (`enter`, `pgdn`)
/// or `ctrl-<char>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// Parses a key name as written in a keymap file (named keys are case-insensitive).
    pub fn parse(name: &str) -> Option<Key> {
        let mut chars = name.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Some(Key(if c == ' ' {
                "space".into()
            } else {
                c.to_string()
            }));
        }
        let lower = name.to_ascii_lowercase();
        if let Some(rest) = lower
            .strip_prefix("ctrl-")
            .or_else(|| lower.strip_prefix("ctrl+"))
        {
            let mut rc = rest.chars();
            return match (rc.next(), rc.next()) {
                (Some(c), None) => Some(Key(format!("ctrl-{c}"))),
                _ => None,
            };
        }
        let canonical = match lower.as_str() {
            "enter" | "return" => "enter",
            "esc" | "escape" => "esc",
            "tab" => "tab",
            "backtab" | "shift-tab" => "backtab",
            "up" => "up",
            "down" => "down",
            "left" => "left",
            "right" => "right",
            "pgup" | "pageup" => "pgup",
            "pgdn" | "pagedown" => "pgdn",
            "home" => "home",
            "end" => "end",
            "backspace" => "backspace",
            "delete" | "del" => "delete",
            "space" => "space",
            _ => return None,
        };
        Some(Key(canonical.into()))
    }

    /// The key of a terminal key event; `None` for keys the console never binds.
    pub fn from_event(event: &KeyEvent) -> Option<Key> {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        let name = match event.code {
            KeyCode::Char(c) if ctrl => format!("ctrl-{}", c.to_ascii_lowercase()),
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "backtab".into(),
            KeyCode::Up => "up".into(),
            KeyCode::Down => "down".into(),
            KeyCode::Left => "left".into(),
            KeyCode::Right => "right".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Delete => "delete".into(),
            _ => return None,
        };
        Some(Key(name))
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The character typed, for text input (filter): `space` is ' ', named keys are `None`.
    pub fn typed_char(&self) -> Option<char> {
        let mut chars = self.0.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Some(c),
            _ if self.0 == "space" => Some(' '),
            _ => None,
        }
    }
}
