//! Operator actions as durable intents: what was asked, of which upstream, and what came back.

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Ack,
    /// Ends an acknowledgement: the incident is open again and its escalation resumes.
    Unack,
    Escalate,
    Resolve,
    Replay,
    Discard,
    /// Announce an escalation step through a notifier (`upstream` = the notifier's id,
    /// `target` = `<upstream>:<incident id>`, `payload` = the notification as JSON).
    Notify,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Ack => "ack",
            ActionKind::Unack => "unack",
            ActionKind::Escalate => "escalate",
            ActionKind::Resolve => "resolve",
            ActionKind::Replay => "replay",
            ActionKind::Discard => "discard",
            ActionKind::Notify => "notify",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" => Some(Self::Ack),
            "unack" => Some(Self::Unack),
            "escalate" => Some(Self::Escalate),
            "resolve" => Some(Self::Resolve),
            "replay" => Some(Self::Replay),
            "discard" => Some(Self::Discard),
            "notify" => Some(Self::Notify),
            _ => None,
        }
    }

    /// Ack, un-ack, escalate and resolve act on incidents; replay and discard on dead letters.
    pub fn targets_incident(self) -> bool {
        matches!(
            self,
            ActionKind::Ack | ActionKind::Unack | ActionKind::Escalate | ActionKind::Resolve
        )
    }

    /// Past tense for messages: "acknowledged", "replayed"…
    pub fn past_tense(self) -> &'static str {
        match self {
            ActionKind::Ack => "acknowledged",
            ActionKind::Unack => "un-acknowledged",
            ActionKind::Escalate => "escalated",
            ActionKind::Resolve => "resolved",
            ActionKind::Replay => "replayed",
            ActionKind::Discard => "discarded",
            ActionKind::Notify => "notified",
        }
    }
}

/// What the operator asked for. `target` is the incident or dead-letter id within `upstream`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub kind: ActionKind,
    pub upstream: String,
    pub target: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Escalation level asked for (escalate only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// Replacement payload (replay of an edited event only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Vec<u8>>,
    /// Where a replay goes instead of the last origin (RabbitMQ: `first-origin`, `queue:NAME`,
    /// `exchange:NAME[:ROUTING_KEY]`; see [`ReplayDestination`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Replay without the message's own TTL (RabbitMQ restores it from `x-death` by default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop_ttl: bool,
}

/// Where a replay goes, when not back where the message last died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayDestination {
    /// The queue it first died in (its oldest `x-death` entry).
    FirstOrigin,
    /// Straight to a queue (through the default exchange).
    Queue(String),
    /// To an exchange with a routing key (empty when not given).
    Exchange { name: String, routing_key: String },
}

impl ReplayDestination {
    /// `first-origin`, `queue:NAME` or `exchange:NAME[:ROUTING_KEY]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = "expected first-origin, queue:NAME or exchange:NAME[:ROUTING_KEY]";
        match text.split_once(':') {
            None if text == "first-origin" => Ok(ReplayDestination::FirstOrigin),
            Some(("queue", name)) if !name.is_empty() => {
                Ok(ReplayDestination::Queue(name.to_string()))
            }
            Some(("exchange", rest)) if !rest.is_empty() => {
                let (name, key) = rest.split_once(':').unwrap_or((rest, ""));
                Ok(ReplayDestination::Exchange {
                    name: name.to_string(),
                    routing_key: key.to_string(),
                })
            }
            _ => Err(format!("replay destination {text:?}: {expected}")),
        }
    }
}

/// The upstream's answer to an action it accepted. `ok = false` means the upstream understood
/// the request and refused or failed it for good (e.g. the vendor rejected a replay again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub ok: bool,
    pub summary: String,
    #[serde(default)]
    pub response: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent, or to be retried after a transient failure.
    Pending,
    /// The upstream confirmed it.
    Sent,
    /// The upstream refused it, or retries ran out. Final; the operator may retry as a new action.
    Failed,
    /// Recalled by its run: the run was paused while its batch was in flight and the upstream
    /// stopped before acting on this one (SQS's move task, cancelled). Final and not a failure:
    /// the run's member is planned again, and a resume sends it as a new action with a new key.
    Recalled,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Recalled => "recalled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "recalled" => Some(Self::Recalled),
            _ => None,
        }
    }
}

/// One row of the outbox: an action and its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: String,
    pub idempotency_key: String,
    pub action: Action,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub outcome: Option<ActionOutcome>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The worker sending it now, if one holds it.
    pub lease: Option<OutboxLease>,
    /// What this process knows of the row because it stored it (nothing for an entry read
    /// back): not part of the entry's value.
    #[serde(skip)]
    pub stored: Stored,
}

/// [`OutboxEntry::stored`]. Known or not, two entries compare equal whatever it holds.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The SHA-256 of the action as stored: each audit row of the action carries it, and
    /// reading the stored action back to hash it costs a lookup per answer.
    pub hash: Option<String>,
    /// The run member (its `seq`) the action was made for: its answer settles that member
    /// without looking for it among the stage's queued ones.
    pub member: Option<usize>,
}

impl PartialEq for Stored {
    fn eq(&self, _: &Stored) -> bool {
        true
    }
}

/// A worker's hold on a pending action while it sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxLease {
    /// `host:pid:start` of the holding process.
    pub holder: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// False when the holder is a process of this host that is gone: the next worker takes over.
    pub alive: bool,
}
