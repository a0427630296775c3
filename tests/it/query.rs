//! The query language run by the store (`--where`, the console's `/`) selects exactly the rows
//! the Rust evaluation selects, for a table of queries and for generated ones, whether listed
//! page by page, collected whole or counted.

use std::collections::{BTreeMap, HashMap};

use chrono::{TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use triage::domain::query::{Query, RowKind};
use triage::domain::routing::StoredRoute;
use triage::domain::{
    ConnectionState, DeadLetter, DeadLetterError, DeadLetterState, Incident, IncidentStatus,
    Severity, Timestamp,
};
use triage::store::{DeadLetterPageQuery, IncidentPageQuery, Store, SyncBatch};

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
}

const CONNECTORS: [&str; 3] = ["crm", "erp", "ads-to-warehouse"];
const QUEUES: [&str; 3] = ["crm.work", "crm.retry", "orders.work"];

fn dead_letter(upstream: &str, n: usize) -> DeadLetter {
    let connector = CONNECTORS[n % 3];
    let mut headers = vec![("x-request-id".to_string(), format!("req-{n}"))];
    if !n.is_multiple_of(4) {
        // RabbitMQ-style: the latest death first; its queue is the origin.
        headers.push((
            "x-death".into(),
            format!(
                "[{{count={}, exchange=crm, queue={}, reason=rejected}}, {{count=1, exchange=, queue={}, reason=expired}}]",
                n % 5 + 1,
                QUEUES[n % 3],
                QUEUES[(n + 1) % 3]
            ),
        ));
    }
    if n % 3 == 1 {
        headers.push((
            "X-Tenant".into(),
            ["acme", "ACME", "globex"][n % 7 % 3].into(),
        ));
    }
    let payload = match n % 6 {
        0 => format!("{{\"lead_source\":\"Webinar\",\"order\":\"ORD-{n}\"}}").into_bytes(),
        1 => vec![0x00, 0xff, b'o', b'r', b'd', 0x10, (n % 256) as u8],
        2 => format!("{{\"pad\":\"{}\",\"ref\":\"deep-{n}\"}}", "x".repeat(600)).into_bytes(),
        3 => Vec::new(),
        _ => format!("plain text ticket {n} with Café").into_bytes(),
    };
    let (code, message) = [
        ("INVALID_FIELD", "No such column lead_source"),
        ("http_429", "rate limited"),
        ("rejected", "rejected from queue crm.work"),
        ("TIMEOUT", "upstream timed out after 30s"),
    ][n % 4];
    // Failures spread from 3 days ago to now, at whole milliseconds like the store keeps.
    let failed = now() - TimeDelta::milliseconds(((n * 7919) % (3 * 86_400)) as i64 * 1000 + 17);
    DeadLetter {
        upstream: upstream.into(),
        id: format!("dl-{n:04}"),
        connector: connector.into(),
        payload,
        content_type: None,
        headers,
        error: DeadLetterError {
            code: code.into(),
            message: message.into(),
            http_status: None,
            vendor_response: None,
        },
        attempts: 1,
        first_failed_at: failed - TimeDelta::minutes(5),
        last_failed_at: failed,
        state: [
            DeadLetterState::Dead,
            DeadLetterState::Dead,
            DeadLetterState::Replayed,
            DeadLetterState::Discarded,
        ][n % 9 % 4],
        updated_at: failed,
    }
}

fn incident(n: usize) -> Incident {
    Incident {
        upstream: "am".into(),
        id: format!("inc-{n:03}"),
        connector: CONNECTORS[n % 3].into(),
        kind: ["delivery_failures", "lag", "schema_drift"][n % 3].into(),
        severity: [
            Severity::Critical,
            Severity::Major,
            Severity::Warning,
            Severity::Info,
        ][n % 4],
        status: [
            IncidentStatus::Open,
            IncidentStatus::Acknowledged,
            IncidentStatus::Suppressed,
            IncidentStatus::Resolved,
        ][n % 5 % 4],
        title: format!("{} timeouts on lead_source #{n}", CONNECTORS[n % 3]),
        detail: String::new(),
        opened_at: now() - TimeDelta::seconds(((n * 4721) % 200_000) as i64),
        updated_at: now(),
        acked_by: (n % 3 == 1).then(|| "bob".to_string()),
        acked_at: None,
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: BTreeMap::new(),
        links: vec![],
    }
}

