//! Dead letters view (all connectors, or one after Enter on a connector): age, connector,
//! error code and message, attempts, payload preview, and the state of an action in flight.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::{age, safe};
use crate::console::app::App;
use crate::console::marks::{self, MarkList};
use crate::domain::{OutboxState, sanitize};
use crate::store::DeadLetterSummary;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let list = &app.dead_letters.list;
    let visible = list.visible();
    let scope = match &app.dead_letters.connector {
        Some(c) => format!(" of {} (Esc: all)", safe(c)),
        None => " (all connectors)".into(),
    };
    let title = format!(
        " Dead letters{scope}: {}{} ",
        super::list_count(list, visible.len()),
        marks::title_suffix(app, MarkList::DeadLetters)
    );
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, t.title())));
    if !list.loaded {
        frame.render_widget(Paragraph::new("loading dead letters…").block(block), area);
        return;
    }
    if visible.is_empty() {
        let text =
            super::empty_list_text(list, "no dead letters: the queue is clean", "dead letter");
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let wide = area.width >= 120;
    let scoped = app.dead_letters.connector.is_some();
    let (window, selected) = super::table_window(list.cursor, visible.len(), area.height, 2);
    let rows = visible[window].iter().map(|&i| {
        let dl = &list.rows[i];
        let mut cells = vec![
            super::mark_cell(app, MarkList::DeadLetters, &dl.upstream, &dl.id),
            Cell::from(age(dl.last_failed_at, app.now)),
        ];
        if wide || !scoped {
            cells.push(Cell::from(safe(&dl.connector)));
        }
        let (code, code_style) = match app.action_mark(&dl.upstream, &dl.id) {
            Some((mark, OutboxState::Failed)) => (mark, t.critical()),
            Some((mark, _)) => (mark, t.accent()),
            None => (safe(&dl.error_code), t.warning()),
        };
        cells.push(Cell::from(Span::styled(safe(&code), code_style)));
        cells.push(Cell::from(dl.attempts.to_string()));
        if wide {
            cells.push(Cell::from(safe(&dl.error_message)));
        }
        cells.push(Cell::from(Span::styled(preview(dl), t.dim())));
        Row::new(cells)
    });
    let mut header = vec!["", "age"];
    let mut widths = vec![Constraint::Length(1), Constraint::Length(4)];
    if wide || !scoped {
        header.push("connector");
        let connectors = visible.iter().map(|&i| list.rows[i].connector.as_str());
        widths.push(if wide {
            Constraint::Length(super::column_width(connectors, 9, 30))
        } else {
            Constraint::Fill(2)
        });
    }
    header.extend(["error", "att"]);
    widths.extend([
        Constraint::Length(if wide { 20 } else { 16 }),
        Constraint::Length(3),
    ]);
    if wide {
        header.push("message");
        widths.push(Constraint::Fill(3));
    }
    header.push("payload");
    widths.push(Constraint::Fill(3));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.title()))
        .block(block)
        .row_highlight_style(t.selected())
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut state);
}

/// One-line payload preview: text as is (sanitised), binary as hex.
pub fn preview(dl: &DeadLetterSummary) -> String {
    preview_of(&dl.preview, dl.payload_len)
}

/// One-line preview of a payload of `payload_len` bytes from its first bytes (`head`).
pub fn preview_of(head: &[u8], payload_len: u64) -> String {
    let is_text = std::str::from_utf8(head).is_ok_and(|s| !s.contains('\0'))
        || (head.len() as u64) < payload_len && looks_like_cut_utf8(head);
    if is_text {
        sanitize::bytes_line(head)
    } else {
        let hex: Vec<String> = head.iter().take(24).map(|b| format!("{b:02x}")).collect();
        format!("[binary {payload_len} B] {}", hex.join(" "))
    }
}

/// A text payload cut in the middle of a character by the preview limit.
fn looks_like_cut_utf8(bytes: &[u8]) -> bool {
    (1..4).any(|cut| {
        bytes.len() > cut
            && std::str::from_utf8(&bytes[..bytes.len() - cut]).is_ok_and(|s| !s.contains('\0'))
    })
}
