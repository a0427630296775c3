//! Edit before replay (#11 point 9), the I/O part: the payload goes to a file in a private
//! temporary directory (0700, the file 0600, named after the letter so the editor highlights
//! it), `$VISUAL` / `$EDITOR` (else `vi`) runs on it through `sh -c` (so `code --wait` works),
//! and the saved bytes are checked against the connector's contract. The CLI waits for the
//! editor; the console suspends its terminal around it and can stop it on a signal.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::config::Config;
use crate::demo::contract::Contract;
use crate::domain::edit::{self, EditDraft, EditRefusal, EditReview};

/// The editor command line: `$VISUAL`, else `$EDITOR`, else `vi`.
pub fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// The pager command line: `$PAGER`, else `less`.
pub fn pager_command() -> String {
    std::env::var("PAGER")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "less".to_string())
}

/// A payload written out for editing; the directory goes away on drop.
pub struct EditFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl EditFile {
    /// Writes `text` to `<tmp>/triage-edit-XXXX/<id>.<json|txt>` (owner-only).
    pub fn create(id: &str, text: &str, content_type: Option<&str>) -> std::io::Result<EditFile> {
        let dir = tempfile::Builder::new().prefix("triage-edit-").tempdir()?;
        let stem: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let json = content_type.is_some_and(|t| t.contains("json"))
            || serde_json::from_str::<serde_json::Value>(text).is_ok();
        let path = dir
            .path()
            .join(format!("{stem}.{}", if json { "json" } else { "txt" }));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(EditFile { _dir: dir, path })
    }

    /// The editor as a process on this file (`sh -c 'exec <editor> "$1"' triage-edit <file>`:
    /// the shell becomes the editor, so the child's pid is the editor's).
    pub fn command(&self) -> tokio::process::Command {
        self.command_with(&editor_command())
    }

    /// `program` (a command line: `less -R`, `code --wait`) on this file, like [`Self::command`].
    pub fn command_with(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("exec {program} \"$1\""))
            .arg("triage-edit")
            .arg(&self.path)
            .kill_on_drop(true);
        cmd
    }

    /// What the editor left in the file.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

/// Runs the editor on the file and waits; an editor that exits non-zero discards the edit
/// (like `git commit` after `:cq`).
pub async fn run(file: &EditFile) -> Result<Vec<u8>, String> {
    let status = file
        .command()
        .status()
        .await
        .map_err(|e| format!("cannot run the editor `{}`: {e}", editor_command()))?;
    if !status.success() {
        return Err(format!(
            "the editor `{}` exited with {status}: edit discarded, nothing replayed",
            editor_command()
        ));
    }
    file.read()
        .map_err(|e| format!("cannot read the edited file {}: {e}", file.path.display()))
}

/// Reviews an edit: the diff and hashes (`domain::edit`), and the bytes to be sent checked
/// against the connector's contract from `config` (a contract that cannot be read is a violation).
pub fn review(
    config: &Config,
    letter: (&str, &str, &str),
    original: &[u8],
    draft: &EditDraft,
    saved: &[u8],
) -> Result<EditReview, EditRefusal> {
    let (upstream, id, connector) = letter;
    let contract_path = config.connector(connector).and_then(|c| c.contract.clone());
    let check = |sent: &[u8]| {
        let Some(path) = contract_path.as_deref() else {
            return (None, None);
        };
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let violation = match Contract::from_file(path) {
            Err(e) => Some(e),
            Ok(contract) => match serde_json::from_slice::<serde_json::Value>(sent) {
                Ok(value) => contract.violations(&value).into_iter().next(),
                Err(e) => Some(format!("payload is not JSON: {e}")),
            },
        };
        (Some(name), violation)
    };
    edit::review(upstream, id, connector, original, draft, saved, check)
}
