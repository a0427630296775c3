//! Drawing: `render(frame, &App)` lays out header, tabs, the current view, status and footer,
//! then overlays (detail, help, dialogs). One module per view; drawing never mutates state.
//! Every string from outside goes through `safe` (→ `domain::sanitize`) before a `Span`.

pub mod activity;
pub mod chrome;
pub mod columns;
pub mod connectors;
pub mod dead_letter_detail;
pub mod dead_letter_history;
pub mod dead_letters;
pub mod dialog;
pub mod help;
pub mod hyperlink;
pub mod incident_clock;
pub mod incident_detail;
pub mod incidents;
pub mod metrics;
pub mod runbook;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::app::{App, View};
use super::paging::{PagedList, PagedRow};
use super::scroll::Scroll;
use crate::domain::{Timestamp, sanitize};

/// Below this size only a "window too small" notice is drawn.
pub const MIN_WIDTH: u16 = 20;
pub const MIN_HEIGHT: u16 = 5;

pub fn render(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let notice = Paragraph::new(Line::from(fit("window too small", usize::from(area.width))));
        frame.render_widget(notice, area);
        return;
    }
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::header(frame, header, app);
    chrome::tabs(frame, tabs, app);
    match app.view {
        View::Connectors => connectors::render(frame, body, app),
        View::Incidents => match &app.incident_detail {
            Some(detail) => incident_detail::render(frame, body, app, detail),
            None => incidents::render(frame, body, app),
        },
        View::DeadLetters => match &app.dead_letters.detail {
            Some(detail) => dead_letter_detail::render(frame, body, app, detail),
            None => dead_letters::render(frame, body, app),
        },
        View::Runbook => runbook::render(frame, body, app),
        View::Metrics => metrics::render(frame, body, app),
        View::Activity => activity::render(frame, body, app),
    }
    chrome::status(frame, status, app);
    chrome::footer(frame, footer, app);
    if let Some(scroll) = app.help {
        help::render(frame, area, app, scroll);
    }
    if let Some(d) = &app.dialog {
        dialog::render(frame, area, app, d);
    }
}

/// Untrusted text made safe for one line.
pub fn safe(s: &str) -> String {
    sanitize::line(s)
}

/// Truncates to `width` terminal columns with an ellipsis (wide characters — CJK, emoji — take
/// two columns and are never split).
pub fn fit(s: &str, width: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Compact age: `42s`, `5m`, `3h`, `2d`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    let secs = (now - since).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// Time of day (UTC) as HH:MM.
pub fn clock(t: Timestamp) -> String {
    t.format("%H:%M").to_string()
}

/// DLQ depth as a text sparkline of at most `width` cells (newest at the right).
/// A sparkline followed by its scale: the highest value shown ("▁▃█▅ 212"); bars are scaled to
/// it, so the number says what a full bar means.
pub fn sparkline_with_peak(points: &[u64], width: usize) -> String {
    let Some(peak) = points.iter().copied().max() else {
        return String::new();
    };
    let peak = peak.to_string();
    let bars = width.saturating_sub(peak.len() + 1);
    if bars < 3 {
        return sparkline(points, width);
    }
    format!("{} {peak}", sparkline(points, bars))
}

pub fn sparkline(points: &[u64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if points.is_empty() || width == 0 {
        return String::new();
    }
    let shown: Vec<u64> = if points.len() > width {
        (0..width)
            .map(|i| points[(i + 1) * points.len() / width - 1])
            .collect()
    } else {
        points.to_vec()
    };
    let max = shown.iter().copied().max().unwrap_or(0).max(1);
    shown
        .iter()
        .map(|&v| BARS[((v * 7) / max) as usize])
        .collect()
}

/// A rectangle of `width` × `height` centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Column width that fits the longest of `texts` (in characters), within `min..=max`.
pub fn column_width<'a>(texts: impl Iterator<Item = &'a str>, min: u16, max: u16) -> u16 {
    let longest = texts
        .map(unicode_width::UnicodeWidthStr::width)
        .max()
        .unwrap_or(0);
    u16::try_from(longest).unwrap_or(u16::MAX).clamp(min, max)
}

/// The rows a table in `area_height` (minus `chrome` rows of border and header) shows with the
/// cursor kept in view (at the bottom once it goes past the first screen), and the cursor's
/// index within them. Only these rows are built each frame.
pub fn table_window(
    cursor: usize,
    count: usize,
    area_height: u16,
    chrome: u16,
) -> (std::ops::Range<usize>, usize) {
    let height = usize::from(area_height.saturating_sub(chrome)).max(1);
    let cursor = cursor.min(count.saturating_sub(1));
    let start = (cursor + 1).saturating_sub(height);
    (start..(start + height).min(count), cursor - start)
}

/// A scrollable detail pane under a titled top border (dead-letter and incident details).
pub fn render_detail_pane(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    title: String,
    lines: Vec<Line<'static>>,
    scroll: &Scroll,
) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(Line::from(Span::styled(title, app.theme.title())));
    render_scrolled(frame, area, block, lines, scroll);
}

