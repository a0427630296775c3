//! Broken configs, each loaded from disk (issue 13, point 5): every error names file, line and
//! column of the culprit, its key path, and says in words what is wrong — no `0:0`, no `-`, no
//! bare "invalid TOML". A missing `token_env` variable or `token_file` is found when the config
//! loads, at its key, not at the first sync.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BASE, with};
use triage::config::{Config, ConfigError};

const UPSTREAM_URL: &str = "url = \"http://127.0.0.1:7777\"";

/// Writes `bytes` as `<dir>/triage.toml` and loads it.
fn load_bytes(dir: &Path, bytes: &[u8]) -> (PathBuf, ConfigError) {
    let path = dir.join("triage.toml");
    std::fs::write(&path, bytes).expect("write config");
    let err = Config::load(&path).expect_err("config should be rejected");
    (path, err)
}

/// 1-based (line, column in characters) of the first occurrence of `needle` (+ `skip` chars).
fn position(text: &str, needle: &str, skip: usize) -> (usize, usize) {
    let offset = text.find(needle).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1 + skip)
}

/// Loads `text` and checks the whole located error: position of `needle`, field and message.
fn assert_broken(dir: &Path, text: &str, needle: &str, field: &str, message: &str) {
    assert_broken_at(dir, text, position(text, needle, 0), field, message);
}

fn assert_broken_at(
    dir: &Path,
    text: &str,
    (line, column): (usize, usize),
    field: &str,
    message: &str,
) {
    let (path, err) = load_bytes(dir, text.as_bytes());
    assert_eq!(
        (
            err.line,
            err.column,
            err.field.as_str(),
            err.message.as_str()
        ),
        (line, column, field, message),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("{}:{line}:{column}: {field}: {message}", path.display())
    );
}

fn upstream_with(line: &str) -> String {
    with(UPSTREAM_URL, &format!("{UPSTREAM_URL}\n{line}"))
}

fn private_file(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn a_syntax_error_gives_the_parsers_words_what_it_found_and_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = with(
        "operator = \"ops@test\"",
        "operator = \"ops@test\"\nread_only = tru",
    );
    assert_broken(
        dir.path(),
        &text,
        "tru",
        "read_only",
        "invalid TOML: invalid boolean, expected \"true\"; found \"tru\"",
    );
    // The parser notices at the end of the line that the string never closed.
    let text = upstream_with("timeout = \"10s");
    assert_broken_at(
        dir.path(),
        &text,
        position(&text, "\"10s", 4),
        "upstream[0].timeout",
        "invalid TOML: invalid basic string, expected \"\"\"; found end of line",
    );
}

#[test]
fn a_duplicate_key_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = with("backup = \"dev\"", "backup = \"dev\"\nowner = \"dev\"");
    let second_owner = text.rfind("owner = \"dev\"").expect("second owner");
    let (path, err) = load_bytes(dir.path(), text.as_bytes());
    let before = &text[..second_owner];
    assert_eq!(err.line, before.matches('\n').count() + 1, "{err}");
    assert_eq!(err.column, 1, "{err}");
    assert_eq!(err.field, "connector[0].owner");
    assert_eq!(
        err.message,
        "invalid TOML: duplicate key: \"owner\" is already defined in this table"
    );
    assert!(err.to_string().starts_with(&path.display().to_string()));
}

#[test]
fn binary_bytes_say_not_utf8_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("Maria").expect("Maria");
    bytes.splice(at..at, [0xff, 0xfe, 0x00]);
    let (path, err) = load_bytes(dir.path(), &bytes);
    let (line, column) = position(BASE, "Maria", 0);
    assert_eq!(
        err.to_string(),
        format!(
            "{}:{line}:{column}: (file): not UTF-8 text: byte 0xff at offset {at} is not valid \
             UTF-8; a config is a UTF-8 TOML text file (is this the right file?)",
            path.display()
        )
    );
    // A file that is binary from its first byte still gets a real position.
    let (_, err) = load_bytes(dir.path(), &[0x89, b'P', b'N', b'G', 0, 0xff]);
    assert_eq!((err.line, err.column, err.field.as_str()), (1, 1, "(file)"));
    assert!(
        err.message
            .starts_with("not UTF-8 text: byte 0x89 at offset 0"),
        "{err}"
    );
}

#[test]
fn an_empty_or_comment_only_file_is_refused_at_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in ["", "\n  \n", "# triage config\n# nothing yet\n"] {
        let (path, err) = load_bytes(dir.path(), text.as_bytes());
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1:1: (file): the config file is empty: it names no upstream, connector or \
                 person; write one from assets/triage.example.toml (or try `triage demo`)",
                path.display()
            )
        );
    }
}

#[test]
fn a_wrong_type_says_what_was_expected_and_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = upstream_with("poll_interval = 5");
    assert_broken(
        dir.path(),
        &text,
        "5\n",
        "upstream[0].poll_interval",
        "invalid type: integer \"5\", expected a duration like \"30s\" or \"15m\"",
    );
}

#[test]
fn an_unknown_key_lists_the_known_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = upstream_with("tokn_env = \"X\"");
    let (_, err) = load_bytes(dir.path(), text.as_bytes());
    assert_eq!(
        (err.line, err.column, err.field.as_str()),
        (position(&text, "tokn_env", 0).0, 1, "upstream[0].tokn_env"),
        "{err}"
    );
    assert!(
        err.message.starts_with(
            "unknown field \"tokn_env\", expected one of \"id\", \"kind\", \"url\", \"token_env\""
        ),
        "{err}"
    );
}

