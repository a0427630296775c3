//! `triage.toml` loading: every error names file, line, field and what was wrong; defaults,
//! path resolution, token sources, config discovery and the shipped example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use triage::config::{Config, ConfigError, TokenSource};

/// Broken configs from disk: exact location and words (issue 13, point 5).
#[path = "config/broken.rs"]
mod broken;
/// One test per kind of config error.
#[path = "config/errors.rs"]
mod errors;
use triage::domain::{ConnectorStatus, UpstreamKind};

const BASE: &str = r#"operator = "ops@test"

[[upstream]]
id = "demo"
kind = "connector_api"
url = "http://127.0.0.1:7777"

[[team]]
id = "revops"
name = "Revenue Operations"
members = ["maria", "dev"]

[[person]]
id = "maria"
name = "Maria Lopez"
team = "revops"

[[person]]
id = "dev"
name = "Dev Patel"

[[connector]]
id = "hubspot-form-to-salesforce"
upstream = "demo"
source = "HubSpot Forms"
destination = "Salesforce"
direction = "inbound"
purpose = "Signups into the CRM"
owner = "maria"
backup = "dev"
"#;

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in text")
}

/// Writes `text` to `<tempdir>/triage.toml` and loads it.
fn load(text: &str) -> (tempfile::TempDir, PathBuf, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, text).expect("write config");
    let result = Config::load(&path);
    (dir, path, result)
}

/// Loads `text`, expects an error at the line holding `needle`, with `field` and `phrase`.
fn assert_error(text: &str, needle: &str, field: &str, phrase: &str) -> ConfigError {
    let (_dir, path, result) = load(text);
    let err = result.expect_err("config should be rejected");
    assert_eq!(err.file, path, "{err}");
    assert_eq!(err.line, line_of(text, needle), "{err}");
    assert!(err.column >= 1, "{err}");
    assert_eq!(err.field, field, "{err}");
    assert!(
        err.message.contains(phrase),
        "message {:?} lacks {phrase:?}",
        err.message
    );
    err
}

fn with(replace: &str, by: &str) -> String {
    assert!(BASE.contains(replace), "{replace:?} not in BASE");
    BASE.replacen(replace, by, 1)
}

#[test]
fn base_config_loads() {
    let (_dir, _path, result) = load(BASE);
    let config = result.expect("base config loads");
    assert_eq!(config.connectors.len(), 1);
    assert_eq!(config.connectors[0].line, line_of(BASE, "[[connector]]"));
    assert_eq!(config.upstreams[0].line, line_of(BASE, "[[upstream]]"));
}

#[test]
fn defaults_fill_operator_intervals_and_slas() {
    let text = with("operator = \"ops@test\"", "default_ack_sla = \"45m\"");
    let (_dir, _path, result) = load(&text);
    let config = result.expect("loads");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    // $USER, else $LOGNAME, else the login name of the process's uid (as `id -un` prints it).
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| {
            let out = std::process::Command::new("id")
                .arg("-un")
                .output()
                .expect("id -un");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        });
    assert_eq!(config.operator, format!("{user}@{host}"));
    assert!(!config.read_only);
    let upstream = &config.upstreams[0];
    assert_eq!(
        (upstream.poll_interval, upstream.timeout),
        (Duration::from_secs(5), Duration::from_secs(10))
    );
    assert_eq!(upstream.token, TokenSource::None);
    assert_eq!(config.default_ack_sla, Duration::from_secs(45 * 60));
    assert_eq!(config.connectors[0].ack_sla, Duration::from_secs(45 * 60));
    assert_eq!(config.connectors[0].name, "hubspot-form-to-salesforce");

    let (_dir, _path, result) = load(BASE);
    let config = result.expect("loads");
    assert_eq!(config.operator, "ops@test");
    assert_eq!(config.default_ack_sla, Duration::from_secs(30 * 60));
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let text = with(
        "operator = \"ops@test\"",
        "operator = \"ops@test\"\nstore = \"data/triage.db\"",
    )
    .replacen(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"http://127.0.0.1:7777\"\ntoken_file = \"secret.txt\"",
        1,
    )
    .replacen(
        "backup = \"dev\"",
        "backup = \"dev\"\nrunbook = \"runbooks/hs.md\"\ncontract = \"/abs/lead.json\"",
        1,
    );
    // The token file must exist (and be private) when the config loads.
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "t0ken\n").expect("secret");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let path = dir.path().join("triage.toml");
    std::fs::write(&path, &text).expect("write config");
    let config = Config::load(&path).expect("loads");
    let root = dir.path();
    assert_eq!(config.store, Some(root.join("data/triage.db")));
    assert_eq!(
        config.upstreams[0].token,
        TokenSource::File(root.join("secret.txt"))
    );
    let connector = &config.connectors[0];
    assert_eq!(connector.runbook, Some(root.join("runbooks/hs.md")));
    assert_eq!(connector.contract, Some(PathBuf::from("/abs/lead.json")));

    let inventory = config.inventory();
    assert_eq!(inventory.len(), 1);
    assert_eq!(
        inventory[0].runbook.as_deref(),
        Some(root.join("runbooks/hs.md").display().to_string().as_str())
    );
    assert_eq!(inventory[0].owner.as_deref(), Some("maria"));
    assert_eq!(inventory[0].ack_sla, Some(Duration::from_secs(30 * 60)));
    assert_eq!(inventory[0].status, ConnectorStatus::Unknown);
}

