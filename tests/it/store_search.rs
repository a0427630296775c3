//! What a search answers (and what a search index, when it comes, must keep answering):
//! substring, ASCII case ignored, every other byte exact, payload and headers included —
//! also for binary payloads, payloads over the indexed size, needles of one or two characters and
//! needles with quotes; an updated letter is found by its new text only.

use chrono::{Duration, TimeZone, Utc};
use triage::domain::*;
use triage::store::{DeadLetterPageQuery, IncidentPageQuery, Store, SyncBatch};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap()
}

fn letter(id: &str, payload: &[u8], headers: &[(&str, &str)]) -> DeadLetter {
    DeadLetter {
        upstream: "demo".into(),
        id: id.into(),
        connector: "crm-sync".into(),
        payload: payload.to_vec(),
        content_type: None,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        error: DeadLetterError {
            code: "HTTP_500".into(),
            message: "upstream said no".into(),
            http_status: None,
            vendor_response: None,
        },
        attempts: 1,
        first_failed_at: t0(),
        last_failed_at: t0() + Duration::seconds(id.len() as i64),
        state: DeadLetterState::Dead,
        updated_at: t0(),
    }
}

fn write(store: &mut Store, letters: Vec<DeadLetter>, incidents: Vec<Incident>) {
    store
        .write_sync_batch(&SyncBatch {
            upstream: "demo".into(),
            at: t0(),
            connectors: None,
            incidents,
            dead_letters: letters,
            cursors: vec![],
            state: ConnectionState::Live { last_ok: t0() },
        })
        .unwrap();
}

fn found(store: &Store, text: &str) -> Vec<String> {
    let mut ids: Vec<String> = store
        .page_dead_letters(&DeadLetterPageQuery {
            text: Some(text.into()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}

#[test]
fn indexed_search_answers_exactly_what_a_scan_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let big = format!("{}NEEDLE-AT-THE-END", "x".repeat(70 * 1024));
    write(
        &mut store,
        vec![
            letter(
                "dl-json",
                br#"{"lead_source":"Webinar","email":"ana@example.com"}"#,
                &[],
            ),
            letter(
                "dl-binary",
                &[0, 0x9f, 0xff, b'L', b'E', b'A', b'D', b'_', b's'],
                &[],
            ),
            letter("dl-big", big.as_bytes(), &[]),
            letter("dl-header", b"{}", &[("x-tenant", "Acme \"Prime\"")]),
            letter("dl-accent", "Café CRÈME".as_bytes(), &[]),
        ],
        vec![],
    );
    assert_eq!(
        found(&store, "LEAD_SOURCE"),
        ["dl-json"],
        "ASCII case ignored"
    );
    assert_eq!(
        found(&store, "lead_s"),
        ["dl-binary", "dl-json"],
        "binary bytes searched too"
    );
    assert_eq!(
        found(&store, "needle-at-the-end"),
        ["dl-big"],
        "past the indexed size"
    );
    assert_eq!(
        found(&store, "\"lead_source\""),
        ["dl-json"],
        "a quote in the needle"
    );
    assert_eq!(found(&store, "x-tenant"), ["dl-header"], "headers");
    assert_eq!(found(&store, "dl-acc"), ["dl-accent"], "ids");
    assert_eq!(
        found(&store, "crème"),
        Vec::<String>::new(),
        "only ASCII case is ignored"
    );
    assert_eq!(found(&store, "CRÈME"), ["dl-accent"]);
    assert_eq!(found(&store, "é"), ["dl-accent"], "one character: a scan");
    assert_eq!(found(&store, "zzz-nowhere"), Vec::<String>::new());
    // Kept in step: an update replaces what is indexed.
    write(
        &mut store,
        vec![letter("dl-json", br#"{"campaign":"spring"}"#, &[])],
        vec![],
    );
    assert_eq!(found(&store, "lead_source"), Vec::<String>::new());
    assert_eq!(found(&store, "SPRING"), ["dl-json"]);
}

#[test]
fn incidents_are_searched_through_their_index_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let incident = |id: &str, title: &str| Incident {
        upstream: "demo".into(),
        id: id.into(),
        connector: "ads".into(),
        kind: "delivery_failures".into(),
        severity: Severity::Major,
        status: IncidentStatus::Open,
        title: title.into(),
        detail: String::new(),
        opened_at: t0(),
        updated_at: t0(),
        acked_by: None,
        acked_at: None,
        resolved_at: None,
        ack_deadline: None,
        escalation_level: 0,
        labels: Default::default(),
        links: vec![],
    };
    write(
        &mut store,
        vec![],
        vec![
            incident("inc-1", "GA4 returns 503"),
            incident("inc-2", "DLQ growing"),
        ],
    );
    let search = |store: &Store, text: &str| -> Vec<String> {
        store
            .page_incidents(&IncidentPageQuery {
                text: Some(text.into()),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .into_iter()
            .map(|(_, i)| i.id)
            .collect()
    };
    assert_eq!(search(&store, "ga4 RETURNS"), ["inc-1"]);
    // An ack is searchable by its author as soon as it is stored.
    let mut acked = incident("inc-2", "DLQ growing");
    acked.status = IncidentStatus::Acknowledged;
    acked.acked_by = Some("maria@bastion".into());
    acked.updated_at = t0() + Duration::minutes(1);
    write(&mut store, vec![], vec![acked]);
    assert_eq!(search(&store, "maria@"), ["inc-2"]);
}
