//! Dead letters view (all connectors, or one after Enter on a connector): age, connector,
//! error code and message, attempts, payload preview, and the state of an action in flight.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph};

use super::columns::{self, Col, Kind, cell_text};
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
        " Dead letters{scope}: {}{}{} ",
        super::list_count(list, visible.len()),
        marks::title_suffix(app, MarkList::DeadLetters),
        super::sort_suffix(app, crate::store::SortList::DeadLetters)
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
    let scoped = app.dead_letters.connector.is_some();
    let (window, selected) = super::table_window(list.cursor, visible.len(), area.height, 2);
    let all = || visible.iter().map(|&i| &list.rows[i]);
    let shown = &visible[window];
    let status: Vec<(String, ratatui::style::Style)> = shown
        .iter()
        .map(|&i| {
            let dl = &list.rows[i];
            match app.action_mark(&dl.upstream, &dl.id) {
                Some((mark, OutboxState::Failed)) => (safe(&mark), t.critical()),
                Some((mark, _)) => (safe(&mark), t.accent()),
                None => (safe(&dl.error_code), t.warning()),
            }
        })
        .collect();
    let ages: Vec<String> = shown
        .iter()
        .map(|&i| age(list.rows[i].last_failed_at, app.now))
        .collect();
    let previews: Vec<String> = shown.iter().map(|&i| preview(&list.rows[i])).collect();
    let messages: Vec<String> = shown
        .iter()
        .map(|&i| safe(&list.rows[i].error_message))
        .collect();
    let cols = [
        Col::fixed("", 1, Kind::Key),
        Col::new("age", ages.iter().map(String::as_str), 3, Kind::Key),
        Col::new("id", all().map(|d| d.id.as_str()), 16, Kind::Id(4)),
        // Scoped to one connector, the title names it: the column is the first to go.
        Col::new(
            "connector",
            all().map(|d| d.connector.as_str()),
            12,
            if scoped { Kind::Optional(0) } else { Kind::Key },
        ),
        Col::new("error", status.iter().map(|s| s.0.as_str()), 8, Kind::Key).cap(18),
        Col::fixed("att", 3, Kind::Optional(2)),
        Col::new(
            "message",
            messages.iter().map(String::as_str),
            12,
            Kind::Flex(1),
        ),
        Col::new(
            "payload",
            previews.iter().map(String::as_str),
            12,
            Kind::Flex(3),
        ),
    ];
    let widths = columns::fit(&cols, area.width);
    let rows = shown.iter().enumerate().map(|(n, &i)| {
        let dl = &list.rows[i];
        let cells: [Option<Cell>; 8] = [
            Some(super::mark_cell(
                app,
                MarkList::DeadLetters,
                &dl.upstream,
                &dl.id,
            )),
            Some(Cell::from(ages[n].clone())),
            widths[2].map(|w| Cell::from(columns::fit_id(&safe(&dl.id), w))),
            widths[3].map(|w| Cell::from(cell_text(&safe(&dl.connector), w))),
            widths[4].map(|w| Cell::from(Span::styled(cell_text(&status[n].0, w), status[n].1))),
            Some(Cell::from(dl.attempts.to_string())),
            widths[6].map(|w| Cell::from(cell_text(&messages[n], w))),
            widths[7].map(|w| Cell::from(Span::styled(cell_text(&previews[n], w), t.dim()))),
        ];
        columns::row(cells, &widths)
    });
    columns::render_table(
        frame,
        area,
        app,
        Some(block),
        rows,
        (&cols, &widths),
        selected,
    );
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
