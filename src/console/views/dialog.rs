//! Confirmation dialogs: replay / discard of a dead letter (connector, id, destination, error,
//! attempts and a payload preview: what it acts on), a run of marked rows, an edited replay
//! (the diff, sizes, both hashes and the contract check), and quitting while actions are still
//! pending.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{centered, fit, safe};

/// Characters of the error and payload summaries (one line each in a 72-column dialog).
const SUMMARY_WIDTH: usize = 57;
use crate::console::app::{App, Dialog};
use crate::domain::ActionKind;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, dialog: &Dialog) {
    let t = &app.theme;
    let (title, mut lines) = match dialog {
        Dialog::ConfirmDeadLetter {
            kind,
            upstream,
            id,
            connector,
            destination,
            error,
            attempts,
            payload,
            routes,
            route,
            drop_ttl,
        } => {
            let verb = if *kind == ActionKind::Replay {
                "Replay"
            } else {
                "Discard"
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("connector    ", t.dim()),
                    Span::raw(safe(connector)),
                ]),
                Line::from(vec![
                    Span::styled("dead letter  ", t.dim()),
                    Span::raw(format!("{} ({})", safe(id), safe(upstream))),
                ]),
                Line::from(vec![
                    Span::styled("destination  ", t.dim()),
                    Span::raw(safe(destination)),
                ]),
                Line::from(vec![
                    Span::styled("error        ", t.dim()),
                    Span::raw(fit(
                        &format!("{} ({attempts} attempts)", safe(error)),
                        SUMMARY_WIDTH,
                    )),
                ]),
                Line::from(vec![
                    Span::styled("payload      ", t.dim()),
                    Span::raw(fit(&safe(payload), SUMMARY_WIDTH)),
                ]),
            ];
            if let Some(chosen) = routes.get(*route) {
                let ttl = if *drop_ttl {
                    "TTL dropped"
                } else {
                    "TTL restored"
                };
                lines.push(Line::from(vec![
                    Span::styled("replay to    ", t.dim()),
                    Span::raw(fit(
                        &format!("{} · {ttl}", safe(chosen)),
                        SUMMARY_WIDTH - 20,
                    )),
                    Span::styled("  t: where · T: TTL", t.dim()),
                ]));
            }
            lines.push(Line::default());
            lines.push(Line::raw(if *kind == ActionKind::Replay {
                "Sends the payload to its destination again."
            } else {
                "It will not be delivered; the history keeps it as discarded."
            }));
            (format!(" {verb} this dead letter? "), lines)
        }
        Dialog::ConfirmIncidents {
            kind,
            targets,
            skipped,
        } => incidents_lines(app, *kind, targets, skipped),
        Dialog::ConfirmRun { plan } => {
            let p = plan.plan();
            let verb = if p.kind == ActionKind::Replay {
                "Replay"
            } else {
                "Discard"
            };
            let noun = if p.to_send == 1 {
                "dead letter"
            } else {
                "dead letters"
            };
            let mut lines: Vec<Line<'static>> = crate::console::runs::plan_lines(plan)
                .into_iter()
                .map(|l| Line::raw(fit(&l, SUMMARY_WIDTH + 11)))
                .collect();
            lines.push(Line::default());
            lines.push(Line::raw(
                "Starts a run here; stages go on while it stays under the limit.",
            ));
            (format!(" {verb} {} marked {noun}? ", p.to_send), lines)
        }
        Dialog::ConfirmEdited {
            review,
            force,
            scroll,
        } => edited_lines(app, area, review, *force, *scroll),
        Dialog::ConfirmAction {
            title,
            subject,
            what,
            ..
        } => {
            let mut lines: Vec<Line<'static>> = subject
                .iter()
                .map(|(label, value)| {
                    Line::from(vec![
                        Span::styled(format!("{label:<13}"), t.dim()),
                        Span::raw(fit(value, SUMMARY_WIDTH)),
                    ])
                })
                .collect();
            lines.push(Line::default());
            lines.push(Line::raw(what.clone()));
            (format!(" {} ", fit(&safe(title), 60)), lines)
        }
        Dialog::ConfirmRunCancel {
            id,
            kind,
            selection,
            left,
        } => (
            format!(" Cancel run {}? ", fit(&safe(id), 40)),
            vec![
                Line::from(vec![
                    Span::styled("run          ", t.dim()),
                    Span::raw(format!(
                        "{} of {}",
                        kind.as_str(),
                        fit(&safe(selection), SUMMARY_WIDTH - 10)
                    )),
                ]),
                Line::from(vec![
                    Span::styled("left         ", t.dim()),
                    Span::raw(format!("{left} not answered yet")),
                ]),
                Line::default(),
                Line::raw("Letters not yet sent are skipped; those already in the outbox go on."),
            ],
        ),
        Dialog::ConfirmQuit { pending } => (
            " Quit with actions pending? ".to_string(),
            vec![
                Line::raw(format!(
                    "{pending} action(s) are still waiting in the outbox."
                )),
                Line::raw("They stay there and are sent by the next `triage` or `triage sync`."),
            ],
        ),
    };
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("y", t.key()),
        Span::raw("/"),
        Span::styled("Enter", t.key()),
        Span::raw(" confirm   "),
        Span::styled("n", t.key()),
        Span::raw("/"),
        Span::styled("Esc", t.key()),
        Span::raw(" cancel"),
    ]));
    let width = area.width.min(72);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let popup = centered(area, width, u16::try_from(rows + 2).unwrap_or(u16::MAX));
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(Span::styled(title, t.title())))
        .border_style(t.warning());
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}

