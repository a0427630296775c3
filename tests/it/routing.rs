//! Routing: first match wins, default route, exact/glob/regex/label/upstream matchers, connector
//! fallbacks, the explanation shown to operators, and a property test that every incident gets
//! exactly one route when a default exists.

use std::time::Duration;

use triage::domain::route_pattern::{FactKey, FactMatcher, Pattern};
use triage::domain::routing::{IMPLICIT_DEFAULT_RULE, IncidentFacts, RouteRule, RuleOrigin, route};
use triage::domain::{Connector, ConnectorStatus, QueueStats};

/// `triage check` audits and the inventory export.
#[path = "routing/audit.rs"]
mod audit;
/// The `triage routes test`, `check` and `inventory export` commands, run as a binary.
#[path = "routing/cli.rs"]
mod cli;
/// SLA clocks with a fake clock.
#[path = "routing/clock.rs"]
mod clock;
/// `[[route]]` / `[[chain]]` config errors, located.
#[path = "routing/config_errors.rs"]
mod config_errors;
/// Property: every incident gets exactly one route when a default exists.
#[path = "routing/property.rs"]
mod property;

pub(crate) const DEFAULT_SLA: Duration = Duration::from_secs(30 * 60);

pub(crate) fn rule(name: &str, line: usize, matchers: &[(&str, &str)]) -> RouteRule {
    RouteRule {
        name: name.into(),
        origin: RuleOrigin {
            file: "/etc/triage/triage.toml".into(),
            line,
        },
        matchers: matchers
            .iter()
            .map(|(key, pattern)| FactMatcher {
                key: FactKey::parse(key).expect("known key"),
                pattern: Pattern::parse(pattern).expect("valid pattern"),
            })
            .collect(),
        owner: None,
        backup: None,
        ack_sla: None,
        chain: None,
        runbook: None,
    }
}

fn owned(mut r: RouteRule, owner: &str, chain: &str) -> RouteRule {
    r.owner = Some(owner.into());
    r.chain = Some(chain.into());
    r
}

fn connector(id: &str, upstream: &str, owner: &str, backup: &str, sla_min: u64) -> Connector {
    Connector {
        id: id.into(),
        upstream: upstream.into(),
        name: id.into(),
        source: None,
        destination: None,
        direction: None,
        purpose: None,
        owner: Some(owner.into()),
        backup: Some(backup.into()),
        ack_sla: Some(Duration::from_secs(sla_min * 60)),
        runbook: Some(format!("runbooks/{id}.md")),
        contract: None,
        status: ConnectorStatus::Unknown,
        stats: QueueStats::default(),
        last_error: None,
        updated_at: None,
    }
}

fn inventory() -> Vec<Connector> {
    vec![
        connector("hubspot-form-to-salesforce", "runtime", "maria", "dev", 15),
        connector("clearbit-enrichment", "alerts", "lee", "data-eng", 120),
    ]
}

fn facts(pairs: &[&str]) -> IncidentFacts {
    IncidentFacts::from_pairs(pairs.iter().copied()).expect("valid pairs")
}

fn rules() -> Vec<RouteRule> {
    vec![
        owned(
            rule("vendor-outages", 10, &[("kind", "vendor_outage")]),
            "sam",
            "vendor",
        ),
        owned(
            rule(
                "hubspot-major",
                20,
                &[
                    ("connector", "glob:hub*-to-*"),
                    ("severity", "re:major|critical"),
                ],
            ),
            "dev",
            "major",
        ),
        owned(
            rule("revops-label", 30, &[("label.team", "revops")]),
            "revops",
            "minor",
        ),
        owned(
            rule("from-alertmanager", 40, &[("upstream", "alerts")]),
            "data-eng",
            "minor",
        ),
        rule("default", 50, &[]),
    ]
}

/// (facts, expected rule, expected owner, expected ack SLA in minutes)
#[test]
fn table_first_match_wins_with_connector_fallbacks() {
    let cases: &[(&[&str], &str, Option<&str>, u64)] = &[
        // exact kind beats everything after it, even a matching glob rule
        (
            &[
                "connector=hubspot-form-to-salesforce",
                "kind=vendor_outage",
                "severity=critical",
            ],
            "vendor-outages",
            Some("sam"),
            15,
        ),
        // glob on connector + anchored regex on severity
        (
            &[
                "connector=hubspot-form-to-salesforce",
                "kind=webhook_drop",
                "severity=major",
            ],
            "hubspot-major",
            Some("dev"),
            15,
        ),
        // regex is anchored: "warning" does not match "major|critical"; label rule matches
        (
            &[
                "connector=hubspot-form-to-salesforce",
                "severity=warning",
                "label.team=revops",
            ],
            "revops-label",
            Some("revops"),
            15,
        ),
        // upstream matcher
        (
            &[
                "connector=clearbit-enrichment",
                "upstream=alerts",
                "severity=info",
            ],
            "from-alertmanager",
            Some("data-eng"),
            120,
        ),
        // nothing specific: the default route, owner and SLA from the connector
        (
            &["connector=clearbit-enrichment", "severity=major"],
            "default",
            Some("lee"),
            120,
        ),
        // unknown connector on the default route: no owner, default SLA
        (&["connector=unknown-thing", "kind=x"], "default", None, 30),
    ];
    let rules = rules();
    for (pairs, want_rule, want_owner, want_sla_min) in cases {
        let decision = route(&facts(pairs), &rules, &inventory(), DEFAULT_SLA);
        assert_eq!(decision.rule, *want_rule, "{pairs:?}");
        assert_eq!(decision.owner.as_deref(), *want_owner, "{pairs:?}");
        assert_eq!(
            decision.ack_sla,
            Duration::from_secs(want_sla_min * 60),
            "{pairs:?}"
        );
        let last = decision.tried.last().expect("a rule was tried");
        assert!(last.matched && last.rule == *want_rule, "{pairs:?}");
        assert!(
            decision.tried[..decision.tried.len() - 1]
                .iter()
                .all(|t| !t.matched)
        );
    }
}

