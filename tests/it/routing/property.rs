//! Property test: with a default route last, routing is total and deterministic, and the rule
//! chosen is the first whose matchers all hold.

use std::collections::BTreeMap;

use proptest::prelude::*;
use triage::domain::routing::{IncidentFacts, RouteRule, route};

use super::{DEFAULT_SLA, rule};

const VALUES: &[&str] = &["a", "b", "ab", "ba", ""];
const PATTERNS: &[&str] = &["a", "b", "glob:a*", "glob:*b", "re:a|b", "re:.*", "glob:?"];
const KEYS: &[&str] = &["connector", "kind", "severity", "upstream", "label.team"];

fn arb_rule() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((0..KEYS.len(), 0..PATTERNS.len()), 0..3)
}

fn arb_facts() -> impl Strategy<Value = (Vec<usize>, Option<usize>)> {
    (
        prop::collection::vec(0..VALUES.len(), 4),
        prop::option::of(0..VALUES.len()),
    )
}

proptest! {
    /// With a default route last, every incident gets exactly one route: the first rule whose
    /// matchers all hold, and no rule after it is even tried.
    #[test]
    fn every_incident_gets_exactly_one_route(
        specs in prop::collection::vec(arb_rule(), 0..6),
        (values, label) in arb_facts(),
    ) {
        let mut rules: Vec<RouteRule> = specs.iter().enumerate().map(|(i, spec)| {
            let matchers: Vec<(&str, &str)> =
                spec.iter().map(|(k, p)| (KEYS[*k], PATTERNS[*p])).collect();
            // empty matcher lists would be defaults; keep them specific for this property
            let matchers = if matchers.is_empty() { vec![("kind", "never")] } else { matchers };
            rule(&format!("r{i}"), i + 1, &matchers)
        }).collect();
        rules.push(rule("default", 99, &[]));
        let facts = IncidentFacts {
            connector: VALUES[values[0]].into(),
            kind: VALUES[values[1]].into(),
            severity: VALUES[values[2]].into(),
            upstream: VALUES[values[3]].into(),
            labels: label.map(|l| ("team".to_owned(), VALUES[l].to_owned()))
                .into_iter().collect::<BTreeMap<_, _>>(),
        };
        let decision = route(&facts, &rules, &[], DEFAULT_SLA);
        let matched: Vec<&str> = decision.tried.iter().filter(|t| t.matched).map(|t| t.rule.as_str()).collect();
        prop_assert_eq!(matched.len(), 1);
        prop_assert_eq!(matched[0], decision.rule.as_str());
        let first = rules.iter().find(|r| r.check(&facts).0).map(|r| r.name.clone());
        prop_assert_eq!(Some(decision.rule.clone()), first);
        prop_assert_eq!(decision.tried.last().map(|t| t.rule.clone()), Some(decision.rule.clone()));
        // the same facts always take the same route
        prop_assert_eq!(route(&facts, &rules, &[], DEFAULT_SLA), decision);
    }
}
