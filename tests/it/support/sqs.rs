//! Real-SQS test support: the SQS-compatible server (moto) from `scripts/upstreams.sh`, uniquely
//! named source queues with a redrive policy to a DLQ, a consumer that always fails (so the
//! server's own redrive moves messages to the DLQ), the adapter under test, and a loopback TCP
//! relay the tests cut to make the server "go away" without losing its state.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use triage::config::AwsCredentials;
use triage::domain::DeadLetter;
use triage::upstream::Upstream;
use triage::upstream::sqs::client::{ClientSettings, build};
use triage::upstream::sqs::receipts::receipts_queue;
use triage::upstream::sqs::{QueueBinding, Sqs, SqsSettings};

pub const START_HINT: &str = "start the upstreams: scripts/upstreams.sh start, then source its env";

/// The test server's endpoint and region; fails with how to start it when unset.
pub fn server() -> (String, String) {
    match (
        std::env::var("TRIAGE_TEST_SQS_ENDPOINT"),
        std::env::var("TRIAGE_TEST_SQS_REGION"),
    ) {
        (Ok(endpoint), Ok(region)) => (endpoint, region),
        _ => {
            let full = std::env::var("TRIAGE_FULL_SUITE").is_ok_and(|v| v == "1");
            panic!(
                "TRIAGE_TEST_SQS_ENDPOINT/REGION are not set (full suite: {full}): {START_HINT}"
            );
        }
    }
}

/// The credentials of the test server, by the names of the variables holding them.
pub fn credentials() -> AwsCredentials {
    AwsCredentials::Env {
        access_key_id: "TRIAGE_TEST_SQS_ACCESS_KEY_ID".into(),
        secret_access_key: "TRIAGE_TEST_SQS_SECRET_ACCESS_KEY".into(),
        session_token: None,
    }
}

/// An SDK client of the test server (the tests' producers and consumers), as patient as the
/// adapters of the tests: moto sends to a queue in time that grows with its depth, and with
/// several tests filling 1,000-message queues at once a `SendMessageBatch` took over 10 s.
pub async fn client(endpoint: &str) -> Client {
    let (_, region) = server();
    build(&ClientSettings {
        id: "test".into(),
        endpoint: endpoint.to_string(),
        region,
        credentials: credentials(),
        timeout: PATIENT,
        ca: None,
    })
    .await
    .expect("test SQS client")
}

/// A unique prefix for one test's queues.
pub fn prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "t{}-{}-{name}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// Creates queue `name` with `attributes`; returns its URL.
pub async fn create_queue(client: &Client, name: &str, attributes: &[(&str, String)]) -> String {
    let mut request = client.create_queue().queue_name(name);
    for (key, value) in attributes {
        request = request.attributes(QueueAttributeName::from(*key), value.clone());
    }
    request
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string()
}

pub async fn arn(client: &Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn")
}

/// A DLQ and one source queue redriving to it after `max_receive` receives (visibility 0, so a
/// failed receive is retried at once).
pub struct Redrive {
    pub client: Client,
    pub endpoint: String,
    pub dlq: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub sources: Vec<(String, String)>,
}

impl Redrive {
    /// `fifo`: FIFO queues (names end in `.fifo`).
    pub async fn new(name: &str, sources: usize, max_receive: u32, fifo: bool) -> Redrive {
        let (endpoint, _) = server();
        Redrive::on(&endpoint, name, sources, max_receive, fifo).await
    }