#[test]
fn explanation_names_rule_file_and_line_and_tree_says_why() {
    let decision = route(
        &facts(&["connector=clearbit-enrichment", "upstream=alerts"]),
        &rules(),
        &inventory(),
        DEFAULT_SLA,
    );
    assert_eq!(
        decision.explanation(),
        r#"matched rule "from-alertmanager" at triage.toml:40"#
    );
    assert_eq!(
        decision.backup.as_deref(),
        Some("data-eng"),
        "connector backup"
    );
    assert_eq!(decision.chain.as_deref(), Some("minor"));
    let why: Vec<&str> = decision.tried.iter().map(|t| t.why.as_str()).collect();
    assert_eq!(why[0], r#"kind is "", not "vendor_outage""#);
    assert!(why[1].starts_with(r#"connector is "clearbit-enrichment", not "glob:hub*-to-*""#));
    assert_eq!(why[2], "label.team is not set on this incident");
    assert_eq!(why[3], r#"upstream="alerts""#);
    let report = triage::domain::route_report::render(&decision, None, true);
    assert!(
        report.contains("✗ vendor-outages (triage.toml:10)"),
        "{report}"
    );
    assert!(
        report.contains("✓ from-alertmanager (triage.toml:40)"),
        "{report}"
    );
    assert!(report.contains("owner:    data-eng"), "{report}");
}

#[test]
fn rule_fields_override_the_connector() {
    let mut special = rule("special", 5, &[("connector", "hubspot-form-to-salesforce")]);
    special.backup = Some("lee".into());
    special.ack_sla = Some(Duration::from_secs(300));
    special.runbook = Some("/runbooks/special.md".into());
    let rules = vec![special, rule("default", 9, &[])];
    let d = route(
        &facts(&["connector=hubspot-form-to-salesforce"]),
        &rules,
        &inventory(),
        DEFAULT_SLA,
    );
    assert_eq!(
        d.owner.as_deref(),
        Some("maria"),
        "owner from the connector"
    );
    assert_eq!(d.backup.as_deref(), Some("lee"));
    assert_eq!(d.ack_sla, Duration::from_secs(300));
    assert_eq!(d.runbook.as_deref(), Some("/runbooks/special.md"));
}

#[test]
fn no_rules_at_all_uses_the_implicit_default() {
    let d = route(
        &facts(&["connector=hubspot-form-to-salesforce"]),
        &[],
        &inventory(),
        DEFAULT_SLA,
    );
    assert_eq!(d.rule, IMPLICIT_DEFAULT_RULE);
    assert_eq!(d.owner.as_deref(), Some("maria"));
    assert_eq!(d.ack_sla, Duration::from_secs(15 * 60));
    assert_eq!(d.origin.to_string(), "built-in");
}

#[test]
fn key_value_pairs_are_validated_and_severity_normalised() {
    let f = facts(&["severity=page", "label.env=prod"]);
    assert_eq!(f.severity, "critical");
    assert_eq!(f.labels.get("env").map(String::as_str), Some("prod"));
    let err = IncidentFacts::from_pairs(["colour=red"]).expect_err("unknown key");
    assert!(
        err.contains("connector, kind, severity, upstream or label.<name>"),
        "{err}"
    );
    let err = IncidentFacts::from_pairs(["connector"]).expect_err("no =");
    assert!(err.contains("not key=value"), "{err}");
}

#[test]
fn bad_patterns_are_rejected_with_the_reason() {
    let err = Pattern::parse("re:(unclosed").expect_err("bad regex");
    assert!(err.contains("invalid regular expression"), "{err}");
    let err = Pattern::parse("glob:[abc").expect_err("bad glob");
    assert!(err.contains("invalid glob"), "{err}");
    assert!(
        Pattern::parse("glob:hub*")
            .expect("glob")
            .matches("hubspot-form")
    );
    assert!(
        !Pattern::parse("re:hub").expect("re").matches("hubspot"),
        "anchored"
    );
}