#[test]
fn token_from_env_and_its_error() {
    let name = "TRIAGE_TEST_TOKEN_FROM_ENV_71";
    // SAFETY: this variable name is used by no other test and nothing else reads it.
    unsafe { std::env::set_var(name, "  s3cret-env \n") };
    assert_eq!(
        TokenSource::Env(name.to_owned()).resolve(),
        Ok(Some("s3cret-env".to_owned()))
    );
    let err = TokenSource::Env("TRIAGE_TEST_TOKEN_UNSET_71".to_owned())
        .resolve()
        .expect_err("unset");
    assert!(
        err.contains("TRIAGE_TEST_TOKEN_UNSET_71") && err.contains("not set"),
        "{err}"
    );
    assert_eq!(TokenSource::None.resolve(), Ok(None));
}

#[test]
fn token_from_file_and_its_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("token");
    std::fs::write(&path, "s3cret-file\n").expect("write");
    // A secret file must be private (tests/permissions.rs: a readable one is refused).
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    assert_eq!(
        TokenSource::File(path.clone()).resolve(),
        Ok(Some("s3cret-file".to_owned()))
    );
    let missing = dir.path().join("nope");
    let err = TokenSource::File(missing.clone())
        .resolve()
        .expect_err("missing");
    assert!(err.contains(&missing.display().to_string()), "{err}");
}

#[test]
fn token_from_command_and_its_error_without_leaking_stdout() {
    let ok = TokenSource::Cmd("printf '  s3cret-cmd\\n'".to_owned()).resolve();
    assert_eq!(ok, Ok(Some("s3cret-cmd".to_owned())));
    let cmd = "echo s3cret-leak; echo 'vault: permission denied' >&2; echo second >&2; exit 3";
    let err = TokenSource::Cmd(cmd.to_owned())
        .resolve()
        .expect_err("fails");
    assert!(
        err.ends_with("(exit status: 3): vault: permission denied"),
        "{err}"
    );
    let without_command = err.replace(cmd, "");
    assert!(
        !without_command.contains("second"),
        "only stderr's first line: {err}"
    );
    assert!(
        !without_command.contains("s3cret-leak"),
        "stdout never shown: {err}"
    );
}

#[test]
fn example_config_loads_with_every_upstream_kind() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    // Its secrets (env variables, a token file) are not on this machine.
    let (config, _) = Config::load_without_secrets(&assets.join("triage.example.toml"))
        .expect("example config loads");
    let kinds: Vec<UpstreamKind> = config.upstreams.iter().map(|u| u.kind).collect();
    for kind in [
        UpstreamKind::ConnectorApi,
        UpstreamKind::Rabbitmq,
        UpstreamKind::Alertmanager,
        UpstreamKind::Sqs,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing");
    }
    assert!(config.connectors.len() >= 3 && config.people.len() >= 2 && config.teams.len() >= 2);
    for connector in &config.connectors {
        for path in connector.runbook.iter().chain(connector.contract.iter()) {
            assert!(
                path.is_file(),
                "{} in the example does not exist",
                path.display()
            );
        }
    }
}

#[test]
fn locate_prefers_explicit_then_env_then_xdg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let explicit = dir.path().join("explicit.toml");
    assert_eq!(Config::locate(Some(&explicit)), Some(explicit.clone()));
    let xdg = dir.path().join("xdg");
    // SAFETY: only this test reads or writes TRIAGE_CONFIG and XDG_CONFIG_HOME.
    unsafe {
        std::env::set_var("TRIAGE_CONFIG", dir.path().join("from-env.toml"));
        std::env::set_var("XDG_CONFIG_HOME", &xdg);
    }
    assert_eq!(Config::locate(Some(&explicit)), Some(explicit));
    assert_eq!(Config::locate(None), Some(dir.path().join("from-env.toml")));
    unsafe { std::env::remove_var("TRIAGE_CONFIG") };
    assert_eq!(
        Config::locate(None),
        None,
        "absent XDG file means no config"
    );
    let xdg_file = xdg.join("triage/triage.toml");
    std::fs::create_dir_all(xdg.join("triage")).expect("mkdir");
    std::fs::write(&xdg_file, BASE).expect("write");
    assert_eq!(Config::locate(None), Some(xdg_file));
}

#[test]
fn demo_written_config_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = triage::demo::write_demo_config(dir.path(), "http://127.0.0.1:7777")
        .expect("write demo config");
    let config = Config::load(&path).unwrap_or_else(|err| panic!("demo config rejected: {err}"));
    assert_eq!(config.upstreams[0].poll_interval, Duration::from_secs(2));
    assert!(!config.connectors.is_empty());
    for connector in &config.connectors {
        let runbook = connector
            .runbook
            .as_ref()
            .expect("demo connectors have runbooks");
        assert!(runbook.is_file(), "{}", runbook.display());
    }
}
