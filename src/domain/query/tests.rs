use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::domain::{DeadLetter, DeadLetterError, Incident};

const DL: RowKind = RowKind::DeadLetters;
const INC: RowKind = RowKind::Incidents;

fn kinds(text: &str, kind: RowKind) -> Vec<(bool, String)> {
    Query::parse(text, kind)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .terms()
        .iter()
        .map(|t| (t.negated, format!("{:?}", t.kind)))
        .collect()
}

fn error(text: &str, kind: RowKind) -> QueryError {
    match Query::parse(text, kind) {
        Ok(q) => panic!("{text:?} parsed: {q:?}"),
        Err(e) => e,
    }
}

#[test]
fn words_quotes_escapes_and_negation() {
    assert!(Query::parse("", DL).unwrap().is_empty());
    assert!(Query::parse("   ", INC).unwrap().is_empty());
    assert_eq!(
        kinds("ord-7731  !Failed", DL),
        [
            (false, "Text(\"ord-7731\")".into()),
            (true, "Text(\"Failed\")".into())
        ]
    );
    assert_eq!(
        kinds(r#""lead source" !"a \"b\" \\c""#, DL),
        [
            (false, "Text(\"lead source\")".into()),
            (true, r#"Text("a \"b\" \\c")"#.into())
        ]
    );
    assert_eq!(
        kinds(r#"error:"column lead_source""#, DL),
        [(false, "Error(\"column lead_source\")".into())]
    );
    // A colon after a quote, or after something that is not a name, is text.
    assert_eq!(
        kinds(r#""ord:7" 10:42"#, DL),
        [
            (false, "Text(\"ord:7\")".into()),
            (false, "Text(\"10:42\")".into())
        ]
    );
    // Columns are characters, 1-based, and point at the term (after `!`).
    let q = Query::parse("é !connector:crm", DL).unwrap();
    assert_eq!(
        q.terms().iter().map(|t| t.column).collect::<Vec<_>>(),
        [1, 4]
    );
}

#[test]
fn every_field_term_parses_for_its_kind() {
    let dl = kinds(
        "connector:crm error:E1 origin:orders.work header:X-Tenant=acme header:x-retry \
         status:Replayed age:<2h age:>1d since:2h until:2026-12-01 since:2026-12-01T02:10:00Z \
         re:payload=^\\{",
        DL,
    );
    let dl: Vec<&str> = dl.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(dl[0], "Connector(\"crm\")");
    assert_eq!(dl[1], "Error(\"E1\")");
    assert_eq!(dl[2], "Origin(\"orders.work\")");
    assert_eq!(
        dl[3],
        "Header { name: \"X-Tenant\", value: Some(\"acme\") }"
    );
    assert_eq!(dl[4], "Header { name: \"x-retry\", value: None }");
    assert_eq!(dl[5], "Status(DeadLetter(Replayed))");
    assert!(dl[6].starts_with("Age { cmp: YoungerThan"), "{}", dl[6]);
    assert!(dl[7].starts_with("Age { cmp: OlderThan"), "{}", dl[7]);
    assert!(dl[8].starts_with("Since(Ago("), "{}", dl[8]);
    assert!(
        dl[9].starts_with("Until(At(2026-12-01T00:00:00Z"),
        "{}",
        dl[9]
    );
    assert!(
        dl[10].starts_with("Since(At(2026-12-01T02:10:00Z"),
        "{}",
        dl[10]
    );
    assert!(dl[11].starts_with("Regex { field: Payload"), "{}", dl[11]);

    let inc = kinds(
        "status:acked severity:crit owner:alice re:title=(?i)timeout CONNECTOR:crm",
        INC,
    );
    let inc: Vec<&str> = inc.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(inc[0], "Status(Incident(Acknowledged))");
    assert_eq!(inc[1], "Severity(Critical)");
    assert_eq!(inc[2], "Owner(\"alice\")");
    assert!(inc[3].starts_with("Regex { field: Title"), "{}", inc[3]);
    assert_eq!(
        inc[4], "Connector(\"crm\")",
        "field names ignore ASCII case"
    );
}

#[test]
fn errors_say_where_and_why() {
    let e = error("status:dead colour:red", DL);
    assert_eq!(e.column, 13);
    assert!(
        e.reason
            .starts_with("unknown field \"colour\" (fields: connector, error,"),
        "{e}"
    );
    assert_eq!(
        e.render("status:dead colour:red"),
        format!(
            "at column 13: {}\n  status:dead colour:red\n              ^",
            e.reason
        )
    );
    let e = error("x severity:major", DL);
    assert_eq!(
        (e.column, e.reason.as_str()),
        (3, "severity: applies to incidents, not dead letters")
    );
    let e = error("header:a=b", INC);
    assert_eq!(
        e.reason, "header: applies to dead letters, not incidents",
        "{e}"
    );
    let e = error("age:2h", DL);
    assert_eq!(
        (e.column, e.reason.as_str()),
        (5, "age: expects <2h or >1d")
    );
    assert_eq!(error("age:<soon", INC).reason, "age: expects <2h or >1d");
    let e = error("re:error=(unclosed", DL);
    assert_eq!(e.column, 10);
    assert!(e.reason.starts_with("re: bad regex: "), "{e}");
    assert!(!e.reason.contains('\n'), "one line: {e}");
    assert!(
        error("re:(a)", DL)
            .reason
            .starts_with("re: expects re:FIELD=REGEX"),
    );
    assert!(
        error("re:title=x", DL)
            .reason
            .starts_with("re: unknown field \"title\" (fields for dead letters:"),
    );
    let e = error(r#"a "open"#, DL);
    assert_eq!(
        (e.column, e.reason.as_str()),
        (3, "unterminated quote: close it with \"")
    );
    let e = error("a ! b", DL);
    assert_eq!(e.column, 3);
    assert!(e.reason.starts_with("! must be followed by a term"));
    let e = error("connector:", DL);
    assert_eq!(
        (e.column, e.reason.as_str()),
        (11, "connector: expects a value after the colon")
    );
    assert!(
        error("status:open", DL)
            .reason
            .contains("dead, replayed or discarded")
    );
    assert!(
        error("status:dead", INC)
            .reason
            .contains("open, acknowledged")
    );
    assert!(
        error("severity:huge", INC)
            .reason
            .starts_with("severity: expects critical")
    );
    assert!(
        error("since:yesterday", DL)
            .reason
            .starts_with("since: expects a time")
    );
    assert!(
        error("until:2026-13-01", INC)
            .reason
            .starts_with("until: expects a time")
    );
    assert_eq!(error(r#""""#, DL).reason, "empty quotes");
}

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

fn letter() -> DeadLetter {
    DeadLetter {
        upstream: "rmq".into(),
        id: "dl-1".into(),
        connector: "crm-sync".into(),
        payload: b"{\"lead_source\":\"Webinar\"}\x00\xff".to_vec(),
        content_type: None,
        headers: vec![
            (
                "x-death".into(),
                "[{count=3, exchange=crm, queue=crm.work, reason=rejected}, \
                 {count=1, exchange=, queue=crm.retry, reason=expired}]"
                    .into(),
            ),
            ("X-Tenant".into(), "acme".into()),
        ],
        error: DeadLetterError {
            code: "INVALID_FIELD".into(),
            message: "No such column lead_source".into(),
            http_status: None,
            vendor_response: None,
        },
        attempts: 4,
        first_failed_at: now() - TimeDelta::hours(5),
        last_failed_at: now() - TimeDelta::hours(3),
        state: crate::domain::DeadLetterState::Dead,
        updated_at: now(),
    }
}

fn dl_matches(text: &str) -> bool {
    Query::parse(text, DL)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .matches_dead_letter(&letter(), now())
}

#[test]
fn dead_letters_match_each_term() {
    for yes in [
        "",
        "LEAD_SOURCE webinar",
        "x-tenant",
        "connector:crm-sync",
        "error:\"column lead\"",
        "error:invalid_field",
        "origin:crm.work",
        "header:x-tenant=acme",
        "header:X-TENANT",
        "status:dead",
        "age:>2h age:<4h",
        "since:4h until:2h",
        "since:2026-12-01 until:2026-12-01T09:00:01Z",
        "re:payload=\"Webinar\\\"\\}\"",
        "re:text=(?i)^dl-\\d$",
        "re:origin=^crm\\.",
        "!connector:crm !status:replayed !header:x-tenant=ACME",
    ] {
        assert!(dl_matches(yes), "{yes:?} should match");
    }
    for no in [
        "webinar nothing-like-this",
        "connector:crm",
        "origin:crm.retry",
        "header:x-tenant=acm",
        "header:x-other",
        "status:replayed",
        "age:<2h",
        "age:>4h",
        "since:2h",
        "until:4h",
        "re:id=^x",
        "!webinar",
    ] {
        assert!(!dl_matches(no), "{no:?} should not match");
    }
}

#[test]
fn origin_is_the_latest_death_queue_else_the_connector() {
    let l = letter();
    assert_eq!(dead_letter_origin(&l.headers, &l.connector), "crm.work");
    assert_eq!(dead_letter_origin(&[], "crm-sync"), "crm-sync");
    let only = [("x-death".to_string(), "[{queue=q1}]".to_string())];
    assert_eq!(dead_letter_origin(&only, "c"), "q1");
    // Found by the fuzz smoke (amqp_headers): a header `x-dEath` is not RabbitMQ's `x-death`,
    // and the adapter gives such a letter no origin queue, so neither may the query.
    let other = [("x-dEath".to_string(), "[{queue=orders.work}]".to_string())];
    assert_eq!(dead_letter_origin(&other, "c"), "c");
}

#[test]
fn incidents_match_status_severity_owner_and_opened_time() {
    let incident = Incident {
        upstream: "am".into(),
        id: "inc-7".into(),
        connector: "crm".into(),
        kind: "delivery_failures".into(),
        severity: crate::domain::Severity::Critical,
        status: crate::domain::IncidentStatus::Acknowledged,
        title: "CRM timeouts".into(),
        detail: String::new(),
        opened_at: now() - TimeDelta::minutes(30),
        updated_at: now(),
        acked_by: Some("bob".into()),
        acked_at: None,
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    };
    let m = |text: &str, owner: Option<&str>| {
        Query::parse(text, INC)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .matches_incident(&incident, owner, now())
    };
    assert!(m("timeouts bob status:acked severity:p1 age:<1h", None));
    assert!(m("owner:ALICE re:owner=^al", Some("alice")));
    assert!(!m("owner:alice", None));
    assert!(m("!owner:alice", None));
    assert!(!m("status:open", None));
    assert!(!m("severity:major", None));
    assert!(!m("age:>1h", None));
    assert!(m("re:kind=failures$ !re:title=^x", None));
}

proptest::proptest! {
    /// Whatever is typed, the parser answers (no panic) and an error points inside the text
    /// (or just past its end).
    #[test]
    fn any_text_parses_or_says_where(text in "[ a-z!:\"\\\\=<>()*.é0-9-]{0,24}") {
        for kind in [DL, INC] {
            if let Err(e) = Query::parse(&text, kind) {
                proptest::prop_assert!(e.column >= 1 && e.column <= text.chars().count() + 1, "{e}");
                proptest::prop_assert!(e.render(&text).ends_with('^'));
            }
        }
    }
}
