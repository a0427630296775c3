//! The dead letters' search index: which *blocks* of 4 consecutive `row_id`s hold each byte
//! trigram (ASCII folded, `domain::search::trigrams`) of the letters' searchable fields, kept
//! OFF the ingest path. A catch-up ([`Store::catch_up_search_index`]) run after sync batches
//! commit — and, bounded, before a search that finds many letters behind — indexes the letters
//! written since it last ran (`row_id` above the watermark `indexed_to`) and rebuilds the
//! chunks of those the triggers marked pending (searchable text changed, deleted, a `row_id`
//! taken again), one chunk per transaction of its own.
//!
//! The layout (schema V14, docs/ARCHITECTURE.md): the `row_id`s are cut into chunks of 4,096
//! (1,024 blocks of 4). A trigram is hashed to one of 2^20 *slots* (two trigrams may share a
//! slot: the index then finds a few more candidates, never fewer); a chunk's postings are
//! grouped by the slot's top 12 bits into 4,096 rows of `dead_letter_search_blocks`, keyed
//! `chunk << 12 | bucket`, each a blob of entries sorted by the slot's low byte: the byte, then
//! either `n` (1..63) block numbers (`u16`) or `0` and a 1,024-bit map of blocks. A chunk is written
//! whole, in `row_id` order, so the write is an append: no tokenizer, no segments, no merges.
//!
//! The index only narrows: a search plans ([`Store::dead_letter_search_plan`]) to read the
//! letters of the blocks that hold every trigram of its needles (per chunk, the trigrams'
//! block maps ANDed) plus every letter the index does not cover yet (the tail and the pending
//! ones), each verified by the exact match (`triage_contains` / the query function), so answers
//! are always those of a plain scan. It does so only when the candidates are few; a common word
//! walks the list order as before (its first page comes at once), and a needle of fewer than 3
//! bytes cannot use trigrams at all.

use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{Result, Store};
use crate::domain::query::{Query, TermKind};
use crate::domain::search::trigrams;

/// A chunk is `1 << CHUNK_BITS` consecutive `row_id`s, indexed (and rebuilt) whole.
const CHUNK_BITS: u32 = 12;
/// A block — what the index tells apart — is `1 << BLOCK_BITS` consecutive `row_id`s.
const BLOCK_BITS: u32 = 2;
/// Bits of a block's number inside its chunk.
const BLOCK_NUMBER_BITS: u32 = CHUNK_BITS - BLOCK_BITS;
/// Blocks in a chunk.
const BLOCKS: usize = 1 << BLOCK_NUMBER_BITS;
/// A chunk's blocks as a bit map.
type Blocks = [u64; BLOCKS / 64];
/// Trigrams are hashed to `1 << SLOT_BITS` slots.
const SLOT_BITS: u32 = 20;
/// The slot's low bits name an entry inside its bucket's row; the rest name the row.
const LO_BITS: u32 = 8;
const BUCKET_BITS: u32 = SLOT_BITS - LO_BITS;
/// A slot in this many blocks of a chunk or more is stored as a map of the chunk's blocks.
const DENSE_AT: usize = BLOCKS / 16;
/// A search reads the index's candidates first only when there are at most this many.
pub const CANDIDATES_MAX: usize = 5_000;
/// ... and when at most this many letters are behind the index (read exactly beside them).
pub const BEHIND_MAX: u64 = 50_000;
/// A search that finds more letters than this behind the index first indexes for a while.
const LAZY_BEHIND: u64 = 20_000;
/// How long that may take (the search then reads what is left behind exactly).
const LAZY_BUDGET: Duration = Duration::from_millis(300);
/// How long the lazy catch-up waits for another writer's lock before leaving it for later.
const LAZY_BUSY: Duration = Duration::from_millis(50);

/// What a catch-up did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SearchCatchUp {
    /// Letters indexed by this call: new ones, and pending ones indexed anew.
    pub indexed: u64,
    /// Letters still behind the index afterwards (the tail above the watermark + pending).
    pub behind: u64,
}

