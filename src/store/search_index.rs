//! The dead letters' search index: byte trigrams (ASCII folded, `domain::search::trigrams`) in
//! an FTS5 table, kept OFF the ingest path. A catch-up ([`Store::catch_up_search_index`]) run
//! after each sync batch commits — and, bounded, before a search that finds many letters behind
//! — indexes the letters written since it last ran (`row_id` above the watermark `indexed_to`)
//! and those the V10 triggers marked pending (searchable text changed, deleted, a `row_id`
//! taken again), in short transactions of its own.
//!
//! The index only narrows: a search plans ([`Store::dead_letter_search_plan`]) to read the
//! index's candidates plus every letter it does not cover yet (the tail and the pending ones),
//! each verified by the exact match (`triage_contains` / the query function), so answers are
//! always those of a plain scan. It does so only when the candidates are few; a common word
//! walks the list order as before (its first page comes at once), and a needle of fewer than 3
//! bytes cannot use trigrams at all.
//!
//! Fewer tokens per letter: each letter's trigrams are deduplicated, and a trigram indexed for
//! more than [`SATURATED_AT`] letters (or a 16th of the indexed ones) is *saturated* — no longer indexed, never asked for (a
//! needle of only saturated trigrams is common, and walks). `dead_letter_search_grams` counts
//! every trigram of every indexed letter, so a trigram missing there is in no indexed letter:
//! a needle with one is answered from the tail alone.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::domain::query::{Query, TermKind};
use crate::domain::search::trigrams;

/// Letters indexed per catch-up transaction (tens of milliseconds of write lock).
const CHUNK_ROWS: usize = 2_000;
/// A trigram indexed for more letters than this (or than a 16th of the indexed letters, when
/// that is more) is saturated: too common to narrow a search, so no longer indexed. The floor
/// is low so that a new store's words common to most letters (JSON keys, the error's words)
/// saturate within its first few thousand letters; the 16th keeps a trigram in fewer than one
/// letter in 16 (digits of ids and order numbers) indexed however the store grows.
pub const SATURATED_AT: i64 = 5_000;
/// A search reads the index's candidates first only when there are at most this many.
pub const CANDIDATES_MAX: usize = 5_000;
/// ... and when at most this many letters are behind the index (read exactly beside them).
pub const BEHIND_MAX: u64 = 50_000;
/// Trigrams asked of the index per search, rarest first.
const GRAMS_ASKED: usize = 8;
/// A search that finds more letters than this behind the index first indexes for a while.
const LAZY_BEHIND: u64 = 20_000;
/// How long that may take (the search then reads what is left behind exactly).
const LAZY_BUDGET: Duration = Duration::from_millis(300);
/// How long the lazy catch-up waits for another writer's lock before leaving it for later.
const LAZY_BUSY: Duration = Duration::from_millis(50);

/// What a catch-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchCatchUp {
    /// Letters (re)indexed by this call.
    pub indexed: u64,
    /// Letters still behind the index afterwards (the tail above the watermark + pending).
    pub behind: u64,
}

/// How a search over dead letters reads them (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPlan {
    /// Every letter the other terms allow, in list order, each matched exactly.
    Walk,
    /// The index's candidates (`match_expr`: the FTS5 query; `None` when a needle has a
    /// trigram no indexed letter has) plus every letter behind the index.
    Candidates {
        match_expr: Option<String>,
        /// How many candidates the index gave.
        indexed: usize,
        /// Letters behind the index, read exactly.
        behind: u64,
    },
}

/// The substrings every row a search selects must contain somewhere in its searchable fields:
/// the plain text (`--grep`) and the query's positive free-text and `error:` terms.
pub(super) fn needles<'a>(text: Option<&'a str>, query: Option<&'a Query>) -> Vec<&'a [u8]> {
    let from_query =
        query
            .into_iter()
            .flat_map(|q| q.terms())
            .filter_map(|t| match (&t.kind, t.negated) {
                (TermKind::Text(s) | TermKind::Error(s), false) => Some(s.as_bytes()),
                _ => None,
            });
    text.map(str::as_bytes)
        .into_iter()
        .chain(from_query)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The `FROM` of a candidate plan: the index's candidates (`MATCH ?{param}`), the pending
/// letters and the tail, joined to their rows (each row once; the caller's `WHERE` verifies).
pub(super) fn candidate_source(match_param: Option<usize>) -> String {
    let from_index = match match_param {
        Some(n) => format!(
            "SELECT rowid AS rid FROM dead_letter_search WHERE dead_letter_search MATCH ?{n} UNION "
        ),
        None => String::new(),
    };
    format!(
        "({from_index}SELECT row_id AS rid FROM dead_letter_search_pending
           UNION SELECT row_id FROM dead_letters
                  WHERE row_id > (SELECT indexed_to FROM dead_letter_search_state)) AS search_candidates
         CROSS JOIN dead_letters ON dead_letters.row_id = search_candidates.rid"
    )
}