    pub async fn on(
        endpoint: &str,
        name: &str,
        sources: usize,
        max_receive: u32,
        fifo: bool,
    ) -> Redrive {
        let client = client(endpoint).await;
        let prefix = prefix(name);
        let suffix = if fifo { ".fifo" } else { "" };
        let fifo_attributes: Vec<(&str, String)> = if fifo {
            vec![("FifoQueue", "true".to_string())]
        } else {
            Vec::new()
        };
        let dlq = format!("{prefix}-dlq{suffix}");
        let dlq_url = create_queue(&client, &dlq, &fifo_attributes).await;
        let dlq_arn = arn(&client, &dlq_url).await;
        let policy = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": max_receive,
        })
        .to_string();
        let mut queues = Vec::new();
        for n in 0..sources {
            let source = format!("{prefix}-src{n}{suffix}");
            let mut attributes = fifo_attributes.clone();
            attributes.push(("RedrivePolicy", policy.clone()));
            attributes.push(("VisibilityTimeout", "0".to_string()));
            let url = create_queue(&client, &source, &attributes).await;
            queues.push((source, url));
        }
        Redrive {
            client,
            endpoint: endpoint.to_string(),
            dlq,
            dlq_url,
            dlq_arn,
            sources: queues,
        }
    }

    /// The URL of the DLQ's receipts queue, once the adapter made it.
    pub async fn receipts_url(&self) -> Option<String> {
        self.client
            .get_queue_url()
            .queue_name(receipts_queue(&self.dlq))
            .send()
            .await
            .ok()
            .and_then(|out| out.queue_url().map(str::to_string))
    }

    /// Binding of source `n` to connector `connector`.
    pub fn binding(&self, n: usize, connector: &str) -> QueueBinding {
        QueueBinding {
            connector: connector.to_string(),
            name: connector.to_string(),
            queue: self.sources[n].0.clone(),
            dead_letter_queue: None,
        }
    }

    /// The adapter under test, bound with `bindings`.
    pub fn adapter(&self, bindings: Vec<QueueBinding>, origin_attribute: Option<&str>) -> Sqs {
        adapter_at(&self.endpoint, bindings, origin_attribute, PATIENT)
    }

    /// A consumer that always fails: receives source `n` until the server has moved every
    /// message to the DLQ (nothing visible, nothing in flight in the source).
    pub async fn fail_all(&self, n: usize) {
        let url = &self.sources[n].1;
        for _ in 0..10_000 {
            let got = self
                .client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive from source");
            if got.messages().is_empty() && depth(&self.client, url).await == (0, 0, 0) {
                return;
            }
        }
        panic!("the source queue never drained into the DLQ");
    }

    /// Deletes the queues, the DLQ's receipts queue (made by the adapter) too.
    pub async fn delete(self) {
        for (_, url) in &self.sources {
            let _ = self.client.delete_queue().queue_url(url).send().await;
        }
        if let Some(url) = self.receipts_url().await {
            let _ = self.client.delete_queue().queue_url(url).send().await;
        }
        let _ = self
            .client
            .delete_queue()
            .queue_url(&self.dlq_url)
            .send()
            .await;
    }
}

/// How long the adapter of a test waits for one answer of the server: moto answers from one
/// Python process, and with the whole suite on two cores a plain GetQueueUrl has taken over 5 s.
/// Tests that need a stalled call to fail fast pass their own (`adapter_at`).
pub const PATIENT: Duration = Duration::from_secs(30);

pub fn adapter_at(
    endpoint: &str,
    bindings: Vec<QueueBinding>,
    origin_attribute: Option<&str>,
    timeout: Duration,
) -> Sqs {
    let (_, region) = server();
    Sqs::new(
        SqsSettings {
            id: "sqs".into(),
            endpoint: endpoint.to_string(),
            region,
            credentials: credentials(),
            timeout,
            origin_attribute: origin_attribute.map(str::to_string),
        },
        bindings,
    )
}

/// (visible, in flight, delayed) of the queue at `url`.
pub async fn depth(client: &Client, url: &str) -> (u64, u64, u64) {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let empty = HashMap::new();
    let a = out.attributes().unwrap_or(&empty);
    let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (
        n(QueueAttributeName::ApproximateNumberOfMessages),
        n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    )
}

pub fn string(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("attribute")
}

pub fn typed(data_type: &str, value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .expect("attribute")
}

pub fn binary(bytes: &[u8]) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("Binary")
        .binary_value(aws_sdk_sqs::primitives::Blob::new(bytes.to_vec()))
        .build()
        .expect("attribute")
}

