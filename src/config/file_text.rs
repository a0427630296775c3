//! Reading `triage.toml` itself: problems with the whole file (unreadable, not UTF-8, empty)
//! become located errors like any other — a real position (the first bad byte, else 1:1) and
//! the field `(file)` — rather than `0:0` placeholders.

use std::path::Path;

use super::ConfigError;
use super::key_path;
use super::located;

fn whole_file(path: &Path, line: usize, column: usize, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        field: key_path::WHOLE_FILE.to_owned(),
        message,
    }
}

/// The file's text, or an error at a real position saying what is wrong with the file itself.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| {
        whole_file(
            path,
            1,
            1,
            format!(
                "cannot read the config file: {err}; create it from assets/triage.example.toml"
            ),
        )
    })?;
    text(bytes, path)
}

/// The text of a config file read from `path` as `bytes`, or the located error saying why it
/// is not one (not UTF-8, empty or only comments).
pub(super) fn text(bytes: Vec<u8>, path: &Path) -> Result<String, ConfigError> {
    let whole_file = |line, column, message| whole_file(path, line, column, message);
    let text = String::from_utf8(bytes).map_err(|err| {
        // Point at the first byte that is not UTF-8, counted in the valid text before it.
        let at = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        let valid = std::str::from_utf8(&bytes[..at]).unwrap_or_default();
        let (line, column) = located::Locator::new(valid, path).position(at);
        let byte = bytes.get(at).copied().unwrap_or_default();
        whole_file(
            line,
            column,
            format!(
                "not UTF-8 text: byte 0x{byte:02x} at offset {at} is not valid UTF-8; a config \
                 is a UTF-8 TOML text file (is this the right file?)"
            ),
        )
    })?;
    let has_content = text.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    });
    if !has_content {
        return Err(whole_file(
            1,
            1,
            "the config file is empty: it names no upstream, connector or person; write one \
             from assets/triage.example.toml (or try `triage demo`)"
                .to_owned(),
        ));
    }
    Ok(text)
}
