//! The log file, private: `<XDG state dir>/triage/` is created (or fixed to) 0700 and must be
//! ours, `triage.log` is created (or fixed to) 0600 and never followed through a symlink; every
//! line written to it is scrubbed of secrets (`domain::redact`) on the way.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tracing_subscriber::fmt::MakeWriter;

pub const LOG_FILE_NAME: &str = "triage.log";

/// Opens `dir/triage.log` for appending, making the directory 0700 and the file 0600.
pub fn open(dir: &Path) -> io::Result<File> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    let denied = |why: String| io::Error::new(io::ErrorKind::PermissionDenied, why);
    if !meta.is_dir() {
        return Err(denied(format!("{} is not a directory", dir.display())));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(denied(format!(
            "{} belongs to another user (uid {}); set XDG_STATE_HOME to a directory of yours",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(LOG_FILE_NAME))?;
    if file.metadata()?.mode() & 0o777 != 0o600 {
        file.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// A writer (and `MakeWriter`) that scrubs secrets from every write before passing it on.
/// tracing's fmt layer writes each event with one `write_all`, so a line is scrubbed whole.
#[derive(Debug, Clone)]
pub struct Scrubbing<W>(pub W);

impl<W: Write> Write for Scrubbing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::domain::redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbing<M> {
    type Writer = Scrubbing<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Scrubbing(self.0.make_writer())
    }
}
