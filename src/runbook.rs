//! Markdown runbooks rendered as styled ratatui text: headings, lists (nested, numbered),
//! code blocks, emphasis, block quotes and links shown as "text <url>". Runbooks are untrusted:
//! the markdown is sanitised before parsing, so no control character reaches a `Span`.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};

use crate::domain::sanitize;

/// Renders `markdown` for the terminal. `no_color` keeps to bold / italic / underline / dim.
pub fn render(markdown: &str, no_color: bool) -> Text<'static> {
    let clean = sanitize::multiline(markdown);
    let mut r = Renderer {
        no_color,
        lines: Vec::new(),
        current: Vec::new(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        links: Vec::new(),
        in_code: false,
        quote: 0,
    };
    for event in Parser::new(&clean) {
        r.event(event);
    }
    r.flush();
    while r.lines.last().is_some_and(|l| l.spans.is_empty()) {
        r.lines.pop();
    }
    Text::from(r.lines)
}

struct Renderer {
    no_color: bool,
    lines: Vec<Line<'static>>,
    current: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Next number of each open list (None = bullets).
    lists: Vec<Option<u64>>,
    links: Vec<String>,
    in_code: bool,
    quote: usize,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let next = f(self.style());
        self.styles.push(next);
    }

    fn colour(&self, style: Style, colour: Color) -> Style {
        if self.no_color {
            style
        } else {
            style.fg(colour)
        }
    }

    fn flush(&mut self) {
        if !self.current.is_empty() {
            let spans = std::mem::take(&mut self.current);
            self.lines.push(Line::from(spans));
        }
    }

    fn blank(&mut self) {
        self.flush();
        if self.lines.last().is_some_and(|l| !l.spans.is_empty()) {
            self.lines.push(Line::default());
        }
    }

    fn prefix(&mut self) {
        if self.current.is_empty() && self.quote > 0 {
            self.current.push(Span::styled(
                "│ ".repeat(self.quote),
                self.colour(Style::default(), Color::DarkGray),
            ));
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_code {
            for line in text.lines() {
                self.flush();
                let style = self.colour(Style::default(), Color::Green);
                self.current.push(Span::styled(
                    format!("    {line}"),
                    if self.no_color {
                        style.add_modifier(Modifier::DIM)
                    } else {
                        style
                    },
                ));
            }
            return;
        }
        // HTML blocks (and display math) carry their line breaks in their text: each of their
        // lines is a line here, so no span holds a newline.
        for (n, piece) in text.split('\n').enumerate() {
            if n > 0 {
                self.flush();
            }
            if !piece.is_empty() {
                self.prefix();
                self.current
                    .push(Span::styled(piece.to_string(), self.style()));
            }
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                self.prefix();
                let style = self
                    .colour(self.style(), Color::Green)
                    .add_modifier(Modifier::BOLD);
                self.current.push(Span::styled(format!("`{t}`"), style));
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.blank();
                self.lines.push(Line::styled(
                    "─".repeat(40),
                    Style::default().add_modifier(Modifier::DIM),
                ));
                self.lines.push(Line::default());
            }
            Event::Html(t) | Event::InlineHtml(t) => self.text(&t),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(t) => self.text(&format!("[{t}]")),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { level, .. } => {
                self.blank();
                let marks = match level {
                    HeadingLevel::H1 => "# ",
                    HeadingLevel::H2 => "## ",
                    _ => "### ",
                };
                let style = self.colour(Style::default().add_modifier(Modifier::BOLD), Color::Cyan);
                let style = if level == HeadingLevel::H1 {
                    style.add_modifier(Modifier::UNDERLINED)
                } else {
                    style
                };
                self.current.push(Span::styled(marks, style));
                self.styles.push(style);
            }
            Tag::Paragraph if self.lists.is_empty() => self.blank(),
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.blank();
                } else {
                    self.flush();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.prefix();
                self.current
                    .push(Span::raw(format!("{}{marker}", "  ".repeat(depth))));
            }
            Tag::CodeBlock(kind) => {
                self.blank();
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.is_empty()
                {
                    self.lines.push(Line::styled(
                        format!("    [{lang}]"),
                        Style::default().add_modifier(Modifier::DIM),
                    ));
                }
                self.in_code = true;
            }
            Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|s| s.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                let no_color = self.no_color;
                self.push_style(|s| {
                    if no_color {
                        s.add_modifier(Modifier::UNDERLINED)
                    } else {
                        s.fg(Color::Blue).add_modifier(Modifier::UNDERLINED)
                    }
                });
            }
            Tag::BlockQuote(_) => {
                self.blank();
                self.quote += 1;
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => {
                self.styles.pop();
                self.flush();
                self.lines.push(Line::default());
            }
            TagEnd::Paragraph => {
                self.flush();
                if self.lists.is_empty() {
                    self.lines.push(Line::default());
                }
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.flush();
                if self.lists.is_empty() {
                    self.lines.push(Line::default());
                }
            }
            TagEnd::Item => self.flush(),
            TagEnd::CodeBlock => {
                self.in_code = false;
                self.flush();
                self.lines.push(Line::default());
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link | TagEnd::Image => {
                self.styles.pop();
                if let Some(url) = self.links.pop() {
                    let shown_as_text = self.current.last().is_some_and(|s| s.content == url);
                    if !shown_as_text {
                        let style = self.colour(Style::default(), Color::DarkGray);
                        self.current.push(Span::styled(format!(" <{url}>"), style));
                    }
                }
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &Text<'_>) -> Vec<String> {
        text.lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn renders_headings_lists_code_and_links() {
        let md = "# Fix it\n\nThe CRM renamed **lead_source**.\n\n1. Open [Salesforce](https://sf.example/setup)\n2. Map `LeadSource__c`\n   - then replay\n\n```sh\ntriage replay dl-1\n```\n";
        let lines = plain(&render(md, false));
        assert_eq!(lines[0], "# Fix it");
        assert!(
            lines.contains(&"The CRM renamed lead_source.".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"1. Open Salesforce <https://sf.example/setup>".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"2. Map `LeadSource__c`".to_string()),
            "{lines:?}"
        );
        assert!(lines.contains(&"  • then replay".to_string()), "{lines:?}");
        assert!(
            lines.contains(&"    triage replay dl-1".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn escape_sequences_in_runbooks_are_neutralised() {
        let text = render("# T\x1b]52;c;aGk=\x07\n\nbody \x1b[2J \u{9b}31m", false);
        for line in &text.lines {
            for span in &line.spans {
                assert!(
                    !span.content.chars().any(char::is_control),
                    "{:?}",
                    span.content
                );
            }
        }
    }

    #[test]
    fn html_blocks_keep_their_lines_without_a_newline_in_any_span() {
        // Found by the fuzz target `runbook` (minimised): an HTML block's text ends in '\n'.
        let text = render("<?\n", false);
        assert_eq!(plain(&text), vec!["<?".to_string()]);
        let text = render("Intro\n\n<div>\n<b>one</b>\ntwo\n</div>\n", true);
        let lines = plain(&text);
        assert!(
            lines.ends_with(&["<div>", "<b>one</b>", "two", "</div>"].map(String::from)),
            "{lines:?}"
        );
        for span in text.lines.iter().flat_map(|l| &l.spans) {
            assert!(!span.content.contains('\n'), "{:?}", span.content);
        }
    }
}