impl Store {
    /// Indexes up to `max_rows` letters behind the search index — pending ones first, then the
    /// tail in `row_id` order — in transactions of a few thousand letters. Run by the process
    /// that writes, after its batches commit.
    pub fn catch_up_search_index(&self, max_rows: u64) -> Result<SearchCatchUp> {
        self.catch_up(max_rows, None)
    }

    /// Like [`Store::catch_up_search_index`], but stops after the chunk that passes `budget`.
    pub fn catch_up_search_index_for(&self, budget: Duration) -> Result<SearchCatchUp> {
        self.catch_up(u64::MAX, Some(Instant::now() + budget))
    }

    /// Letters behind the search index: above its watermark, or pending.
    pub fn search_index_behind(&self) -> Result<u64> {
        behind(&self.conn).map_err(|e| self.sqlite(e))
    }

    /// Turns the search index off (searches walk and scan, as before it existed) or on again:
    /// for benchmarks and tests that compare the two. It is on when a store opens.
    pub fn use_search_index(&mut self, on: bool) {
        self.search_index = on;
    }

    /// How a search for `text` (`--grep`) and the query's terms would read the letters now.
    pub fn dead_letter_search_plan(
        &self,
        text: Option<&str>,
        query: Option<&Query>,
    ) -> Result<SearchPlan> {
        self.search_plan(&needles(text, query))
    }

    fn catch_up(&self, max_rows: u64, deadline: Option<Instant>) -> Result<SearchCatchUp> {
        let mut done = SearchCatchUp::default();
        loop {
            let rows = (max_rows - done.indexed).min(CHUNK_ROWS as u64) as usize;
            if rows == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
                    .map_err(|e| self.sqlite(e))?;
            let indexed = index_chunk(&tx, rows, SATURATED_AT).map_err(|e| self.sqlite(e))?;
            tx.commit().map_err(|e| self.sqlite(e))?;
            done.indexed += indexed as u64;
            if indexed < rows {
                break;
            }
        }
        done.behind = self.search_index_behind()?;
        Ok(done)
    }

    /// Before a search: when many letters are behind the index, index for a while (leaving it
    /// when another writer holds the lock). Never fails the search: what is left behind is
    /// read exactly.
    pub(super) fn catch_up_before_search(&self) {
        if !self.search_index || !self.conn.is_autocommit() {
            return;
        }
        match self.search_index_behind() {
            Ok(n) if n > LAZY_BEHIND => {}
            _ => return,
        }
        let _ = self.conn.busy_timeout(LAZY_BUSY);
        if let Err(e) = self.catch_up_search_index_for(LAZY_BUDGET) {
            tracing::debug!(error = %e, "search index catch-up before a search left for later");
        }
        let _ = self.conn.busy_timeout(super::open::BUSY_TIMEOUT);
    }

    pub(super) fn search_plan(&self, needles: &[&[u8]]) -> Result<SearchPlan> {
        let mut grams: Vec<u32> = needles
            .iter()
            .filter(|n| n.len() >= 3)
            .flat_map(|n| trigrams(n))
            .collect();
        grams.sort_unstable();
        grams.dedup();
        if grams.is_empty() || !self.search_index {
            return Ok(SearchPlan::Walk);
        }
        let behind = self.search_index_behind()?;
        if behind > BEHIND_MAX {
            return Ok(SearchPlan::Walk);
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT letters, saturated FROM dead_letter_search_grams WHERE gram = ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let mut usable = Vec::new();
        for gram in grams {
            let found: Option<(i64, bool)> = stmt
                .query_row([gram], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(|e| self.sqlite(e))?;
            match found {
                // No indexed letter has this trigram, so none has the needle.
                None => {
                    return Ok(SearchPlan::Candidates {
                        match_expr: None,
                        indexed: 0,
                        behind,
                    });
                }
                Some((letters, false)) => usable.push((letters, gram)),
                Some((_, true)) => {}
            }
        }
        if usable.is_empty() {
            return Ok(SearchPlan::Walk);
        }
        usable.sort_unstable();
        let match_expr =
            usable
                .iter()
                .take(GRAMS_ASKED)
                .fold(String::new(), |mut expr, &(_, gram)| {
                    if !expr.is_empty() {
                        expr.push(' ');
                    }
                    push_token(&mut expr, gram);
                    expr
                });
        let indexed: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT rowid FROM dead_letter_search
                  WHERE dead_letter_search MATCH ?1 LIMIT ?2)",
            )
            .and_then(|mut s| {
                s.query_row(params![match_expr, CANDIDATES_MAX as i64 + 1], |r| r.get(0))
            })
            .map_err(|e| self.sqlite(e))?;
        let indexed = usize::try_from(indexed).unwrap_or(usize::MAX);
        if indexed > CANDIDATES_MAX {
            return Ok(SearchPlan::Walk);
        }
        Ok(SearchPlan::Candidates {
            match_expr: Some(match_expr),
            indexed,
            behind,
        })
    }
}

