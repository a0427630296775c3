//! Notifiers: where escalations are announced. A Slack-compatible incoming webhook (text +
//! blocks) and a generic JSON webhook. Notifications travel through the outbox like every other
//! action, so a chat outage delays them but never loses them.

pub mod message;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::upstream::UpstreamError;
use crate::upstream::http::HttpClient;
pub use message::Notification;

/// Which payload shape a notifier posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// Slack (and Mattermost/Rocket.Chat) incoming webhooks: `{text, blocks}`.
    Slack,
    /// Any HTTP endpoint: the notification as JSON (`event = "triage.notification"`, `version = 1`).
    Webhook,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Slack => "slack",
            NotifierKind::Webhook => "webhook",
        }
    }
}

/// One configured notifier, ready to post.
pub struct Notifier {
    pub id: String,
    pub kind: NotifierKind,
    http: HttpClient,
}

impl Notifier {
    /// `url` is the full webhook URL (a secret for Slack: it comes from `url_env`/`url_file`).
    pub fn new(id: &str, kind: NotifierKind, url: &str, timeout: Duration) -> Result<Self, UpstreamError> {
        Ok(Notifier { id: id.to_string(), kind, http: HttpClient::new(id, url, timeout, None)? })
    }

    /// The body this notifier posts for `n`.
    pub fn body(&self, n: &Notification) -> serde_json::Value {
        match self.kind {
            NotifierKind::Slack => message::slack_body(n),
            NotifierKind::Webhook => message::webhook_body(n),
        }
    }

    /// Posts once; the outbox retries transient failures.
    pub async fn send(&self, n: &Notification) -> Result<(), UpstreamError> {
        self.http.post_ignoring_body(&[], &self.body(n)).await
    }
}
