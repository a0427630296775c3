//! Finding the config file: `--config`, then `$TRIAGE_CONFIG`, then the XDG config directory.

use std::path::{Path, PathBuf};

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "TRIAGE_CONFIG";

pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let default = default_path()?;
    default.is_file().then_some(default)
}

/// `<XDG config dir>/triage/triage.toml` (e.g. `~/.config/triage/triage.toml`).
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "triage")
        .map(|dirs| dirs.config_dir().join("triage.toml"))
}