fn behind(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached(
        "SELECT max(ifnull((SELECT max(row_id) FROM dead_letters), 0) - indexed_to, 0)
                + (SELECT count(*) FROM dead_letter_search_pending)
           FROM dead_letter_search_state",
    )?
    .query_row([], |r| r.get::<_, i64>(0))
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// A trigram as an FTS5 token: 5 characters of `0-9a-v` (the `ascii` tokenizer's word
/// characters, none of them an FTS5 operator).
fn push_token(text: &mut String, gram: u32) {
    const DIGITS: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    text.extend(
        (0..5)
            .rev()
            .map(|i| char::from(DIGITS[((gram >> (i * 5)) & 31) as usize])),
    );
}

/// Hashes a trigram with one multiplication (the counts' map takes a million a chunk).
#[derive(Default)]
struct GramHasher(u64);

impl Hasher for GramHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, gram: u32) {
        // The product's high half depends on every bit of the gram; fold it into the low bits
        // the map's buckets are chosen by.
        let h = u64::from(gram).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

/// One letter's searchable fields, as `triage_contains` reads them.
const FIELDS: &str = "row_id, id, connector, error_code, error_message, headers, payload";

/// Indexes up to `rows` letters (pending first, then the tail) inside the caller's
/// transaction, trigrams saturating past `saturated_at` letters (or a 16th of those indexed);
/// returns how many it took.
fn index_chunk(conn: &Connection, rows: usize, saturated_at: i64) -> rusqlite::Result<usize> {
    let indexed_to: i64 =
        conn.query_row("SELECT indexed_to FROM dead_letter_search_state", [], |r| {
            r.get(0)
        })?;
    let pending: Vec<i64> = conn
        .prepare_cached("SELECT row_id FROM dead_letter_search_pending ORDER BY row_id LIMIT ?1")?
        .query_map([rows as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut letters: Vec<(i64, Vec<u32>)> = Vec::with_capacity(rows);
    {
        let mut forget = conn.prepare_cached("DELETE FROM dead_letter_search WHERE rowid = ?1")?;
        let mut settle =
            conn.prepare_cached("DELETE FROM dead_letter_search_pending WHERE row_id = ?1")?;
        let mut read = conn.prepare_cached(&format!(
            "SELECT {FIELDS} FROM dead_letters WHERE row_id = ?1"
        ))?;
        for &row_id in &pending {
            forget.execute([row_id])?;
            settle.execute([row_id])?;
            if let Some(letter) = read.query_row([row_id], letter_grams).optional()? {
                letters.push(letter);
            }
        }
    }
    let mut last = indexed_to;
    let mut taken = pending.len();
    let tail = rows - pending.len();
    if tail > 0 {
        let mut read = conn.prepare_cached(&format!(
            "SELECT {FIELDS} FROM dead_letters WHERE row_id > ?1 ORDER BY row_id LIMIT ?2"
        ))?;
        let mut rows = read.query(params![indexed_to, tail as i64])?;
        while let Some(row) = rows.next()? {
            let letter = letter_grams(row)?;
            last = letter.0;
            taken += 1;
            letters.push(letter);
        }
    }
    write_grams(conn, &letters, saturated_at.max(indexed_to / 16))?;
    if last > indexed_to {
        conn.prepare_cached("UPDATE dead_letter_search_state SET indexed_to = ?1")?
            .execute([last])?;
    }
    Ok(taken)
}

/// A letter's distinct trigrams over its searchable fields, each field on its own (a needle
/// never spans two fields).
fn letter_grams(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Vec<u32>)> {
    let mut grams = Vec::with_capacity(1024);
    for i in 1..7 {
        if let Some(bytes) = row.get_ref(i)?.as_bytes_or_null().ok().flatten() {
            grams.extend(trigrams(bytes));
        }
    }
    grams.sort_unstable();
    grams.dedup();
    Ok((row.get(0)?, grams))
}

/// Counts the letters' trigrams, saturating those past the limit, and indexes the rest.
fn write_grams(conn: &Connection, letters: &[(i64, Vec<u32>)], limit: i64) -> rusqlite::Result<()> {
    let mut counts: HashMap<u32, (i64, bool), BuildHasherDefault<GramHasher>> = HashMap::default();
    for (_, grams) in letters {
        for &gram in grams {
            counts.entry(gram).or_default().0 += 1;
        }
    }
    {
        let mut count = conn.prepare_cached(
            "INSERT INTO dead_letter_search_grams (gram, letters) VALUES (?1, ?2)
             ON CONFLICT (gram) DO UPDATE SET letters = letters + excluded.letters,
                saturated = saturated OR letters >= ?3
             RETURNING saturated",
        )?;
        for (gram, (n, saturated)) in counts.iter_mut() {
            *saturated = count.query_row(params![gram, *n, limit], |r| r.get(0))?;
        }
    }
    let mut insert =
        conn.prepare_cached("INSERT INTO dead_letter_search (rowid, grams) VALUES (?1, ?2)")?;
    let mut text = String::new();
    for (row_id, grams) in letters {
        text.clear();
        for gram in grams {
            if counts.get(gram).is_some_and(|&(_, saturated)| !saturated) {
                push_token(&mut text, *gram);
                text.push(' ');
            }
        }
        if !text.is_empty() {
            insert.execute(params![row_id, text])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConnectionState, DeadLetter, DeadLetterError, DeadLetterState};
    use crate::store::{DeadLetterPageQuery, SyncBatch};

    fn letter(n: usize) -> DeadLetter {
        let at = chrono::DateTime::from_timestamp(1_780_000_000 + n as i64, 0).unwrap_or_default();
        DeadLetter {
            upstream: "u".into(),
            id: format!("dl-{n}"),
            connector: "crm".into(),
            // Every letter shares most words; a few carry rarer ones.
            payload: format!(
                "common words everywhere {} {}",
                n % 10,
                if n.is_multiple_of(25) { "Rarity" } else { "" }
            )
            .into_bytes(),
            content_type: None,
            headers: vec![],
            error: DeadLetterError {
                code: "E".into(),
                message: "m".into(),
                http_status: None,
                vendor_response: None,
            },
            attempts: 1,
            first_failed_at: at,
            last_failed_at: at,
            state: DeadLetterState::Dead,
            updated_at: at,
        }
    }

    fn ids(store: &Store, text: &str) -> Vec<String> {
        let q = DeadLetterPageQuery {
            text: Some(text.into()),
            limit: 1000,
            ..Default::default()
        };
        store
            .page_dead_letters(&q)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// Trigrams past the limit stop being indexed and are never asked for; the others still
    /// narrow, and answers stay those of the scan.
    #[test]
    fn saturated_trigrams_are_left_out_and_searches_stay_exact() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut store = Store::open(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"));
        let batch = SyncBatch {
            upstream: "u".into(),
            at: chrono::Utc::now(),
            connectors: None,
            incidents: vec![],
            dead_letters: (0..300).map(letter).collect(),
            cursors: vec![],
            state: ConnectionState::Connecting,
        };
        store
            .write_sync_batch(&batch)
            .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            let tx =
                rusqlite::Transaction::new_unchecked(&store.conn, TransactionBehavior::Immediate)
                    .unwrap_or_else(|e| panic!("{e}"));
            index_chunk(&tx, 100, 40).unwrap_or_else(|e| panic!("{e}"));
            tx.commit().unwrap_or_else(|e| panic!("{e}"));
        }
        let saturated: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM dead_letter_search_grams WHERE saturated",
                [],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(saturated > 10, "{saturated}");
        assert_eq!(
            store.dead_letter_search_plan(Some("everywhere"), None).ok(),
            Some(SearchPlan::Walk)
        );
        assert!(matches!(
            store.dead_letter_search_plan(Some("rarity"), None),
            Ok(SearchPlan::Candidates { indexed: 12, .. })
        ));
        for needle in [
            "everywhere",
            "rarity",
            "RARITY",
            "words 7",
            "s 3 R",
            "nowhere",
        ] {
            let indexed = ids(&store, needle);
            store.use_search_index(false);
            assert_eq!(indexed, ids(&store, needle), "{needle}");
            store.use_search_index(true);
        }
    }
}
