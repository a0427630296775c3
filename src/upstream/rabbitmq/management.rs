//! RabbitMQ management HTTP API: live queue counts (the list endpoint with `disable_stats` and
//! `enable_queue_totals`), rates and consumers (tolerating missing `messages`/`message_stats`
//! and `message_stats: []` on new queues), and finding a work queue's dead-letter queue from its
//! `x-dead-letter-exchange`/`-routing-key` arguments and that exchange's bindings.

use std::collections::HashMap;

use serde::Deserialize;

use crate::upstream::UpstreamError;
use crate::upstream::http::HttpClient;
use crate::upstream::tls::TrustedCa;

/// Live numbers of one queue. Missing fields (new queues) are zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueNumbers {
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u64,
    pub publish_rate: f64,
    pub deliver_rate: f64,
    pub ack_rate: f64,
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// `classic`, `quorum` or `stream` (empty when the broker does not say).
    pub kind: String,
}

#[derive(Debug, Deserialize)]
struct QueueTotals {
    name: String,
    #[serde(default)]
    messages_ready: Option<u64>,
    #[serde(default)]
    messages_unacknowledged: Option<u64>,
    #[serde(default)]
    arguments: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct QueueActivity {
    name: String,
    #[serde(default)]
    consumers: Option<u64>,
    /// An object with `*_details.rate`, absent, or `[]` on a queue that saw no traffic yet.
    #[serde(default)]
    message_stats: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Binding {
    destination: String,
    destination_type: String,
    #[serde(default)]
    routing_key: String,
}

#[derive(Debug, Deserialize)]
struct ExchangeInfo {
    #[serde(rename = "type")]
    kind: String,
}

/// The management API of one vhost.
#[derive(Debug, Clone)]
pub struct Management {
    http: HttpClient,
    vhost: String,
}

impl Management {
    pub fn new(http: HttpClient, vhost: &str) -> Self {
        Management {
            http,
            vhost: vhost.to_string(),
        }
    }

    /// The same API, trusting `ca` for an `https://` management URL.
    pub fn trusting(self, ca: TrustedCa) -> Result<Self, UpstreamError> {
        Ok(Management {
            http: self.http.trusting(ca)?,
            ..self
        })
    }

    /// Numbers for every queue of the vhost, by name: two list calls, no per-queue requests.
    pub async fn queues(&self) -> Result<HashMap<String, QueueNumbers>, UpstreamError> {
        let totals: Vec<QueueTotals> = self
            .http
            .get_json(
                &["api", "queues", &self.vhost],
                &[("disable_stats", "true"), ("enable_queue_totals", "true")],
            )
            .await?;
        let activity: Vec<QueueActivity> = self
            .http
            .get_json(
                &["api", "queues", &self.vhost],
                &[("columns", "name,consumers,message_stats")],
            )
            .await?;
        let mut by_name: HashMap<String, QueueNumbers> = totals
            .into_iter()
            .map(|q| {
                let numbers = QueueNumbers {
                    ready: q.messages_ready.unwrap_or(0),
                    unacked: q.messages_unacknowledged.unwrap_or(0),
                    arguments: q.arguments.unwrap_or_default(),
                    kind: q.kind.unwrap_or_default(),
                    ..QueueNumbers::default()
                };
                (q.name, numbers)
            })
            .collect();
        for q in activity {
            if let Some(numbers) = by_name.get_mut(&q.name) {
                numbers.consumers = q.consumers.unwrap_or(0);
                let stats = q.message_stats.unwrap_or(serde_json::Value::Null);
                numbers.publish_rate = rate(&stats, "publish_details");
                numbers.deliver_rate = rate(&stats, "deliver_get_details");
                numbers.ack_rate = rate(&stats, "ack_details");
            }
        }
        Ok(by_name)
    }

    /// The average body size of `queue`'s messages, in bytes, as the broker counts them
    /// (`message_bytes / messages`); `None` for an empty queue.
    pub async fn average_message_bytes(&self, queue: &str) -> Result<Option<u64>, UpstreamError> {
        #[derive(Deserialize)]
        struct Size {
            #[serde(default)]
            messages: Option<u64>,
            #[serde(default)]
            message_bytes: Option<u64>,
        }
        let size: Size = self
            .http
            .get_json(
                &["api", "queues", &self.vhost, queue],
                &[("columns", "messages,message_bytes")],
            )
            .await?;
        Ok(match (size.messages, size.message_bytes) {
            (Some(messages), Some(bytes)) if messages > 0 => Some(bytes / messages),
            _ => None,
        })
    }

    /// The dead-letter queue of `work_queue`, from its DLX arguments and the DLX's bindings.
    /// `None` when the queue has no `x-dead-letter-exchange` or no queue is bound for its key.
    pub async fn dead_letter_queue(
        &self,
        work_queue: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<String>, UpstreamError> {
        let Some(exchange) = arguments
            .get("x-dead-letter-exchange")
            .and_then(|v| v.as_str())
        else {
            return Ok(None);
        };
        let routing_key = arguments
            .get("x-dead-letter-routing-key")
            .and_then(|v| v.as_str())
            .unwrap_or(work_queue);
        if exchange.is_empty() {
            return Ok(Some(routing_key.to_string()));
        }
        let info: ExchangeInfo = self
            .http
            .get_json(&["api", "exchanges", &self.vhost, exchange], &())
            .await?;
        let bindings: Vec<Binding> = self
            .http
            .get_json(
                &[
                    "api",
                    "exchanges",
                    &self.vhost,
                    exchange,
                    "bindings",
                    "source",
                ],
                &(),
            )
            .await?;
        let queues = bindings.iter().filter(|b| b.destination_type == "queue");
        let found = match info.kind.as_str() {
            "fanout" | "headers" => queues.map(|b| b.destination.clone()).next(),
            "topic" => queues
                .filter(|b| topic_matches(&b.routing_key, routing_key))
                .map(|b| b.destination.clone())
                .next(),
            _ => queues
                .filter(|b| b.routing_key == routing_key)
                .map(|b| b.destination.clone())
                .next(),
        };
        Ok(found)
    }
}

fn rate(stats: &serde_json::Value, details: &str) -> f64 {
    stats
        .get(details)
        .and_then(|d| d.get("rate"))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

/// AMQP topic matching: `*` one word, `#` zero or more words.
fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_match_like_the_broker() {
        assert!(topic_matches("#", "orders.work"));
        assert!(topic_matches("orders.*", "orders.work"));
        assert!(!topic_matches("orders.*", "orders.work.x"));
        assert!(topic_matches("orders.#", "orders"));
        assert!(!topic_matches("billing.#", "orders.work"));
    }

    #[test]
    fn missing_or_empty_message_stats_mean_zero_rates() {
        let parsed: Vec<QueueActivity> =
            serde_json::from_str(r#"[{"name":"a","message_stats":[]},{"name":"b"},{"name":"c","message_stats":{"publish_details":{"rate":2.5}}}]"#)
                .unwrap_or_default();
        assert_eq!(parsed.len(), 3);
        let rates: Vec<f64> = parsed
            .iter()
            .map(|q| {
                rate(
                    q.message_stats.as_ref().unwrap_or(&serde_json::Value::Null),
                    "publish_details",
                )
            })
            .collect();
        assert_eq!(rates, vec![0.0, 0.0, 2.5]);
    }
}
