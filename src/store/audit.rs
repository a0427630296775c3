//! The tamper-evident audit log: each row's hash covers the previous row's hash and every field
//! of the row (length-prefixed, so no two different rows hash the same input), starting from a
//! genesis `prev_hash` of 64 zeros. Editing or deleting a row breaks the chain after it.

use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::codec::{from_ms, ms, page_limit};
use super::{AuditEntry, AuditVerification, Result, Store};
use crate::domain::Timestamp;

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const COLUMNS: &str = "seq, at_ms, operator, event, upstream, target, outbox_id, payload_hash, detail, prev_hash, hash";

/// The fields of an audit row the caller supplies; seq and hashes are assigned on append.
pub(crate) struct NewAuditRow<'a> {
    pub at: Timestamp,
    pub operator: &'a str,
    pub event: &'a str,
    pub upstream: &'a str,
    pub target: &'a str,
    pub outbox_id: Option<&'a str>,
    pub payload_hash: Option<&'a str>,
    pub detail: &'a str,
}

/// Appends one row after the current last one. Call inside the transaction that does the
/// audited change (an IMMEDIATE one, so no other writer can append in between).
/// The detail is scrubbed of secrets first (`domain::redact`): a hash-chained row can never be
/// redacted later.
pub(crate) fn append(conn: &Connection, row: &NewAuditRow<'_>) -> rusqlite::Result<i64> {
    AuditTail::read(conn)?.append(conn, row)
}

/// The end of the chain (the last row's seq and hash), read once per transaction so a batch of
/// rows (a run's stage: thousands) is chained in memory instead of reading the last row back
/// before each append. Only valid inside one IMMEDIATE transaction: no other writer appends
/// while it is held.
pub(crate) struct AuditTail {
    seq: i64,
    hash: String,
}

impl AuditTail {
    /// The current end of the chain (seq 0 and the genesis hash for an empty log).
    pub(crate) fn read(conn: &Connection) -> rusqlite::Result<AuditTail> {
        let last: Option<(i64, String)> = conn
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match last {
            Some((seq, hash)) => AuditTail { seq, hash },
            None => AuditTail {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
            },
        })
    }

    /// Appends `row` after the tail (its detail scrubbed of secrets) and moves the tail to it.
    pub(crate) fn append(
        &mut self,
        conn: &Connection,
        row: &NewAuditRow<'_>,
    ) -> rusqlite::Result<i64> {
        let detail = crate::domain::redact::scrub(row.detail);
        let row = &NewAuditRow {
            detail: &detail,
            ..*row
        };
        let seq = self.seq + 1;
        let hash = chain_hash(&self.hash, seq, row);
        conn.prepare_cached(
            "INSERT INTO audit (seq, at_ms, operator, event, upstream, target, outbox_id, payload_hash,
                detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?
        .execute(params![
            seq,
            ms(row.at),
            row.operator,
            row.event,
            row.upstream,
            row.target,
            row.outbox_id,
            row.payload_hash,
            row.detail,
            self.hash,
            hash
        ])?;
        self.seq = seq;
        self.hash = hash;
        Ok(seq)
    }
}

/// SHA-256 (hex) over `prev_hash | seq | at_ms | operator | event | upstream | target |
/// outbox_id | payload_hash | detail`, each field length-prefixed and optional ones tagged.
pub(crate) fn chain_hash(prev_hash: &str, seq: i64, row: &NewAuditRow<'_>) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    };
    field(prev_hash.as_bytes());
    field(&seq.to_be_bytes());
    field(&ms(row.at).to_be_bytes());
    field(row.operator.as_bytes());
    field(row.event.as_bytes());
    field(row.upstream.as_bytes());
    field(row.target.as_bytes());
    for optional in [row.outbox_id, row.payload_hash] {
        match optional {
            Some(value) => {
                field(&[1]);
                field(value.as_bytes());
            }
            None => field(&[0]),
        }
    }
    field(row.detail.as_bytes());
    hex::encode(hasher.finalize())
}

