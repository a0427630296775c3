//! The store at scale through the real binary (`harness = false`), each figure beside its
//! reference where one exists (issue #15):
//!
//! - **ingest**: `triage demo --serve-only --scale N` (N dead letters, N/10 incidents), then
//!   `triage sync --once` until a pass brings nothing new — the real HTTP path into a fresh store
//!   — against a raw rusqlite insert of the very same rows (read back from that store) into a
//!   bare table with the store's pragmas, in transactions of the same size;
//! - **search**: `dead-letters --grep` for one letter's id (a rare needle: one match, first page)
//!   and for a text in no letter (every row ruled out), best of three;
//! - **listing**: `dead-letters --limit 0 --json` rows/s and the process's peak RSS.
//!
//! ```sh
//! cargo bench --bench scale                           # TRIAGE_BENCH_SCALE=1000000
//! TRIAGE_BENCH_SCALE=20000 cargo bench --profile dev --bench scale   # smoke run (scripts/bench --quick)
//! ```
//!
//! Rows are printed as a markdown table and, for `scripts/bench`, as `bench-row|…` lines.

#[allow(dead_code)] // shared test helpers, partly used here
#[path = "../tests/it/support/demo_cli.rs"]
mod demo_cli;

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use demo_cli::Demo;
use rusqlite::Connection;

/// Rows per transaction of the raw reference (the sync writes a page of letters at a time).
const RAW_BATCH: usize = 500;

fn number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// One row of the table: what, the figure, its reference (if any), their ratio, the target.
struct Row {
    measure: String,
    result: String,
    reference: String,
    ratio: String,
    target: &'static str,
}

fn print(rows: &[Row]) {
    println!();
    println!("| measure | result | reference | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.measure, r.result, r.reference, r.ratio, r.target
        );
    }
    for r in rows {
        println!(
            "bench-row|store|{}|{}|{}|{}|{}",
            r.measure, r.result, r.reference, r.ratio, r.target
        );
    }
}

fn count(store: &std::path::Path, table: &str) -> u64 {
    let conn = Connection::open(store).expect("open the store");
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
        r.get::<_, i64>(0)
    })
    .expect("count") as u64
}

/// `sync --once` until a pass changes nothing; the time until the last pass that brought rows.
fn ingest(demo: &Demo) -> (Duration, usize) {
    let mut spent = Duration::ZERO;
    let mut passes = 0;
    loop {
        let started = Instant::now();
        let out = demo.ok(&["sync", "--once"]);
        let took = started.elapsed();
        // "<upstream>: live — C connectors, I incidents changed, D dead letters changed"
        let changed: u64 = out
            .lines()
            .flat_map(|l| {
                [" incidents changed", " dead letters changed"]
                    .into_iter()
                    .filter_map(move |what| number_before(l, what))
            })
            .sum();
        if changed == 0 {
            return (spent, passes);
        }
        spent += took;
        passes += 1;
        assert!(passes < 200, "sync never settled: {out}");
    }
}

/// The number just before `what` in `line` ("… 12 dead letters changed").
fn number_before(line: &str, what: &str) -> Option<u64> {
    let head = &line[..line.find(what)?];
    head.rsplit(' ').next()?.parse().ok()
}

/// The same letters inserted by plain rusqlite into a bare table (no keys, indexes or
/// triggers) of a fresh file with the store's pragmas: the disk-and-SQLite limit.
fn raw_insert(store: &std::path::Path, dir: &std::path::Path) -> (Duration, usize) {
    let from = Connection::open(store).expect("open the store");
    let columns: Vec<String> = from
        .prepare("SELECT name FROM pragma_table_info('dead_letters') ORDER BY cid")
        .expect("columns")
        .query_map([], |r| r.get(0))
        .expect("columns")
        .collect::<Result<_, _>>()
        .expect("columns");
    let mut read = from
        .prepare(&format!("SELECT {} FROM dead_letters", columns.join(", ")))
        .expect("read");
    let rows: Vec<Vec<rusqlite::types::Value>> = read
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| r.get::<_, rusqlite::types::Value>(i))
                .collect()
        })
        .expect("read")
        .collect::<Result<_, _>>()
        .expect("read");
    let path = dir.join("raw.db");
    let mut raw = Connection::open(&path).expect("raw store");
    raw.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    raw.execute_batch(&format!("CREATE TABLE bare ({})", columns.join(", ")))
        .expect("bare table");
    let insert = format!(
        "INSERT INTO bare VALUES ({})",
        vec!["?"; columns.len()].join(", ")
    );
    let started = Instant::now();
    for chunk in rows.chunks(RAW_BATCH) {
        let tx = raw.transaction().expect("tx");
        {
            let mut stmt = tx.prepare_cached(&insert).expect("insert");
            for row in chunk {
                stmt.execute(rusqlite::params_from_iter(row.iter()))
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    (started.elapsed(), rows.len())
}

/// Best of three wall times of `triage ARGS` (output discarded).
fn best_of_three(demo: &Demo, args: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let out = demo.run(args);
            assert!(out.status.success(), "triage {args:?} failed");
            started.elapsed()
        })
        .min()
        .expect("three runs")
}

