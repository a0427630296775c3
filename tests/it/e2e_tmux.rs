//! End to end: the real `triage demo` binary in tmux. The demo starts; the Connectors view shows
//! the demo's connectors; Dead letters → Enter shows a payload; `a` on an incident shows it
//! acknowledged by the operator; `r` + `y` replays a dead letter and the demo's
//! `/demo/deliveries` confirms it; `q` exits and the terminal is restored (cooked mode again);
//! Ctrl-Z hands a cooked terminal back to the shell and `fg` redraws the console.
//! Skipped, with a message, only when tmux is not installed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const OPERATOR: &str = "e2e-op";

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "e2e", key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    /// Waits until the screen satisfies `ok`; fails with the last screen after `secs`.
    fn wait_for(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let socket_path = self.run(&["display-message", "-p", "#{socket_path}"]);
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
        if !socket_path.trim().is_empty() {
            let _ = std::fs::remove_file(socket_path.trim());
        }
    }
}

fn http(addr: &str, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the demo");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn free_addr() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn demo_console_end_to_end() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED demo_console_end_to_end: tmux is not installed (apt-get install tmux)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_triage");
    let home = tempfile::tempdir().unwrap();
    let stty_out = home.path().join("stty.txt");
    let addr = free_addr();
    let tmux = Tmux {
        socket: format!("triage-e2e-{}", std::process::id()),
    };
    let script = format!(
        "cd {home}; {bin} --operator {OPERATOR} demo --listen {addr}; stty -a > {stty}; echo CONSOLE-EXITED; sleep 60",
        home = home.path().display(),
        stty = stty_out.display(),
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "160",
        "-y",
        "48",
        "-e",
        &format!("HOME={}", home.path().display()),
        "-e",
        &format!("XDG_CONFIG_HOME={}", home.path().join("config").display()),
        "-e",
        &format!("XDG_DATA_HOME={}", home.path().join("data").display()),
        "-e",
        &format!("XDG_STATE_HOME={}", home.path().join("state").display()),
        "-e",
        "TRIAGE_CONFIG=",
        "sh",
        "-c",
        &script,
    ]);

    // Connectors view with the demo's connectors.
    tmux.wait_for("the demo connectors", 60, |s| {
        s.contains("Connectors (") && s.contains("hubspot-form-to-salesforce") && s.contains("live")
    });

    // Dead letters → Enter shows the payload of one.
    tmux.keys(&["3"]);
    tmux.wait_for("dead letters", 20, |s| {
        s.contains("Dead letters (all connectors)") && s.contains("▶")
    });
    // A connector whose root cause the demo can fix (schema drift), found with the `/` filter.
    tmux.keys(&["/"]);
    tmux.run(&["send-keys", "-t", "e2e", "-l", "segment-to-warehouse"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filtered dead letters", 10, |s| {
        s.contains("filter: segment-to-warehouse")
            && s.contains("payloads and headers included")
            && s.contains(" match")
            && s.lines()
                .any(|l| l.starts_with("▶") && l.contains("segment-to-warehouse"))
    });
    tmux.keys(&["Enter"]);
    // Error, headers and the upstream's answer come first; the payload last (below at 80×24).
    let detail = tmux.wait_for("the dead-letter detail", 20, |s| {
        s.contains("Dead letters › ") && s.contains("headers (")
    });
    let id = detail
        .lines()
        .find_map(|l| l.split("Dead letters › ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("dead letter id in the detail title")
        .to_string();
    let connector = detail
        .lines()
        .find_map(|l| l.split("Dead letters › ").nth(1))
        .and_then(|rest| rest.split(" · ").nth(1))
        .map(|c| c.trim().to_string())
        .expect("connector in the detail title");

    // Replay it after the demo's root cause is fixed: the demo confirms one delivery.
    let fixed = http(&addr, "POST", &format!("/demo/connectors/{connector}/fix"));
    assert!(fixed.starts_with("HTTP/1.1 200"), "{fixed}");
    tmux.keys(&["r"]);
    tmux.wait_for("the replay confirmation", 10, |s| {
        s.contains("Replay this dead letter?") && s.contains(&id) && s.contains("destination")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the replay outcome", 30, |s| {
        s.contains(&format!("{id} replayed by {OPERATOR}"))
    });
    let deliveries = http(&addr, "GET", "/demo/deliveries");
    assert!(
        deliveries.contains(&format!("\"{id}\":1")),
        "demo did not confirm the delivery of {id}: {deliveries}"
    );
    tmux.keys(&["Escape"]);

    // Ack the most urgent incident.
    tmux.keys(&["2"]);
    tmux.wait_for("open incidents", 20, |s| {
        s.contains("Incidents (")
            && s.lines()
                .any(|l| l.starts_with("▶") && l.contains(" open "))
    });
    tmux.keys(&["a"]);
    tmux.wait_for("the ack", 30, |s| {
        s.contains(&format!("acknowledged by {OPERATOR}"))
            && s.lines()
                .any(|l| l.contains("acknowledged") && l.contains(OPERATOR))
    });

    // Quit: the UI goes away and the terminal is back in cooked mode.
    tmux.keys(&["q"]);
    let after = tmux.screen();
    if after.contains("Quit with actions pending?") {
        tmux.keys(&["y"]);
    }
    tmux.wait_for("the console to exit", 20, |s| s.contains("CONSOLE-EXITED"));
    let screen = tmux.screen();
    assert!(
        !screen.contains("1 Connectors  2 Incidents"),
        "UI still on screen:\n{screen}"
    );
    let stty = std::fs::read_to_string(&stty_out).expect("stty output");
    assert!(
        has_flag(&stty, "icanon") && has_flag(&stty, "echo"),
        "terminal not restored: {stty}"
    );
}

#[test]
fn ctrl_z_gives_the_terminal_back_and_fg_redraws() {
    if Command::new("tmux").arg("-V").output().is_err()
        || Command::new("bash").arg("--version").output().is_err()
    {
        eprintln!(
            "SKIPPED ctrl_z_gives_the_terminal_back_and_fg_redraws: tmux or bash is not installed"
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_triage");
    let home = tempfile::tempdir().unwrap();
    let stty_out = home.path().join("stty.txt");
    let tmux = Tmux {
        socket: format!("triage-e2e-z-{}", std::process::id()),
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "40",
        "-e",
        &format!("HOME={}", home.path().display()),
        "-e",
        &format!("XDG_CONFIG_HOME={}", home.path().join("config").display()),
        "-e",
        &format!("XDG_STATE_HOME={}", home.path().join("state").display()),
        "-e",
        "TRIAGE_CONFIG=",
        "-e",
        "PS1=E2E-PROMPT$ ",
        "bash",
        "--norc",
        "--noprofile",
        "-i",
    ]);
    tmux.wait_for("the shell prompt", 10, |s| s.contains("E2E-PROMPT$"));
    tmux.run(&[
        "send-keys",
        "-t",
        "e2e",
        "-l",
        &format!("{bin} --operator {OPERATOR} demo --listen {}", free_addr()),
    ]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the console", 60, |s| {
        s.contains("1 Connectors  2 Incidents") && s.contains("Connectors (")
    });
    tmux.keys(&["C-z"]);
    tmux.wait_for("the shell after Ctrl-Z", 10, |s| {
        s.contains("Stopped") && !s.contains("1 Connectors  2 Incidents")
    });
    tmux.run(&[
        "send-keys",
        "-t",
        "e2e",
        "-l",
        &format!("stty -a > {}", stty_out.display()),
    ]);
    tmux.keys(&["Enter"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stty_out.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let stty = std::fs::read_to_string(&stty_out).expect("stty output while suspended");
    assert!(
        has_flag(&stty, "icanon") && has_flag(&stty, "echo"),
        "terminal not restored on Ctrl-Z: {stty}"
    );
    tmux.run(&["send-keys", "-t", "e2e", "-l", "fg"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the console redrawn after fg", 10, |s| {
        s.contains("1 Connectors  2 Incidents") && s.contains("Connectors (")
    });
    tmux.keys(&["2"]);
    tmux.wait_for("keys working after fg", 10, |s| s.contains("Incidents ("));
    tmux.keys(&["q"]);
    if tmux.screen().contains("Quit with actions pending?") {
        tmux.keys(&["y"]);
    }
    tmux.wait_for("the prompt after quitting", 20, |s| {
        s.lines().filter(|l| l.contains("E2E-PROMPT$")).count() >= 2
            && !s.contains("1 Connectors  2 Incidents")
    });
}

/// `flag` present and not negated (`-icanon`) in `stty -a` output.
fn has_flag(stty: &str, flag: &str) -> bool {
    stty.split_whitespace().any(|w| w == flag)
}
