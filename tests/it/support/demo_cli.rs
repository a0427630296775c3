//! The real binary against the real demo upstream on a loopback port: `triage demo --serve-only`
//! started with its own config and state directory, commands run with `--config`/`--store`, and
//! the demo's admin routes (`/demo/…`) called over plain HTTP/1.1. Everything lives in a temp dir
//! (the demo's stderr too, `Demo::stderr`) and the demo process is killed when the harness is
//! dropped.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_triage");

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Demo {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: PathBuf,
    pub port: u16,
    _server: Killed,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Demo {
    /// A demo upstream on a free port, its config written, nothing synced yet.
    pub fn start(extra: &[&str]) -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let store = dir.path().join("triage.db");
        let port = free_port();
        let stderr = std::fs::File::create(dir.path().join("demo.stderr")).expect("stderr file");
        let server = Command::new(BIN)
            .args([
                "demo",
                "--serve-only",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--write-config")
            .arg(&config)
            .args(extra)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("demo");
        let server = Killed(server);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(config.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(Instant::now() < deadline, "demo did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Demo {
            dir,
            config,
            store,
            port,
            _server: server,
        }
    }

    /// `triage ARGS` with this demo's config and store.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env_remove("NO_COLOR");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run triage")
    }

    /// Runs and asserts success; stdout as text.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triage {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `POST path` with a JSON body on the demo; the answer's body as JSON.
    pub fn post(&self, path: &str, body: &str) -> serde_json::Value {
        self.http("POST", path, body)
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        self.http("GET", path, "")
    }

    /// `GET path` with `Authorization: Bearer <token>` (a demo started with `--token`).
    pub fn get_with_token(&self, path: &str, token: &str) -> serde_json::Value {
        self.request(
            "GET",
            path,
            "",
            &format!("Authorization: Bearer {token}\r\n"),
        )
    }

    /// What the demo printed on stderr so far (a panic's message, for one).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("demo.stderr")).unwrap_or_default()
    }

    fn http(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        self.request(method, path, body, "")
    }

    fn request(&self, method: &str, path: &str, body: &str, headers: &str) -> serde_json::Value {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the demo");
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             {headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let (head, rest) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with("HTTP/1.1 2"), "{method} {path}: {head}");
        // Chunked or not, the JSON body is the part between the first '{' and the last '}'.
        let start = rest.find('{').unwrap_or(0);
        let end = rest.rfind('}').map_or(rest.len(), |e| e + 1);
        serde_json::from_str(&rest[start..end]).unwrap_or(serde_json::Value::Null)
    }
}

/// Every stdout line that is JSON.
pub fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}
