//! Links drawn as OSC 8 hyperlinks: where a web URL is on screen whole in one row, its first cell
//! carries `ESC ]8;;URL ESC \ text ESC ]8;; ESC \` with a forced width of the text's columns
//! (ratatui's `CellDiffOption::ForcedWidth`: the diff skips the cells the text covers), so a
//! terminal that knows OSC 8 makes it clickable and one that does not shows the same text (OSC
//! sequences it does not know are ignored). Only `http(s)` URLs without control characters are
//! ever put in a sequence (a link is upstream text); off when `App::hyperlinks` is false (dumb
//! terminals, `TRIAGE_HYPERLINKS=0`, tests of plain text).

use std::num::NonZeroU16;

use ratatui::buffer::{Buffer, CellDiffOption};
use ratatui::layout::Rect;

/// Marks every whole occurrence of each of `urls` inside `area` of `buf` as a hyperlink.
pub fn mark(buf: &mut Buffer, area: Rect, urls: &[String]) {
    let area = area.intersection(buf.area);
    let urls: Vec<&String> = urls
        .iter()
        .filter(|u| !u.is_empty() && crate::console::link::is_web_url(u))
        .filter(|u| u.chars().all(|c| !c.is_control()))
        .collect();
    if urls.is_empty() {
        return;
    }
    for y in area.top()..area.bottom() {
        // The row as text, one char per cell (so a char's index is its cell's column); rows with a
        // multi-char cell (a grapheme cluster) are left alone.
        let mut row = String::with_capacity(usize::from(area.width));
        let mut plain = true;
        for x in area.left()..area.right() {
            let symbol = buf[(x, y)].symbol();
            let mut chars = symbol.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => row.push(c),
                // The cell a wide character covers.
                (None, _) => row.push('\0'),
                _ => {
                    plain = false;
                    break;
                }
            }
        }
        if !plain {
            continue;
        }
        for url in &urls {
            let mut from = 0;
            while let Some(at) = row[from..].find(url.as_str()) {
                let start = from + at;
                let width = url.chars().count();
                let x = area.left() + u16::try_from(row[..start].chars().count()).unwrap_or(0);
                if let Some(w) = u16::try_from(width).ok().and_then(NonZeroU16::new) {
                    buf[(x, y)]
                        .set_symbol(&format!("\x1b]8;;{url}\x1b\\{url}\x1b]8;;\x1b\\"))
                        .set_diff_option(CellDiffOption::ForcedWidth(w));
                }
                from = start + url.len();
            }
        }
    }
}
