//! What a notification says, and how it is shaped for Slack-compatible webhooks and for generic
//! JSON receivers. Every text field is untrusted (it comes from upstream incidents) and is
//! sanitised; Slack's mrkdwn control characters are escaped so a title cannot forge a link or
//! a mention.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{Timestamp, sanitize};

/// One escalation (or page) about one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub upstream: String,
    pub incident: String,
    pub connector: String,
    pub severity: String,
    pub title: String,
    /// Why this was sent: "no ack 15m after the deadline: bridge (step 2 of chain major)".
    pub reason: String,
    /// Who is asked to act, as names with handles: "Dev Patel (@dev)".
    pub recipients: Vec<String>,
    pub owner: Option<String>,
    pub backup: Option<String>,
    pub ack_deadline: Option<Timestamp>,
    pub escalation_level: u32,
    pub runbook: Option<String>,
    /// The command that acknowledges it: `triage ack demo:inc_123`.
    pub ack_command: String,
}

/// Slack escapes: `&`, `<`, `>` (links and mentions are written `<…>`).
fn mrkdwn(s: &str) -> String {
    sanitize::line(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A free-form summary (the shift handoff) for Slack: each line sanitised and mrkdwn-escaped,
/// so text that came from upstreams cannot forge a link or a mention.
pub fn slack_summary_body(title: &str, text: &str) -> serde_json::Value {
    let lines: Vec<String> = text.lines().map(mrkdwn).collect();
    json!({ "text": format!("*{}*\n{}", mrkdwn(title), lines.join("\n")) })
}

/// A free-form summary for a generic JSON receiver.
pub fn webhook_summary_body(title: &str, text: &str) -> serde_json::Value {
    json!({ "kind": "summary", "title": sanitize::line(title), "text": text })
}

pub fn slack_body(n: &Notification) -> serde_json::Value {
    let deadline = n
        .ack_deadline
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into());
    let who = if n.recipients.is_empty() {
        "—".to_string()
    } else {
        n.recipients
            .iter()
            .map(|r| mrkdwn(r))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let owner = format!(
        "{} → {}",
        n.owner
            .as_deref()
            .map(mrkdwn)
            .unwrap_or_else(|| "(unowned)".into()),
        n.backup
            .as_deref()
            .map(mrkdwn)
            .unwrap_or_else(|| "(no backup)".into())
    );
    let text = format!(
        "[{}] {} — {} ({}). Ack: {}",
        mrkdwn(&n.severity.to_uppercase()),
        mrkdwn(&n.title),
        mrkdwn(&n.reason),
        mrkdwn(&n.connector),
        mrkdwn(&n.ack_command)
    );
    let mut context = vec![
        json!({"type": "mrkdwn", "text": format!("Ack from a terminal: `{}`", mrkdwn(&n.ack_command))}),
    ];
    if let Some(runbook) = &n.runbook {
        context.push(json!({"type": "mrkdwn", "text": format!("Runbook: {}", mrkdwn(runbook))}));
    }
    json!({
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(&format!("{} {}", n.severity.to_uppercase(), sanitize::line(&n.title)), 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*\nAsked to act: {}", mrkdwn(&n.reason), who)}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Connector*\n{}", mrkdwn(&n.connector))},
                {"type": "mrkdwn", "text": format!("*Owner → backup*\n{owner}")},
                {"type": "mrkdwn", "text": format!("*Ack deadline*\n{deadline}")},
                {"type": "mrkdwn", "text": format!("*Escalation level*\n{}", n.escalation_level)},
            ]},
            {"type": "context", "elements": context},
        ],
    })
}

pub fn webhook_body(n: &Notification) -> serde_json::Value {
    let mut body = serde_json::to_value(n).unwrap_or_else(|_| json!({}));
    if let Some(map) = body.as_object_mut() {
        map.insert("event".into(), json!("triage.notification"));
        map.insert("version".into(), json!(1));
    }
    body
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification {
            upstream: "demo".into(),
            incident: "inc_1".into(),
            connector: "hubspot-form-to-salesforce".into(),
            severity: "critical".into(),
            title: "<!channel> leads \x1b[2J rejected & lost".into(),
            reason: "no ack by the deadline: backup (step 1 of chain major)".into(),
            recipients: vec!["Dev Patel (@dev)".into()],
            owner: Some("Maria Lopez".into()),
            backup: Some("Dev Patel".into()),
            ack_deadline: None,
            escalation_level: 1,
            runbook: Some("https://runbooks.example/hubspot".into()),
            ack_command: "triage ack demo:inc_1".into(),
        }
    }

    #[test]
    fn slack_body_escapes_mentions_and_control_characters() {
        let value = slack_body(&sample());
        // mrkdwn fields (the fallback text) escape mentions; the plain_text header is never parsed.
        let fallback = value["text"].as_str().unwrap_or_default();
        assert!(
            fallback.contains("&lt;!channel&gt;") && !fallback.contains("<!channel>"),
            "{fallback}"
        );
        assert_eq!(value["blocks"][0]["text"]["type"], "plain_text");
        let body = value.to_string();
        assert!(
            !body.contains('\u{1b}') && !body.contains("\\u001b"),
            "{body}"
        );
        assert!(body.contains("triage ack demo:inc_1"));
        assert!(body.contains("Dev Patel (@dev)"));
    }

    #[test]
    fn webhook_body_is_the_notification_with_an_event_name() {
        let body = webhook_body(&sample());
        assert_eq!(body["event"], "triage.notification");
        assert_eq!(body["incident"], "inc_1");
        assert_eq!(body["escalation_level"], 1);
    }
}
