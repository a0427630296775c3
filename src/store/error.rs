//! [`StoreError`]: what went wrong with the store, said once, naming the file. A SQLite error is
//! shown by its message alone (rusqlite's error and its `ffi` source repeat the same words, so
//! chaining them printed "malformed: malformed: Error code 11"); a damaged file
//! (`SQLITE_CORRUPT`, `SQLITE_NOTADB`) gets one sentence with the remedy, since the store is a
//! cache that can be rebuilt.

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

#[derive(Debug)]
pub enum StoreError {
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    Io {
        path: PathBuf,
        message: String,
    },
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    Corrupt {
        path: PathBuf,
        table: &'static str,
        message: String,
    },
    UnknownAction {
        path: PathBuf,
        id: String,
    },
}

impl StoreError {
    /// True when SQLite says the file is not a usable database (damaged pages, a truncated file,
    /// or not a database at all).
    pub fn is_damaged_file(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => damaged(source),
            _ => false,
        }
    }
}

/// The error's own words: no source is exposed, so a report chain prints them once.
impl std::error::Error for StoreError {}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite { path, source } if damaged(source) => {
                write_damaged(f, path, source)
            }
            StoreError::Sqlite { path, source } => {
                write!(f, "store {}: {}", path.display(), sqlite_words(source))
            }
            StoreError::Io { path, message } => write!(f, "store {}: {message}", path.display()),
            StoreError::TooNew {
                path,
                found,
                supported,
            } => write!(
                f,
                "store {} has schema version {found}, newer than this triage understands \
                 ({supported}); upgrade triage",
                path.display()
            ),
            StoreError::Corrupt {
                path,
                table,
                message,
            } => write!(
                f,
                "store {}: corrupt row in {table}: {message}",
                path.display()
            ),
            StoreError::UnknownAction { path, id } => write!(
                f,
                "store {}: no outbox action with id {id}; it may have been pruned or belong to \
                 another store",
                path.display()
            ),
        }
    }
}

fn damaged(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// SQLite's message once: the text it gave, else the code's description.
fn sqlite_words(err: &rusqlite::Error) -> String {
    match err {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqliteFailure(code, None) => code.to_string(),
        other => other.to_string(),
    }
}

/// One sentence: which file, what SQLite said, and what to do. The store is a cache of the
/// upstreams; only the audit log is its own, so it is exported first when it still reads.
fn write_damaged(f: &mut fmt::Formatter<'_>, path: &Path, err: &rusqlite::Error) -> fmt::Result {
    let shown = path.display();
    let what = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => "is not a SQLite database (or its header is damaged)",
        _ => "is damaged",
    };
    write!(
        f,
        "store {shown} {what} (SQLite: {}). It is a cache of the upstreams and can be rebuilt: \
         if the audit log still reads, save it first with `triage --store {shown} audit --json \
         --limit 0 > audit.jsonl`; then move the store aside with `mv {shown} {shown}.damaged` \
         (and its -wal and -shm files, if any) and run `triage sync --once` to fetch everything \
         again",
        sqlite_words(err)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32, message: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message.to_owned()))
    }

    #[test]
    fn a_sqlite_error_is_said_once() {
        let err = StoreError::Sqlite {
            path: PathBuf::from("/tmp/x/t.db"),
            source: failure(1, "index outbox_by_target already exists"),
        };
        let report = color_eyre::eyre::Report::new(err);
        assert_eq!(
            format!("{report:#}"),
            "store /tmp/x/t.db: index outbox_by_target already exists"
        );
    }

    #[test]
    fn a_damaged_store_names_the_file_and_the_remedy() {
        for code in [11, 26] {
            let err = StoreError::Sqlite {
                path: PathBuf::from("/tmp/x/t.db"),
                source: failure(code, "database disk image is malformed"),
            };
            assert!(err.is_damaged_file());
            let text = format!("{:#}", color_eyre::eyre::Report::new(err));
            assert_eq!(text.matches("malformed").count(), 1, "{text}");
            assert!(text.starts_with("store /tmp/x/t.db "), "{text}");
            assert!(
                text.contains("mv /tmp/x/t.db /tmp/x/t.db.damaged"),
                "{text}"
            );
            assert!(text.contains("audit --json"), "{text}");
            assert!(text.contains("triage sync --once"), "{text}");
        }
    }
}
