//! Real-RabbitMQ test support: the server from `scripts/upstreams.sh`, uniquely named topologies
//! (work exchange → work queue → DLX → DLQ) deleted at the end, and the test messages. Shared by
//! several test crates and the bench, each using part of it.

use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use triage::upstream::rabbitmq::amqp::Broker;
use triage::upstream::rabbitmq::{QueueBinding, RabbitMq, RabbitMqSettings};

pub const START_HINT: &str = "start the upstreams: scripts/upstreams.sh start, then source its env";

/// (AMQP URL, management URL) of the test server; fails with how to start it when unset.
pub fn server() -> (String, String) {
    let amqp = std::env::var("TRIAGE_TEST_RABBITMQ_AMQP");
    let http = std::env::var("TRIAGE_TEST_RABBITMQ_HTTP");
    match (amqp, http) {
        (Ok(amqp), Ok(http)) => (amqp, http),
        _ => {
            let full = std::env::var("TRIAGE_FULL_SUITE").is_ok_and(|v| v == "1");
            panic!("TRIAGE_TEST_RABBITMQ_AMQP/HTTP are not set (full suite: {full}): {START_HINT}");
        }
    }
}

/// One test's queues and exchanges, all named after `prefix`.
pub struct Topology {
    pub exchange: String,
    pub work: String,
    pub dlx: String,
    pub dlq: String,
    pub channel: Channel,
    connection: Connection,
    pub amqp: String,
    pub http: String,
}

impl Topology {
    pub async fn new(name: &str) -> Topology {
        Topology::with_dlq_arguments(name, FieldTable::default()).await
    }

