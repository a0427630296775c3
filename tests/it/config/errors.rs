//! One test per kind of config error: each asserts file, line, field path and a key phrase.

use super::{BASE, assert_error, load, with};
use triage::config::Config;

#[test]
fn syntax_error_points_at_the_broken_value() {
    let text = with(
        "operator = \"ops@test\"",
        "operator = \"ops@test\"\nread_only = tru",
    );
    assert_error(
        &text,
        "read_only = tru",
        "read_only",
        "invalid TOML: invalid boolean, expected \"true\"; found \"tru\"",
    );
}

#[test]
fn unknown_top_level_key_is_named_with_the_allowed_keys() {
    let text = format!("ownr = \"maria\"\n{BASE}");
    assert_error(
        &text,
        "ownr",
        "ownr",
        r#"unknown field "ownr", expected one of "operator""#,
    );
}

#[test]
fn unknown_key_in_a_table_has_the_table_path() {
    let text = with("backup = \"dev\"", "backup = \"dev\"\nownr = \"maria\"");
    assert_error(
        &text,
        "ownr",
        "connector[0].ownr",
        r#"unknown field "ownr""#,
    );
}

#[test]
fn unknown_key_in_a_route_has_the_route_path() {
    let text = format!("{BASE}\n[[route]]\nname = \"default\"\nownr = \"maria\"\n");
    assert_error(&text, "ownr", "route[0].ownr", r#"unknown field "ownr""#);
}

#[test]
fn wrong_type_says_what_was_expected() {
    let text = with(
        "operator = \"ops@test\"",
        "operator = \"ops@test\"\nread_only = \"yes\"",
    );
    assert_error(&text, "read_only", "read_only", "expected a boolean");
}

#[test]
fn bad_duration_shows_an_example() {
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"http://127.0.0.1:7777\"\npoll_interval = \"soon\"",
    );
    let err = assert_error(&text, "poll_interval", "upstream[0].poll_interval", "");
    assert_eq!(
        err.message,
        r#"expected a duration like "30s" or "15m", found "soon""#
    );
}

#[test]
fn bad_enum_value_lists_the_variants() {
    let text = with("direction = \"inbound\"", "direction = \"sideways\"");
    assert_error(
        &text,
        "sideways",
        "connector[0].direction",
        r#"unknown variant "sideways", expected one of "inbound""#,
    );
    let text = with("kind = \"connector_api\"", "kind = \"kafka\"");
    assert_error(
        &text,
        "kafka",
        "upstream[0].kind",
        r#"expected one of "connector_api", "rabbitmq", "alertmanager""#,
    );
}

#[test]
fn missing_required_key_points_at_the_table_header() {
    let text = with("purpose = \"Signups into the CRM\"\n", "");
    assert_error(
        &text,
        "[[connector]]",
        "connector[0].purpose",
        r#"missing field "purpose""#,
    );
}