/// Wall time and peak RSS (KiB) of one `triage ARGS` with its output thrown away.
fn timed_rss(demo: &Demo, args: &[&str]) -> (Duration, u64) {
    let started = Instant::now();
    let child = demo
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn triage");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; status and usage are valid out-pointers.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let took = started.elapsed();
    assert!(
        std::process::ExitStatus::from_raw(status).success(),
        "triage {args:?} failed"
    );
    std::mem::forget(child); // reaped above
    (took, usage.ru_maxrss as u64)
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: only with --bench.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = number("TRIAGE_BENCH_SCALE", 1_000_000);
    let demo = Demo::start(&["--scale", &n.to_string()]);
    let (took, passes) = ingest(&demo);
    let letters = count(&demo.store, "dead_letters");
    let incidents = count(&demo.store, "incidents");
    eprintln!(
        "synced {letters} dead letters and {incidents} incidents in {:.1} s over {passes} passes",
        took.as_secs_f64()
    );
    let synced = per_second((letters + incidents) as usize, took);
    let store_bytes = std::fs::metadata(&demo.store).map_or(0, |m| m.len());

    // A rare needle: one letter's id, from the middle of the list.
    let conn = Connection::open(&demo.store).expect("open the store");
    let needle: String = conn
        .query_row(
            "SELECT id FROM dead_letters ORDER BY rowid LIMIT 1 OFFSET ?1",
            [letters / 2],
            |r| r.get(0),
        )
        .expect("a letter's id");
    drop(conn);
    let rare = best_of_three(
        &demo,
        &["dead-letters", "--grep", &needle, "--limit", "200"],
    );
    let none = best_of_three(
        &demo,
        &[
            "dead-letters",
            "--grep",
            "zq-no-such-text-7",
            "--limit",
            "200",
        ],
    );
    let (listed, rss) = timed_rss(&demo, &["dead-letters", "--limit", "0", "--json"]);
    // Last: it holds every row in this process, and a child spawned after that would report
    // this process's peak as its own (`ru_maxrss` keeps the high-water mark across fork + exec).
    let (raw_took, raw_rows) = raw_insert(&demo.store, demo.dir.path());
    let raw = per_second(raw_rows, raw_took);

    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let rows = vec![
        Row {
            measure: format!(
                "ingest: `sync` of {letters} letters + {incidents} incidents over HTTP, rows/s"
            ),
            result: format!("{synced:.0}"),
            reference: format!("raw insert into a bare table: {raw:.0}"),
            ratio: format!("{:.2}", synced / raw),
            target: "≥ 0.5",
        },
        Row {
            measure: "store file after ingest".into(),
            result: format!("{:.0} MB", store_bytes as f64 / 1e6),
            reference: String::new(),
            ratio: String::new(),
            target: "",
        },
        Row {
            measure: format!(
                "`dead-letters --grep` one letter's id, first page ({letters} letters)"
            ),
            result: ms(rare),
            reference: String::new(),
            ratio: String::new(),
            target: "< 50 ms",
        },
        Row {
            measure: format!("`dead-letters --grep` no match ({letters} letters)"),
            result: ms(none),
            reference: String::new(),
            ratio: String::new(),
            target: "< 50 ms",
        },
        Row {
            measure: "`dead-letters --limit 0 --json`, rows/s".into(),
            result: format!("{:.0}", per_second(letters as usize, listed)),
            reference: String::new(),
            ratio: String::new(),
            target: "≥ 100000",
        },
        Row {
            measure: "`dead-letters --limit 0 --json`, peak RSS".into(),
            result: format!("{:.1} MB", rss as f64 / 1024.0),
            reference: String::new(),
            ratio: String::new(),
            target: "< 32 MB",
        },
    ];
    print(&rows);
    // The demo is killed when `demo` drops: nothing outlives the bench.
}
