//! Secrets stay secret (issue 13, point 2): an escalation goes to a Slack notifier whose URL
//! (from `url_env`) carries a secret path, and an upstream's URL carries a password; both point
//! at a closed 127.0.0.1 port, so every attempt fails and is retried, audited and logged.
//! Afterwards neither secret occurs in the store's raw bytes (db and WAL), the log file,
//! `audit --json`, `outbox --json`, `outbox`, or anything printed on stdout/stderr — while the
//! redacted forms show the operator what failed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use triage::demo::{DemoOptions, DemoServer};

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const HOOK_SECRET: &str = "XOXBhooksecret4242";
const PASSWORD: &str = "Passw0rdSecret99";

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn count(haystack: &[u8], needle: &str) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_secrets_and_url_passwords_are_written_nowhere() {
    triage::upstream::http::install_crypto_provider();
    let demo = DemoServer::start(DemoOptions {
        tick: Duration::from_secs(3600),
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    let port = closed_port();
    let hook = format!("http://127.0.0.1:{port}/services/T000/B000/{HOOK_SECRET}");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let text_config = format!(
        "operator = \"oncall@bastion\"\n\
         [[upstream]]\nid = \"demo\"\nkind = \"connector_api\"\nurl = \"{}\"\n\
         [[upstream]]\nid = \"locked\"\nkind = \"connector_api\"\nurl = \"http://ops:{PASSWORD}@127.0.0.1:{port}\"\ntimeout = \"2s\"\n\
         [[person]]\nid = \"dev\"\nname = \"Dev Patel\"\nhandle = \"@dev\"\n\
         [[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl_env = \"TRIAGE_TEST_HOOK\"\ntimeout = \"2s\"\n\
         [[chain]]\nname = \"major\"\n[[chain.step]]\nafter = \"0m\"\nnotify = [\"backup\"]\n\
         [[route]]\nname = \"default\"\nbackup = \"dev\"\nchain = \"major\"\n",
        demo.url()
    );
    std::fs::write(&config, text_config).expect("config");
    let store = dir.path().join("triage.db");
    let state = dir.path().join("state");
    let run = |args: &[&str]| -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env("XDG_STATE_HOME", &state)
            .env("TRIAGE_TEST_HOOK", &hook)
            .env("TRIAGE_LOG", "debug")
            .output()
            .expect("run triage")
    };
    let mut printed = String::new();

    let first = text(&run(&["sync", "--once"]));
    printed += &first;
    let listed = run(&["incidents", "--json"]);
    printed += &text(&listed);
    let open_id = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|i| i["status"] == "open")
        .and_then(|i| i["id"].as_str().map(str::to_string))
        .expect("an open incident");
    let escalated = run(&["escalate", &open_id, "--timeout", "3"]);
    printed += &text(&escalated);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..2 {
        printed += &text(&run(&["sync", "--once"]));
    }
    let audit = run(&["audit", "--json", "--limit", "0"]);
    let outbox_json = run(&["outbox", "--json", "--limit", "0"]);
    let outbox = run(&["outbox", "--limit", "0"]);
    for output in [&audit, &outbox_json, &outbox] {
        printed += &text(output);
    }

    let mut store_bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", store.display());
        if let Ok(bytes) = std::fs::read(&path) {
            store_bytes.extend(bytes);
        }
    }
    assert!(!store_bytes.is_empty(), "store not found");
    let log = std::fs::read(state.join("triage").join("triage.log")).expect("log file");
    assert!(!log.is_empty(), "nothing logged");
    for secret in [HOOK_SECRET, PASSWORD] {
        assert_eq!(count(&store_bytes, secret), 0, "{secret} in the store");
        assert_eq!(
            count(&log, secret),
            0,
            "{secret} in the log: {}",
            String::from_utf8_lossy(&log)
        );
        assert_eq!(
            count(printed.as_bytes(), secret),
            0,
            "{secret} printed:\n{printed}"
        );
    }
    let audit_text = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit_text.contains("notify.retry")
            && audit_text.contains("http://127.0.0.1:")
            && audit_text.contains("/services/T000/…(redacted)"),
        "the notifier was tried and its failure audited, redacted: {audit_text}"
    );
    assert!(
        first.contains("locked: down") && first.contains("ops:***@127.0.0.1"),
        "the down upstream is reported with its password masked: {first}"
    );
    demo.shutdown().await;
}

/// A config error naming a URL with a password shows the URL without it.
#[test]
fn a_config_error_shows_a_url_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        format!(
            "[[upstream]]\nid = \"x\"\nkind = \"connector_api\"\nurl = \"ftp://ops:{PASSWORD}@127.0.0.1:1\"\n"
        ),
    )
    .expect("config");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("connectors")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("upstream[0].url"), "{stderr}");
    assert!(stderr.contains("ops:***@127.0.0.1"), "{stderr}");
    assert_eq!(count(stderr.as_bytes(), PASSWORD), 0, "{stderr}");
    assert!(Path::new(&config).exists());
}
