//! `[[upstream]]` of kind "sqs" in `triage.toml`: region, endpoint, where the credentials come
//! from (never the secrets themselves), and every mistake named by file, line, column and field.
//! No server needed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use triage::config::{AwsCredentials, Config, ConfigError};
use triage::domain::UpstreamKind;

fn text(upstream: &str) -> String {
    format!(
        r#"operator = "ops@test"

[[upstream]]
id = "aws"
kind = "sqs"
{upstream}

[[person]]
id = "maria"
name = "Maria Lopez"

[[connector]]
id = "orders"
upstream = "aws"
source = "Shop"
destination = "ERP"
direction = "inbound"
purpose = "Orders into the ERP"
owner = "maria"
queue = "orders"
"#
    )
}

fn load(dir: &Path, text: &str) -> (std::path::PathBuf, Result<Config, ConfigError>) {
    let path = dir.join("triage.toml");
    std::fs::write(&path, text).expect("write");
    let loaded = Config::load(&path);
    (path, loaded)
}

/// 1-based (line, column) of the first `needle`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("needle");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

fn assert_refused(upstream: &str, needle: &str, field: &str, words: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = text(upstream);
    let (path, loaded) = load(dir.path(), &text);
    let err = loaded.expect_err("refused");
    let (line, column) = position(&text, needle);
    assert_eq!(
        (err.line, err.column, err.field.as_str()),
        (line, column, field),
        "{err}"
    );
    assert!(err.message.contains(words), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:{line}:{column}: {field}: ", path.display())),
        "{err}"
    );
}

#[test]
fn an_sqs_upstream_loads_region_endpoint_and_the_names_of_its_credentials() {
    let dir = tempfile::tempdir().expect("tempdir");
    // SAFETY (test): a variable of this test's own name, read by no other test.
    unsafe {
        std::env::set_var("TRIAGE_SQS_CONFIG_TEST_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("TRIAGE_SQS_CONFIG_TEST_SECRET", "wJalrXUtnFEMI/K7MDENG");
    }
    let (_, loaded) = load(
        dir.path(),
        &text(
            r#"url = "https://sqs.eu-west-1.amazonaws.com"
region = "eu-west-1"
access_key_id_env = "TRIAGE_SQS_CONFIG_TEST_KEY_ID"
secret_access_key_env = "TRIAGE_SQS_CONFIG_TEST_SECRET"
origin_attribute = "source_queue""#,
        ),
    );
    let config = loaded.expect("loads");
    let upstream = &config.upstreams[0];
    assert_eq!(upstream.kind, UpstreamKind::Sqs);
    let sqs = upstream.sqs.as_ref().expect("sqs settings");
    assert_eq!(sqs.region, "eu-west-1");
    assert_eq!(sqs.origin_attribute.as_deref(), Some("source_queue"));
    assert_eq!(
        sqs.credentials,
        AwsCredentials::Env {
            access_key_id: "TRIAGE_SQS_CONFIG_TEST_KEY_ID".into(),
            secret_access_key: "TRIAGE_SQS_CONFIG_TEST_SECRET".into(),
            session_token: None,
        }
    );
    assert_eq!(config.connectors[0].queue.as_deref(), Some("orders"));

    // The standard chain with a profile; the adapter is built without touching the network.
    let (_, loaded) = load(
        dir.path(),
        &text("url = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\nprofile = \"oncall\""),
    );
    let config = loaded.expect("loads");
    assert_eq!(
        config.upstreams[0]
            .sqs
            .as_ref()
            .map(|s| s.credentials.clone()),
        Some(AwsCredentials::Chain {
            profile: Some("oncall".into())
        })
    );
    let (upstreams, errors) =
        triage::sync::Upstreams::from_config(&config, &triage::config::RoutingConfig::default());
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        upstreams.get("aws").map(|u| u.kind()),
        Some(UpstreamKind::Sqs)
    );
}

#[test]
fn a_missing_region_is_named_at_the_upstream() {
    assert_refused(
        r#"url = "https://sqs.eu-west-1.amazonaws.com""#,
        "[[upstream]]",
        "upstream[0].region",
        r#"kind = "sqs" needs region, e.g. region = "eu-west-1""#,
    );
}

