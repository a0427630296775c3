//! Links in the incident detail as OSC 8 hyperlinks (#12 point 11): the URL's first cell carries
//! the escape sequence around the URL with a forced width of the URL's columns, the screen's text
//! is unchanged, only web URLs are ever wrapped (upstream text), and nothing is added when the
//! terminal does not take them.

use crate::console_fixtures;

use console_fixtures::*;
use ratatui::buffer::CellDiffOption;
use triage::console::{App, View};
use triage::domain::Link;

const URL: &str = "https://wiki.example.com/runbooks/hubspot";

fn detail_app(links: Vec<Link>, hyperlinks: bool) -> App {
    let mut app = loaded_app();
    app.view = View::Incidents;
    app.hyperlinks = hyperlinks;
    let mut detail = incident_detail();
    detail.incident.links = links;
    app.incident_detail = Some(detail);
    app
}

fn link(url: &str) -> Link {
    Link {
        title: "Runbook".into(),
        url: url.into(),
    }
}

/// Cells whose symbol starts an OSC 8 hyperlink: (x, y, symbol, forced width).
fn hyperlink_cells(app: &App) -> Vec<(u16, u16, String, Option<u16>)> {
    let terminal = draw(app, 120, 40);
    let buf = terminal.backend().buffer();
    let mut found = Vec::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            if cell.symbol().starts_with("\x1b]8;;") {
                let width = match cell.diff_option {
                    CellDiffOption::ForcedWidth(w) => Some(w.get()),
                    _ => None,
                };
                found.push((x, y, cell.symbol().to_string(), width));
            }
        }
    }
    found
}

#[test]
fn a_web_link_becomes_an_osc8_hyperlink_over_its_own_text() {
    let app = detail_app(vec![link(URL)], true);
    let cells = hyperlink_cells(&app);
    assert_eq!(cells.len(), 1, "{cells:?}");
    let (x, y, symbol, width) = &cells[0];
    assert_eq!(symbol, &format!("\x1b]8;;{URL}\x1b\\{URL}\x1b]8;;\x1b\\"));
    assert_eq!(*width, Some(URL.len() as u16));
    // Drawn where the URL's text is, after its title.
    let screen = draw(&detail_app(vec![link(URL)], false), 120, 40)
        .backend()
        .to_string();
    // (TestBackend quotes each line.)
    let line = screen.lines().nth(usize::from(*y)).unwrap_or_default();
    let line = line.strip_prefix('"').unwrap_or(line);
    assert_eq!(line.find(URL), Some(usize::from(*x)), "{line}");
}

#[test]
fn only_web_urls_are_wrapped_and_nothing_when_the_terminal_does_not_take_them() {
    let hostile = vec![
        link("javascript:alert(1)"),
        link("file:///etc/passwd"),
        link("https://evil.example/\u{1b}]8;;https://other\u{1b}\\"),
    ];
    assert!(hyperlink_cells(&detail_app(hostile, true)).is_empty());
    assert!(hyperlink_cells(&detail_app(vec![link(URL)], false)).is_empty());
    assert!(triage::console::hyperlinks_wanted(
        Some("xterm-256color"),
        None
    ));
    assert!(!triage::console::hyperlinks_wanted(Some("dumb"), None));
    assert!(!triage::console::hyperlinks_wanted(Some("linux"), None));
    assert!(!triage::console::hyperlinks_wanted(
        Some("xterm"),
        Some("0")
    ));
}
