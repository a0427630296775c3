//! Secrets that others can read or change are refused, as ssh refuses a private key with loose
//! modes. A secret file (`token_file`, `url_file`) must not be readable or writable by group or
//! others (`mode & 0o077 == 0`): checked when the config is loaded (located at the key) and again
//! on the opened file when the secret is read. A config that uses `token_cmd` must not be
//! writable by group or others, nor owned by another user (root aside), nor sit in a directory
//! others can write without the sticky bit: whoever can change the file chooses the command
//! triage runs as you. Reading it is allowed: it shows the command, not the secret, which the
//! command fetches from a store with its own access control.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use toml::Spanned;

use super::ConfigError;
use super::located::Locator;
use super::raw::RawConfig;
use super::validate::resolve_path;

/// Why a secret file must not be used, naming it and the fix; `None` when its mode is private.
pub(super) fn secret_file_problem(meta: &Metadata, path: &Path, key: &str) -> Option<String> {
    let mode = meta.mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "refusing {key} {}: it is readable or writable by group or others (mode {mode:04o}); \
             fix: chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

/// Checks the loaded file `file` and the secret files it names (those that exist: a missing one
/// is reported when it is read).
pub(super) fn check(
    raw: &RawConfig,
    loc: &Locator,
    file: &Path,
    config_dir: &Path,
) -> Result<(), ConfigError> {
    let token_cmd = raw.upstream.iter().enumerate().find_map(|(index, u)| {
        u.get_ref()
            .token_cmd
            .as_ref()
            .map(|cmd| (format!("upstream[{index}].token_cmd"), cmd.span()))
    });
    if let Some((field, span)) = token_cmd
        && let Some(problem) = config_file_problem(file)
    {
        return Err(loc.at(
            &span,
            field,
            format!("refusing to run token_cmd: {problem}"),
        ));
    }
    let token_files = raw.upstream.iter().enumerate().flat_map(|(i, u)| {
        let u = u.get_ref();
        let token = u
            .token_file
            .as_ref()
            .map(|value| (format!("upstream[{i}].token_file"), "token_file", value));
        let aws = u.credentials_file.as_ref().map(|value| {
            (
                format!("upstream[{i}].credentials_file"),
                "credentials_file",
                value,
            )
        });
        token.into_iter().chain(aws)
    });
    let url_files = raw.notifier.iter().enumerate().filter_map(|(i, n)| {
        let value = n.get_ref().url_file.as_ref()?;
        Some((format!("notifier[{i}].url_file"), "url_file", value))
    });
    for (field, key, value) in token_files.chain(url_files) {
        check_secret_file(field, key, value, loc, config_dir)?;
    }
    Ok(())
}

fn check_secret_file(
    field: String,
    key: &str,
    value: &Spanned<String>,
    loc: &Locator,
    config_dir: &Path,
) -> Result<(), ConfigError> {
    let path = resolve_path(config_dir, value.get_ref());
    match std::fs::metadata(&path) {
        Ok(meta) => match secret_file_problem(&meta, &path, key) {
            Some(problem) => Err(loc.at(&value.span(), field, problem)),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// Why a config that runs `token_cmd` cannot be trusted, or `None`.
fn config_file_problem(file: &Path) -> Option<String> {
    let shown = file.display();
    let meta = std::fs::metadata(file).ok()?;
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Some(format!(
            "{shown} is writable by group or others (mode {mode:04o}), who could make triage \
             run their command as you; fix: chmod 600 {shown}"
        ));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Some(format!(
            "{shown} belongs to another user (uid {}), who could make triage run their command \
             as you; fix: copy it to a file of yours and chmod 600 it",
            meta.uid()
        ));
    }
    let dir = std::path::absolute(file)
        .ok()
        .and_then(|f| f.parent().map(Path::to_path_buf))?;
    let dir_meta = std::fs::metadata(&dir).ok()?;
    let sticky = dir_meta.mode() & 0o1000 != 0;
    if dir_meta.mode() & 0o022 != 0 && !sticky {
        return Some(format!(
            "its directory {} is writable by group or others, who could replace {shown}; \
             fix: chmod go-w {}",
            dir.display(),
            dir.display()
        ));
    }
    None
}
