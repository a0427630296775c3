//! The frame around every view: header (operator, READ-ONLY badge, each upstream's connection
//! state, told honestly), view tabs, the status line (messages, filter prompt) and the footer
//! (the keys that apply on this view, from the keymap).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{clock, safe};
use crate::console::app::{App, StatusLevel, StoreStatus, View};
use crate::console::filter::{current_filter, filter_error};
use crate::domain::ConnectionState;

pub fn header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = vec![
        Span::styled(" triage ", t.header()),
        Span::raw(" "),
        Span::raw(safe(&app.operator)),
    ];
    if app.read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READ-ONLY ", t.badge()));
    }
    match &app.store {
        StoreStatus::Opening => spans.push(Span::styled("  opening store…", t.dim())),
        StoreStatus::Failed(_) => spans.push(Span::styled("  store unavailable", t.critical())),
        StoreStatus::Ready if app.upstream_states.is_empty() => {
            spans.push(Span::styled("  no upstream polled yet", t.dim()))
        }
        StoreStatus::Ready => {}
    }
    for (upstream, state) in &app.upstream_states {
        spans.push(Span::raw("  "));
        spans.push(Span::raw(format!("{}: ", safe(upstream))));
        let (text, style) = match state {
            ConnectionState::Connecting => ("connecting…".to_string(), t.dim()),
            ConnectionState::Live { .. } => ("live".to_string(), t.ok()),
            ConnectionState::Stale { last_ok, error, .. } => (
                format!("stale since {}: {}", clock(*last_ok), safe(error)),
                t.warning(),
            ),
            ConnectionState::Down { error, .. } => (format!("down: {}", safe(error)), t.critical()),
        };
        spans.push(Span::styled(text, style));
    }
    let left = Line::from(spans);
    // The selected connector's headline numbers of the metrics window, at the right when they
    // fit beside the upstream states (which always come first).
    if let Some((name, numbers)) = crate::console::metrics::headline(app) {
        let room = usize::from(area.width).saturating_sub(left.width() + 2);
        // The name is cut (with …) before the numbers are.
        let name_room =
            room.saturating_sub(unicode_width::UnicodeWidthStr::width(numbers.as_str()) + 3);
        let numbers = match name_room {
            0..8 => format!("{numbers} "),
            _ => format!("{}: {numbers} ", super::fit(&name, name_room)),
        };
        if unicode_width::UnicodeWidthStr::width(numbers.as_str()) <= room {
            frame.render_widget(
                Paragraph::new(Line::from(Span::styled(numbers, t.dim())))
                    .alignment(ratatui::layout::Alignment::Right),
                area,
            );
        }
    }
    frame.render_widget(Paragraph::new(left), area);
}

pub fn tabs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (i, view) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, view.title());
        spans.push(if *view == app.view {
            Span::styled(label, t.selected())
        } else {
            Span::styled(label, t.dim())
        });
    }
    if app.pending_actions > 0 {
        spans.push(Span::styled(
            format!("  {} pending", app.pending_actions),
            t.warning(),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What the current view's filter searches, for the status line.
fn filter_scope(app: &App) -> &'static str {
    match app.view {
        View::Incidents if app.incidents.filter_pending() => "searching the store…",
        View::DeadLetters if app.dead_letters.list.filter_pending() => "searching the store…",
        View::Incidents => "every unresolved incident",
        View::DeadLetters => "every dead letter, payloads and headers included",
        View::Activity if app.activity.list.filter_pending() => "searching the store…",
        View::Activity => "every action triage took",
        View::Connectors | View::Runbook | View::Metrics => "every connector",
    }
}

pub fn status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let line = if let Some(input) = &app.note_input {
        Line::from(vec![
            Span::styled(format!("note on {}: ", safe(&input.id)), t.key()),
            Span::raw(safe(&input.text)),
            Span::styled("▏", t.key()),
            Span::styled("  Enter saves · Esc drops", t.dim()),
        ])
    } else if let Some(input) = &app.command_input {
        let word = input.text.split(' ').next().unwrap_or("");
        let hint = if input.text.contains(' ') {
            "  Enter run · Esc leave".to_string()
        } else {
            let found = crate::console::command::candidates(word);
            if found.is_empty() {
                "  no such command".to_string()
            } else {
                format!("  {}  · Tab completes · ↑↓ history", found.join(" "))
            }
        };
        Line::from(vec![
            Span::styled(":", t.key()),
            Span::raw(safe(&input.text)),
            Span::styled("▏", t.key()),
            Span::styled(hint, t.dim()),
        ])
    } else if let Some(input) = &app.filter_input {
        let mut spans = vec![
            Span::styled("/", t.key()),
            Span::raw(safe(&input.text)),
            Span::styled("▏", t.key()),
        ];
        match filter_error(app) {
            // The last good filter stays applied; say why this text is not (and where).
            Some(error) => spans.push(Span::styled(
                format!("  {} (not applied)", safe(&error.to_string())),
                t.critical(),
            )),
            None => spans.push(Span::styled("  Enter keep · Esc clear", t.dim())),
        }
        Line::from(spans)
    } else if let Some(status) = &app.status {
        let style = match status.level {
            StatusLevel::Info => t.base(),
            StatusLevel::Success => t.ok(),
            StatusLevel::Warning => t.warning(),
            StatusLevel::Error => t.critical(),
        };
        Line::from(Span::styled(safe(&status.text), style))
    } else if let Some(run) = app.run.as_ref().filter(|r| !r.finished) {
        // A run this console drives stays in view while nothing else is said.
        Line::from(Span::styled(safe(&run.line()), t.accent()))
    } else {
        let filter = current_filter(app);
        if filter.is_empty() {
            Line::default()
        } else {
            Line::from(vec![
                Span::styled(format!("filter: {}", safe(&filter)), t.accent()),
                Span::styled(format!("  ({}; Esc clears)", filter_scope(app)), t.dim()),
            ])
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

pub fn footer(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let t = &app.theme;
    let mut spans = Vec::new();
    let mut entries = app.keymap.footer(app.view);
    // Help and quit last, the view's own keys first.
    entries.sort_by_key(|(_, label)| matches!(*label, "help" | "quit"));
    entries.retain(|(_, label)| {
        !(app.read_only
            && matches!(
                *label,
                "ack"
                    | "un-ack"
                    | "escalate"
                    | "resolve"
                    | "replay"
                    | "edit"
                    | "discard"
                    | "retry"
                    | "pause/resume"
                    | "cancel run"
            ))
    });
    // Every key of the view while they fit; else as many as fit, then "…" before help and
    // quit (which always show: `?` lists the rest).
    let width = |(key, label): &(String, &str)| key.chars().count() + label.chars().count() + 3;
    let tail: usize = entries
        .iter()
        .filter(|(_, l)| matches!(*l, "help" | "quit"))
        .map(width)
        .sum();
    let total: usize = entries.iter().map(width).sum();
    let room = usize::from(area.width);
    let mut used = 0;
    let mut cut = false;
    for entry in &entries {
        let (key, label) = entry;
        let is_tail = matches!(*label, "help" | "quit");
        if !is_tail && total > room {
            if cut || used + width(entry) + tail + 3 > room {
                if !cut {
                    spans.push(Span::styled("…  ", t.dim()));
                    cut = true;
                }
                continue;
            }
            used += width(entry);
        }
        spans.push(Span::styled(safe(key), t.key()));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