fn owner_of(n: usize) -> Option<&'static str> {
    [Some("alice"), Some("Bob"), None, Some("carol")][n % 4]
}

/// The instants the queries' ages and times name: rows there tell `<` from `<=`.
fn bounds() -> Vec<Timestamp> {
    let ago = |h: i64| now() - TimeDelta::hours(h);
    let at = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
    [6, 12, 24, 30, 36, 48]
        .into_iter()
        .map(ago)
        .chain([at(30, 0), at(30, 12), at(30, 18), at(29, 10)])
        .flat_map(|t| [t, t])
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    letters: Vec<DeadLetter>,
    incidents: Vec<(Incident, Option<&'static str>)>,
}

fn batch(upstream: &str, incidents: Vec<Incident>, dead_letters: Vec<DeadLetter>) -> SyncBatch {
    SyncBatch {
        upstream: upstream.into(),
        at: now(),
        connectors: None,
        incidents,
        dead_letters,
        cursors: vec![],
        state: ConnectionState::Live { last_ok: now() },
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let mut letters: Vec<DeadLetter> = (0..240).map(|n| dead_letter("rmq", n)).collect();
    letters.extend((240..300).map(|n| dead_letter("api", n)));
    // Some fail exactly on the bounds the queries below use (ages, since, until).
    for (letter, at) in letters.iter_mut().zip(bounds()) {
        letter.last_failed_at = at;
    }
    let (rmq, api): (Vec<_>, Vec<_>) = letters.iter().cloned().partition(|d| d.upstream == "rmq");
    store.write_sync_batch(&batch("rmq", vec![], rmq)).unwrap();
    store.write_sync_batch(&batch("api", vec![], api)).unwrap();
    let mut incidents: Vec<(Incident, Option<&str>)> =
        (0..120).map(|n| (incident(n), owner_of(n))).collect();
    for ((incident, _), at) in incidents.iter_mut().zip(bounds()) {
        incident.opened_at = at;
    }
    store
        .write_sync_batch(&batch(
            "am",
            incidents.iter().map(|(i, _)| i.clone()).collect(),
            vec![],
        ))
        .unwrap();
    // Every incident but the unrouted ones (n % 8 == 2) gets a route; some have no owner.
    let routes: Vec<(String, StoredRoute)> = incidents
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 8 != 2)
        .map(|(_, (i, owner))| {
            (
                i.id.clone(),
                StoredRoute {
                    rule: "default".into(),
                    origin: "built-in".into(),
                    owner: owner.map(str::to_string),
                    backup: None,
                    ack_sla_secs: 900,
                    chain: None,
                    runbook: None,
                },
            )
        })
        .collect();
    store.write_incident_routes("am", &routes, now()).unwrap();
    let incidents = incidents
        .into_iter()
        .enumerate()
        .map(|(n, (i, owner))| (i, if n % 8 == 2 { None } else { owner }))
        .collect();
    Fixture {
        _dir: dir,
        store,
        letters,
        incidents,
    }
}

type Ids = Vec<(String, String)>;

/// What the Rust evaluation selects, in the listing's order, with the listing's default status.
fn expected_dead_letters(f: &Fixture, q: &Query) -> Ids {
    let mut rows: Vec<&DeadLetter> = f
        .letters
        .iter()
        .filter(|d| q.has_status() || d.state == DeadLetterState::Dead)
        .filter(|d| q.matches_dead_letter(d, now()))
        .collect();
    // Newest failure first; the tie-breaker (row id) is insertion order.
    let order: HashMap<&str, usize> = f
        .letters
        .iter()
        .enumerate()
        .map(|(n, d)| (d.id.as_str(), n))
        .collect();
    rows.sort_by_key(|d| {
        (
            std::cmp::Reverse(d.last_failed_at),
            std::cmp::Reverse(order[d.id.as_str()]),
        )
    });
    rows.iter()
        .map(|d| (d.upstream.clone(), d.id.clone()))
        .collect()
}

fn expected_incidents(f: &Fixture, q: &Query) -> Vec<String> {
    let mut ids: Vec<String> = f
        .incidents
        .iter()
        .filter(|(i, _)| q.has_status() || i.status != IncidentStatus::Resolved)
        .filter(|(i, owner)| q.matches_incident(i, *owner, now()))
        .map(|(i, _)| i.id.clone())
        .collect();
    ids.sort();
    ids
}

/// Lists every page (of 7, to cross many page boundaries) with the query.
fn paged_dead_letters(store: &Store, q: &Query) -> Ids {
    let mut out = Vec::new();
    let mut anchor = None;
    loop {
        let page = store
            .page_dead_letters(&DeadLetterPageQuery {
                query: Some(q.clone()),
                now: Some(now()),
                anchor: anchor.clone(),
                limit: 7,
                ..Default::default()
            })
            .unwrap();
        let Some(last) = page.last() else { break };
        anchor = Some(last.key.clone());
        out.extend(page.iter().map(|s| (s.upstream.clone(), s.id.clone())));
    }
    out
}

fn paged_incidents(store: &Store, q: &Query) -> Vec<String> {
    let mut out = Vec::new();
    let mut anchor = None;
    loop {
        let page = store
            .page_incidents(&IncidentPageQuery {
                query: Some(q.clone()),
                now: Some(now()),
                statuses: vec![
                    IncidentStatus::Open,
                    IncidentStatus::Acknowledged,
                    IncidentStatus::Suppressed,
                ],
                anchor: anchor.clone(),
                limit: 7,
                ..Default::default()
            })
            .unwrap();
        let Some((key, _)) = page.last() else { break };
        anchor = Some(key.clone());
        out.extend(page.iter().map(|(_, i)| i.id.clone()));
    }
    out
}

/// Store and Rust agree on `text` for dead letters; returns how many rows matched.
fn check_dead_letters(f: &Fixture, text: &str) -> usize {
    let q = Query::parse(text, RowKind::DeadLetters).unwrap_or_else(|e| panic!("{text}: {e}"));
    let expected = expected_dead_letters(f, &q);
    let selected = f.store.select_dead_letter_ids(&q, now()).unwrap();
    assert_eq!(selected, expected, "select_dead_letter_ids({text:?})");
    assert_eq!(
        paged_dead_letters(&f.store, &q),
        expected,
        "pages of {text:?}"
    );
    assert_eq!(
        f.store.count_dead_letters(&q, now()).unwrap(),
        expected.len() as u64,
        "count_dead_letters({text:?})"
    );
    expected.len()
}

fn check_incidents(f: &Fixture, text: &str) -> usize {
    let q = Query::parse(text, RowKind::Incidents).unwrap_or_else(|e| panic!("{text}: {e}"));
    let expected = expected_incidents(f, &q);
    let mut selected: Vec<String> = f
        .store
        .select_incident_ids(&q, now())
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    let mut paged = paged_incidents(&f.store, &q);
    assert_eq!(paged.len(), selected.len(), "pages of {text:?}");
    selected.sort();
    paged.sort();
    assert_eq!(selected, expected, "select_incident_ids({text:?})");
    assert_eq!(paged, expected, "pages of {text:?}");
    assert_eq!(
        f.store.count_incidents(&q, now()).unwrap(),
        expected.len() as u64
    );
    expected.len()
}

#[test]
fn a_table_of_dead_letter_queries_selects_the_same_rows_in_the_store_and_in_rust() {
    let f = fixture();
    let table: &[(&str, Option<usize>)] = &[
        ("", None),
        ("ord", None),
        ("WEBINAR", None),
        ("deep-2", None),
        ("café", None),
        ("req-1", None),
        ("connector:crm", None),
        ("!connector:crm", None),
        ("error:\"column lead\"", None),
        ("!error:rate", None),
        ("origin:crm.work", None),
        ("origin:crm", None),
        ("origin:orders.work connector:crm", None),
        ("header:x-tenant=acme", None),
        ("header:X-TENANT", None),
        ("!header:x-death", None),
        ("status:replayed", None),
        ("!status:dead", None),
        ("status:discarded connector:erp", None),
        ("age:<1d", None),
        ("age:>2d", None),
        ("!age:<1d", None),
        ("since:36h until:12h", None),
        ("since:2026-11-30 until:2026-11-30T18:00:00Z", None),
        ("!since:2026-11-30", None),
        ("re:payload=^\\{\\\"pad", None),
        ("re:id=[05]$ !re:error=(?i)TIMEOUT", None),
        ("re:origin=retry$", None),
        ("re:text=lead_source", None),
        ("re:connector=^ads", None),
        ("connector:crm !ord age:<2d header:x-tenant", None),
        ("nothing-matches-this", Some(0)),
    ];
    for (text, count) in table {
        let n = check_dead_letters(&f, text);
        if let Some(count) = count {
            assert_eq!(n, *count, "{text}");
        }
    }
    // The table is not vacuous: the default (live letters) and a structured query match some.
    assert!(check_dead_letters(&f, "") > 100);
    assert!(check_dead_letters(&f, "origin:crm.work connector:crm") > 0);
    assert!(check_dead_letters(&f, "header:x-tenant=acme") > 0);
    assert!(check_dead_letters(&f, "since:36h until:12h") > 0);
}

#[test]
fn a_table_of_incident_queries_selects_the_same_rows_in_the_store_and_in_rust() {
    let f = fixture();
    for text in [
        "",
        "timeouts",
        "bob",
        "lead_source #1",
        "connector:erp",
        "status:resolved",
        "!status:open",
        "status:acked severity:major",
        "severity:critical",
        "!severity:info",
        "owner:alice",
        "owner:bob",
        "!owner:alice",
        "re:owner=^(alice|carol)$",
        "age:<12h",
        "age:>1d",
        "since:2026-11-30T12:00:00Z until:6h",
        "re:title=#1[0-9]$ !re:kind=lag",
        "connector:crm owner:carol !status:suppressed",
    ] {
        check_incidents(&f, text);
    }
    assert!(check_incidents(&f, "owner:bob") > 0);
    assert!(check_incidents(&f, "status:resolved") > 0);
    assert!(check_incidents(&f, "!owner:alice") > 0);
}

/// One term as text, from a vocabulary covering every field for dead letters.
fn dead_letter_term() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "ord",
        "webinar",
        "req-1",
        "café",
        "x-tenant",
        "connector:crm",
        "connector:erp",
        "error:column",
        "error:rate",
        "origin:crm.work",
        "origin:orders.work",
        "origin:crm",
        "header:x-tenant=acme",
        "header:x-tenant",
        "header:x-death",
        "status:dead",
        "status:replayed",
        "status:discarded",
        "age:<1d",
        "age:>2d",
        "age:<6h",
        "since:30h",
        "until:2026-11-30",
        "since:2026-11-29T10:00:00Z",
        "re:id=[13579]$",
        "re:payload=\\x00",
        "re:error=^rej",
        "re:origin=retry",
        "re:text=(?i)CAFÉ",
        "\"plain text\"",
    ]);
    (any::<bool>(), atoms).prop_map(|(neg, atom)| format!("{}{atom}", if neg { "!" } else { "" }))
}

