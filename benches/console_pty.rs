//! The console at scale, measured the way an operator meets it: the release binary in a real
//! pseudo-terminal (120×40, `TERM=xterm-256color`) over the console benchmarks' seeded store
//! (1,000,000 dead letters, 100,000 incidents by default; `benches/support/console_store.rs`).
//!
//! - **first frame with rows**: from spawning the process to the first output that shows the last
//!   row of the landing view (the connectors), then from `2` to the first incident id and from
//!   `3` to the first dead-letter id;
//! - **keypress → frame**: `j`/`k` written to the terminal, to the first byte of the redraw that
//!   answers it (p50 / p99 / max over `TRIAGE_BENCH_KEYS` presses, default 400, one every 15 ms);
//! - **RSS** now and at its peak (`VmRSS`, `VmHWM`) after the presses, `G`, `g` and a detail;
//! - **idle CPU** over 10 s with nothing changing (utime + stime from `/proc/<pid>/stat`).
//!
//! `cargo build --release && cargo bench --bench console_pty` (`TRIAGE_BENCH_BINARY` runs
//! another binary; `TRIAGE_BENCH_DEAD_LETTERS` / `TRIAGE_BENCH_INCIDENTS` change the store).
//! Targets (issue #15) are printed beside each figure.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

#[path = "support/console_store.rs"]
mod console_store;
use console_store::*;

const COLS: u16 = 120;
const ROWS: u16 = 40;

/// The console in a pty: its output arrives on `chunks` as (time received, bytes).
struct Console {
    child: Child,
    master: std::fs::File,
    chunks: Receiver<(Instant, Vec<u8>)>,
    started: Instant,
    /// What the terminal shows, from every byte read so far.
    screen: vt100::Parser,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open_pty() -> (OwnedFd, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two new descriptors into the out-parameters; size is read only.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

impl Console {
    fn spawn(binary: &Path, config: &Path, store: &Path, state: &Path) -> Console {
        let (master, slave) = open_pty();
        let slave_fd = slave.as_raw_fd();
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(config)
            .arg("--store")
            .arg(store)
            .env("TERM", "xterm-256color")
            .env("XDG_STATE_HOME", state)
            .env_remove("TRIAGE_HYPERLINKS")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls: a new session whose
        // controlling terminal is the pty (crossterm reads keys from it).
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let child = command.spawn().expect("spawn the console");
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().expect("dup master");
        let (tx, chunks) = channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Console {
            child,
            master,
            chunks,
            started,
            screen: vt100::Parser::new(ROWS, COLS, 0),
        }
    }

    /// Waits until the screen (the output so far, through a terminal emulator: ratatui writes
    /// only the cells that changed, so a text is seldom one run of bytes) shows `needle`; when
    /// the output that made it show arrived.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok((at, bytes)) => {
                    self.screen.process(&bytes);
                    if self.screen.screen().contents().contains(needle) {
                        return at;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{needle:?} not shown within {limit:?}; the screen:\n{}",
                        self.screen.screen().contents()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!("the console exited"),
            }
        }
    }

    /// Reads whatever arrives until the terminal is quiet for `quiet`.
    fn drain(&mut self, quiet: Duration) {
        while let Ok((_, bytes)) = self.chunks.recv_timeout(quiet) {
            self.screen.process(&bytes);
        }
    }

    fn press(&mut self, keys: &[u8]) -> Instant {
        let sent = Instant::now();
        self.master.write_all(keys).expect("write keys");
        self.master.flush().expect("flush keys");
        sent
    }

    /// Time from a key to the first output after it.
    fn answer(&mut self, key: &[u8]) -> Duration {
        let sent = self.press(key);
        match self.chunks.recv_timeout(Duration::from_secs(5)) {
            Ok((at, bytes)) => {
                self.screen.process(&bytes);
                at.saturating_duration_since(sent)
            }
            Err(_) => panic!("no frame answered {:?}", String::from_utf8_lossy(key)),
        }
    }

