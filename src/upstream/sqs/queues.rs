//! Discovery: each connector binds to a source queue; its DLQ is the queue's `RedrivePolicy`
//! `deadLetterTargetArn` (or `dead_letter_queue` on the connector), and
//! `ListDeadLetterSourceQueues` names every source that feeds a DLQ — a DLQ with several sources
//! is read once and its letters split by origin. Counts come from `GetQueueAttributes`.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::client::{is_missing_queue, upstream_error};
use super::message::queue_name;
use super::pass::Depth;
use super::{QueueBinding, Sqs};
use crate::upstream::UpstreamError;

/// One queue's attributes as triage uses them.
#[derive(Debug, Clone, Default)]
pub struct QueueFacts {
    pub name: String,
    pub url: String,
    pub arn: String,
    pub fifo: bool,
    pub depth: Depth,
    /// `RedrivePolicy`: the DLQ's name and `maxReceiveCount`.
    pub redrive: Option<(String, Option<u32>)>,
}

/// One distinct DLQ with what feeds it.
#[derive(Debug, Clone)]
pub struct DeadLetterQueue {
    pub facts: QueueFacts,
    /// Every source queue the server names (`ListDeadLetterSourceQueues`), sorted.
    pub sources: Vec<String>,
    /// `maxReceiveCount` per source queue that triage read.
    pub max_receive: HashMap<String, u32>,
}

/// What one look at the bound queues found.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Per binding (same order as the adapter's bindings): its source queue, if it exists, and
    /// the name of its DLQ, if it has one.
    pub sources: Vec<(Option<QueueFacts>, Option<String>)>,
    pub dlqs: Vec<DeadLetterQueue>,
}

impl Topology {
    pub fn dlq(&self, name: &str) -> Option<&DeadLetterQueue> {
        self.dlqs.iter().find(|d| d.facts.name == name)
    }
}

impl Sqs {
    /// The URL of queue `name`, `None` when it does not exist (cached once found).
    pub(super) async fn queue_url(&self, name: &str) -> Result<Option<String>, UpstreamError> {
        if let Some(url) = self.urls.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(Some(url));
        }
        let client = self.client().await?;
        match client.get_queue_url().queue_name(name).send().await {
            Ok(out) => {
                let url = out.queue_url().map(str::to_string);
                if let (Some(url), Ok(mut cache)) = (&url, self.urls.lock()) {
                    cache.insert(name.to_string(), url.clone());
                }
                Ok(url)
            }
            Err(e) => {
                let error = upstream_error(&self.id, &self.endpoint, "GetQueueUrl", e);
                if is_missing_queue(&error) {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// The attributes of the queue at `url`; `None` when it is gone.
    pub(super) async fn facts(&self, url: &str) -> Result<Option<QueueFacts>, UpstreamError> {
        let client = self.client().await?;
        let answer = client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let error = upstream_error(&self.id, url, "GetQueueAttributes", e);
                if is_missing_queue(&error) {
                    if let Ok(mut cache) = self.urls.lock() {
                        cache.retain(|_, u| u != url);
                    }
                    return Ok(None);
                }
                return Err(error);
            }
        };
        let empty = HashMap::new();
        let attributes = out.attributes().unwrap_or(&empty);
        let number = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let arn = attributes
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let name = queue_name(if arn.is_empty() { url } else { &arn }).to_string();
        let redrive = attributes
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|policy| {
                let target = policy.get("deadLetterTargetArn")?.as_str()?.to_string();
                let max = match policy.get("maxReceiveCount") {
                    Some(serde_json::Value::Number(n)) => {
                        n.as_u64().and_then(|n| u32::try_from(n).ok())
                    }
                    Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                    _ => None,
                };
                Some((queue_name(&target).to_string(), max))
            });
        Ok(Some(QueueFacts {
            fifo: attributes
                .get(&QueueAttributeName::FifoQueue)
                .is_some_and(|v| v == "true")
                || name.ends_with(".fifo"),
            name,
            url: url.to_string(),
            arn,
            depth: Depth {
                visible: number(QueueAttributeName::ApproximateNumberOfMessages),
                in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
                delayed: number(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            },
            redrive,
        }))
    }

    /// The names of every queue whose redrive policy targets the DLQ at `url` (all pages).
    async fn dead_letter_sources(&self, url: &str) -> Result<Vec<String>, UpstreamError> {
        let client = self.client().await?;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..100 {
            let out = client
                .list_dead_letter_source_queues()
                .queue_url(url)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| upstream_error(&self.id, url, "ListDeadLetterSourceQueues", e))?;
            names.extend(out.queue_urls().iter().map(|u| queue_name(u).to_string()));
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The DLQ name of `binding` given its source's facts: explicit, else the redrive policy's.
    fn dlq_name(binding: &QueueBinding, source: Option<&QueueFacts>) -> Option<String> {
        binding
            .dead_letter_queue
            .clone()
            .or_else(|| source.and_then(|s| s.redrive.as_ref().map(|(dlq, _)| dlq.clone())))
    }

    /// Looks at every bound source queue and every distinct DLQ they feed.
    pub(super) async fn topology(&self) -> Result<Topology, UpstreamError> {
        let mut topology = Topology::default();
        let mut max_receive: HashMap<String, (String, u32)> = HashMap::new();
        for binding in &self.bindings {
            let source = match self.queue_url(&binding.queue).await? {
                Some(url) => self.facts(&url).await?,
                None => None,
            };
            let dlq = Self::dlq_name(binding, source.as_ref());
            if let (Some(source), Some(dlq)) = (&source, &dlq)
                && let Some((_, Some(max))) = &source.redrive
            {
                max_receive.insert(source.name.clone(), (dlq.clone(), *max));
            }
            topology.sources.push((source, dlq));
        }
        let mut names: Vec<String> = topology
            .sources
            .iter()
            .filter_map(|(_, dlq)| dlq.clone())
            .collect();
        names.sort();
        names.dedup();
        // triage's own receipts queues are never browsed as DLQs, even when named so by hand.
        names.retain(|name| !super::receipts::is_receipts_queue(name));
        for name in names {
            let Some(url) = self.queue_url(&name).await? else {
                continue;
            };
            let Some(facts) = self.facts(&url).await? else {
                continue;
            };
            let sources = self.dead_letter_sources(&url).await?;
            let max_receive = max_receive
                .iter()
                .filter(|(_, (dlq, _))| *dlq == name)
                .map(|(source, (_, max))| (source.clone(), *max))
                .collect();
            topology.dlqs.push(DeadLetterQueue {
                facts,
                sources,
                max_receive,
            });
        }
        Ok(topology)
    }
}
