//! Store benchmarks: bulk dead-letter inserts through `write_sync_batch` (with and without the
//! search index's catch-up), keyset pages from the middle of a large DLQ, the `/` filter,
//! `--grep` and query selections over it (the search index built after the fill: its time and
//! size are printed), re-syncing unchanged rows, and the maintained connector counts.
//!
//! `cargo bench --bench store` (set `TRIAGE_BENCH_ROWS` to change the size of the big store;
//! default 1,000,000).

use std::hint::black_box;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use triage::domain::query::{Query, RowKind};
use triage::domain::{ConnectionState, DeadLetter, DeadLetterError, DeadLetterState};
use triage::store::{DeadLetterKey, DeadLetterPageQuery, PageDir, Store, SyncBatch};

const BATCH: usize = 1_000;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A dead letter with a ~800-byte JSON payload, failing `n` seconds after t0.
/// Words for payload text: real payloads are varied text, not one repeated byte (which would
/// make the search index unrealistically small and cheap).
const WORDS: [&str; 32] = [
    "lead",
    "source",
    "campaign",
    "webinar",
    "email",
    "contact",
    "account",
    "owner",
    "stage",
    "pipeline",
    "invoice",
    "amount",
    "currency",
    "region",
    "segment",
    "partner",
    "referral",
    "organic",
    "paid",
    "social",
    "form",
    "submitted",
    "consent",
    "marketing",
    "salesforce",
    "hubspot",
    "analytics",
    "conversion",
    "attribution",
    "utm",
    "medium",
    "country",
];

/// About 740 bytes of varied words, different for every `n`.
fn filler(n: usize) -> String {
    let mut state = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::with_capacity(760);
    while text.len() < 740 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text.push_str(WORDS[(state % 32) as usize]);
        text.push_str(if state.is_multiple_of(5) { "-" } else { " " });
        if state.is_multiple_of(7) {
            text.push_str(&(state % 100_000).to_string());
            text.push(' ');
        }
    }
    text
}

fn dead_letter(n: usize) -> DeadLetter {
    // One letter in 1,000 carries a rare word (the `/` filter's "first page" case).
    let rare = if n.is_multiple_of(1000) {
        ",\"flag\":\"rare-marker\""
    } else {
        ""
    };
    DeadLetter {
        upstream: "bench".into(),
        id: format!("dl-{n:08}"),
        connector: format!("connector-{}", n % 8),
        payload: format!("{{\"order\":{n},\"note\":\"{}\"{rare}}}", filler(n)).into_bytes(),
        content_type: Some("application/json".into()),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-request-id".into(), n.to_string()),
        ],
        error: DeadLetterError {
            code: "http_422".into(),
            message: "unprocessable entity: field `amount` is negative".into(),
            http_status: Some(422),
            vendor_response: Some("{\"error\":\"amount\"}".into()),
        },
        attempts: 5,
        first_failed_at: t0() + Duration::seconds(n as i64),
        last_failed_at: t0() + Duration::seconds(n as i64),
        state: DeadLetterState::Dead,
        updated_at: t0(),
    }
}

fn batch(dead_letters: Vec<DeadLetter>) -> SyncBatch {
    SyncBatch {
        upstream: "bench".into(),
        at: t0(),
        connectors: None,
        incidents: Vec::new(),
        dead_letters,
        cursors: Vec::new(),
        state: ConnectionState::Live { last_ok: t0() },
    }
}

fn fill(store: &mut Store, rows: usize) {
    for start in (0..rows).step_by(BATCH) {
        let letters = (start..(start + BATCH).min(rows))
            .map(dead_letter)
            .collect();
        if let Err(e) = store.write_sync_batch(&batch(letters)) {
            panic!("filling the bench store: {e}");
        }
    }
}

fn insert_100k(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_insert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    for (name, catch_up) in [
        ("100k dead letters (~800 B) in batches of 1,000", false),
        (
            "100k dead letters (~800 B) in batches of 1,000, search index caught up after each",
            true,
        ),
    ] {
        group.bench_function(name, |b| insert_batches(b, catch_up));
    }
    group.finish();
}

/// 100 batches of 1,000 letters through `write_sync_batch`; with `catch_up`, each followed by
/// the search index's catch-up, as sync runs it.
fn insert_batches(b: &mut criterion::Bencher<'_>, catch_up: bool) {
    b.iter_batched(
        || {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
            let store = Store::open(&dir.path().join("bench.db")).unwrap_or_else(|e| panic!("{e}"));
            let batches: Vec<SyncBatch> = (0..100)
                .map(|i| batch((i * BATCH..(i + 1) * BATCH).map(dead_letter).collect()))
                .collect();
            (dir, store, batches)
        },
        |(dir, mut store, batches)| {
            for b in &batches {
                black_box(store.write_sync_batch(b).unwrap_or_else(|e| panic!("{e}")));
                if catch_up {
                    let done = store
                        .catch_up_search_index(u64::MAX)
                        .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(done.behind, 0);
                }
            }
            (dir, store)
        },
        BatchSize::PerIteration,
    )
}