#[test]
fn a_missing_or_empty_token_env_variable_is_reported_at_load_at_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unset = "TRIAGE_TEST_BROKEN_UNSET_5A";
    let text = upstream_with(&format!("token_env = \"{unset}\""));
    assert_broken(
        dir.path(),
        &text,
        &format!("\"{unset}\""),
        "upstream[0].token_env",
        &format!(
            "environment variable {unset} (token_env) is not set; export it with the secret \
             before starting triage"
        ),
    );
    let empty = "TRIAGE_TEST_BROKEN_EMPTY_5B";
    // SAFETY: this variable name is used by no other test and nothing else reads it.
    unsafe { std::env::set_var(empty, "  ") };
    let text = upstream_with(&format!("token_env = \"{empty}\""));
    assert_broken(
        dir.path(),
        &text,
        &format!("\"{empty}\""),
        "upstream[0].token_env",
        &format!(
            "environment variable {empty} (token_env) is empty; export it with the secret \
             before starting triage"
        ),
    );
    let set = "TRIAGE_TEST_BROKEN_SET_5C";
    // SAFETY: as above.
    unsafe { std::env::set_var(set, "t0ken") };
    let text = upstream_with(&format!("token_env = \"{set}\""));
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, text).expect("write");
    Config::load(&path).expect("a set variable loads");
}

#[test]
fn a_missing_token_file_is_reported_at_load_at_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = upstream_with("token_file = \"missing.token\"");
    let missing = dir.path().join("missing.token");
    assert_broken(
        dir.path(),
        &text,
        "\"missing.token\"",
        "upstream[0].token_file",
        &format!(
            "token_file {} does not exist; write the secret into it (chmod 600) or fix the path",
            missing.display()
        ),
    );
    private_file(&missing, b"t0ken\n");
    let path = dir.path().join("triage.toml");
    Config::load(&path).expect("once the file exists, the config loads");
}

#[test]
fn an_unreadable_or_empty_token_file_is_reported_at_load_at_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = upstream_with("token_file = \"secret\"");
    let secret = dir.path().join("secret");

    // Not text (as root, modes cannot make a file unreadable; bytes can).
    private_file(&secret, &[0xff, 0xfe, 0x00]);
    assert_broken(
        dir.path(),
        &text,
        "\"secret\"",
        "upstream[0].token_file",
        &format!(
            "cannot read token_file {}: stream did not contain valid UTF-8",
            secret.display()
        ),
    );
    // Empty.
    private_file(&secret, b" \n");
    assert_broken(
        dir.path(),
        &text,
        "\"secret\"",
        "upstream[0].token_file",
        &format!("token_file {} is empty", secret.display()),
    );
    // A directory (reading it would fail; a FIFO would block).
    std::fs::remove_file(&secret).expect("rm");
    std::fs::create_dir(&secret).expect("mkdir");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_broken(
        dir.path(),
        &text,
        "\"secret\"",
        "upstream[0].token_file",
        &format!(
            "token_file {} is not a regular file; point token_file at a file holding the secret",
            secret.display()
        ),
    );
}

#[test]
fn a_missing_webhook_url_env_is_reported_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unset = "TRIAGE_TEST_BROKEN_HOOK_5D";
    let text =
        format!("{BASE}\n[[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl_env = \"{unset}\"\n");
    assert_broken(
        dir.path(),
        &text,
        &format!("\"{unset}\""),
        "notifier[0].url_env",
        &format!(
            "environment variable {unset} (url_env) is not set; export it with the secret \
             before starting triage"
        ),
    );
}

#[test]
fn a_duplicate_id_and_a_bad_url_are_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "{BASE}\n[[upstream]]\nid = \"demo\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:9093\"\n"
    );
    let (_, err) = load_bytes(dir.path(), text.as_bytes());
    let second = text
        .rfind("\"demo\"\nkind = \"alertmanager\"")
        .expect("second id");
    let line = text[..second].matches('\n').count() + 1;
    assert_eq!(
        (
            err.line,
            err.column,
            err.field.as_str(),
            err.message.as_str()
        ),
        (
            line,
            6,
            "upstream[1].id",
            "duplicate upstream id \"demo\" (first defined on line 4)"
        ),
        "{err}"
    );
    let text = with(UPSTREAM_URL, "url = \"127.0.0.1:7777\"");
    let (_, err) = load_bytes(dir.path(), text.as_bytes());
    assert_eq!(
        (err.line, err.column, err.field.as_str()),
        (position(&text, "\"127.0.0.1", 0).0, 7, "upstream[0].url"),
        "{err}"
    );
    assert!(
        err.message.starts_with(
            "expected a http or https URL like \"http://127.0.0.1:7777\", found \"127.0.0.1:7777\""
        ),
        "{err}"
    );
}

#[test]
fn a_missing_config_file_has_a_real_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope.toml");
    let err = Config::load(&path).expect_err("missing");
    assert_eq!((err.line, err.column, err.field.as_str()), (1, 1, "(file)"));
    assert!(
        err.message
            .contains("cannot read the config file: No such file"),
        "{err}"
    );
}

#[test]
fn commands_fail_before_sync_on_a_missing_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let unset = "TRIAGE_TEST_BROKEN_CLI_5E";
    let text = upstream_with(&format!("token_env = \"{unset}\""));
    std::fs::write(&config, &text).expect("config");
    let store = dir.path().join("triage.db");
    for args in [&["connectors"][..], &["sync", "--once"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_triage"))
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env_remove(unset)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .output()
            .expect("run triage");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (line, column) = position(&text, &format!("\"{unset}\""), 0);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{}:{line}:{column}: upstream[0].token_env: environment variable {unset} \
                 (token_env) is not set",
                config.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(
            !store.exists(),
            "{args:?}: failed before touching the store"
        );
    }
}
