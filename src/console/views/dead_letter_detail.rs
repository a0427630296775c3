//! Dead-letter detail (Enter on a dead letter): why it died (error, contract violations),
//! headers and the upstream's response, the attempt history (the upstream's count and triage's
//! own replays and discards), then the payload (pretty JSON, text or hex; bounded).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::{dead_letter_history, safe};
use crate::console::app::App;
use crate::console::detail::{DeadLetterDetail, PayloadView};
use crate::domain::sanitize;

pub fn render(frame: &mut Frame<'_>, area: Rect, app: &App, detail: &DeadLetterDetail) {
    let lines = lines(app, detail, area.width);
    let dl = &detail.letter;
    let title = format!(
        " Dead letters › {} · {} · Esc back ",
        safe(&dl.id),
        safe(&dl.connector)
    );
    super::render_detail_pane(frame, area, app, title, lines, &detail.scroll);
}

/// Error and contract check, headers (`x-death` included) and the upstream's response, the
/// attempt history, then the payload (at most `PAYLOAD_SHOWN` of it, and how much more there
/// is): everything short comes before the one part that can be long.
pub(crate) fn lines(app: &App, detail: &DeadLetterDetail, width: u16) -> Vec<Line<'static>> {
    let t = &app.theme;
    let dl = &detail.letter;
    let mut out = Vec::new();
    let http = dl
        .error
        .http_status
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    out.push(Line::from(vec![
        Span::styled("error ", t.title()),
        Span::styled(format!("{}{http}", safe(&dl.error.code)), t.critical()),
        Span::raw(format!(": {}", safe(&dl.error.message))),
    ]));
    for missing in &detail.missing_required {
        out.push(Line::styled(
            format!("contract: missing required field `{}`", safe(missing)),
            t.critical(),
        ));
    }
    if let Some(problem) = &detail.contract_problem {
        out.push(Line::styled(safe(problem), t.warning()));
    }
    out.push(Line::default());
    out.push(Line::styled(
        format!("headers ({})", dl.headers.len()),
        t.title(),
    ));
    for (name, value) in &dl.headers {
        out.push(Line::from(vec![
            Span::styled(format!("{}: ", safe(name)), t.accent()),
            Span::raw(safe(value)),
        ]));
    }
    if let Some(response) = &dl.error.vendor_response {
        out.push(Line::default());
        out.push(Line::styled("upstream response", t.title()));
        let pretty = serde_json::from_str::<serde_json::Value>(response)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| response.clone());
        out.extend(
            sanitize::multiline(&pretty)
                .lines()
                .map(|l| Line::raw(l.to_string())),
        );
    }
    out.push(Line::default());
    out.extend(dead_letter_history::lines(app, detail, width));
    out.push(Line::default());
    payload_lines(app, detail, &mut out);
    out
}

fn payload_lines(app: &App, detail: &DeadLetterDetail, out: &mut Vec<Line<'static>>) {
    let t = &app.theme;
    let dl = &detail.letter;
    let content_type = dl
        .content_type
        .as_deref()
        .map(safe)
        .unwrap_or_else(|| "no content type".into());
    out.push(Line::styled(
        format!("payload ({content_type}, {} bytes)", dl.payload.len()),
        t.title(),
    ));
    match &detail.payload {
        PayloadView::Json { lines, unexpected } => {
            for line in lines {
                let flagged = unexpected.iter().any(|name| {
                    line.trim_start()
                        .starts_with(&format!("\"{}\":", sanitize::line(name)))
                        && line.starts_with("  \"")
                });
                if flagged {
                    out.push(Line::from(vec![
                        Span::styled(line.clone(), t.warning()),
                        Span::styled("  ← not in the contract", t.warning()),
                    ]));
                } else {
                    out.push(Line::raw(line.clone()));
                }
            }
        }
        PayloadView::Text(lines) | PayloadView::Hex(lines) => {
            out.extend(lines.iter().map(|l| Line::raw(l.clone())))
        }
    }
    if detail.payload_hidden > 0 {
        out.push(Line::styled(
            format!(
                "… {} more bytes not shown here (v shows the whole payload)",
                detail.payload_hidden,
            ),
            t.warning(),
        ));
    }
}
