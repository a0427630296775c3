//! Opening the store file: parent directories, a private (0600) file, connection pragmas
//! (WAL, busy timeout, foreign keys, synchronous=NORMAL), the `/` filter's SQL function and
//! migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;

use super::{Result, Store, StoreError};
use crate::domain::search;

/// How long a writer waits for another connection's write lock before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens (creating with mode 0600 when missing) and migrates the store at `path`:
    /// WAL, `busy_timeout`, foreign keys, versioned migrations on `PRAGMA user_version`.
    pub fn open(path: &Path) -> Result<Store> {
        prepare_file(path)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            search_index: true,
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Reads the store file through a memory map of up to `bytes` (`PRAGMA mmap_size`): a page
    /// that is not in SQLite's cache is read from the kernel's page cache without a `pread`
    /// and a copy. For short commands that read and write much of the file (a bulk run: the
    /// plan reads every selected letter, each step updates hundreds); not for the console,
    /// whose resident memory would grow with every mapped page it touches.
    pub fn map_reads(&self, bytes: u64) -> Result<()> {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.conn
            .query_row(&format!("PRAGMA mmap_size = {bytes}"), [], |_| Ok(()))
            .map_err(|e| self.sqlite(e))
    }

    /// `PRAGMA data_version`: changes when another connection commits (cheap change detection).
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|e| self.sqlite(e))
    }

    /// Wraps a SQLite error with the store's path.
    /// Runs `f` in one IMMEDIATE transaction (the write lock taken up front, so no other
    /// writer interleaves), committed when it returns Ok; any SQLite error names the store.
    pub(crate) fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let value = f(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(value)
    }

    /// As [`Store::write_tx`], for a body that reads through the store's own methods: `f` runs
    /// inside one `IMMEDIATE` transaction on this connection, committed when it returns Ok and
    /// rolled back otherwise (also when the commit fails: nothing of it is kept).
    pub(crate) fn immediate<T>(&mut self, f: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.sqlite(e))?;
        let result = f(self);
        let end = self
            .conn
            .execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
        if end.is_err() && result.is_ok() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let value = result?;
        end.map_err(|e| self.sqlite(e))?;
        Ok(value)
    }

    pub(crate) fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// A row that could not be decoded.
    pub(crate) fn corrupt(&self, table: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            table,
            message: message.into(),
        }
    }

    fn configure(&mut self) -> Result<()> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.sqlite(e))?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| self.sqlite(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "store could not switch to WAL mode");
        }
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.sqlite(e))?;
        self.conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| self.sqlite(e))?;
        self.conn.set_prepared_statement_cache_capacity(64);
        self.conn
            .create_scalar_function(
                "triage_contains",
                -1,
                FunctionFlags::SQLITE_UTF8
                    | FunctionFlags::SQLITE_DETERMINISTIC
                    | FunctionFlags::SQLITE_INNOCUOUS,
                contains_fn,
            )
            .map_err(|e| self.sqlite(e))?;
        super::query::register(&self.conn).map_err(|e| self.sqlite(e))?;
        self.conn
            .create_scalar_function(
                "triage_holder_alive",
                1,
                FunctionFlags::SQLITE_UTF8,
                |ctx: &Context<'_>| {
                    let holder: Option<String> = ctx.get(0)?;
                    Ok(holder.is_none_or(|h| super::holder::alive(&h)))
                },
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }
}

/// `triage_contains(needle, a, b, …)`: does any of `a, b, …` (text or blob; NULL and numbers
/// never match) contain `needle`, ASCII case ignored ([`search::contains`])? The `/` filter's
/// SQL side, one call per row over all of the row's searchable columns.
fn contains_fn(ctx: &Context<'_>) -> rusqlite::Result<bool> {
    super::scan_progress::tick();
    let bytes = |i: usize| match ctx.get_raw(i) {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b),
        _ => None,
    };
    let Some(needle) = (!ctx.is_empty()).then(|| bytes(0)).flatten() else {
        return Ok(false);
    };
    Ok((1..ctx.len()).any(|i| bytes(i).is_some_and(|b| search::contains(b, needle))))
}

/// Creates the parent directories and, when missing, an empty file readable only by its owner,
/// before SQLite opens it (SQLite gives its -wal and -shm files the same mode). An existing file
/// is left alone, with a warning when group or others can read it.
fn prepare_file(path: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| StoreError::Io {
        path: path.to_path_buf(),
        message: format!("{what}: {e}; check the path and its permissions"),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io("cannot create its directory", e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_readable_by_others(path);
            Ok(())
        }
        Err(e) => Err(io("cannot create the store file", e)),
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "store file is accessible to group/others; it holds payloads: run `chmod 600` on it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}