/// How a search over dead letters reads them (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchPlan {
    /// Every letter the other terms allow, in list order, each matched exactly.
    Walk,
    /// The index's candidates (`candidates`: their `row_id`s as a JSON array; `None` when the
    /// index has none) plus every letter behind the index.
    Candidates {
        candidates: Option<String>,
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

/// The `FROM` of a candidate plan: the index's candidates (`json_each(?{param})`), the pending
/// letters and the tail, joined to their rows (each row once; the caller's `WHERE` verifies).
pub(super) fn candidate_source(candidates_param: Option<usize>) -> String {
    let from_index = match candidates_param {
        Some(n) => format!("SELECT value AS rid FROM json_each(?{n}) UNION "),
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
    /// Indexes up to `max_rows` letters behind the search index — the chunks of pending ones
    /// first, then the tail in `row_id` order, the last chunk even when letters may still come
    /// into it — one chunk per transaction.
    pub fn catch_up_search_index(&self, max_rows: u64) -> Result<SearchCatchUp> {
        self.catch_up(max_rows, None, false)
    }

    /// Like [`Store::catch_up_search_index`], but leaves a last chunk that new letters may
    /// still come into for later (the letters there are read exactly): what sync runs, so
    /// that no chunk is written twice as it fills.
    pub fn catch_up_sealed_search_index(&self, max_rows: u64) -> Result<SearchCatchUp> {
        self.catch_up(max_rows, None, true)
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

    fn catch_up(
        &self,
        max_rows: u64,
        deadline: Option<Instant>,
        sealed: bool,
    ) -> Result<SearchCatchUp> {
        let mut done = SearchCatchUp::default();
        let mut builder = Builder::default();
        loop {
            let budget = max_rows.saturating_sub(done.indexed);
            if budget == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
                    .map_err(|e| self.sqlite(e))?;
            let step =
                catch_up_step(&tx, &mut builder, budget, sealed).map_err(|e| self.sqlite(e))?;
            tx.commit().map_err(|e| self.sqlite(e))?;
            match step {
                Some(indexed) => done.indexed += indexed,
                None => break,
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
        if let Err(e) = self.catch_up(u64::MAX, Some(Instant::now() + LAZY_BUDGET), true) {
            tracing::debug!(error = %e, "search index catch-up before a search left for later");
        }
        let _ = self.conn.busy_timeout(super::open::BUSY_TIMEOUT);
    }

    pub(super) fn search_plan(&self, needles: &[&[u8]]) -> Result<SearchPlan> {
        let mut slots: Vec<u32> = needles
            .iter()
            .filter(|n| n.len() >= 3)
            .flat_map(|n| trigrams(n))
            .map(slot)
            .collect();
        slots.sort_unstable();
        slots.dedup();
        if slots.is_empty() || !self.search_index {
            return Ok(SearchPlan::Walk);
        }
        let behind = self.search_index_behind()?;
        if behind > BEHIND_MAX {
            return Ok(SearchPlan::Walk);
        }
        let indexed_to: i64 = self
            .conn
            .prepare_cached("SELECT indexed_to FROM dead_letter_search_state")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(|e| self.sqlite(e))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT grams FROM dead_letter_search_blocks WHERE key = ?1")
            .map_err(|e| self.sqlite(e))?;
        let mut found: Vec<i64> = Vec::new();
        // Nothing is indexed while the watermark is 0; else every chunk up to its own.
        let chunks = if indexed_to > 0 {
            (indexed_to >> CHUNK_BITS) + 1
        } else {
            0
        };
        for chunk in 0..chunks {
            let mut blocks: Blocks = [u64::MAX; BLOCKS / 64];
            for i in 0..slots.len() {
                let slot = slots[i];
                let key = chunk << BUCKET_BITS | i64::from(slot >> LO_BITS);
                let entry = stmt
                    .query_row([key], |r| {
                        Ok(match r.get_ref(0)? {
                            ValueRef::Blob(blob) => postings(blob, slot as u8),
                            _ => None,
                        })
                    })
                    .optional()
                    .map_err(|e| self.sqlite(e))?
                    .flatten();
                match entry {
                    Some(has) => blocks.iter_mut().zip(has).for_each(|(b, h)| *b &= h),
                    None => blocks = [0; BLOCKS / 64],
                }
                if blocks.iter().all(|&b| b == 0) {
                    // The slot that ruled this chunk out is asked first of the next one.
                    slots[..=i].rotate_right(1);
                    break;
                }
            }
            let first = chunk << CHUNK_BITS;
            for block in set_bits(&blocks) {
                let from = first + (block << BLOCK_BITS) as i64;
                found.extend((from..from + (1 << BLOCK_BITS)).filter(|&r| r <= indexed_to));
            }
            if found.len() > CANDIDATES_MAX {
                return Ok(SearchPlan::Walk);
            }
        }
        let indexed = found.len();
        let candidates = (!found.is_empty()).then(|| {
            let mut json = String::with_capacity(found.len() * 8 + 2);
            json.push('[');
            for (i, row_id) in found.iter().enumerate() {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&row_id.to_string());
            }
            json.push(']');
            json
        });
        Ok(SearchPlan::Candidates {
            candidates,
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

/// A trigram's slot: the top bits of a multiplicative hash.
fn slot(gram: u32) -> u32 {
    (u64::from(gram).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOT_BITS)) as u32
}

/// The blocks of a slot's entry (`lo`: the slot's low byte) in a bucket's row, if it has one.
fn postings(row: &[u8], lo: u8) -> Option<Blocks> {
    let mut at = 0;
    while let (Some(&entry), Some(&n)) = (row.get(at), row.get(at + 1)) {
        let len = if n == 0 {
            BLOCKS / 8
        } else {
            2 * usize::from(n)
        };
        let data = row.get(at + 2..at + 2 + len)?;
        if entry == lo {
            let mut blocks: Blocks = [0; BLOCKS / 64];
            if n == 0 {
                for (word, bytes) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *word = u64::from_le_bytes(bytes.try_into().ok()?);
                }
            } else {
                for number in data.chunks_exact(2) {
                    let block = usize::from(u16::from_le_bytes([number[0], number[1]]));
                    *blocks.get_mut(block / 64)? |= 1 << (block % 64);
                }
            }
            return Some(blocks);
        }
        if entry > lo {
            return None;
        }
        at += 2 + len;
    }
    None
}

/// The numbers of the set bits of a block map, ascending.
fn set_bits(blocks: &Blocks) -> impl Iterator<Item = usize> + '_ {
    blocks.iter().enumerate().flat_map(|(w, &word)| {
        let mut word = word;
        std::iter::from_fn(move || {
            (word != 0).then(|| {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                w * 64 + bit
            })
        })
    })
}

/// Collects a chunk's (slot, block) postings: each slot once per block.
struct Builder {
    /// One bit per slot: already posted for the current block.
    seen: Vec<u64>,
    /// The slots posted for the current block (to clear `seen` when the block changes).
    posted: Vec<u32>,
    /// `slot << BLOCK_NUMBER_BITS | block`, blocks ascending.
    pairs: Vec<u32>,
    spare: Vec<u32>,
    block: u32,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            seen: vec![0; 1 << (SLOT_BITS - 6)],
            posted: Vec::with_capacity(4096),
            pairs: Vec::new(),
            spare: Vec::new(),
            block: u32::MAX,
        }
    }
}

impl Builder {
    fn clear_block(&mut self) {
        for &s in &self.posted {
            self.seen[(s >> 6) as usize] &= !(1 << (s & 63));
        }
        self.posted.clear();
    }

    fn reset(&mut self) {
        self.clear_block();
        self.pairs.clear();
        self.block = u32::MAX;
    }

    fn start_block(&mut self, block: u32) {
        if block != self.block {
            self.clear_block();
            self.block = block;
        }
    }

    /// Posts every trigram of one field of a letter in the current block (the same trigrams as
    /// `domain::search::trigrams`, rolled over the bytes).
    fn add(&mut self, bytes: &[u8]) {
        let mut gram = 0u32;
        for (i, &b) in bytes.iter().enumerate() {
            gram = (gram << 8 | u32::from(b.to_ascii_lowercase())) & 0xFF_FFFF;
            if i >= 2 {
                let s = slot(gram);
                let (word, bit) = ((s >> 6) as usize, 1u64 << (s & 63));
                if self.seen[word] & bit == 0 {
                    self.seen[word] |= bit;
                    self.posted.push(s);
                    self.pairs.push(s << BLOCK_NUMBER_BITS | self.block);
                }
            }
        }
    }

    /// The postings sorted by slot, blocks ascending within a slot (two stable counting passes
    /// over the slot's bits: they were posted in block order).
    fn sorted(&mut self) -> &[u32] {
        for shift in [BLOCK_NUMBER_BITS, BLOCK_NUMBER_BITS + 10] {
            let mut counts = [0usize; 1024];
            for &p in &self.pairs {
                counts[((p >> shift) & 1023) as usize] += 1;
            }
            let mut sum = 0;
            for c in counts.iter_mut() {
                let n = *c;
                *c = sum;
                sum += n;
            }
            self.spare.clear();
            self.spare.resize(self.pairs.len(), 0);
            for &p in &self.pairs {
                let d = ((p >> shift) & 1023) as usize;
                self.spare[counts[d]] = p;
                counts[d] += 1;
            }
            std::mem::swap(&mut self.pairs, &mut self.spare);
        }
        &self.pairs
    }
}

/// One letter's searchable fields, as `triage_contains` reads them.
const FIELDS: &str = "row_id, id, connector, error_code, error_message, headers, payload";

/// One step of a catch-up inside the caller's transaction: the chunk of the first pending
/// letter rebuilt, or else the next chunk above the watermark indexed (up to `budget` letters
/// past it; only a chunk no new letter can come into when `sealed`). Returns the letters it
/// indexed, or `None` when there was nothing to do.
fn catch_up_step(
    conn: &Connection,
    builder: &mut Builder,
    budget: u64,
    sealed: bool,
) -> rusqlite::Result<Option<u64>> {
    let indexed_to: i64 =
        conn.query_row("SELECT indexed_to FROM dead_letter_search_state", [], |r| {
            r.get(0)
        })?;
    let pending: Option<i64> = conn.query_row(
        "SELECT min(row_id) FROM dead_letter_search_pending",
        [],
        |r| r.get(0),
    )?;
    if let Some(row_id) = pending {
        let chunk = row_id >> CHUNK_BITS;
        let (first, last) = (chunk << CHUNK_BITS, ((chunk + 1) << CHUNK_BITS) - 1);
        if row_id <= indexed_to {
            build_chunk(conn, builder, chunk, last.min(indexed_to))?;
        }
        // Pending letters above the watermark are the tail's: read exactly, indexed with it.
        let settled = conn
            .prepare_cached(
                "DELETE FROM dead_letter_search_pending WHERE row_id BETWEEN ?1 AND ?2",
            )?
            .execute([first, last])?;
        return Ok(Some(settled as u64));
    }
    let max_row: i64 =
        conn.query_row("SELECT ifnull(max(row_id), 0) FROM dead_letters", [], |r| {
            r.get(0)
        })?;
    if max_row <= indexed_to {
        return Ok(None);
    }
    let chunk = (indexed_to + 1) >> CHUNK_BITS;
    let last = ((chunk + 1) << CHUNK_BITS) - 1;
    if sealed && max_row < last {
        return Ok(None);
    }
    let top = last
        .min(max_row)
        .min(indexed_to.saturating_add(i64::try_from(budget).unwrap_or(i64::MAX)));
    let letters = build_chunk(conn, builder, chunk, top)?;
    conn.prepare_cached("UPDATE dead_letter_search_state SET indexed_to = ?1")?
        .execute([top])?;
    let fresh: u64 = letters.iter().filter(|&&r| r > indexed_to).count() as u64;
    Ok(Some(fresh))
}

/// (Re)writes a chunk's rows from its letters up to `top`; returns their `row_id`s.
fn build_chunk(
    conn: &Connection,
    builder: &mut Builder,
    chunk: i64,
    top: i64,
) -> rusqlite::Result<Vec<i64>> {
    let first = chunk << CHUNK_BITS;
    conn.prepare_cached("DELETE FROM dead_letter_search_blocks WHERE key >= ?1 AND key < ?2")?
        .execute([chunk << BUCKET_BITS, (chunk + 1) << BUCKET_BITS])?;
    builder.reset();
    let mut letters = Vec::with_capacity(1 << CHUNK_BITS);
    {
        let mut read = conn.prepare_cached(&format!(
            "SELECT {FIELDS} FROM dead_letters WHERE row_id BETWEEN ?1 AND ?2 ORDER BY row_id"
        ))?;
        let mut rows = read.query([first, top])?;
        while let Some(row) = rows.next()? {
            let row_id: i64 = row.get(0)?;
            letters.push(row_id);
            builder.start_block(((row_id - first) >> BLOCK_BITS) as u32);
            for i in 1..7 {
                if let Ok(Some(bytes)) = row.get_ref(i)?.as_bytes_or_null() {
                    builder.add(bytes);
                }
            }
        }
    }
    write_pairs(conn, chunk, builder.sorted())?;
    Ok(letters)
}

/// Writes a chunk's postings (sorted by slot, blocks ascending) as its bucket rows.
fn write_pairs(conn: &Connection, chunk: i64, pairs: &[u32]) -> rusqlite::Result<()> {
    let mut insert =
        conn.prepare_cached("INSERT INTO dead_letter_search_blocks (key, grams) VALUES (?1, ?2)")?;
    let mut row = Vec::with_capacity(4096);
    let mut at = 0;
    while at < pairs.len() {
        let bucket = pairs[at] >> (BLOCK_NUMBER_BITS + LO_BITS);
        row.clear();
        while at < pairs.len() && pairs[at] >> (BLOCK_NUMBER_BITS + LO_BITS) == bucket {
            let slot = pairs[at] >> BLOCK_NUMBER_BITS;
            let start = at;
            while at < pairs.len() && pairs[at] >> BLOCK_NUMBER_BITS == slot {
                at += 1;
            }
            let blocks = &pairs[start..at];
            row.push(slot as u8);
            if blocks.len() >= DENSE_AT {
                row.push(0);
                let mut map = [0u8; BLOCKS / 8];
                for &p in blocks {
                    let block = p as usize & (BLOCKS - 1);
                    map[block / 8] |= 1 << (block % 8);
                }
                row.extend_from_slice(&map);
            } else {
                row.push(blocks.len() as u8);
                for &p in blocks {
                    row.extend_from_slice(&((p as usize & (BLOCKS - 1)) as u16).to_le_bytes());
                }
            }
        }
        insert.execute(params![chunk << BUCKET_BITS | i64::from(bucket), row])?;
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
                if n.is_multiple_of(250) { "Rarity" } else { "" }
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
            limit: 10_000,
            ..Default::default()
        };
        store
            .page_dead_letters(&q)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// The builder's rolled trigrams are `domain::search::trigrams`, ASCII folding included.
    #[test]
    fn the_builder_posts_the_trigrams_a_needle_asks_for() {
        let text = "Order ORD-7731 failed: Café \u{0}\u{ff}x".as_bytes();
        let mut builder = Builder::default();
        builder.start_block(3);
        builder.add(text);
        let mut posted: Vec<u32> = builder
            .pairs
            .iter()
            .map(|p| p >> BLOCK_NUMBER_BITS)
            .collect();
        posted.sort_unstable();
        let mut want: Vec<u32> = trigrams(text).map(slot).collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(posted, want);
        assert!(builder.pairs.iter().all(|p| p & (BLOCKS as u32 - 1) == 3));
    }

    /// A slot's blocks come back from its bucket's row, sparse (a list) and dense (a map), and
    /// a slot without an entry has none.
    #[test]
    fn a_bucket_row_gives_back_each_slot_s_blocks() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"));
        // Slots 0x00100, 0x00105 (one bucket) and 0x00200: 3 blocks, 200 blocks, 1 block.
        let mut builder = Builder::default();
        for block in 0..BLOCKS as u32 {
            builder.pairs.extend(
                [
                    (0x00100, block % 80 == 5),
                    (0x00105, block < 200),
                    (0x00200, block == 255),
                ]
                .into_iter()
                .filter(|&(_, on)| on)
                .map(|(s, _)| s << BLOCK_NUMBER_BITS | block),
            );
        }
        store
            .conn
            .execute("DELETE FROM dead_letter_search_blocks", [])
            .unwrap_or_else(|e| panic!("{e}"));
        write_pairs(&store.conn, 7, builder.sorted()).unwrap_or_else(|e| panic!("{e}"));
        let row = |bucket: i64| -> Vec<u8> {
            store
                .conn
                .query_row(
                    "SELECT grams FROM dead_letter_search_blocks WHERE key = ?1",
                    [7 << BUCKET_BITS | bucket],
                    |r| r.get(0),
                )
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let blocks =
            |row: &[u8], lo: u8| postings(row, lo).map(|b| set_bits(&b).collect::<Vec<_>>());
        assert_eq!(
            blocks(&row(1), 0x00),
            Some((5..BLOCKS).step_by(80).collect())
        );
        assert_eq!(blocks(&row(1), 0x05), Some((0..200).collect()));
        assert_eq!(blocks(&row(1), 0x04), None);
        assert_eq!(blocks(&row(2), 0x00), Some(vec![255]));
        assert_eq!(
            postings(&[0, 9, 1], 0),
            None,
            "a cut row is read as no entry"
        );
    }

    /// A common word walks; a rare one narrows to its blocks; answers stay those of the scan,
    /// with the index whole, in part (a tail read exactly) and after rewrites.
    #[test]
    fn a_rare_word_narrows_to_its_blocks_and_searches_stay_exact() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut store = Store::open(&dir.path().join("t.db")).unwrap_or_else(|e| panic!("{e}"));
        let batch = |letters: Vec<DeadLetter>| SyncBatch {
            upstream: "u".into(),
            at: chrono::Utc::now(),
            connectors: None,
            incidents: vec![],
            dead_letters: letters,
            cursors: vec![],
            state: ConnectionState::Connecting,
        };
        store
            .write_sync_batch(&batch((0..10_000).map(letter).collect()))
            .unwrap_or_else(|e| panic!("{e}"));
        // Sealed: the two whole chunks, not the third that new letters may still come into.
        let done = store
            .catch_up_sealed_search_index(u64::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            done,
            SearchCatchUp {
                indexed: 8_191,
                behind: 1_809
            }
        );
        assert_eq!(
            store.dead_letter_search_plan(Some("everywhere"), None).ok(),
            Some(SearchPlan::Walk)
        );
        // "rarity": 33 letters in the indexed chunks, one to a block; the 7 of the tail are
        // read exactly beside them.
        assert!(matches!(
            store.dead_letter_search_plan(Some("rarity"), None),
            Ok(SearchPlan::Candidates {
                indexed: 132,
                behind: 1_809,
                ..
            })
        ));
        let check = |store: &mut Store| {
            for needle in [
                "everywhere",
                "rarity",
                "RARITY",
                "words 7",
                "s 3 R",
                "dl-4096",
                "nowhere",
            ] {
                let indexed = ids(store, needle);
                store.use_search_index(false);
                assert_eq!(indexed, ids(store, needle), "{needle}");
                store.use_search_index(true);
            }
        };
        check(&mut store);
        assert_eq!(ids(&store, "rarity").len(), 40);
        store
            .catch_up_search_index(u64::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.search_index_behind().ok(), Some(0));
        check(&mut store);
        // Rewritten letters are pending (read exactly) until their chunks are rebuilt.
        let mut rewritten: Vec<DeadLetter> = (0..10_000).step_by(999).map(letter).collect();
        for l in &mut rewritten {
            l.payload = b"now a Rarity too".to_vec();
        }
        store
            .write_sync_batch(&batch(rewritten))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.search_index_behind().ok(), Some(11));
        check(&mut store);
        assert_eq!(ids(&store, "rarity").len(), 40 + 11 - 1);
        let done = store
            .catch_up_search_index(u64::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            done,
            SearchCatchUp {
                indexed: 11,
                behind: 0
            }
        );
        check(&mut store);
    }
}
