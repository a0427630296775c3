//! The "attempts" section of the dead-letter detail: the upstream's own count and first/last
//! failure (the upstream APIs keep no per-attempt list), then one line per replay or discard
//! triage sent for the letter, newest first: when, who, what, its state and the upstream's
//! answer — sanitised and cut to the width of the screen.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::{age, fit, safe};
use crate::console::app::App;
use crate::console::detail::{DeadLetterDetail, HISTORY_LIMIT};
use crate::domain::{ActionKind, OutboxEntry, OutboxState};

/// The section's lines for a detail drawn `width` cells wide.
pub fn lines(app: &App, detail: &DeadLetterDetail, width: u16) -> Vec<Line<'static>> {
    let t = &app.theme;
    let dl = &detail.letter;
    let mut out = vec![Line::styled("attempts", t.title())];
    out.push(Line::from(vec![
        Span::styled("upstream ", t.dim()),
        Span::raw(format!(
            "{} attempts · first failed {} ({} ago) · last failed {} ({} ago) · {}",
            dl.attempts,
            dl.first_failed_at.format("%Y-%m-%d %H:%M:%S"),
            age(dl.first_failed_at, app.now),
            dl.last_failed_at.format("%Y-%m-%d %H:%M:%S"),
            age(dl.last_failed_at, app.now),
            dl.state.as_str(),
        )),
    ]));
    if detail.history.is_empty() {
        out.push(Line::styled(
            "no replay or discard from triage yet",
            t.dim(),
        ));
    }
    let width = usize::from(width).max(1);
    for entry in &detail.history {
        let style = match entry.state {
            OutboxState::Pending => t.accent(),
            OutboxState::Sent => Style::default(),
            OutboxState::Failed => t.critical(),
            OutboxState::Recalled => t.dim(),
        };
        out.push(Line::styled(fit(&action_line(entry), width), style));
    }
    if detail.history.len() >= HISTORY_LIMIT {
        out.push(Line::styled(
            format!("newest {HISTORY_LIMIT} shown; older ones are on the Activity view"),
            t.dim(),
        ));
    }
    out
}

/// One action as a line: `2026-03-14 02:59 alice@bastion replay → failed: <answer>`.
pub fn action_line(entry: &OutboxEntry) -> String {
    let action = &entry.action;
    let what = match action.kind {
        ActionKind::Replay if action.payload.is_some() => "edited replay",
        kind => kind.as_str(),
    };
    let answer = entry
        .outcome
        .as_ref()
        .map(|o| o.summary.as_str())
        .filter(|s| !s.is_empty())
        .or(entry.last_error.as_deref())
        .map(safe)
        .unwrap_or_default();
    let tries = match entry.attempts {
        0 | 1 => String::new(),
        n => format!(" after {n} attempts"),
    };
    let state = match (entry.state, entry.attempts) {
        (OutboxState::Pending, 0) => "pending".to_string(),
        (OutboxState::Pending, n) => format!(
            "pending, retry at {} after {n} attempt{}",
            entry.next_attempt_at.format("%H:%M"),
            if n == 1 { "" } else { "s" }
        ),
        (OutboxState::Sent, _) => format!("sent{tries}"),
        (OutboxState::Failed, _) => format!("failed{tries}"),
        (OutboxState::Recalled, _) => "recalled by its run (not sent)".to_string(),
    };
    let answer = if answer.is_empty() {
        String::new()
    } else {
        format!(": {answer}")
    };
    format!(
        "{} {} {what} → {state}{answer}",
        entry.created_at.format("%Y-%m-%d %H:%M"),
        safe(&action.operator),
    )
}
