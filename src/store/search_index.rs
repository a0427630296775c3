//! The search index: substring search (`/`, `--grep`, text terms of `--where`) answered from an
//! FTS5 trigram index instead of a scan. Two contentless tables, `dead_letters_search` and
//! `incidents_search` (rowid = the row's `row_id`, `detail=none`: no positions, the smallest
//! index), kept in step with the tables by triggers (schema V9) that index each row's searchable
//! text — for a dead letter its id, connector, error code and message, headers (as stored) and
//! payload; for an incident its id, connector, title, kind, severity, status and ack author.
//!
//! The index is a *prefilter*: a text needle of three characters or more becomes the AND of its
//! trigrams (detail=none answers single tokens only), which every row containing the needle has
//! — the index folds case like the search does for ASCII, and more — and the exact match
//! (`domain::search`: ASCII case ignored, every other byte exact) still runs on the candidates.
//! A payload that is not UTF-8 or is over [`INDEXED_PAYLOAD`] is not indexed; its row carries
//! [`UNINDEXED`] instead and is always a candidate. Shorter needles, and needles with control
//! characters or quotes (which the stored headers JSON escapes), get no prefilter: a scan, as
//! before.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

/// Payload bytes indexed at most; a bigger payload is searched by the exact match only.
pub const INDEXED_PAYLOAD: usize = 64 * 1024;

/// What a dead letter whose payload is not indexed carries in the index (never in text: it
/// holds control characters, which no indexed needle may).
const UNINDEXED: &str = "\u{1}\u{2}\u{3}";

/// Registers the functions the index triggers call (on every connection, before migrations).
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("triage_dead_letter_search_text", 6, flags, |ctx| {
        let mut text = String::new();
        for i in 0..5 {
            text.push_str(str_arg(ctx, i));
            text.push('\n');
        }
        match ctx.get_raw(5) {
            ValueRef::Text(b) | ValueRef::Blob(b) if b.len() <= INDEXED_PAYLOAD => {
                match std::str::from_utf8(b) {
                    Ok(payload) => text.push_str(payload),
                    Err(_) => text.push_str(UNINDEXED),
                }
            }
            ValueRef::Null => {}
            _ => text.push_str(UNINDEXED),
        }
        Ok(text)
    })?;
    conn.create_scalar_function("triage_incident_search_text", 7, flags, |ctx| {
        let mut text = String::new();
        for i in 0..7 {
            text.push_str(str_arg(ctx, i));
            text.push('\n');
        }
        Ok(text)
    })
}

fn str_arg<'a>(ctx: &'a Context<'_>, i: usize) -> &'a str {
    match ctx.get_raw(i) {
        ValueRef::Text(b) => std::str::from_utf8(b).unwrap_or_default(),
        _ => "",
    }
}

/// Which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SearchTable {
    DeadLetters,
    Incidents,
}

/// Trigrams of one needle used at most (evenly spread): enough to be selective, few enough to
/// keep the index lookups cheap.
const MAX_TRIGRAMS: usize = 12;

/// The FTS5 query that every row holding all of `needles` matches, or `None` when no needle
/// can use the index (then the caller scans).
pub(super) fn fts_query<'a>(
    needles: impl IntoIterator<Item = &'a str>,
    table: SearchTable,
) -> Option<String> {
    let mut all = Vec::new();
    for needle in needles {
        if needle
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
        {
            continue;
        }
        let chars: Vec<char> = needle.chars().collect();
        if chars.len() < 3 {
            continue;
        }
        let count = chars.len() - 2;
        let step = count.div_ceil(MAX_TRIGRAMS).max(1);
        let mut picks: Vec<usize> = (0..count).step_by(step).collect();
        if picks.last() != Some(&(count - 1)) {
            picks.push(count - 1);
        }
        for at in picks {
            let token: String = chars[at..at + 3].iter().collect();
            let quoted = format!("\"{token}\"");
            if !all.contains(&quoted) {
                all.push(quoted);
            }
        }
    }
    if all.is_empty() {
        return None;
    }
    let wanted = all.join(" AND ");
    Some(match table {
        // Rows whose payload is not indexed are candidates whatever the needle.
        SearchTable::DeadLetters => format!("({wanted}) OR \"{UNINDEXED}\""),
        SearchTable::Incidents => wanted,
    })
}

/// The `WHERE` clause restricting a table to the index's candidates, with the query bound at
/// `?{param}`.
pub(super) fn candidates_clause(table: SearchTable, param: usize) -> String {
    match table {
        SearchTable::DeadLetters => format!(
            "row_id IN (SELECT rowid FROM dead_letters_search WHERE dead_letters_search MATCH ?{param})"
        ),
        SearchTable::Incidents => format!(
            "row_id IN (SELECT rowid FROM incidents_search WHERE incidents_search MATCH ?{param})"
        ),
    }
}

/// V9: the search index, filled from what the store holds (see the module doc).
pub(super) const V9_SEARCH: &str = r#"
CREATE VIRTUAL TABLE dead_letters_search USING fts5(
    text, content='', contentless_delete=1, detail='none', tokenize='trigram'
);
INSERT INTO dead_letters_search (rowid, text)
    SELECT row_id, triage_dead_letter_search_text(id, connector, error_code, error_message, headers, payload)
    FROM dead_letters;
CREATE TRIGGER dead_letters_search_insert AFTER INSERT ON dead_letters BEGIN
    INSERT INTO dead_letters_search (rowid, text) VALUES (new.row_id,
        triage_dead_letter_search_text(new.id, new.connector, new.error_code, new.error_message,
            new.headers, new.payload));
END;
CREATE TRIGGER dead_letters_search_update
AFTER UPDATE OF id, connector, error_code, error_message, headers, payload ON dead_letters BEGIN
    DELETE FROM dead_letters_search WHERE rowid = old.row_id;
    INSERT INTO dead_letters_search (rowid, text) VALUES (new.row_id,
        triage_dead_letter_search_text(new.id, new.connector, new.error_code, new.error_message,
            new.headers, new.payload));
END;
CREATE TRIGGER dead_letters_search_delete AFTER DELETE ON dead_letters BEGIN
    DELETE FROM dead_letters_search WHERE rowid = old.row_id;
END;

CREATE VIRTUAL TABLE incidents_search USING fts5(
    text, content='', contentless_delete=1, detail='none', tokenize='trigram'
);
INSERT INTO incidents_search (rowid, text)
    SELECT row_id, triage_incident_search_text(id, connector, title, kind, severity, status, acked_by)
    FROM incidents;
CREATE TRIGGER incidents_search_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_search (rowid, text) VALUES (new.row_id,
        triage_incident_search_text(new.id, new.connector, new.title, new.kind, new.severity,
            new.status, new.acked_by));
END;
CREATE TRIGGER incidents_search_update
AFTER UPDATE OF id, connector, title, kind, severity, status, acked_by ON incidents BEGIN
    DELETE FROM incidents_search WHERE rowid = old.row_id;
    INSERT INTO incidents_search (rowid, text) VALUES (new.row_id,
        triage_incident_search_text(new.id, new.connector, new.title, new.kind, new.severity,
            new.status, new.acked_by));
END;
CREATE TRIGGER incidents_search_delete AFTER DELETE ON incidents BEGIN
    DELETE FROM incidents_search WHERE rowid = old.row_id;
END;
"#;