/// SHA-256 (hex) of some bytes, e.g. the JSON of an action.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// Newest first, before `before_seq` when given; at most `limit` (1..=1000) rows.
    pub fn page_audit(&self, before_seq: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        let sql = format!("SELECT {COLUMNS} FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(
                params![before_seq.unwrap_or(i64::MAX), page_limit(limit)],
                |row| Ok(self.audit_from_row(row)),
            )
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| self.sqlite(e))??);
        }
        Ok(out)
    }

    /// Walks the log in seq order, one row at a time, and reports the first row whose
    /// `prev_hash` does not follow its predecessor or whose hash does not match its fields.
    pub fn verify_audit_chain(&self) -> Result<AuditVerification> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
            .map_err(|e| self.sqlite(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.sqlite(e))?;
        let mut expected_prev = GENESIS_HASH.to_string();
        let mut expected_seq: Option<i64> = None;
        let mut count = 0u64;
        while let Some(row) = rows.next().map_err(|e| self.sqlite(e))? {
            let get =
                |idx: usize| -> Result<Option<String>> { row.get(idx).map_err(|e| self.sqlite(e)) };
            let seq: i64 = row.get(0).map_err(|e| self.sqlite(e))?;
            let at_ms: i64 = row.get(1).map_err(|e| self.sqlite(e))?;
            let text = |idx: usize| -> Result<String> { Ok(get(idx)?.unwrap_or_default()) };
            let (operator, event, upstream, target) = (text(2)?, text(3)?, text(4)?, text(5)?);
            let (outbox_id, payload_hash, detail) = (get(6)?, get(7)?, text(8)?);
            let (prev_hash, hash) = (text(9)?, text(10)?);
            if expected_seq.is_some_and(|want| seq != want) {
                let reason = format!("row {} is missing (deleted?)", expected_seq.unwrap_or(seq));
                return Ok(AuditVerification::Broken { seq, reason });
            }
            if prev_hash != expected_prev {
                let reason = "prev_hash does not match the previous row's hash (a row before it was edited or deleted)";
                return Ok(AuditVerification::Broken {
                    seq,
                    reason: reason.to_string(),
                });
            }
            let fields = NewAuditRow {
                at: from_ms(at_ms).ok_or_else(|| {
                    self.corrupt(
                        "audit",
                        format!("row {seq}: timestamp {at_ms} out of range"),
                    )
                })?,
                operator: &operator,
                event: &event,
                upstream: &upstream,
                target: &target,
                outbox_id: outbox_id.as_deref(),
                payload_hash: payload_hash.as_deref(),
                detail: &detail,
            };
            if chain_hash(&prev_hash, seq, &fields) != hash {
                let reason = "hash does not match the row's fields (the row was edited)";
                return Ok(AuditVerification::Broken {
                    seq,
                    reason: reason.to_string(),
                });
            }
            expected_prev = hash;
            expected_seq = Some(seq + 1);
            count += 1;
        }
        Ok(AuditVerification::Intact { rows: count })
    }

    fn audit_from_row(&self, row: &Row<'_>) -> Result<AuditEntry> {
        let get = |e| self.sqlite(e);
        let at_ms: i64 = row.get(1).map_err(get)?;
        Ok(AuditEntry {
            seq: row.get(0).map_err(get)?,
            at: from_ms(at_ms)
                .ok_or_else(|| self.corrupt("audit", format!("timestamp {at_ms} out of range")))?,
            operator: row.get(2).map_err(get)?,
            event: row.get(3).map_err(get)?,
            upstream: row.get(4).map_err(get)?,
            target: row.get(5).map_err(get)?,
            outbox_id: row.get(6).map_err(get)?,
            payload_hash: row.get(7).map_err(get)?,
            detail: row.get(8).map_err(get)?,
            prev_hash: row.get(9).map_err(get)?,
            hash: row.get(10).map_err(get)?,
        })
    }
}
