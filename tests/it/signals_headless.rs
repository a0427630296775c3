//! The headless commands stop cleanly on TERM, INT and HUP (issue 13, point 1): `demo
//! --serve-only`, `sync` and `watch` each say they stop, exit 0, and `watch` gives its lease
//! back — where a HUP (the SSH session closing) used to kill them outright. `watch` in a tmux
//! pane that closes (its stderr gone with it) still stops cleanly and releases its lease.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::tmux;
use tmux::{Tmux, alive, children_named};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(args: &[&str], state: &std::path::Path) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .env("XDG_STATE_HOME", state)
            .env("TRIAGE_CONFIG", "")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn triage");
        let (tx, lines) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Running { child, lines }
    }

    /// Waits for a line containing `text`; fails with what was printed after `secs`.
    fn wait_for_line(&self, text: &str, secs: u64) -> String {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("no line with {text:?} within {secs} s; printed: {seen:#?}");
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// The exit status within `secs`, or a failure.
    fn exit_within(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {secs} s after the signal"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[test]
fn demo_sync_and_watch_stop_cleanly_on_hup_term_and_int() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("demo").join("triage.toml");
    let config_arg = config.display().to_string();
    let store = dir.path().join("triage.db").display().to_string();
    let addr = free_addr();
    let mut demo = Running::start(
        &[
            "demo",
            "--serve-only",
            "--listen",
            &addr,
            "--write-config",
            &config_arg,
        ],
        &state,
    );
    demo.wait_for_line("demo upstream listening on", 30);

    let mut watch = Running::start(
        &[
            "--config",
            &config_arg,
            "--store",
            &store,
            "watch",
            "--tick",
            "200ms",
        ],
        &state,
    );
    watch.wait_for_line("watch: active", 30);
    watch.signal("HUP");
    watch.wait_for_line("watch: stopped", 10);
    let status = watch.exit_within(10);
    assert!(status.success(), "watch after SIGHUP: {status:?}");

    let mut sync = Running::start(
        &["--config", &config_arg, "--store", &store, "sync"],
        &state,
    );
    sync.wait_for_line("syncing", 30);
    sync.signal("TERM");
    sync.wait_for_line("SIGTERM received", 10);
    let status = sync.exit_within(10);
    assert!(status.success(), "sync after SIGTERM: {status:?}");

    // The lease was given back: a new watcher becomes active at once, not after the lease.
    let mut second = Running::start(
        &[
            "--config",
            &config_arg,
            "--store",
            &store,
            "watch",
            "--tick",
            "200ms",
            "--lease",
            "1h",
        ],
        &state,
    );
    second.wait_for_line("watch: active", 10);
    second.signal("INT");
    assert!(second.exit_within(10).success());

    demo.signal("HUP");
    let status = demo.exit_within(10);
    assert!(
        status.success(),
        "demo --serve-only after SIGHUP: {status:?}"
    );
}

#[test]
fn watch_in_a_closed_pane_stops_cleanly_and_gives_its_lease_back() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let state = home.path().join("state");
    let config = home.path().join("demo").join("triage.toml");
    let config_arg = config.display().to_string();
    let demo = Running::start(
        &[
            "demo",
            "--serve-only",
            "--listen",
            &free_addr(),
            "--write-config",
            &config_arg,
        ],
        &state,
    );
    demo.wait_for_line("demo upstream listening on", 30);
    let store = home.path().join("triage.db");
    let watch = |lease: &str| {
        format!(
            "{BIN} --config {} --store {} watch --tick 200ms --lease {lease}",
            config.display(),
            store.display()
        )
    };
    let tmux = Tmux::new("watch-hup");
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-e",
        &format!("XDG_STATE_HOME={}", state.display()),
        "sh",
        "-c",
        &format!("{}; sleep 120", watch("1h")),
    ]);
    tmux.wait_for("the watcher", 30, |s| s.contains("watch: active"));
    let shell: u32 = tmux.pane("#{pane_pid}").parse().expect("pane pid");
    let pid = children_named(shell, "triage")[0];
    tmux.run(&["kill-pane", "-t", "e2e"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !alive(pid),
        "watch still runs 10 s after its terminal went away"
    );
    // Its 1 h lease was released: a second watcher is active at once.
    let second = Command::new("sh")
        .arg("-c")
        .arg(format!("timeout -s INT 3 {} 2>&1", watch("1h")))
        .env("XDG_STATE_HOME", &state)
        .output()
        .expect("second watcher");
    let printed = String::from_utf8_lossy(&second.stdout);
    assert!(
        printed.contains("watch: active") && !printed.contains("standing by"),
        "the lease was not given back: {printed}"
    );
}
