//! A damaged store (issue 13, point 6), with the real binary on real damaged files: copies of a
//! store triage made, one overwritten with random bytes, one truncated, one with a page
//! overwritten. A CLI command and the console's start both exit non-zero, without a panic or a
//! backtrace, saying once what SQLite said, naming the file and the remedy (export the audit log,
//! move the store aside, resync). Any other SQLite error is said once too (it used to be printed
//! twice, then once more as "Error code N").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::tmux;
use tmux::Tmux;

const BIN: &str = env!("CARGO_BIN_EXE_triage");
const PAGE: usize = 4096;

const CONFIG: &str = "operator = \"ops@test\"\n\
[[upstream]]\nid = \"demo\"\nkind = \"connector_api\"\nurl = \"http://127.0.0.1:9\"\n\
[[person]]\nid = \"maria\"\nname = \"Maria\"\n\
[[connector]]\nid = \"c1\"\nupstream = \"demo\"\nsource = \"s\"\ndestination = \"d\"\n\
direction = \"inbound\"\npurpose = \"p\"\nowner = \"maria\"\n";

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    store: PathBuf,
}

impl Setup {
    /// A config and a real store written by triage (inventory, schema, an audit-free log).
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        std::fs::write(&config, CONFIG).expect("config");
        let store = dir.path().join("good.db");
        let setup = Setup { dir, config, store };
        let made = setup.run(&setup.store, &["connectors"]);
        assert!(made.status.success(), "{}", stderr(&made));
        // Fold the WAL into the main file so that copies of it hold everything.
        let conn = rusqlite::Connection::open(&setup.store).expect("open");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        drop(conn);
        setup
    }

    fn run(&self, store: &Path, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(store)
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("RUST_BACKTRACE", "1")
            .output()
            .expect("run triage")
    }

    /// A copy of the good store, changed by `damage`.
    fn damaged(&self, name: &str, damage: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = std::fs::read(&self.store).expect("read store");
        damage(&mut bytes);
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).expect("write damaged copy");
        path
    }

    /// The three kinds of damage: (name, path, SQLite's words for it).
    fn all_damaged(&self) -> Vec<(&'static str, PathBuf, &'static str)> {
        let random = self.damaged("random.db", |b| {
            let n = b.len();
            *b = noise(n);
        });
        let truncated = self.damaged("truncated.db", |b| b.truncate(b.len() / 3));
        // Page 2 is the `connectors` table's root, which every command writes at start.
        let page = self.damaged("page.db", |b| {
            b[PAGE..2 * PAGE].copy_from_slice(&noise(PAGE));
        });
        vec![
            ("random bytes", random, "file is not a database"),
            ("truncated", truncated, "database disk image is malformed"),
            ("page overwritten", page, "database disk image is malformed"),
        ]
    }
}

/// Deterministic garbage (xorshift), so a failure reproduces.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one message a damaged store gets, wherever it is printed.
fn assert_damaged_message(kind: &str, text: &str, path: &Path, sqlite_words: &str) {
    let shown = path.display().to_string();
    assert_eq!(
        text.matches(sqlite_words).count(),
        1,
        "{kind}: SQLite's words said exactly once: {text}"
    );
    assert!(
        text.contains(&format!("store {shown} ")),
        "{kind}: names the file: {text}"
    );
    assert!(
        text.contains(&format!("mv {shown} {shown}.damaged")),
        "{kind}: says to move it aside: {text}"
    );
    assert!(
        text.contains("audit --json") && text.contains("triage sync --once"),
        "{kind}: says how to keep the audit log and rebuild: {text}"
    );
    for noise in [
        "Error code",
        "panicked",
        "Backtrace",
        "Location:",
        "RUST_BACKTRACE",
    ] {
        assert!(!text.contains(noise), "{kind}: {noise:?} in {text}");
    }
}

#[test]
fn a_cli_command_on_a_damaged_store_says_once_what_to_do() {
    let setup = Setup::new();
    for (kind, path, words) in setup.all_damaged() {
        let out = setup.run(&path, &["incidents"]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{kind}: {text}");
        assert!(out.stdout.is_empty(), "{kind}: nothing listed");
        assert_damaged_message(kind, &text, &path, words);
    }
}

#[test]
fn the_audit_log_of_a_store_with_a_damaged_table_can_still_be_exported() {
    let setup = Setup::new();
    let acked = setup.run(&setup.store, &["audit", "--json", "--limit", "0"]);
    assert!(acked.status.success(), "{}", stderr(&acked));
    let (_, page, _) = setup
        .all_damaged()
        .into_iter()
        .find(|(kind, ..)| *kind == "page overwritten")
        .expect("page damage");
    let out = setup.run(&page, &["audit", "--json", "--limit", "0"]);
    assert!(
        out.status.success(),
        "the remedy's first step works: {}",
        stderr(&out)
    );
}

#[test]
fn the_console_on_a_damaged_store_exits_with_the_message_and_a_sane_terminal() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let setup = Setup::new();
    for (i, (kind, path, words)) in setup.all_damaged().into_iter().enumerate() {
        let home = setup.dir.path().join(format!("console-{i}"));
        std::fs::create_dir_all(&home).expect("home");
        let tmux = Tmux::new(&format!("damaged-{i}"));
        let script = format!(
            "{BIN} --config {config} --store {store} 2> {home}/err.txt; echo $? > {home}/exit.txt; \
             stty -a > {home}/stty.txt; echo CONSOLE-EXITED; sleep 60",
            config = setup.config.display(),
            store = path.display(),
            home = home.display(),
        );
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "120",
            "-y",
            "30",
            "-e",
            &format!("XDG_STATE_HOME={}", home.join("state").display()),
            "-e",
            "RUST_BACKTRACE=1",
            "sh",
            "-c",
            &script,
        ]);
        tmux.wait_for(&format!("{kind}: the console to exit"), 30, |s| {
            s.contains("CONSOLE-EXITED")
        });
        let exit = std::fs::read_to_string(home.join("exit.txt")).expect("exit code");
        let text = std::fs::read_to_string(home.join("err.txt")).expect("stderr");
        assert_eq!(exit.trim(), "1", "{kind}: exit code; {text}");
        assert_damaged_message(kind, &text, &path, words);
        let stty = std::fs::read_to_string(home.join("stty.txt")).expect("stty");
        assert!(
            stty.split_whitespace().any(|w| w == "icanon"),
            "{kind}: terminal left raw: {stty}"
        );
        assert_eq!(
            tmux.pane("#{alternate_on}"),
            "0",
            "{kind}: alternate screen"
        );
    }
}

#[test]
fn any_other_sqlite_error_is_said_once() {
    let setup = Setup::new();
    // A store whose recorded schema version went back: the first migration meets its own
    // tables (the kind of error that printed "already exists" three times).
    let conn = rusqlite::Connection::open(&setup.store).expect("open");
    conn.pragma_update(None, "user_version", 0)
        .expect("user_version");
    drop(conn);
    let out = setup.run(&setup.store, &["incidents"]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("already exists").count(), 1, "{text}");
    assert!(
        text.contains(&format!("store {}: ", setup.store.display())),
        "{text}"
    );
    assert!(!text.contains("Error code"), "{text}");
}
