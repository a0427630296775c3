//! `amqps://` for the RabbitMQ adapter. Without a server: `ca_file` in the config (resolved
//! path, located errors), a missing or non-PEM CA file named when the upstream is built, and a
//! connect to a peer that never answers given up after the timeout. Against the TLS listener of
//! scripts/upstreams.sh (ignored by plain `cargo test`): stats, byte-exact browsing and a
//! selective replay over TLS trusting the generated CA; without the CA, or on the plain port, a
//! TLS error naming the URL within the timeout.

#[allow(dead_code)] // shared helpers, partly used here
use crate::support::rabbitmq as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{START_HINT, Topology, browse_all, mixed_messages};
use triage::config::{Config, ConfigError, RoutingConfig};
use triage::domain::{Action, ActionKind, DeadLetterState};
use triage::sync::Upstreams;
use triage::upstream::rabbitmq::RabbitMq;
use triage::upstream::rabbitmq::amqp::Broker;
use triage::upstream::{Upstream, UpstreamError};

/// A RabbitMQ upstream with one connector bound to `queue`; `extra` goes into the upstream table.
fn config_text(management: &str, amqp_url: &str, queue: &str, extra: &str) -> String {
    format!(
        r#"operator = "ops@test"

[[upstream]]
id = "rmq"
kind = "rabbitmq"
url = "{management}"
amqp_url = "{amqp_url}"
username = "guest"
{extra}

[[person]]
id = "maria"
name = "Maria Lopez"

[[person]]
id = "dev"
name = "Dev Patel"

[[connector]]
id = "orders"
upstream = "rmq"
source = "Shop"
destination = "ERP"
direction = "outbound"
purpose = "Orders into the ERP"
owner = "maria"
backup = "dev"
queue = "{queue}"
"#
    )
}

/// Writes `text` as `<dir>/triage.toml` and loads it.
fn load(dir: &Path, text: &str) -> (PathBuf, Result<Config, ConfigError>) {
    let path = dir.join("triage.toml");
    std::fs::write(&path, text).expect("write config");
    let result = Config::load(&path);
    (path, result)
}

/// The adapter of the config's only upstream, as the sync engine builds it.
fn adapter_from(config: &Config) -> Result<RabbitMq, UpstreamError> {
    RabbitMq::from_config(
        &config.upstreams[0],
        Some("guest".into()),
        &config.connectors,
    )
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

#[test]
fn ca_file_is_resolved_against_the_config_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text(
        "https://mq.example:15671",
        "amqps://mq.example:5671",
        "orders.work",
        r#"ca_file = "certs/ca.pem""#,
    );
    let (_, config) = load(dir.path(), &text);
    let config = config.expect("config with ca_file loads");
    let expected = std::path::absolute(dir.path().join("certs/ca.pem")).expect("absolute");
    assert_eq!(config.upstreams[0].ca_file, Some(expected));
    let without = config_text("http://h:15672", "amqps://h:5671", "q", "");
    let (_, config) = load(dir.path(), &without);
    assert_eq!(config.expect("loads").upstreams[0].ca_file, None);
}

#[test]
fn a_misplaced_or_mistyped_ca_file_is_a_located_error() {
    let cases = [
        // (amqp_url, extra upstream keys, the line to point at, message phrase)
        (
            "amqps://h:5671",
            "ca_file = 5",
            "ca_file",
            "expected a string",
        ),
        (
            "amqp://h:5672",
            r#"ca_file = "ca.pem""#,
            "ca_file",
            "url must be an https:// URL or amqp_url an amqps:// URL",
        ),
        (
            "amqps://h:5671",
            r#"ca_file = """#,
            "ca_file",
            "must not be empty",
        ),
    ];
    for (amqp_url, extra, needle, phrase) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = config_text("http://h:15672", amqp_url, "q", extra);
        let (path, result) = load(dir.path(), &text);
        let err = result.expect_err(extra);
        assert_eq!(err.file, path, "{err}");
        assert_eq!(err.line, line_of(&text, needle), "{err}");
        assert!(err.column >= 1, "{err}");
        assert_eq!(err.field, "upstream[0].ca_file", "{err}");
        assert!(err.message.contains(phrase), "{extra}: {err}");
    }
    // Without amqp_url at all, and on a kind that has no AMQP side.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text(
        "http://h:15672",
        "amqps://h:5671",
        "q",
        r#"ca_file = "ca.pem""#,
    )
    .replace("amqp_url = \"amqps://h:5671\"\n", "");
    let err = load(dir.path(), &text).1.expect_err("no amqp_url");
    assert_eq!(
        (err.field.as_str(), err.line),
        ("upstream[0].ca_file", line_of(&text, "ca_file")),
        "{err}"
    );
    assert!(
        err.message.contains("only applies to TLS connections"),
        "{err}"
    );
    let text = r#"[[upstream]]