fn incident_term() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "timeouts",
        "bob",
        "#1",
        "connector:crm",
        "connector:ads-to-warehouse",
        "status:open",
        "status:acked",
        "status:resolved",
        "severity:critical",
        "severity:warn",
        "owner:alice",
        "owner:BOB",
        "age:<6h",
        "age:>1d",
        "since:2026-11-30",
        "until:12h",
        "re:title=#\\d$",
        "re:kind=^lag",
        "re:owner=o",
        "re:text=ERP",
    ]);
    (any::<bool>(), atoms).prop_map(|(neg, atom)| format!("{}{atom}", if neg { "!" } else { "" }))
}

#[test]
fn generated_queries_select_the_same_rows_in_the_store_and_in_rust() {
    let f = fixture();
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(dead_letter_term(), 1..4), |terms| {
            check_dead_letters(&f, &terms.join(" "));
            Ok(())
        })
        .unwrap();
    runner
        .run(&prop::collection::vec(incident_term(), 1..4), |terms| {
            check_incidents(&f, &terms.join(" "));
            Ok(())
        })
        .unwrap();
}

#[test]
fn structured_terms_are_served_by_indexes() {
    let f = fixture();
    let plan = |text: &str, kind| {
        let q = Query::parse(text, kind).unwrap();
        let plan = f.store.explain_selection(&q, now()).unwrap();
        assert!(!plan.contains("SCAN"), "{text}: a full scan: {plan}");
        plan
    };
    let dl = RowKind::DeadLetters;
    assert!(plan("connector:crm age:<1d ord", dl).contains("dead_letters_by_connector_state"));
    assert!(plan("since:2h re:payload=x", dl).contains("dead_letters_by_state_newest"));
    assert!(plan("status:replayed until:2026-11-30", dl).contains("dead_letters_by_state_newest"));
    let inc = RowKind::Incidents;
    assert!(plan("connector:crm owner:alice", inc).contains("incidents_by_connector_urgency"));
    assert!(plan("status:open severity:major", inc).contains("incidents_by_urgency"));
}
