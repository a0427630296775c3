//! `?` help: every binding of the keymap (built in + the user's overrides) with its description,
//! then the `/` filter's query language in brief.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{centered, fit, safe};
use crate::console::app::App;
use crate::domain::query::SYNTAX_HELP;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, scroll: u16) {
    let t = &app.theme;
    let popup = centered(
        area,
        area.width.saturating_sub(4).max(20),
        area.height.saturating_sub(2).max(3),
    );
    let help = app.keymap.help_lines();
    let key_width = help
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4)
        .min(18);
    let mut lines: Vec<Line<'_>> = help
        .iter()
        .map(|(keys, description)| {
            Line::from(vec![
                Span::styled(
                    format!("{:<key_width$}  ", fit(&safe(keys), key_width)),
                    t.key(),
                ),
                Span::raw(safe(description)),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::styled(
        "In dialogs: y or Enter confirms, n or Esc cancels. Times are UTC.",
        t.dim(),
    ));
    lines.push(Line::default());
    lines.push(Line::styled("What the signs mean:", t.title()));
    lines.extend(
        LEGEND
            .iter()
            .map(|line| Line::styled(format!("  {line}"), t.dim())),
    );
    lines.push(Line::default());
    lines.push(Line::styled(
        "The / filter of Incidents and Dead letters (and --where):",
        t.title(),
    ));
    lines.extend(
        SYNTAX_HELP
            .iter()
            .map(|line| Line::styled(format!("  {line}"), t.dim())),
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(Span::styled(
            " Keys (? or Esc closes, j/k scroll) ",
            t.title(),
        )));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

/// The glyphs and short cells of the lists, explained.
pub const LEGEND: &[&str] = &[
    "L1      the escalation level reached in this ack cycle (L0: the owner only)",
    "L0!     a further level is due and not taken yet (`triage watch` takes it)",
    "L2 7m   the next level and when it is due;  L2 due: due now",
    "ack exp 17m   the ack ends in 17 minutes, then the clock restarts;  ack expired: it has",
    "3!      open incidents of a connector, ! when some are not acknowledged",
    "▁▃█▅ 212  DLQ depth over the last hour, left to right; bars scaled to the hour's peak (212)",
    "age     (dead letters) time since the letter last failed: 45s 7m 3h 2d",
    "●       a marked row (space marks, * marks every match, u clears)",
];