id = "alerts"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
ca_file = "ca.pem"
"#;
    let err = load(dir.path(), text)
        .1
        .expect_err("alertmanager over http + ca_file");
    assert_eq!(
        (err.field.as_str(), err.line),
        ("upstream[0].ca_file", 5),
        "{err}"
    );
    assert!(err.message.contains("url must be an https:// URL"), "{err}");
    // Every kind may trust a private CA for an https:// URL; a RabbitMQ with an https management
    // URL may, even over plain AMQP.
    let text = text.replace("http://127.0.0.1:9093", "https://alerts.internal:9093");
    let config = load(dir.path(), &text)
        .1
        .expect("alertmanager over https + ca_file");
    assert_eq!(
        config.upstreams[0].ca_file.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    let text = config_text(
        "https://h:15671",
        "amqp://h:5672",
        "q",
        r#"ca_file = "ca.pem""#,
    );
    load(dir.path(), &text)
        .1
        .expect("rabbitmq with an https management url + ca_file");
}

#[test]
fn a_missing_or_non_pem_ca_file_is_named_when_the_upstream_is_built() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("not-a-cert.txt");
    std::fs::write(&not_pem, "this is a password, not a certificate\n").expect("write");
    let bad_der = dir.path().join("broken.pem");
    std::fs::write(
        &bad_der,
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let bad_base64 = dir.path().join("garbled.pem");
    std::fs::write(
        &bad_base64,
        "-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let cases = [
        ("missing.pem", "cannot read ca_file"),
        ("not-a-cert.txt", "holds no PEM certificate"),
        (
            "broken.pem",
            "certificate 1 is not a usable X.509 certificate (BadEncoding)",
        ),
        ("garbled.pem", "certificate 1 is not valid PEM"),
    ];
    for (file, phrase) in cases {
        let text = config_text(
            "http://127.0.0.1:15672",
            "amqps://127.0.0.1:5671",
            "q",
            &format!("ca_file = {file:?}"),
        );
        let (_, config) = load(dir.path(), &text);
        let config = config.expect("the config itself is fine; the file is read at build");
        let named = std::path::absolute(dir.path().join(file)).expect("absolute");
        let err = adapter_from(&config).err().expect(file);
        let UpstreamError::Config { upstream, message } = &err else {
            panic!("{file}: expected a config error, got {err:?}");
        };
        assert_eq!(upstream, "rmq");
        assert!(
            message.contains(&named.display().to_string()),
            "{file}: {message}"
        );
        assert!(message.contains(phrase), "{file}: {message}");
        // The sync engine leaves the upstream out with this reason instead of failing.
        let (upstreams, errors) = Upstreams::from_config(&config, &RoutingConfig::default());
        assert!(upstreams.get("rmq").is_none());
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(reasons, vec![err.to_string()]);
    }
    // The HTTPS-only kinds load their ca_file when built, too; a good one builds.
    for (kind, file, ok) in [
        ("alertmanager", "not-a-cert.txt", false),
        ("connector_api", "missing.pem", false),
        ("connector_api", ca_pem_for_tests(dir.path()).as_str(), true),
    ] {
        let text = format!(
            "[[upstream]]\nid = \"up\"\nkind = \"{kind}\"\nurl = \"https://127.0.0.1:9443\"\n\
             ca_file = {file:?}\n"
        );
        let config = load(dir.path(), &text).1.expect("config loads");
        let (upstreams, errors) = Upstreams::from_config(&config, &RoutingConfig::default());
        if ok {
            assert!(errors.is_empty(), "{kind}: {errors:?}");
            assert!(upstreams.get("up").is_some());
        } else {
            assert!(upstreams.get("up").is_none(), "{kind} with {file}");
            let reason = errors.first().map(ToString::to_string).unwrap_or_default();
            assert!(
                reason.contains("ca_file") && reason.contains(file),
                "{kind}: {reason}"
            );
        }
    }
}

