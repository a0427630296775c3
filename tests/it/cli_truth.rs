//! Issue #12 (6) and #10: the CLI says what it knows and behaves like the tools operators use —
//! upstream state on `connectors`, every outbox row with `--limit 0`, a bad severity is a usage
//! error, each command's own flags in `--help`, `ref` ids in JSON, a "more" hint, state changes
//! from a foreground `sync`, a line per escalation step from `watch`, a demo config that keeps
//! its token, and quiet exits into a closed pipe. The real binary, a real demo on 127.0.0.1.

use crate::support::receiver;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `triage demo --serve-only` on a free port writing its config to `config`; waits for both.
fn demo(config: &Path, extra: &[&str]) -> (Running, u16) {
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "demo",
            "--serve-only",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .arg("--write-config")
        .arg(config)
        .env("XDG_STATE_HOME", config.with_file_name("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(Instant::now() < deadline, "demo did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (running, port)
}

fn triage(config: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("XDG_STATE_HOME", store.with_file_name("state"))
        .output()
        .expect("run triage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// A copy of the demo's config pointing at a port nobody listens on.
fn dead_config(config: &Path, port: u16) -> PathBuf {
    let written = std::fs::read_to_string(config).expect("config");
    let dead = config.with_file_name("dead.toml");
    let text = written.replace(
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{}", free_port()),
    );
    std::fs::write(&dead, text).expect("write");
    dead
}

#[test]
fn listings_tell_the_upstream_state_refs_and_how_much_more_there_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let store = dir.path().join("triage.db");
    let (_demo, port) = demo(&config, &[]);
    assert!(
        triage(&config, &store, &["sync", "--once"])
            .status
            .success()
    );

    let table = text(&triage(&config, &store, &["connectors"]).stdout);
    assert!(
        table.contains("LINK") && table.contains(" live "),
        "{table}"
    );

    let incidents = json_lines(&triage(&config, &store, &["incidents", "--json"]));
    let first = incidents.first().expect("an incident");
    assert_eq!(
        first["ref"],
        format!("demo:{}", first["id"].as_str().expect("id")),
        "{first}"
    );
    let letters = triage(&config, &store, &["dead-letters", "--json", "--limit", "3"]);
    let rows = json_lines(&letters);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["ref"],
        format!("demo:{}", rows[0]["id"].as_str().expect("id"))
    );
    let hint = text(&letters.stderr);
    assert!(
        hint.contains(" more; --limit 0 for all"),
        "the cut listing says so: {hint:?}"
    );
    let all = triage(&config, &store, &["dead-letters", "--json", "--limit", "0"]);
    assert!(
        !text(&all.stderr).contains("more;"),
        "{}",
        text(&all.stderr)
    );
    let more: usize = hint
        .trim()
        .trim_start_matches("… ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert_eq!(json_lines(&all).len(), 3 + more);

    // The upstream goes away: the same store, a config whose upstream does not answer.
    let dead = dead_config(&config, port);
    assert!(!triage(&dead, &store, &["sync", "--once"]).status.success());
    let out = triage(&dead, &store, &["connectors"]);
    let table = text(&out.stdout);
    assert!(
        table.contains("stale since") || table.contains("down since"),
        "{table}"
    );
    assert!(
        text(&out.stderr).contains("its connectors show the last successful poll"),
        "{}",
        text(&out.stderr)
    );
    let rows = json_lines(&triage(&dead, &store, &["connectors", "--json"]));
    let state = &rows[0]["upstream_state"];
    assert!(
        state["state"] == "stale" || state["state"] == "down",
        "{state}"
    );
    assert!(
        state["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{state}"
    );
    assert_eq!(
        rows[0]["ref"],
        format!("demo:{}", rows[0]["id"].as_str().expect("id"))
    );
}

#[test]
fn outbox_limit_0_pages_through_every_row_and_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let store = dir.path().join("triage.db");
    let (_demo, _) = demo(&config, &[]);
    {
        let mut s = triage::store::Store::open(&store).expect("store");
        for i in 0..1_205 {
            let action = triage::domain::Action {
                kind: triage::domain::ActionKind::Ack,
                upstream: "demo".into(),
                target: format!("inc-{i:04}"),
                operator: "carol@bastion".into(),
                note: None,
                level: None,
                payload: None,
                destination: None,
                drop_ttl: false,
            };
            s.enqueue_action(&action, chrono::Utc::now())
                .expect("enqueue");
        }
    }
    let out = triage(
        &config,
        &store,
        &["outbox", "--all", "--limit", "0", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json_lines(&out).len(), 1_205);
    assert_eq!(json_lines(&out)[0]["target_ref"], "demo:inc-1204");

    let cut = triage(&config, &store, &["outbox", "--limit", "5"]);
    assert_eq!(text(&cut.stderr).trim(), "… 1200 more; --limit 0 for all");

    // `triage outbox | head -1`: the reader goes away after one line.
    for args in [
        &["outbox", "--all", "--limit", "0"][..],
        &["outbox", "--all", "--limit", "0", "--json"][..],
        &["audit", "--limit", "0"][..],
    ] {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = String::new();
        {
            let stdout = child.stdout.take().expect("stdout");
            BufReader::new(stdout).read_line(&mut first).expect("line");
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("wait");
        assert!(!first.is_empty());
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.success() || status.signal() == Some(13) || status.code() == Some(141),
            "{args:?}: {status:?} {stderr}"
        );
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn usage_errors_and_help_name_what_each_command_takes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let store = dir.path().join("triage.db");
    let (_demo, _) = demo(&config, &[]);
    let out = triage(
        &config,
        &store,
        &[
            "routes",
            "test",
            "connector=hubspot-form-to-salesforce",
            "severity=huge",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("severity=huge") && err.contains("critical, major, warning or info"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing routed: {}",
        text(&out.stdout)
    );
    let ok = triage(&config, &store, &["routes", "test", "severity=page"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    for command in ["connectors", "incidents", "dead-letters", "audit"] {
        let help = text(&triage(&config, &store, &[command, "--help"]).stdout);
        assert!(!help.contains("--all "), "{command}: {help}");
        assert!(!help.contains("Outbox"), "{command}: {help}");
    }
    let help = text(&triage(&config, &store, &["outbox", "--help"]).stdout);
    assert!(
        help.contains("--all") && help.contains("Include sent actions"),
        "{help}"
    );
    let help = text(&triage(&config, &store, &["audit", "--help"]).stdout);
    let verify = help
        .lines()
        .find(|l| l.trim_start().starts_with("--verify"))
        .expect("--verify listed");
    assert!(verify.contains("hash chain"), "{help}");
}

#[test]
fn demo_write_config_keeps_the_token_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("conf").join("triage.toml");
    let store = dir.path().join("triage.db");
    let (_demo, _) = demo(&config, &["--token", "s3cret-T"]);
    let written = std::fs::read_to_string(&config).expect("config");
    assert!(written.contains("token_file = \"demo.token\""), "{written}");
    let token = config.with_file_name("demo.token");
    assert_eq!(
        std::fs::read_to_string(&token).expect("token").trim(),
        "s3cret-T"
    );
    let mode = std::fs::metadata(&token)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let out = triage(&config, &store, &["sync", "--once"]);
    assert!(
        out.status.success(),
        "the written config authenticates: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Reads the child's stderr until `wanted` shows up (or `within` passes); returns what it read.
fn stderr_until(child: &mut Child, wanted: &[&str], within: Duration) -> String {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // A wanted pattern is matched within one line; `*` stands for anything in between.
    let line_has = |line: &str, pattern: &str| {
        let mut rest = line;
        pattern.split('*').all(|part| match rest.find(part) {
            Some(at) => {
                rest = &rest[at + part.len()..];
                true
            }
            None => false,
        })
    };
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while Instant::now() < deadline
        && !wanted
            .iter()
            .all(|w| seen.lines().any(|line| line_has(line, w)))
    {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
        }
    }
    seen
}

#[test]
fn a_foreground_sync_tells_when_its_upstream_is_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let store = dir.path().join("triage.db");
    let (_demo, port) = demo(&config, &[]);
    let dead = dead_config(&config, port);
    let mut sync = Running(
        Command::new(BIN)
            .arg("--config")
            .arg(&dead)
            .arg("--store")
            .arg(&store)
            .arg("sync")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sync"),
    );
    let seen = stderr_until(&mut sync.0, &["demo: down ("], Duration::from_secs(20));
    assert!(
        seen.contains("demo: down (") && seen.contains(") — retrying"),
        "{seen}"
    );
    assert!(!seen.contains('\u{1b}'), "no ANSI: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_a_line_per_step_and_notification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_config = dir.path().join("demo.toml");
    let store = dir.path().join("triage.db");
    let (_demo, port) = demo(&demo_config, &[]);
    let (hook, _received) = receiver::receiver().await;
    // Every incident is due at once: a 1 s ack SLA and a chain paging the bridge.
    let config = dir.path().join("triage.toml");
    let text_config = format!(
        "operator = \"watch@bastion\"\nbridge = \"#incident-bridge\"\n\
         [[upstream]]\nid = \"demo\"\nkind = \"connector_api\"\nurl = \"http://127.0.0.1:{port}\"\npoll_interval = \"200ms\"\n\
         [[notifier]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{hook}\"\n\
         [[chain]]\nname = \"now\"\n[[chain.step]]\nafter = \"0s\"\nnotify = [\"bridge\"]\n\
         [[route]]\nname = \"default\"\nack_sla = \"1s\"\nchain = \"now\"\n"
    );
    std::fs::write(&config, text_config).expect("config");
    let mut watch = Running(
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(["watch", "--tick", "200ms", "--lease", "3s"])
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watch"),
    );
    let seen = tokio::task::spawn_blocking(move || {
        let seen = stderr_until(
            &mut watch.0,
            // The notification's own `sent` line (the escalate's may come first).
            &["watch: escalated demo:", "watch: notify chat for * sent"],
            Duration::from_secs(30),
        );
        drop(watch);
        seen
    })
    .await
    .expect("join");
    let step = seen
        .lines()
        .find(|l| l.starts_with("watch: escalated demo:"))
        .unwrap_or_else(|| panic!("{seen}"));
    assert!(step.contains("level 1 of chain now → bridge"), "{seen}");
    assert!(
        seen.lines()
            .any(|l| l.starts_with("watch: notify chat for ") && l.contains(" sent")),
        "{seen}"
    );
    assert!(!seen.contains('\u{1b}'), "no ANSI: {seen:?}");
}