/// The search index's share of the store file (dbstat), in MB: the FTS5 table's shadow tables
/// and the trigram counts.
fn search_index_mb(path: &std::path::Path) -> (f64, f64) {
    let conn = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("{e}"));
    let size = |like: &str| -> f64 {
        conn.query_row(
            "SELECT ifnull(sum(pgsize), 0) FROM dbstat WHERE name LIKE ?1",
            [like],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or_else(|e| panic!("{e}")) as f64
            / 1e6
    };
    (size("dead_letter_search%"), size("%"))
}

fn big_store(c: &mut Criterion) {
    let rows: usize = std::env::var("TRIAGE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("big.db");
    let mut store = Store::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    fill(&mut store, rows);
    eprintln!(
        "built a store of {rows} dead letters in {:.1?}",
        started.elapsed()
    );
    // The search index, built by the catch-up after the fact (sync runs it after each batch).
    let started = std::time::Instant::now();
    let done = store
        .catch_up_search_index(u64::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    let (index_mb, file_mb) = search_index_mb(&path);
    eprintln!(
        "search index: caught up {} letters in {took:.1?} ({:.0} letters/s); {index_mb:.1} MB of {file_mb:.1} MB",
        done.indexed,
        done.indexed as f64 / took.as_secs_f64()
    );

    let middle = rows / 2;
    let anchor = DeadLetterKey {
        sort: None,
        last_failed_ms: (t0() + Duration::seconds(middle as i64)).timestamp_millis(),
        rowid: middle as i64 + 1,
    };
    let mut group = c.benchmark_group(format!("store_{rows}_rows"));
    for (name, dir) in [
        ("page of 50 forward from the middle", PageDir::Forward),
        ("page of 50 backward from the middle", PageDir::Backward),
    ] {
        let query = DeadLetterPageQuery {
            anchor: Some(anchor.clone()),
            dir,
            limit: 50,
            ..Default::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = store
                    .page_dead_letters(black_box(&query))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(page.len(), 50);
                page
            })
        });
    }
    let filtered = DeadLetterPageQuery {
        connector: Some("connector-3".into()),
        anchor: Some(anchor.clone()),
        limit: 50,
        ..Default::default()
    };
    group.bench_function("page of 50 of one connector from the middle", |b| {
        b.iter(|| {
            store
                .page_dead_letters(black_box(&filtered))
                .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    // The `/` filter (`triage_contains` over id, connector, error, headers and the whole
    // payload): one match in 1,000 rows (a page of 50 walks ≈ 50,000 rows), then a text found
    // nowhere (every row is read: the worst case).
    for (name, text, want) in [
        (
            "filter: page of 50, 1 in 1,000 rows match",
            "rare-marker",
            50,
        ),
        ("filter: no row matches", "no such text", 0),
    ] {
        let query = DeadLetterPageQuery {
            text: Some(text.into()),
            limit: 50,
            ..Default::default()
        };
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = store
                    .page_dead_letters(black_box(&query))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(page.len(), want.min((rows / 1000).saturating_sub(1)));
                page
            })
        });
    }
    // The console's `/` (the query language): a rare word's first page, a word found nowhere,
    // a common word (the list walked in order), one letter's id; and `--grep` without the index.
    for (name, text, want) in [
        (
            "search (/): first page of 50, rare word (1 in 1,000)",
            "rare-marker",
            50.min((rows / 1000).saturating_sub(1)),
        ),
        ("search (/): no letter matches", "\"no such text\"", 0),
        ("search (/): first page of 50, common word", "amount", 50),
        ("search (/): one letter by its id", "dl-00412345", 1),
    ] {
        let query = DeadLetterPageQuery {
            query: Some(Query::parse(text, RowKind::DeadLetters).unwrap_or_else(|e| panic!("{e}"))),
            limit: 50,
            ..Default::default()
        };
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                let page = store
                    .page_dead_letters(black_box(&query))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(page.len(), want.min(rows.saturating_sub(1)), "{text}");
                page
            })
        });
    }
    store.use_search_index(false);
    for (name, text) in [
        (
            "filter without the index: page of 50, 1 in 1,000 rows match",
            "rare-marker",
        ),
        (
            "filter without the index: no row matches (full scan)",
            "no such text",
        ),
    ] {
        let query = DeadLetterPageQuery {
            text: Some(text.into()),
            limit: 50,
            ..Default::default()
        };
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                store
                    .page_dead_letters(black_box(&query))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
        });
    }
    store.use_search_index(true);
    // The query language (`--where`, `/`) over the whole store, as marks and replay plans
    // select: structured terms are index ranges; a term only the SQL function can decide reads
    // the rows the structured terms leave (all live rows when there are none).
    let now = t0() + Duration::seconds(rows as i64);
    for (name, text, want) in [
        (
            "query: ids of one connector failed in the last hour",
            "connector:connector-3 age:<1h",
            None,
        ),
        (
            "query: ids of one connector (1 in 8 rows)",
            "connector:connector-3",
            Some((rows + 4) / 8),
        ),
        (
            "query: ids of one connector with a header value (function on 1 in 8 rows)",
            "connector:connector-3 header:x-request-id=3",
            Some(usize::from(rows > 3)),
        ),
        (
            "query: count, free text found nowhere (the search index: no letter has its trigram \"suc\")",
            "\"no such text\"",
            Some(0),
        ),
    ] {
        let query = Query::parse(text, RowKind::DeadLetters).unwrap_or_else(|e| panic!("{e}"));
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                let n = if name.starts_with("query: count") {
                    store
                        .count_dead_letters(black_box(&query), now)
                        .map(|n| n as usize)
                } else {
                    store
                        .select_dead_letter_ids(black_box(&query), now)
                        .map(|ids| ids.len())
                }
                .unwrap_or_else(|e| panic!("{e}"));
                if let Some(want) = want {
                    assert_eq!(n, want, "{text}");
                }
                n
            })
        });
    }
    // `triage replay --where … --plan`: select the ids, load each letter whole, count the plan
    // (per connector and destination, contracts, replayed before, stages).
    let options = triage::sync::runs::RunOptions {
        kind: triage::domain::ActionKind::Replay,
        selection: String::new(),
        operator: "bench".into(),
        stages: triage::domain::run::parse_stages("1,10%,rest").unwrap_or_default(),
        max_failures: triage::domain::run::FailureLimit::Percent(10.0),
        rate: None,
        concurrency: triage::sync::runs::DEFAULT_CONCURRENCY,
        force: false,
        destination: None,
        drop_ttl: false,
    };
    let config = triage::config::Config {
        file: None,
        operator: "bench".into(),
        read_only: false,
        store: None,
        default_ack_sla: std::time::Duration::from_secs(900),
        upstreams: Vec::new(),
        connectors: Vec::new(),
        people: Vec::new(),
        teams: Vec::new(),
    };
    for (name, text) in [
        (
            "plan: 9,900 letters of one connector failed in the last 22 h",
            "connector:connector-3 age:<22h",
        ),
        (
            "plan: 450 letters (the last hour)",
            "connector:connector-3 age:<1h",
        ),
    ] {
        group.sample_size(10);
        group.bench_function(name, |b| {
            b.iter(|| {
                let letters = triage::sync::runs::select_dead_letters(&store, text, now)
                    .unwrap_or_else(|e| panic!("{e:?}"));
                let (plan, _) = triage::sync::runs::plan(&store, &config, &letters, &options)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(plan.to_send > 0, "{text}");
                plan.to_send
            })
        });
    }
    group.sample_size(100);
    group.bench_function("connector_counts", |b| {
        b.iter(|| {
            let counts = store.connector_counts().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                counts.iter().map(|c| c.dead_letters).sum::<u64>(),
                rows as u64
            );
            counts
        })
    });
    // Ingest into the grown store: 5 batches of 1,000 new letters, alone and with the one
    // catch-up sync runs once 5,000 are behind (the index's steady-state cost, most trigrams
    // saturated).
    let mut next = rows;
    for (name, catch_up) in [
        ("insert 5 x 1,000 new dead letters", false),
        (
            "insert 5 x 1,000 new dead letters + one search index catch-up",
            true,
        ),
    ] {
        group.sample_size(10);
        group.throughput(Throughput::Elements(5 * BATCH as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    (0..5)
                        .map(|_| {
                            next += BATCH;
                            batch((next - BATCH..next).map(dead_letter).collect())
                        })
                        .collect::<Vec<_>>()
                },
                |batches| {
                    for letters in &batches {
                        store
                            .write_sync_batch(letters)
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                    if catch_up {
                        store
                            .catch_up_search_index(u64::MAX)
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    store
        .catch_up_search_index(u64::MAX)
        .unwrap_or_else(|e| panic!("{e}"));
    let unchanged = batch((middle..middle + BATCH).map(dead_letter).collect());
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("re-sync 1,000 unchanged dead letters", |b| {
        b.iter(|| {
            let summary = store
                .write_sync_batch(black_box(&unchanged))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(summary.dead_letters_changed, 0);
        })
    });
    group.finish();
}

criterion_group!(benches, insert_100k, big_store);
criterion_main!(benches);