/// A self-signed CA certificate (its key was thrown away), for building clients that trust it.
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBkTCCATegAwIBAgIUK49KFsb11RDsxtVPcqQaS9dXbNQwCgYIKoZIzj0EAwIw\nHjEcMBoGA1UEAwwTdHJpYWdlIHVuaXQtdGVzdCBDQTAeFw0yNjExMjkxNTQ4Mzda\nFw0zNjExMjYxNTQ4MzdaMB4xHDAaBgNVBAMME3RyaWFnZSB1bml0LXRlc3QgQ0Ew\nWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR/OKtnVghGsVvhdu4H+9kl07F7i5D7\nT9a54ojIZvdQ26hYsUnVwCf0TX+yqmPIoT4TXfA9M8oAuF+T3agavqsco1MwUTAd\nBgNVHQ4EFgQUZjjwbsx2FxtWL+23ISo1FQ/af5EwHwYDVR0jBBgwFoAUZjjwbsx2\nFxtWL+23ISo1FQ/af5EwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF\nAiEAvIN3qNYRGvHqOXC6YuR2n9YkmjI2WTk3bvQd5n+wHyMCIHaOzX+QBNlcT645\nsVSv3yUr4C9Pt/rITTpiZMR+yF0R\n-----END CERTIFICATE-----\n";

/// [`TEST_CA_PEM`] written to a file in `dir`.
fn ca_pem_for_tests(dir: &Path) -> String {
    let path = dir.join("unit-ca.pem");
    std::fs::write(&path, TEST_CA_PEM).expect("write the test CA");
    path.display().to_string()
}

/// A TCP peer that accepts and then says nothing: the connect gives up after the timeout, and
/// lets go of the socket (lapin's I/O thread would otherwise wait on it forever).
#[tokio::test]
async fn a_peer_that_never_answers_cannot_hang_the_connect() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (accepts, closes) = (Arc::clone(&accepted), Arc::clone(&closed));
    let peer = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            accepts.fetch_add(1, Ordering::SeqCst);
            let closes = Arc::clone(&closes);
            tokio::spawn(async move {
                // Read (and ignore) whatever comes, never answer; count the client's close.
                let mut buffer = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buffer).await
                    && n > 0
                {}
                closes.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    for (attempt, scheme) in ["amqps", "amqp"].into_iter().enumerate() {
        let url = format!("{scheme}://guest:s3cret@127.0.0.1:{port}/%2f");
        let broker = Broker::new("silent", &url).with_connect_timeout(Duration::from_secs(1));
        let started = Instant::now();
        let err = broker
            .message_count("q")
            .await
            .expect_err("no broker there");
        let elapsed = started.elapsed();
        assert!(
            // Bounded, not fast: the upper bound only says it did not hang (loaded CI machines).
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(20),
            "{scheme}: gave up after {elapsed:?}"
        );
        let text = err.to_string();
        assert!(
            matches!(err, UpstreamError::Unreachable { .. }),
            "{scheme}: {err:?}"
        );
        assert!(text.contains("did not finish within"), "{text}");
        assert!(text.contains("1s"), "{text}");
        assert!(
            text.contains(&format!("{scheme}://guest:***@127.0.0.1:{port}")),
            "names the URL without the password: {text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(
            text.contains("TLS handshake"),
            scheme == "amqps",
            "says what could not finish: {text}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while closed.load(Ordering::SeqCst) <= attempt && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            (
                accepted.load(Ordering::SeqCst),
                closed.load(Ordering::SeqCst)
            ),
            (attempt + 1, attempt + 1),
            "{scheme}: one connection, closed by the client after the timeout"
        );
    }
    peer.abort();
}

