//! A private tmux server for end-to-end console tests: one session `e2e`, keys in, screen and
//! pane state out; the server is killed on drop.
// Shared by several test crates; not each uses every helper.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("triage-{name}-{}", std::process::id()),
        }
    }

    /// Whether tmux is installed (tests skip, with a message, when it is not).
    pub fn available() -> bool {
        Command::new("tmux").arg("-V").output().is_ok()
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends keys one by one, with a pause after each.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.run(&["send-keys", "-t", "e2e", key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }

    /// A pane format variable, e.g. `#{alternate_on}`.
    pub fn pane(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "e2e", format])
            .trim()
            .to_string()
    }

    /// Waits until the screen satisfies `ok`; fails with the last screen after `secs`.
    pub fn wait_for(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
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
        // A server whose last pane was killed is gone already and cannot name its socket.
        let socket_path = match socket_path.trim() {
            "" => {
                let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
                // SAFETY: geteuid has no preconditions and cannot fail.
                let uid = unsafe { libc::geteuid() };
                format!("{dir}/tmux-{uid}/{}", self.socket)
            }
            path => path.to_string(),
        };
        let _ = std::fs::remove_file(socket_path);
    }
}

/// The pids of `parent`'s children named `name` (from /proc).
pub fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so split after the last ')'.
            let (head, tail) = stat.rsplit_once(')').unwrap_or_default();
            let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
            let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse().ok());
            comm == name && ppid == Some(parent)
        })
        .collect()
}

/// Whether `pid` is still running (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit_once(')').map(|(_, t)| t.trim_start());
            !state.is_some_and(|s| s.starts_with('Z'))
        })
        .unwrap_or(false)
}
