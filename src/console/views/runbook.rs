//! Runbook view: the selected connector's runbook (markdown rendered by `crate::runbook`),
//! scrollable with the movement keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::safe;
use crate::console::app::App;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let rb = &app.runbook;
    let connector = rb
        .connector
        .as_deref()
        .map(safe)
        .unwrap_or_else(|| "no connector selected".into());
    let path = rb
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|f| format!(" · {}", safe(&f.to_string_lossy())))
        .unwrap_or_default();
    // Breadcrumbs: where `o`/`4` was pressed (Esc goes back there).
    let trail: String = app
        .back
        .iter()
        .map(|crumb| format!("{} › ", safe(&crumb.label())))
        .collect();
    let name = if trail.is_empty() {
        "Runbook"
    } else {
        "runbook"
    };
    let title = format!(" {trail}{name}: {connector}{path} · Esc back ");
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, t.title())));
    let paragraph = match (&rb.text, &rb.problem) {
        (Some(text), _) => {
            super::render_scrolled(frame, area, block, text.lines.clone(), &rb.scroll);
            return;
        }
        (None, Some(problem)) => Paragraph::new(
            problem
                .lines()
                .map(|l| Line::styled(safe(l), t.warning()))
                .collect::<Vec<_>>(),
        ),
        (None, None) if rb.connector.is_some() => Paragraph::new("loading runbook…"),
        (None, None) => Paragraph::new("select a connector, incident or dead letter, then press o"),
    };
    frame.render_widget(paragraph.block(block), area);
}
