//! `v` shows a dead letter's whole payload in `$PAGER` (else `less`): compact JSON indented,
//! other text as it is (control characters made visible), binary as a hex dump. The runtime
//! hands the terminal over and back (`Cmd::Page`), as for `$EDITOR`.

use super::app::{App, StatusLevel, View};
use super::msg::{Cmd, StoreCmd};
use crate::domain::edit::EditDraft;
use crate::domain::{DeadLetter, sanitize};

/// `v`: the open detail's letter, or the selected row's (read from the store).
pub fn start(app: &mut App) -> Vec<Cmd> {
    if app.view != View::DeadLetters {
        app.set_status(
            StatusLevel::Info,
            "v pages a dead letter's payload: press 3 and select one",
        );
        return Vec::new();
    }
    if let Some(detail) = &app.dead_letters.detail {
        return vec![page(&detail.letter)];
    }
    match app.dead_letters.list.selected_row() {
        Some(row) => vec![Cmd::store(StoreCmd::LoadForPager {
            upstream: row.upstream.clone(),
            id: row.id.clone(),
        })],
        None => {
            app.set_status(StatusLevel::Info, "no dead letter selected");
            Vec::new()
        }
    }
}

pub fn loaded(app: &mut App, letter: Option<Box<DeadLetter>>) -> Vec<Cmd> {
    match letter {
        Some(letter) => vec![page(&letter)],
        None => {
            app.set_status(
                StatusLevel::Warning,
                "that dead letter is no longer in the store",
            );
            Vec::new()
        }
    }
}

fn page(letter: &DeadLetter) -> Cmd {
    Cmd::Page {
        name: letter.id.clone(),
        text: pager_text(&letter.payload),
    }
}

/// What the pager shows for `payload`.
pub fn pager_text(payload: &[u8]) -> String {
    match EditDraft::of(payload) {
        Ok(draft) => sanitize::multiline(&draft.text),
        Err(_) => hex_dump(payload),
    }
}

/// `00000000  7b 22 61 22 3a 31 7d 00  …  |{"a":1}.|`, 16 bytes a line.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 + 64);
    out.push_str(&format!("binary payload, {} bytes\n\n", bytes.len()));
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  |{ascii}|\n",
            i * 16,
            hex.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_is_indented_and_binary_is_dumped() {
        assert_eq!(pager_text(br#"{"a":1}"#), "{\n  \"a\": 1\n}\n");
        let dump = pager_text(&[0x00, 0xff, b'h', b'i']);
        assert!(dump.starts_with("binary payload, 4 bytes"), "{dump}");
        assert!(dump.contains("00000000  00 ff 68 69"), "{dump}");
        assert!(dump.contains("|..hi|"), "{dump}");
        assert!(!pager_text(b"bell\x07 and \x1b[31mred").contains('\x1b'));
    }
}