#[test]
fn a_malformed_region_or_endpoint_is_named_at_its_value() {
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"EU West\"",
        "\"EU West\"",
        "upstream[0].region",
        "expected an AWS region like \"eu-west-1\"",
    );
    assert_refused(
        "url = \"sqs.eu-west-1.amazonaws.com\"\nregion = \"eu-west-1\"",
        "\"sqs.eu-west-1",
        "upstream[0].url",
        "expected a http or https URL",
    );
    assert_refused(
        "region = \"eu-west-1\"",
        "[[upstream]]",
        "upstream[0].url",
        "missing field \"url\"",
    );
}

#[test]
fn credential_mistakes_are_named_at_their_key() {
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\ntoken_env = \"X\"",
        "\"X\"",
        "upstream[0].token_env",
        "AWS credentials come from the standard chain",
    );
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\naccess_key_id_env = \"K\"",
        "\"K\"",
        "upstream[0].access_key_id_env",
        "needs secret_access_key_env too",
    );
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\naccess_key_id_env = \"TRIAGE_SQS_NEVER_SET_1\"\nsecret_access_key_env = \"TRIAGE_SQS_NEVER_SET_2\"",
        "\"TRIAGE_SQS_NEVER_SET_1\"",
        "upstream[0].access_key_id_env",
        "environment variable TRIAGE_SQS_NEVER_SET_1 (access_key_id_env) is not set",
    );
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\ncredentials_file = \"aws.credentials\"",
        "\"aws.credentials\"",
        "upstream[0].credentials_file",
        "does not exist",
    );
}

#[test]
fn a_credentials_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("aws.credentials");
    std::fs::write(
        &file,
        "[default]\naws_access_key_id = A\naws_secret_access_key = B\n",
    )
    .expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let text = text(
        "url = \"http://127.0.0.1:9\"\nregion = \"eu-west-1\"\ncredentials_file = \"aws.credentials\"",
    );
    let (_, loaded) = load(dir.path(), &text);
    let err = loaded.expect_err("refused");
    assert_eq!(err.field, "upstream[0].credentials_file", "{err}");
    assert!(err.message.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (_, loaded) = load(dir.path(), &text);
    let config = loaded.expect("a private file loads");
    assert_eq!(
        config.upstreams[0]
            .sqs
            .as_ref()
            .map(|s| s.credentials.clone()),
        Some(AwsCredentials::File {
            path: file,
            profile: "default".into()
        })
    );
}

#[test]
fn sqs_keys_on_another_kind_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = r#"[[upstream]]
id = "rmq"
kind = "rabbitmq"
url = "http://127.0.0.1:15672"
amqp_url = "amqp://127.0.0.1:5672"
region = "eu-west-1"
"#;
    let (_, loaded) = load(dir.path(), text);
    let err = loaded.expect_err("refused");
    assert_eq!(
        (err.line, err.field.as_str()),
        (6, "upstream[0].region"),
        "{err}"
    );
    assert!(
        err.message.contains(r#"only valid for kind = "sqs""#),
        "{err}"
    );
}

#[test]
fn browse_pass_is_read_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, loaded) = load(
        dir.path(),
        &text("url = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\nbrowse_pass = \"2m\""),
    );
    let config = loaded.expect("loads");
    assert_eq!(
        config.upstreams[0].sqs.as_ref().and_then(|s| s.browse_pass),
        Some(std::time::Duration::from_secs(120))
    );
    let (_, loaded) = load(
        dir.path(),
        &text("url = \"http://127.0.0.1:9\"\nregion = \"us-east-1\""),
    );
    assert_eq!(
        loaded.expect("loads").upstreams[0]
            .sqs
            .as_ref()
            .and_then(|s| s.browse_pass),
        None
    );
    assert_refused(
        "url = \"http://127.0.0.1:9\"\nregion = \"us-east-1\"\nbrowse_pass = \"11m\"",
        "\"11m\"",
        "upstream[0].browse_pass",
        "between 1s and 10m",
    );
    let text = "[[upstream]]\nid = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:9093\"\nbrowse_pass = \"1m\"\n";
    let (_, loaded) = load(dir.path(), text);
    let err = loaded.expect_err("refused");
    assert_eq!(
        (err.line, err.field.as_str()),
        (5, "upstream[0].browse_pass"),
        "{err}"
    );
}