#[test]
fn unknown_owner_lists_known_people_and_teams() {
    let text = with("owner = \"maria\"", "owner = \"bob\"");
    let err = assert_error(&text, "owner = \"bob\"", "connector[0].owner", "");
    assert_eq!(
        err.message,
        r#"unknown person or team "bob" (known: maria, dev, revops)"#
    );
    let shown = err.to_string();
    assert!(shown.ends_with(r#"triage.toml:29:9: connector[0].owner: unknown person or team "bob" (known: maria, dev, revops)"#), "{shown}");
}

#[test]
fn other_unknown_references_are_rejected() {
    let text = with("upstream = \"demo\"", "upstream = \"prod\"");
    assert_error(
        &text,
        "upstream = \"prod\"",
        "connector[0].upstream",
        r#"unknown upstream "prod" (known: demo)"#,
    );
    let text = with(
        "members = [\"maria\", \"dev\"]",
        "members = [\"maria\", \"devv\"]",
    );
    assert_error(
        &text,
        "members",
        "team[0].members[1]",
        r#"unknown person "devv""#,
    );
    let text = with("team = \"revops\"", "team = \"sales\"");
    assert_error(
        &text,
        "team = \"sales\"",
        "person[0].team",
        r#"unknown team "sales" (known: revops)"#,
    );
}

#[test]
fn duplicate_id_names_the_first_definition() {
    let text = format!("{BASE}\n[[person]]\nid = \"dev\"\nname = \"Another Dev\"\n");
    let lines: Vec<&str> = text.lines().collect();
    let needle_line = lines
        .iter()
        .rposition(|l| *l == "id = \"dev\"")
        .map(|i| i + 1);
    let (_dir, _path, result) = load(&text);
    let err = result.expect_err("duplicate rejected");
    assert_eq!(Some(err.line), needle_line, "{err}");
    assert_eq!(err.field, "person[2].id");
    assert!(
        err.message
            .contains(r#"duplicate person id "dev" (first defined on line 19)"#),
        "{err}"
    );
}

#[test]
fn backup_must_differ_from_owner() {
    let text = with("backup = \"dev\"", "backup = \"maria\"");
    assert_error(
        &text,
        "backup = \"maria\"",
        "connector[0].backup",
        "same as owner",
    );
}

#[test]
fn only_one_token_source_is_allowed() {
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"http://127.0.0.1:7777\"\ntoken_env = \"DEMO_TOKEN\"\ntoken_cmd = \"pass show demo\"",
    );
    assert_error(
        &text,
        "token_cmd",
        "upstream[0].token_cmd",
        "only one of token_env, token_file, token_cmd",
    );
}

#[test]
fn rabbitmq_keys_are_rejected_on_other_kinds() {
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"http://127.0.0.1:7777\"\nvhost = \"/\"",
    );
    assert_error(
        &text,
        "vhost",
        "upstream[0].vhost",
        r#"only valid for kind = "rabbitmq""#,
    );
    let text = with(
        "backup = \"dev\"",
        "backup = \"dev\"\nqueue = \"orders.work\"",
    );
    assert_error(
        &text,
        "queue",
        "connector[0].queue",
        r#"only valid on connectors of a "rabbitmq" or "sqs" upstream"#,
    );
}

#[test]
fn bad_url_and_tiny_poll_interval_and_bad_id_are_rejected() {
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"ftp://127.0.0.1\"",
    );
    assert_error(
        &text,
        "ftp://",
        "upstream[0].url",
        "expected a http or https URL",
    );
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"localhost 7777\"",
    );
    assert_error(
        &text,
        "localhost 7777",
        "upstream[0].url",
        "found \"localhost 7777\"",
    );
    let text = with(
        "url = \"http://127.0.0.1:7777\"",
        "url = \"http://127.0.0.1:7777\"\npoll_interval = \"50ms\"",
    );
    assert_error(
        &text,
        "poll_interval",
        "upstream[0].poll_interval",
        "minimum 200ms",
    );
    let text = with(
        "id = \"hubspot-form-to-salesforce\"",
        "id = \"HubSpot Form\"",
    );
    assert_error(
        &text,
        "HubSpot Form",
        "connector[0].id",
        "invalid connector id",
    );
}

#[test]
fn unreadable_file_says_how_to_create_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.toml");
    let err = Config::load(&path).expect_err("missing file");
    assert_eq!(
        (err.file.as_path(), err.line, err.field.as_str()),
        (path.as_path(), 1, "(file)")
    );
    assert!(err.message.contains("No such file"), "{err}");
    assert!(
        err.message
            .contains("create it from assets/triage.example.toml"),
        "{err}"
    );
}

#[test]
fn notifier_needs_exactly_one_url_source_and_a_known_kind() {
    let none = format!("{BASE}\n[[notifier]]\nid = \"chat\"\nkind = \"slack\"\n");
    assert_error(
        &none,
        "[[notifier]]",
        "notifier[0].url",
        "one of url, url_env or url_file is required",
    );
    let two = format!(
        "{BASE}\n[[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl = \"https://hooks.example/x\"\nurl_env = \"HOOK\"\n"
    );
    assert_error(
        &two,
        "url_env = ",
        "notifier[0].url_env",
        "only one of url, url_env, url_file",
    );
    let bad = format!(
        "{BASE}\n[[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl = \"hooks.example/x\"\n"
    );
    assert_error(
        &bad,
        "url = \"hooks",
        "notifier[0].url",
        "expected an http or https URL",
    );
    let kind = format!(
        "{BASE}\n[[notifier]]\nid = \"chat\"\nkind = \"pager\"\nurl = \"https://hooks.example/x\"\n"
    );
    assert_error(&kind, "kind = \"pager\"", "notifier[0].kind", "slack");
}
