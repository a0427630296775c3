//! The headless CLI as a script would use it: the real binary against `triage demo --serve-only`
//! on a loopback port, with a temporary config and store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

/// The demo upstream as a child process, killed on drop.
struct DemoProcess {
    child: Child,
    config: PathBuf,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start_demo() -> DemoProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("conf").join("triage.toml");
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "demo",
            "--serve-only",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--write-config",
        ])
        .arg(&config)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let demo = DemoProcess {
        child,
        config,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(demo.config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(Instant::now() < deadline, "demo did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    demo
}

fn triage(demo: &DemoProcess, store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(&demo.config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("XDG_STATE_HOME", store.parent().expect("dir").join("state"))
        .output()
        .expect("run triage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn sync_list_act_and_audit_from_the_command_line() {
    let demo = start_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("triage.db");

    let out = triage(&demo, &store, &["sync", "--once"]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("demo: live"), "{}", stdout(&out));

    let out = triage(&demo, &store, &["connectors"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("hubspot-form-to-salesforce"),
        "{}",
        stdout(&out)
    );

    let incidents = json_lines(&triage(&demo, &store, &["incidents", "--json"]));
    let open = incidents
        .iter()
        .find(|i| i["status"] == "open")
        .expect("an open incident");
    let id = open["id"].as_str().expect("id");

    let out = triage(
        &demo,
        &store,
        &[
            "--operator",
            "carol@bastion",
            "ack",
            id,
            "--note",
            "looking",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("acknowledged by carol@bastion"),
        "{}",
        stdout(&out)
    );

    // Un-ack hands it back: open again, no owner ack.
    let out = triage(&demo, &store, &["--operator", "carol@bastion", "unack", id]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("open again"), "{}", stdout(&out));
    let incidents = json_lines(&triage(&demo, &store, &["incidents", "--json"]));
    let reopened = incidents
        .iter()
        .find(|i| i["id"] == id)
        .expect("still listed");
    assert_eq!(reopened["status"], "open", "{reopened}");
    assert!(reopened["acked_by"].is_null(), "{reopened}");

    // A replay the destination refuses exits non-zero and says why.
    let dls = json_lines(&triage(
        &demo,
        &store,
        &[
            "dead-letters",
            "--connector",
            "hubspot-form-to-salesforce",
            "--json",
            "--limit",
            "1",
        ],
    ));
    assert_eq!(dls.len(), 1);
    let dl = dls[0]["id"].as_str().expect("id");
    // --grep searches the store like the console's `/` (ASCII case ignored).
    let found = json_lines(&triage(
        &demo,
        &store,
        &["dead-letters", "--grep", &dl.to_uppercase(), "--json"],
    ));
    assert!(
        found.len() == 1 && found[0]["id"] == dl,
        "--grep {}: {found:?}",
        dl.to_uppercase()
    );
    let none = json_lines(&triage(
        &demo,
        &store,
        &["incidents", "--grep", "no such text anywhere", "--json"],
    ));
    assert!(none.is_empty(), "{none:?}");
    let out = triage(&demo, &store, &["replay", dl]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("failed"), "{}", stdout(&out));

    // The failed action is listed; the audit chain verifies.
    let outbox = json_lines(&triage(&demo, &store, &["outbox", "--json"]));
    assert!(
        outbox
            .iter()
            .any(|e| e["state"] == "failed" && e["action"] == "replay"),
        "{outbox:?}"
    );
    let out = triage(&demo, &store, &["audit", "--verify"]);
    assert!(out.status.success(), "{}", stdout(&out));
    let audit = json_lines(&triage(&demo, &store, &["audit", "--json"]));
    let events: Vec<&str> = audit.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        events,
        vec![
            "replay.failed",
            "replay.requested",
            "unack.sent",
            "unack.requested",
            "ack.sent",
            "ack.requested"
        ]
    );
    assert_eq!(audit[2]["operator"], "carol@bastion");
    assert_eq!(audit[4]["operator"], "carol@bastion");
}

#[test]
fn read_only_refuses_and_an_unreachable_upstream_leaves_the_action_pending() {
    let demo = start_demo();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("triage.db");
    assert!(triage(&demo, &store, &["sync", "--once"]).status.success());
    let incidents = json_lines(&triage(&demo, &store, &["incidents", "--json"]));
    let id = incidents
        .iter()
        .find(|i| i["status"] == "open")
        .expect("open")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let out = triage(&demo, &store, &["--read-only", "ack", &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));

    // The upstream goes away: the ack is not confirmed, stays pending, exit 75.
    drop(demo);
    let demo_gone = start_demo_config_only(&dir);
    let out = triage(&demo_gone, &store, &["ack", &id, "--timeout", "1"]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    let outbox = json_lines(&triage(&demo_gone, &store, &["outbox", "--json"]));
    assert_eq!(outbox[0]["state"], "pending");
    assert!(outbox[0]["attempts"].as_u64().unwrap_or(0) >= 1);
}

/// A config pointing at a port nobody listens on, wrapped like a demo process (for `triage()`).
fn start_demo_config_only(dir: &tempfile::TempDir) -> DemoProcess {
    let demo = start_demo();
    let text = std::fs::read_to_string(&demo.config).expect("config");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let path = dir.path().join("dead.toml");
    std::fs::write(&path, text.replace(&demo.url, &dead)).expect("write");
    let mut demo = demo;
    demo.config = path;
    demo
}

#[test]
fn a_bad_config_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    std::fs::write(
        &config,
        "[[upstream]]\nid = \"x\"\nkind = \"kafka\"\nurl = \"http://127.0.0.1:1\"\n",
    )
    .expect("write");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("connectors")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("triage.toml:3") && err.contains("kind"),
        "{err}"
    );
}