    fn proc_status(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// utime + stime in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("stat");
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let at = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the line (11 and 12 after the state field).
        at(11) + at(12)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn release_binary() -> PathBuf {
    let binary = std::env::var_os("TRIAGE_BENCH_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/triage"));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release` first",
        binary.display()
    );
    binary
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: only with --bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dead_letters = size("TRIAGE_BENCH_DEAD_LETTERS", 1_000_000);
    let incidents = size("TRIAGE_BENCH_INCIDENTS", 100_000);
    let presses = size("TRIAGE_BENCH_KEYS", 400);
    let store = big_store(dead_letters, incidents);
    let binary = release_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    std::fs::write(&config, "operator = \"bench@host\"\n").expect("config");
    let state = dir.path().join("state");
    // A private copy: the console opens the store read-write.
    let copy = dir.path().join("store.db");
    std::fs::copy(&store, &copy).expect("copy the store");
    // On disk before the launch: a fresh copy is dirty in the page cache, and the console's
    // first fsync (SQLite checkpoints when a connection closes) would write back all of it —
    // 1.2 GB at 1M letters, ≈ 0.6 s counted as launch time that an operator's store never has.
    std::fs::File::open(&copy)
        .and_then(|f| f.sync_all())
        .expect("sync the copy");
    // Warm the page cache as an operator's second launch would find it.
    let _ = std::fs::read(&copy);

    let mut console = Console::spawn(&binary, &config, &copy, &state);
    // The landing view lists the connectors; its last row proves the rows are drawn.
    let last_connector = format!("connector-{}", CONNECTORS - 1);
    let first_rows = console.wait_for(&last_connector, Duration::from_secs(30));
    let first_frame = first_rows.saturating_duration_since(console.started);
    console.drain(Duration::from_millis(300));
    let sent = console.press(b"2");
    let incidents_at = console.wait_for("inc-", Duration::from_secs(30));
    let incidents_shown = incidents_at.saturating_duration_since(sent);
    console.drain(Duration::from_millis(300));
    let sent = console.press(b"3");
    let letters_at = console.wait_for("dl-", Duration::from_secs(30));
    let letters = letters_at.saturating_duration_since(sent);
    console.drain(Duration::from_millis(300));

    // Search at size: a needle in one letter's payload, then one in none; from writing the
    // filter and Enter to the answer on screen.
    let middle = dead_letters / 2;
    let sent = console.press(format!("/lead{middle}@example.com\r").as_bytes());
    let found_at = console.wait_for(&format!("dl-{middle:08}"), Duration::from_secs(60));
    let rare = found_at.saturating_duration_since(sent);
    console.drain(Duration::from_millis(300));
    console.press(b"\x1b");
    console.drain(Duration::from_millis(300));
    let sent = console.press(b"/zq-no-such-text-7\r");
    let none_at = console.wait_for("no dead letter matches", Duration::from_secs(60));
    let none = none_at.saturating_duration_since(sent);
    console.drain(Duration::from_millis(300));
    console.press(b"\x1b");
    console.drain(Duration::from_millis(300));

    let mut times = Vec::with_capacity(presses);
    for i in 0..presses {
        let key: &[u8] = if (i / 20) % 2 == 0 { b"j" } else { b"k" };
        times.push(console.answer(key));
        console.drain(Duration::from_millis(15));
    }
    times.sort();
    for keys in [&b"G"[..], b"g", b"\r", b"\x1b"] {
        console.press(keys);
        console.drain(Duration::from_millis(500));
    }
    let rss = console.proc_status("VmRSS:");
    let peak = console.proc_status("VmHWM:");
    console.drain(Duration::from_secs(1));
    let ticks_before = console.cpu_ticks();
    let idle_for = Duration::from_secs(10);
    let idle_start = Instant::now();
    std::thread::sleep(idle_for);
    let ticks = console.cpu_ticks().saturating_sub(ticks_before);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let idle_cpu = ticks as f64 / hz / idle_start.elapsed().as_secs_f64() * 100.0;
    console.press(b"q");
    let _ = console.child.wait();

    println!(
        "console in a pty, {COLS}x{ROWS}, store of {dead_letters} dead letters and {incidents} incidents"
    );
    let rows = [
        (
            "launch → first frame with rows (connectors)".to_string(),
            ms(first_frame),
            "< 50 ms",
        ),
        (
            "`2` → incidents shown".into(),
            ms(incidents_shown),
            "< 50 ms",
        ),
        ("`3` → dead letters shown".into(), ms(letters), "< 50 ms"),
        (
            "`/` a word in one letter's payload + Enter → the letter shown".into(),
            ms(rare),
            "< 50 ms",
        ),
        (
            "`/` a word in no letter + Enter → \"no dead letter matches\"".into(),
            ms(none),
            "< 50 ms",
        ),
        (
            format!("keypress → frame, p50 / p99 / max ({presses} presses)"),
            format!(
                "{} / {} / {}",
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                ms(*times.last().unwrap_or(&Duration::ZERO))
            ),
            "p99 < 2 ms",
        ),
        (
            "RSS after presses, G, g, a detail (peak)".into(),
            format!(
                "{:.1} MB ({:.1} MB)",
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            ),
            "< 64 MB",
        ),
        (
            format!("idle CPU over {}s, nothing changing", idle_for.as_secs()),
            format!("{idle_cpu:.2} %"),
            "< 0.3 %",
        ),
    ];
    println!("| measure | result | target |");
    println!("|---|---|---|");
    for (measure, result, target) in &rows {
        println!("| {measure} | {result} | {target} |");
    }
    for (measure, result, target) in &rows {
        println!("bench-row|console ({dead_letters} letters)|{measure}|{result}|||{target}");
    }
}