/// (amqps URL, CA file) of the test server's TLS listener; fails with how to start it.
fn tls_server() -> (String, String) {
    let amqps = std::env::var("TRIAGE_TEST_RABBITMQ_AMQPS");
    let ca = std::env::var("TRIAGE_TEST_RABBITMQ_CA");
    match (amqps, ca) {
        (Ok(amqps), Ok(ca)) => (amqps, ca),
        _ => panic!(
            "TRIAGE_TEST_RABBITMQ_AMQPS/CA are not set (RabbitMQ's TLS listener): {START_HINT}"
        ),
    }
}

/// The adapter for `t`'s work queue over `amqp_url`, built from a config like an operator's.
fn tls_adapter(t: &Topology, amqp_url: &str, extra: &str) -> RabbitMq {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config_text(&t.http, amqp_url, &t.work, extra);
    let (_, config) = load(dir.path(), &text);
    adapter_from(&config.expect("config loads")).expect("adapter builds")
}

/// The broker's own view: connections over TLS to `port`, from the management API.
async fn tls_connections_to(http: &str, port: u16) -> usize {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connections: Vec<serde_json::Value> = reqwest::Client::new()
        .get(format!("{http}/api/connections"))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .expect("management API")
        .json()
        .await
        .expect("connections JSON");
    connections
        .iter()
        .filter(|c| c["ssl"] == true && c["port"] == port)
        .count()
}

fn port_of(url: &str) -> u16 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .expect("URL with a port")
}

#[tokio::test]
#[ignore = "needs RabbitMQ with TLS: run scripts/test-all.sh"]
async fn over_amqps_with_the_private_ca_stats_browse_and_replay_work() {
    let (amqps, ca) = tls_server();
    let t = Topology::new("tls").await;
    // JSON, text, binary with 0x00/0xFF (no message_id), 1 MiB, nested headers.
    let messages = mixed_messages(5);
    t.dead_letter(&messages).await;
    let adapter = tls_adapter(&t, &amqps, &format!("ca_file = {ca:?}\ntimeout = \"10s\""));

    let deadline = Instant::now() + Duration::from_secs(15);
    let dead = loop {
        let reports = adapter.connectors().await.expect("stats");
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].id, "orders");
        if reports[0].stats.dead == 5 || Instant::now() > deadline {
            break reports[0].stats.dead;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(dead, 5, "stats count the DLQ");

    let letters = browse_all(&adapter).await;
    assert_eq!(letters.len(), 5);
    for (letter, (payload, properties)) in letters.iter().zip(&messages) {
        assert_eq!(&letter.payload, payload, "payload of {}", letter.id);
        assert_eq!(
            letter.content_type.as_deref(),
            properties.content_type().as_ref().map(|c| c.as_str())
        );
    }
    assert_eq!(letters[2].payload[..2], [0x00, 0xFF], "the binary one");
    // The first pass stamped the identities over TLS too (a move to the tail in a transaction).
    let ids: Vec<&str> = letters.iter().map(|d| d.id.as_str()).collect();
    assert!(
        ids.iter().all(|id| id.len() == 26 && !id.starts_with('~')),
        "stamped identities: {ids:?}"
    );
    let port = port_of(&amqps);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tls_connections_to(&t.http, port).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the broker lists no TLS connection on {port}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let replay = Action {
        kind: ActionKind::Replay,
        upstream: "rmq".into(),
        target: letters[2].id.clone(),
        operator: "maria@oncall".into(),
        note: None,
        level: None,
        payload: None,
        destination: None,
        drop_ttl: false,
    };
    let result = adapter
        .perform(&replay, "tls-replay-1")
        .await
        .expect("replay over amqps");
    assert!(result.outcome.ok, "{:?}", result.outcome);
    assert!(
        result.outcome.summary.contains("committed by the broker"),
        "{}",
        result.outcome.summary
    );
    assert_eq!(
        result.dead_letter.map(|d| d.state),
        Some(DeadLetterState::Replayed)
    );
    t.wait_for_depth(&t.work, 1).await;
    let delivered = t.broker().peek(&t.work, 10).await.expect("work queue");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, messages[2].0, "replayed byte-exact");
    let rest = t.broker().peek(&t.dlq, 10).await.expect("dlq");
    let expected: Vec<&Vec<u8>> = [0, 1, 3, 4].iter().map(|&i| &messages[i].0).collect();
    assert!(
        rest.iter().map(|(p, _)| p).collect::<Vec<_>>() == expected,
        "the other four stay in the DLQ in order"
    );
    t.cleanup().await;
}

