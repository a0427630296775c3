//! A worker killed while it holds actions (`kill -9` of a CLI waiting on a slow upstream): its
//! leases name a process that is gone, `triage outbox` says so, and the next worker takes the
//! actions over at once instead of after the lease (minutes).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Killed(Child);
impl Drop for Killed {
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

fn run(config: &Path, store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("XDG_STATE_HOME", store.parent().expect("dir").join("state"))
        .output()
        .expect("run triage")
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A plain HTTP/1.1 POST on loopback (no client needed); the whole answer as text.
fn post_json(port: u16, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

#[test]
fn a_killed_workers_actions_are_taken_over_at_once_and_the_outbox_says_who_held_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let store = dir.path().join("triage.db");
    let port = free_port();
    let _demo = Killed(
        Command::new(BIN)
            .args([
                "demo",
                "--serve-only",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--write-config")
            .arg(&config)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
        assert!(Instant::now() < deadline, "demo did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(run(&config, &store, &["sync", "--once"]).status.success());
    let incidents = json_lines(&run(&config, &store, &["incidents", "--json"]));
    let id = incidents
        .iter()
        .find(|i| i["status"] == "open")
        .and_then(|i| i["id"].as_str())
        .expect("an open incident")
        .to_string();
    // The upstream answers the next request after a minute: the ack's worker holds its lease.
    let armed = post_json(port, "/demo/faults", r#"{"delay_ms": 60000, "count": 1}"#);
    assert!(armed.starts_with("HTTP/1.1 2"), "{armed}");
    let waiting = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(&store)
        .args(["ack", &id, "--note", "taking it"])
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ack");
    let pid = waiting.id();
    let mut waiting = Killed(waiting);
    let held = |entries: &[serde_json::Value]| {
        entries
            .iter()
            .find(|e| e["target"] == id.as_str() && !e["lease"].is_null())
            .cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let lease = loop {
        if let Some(entry) = held(&json_lines(&run(&config, &store, &["outbox", "--json"]))) {
            break entry["lease"].clone();
        }
        assert!(Instant::now() < deadline, "the ack never took a lease");
        std::thread::sleep(Duration::from_millis(100));
    };
    let holder = lease["holder"].as_str().expect("holder").to_string();
    assert!(
        holder.contains(&format!(":{pid}:")),
        "{holder} names pid {pid}"
    );
    assert_eq!(lease["alive"], true);
    // kill -9: the lease stays in the store, naming a process that is gone.
    let _ = waiting.0.kill();
    let _ = waiting.0.wait();
    let entries = json_lines(&run(&config, &store, &["outbox", "--json"]));
    let entry = held(&entries).expect("still leased in the store");
    assert_eq!(entry["state"], "pending");
    assert_eq!(entry["lease"]["alive"], false, "{entry}");
    let table = String::from_utf8_lossy(&run(&config, &store, &["outbox"]).stdout).into_owned();
    // Cut at the table's column width (60) on a long host name, the verdict still shows first.
    let shown: String = format!("pending, holder gone: {holder}")
        .chars()
        .take(59)
        .collect();
    assert!(table.contains(&shown), "{table}");
    // The next worker takes it over now, not when the lease (minutes) lapses.
    let started = Instant::now();
    assert!(run(&config, &store, &["sync", "--once"]).status.success());
    let all = json_lines(&run(&config, &store, &["outbox", "--all", "--json"]));
    let done = all
        .iter()
        .find(|e| e["target"] == id.as_str())
        .expect("the ack");
    assert_eq!(done["state"], "sent", "{done}");
    assert!(done["lease"].is_null());
    assert!(started.elapsed() < Duration::from_secs(30));
}