/// Sends `body` with `attributes` to the queue at `url` (FIFO: `group`, dedup id = a counter).
pub async fn send(
    client: &Client,
    url: &str,
    body: &str,
    attributes: &[(&str, MessageAttributeValue)],
    group: Option<&str>,
) -> String {
    let mut request = client.send_message().queue_url(url).message_body(body);
    for (name, value) in attributes {
        request = request.message_attributes(*name, value.clone());
    }
    if let Some(group) = group {
        request = request
            .message_group_id(group)
            .message_deduplication_id(uuid::Uuid::now_v7().to_string());
    }
    request
        .send()
        .await
        .expect("send")
        .message_id()
        .expect("message id")
        .to_string()
}

/// Another consumer receives one message of `url` and holds it (invisible for 5 minutes); the
/// count it got.
pub async fn hold_one(client: &Client, url: &str) -> usize {
    client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(1)
        .visibility_timeout(300)
        .send()
        .await
        .expect("receive")
        .messages()
        .len()
}

/// Every message of the queue at `url`, received with a long visibility so each is read once,
/// then made visible again (the test's own look, not the adapter's). Each look is a receive: on a
/// source queue with a redrive policy it counts toward `maxReceiveCount`, and the server moves a
/// message to the DLQ on the receive past it — so check a DLQ before looking at its sources. The
/// visibility outlasts the slowest look (moto reads ≈ 10 messages/s from a 1,000-message queue):
/// a shorter one let messages come back mid-look and be received again.
pub async fn drain_look(client: &Client, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all: Vec<aws_sdk_sqs::types::Message> = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(900)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        if got.messages().is_empty() {
            empty += 1;
            continue;
        }
        all.extend(got.messages().iter().cloned());
    }
    for m in &all {
        if let Some(handle) = m.receipt_handle() {
            let _ = client
                .change_message_visibility()
                .queue_url(url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await;
        }
    }
    all
}

/// Every dead letter the adapter lists (all pages).
pub async fn browse_all(adapter: &Sqs) -> Vec<DeadLetter> {
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

pub fn header<'a>(letter: &'a DeadLetter, name: &str) -> Option<&'a str> {
    letter
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A loopback TCP relay to the test server that the test can cut (every open connection is
/// closed and new ones are refused) and restore: the server "goes away" without losing state.
pub struct Relay {
    pub endpoint: String,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: &str) -> Relay {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Relay {
            endpoint: format!("http://127.0.0.1:{port}"),
            up,
            cut,
            task,
        }
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real `triage` binary with a config naming one SQS upstream (`aws`, this server) and one
/// connector bound to `queue`, in its own temp dir (store, state). `upstream_extra` adds lines to
/// the upstream's table (e.g. `browse_pass = "5m"`).
pub struct SqsCli {
    pub config: std::path::PathBuf,
    pub store: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl SqsCli {
    pub fn new(endpoint: &str, queue: &str, connector: &str, upstream_extra: &str) -> SqsCli {
        let (_, region) = server();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let text = format!(
            "operator = \"ana@bastion\"\n[[upstream]]\nid = \"aws\"\nkind = \"sqs\"\n\
             url = \"{endpoint}\"\nregion = \"{region}\"\n\
             access_key_id_env = \"TRIAGE_TEST_SQS_ACCESS_KEY_ID\"\n\
             secret_access_key_env = \"TRIAGE_TEST_SQS_SECRET_ACCESS_KEY\"\ntimeout = \"30s\"\n\
             {upstream_extra}\
             [[connector]]\nid = \"{connector}\"\nupstream = \"aws\"\nqueue = \"{queue}\"\n\
             source = \"s\"\ndestination = \"d\"\ndirection = \"inbound\"\npurpose = \"p\"\n\
             owner = \"maria\"\n[[person]]\nid = \"maria\"\nname = \"Maria\"\n"
        );
        std::fs::write(&config, text).expect("config");
        let store = dir.path().join("triage.db");
        SqsCli { config, store, dir }
    }

    /// `triage ARGS` with this config and store.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_triage"));
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("state"));
        command
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run triage")
    }

    /// Runs and asserts success; stdout as text.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triage {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The JSON lines of a successful run's stdout.
    pub fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}
