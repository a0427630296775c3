use super::*;

#[test]
fn userinfo_password_and_secret_query_values_are_masked() {
    assert_eq!(
        redact_url("http://user:pass@127.0.0.1:9/v1?page=2&token=abc&api_key=k&Sig=s"),
        "http://user:***@127.0.0.1:9/v1?page=2&token=***&api_key=***&Sig=***"
    );
    assert_eq!(redact_url("amqp://guest@host/vh"), "amqp://guest@host/vh");
    assert_eq!(redact_url("not a url"), "not a url");
}

#[test]
fn a_webhook_keeps_its_service_and_hides_its_secret_path() {
    let slack = "https://hooks.slack.com/services/T000/B000/XOXBsecret";
    assert_eq!(
        redact_secret_url(slack),
        "https://hooks.slack.com/services/T000/…(redacted)"
    );
    assert_eq!(
        redact_secret_url("http://127.0.0.1:9/hook/abcdef"),
        "http://127.0.0.1:9/hook/…(redacted)"
    );
    assert_eq!(
        redact_secret_url("http://127.0.0.1:9/abcdef"),
        "http://127.0.0.1:9/…(redacted)"
    );
    assert_eq!(redact_secret_url("http://h:9"), "http://h:9");
}

#[test]
fn registered_secrets_are_scrubbed_from_any_text() {
    let mut secrets = Secrets::default();
    secrets.add("s3cr3t-token-value");
    secrets.add("abc");
    secrets.add_url("http://127.0.0.1:9/services/T000/B000/XOXBsecretpart");
    let text = "notify.retry: chat: cannot reach http://127.0.0.1:9/services/T000/B000/XOXBsecretpart: \
                error sending request for url (http://127.0.0.1:9/services/T000/B000/XOXBsecretpart) \
                token s3cr3t-token-value; path B000/XOXBsecretpart; abc stays";
    let scrubbed = secrets.scrub(text);
    assert!(!scrubbed.contains("XOXBsecretpart"), "{scrubbed}");
    assert!(!scrubbed.contains("s3cr3t-token-value"), "{scrubbed}");
    assert!(
        scrubbed.contains("cannot reach http://127.0.0.1:9/services/T000/…(redacted):"),
        "{scrubbed}"
    );
    assert!(scrubbed.contains("abc stays"), "{scrubbed}");
}

#[test]
fn shapes_are_redacted_inside_free_text() {
    let secrets = Secrets::default();
    let text = "GET \"http://bob:hunter22@10.0.0.1/x?access_token=zz\" failed (https://a:b@h) \
                Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload bearer short 1ftp://u:pw@h";
    let scrubbed = secrets.scrub(text);
    assert_eq!(
        scrubbed,
        "GET \"http://bob:***@10.0.0.1/x?access_token=***\" failed (https://a:***@h) \
         Authorization: Bearer *** bearer short 1ftp://u:***@h"
    );
    assert!(matches!(secrets.scrub("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn the_process_registry_scrubs_what_was_registered() {
    register("proc-wide-secret-42");
    register_url("https://hooks.example.test/services/T1/B2/procwidehook");
    let text = "x proc-wide-secret-42 https://hooks.example.test/services/T1/B2/procwidehook y";
    assert_eq!(
        scrub(text),
        "x *** https://hooks.example.test/services/T1/…(redacted) y"
    );
}

#[test]
fn words_in_a_webhook_path_are_not_taken_for_secrets() {
    let mut secrets = Secrets::default();
    secrets.add_url("http://127.0.0.1:9/notifications/webhook");
    assert_eq!(
        secrets.scrub("chat notified via chat (webhook)"),
        "chat notified via chat (webhook)"
    );
    assert_eq!(
        secrets.scrub("POST http://127.0.0.1:9/notifications/webhook failed"),
        "POST http://127.0.0.1:9/notifications/…(redacted) failed"
    );
}

proptest::proptest! {
    #[test]
    fn a_registered_secret_never_survives_scrubbing(
        before in "[ -~]{0,40}",
        secret in "[A-Za-z0-9_-]{6,40}",
        after in "[ -~]{0,40}",
    ) {
        let mut secrets = Secrets::default();
        secrets.add(&secret);
        let text = format!("{before}{secret}{after}{secret}");
        let scrubbed = secrets.scrub(&text);
        proptest::prop_assert!(!scrubbed.contains(&secret), "{}", scrubbed);
    }

    #[test]
    fn a_url_password_never_survives_scrubbing(
        before in "[ -~]{0,40}",
        password in "[A-Za-z0-9]{1,30}",
        after in "[ -~]{0,40}",
    ) {
        let secrets = Secrets::default();
        let text = format!("{before}https://ops:{password}@127.0.0.1:9/x {after}");
        let glued = format!("x://y{before}https://ops:{password}@127.0.0.1:9/x {after}");
        let leaked = format!(":{password}@");
        proptest::prop_assert!(!secrets.scrub(&glued).contains(&leaked));
        let scrubbed = secrets.scrub(&text);
        let expected = "https://ops:***@127.0.0.1:9/x ";
        proptest::prop_assert!(scrubbed.contains(expected), "{}", scrubbed);
    }
}