/// Wrapped `lines` in `block` (a top border), from the scroll's offset in wrapped rows: only
/// the lines from the first visible one on are handed to the paragraph; the scroll's offset is
/// clamped so the last row is reachable and no further.
pub fn render_scrolled(
    frame: &mut Frame<'_>,
    area: Rect,
    block: Block<'_>,
    mut lines: Vec<Line<'static>>,
    scroll: &Scroll,
) {
    let (first, skip) = scroll.window(&lines, area.width, area.height.saturating_sub(1));
    let height = usize::from(area.height);
    lines.drain(..first.min(lines.len()));
    lines.truncate(height + usize::from(skip));
    let paragraph = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((skip, 0));
    frame.render_widget(paragraph, area);
}

/// A paged list's count for its title: "12 shown", or with a filter "1 match" / "12 matches"
/// (of the loaded page), then "↑↓ more" when rows lie beyond it.
pub(crate) fn list_count<T: PagedRow>(list: &PagedList<T>, shown: usize) -> String {
    // While the store searches, the loaded rows are only those already on screen: never a
    // count that looks like a result.
    if list.filter_pending() {
        return searching_text(list);
    }
    let count = match (list.filter.is_empty(), shown) {
        (true, n) => format!("{n} shown"),
        (false, 1) => "1 match".to_string(),
        (false, n) => format!("{n} matches"),
    };
    let more = match (list.more_before(), list.more_after()) {
        (true, true) => " ↑↓ more",
        (true, false) => " ↑ more",
        (false, true) => " ↓ more",
        (false, false) => "",
    };
    format!("{count}{more}")
}

/// "searching…", with how far the store has got once it has said ("searching… 410k of 1M").
pub(crate) fn searching_text<T: PagedRow>(list: &PagedList<T>) -> String {
    match list.search_progress {
        Some((examined, total)) if total >= examined && total > 0 => {
            format!(
                "searching… {} of {}",
                short_count(examined),
                short_count(total)
            )
        }
        Some((examined, _)) => format!("searching… {} examined", short_count(examined)),
        None => "searching…".to_string(),
    }
}

/// 950, 41k, 1.2M.
pub fn short_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{}k", n / 1_000),
        _ if n.is_multiple_of(1_000_000) || n >= 10_000_000 => format!("{}M", n / 1_000_000),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// What an empty paged list says: `none` without a filter; with one, that the store is being
/// searched or that no `noun` matches.
pub(crate) fn empty_list_text<T: PagedRow>(list: &PagedList<T>, none: &str, noun: &str) -> String {
    if list.filter.is_empty() {
        none.to_string()
    } else if list.filter_pending() {
        format!("{} (the whole store, payloads too)", searching_text(list))
    } else {
        format!("no {noun} matches the filter (Esc clears it)")
    }
}

/// The mark column of a list row: `●` when marked (a glyph, so it shows without colour).
pub fn mark_cell(
    app: &App,
    list: super::marks::MarkList,
    upstream: &str,
    id: &str,
) -> ratatui::widgets::Cell<'static> {
    if app.marks.is_marked(list, upstream, id) {
        ratatui::widgets::Cell::from(Span::styled("●", app.theme.accent()))
    } else {
        ratatui::widgets::Cell::from(" ")
    }
}

/// The title's note of a list's order (" · sorted by attempts ↓"); empty for the default order.
pub fn sort_suffix(app: &App, list: crate::store::SortList) -> String {
    crate::console::sort::current(app, list)
        .label(list)
        .map(|label| format!(" · {label}"))
        .unwrap_or_default()
}