/// Asserts `err` is an unreachable error that says TLS failed (with `phrase`) for `url`.
fn assert_tls_failure(err: &UpstreamError, url: &str, phrase: &str) {
    let text = err.to_string();
    assert!(matches!(err, UpstreamError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("TLS handshake failed"), "{text}");
    assert!(text.contains(phrase), "{text}");
    let redacted = url.replace("guest:guest@", "guest:***@");
    assert!(text.contains(&redacted), "names {redacted}: {text}");
    assert!(!text.contains("guest:guest"), "no password: {text}");
}

#[tokio::test]
#[ignore = "needs RabbitMQ with TLS: run scripts/test-all.sh"]
async fn without_the_ca_the_tls_handshake_fails_naming_the_url_within_the_timeout() {
    let (amqps, _) = tls_server();
    let t = Topology::new("tls-noca").await;
    let adapter = tls_adapter(&t, &amqps, "timeout = \"5s\"");
    let started = Instant::now();
    let err = adapter
        .dead_letters(None, None)
        .await
        .expect_err("the generated CA is not a system root");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_tls_failure(&err, &amqps, "certificate");
    assert!(err.to_string().contains("system roots only"), "{err}");
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ with TLS: run scripts/test-all.sh"]
async fn amqps_to_the_plain_amqp_port_fails_as_tls_within_the_timeout() {
    let (_, ca) = tls_server();
    let t = Topology::new("tls-plain").await;
    let plain_port = port_of(&t.amqp);
    let url = format!("amqps://guest:guest@127.0.0.1:{plain_port}/%2f");
    let adapter = tls_adapter(&t, &url, &format!("ca_file = {ca:?}\ntimeout = \"5s\""));
    let started = Instant::now();
    let err = adapter
        .dead_letters(None, None)
        .await
        .expect_err("the plain port speaks no TLS");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_tls_failure(&err, &url, &ca);
    t.cleanup().await;
}

#[tokio::test]
#[ignore = "needs RabbitMQ with TLS: run scripts/test-all.sh"]
async fn an_https_management_url_is_trusted_through_ca_file_and_refused_without_it() {
    let (_, ca) = tls_server();
    let https = std::env::var("TRIAGE_TEST_RABBITMQ_HTTPS").unwrap_or_else(|_| {
        panic!("TRIAGE_TEST_RABBITMQ_HTTPS is not set (RabbitMQ's https management): {START_HINT}")
    });
    let t = Topology::new("https-mgmt").await;
    t.dead_letter(&mixed_messages(3)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter_with = |extra: &str| {
        let text = config_text(&https, &t.amqp, &t.work, extra);
        adapter_from(&load(dir.path(), &text).1.expect("config loads")).expect("adapter builds")
    };

    // With the private CA: the stats come over https (plain AMQP for browsing).
    let trusted = adapter_with(&format!("ca_file = {ca:?}\ntimeout = \"10s\""));
    let deadline = Instant::now() + Duration::from_secs(15);
    let dead = loop {
        let reports = trusted.connectors().await.expect("stats over https");
        if reports[0].stats.dead == 3 || Instant::now() > deadline {
            break reports[0].stats.dead;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(dead, 3, "stats count the DLQ");
    assert_eq!(browse_all(&trusted).await.len(), 3);

    // Without it: a clear, bounded refusal that names the URL and what was trusted.
    let untrusted = adapter_with("timeout = \"5s\"");
    let started = Instant::now();
    let err = untrusted
        .connectors()
        .await
        .expect_err("the private CA is not trusted");
    let text = err.to_string();
    assert!(matches!(err, UpstreamError::Unreachable { .. }), "{err:?}");
    assert!(text.contains("TLS certificate not trusted"), "{text}");
    assert!(text.contains("set ca_file for a private CA"), "{text}");
    assert!(
        text.contains(https.trim_end_matches('/')),
        "names the URL: {text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "bounded by the timeout (with retries): {:?}",
        started.elapsed()
    );
    t.cleanup().await;
}