    /// A topology whose DLQ is declared with `dlq_arguments` (e.g. `x-queue-type: quorum`).
    pub async fn with_dlq_arguments(name: &str, dlq_arguments: FieldTable) -> Topology {
        let (amqp, http) = server();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let prefix = format!("t{}-{nanos}-{name}", std::process::id());
        let connection = Connection::connect(&amqp, ConnectionProperties::default())
            .await
            .expect("connect to the test RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm.select");
        let t = Topology {
            exchange: format!("{prefix}.x"),
            work: format!("{prefix}.work"),
            dlx: format!("{prefix}.dlx"),
            dlq: format!("{prefix}.dlq"),
            channel,
            connection,
            amqp,
            http,
        };
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        for exchange in [&t.exchange, &t.dlx] {
            t.channel
                .exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Direct,
                    durable,
                    FieldTable::default(),
                )
                .await
                .expect("exchange");
        }
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(t.dlx.as_str().into()),
        );
        let q = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        t.channel
            .queue_declare(t.work.as_str().into(), q, args)
            .await
            .expect("work queue");
        t.channel
            .queue_declare(t.dlq.as_str().into(), q, dlq_arguments)
            .await
            .expect("dlq");
        let bind = |queue: &str, exchange: &str| {
            t.channel.queue_bind(
                queue.into(),
                exchange.into(),
                t.work.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
        };
        bind(&t.work, &t.exchange).await.expect("bind work");
        bind(&t.dlq, &t.dlx).await.expect("bind dlq");
        t
    }

    pub fn adapter(&self) -> RabbitMq {
        self.adapter_via(&self.amqp)
    }

    /// [`Topology::adapter`] speaking AMQP to `amqp_url` (a relay in front of the broker).
    pub fn adapter_via(&self, amqp_url: &str) -> RabbitMq {
        self.adapter_with(amqp_url, &self.http)
    }

    /// [`Topology::adapter`] speaking AMQP to `amqp_url` and asking the management API at
    /// `management_url` (a listener that never answers, say).
    pub fn adapter_with(&self, amqp_url: &str, management_url: &str) -> RabbitMq {
        let settings = RabbitMqSettings {
            id: "rmq".into(),
            management_url: management_url.to_string(),
            amqp_url: amqp_url.to_string(),
            vhost: "/".into(),
            username: "guest".into(),
            password: Some("guest".into()),
            timeout: Duration::from_secs(30),
        };
        let binding = QueueBinding {
            connector: "orders".into(),
            name: "Orders".into(),
            queue: self.work.clone(),
            dead_letter_queue: None,
        };
        RabbitMq::new(settings, vec![binding]).expect("adapter")
    }

    pub fn broker(&self) -> Broker {
        Broker::new("verify", &self.amqp)
    }

    /// Publishes `messages` to the work exchange (confirmed), then rejects them all from the work
    /// queue so RabbitMQ dead-letters them with a real `x-death`.
    pub async fn dead_letter(&self, messages: &[(Vec<u8>, BasicProperties)]) {
        for (payload, properties) in messages {
            self.channel
                .basic_publish(
                    self.exchange.as_str().into(),
                    self.work.as_str().into(),
                    BasicPublishOptions::default(),
                    payload,
                    properties.clone(),
                )
                .await
                .expect("publish");
        }
        self.channel.wait_for_confirms().await.expect("confirms");
        let consumer_channel = self.connection.create_channel().await.expect("channel");
        let mut consumer = consumer_channel
            .basic_consume(
                self.work.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        for _ in 0..messages.len() {
            let delivery = consumer
                .next()
                .await
                .expect("delivery")
                .expect("delivery ok");
            delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
                .expect("reject");
        }
        consumer_channel
            .close(200, "done".into())
            .await
            .expect("close");
        self.wait_for_depth(&self.dlq, messages.len() as u32).await;
    }

    pub async fn wait_for_depth(&self, queue: &str, depth: u32) {
        let broker = self.broker();
        for _ in 0..1200 {
            if broker.message_count(queue).await.expect("count") == depth {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{queue} never reached {depth} messages");
    }

    /// Waits until `queue`'s depth stops changing (asynchronous requeues done).
    pub async fn wait_until_settled(&self, queue: &str) -> u32 {
        let broker = self.broker();
        let mut last = u32::MAX;
        for _ in 0..100 {
            let now = broker.message_count(queue).await.expect("count");
            if now == last {
                return now;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        last
    }

    /// The same topology on a new connection (after the broker restarted).
    #[allow(dead_code)]
    pub async fn reconnect(self) -> Topology {
        let connection = Connection::connect(&self.amqp, ConnectionProperties::default())
            .await
            .expect("reconnect to the test RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm.select");
        Topology {
            channel,
            connection,
            ..self
        }
    }

    pub async fn cleanup(self) {
        let receipts = triage::upstream::rabbitmq::amqp::receipts_queue(&self.dlq);
        let moving = triage::upstream::rabbitmq::amqp::unsettled_queue(&self.dlq);
        for queue in [&self.work, &self.dlq, &receipts, &moving] {
            let _ = self
                .channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        for exchange in [&self.exchange, &self.dlx] {
            let _ = self
                .channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Helpers for the batch tests and the bench (the other crates that include this file do not
/// use them).
#[allow(dead_code)]
impl Topology {
    /// An adapter for several topologies: connector `name` bound to each one's work queue.
    pub fn adapter_for(topologies: &[(&str, &Topology)]) -> RabbitMq {
        let first = topologies.first().expect("at least one topology").1;
        let settings = RabbitMqSettings {
            id: "rmq".into(),
            management_url: first.http.clone(),
            amqp_url: first.amqp.clone(),
            vhost: "/".into(),
            username: "guest".into(),
            password: Some("guest".into()),
            timeout: Duration::from_secs(30),
        };
        let bindings = topologies
            .iter()
            .map(|(connector, t)| QueueBinding {
                connector: connector.to_string(),
                name: connector.to_string(),
                queue: t.work.clone(),
                dead_letter_queue: None,
            })
            .collect();
        RabbitMq::new(settings, bindings).expect("adapter")
    }

    /// Properties of a message dead-lettered from this work queue (an `x-death` naming the work
    /// exchange and `routing_key`) with `message_id`, for publishing straight to the DLQ.
    pub fn dead_properties(&self, message_id: &str, routing_key: &str) -> BasicProperties {
        let mut entry = FieldTable::default();
        entry.insert("reason".into(), AMQPValue::LongString("rejected".into()));
        entry.insert(
            "queue".into(),
            AMQPValue::LongString(self.work.as_str().into()),
        );
        entry.insert(
            "exchange".into(),
            AMQPValue::LongString(self.exchange.as_str().into()),
        );
        entry.insert("count".into(), AMQPValue::LongLongInt(1));
        let keys = lapin::types::FieldArray::from(vec![AMQPValue::LongString(routing_key.into())]);
        entry.insert("routing-keys".into(), AMQPValue::FieldArray(keys));
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(vec![AMQPValue::FieldTable(entry)].into()),
        );
        BasicProperties::default()
            .with_headers(headers)
            .with_message_id(message_id.into())
    }

    /// Publishes `messages` straight to the DLQ (confirmed in batches), in order, and waits until
    /// it holds `previous depth + messages.len()`.
    pub async fn publish_to_dlq(
        &self,
        messages: impl IntoIterator<Item = (Vec<u8>, BasicProperties)>,
    ) {
        let before = self.broker().message_count(&self.dlq).await.expect("count");
        let mut sent = 0u32;
        for (payload, properties) in messages {
            self.channel
                .basic_publish(
                    "".into(),
                    self.dlq.as_str().into(),
                    BasicPublishOptions::default(),
                    &payload,
                    properties,
                )
                .await
                .expect("publish");
            sent += 1;
            if sent.is_multiple_of(5000) {
                self.channel.wait_for_confirms().await.expect("confirms");
            }
        }
        self.channel.wait_for_confirms().await.expect("confirms");
        self.wait_for_depth(&self.dlq, before + sent).await;
    }

    /// Messages delivered from `queue` so far (consumed or got), from the management API's
    /// `message_stats.deliver_get`: counts every message a pass or a peek read.
    pub async fn deliveries(&self, queue: &str) -> u64 {
        triage::upstream::http::install_crypto_provider();
        let url = format!("{}/api/queues/%2f/{queue}", self.http);
        let body: serde_json::Value = reqwest::Client::new()
            .get(&url)
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .expect("management API")
            .json()
            .await
            .expect("queue JSON");
        body["message_stats"]["deliver_get"].as_u64().unwrap_or(0)
    }

    /// `deliveries(queue)` once the statistics caught up: waits until it reaches `at_least`, then
    /// until two readings 2.5 s apart (more than the 1 s statistics interval) agree.
    pub async fn settled_deliveries(&self, queue: &str, at_least: u64) -> u64 {
        for _ in 0..300 {
            if self.deliveries(queue).await >= at_least {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut last = self.deliveries(queue).await;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let now = self.deliveries(queue).await;
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("deliveries from {queue} never settled (last {last})");
    }
}

/// The 1,000 test messages: JSON, UTF-8 text, binary with 0x00/0xFF, one of 1 MiB, nested
/// table headers. Every other binary message has no message_id (identified by fingerprint).
pub fn mixed_messages(count: usize) -> Vec<(Vec<u8>, BasicProperties)> {
    (0..count)
        .map(|i| {
            let mut trace = FieldTable::default();
            trace.insert("span".into(), AMQPValue::LongLongInt(i as i64));
            let mut meta = FieldTable::default();
            meta.insert("tenant".into(), AMQPValue::LongString("acme".into()));
            meta.insert("trace".into(), AMQPValue::FieldTable(trace));
            let mut headers = FieldTable::default();
            headers.insert("meta".into(), AMQPValue::FieldTable(meta));
            headers.insert("attempt".into(), AMQPValue::LongInt(i as i32));
            let (payload, content_type): (Vec<u8>, &str) = match i % 4 {
                _ if i == 3 => (vec![b'x'; 1024 * 1024], "application/octet-stream"),
                0 => (
                    format!(r#"{{"order":{i},"note":"ünïcode ✓"}}"#).into_bytes(),
                    "application/json",
                ),
                1 => (
                    format!("plain text line {i}: grüße").into_bytes(),
                    "text/plain; charset=utf-8",
                ),
                2 => (
                    [
                        &[0x00, 0xFF, 0x00][..],
                        &(i as u32).to_be_bytes()[..],
                        &[0xFF],
                    ]
                    .concat(),
                    "application/octet-stream",
                ),
                _ => (
                    format!(r#"{{"nested":true,"i":{i}}}"#).into_bytes(),
                    "application/json",
                ),
            };
            let mut properties = BasicProperties::default()
                .with_content_type(content_type.into())
                .with_headers(headers)
                .with_delivery_mode(2);
            if i % 4 != 2 {
                properties = properties.with_message_id(format!("msg-{i}").into());
            }
            (payload, properties)
        })
        .collect()
}

/// Every dead letter the adapter lists now (all pages of one browse).
#[allow(dead_code)] // not every test crate that includes this file browses
pub async fn browse_all(adapter: &RabbitMq) -> Vec<triage::domain::DeadLetter> {
    use triage::upstream::Upstream;
    let mut page = adapter.dead_letters(None, None).await.expect("browse");
    let mut all = std::mem::take(&mut page.items);
    while let Some(cursor) = page.next_cursor.take() {
        page = adapter
            .dead_letters(None, Some(&cursor))
            .await
            .expect("next page");
        all.append(&mut page.items);
    }
    all
}

/// The triage identity of the dead letter whose AMQP `message_id` is `message_id` (ids are
/// stamped by the first pass; `message_id` is only a field). Panics when it is not listed once.
#[allow(dead_code)]
pub fn id_of(letters: &[triage::domain::DeadLetter], message_id: &str) -> String {
    let found: Vec<&triage::domain::DeadLetter> = letters
        .iter()
        .filter(|d| {
            d.headers
                .iter()
                .any(|(k, v)| k == "amqp.message_id" && v == message_id)
        })
        .collect();
    assert_eq!(found.len(), 1, "message_id {message_id} listed once");
    found[0].id.clone()
}

/// The AMQP `message_id` a dead letter shows, if any.
#[allow(dead_code)]
pub fn message_id_of(letter: &triage::domain::DeadLetter) -> Option<&str> {
    letter
        .headers
        .iter()
        .find(|(k, _)| k == "amqp.message_id")
        .map(|(_, v)| v.as_str())
}
