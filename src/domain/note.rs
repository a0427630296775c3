//! Notes on incidents: what an operator wrote, by whom and when — kept as a history (the
//! handoff reads it), never one overwritten label.

use serde::Serialize;

use super::Timestamp;

/// Longest note kept (characters); longer text is refused with the limit named.
pub const MAX_NOTE_CHARS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentNote {
    pub at: Timestamp,
    pub operator: String,
    pub text: String,
}

/// The note's text as stored: trimmed; empty or too long is refused with the reason.
pub fn note_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("an empty note: write what you found or did".into());
    }
    let chars = text.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(format!(
            "a note of {chars} characters: at most {MAX_NOTE_CHARS} (link a document for more)"
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_trimmed_and_empty_or_huge_ones_refused() {
        assert_eq!(
            note_text("  CRM renamed lead_source \n").unwrap(),
            "CRM renamed lead_source"
        );
        assert!(note_text("   ").unwrap_err().contains("empty"));
        assert!(note_text(&"x".repeat(2_001)).unwrap_err().contains("2001"));
    }
}
