//! The dead letters' search index (#15): whatever the index holds — all, part (a tail not yet
//! indexed), stale rows (letters updated, deleted, `row_id`s taken again), nothing (a store just
//! migrated from V9) — a search answers exactly what the plain scan answers: substring, ASCII
//! case ignored, every other byte exact, each field on its own, through `--grep` (text), the
//! console's `/` (the query language), whole-store selections and counts.

use chrono::{Duration, TimeZone, Utc};
use triage::domain::query::{Query, RowKind};
use triage::domain::*;
use triage::store::{DeadLetterPageQuery, SearchPlan, Store, SyncBatch};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 1, 3, 0, 0).unwrap()
}

const WORDS: [&str; 12] = [
    "alpha", "Bravo", "CHARLIE", "delta", "écho", "Café", "CAFÉ", "naïve", "zulu-7", "x-ray",
    "tango", "ORD-",
];

/// Letter `n`: varied words (mixed case, non-ASCII), a rare word in one of 400, a binary
/// payload in one of 50, headers with values of their own; its failure time `n` seconds in.
fn letter(n: usize, version: u32) -> DeadLetter {
    let mut state = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(version);
    let mut words = Vec::new();
    for _ in 0..12 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        words.push(format!("{}{}", WORDS[(state % 12) as usize], state % 97));
    }
    if n.is_multiple_of(400) {
        words.push("Quasar".into());
    }
    if version > 0 {
        words.push(format!("rewritten-v{version}"));
    }
    let payload = if n % 50 == 7 {
        let mut bytes: Vec<u8> = (0..=255u8).collect();
        bytes.extend(format!("bin-{n}").bytes());
        bytes
    } else {
        format!("pe{{\"order\":{n},\"note\":\"{}\"}}", words.join(" ")).into_bytes()
    };
    DeadLetter {
        upstream: "demo".into(),
        id: format!("dl-{n:05}"),
        connector: format!("crm-{}", n % 3),
        payload,
        content_type: None,
        headers: vec![
            ("x-trace".into(), format!("T{n}")),
            ("X-Mixed".into(), format!("MiXeD-{}", n % 7)),
        ],
        error: DeadLetterError {
            code: "HTTP_500".into(),
            message: "upstream said no".into(),
            http_status: None,
            vendor_response: Some("vendor-only-text".into()),
        },
        attempts: 1,
        first_failed_at: t0(),
        last_failed_at: t0() + Duration::seconds(n as i64),
        state: if n.is_multiple_of(9) {
            DeadLetterState::Replayed
        } else {
            DeadLetterState::Dead
        },
        updated_at: t0() + Duration::seconds(i64::from(version)),
    }
}

fn write(store: &mut Store, letters: Vec<DeadLetter>) {
    store
        .write_sync_batch(&SyncBatch {
            upstream: "demo".into(),
            at: t0(),
            connectors: None,
            incidents: vec![],
            dead_letters: letters,
            cursors: vec![],
            state: ConnectionState::Live { last_ok: t0() },
        })
        .unwrap();
}

const NEEDLES: &[&str] = &[
    "quasar",
    "QUASAR",
    "Quasar bravo",
    "alpha",
    "ALPHA1",
    "charlie4",
    "café",
    "CAFÉ",
    "Café1",
    "naïve",
    "ï",
    "é",
    "zu",
    "a",
    "no such text",
    "ord-",
    "ORD-5",
    "x-trace",
    "T12",
    "t1234",
    "\"x-trace\",\"T3",
    "mixed-3",
    "said nope",
    "no\"pe",
    "http_500",
    "crm-2",
    "dl-0012",
    "dl-00123",
    "bin-107",
    "\u{1}\u{2}\u{3}",
    "\u{7f}",
    "rewritten-v1",
    "rewritten-v2",
    "vendor-only",
    "zzz",
];

/// Every letter a `--grep` of `needle` lists, paging 1,000 at a time as the CLI does.
fn grep(store: &Store, needle: &str) -> Vec<String> {
    let mut q = DeadLetterPageQuery {
        text: Some(needle.into()),
        limit: 1000,
        now: Some(t0()),
        ..Default::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = store.page_dead_letters(&q).unwrap();
        ids.extend(page.iter().map(|s| s.id.clone()));
        match page.last() {
            Some(last) if page.len() == 1000 => q.anchor = Some(last.key.clone()),
            _ => return ids,
        }
    }
}

