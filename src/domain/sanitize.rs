//! Neutralising untrusted text (payloads, headers, errors, runbooks) before it reaches a terminal.
//!
//! Control characters would let a hostile payload clear the screen, move the cursor, set the
//! clipboard (OSC 52) or reorder text (bidi overrides). Each is replaced by a visible stand-in,
//! so the operator sees that something was there without the terminal acting on it.

/// One line of untrusted text: every control character (C0, DEL, C1), including newlines and
/// tabs, becomes a visible symbol; bidi controls become `�`.
pub fn line(s: &str) -> String {
    sanitized(s, false)
}

/// Multi-line untrusted text: newlines are kept, tabs become four spaces, every other control
/// character becomes a visible symbol.
pub fn multiline(s: &str) -> String {
    sanitized(s, true)
}

/// Bytes that may not be UTF-8: decoded lossily, then sanitised as [`line`].
pub fn bytes_line(b: &[u8]) -> String {
    line(&String::from_utf8_lossy(b))
}

fn sanitized(s: &str, keep_layout: bool) -> String {
    // Printable ASCII, by far the common case, is copied as it is; the first byte outside it
    // starts a character (everything before it is ASCII), from which on each char is checked.
    let clean = s
        .bytes()
        .position(|b| !(0x20..0x7f).contains(&b))
        .unwrap_or(s.len());
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..clean]);
    for c in s[clean..].chars() {
        push_safe(&mut out, c, keep_layout);
    }
    out
}

fn push_safe(out: &mut String, c: char, keep_layout: bool) {
    match c {
        '\n' if keep_layout => out.push('\n'),
        '\t' if keep_layout => out.push_str("    "),
        '\r' if keep_layout => {}
        // C0 controls → Unicode "control pictures" (␀ ␁ … ␛ …).
        '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?')),
        '\u{7f}' => out.push('␡'),
        // C1 controls (CSI 0x9b, OSC 0x9d…) and bidi overrides/isolates.
        '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push('�'),
        _ => out.push(c),
    }
}

/// True when `s` contains nothing [`line`] would change.
pub fn is_clean_line(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_neutralised() {
        let hostile = "\x1b[2J\x1b]52;c;aGk=\x07\u{9b}31m\r\nok\u{202e}";
        let safe = line(hostile);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe:?}");
        assert!(safe.contains("␛[2J"));
        assert!(safe.ends_with("ok�"));
        assert!(is_clean_line(&safe));
    }

    #[test]
    fn clean_prefix_then_anything() {
        assert_eq!(line("plain ascii ~"), "plain ascii ~");
        assert_eq!(line("abc\u{202e}d\u{9b}e"), "abc�d�e");
        assert_eq!(line("héllo\x1b[0m"), "héllo␛[0m");
        assert_eq!(line("\x7fx"), "␡x");
        assert_eq!(line(""), "");
    }

    #[test]
    fn multiline_keeps_newlines_only() {
        assert_eq!(multiline("a\tb\r\nc\x1bd"), "a    b\nc␛d");
    }
}
