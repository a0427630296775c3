//! Notifiers: where escalations are announced. A Slack-compatible incoming webhook (text +
//! blocks) and a generic JSON webhook. Notifications travel through the outbox like every other
//! action, so a chat outage delays them but never loses them.

pub mod message;

use std::time::Duration;

pub use crate::domain::escalation::NotifierKind;
use crate::upstream::UpstreamError;
use crate::upstream::http::HttpClient;
pub use message::Notification;

/// One configured notifier, ready to post.
pub struct Notifier {
    pub id: String,
    pub kind: NotifierKind,
    http: HttpClient,
}

impl Notifier {
    /// `url` is the full webhook URL (a secret for Slack: it comes from `url_env`/`url_file`).
    pub fn new(
        id: &str,
        kind: NotifierKind,
        url: &str,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        Ok(Notifier {
            id: id.to_string(),
            kind,
            http: HttpClient::new(id, url, timeout, None)?,
        })
    }

    /// The body this notifier posts for `n`.
    pub fn body(&self, n: &Notification) -> serde_json::Value {
        match self.kind {
            NotifierKind::Slack => message::slack_body(n),
            NotifierKind::Webhook => message::webhook_body(n),
        }
    }

    /// Posts a free-form summary once (`triage handoff --post`), not through the outbox: the
    /// operator sees at once whether it arrived.
    pub async fn post_summary(&self, title: &str, text: &str) -> Result<(), UpstreamError> {
        let body = match self.kind {
            NotifierKind::Slack => message::slack_summary_body(title, text),
            NotifierKind::Webhook => message::webhook_summary_body(title, text),
        };
        self.http.post_ignoring_body(&[], &body).await
    }

    /// Posts once; the outbox retries transient failures.
    pub async fn send(&self, n: &Notification) -> Result<(), UpstreamError> {
        self.http.post_ignoring_body(&[], &self.body(n)).await
    }
}

/// A notifier is an outbox destination like an upstream: the worker sends `Notify` actions
/// through it, with the same retries, leases and audit rows. It is never polled.
#[async_trait::async_trait]
impl crate::upstream::Upstream for Notifier {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> crate::domain::UpstreamKind {
        crate::domain::UpstreamKind::ConnectorApi
    }

    fn polls(&self) -> bool {
        false
    }

    async fn connectors(&self) -> Result<Vec<crate::domain::ConnectorReport>, UpstreamError> {
        Ok(Vec::new())
    }

    async fn incidents(
        &self,
        _since: Option<crate::domain::Timestamp>,
        _cursor: Option<&str>,
    ) -> Result<crate::upstream::FetchPage<crate::domain::Incident>, UpstreamError> {
        Ok(crate::upstream::FetchPage::empty())
    }

    async fn dead_letters(
        &self,
        _since: Option<crate::domain::Timestamp>,
        _cursor: Option<&str>,
    ) -> Result<crate::upstream::FetchPage<crate::domain::DeadLetter>, UpstreamError> {
        Ok(crate::upstream::FetchPage::empty())
    }

    async fn perform(
        &self,
        action: &crate::domain::Action,
        _idempotency_key: &str,
    ) -> Result<crate::upstream::ActionResult, UpstreamError> {
        let unsupported = |message: String| UpstreamError::Unsupported {
            upstream: self.id.clone(),
            message,
        };
        if action.kind != crate::domain::ActionKind::Notify {
            return Err(unsupported(format!(
                "a notifier cannot {}",
                action.kind.as_str()
            )));
        }
        let payload = action.payload.as_deref().unwrap_or_default();
        let notification: Notification = serde_json::from_slice(payload)
            .map_err(|e| unsupported(format!("the queued notification is not readable: {e}")))?;
        self.send(&notification).await?;
        let outcome = crate::domain::ActionOutcome {
            ok: true,
            summary: format!(
                "{} notified via {} ({})",
                notification.recipients.join(", "),
                self.id,
                self.kind.as_str()
            ),
            response: serde_json::json!({ "notifier": self.id }),
        };
        Ok(crate::upstream::ActionResult {
            outcome,
            incident: None,
            dead_letter: None,
            letter_state: None,
        })
    }
}
