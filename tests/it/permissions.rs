//! Loose permissions are refused, like ssh does (issue 13, point 3): a token file or webhook URL
//! file readable by others, and a config that others can write while it runs `token_cmd` — with
//! a message naming file, line and field and the `chmod` that fixes it, and without running the
//! command. The log file is private: 0600 in a 0700 directory, existing ones fixed.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use triage::config::TokenSource;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, Permissions::from_mode(mode)).expect("chmod");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn triage(dir: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--store")
        .arg(dir.join("triage.db"))
        .args(args)
        .env("XDG_STATE_HOME", dir.join("state"))
        .output()
        .expect("run triage")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const HEAD: &str = "operator = \"ops@test\"\n[[upstream]]\nid = \"x\"\nkind = \"connector_api\"\nurl = \"http://127.0.0.1:1\"\ntimeout = \"1s\"\n";

#[test]
fn a_config_others_can_write_may_not_run_token_cmd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("token-cmd-ran");
    let config = dir.path().join("triage.toml");
    let text = format!(
        "{HEAD}token_cmd = \"touch {}; echo t0ken-value\"\n",
        marker.display()
    );
    std::fs::write(&config, text).expect("config");
    chmod(&config, 0o666);

    let refused = triage(dir.path(), &config, &["sync", "--once"]);
    let message = stderr(&refused);
    assert!(!refused.status.success());
    assert!(!marker.exists(), "token_cmd ran: {message}");
    let located = format!("{}:7:13: upstream[0].token_cmd:", config.display());
    assert!(message.contains(&located), "{message}");
    assert!(
        message.contains("mode 0666")
            && message.contains(&format!("chmod 600 {}", config.display())),
        "{message}"
    );

    // Readable by others is fine (it shows the command, not the secret); writable is not.
    chmod(&config, 0o644);
    let allowed = triage(dir.path(), &config, &["sync", "--once"]);
    assert!(
        marker.exists(),
        "token_cmd did not run: {}",
        stderr(&allowed)
    );
}

#[test]
fn a_secret_file_others_can_read_is_refused_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token.txt");
    std::fs::write(&token, "t0ken-value\n").expect("token");
    chmod(&token, 0o644);
    let config = dir.path().join("triage.toml");
    std::fs::write(&config, format!("{HEAD}token_file = \"token.txt\"\n")).expect("config");
    chmod(&config, 0o600);

    let refused = triage(dir.path(), &config, &["connectors"]);
    let message = stderr(&refused);
    assert!(!refused.status.success(), "{message}");
    let located = format!("{}:7:14: upstream[0].token_file:", config.display());
    assert!(message.contains(&located), "{message}");
    assert!(
        message.contains("mode 0644")
            && message.contains(&format!("chmod 600 {}", token.display())),
        "{message}"
    );

    chmod(&token, 0o600);
    let allowed = triage(dir.path(), &config, &["connectors"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
}

#[test]
fn a_webhook_url_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = dir.path().join("hook.url");
    std::fs::write(&hook, "https://hooks.slack.com/services/T0/B0/secret\n").expect("hook");
    chmod(&hook, 0o640);
    let config = dir.path().join("triage.toml");
    let text =
        format!("{HEAD}[[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl_file = \"hook.url\"\n");
    std::fs::write(&config, text).expect("config");

    let refused = triage(dir.path(), &config, &["connectors"]);
    let message = stderr(&refused);
    assert!(!refused.status.success(), "{message}");
    assert!(message.contains("notifier[0].url_file:"), "{message}");
    assert!(
        message.contains(&format!("chmod 600 {}", hook.display())),
        "{message}"
    );
}

/// A file loosened after the config was loaded is still refused when the secret is read.
#[test]
fn a_secret_file_is_checked_again_when_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token.txt");
    std::fs::write(&token, "t0ken-value").expect("token");
    chmod(&token, 0o604);
    let problem = TokenSource::File(token.clone())
        .resolve()
        .expect_err("a world-readable token file is refused");
    assert!(
        problem.contains(&format!("chmod 600 {}", token.display())),
        "{problem}"
    );
    chmod(&token, 0o400);
    assert_eq!(
        TokenSource::File(token).resolve(),
        Ok(Some("t0ken-value".to_string()))
    );
}

#[test]
fn the_log_file_is_private_and_an_existing_one_is_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    std::fs::write(&config, HEAD).expect("config");
    let log_dir = dir.path().join("state").join("triage");
    let log = log_dir.join("triage.log");

    let fresh = triage(dir.path(), &config, &["connectors"]);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(mode(&log_dir), 0o700, "log directory");
    assert_eq!(mode(&log), 0o600, "log file");

    chmod(&log_dir, 0o755);
    chmod(&log, 0o644);
    let again = triage(dir.path(), &config, &["connectors"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(mode(&log_dir), 0o700, "existing log directory fixed");
    assert_eq!(mode(&log), 0o600, "existing log file fixed");
}