/// "Ack 3 incidents?": the count, the first ids per connector, what is left out and why.
fn incidents_lines(
    app: &App,
    kind: ActionKind,
    targets: &[crate::console::bulk::BulkTarget],
    skipped: &[String],
) -> (String, Vec<Line<'static>>) {
    let t = &app.theme;
    let verb = match kind {
        ActionKind::Ack => "Ack",
        ActionKind::Unack => "Un-ack",
        ActionKind::Resolve => "Resolve",
        ActionKind::Escalate => "Escalate",
        _ => kind.as_str(),
    };
    let noun = if targets.len() == 1 {
        "incident"
    } else {
        "incidents"
    };
    let title = format!(" {verb} {} marked {noun}? ", targets.len());
    let mut lines: Vec<Line<'static>> = crate::console::bulk::target_lines(targets)
        .into_iter()
        .map(|l| Line::raw(fit(&l, SUMMARY_WIDTH + 11)))
        .collect();
    if let Some(first) = skipped.first() {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(format!("left out     {} ", skipped.len()), t.dim()),
            Span::raw(fit(&format!("({})", safe(first)), SUMMARY_WIDTH - 4)),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::raw(match kind {
        ActionKind::Escalate => "Each takes its chain's next step (pages the next level).",
        ActionKind::Resolve => "Each is resolved upstream; marks are cleared.",
        _ => "One action per incident goes to the outbox; marks are cleared.",
    }));
    (title, lines)
}

/// "Replay the edited payload of dl_…?": sizes, the contract verdict, and a window of the diff.
fn edited_lines(
    app: &App,
    area: Rect,
    review: &crate::domain::edit::EditReview,
    force: bool,
    scroll: usize,
) -> (String, Vec<Line<'static>>) {
    use crate::domain::edit::DiffLine;
    let t = &app.theme;
    let width = SUMMARY_WIDTH + 11;
    let contract_style = if review.violation.is_some() {
        t.critical()
    } else {
        t.ok()
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("connector    ", t.dim()),
            Span::raw(safe(&review.connector)),
        ]),
        Line::from(vec![
            Span::styled("changed      ", t.dim()),
            Span::raw(review.summary()),
        ]),
        Line::from(vec![
            Span::styled("contract     ", t.dim()),
            Span::styled(
                fit(&safe(&review.contract_line()), SUMMARY_WIDTH),
                contract_style,
            ),
        ]),
        Line::from(vec![
            Span::styled("sha256       ", t.dim()),
            Span::raw(format!(
                "{}… → {}…",
                &review.original_sha256[..12.min(review.original_sha256.len())],
                &review.edited_sha256[..12.min(review.edited_sha256.len())]
            )),
        ]),
    ];
    if review.violation.is_some() {
        lines.push(Line::from(Span::styled(
            if force {
                "force: on — it is sent although it violates the contract"
            } else {
                "force: off — f to send it anyway"
            },
            t.warning(),
        )));
    }
    lines.push(Line::default());
    let room = usize::from(area.height).saturating_sub(14).max(3);
    let start = scroll.min(review.diff.len().saturating_sub(1));
    for line in review.diff.iter().skip(start).take(room) {
        let style = match line {
            DiffLine::Added(_) => t.ok(),
            DiffLine::Removed(_) => t.critical(),
            DiffLine::Same(_) => ratatui::style::Style::default(),
            DiffLine::Skipped(_) => t.dim(),
        };
        lines.push(Line::from(Span::styled(
            fit(&safe(&line.render()), width),
            style,
        )));
    }
    let below = review.diff.len().saturating_sub(start + room);
    if start > 0 || below > 0 {
        lines.push(Line::from(Span::styled(
            format!(
                "(diff lines {}–{} of {}: j/k scroll)",
                start + 1,
                (start + room).min(review.diff.len()),
                review.diff.len()
            ),
            t.dim(),
        )));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::raw("Sends the edited bytes to its destination.  "),
        Span::styled("f", t.key()),
        Span::raw(" force"),
    ]));
    (
        format!(
            " Replay the edited payload of {}? ",
            fit(&safe(&review.id), 36)
        ),
        lines,
    )
}