/// The console's `/` (a query) as a first page, the whole selection and its count.
fn query(store: &Store, text: &str) -> (Vec<String>, Vec<(String, String)>, u64) {
    let query = Query::parse(text, RowKind::DeadLetters).unwrap();
    let page = store
        .page_dead_letters(&DeadLetterPageQuery {
            query: Some(query.clone()),
            limit: 50,
            now: Some(t0()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let ids = store.select_dead_letter_ids(&query, t0()).unwrap();
    let count = store.count_dead_letters(&query, t0()).unwrap();
    (page, ids, count)
}

/// A query text for a needle: quoted, with the escapes the language wants.
fn quoted(needle: &str) -> String {
    format!("\"{}\"", needle.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Every needle, alone and in queries, answers the same with the index as without it; at
/// least `want_narrowed` needles were answered from the index's candidates.
fn same_as_scan(store: &mut Store, want_narrowed: usize) {
    let mut narrowed = 0;
    for needle in NEEDLES {
        let plan = store.dead_letter_search_plan(Some(needle), None).unwrap();
        if matches!(plan, SearchPlan::Candidates { .. }) {
            narrowed += 1;
        }
        if needle.len() < 3 {
            assert_eq!(plan, SearchPlan::Walk, "{needle:?}: no trigram to ask for");
        }
        let texts = [
            quoted(needle),
            format!("{} status:replayed", quoted(needle)),
            format!("{} connector:crm-1", quoted(needle)),
            format!("{} !alpha", quoted(needle)),
            format!("{} dl-00", quoted(needle)),
        ];
        let indexed_grep = grep(store, needle);
        let indexed: Vec<_> = texts.iter().map(|t| query(store, t)).collect();
        store.use_search_index(false);
        assert_eq!(
            indexed_grep,
            grep(store, needle),
            "--grep {needle:?} ({plan:?})"
        );
        for (text, indexed) in texts.iter().zip(indexed) {
            assert_eq!(indexed, query(store, text), "/{text} ({plan:?})");
        }
        store.use_search_index(true);
    }
    assert!(
        narrowed >= want_narrowed,
        "only {narrowed} needles used the index"
    );
}

#[test]
fn the_index_answers_like_the_scan_whole_with_a_tail_and_after_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    let mut store = Store::open(&path).unwrap();
    for start in (0..3_000).step_by(500) {
        write(
            &mut store,
            (start..start + 500).map(|n| letter(n, 0)).collect(),
        );
    }
    assert_eq!(store.search_index_behind().unwrap(), 3_000);
    // Nothing indexed yet: every letter is the tail, read exactly.
    same_as_scan(&mut store, 0);

    // Part indexed, the rest a tail.
    let done = store.catch_up_search_index(2_000).unwrap();
    assert_eq!((done.indexed, done.behind), (2_000, 1_000));
    same_as_scan(&mut store, 10);
    assert_eq!(
        grep(&store, "Quasar").len(),
        7,
        "dl-00000 … dl-02800, less the replayed"
    );

    // All indexed.
    let done = store.catch_up_search_index(u64::MAX).unwrap();
    assert_eq!((done.indexed, done.behind), (1_000, 0));
    same_as_scan(&mut store, 20);
    // A no-match and a rare word are answered from the index (no letter read for the first).
    assert!(matches!(
        store
            .dead_letter_search_plan(Some("no such text"), None)
            .unwrap(),
        SearchPlan::Candidates {
            candidates: None,
            behind: 0,
            ..
        }
    ));
    // 8 letters, each in a block of 4 `row_id`s of its own.
    assert!(matches!(
        store.dead_letter_search_plan(Some("QUASAR"), None).unwrap(),
        SearchPlan::Candidates { indexed: 32, .. }
    ));

    // Letters rewritten with new text (found by it, not by the old), states changed, letters
    // deleted, and new letters that take the deleted ones' `row_id`s again.
    write(
        &mut store,
        (0..3_000).step_by(7).map(|n| letter(n, 1)).collect(),
    );
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE dead_letters SET state = 'discarded' WHERE row_id % 11 = 0;
             DELETE FROM dead_letters WHERE row_id % 13 = 0 OR row_id > 2990;",
        )
        .unwrap();
    }
    write(&mut store, (5_000..5_020).map(|n| letter(n, 2)).collect());
    assert!(store.search_index_behind().unwrap() > 0);
    same_as_scan(&mut store, 20);
    assert_eq!(
        grep(&store, "rewritten-v2").len(),
        17,
        "20, less 2 replayed and 1 binary"
    );
    let done = store.catch_up_search_index(u64::MAX).unwrap();
    assert_eq!(done.behind, 0);
    same_as_scan(&mut store, 20);
    assert!(grep(&store, "rewritten-v1").len() > 250);
}

/// A V9 store (letters, no index) opens as V10 without indexing anything at open; searches
/// read every letter exactly until the catch-up has indexed them, and answer the same after.
#[test]
fn a_v9_store_migrates_without_indexing_and_catches_up_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("triage.db");
    {
        let mut store = Store::open(&path).unwrap();
        write(&mut store, (0..1_500).map(|n| letter(n, 0)).collect());
    }
    {
        // Back to V9: the V10 objects gone, as a V9 triage wrote the file.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS dead_letters_search_insert;
             DROP TRIGGER dead_letters_search_update;
             DROP TRIGGER dead_letters_search_delete;
             DROP TABLE dead_letter_search_blocks;
             DROP TABLE dead_letter_search_pending;
             DROP TABLE dead_letter_search_state;
             PRAGMA user_version = 9;",
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert!(store.schema_version().unwrap() >= 10, "migrated past V10");
    assert_eq!(store.search_index_behind().unwrap(), 1_500);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tokens: i64 = conn
        .query_row("SELECT count(*) FROM dead_letter_search_blocks", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(tokens, 0, "nothing indexed at open");
    same_as_scan(&mut store, 0);
    write(&mut store, (1_500..1_600).map(|n| letter(n, 0)).collect());
    store.catch_up_search_index(u64::MAX).unwrap();
    assert_eq!(store.search_index_behind().unwrap(), 0);
    same_as_scan(&mut store, 20);
}
