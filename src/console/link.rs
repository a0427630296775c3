//! `O` opens an incident's links: the first, then the next on each press. With `$BROWSER` set
//! the runtime starts it on the URL (detached: the console keeps the terminal); without it (the
//! usual case over SSH) the URL is shown in the status line and copied by OSC 52, so it can be
//! pasted on the operator's own machine.

use super::app::{App, StatusLevel, View};
use super::msg::Cmd;
use crate::domain::sanitize;

/// Which link `O` showed last, per incident (`upstream`, `id`, index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkCursor {
    pub incident: Option<(String, String)>,
    pub next: usize,
}

pub fn open(app: &mut App) -> Vec<Cmd> {
    if app.view != View::Incidents {
        app.set_status(StatusLevel::Info, "links are on incidents: press 2, then O");
        return Vec::new();
    }
    let Some(incident) = app.selected_incident() else {
        app.set_status(StatusLevel::Info, "no incident selected");
        return Vec::new();
    };
    if incident.links.is_empty() {
        app.set_status(
            StatusLevel::Info,
            format!("{} has no links", sanitize::line(&incident.id)),
        );
        return Vec::new();
    }
    let key = (incident.upstream.clone(), incident.id.clone());
    let index = if app.link_cursor.incident.as_ref() == Some(&key) {
        app.link_cursor.next % incident.links.len()
    } else {
        0
    };
    let link = incident.links[index].clone();
    let count = incident.links.len();
    app.link_cursor = LinkCursor {
        incident: Some(key),
        next: index + 1,
    };
    let which = if count > 1 {
        format!("link {}/{count} ", index + 1)
    } else {
        String::new()
    };
    vec![Cmd::OpenUrl {
        what: format!("{which}{}", sanitize::line(&link.title)),
        url: link.url,
    }]
}

/// Only web links are handed to a browser (a link from an upstream is untrusted text).
pub fn is_web_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_web_links() {
        assert!(is_web_url("https://runbooks.example/hubspot"));
        assert!(is_web_url("http://127.0.0.1:9093/#/alerts"));
        assert!(!is_web_url("file:///etc/passwd"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("-rf /"));
    }
}
