//! Secrets named by the config must be there when it loads: a `token_env` / `url_env` variable
//! that is not set (or empty), a `token_file` / `url_file` that is missing, not a regular file,
//! unreadable or empty is an error located at its key — not a surprise at the first `sync`.
//! The value read is dropped at once (it is resolved again when the upstream is built, which
//! registers it for redaction). `token_cmd` is not run here: loading a config runs no commands.

use std::path::Path;

use toml::Spanned;

use super::located::Locator;
use super::raw::RawConfig;
use super::token;
use super::validate::resolve_path;
use super::{ConfigError, TokenSource};

/// Checks every env and file secret source of `raw`; files are resolved against `config_dir`.
pub(super) fn check(raw: &RawConfig, loc: &Locator, config_dir: &Path) -> Result<(), ConfigError> {
    for (i, spanned) in raw.upstream.iter().enumerate() {
        let u = spanned.get_ref();
        let field = |key: &str| format!("upstream[{i}].{key}");
        if let Some(name) = &u.token_env {
            check_env(name, "token_env", field("token_env"), loc)?;
        }
        if let Some(path) = &u.token_file {
            check_file(path, "token_file", field("token_file"), loc, config_dir)?;
        }
        let aws_envs = [
            ("access_key_id_env", &u.access_key_id_env),
            ("secret_access_key_env", &u.secret_access_key_env),
            ("session_token_env", &u.session_token_env),
        ];
        for (key, name) in aws_envs {
            if let Some(name) = name {
                check_env(name, key, field(key), loc)?;
            }
        }
        if let Some(path) = &u.credentials_file {
            check_file(
                path,
                "credentials_file",
                field("credentials_file"),
                loc,
                config_dir,
            )?;
        }
    }
    for (i, spanned) in raw.notifier.iter().enumerate() {
        let n = spanned.get_ref();
        let field = |key: &str| format!("notifier[{i}].{key}");
        if let Some(name) = &n.url_env {
            check_env(name, "url_env", field("url_env"), loc)?;
        }
        if let Some(path) = &n.url_file {
            check_file(path, "url_file", field("url_file"), loc, config_dir)?;
        }
    }
    Ok(())
}

fn check_env(
    name: &Spanned<String>,
    key: &str,
    field: String,
    loc: &Locator,
) -> Result<(), ConfigError> {
    let var = name.get_ref();
    let problem = match std::env::var(var) {
        Ok(value) if value.trim().is_empty() => format!(
            "environment variable {var} ({key}) is empty; export it with the secret before \
             starting triage"
        ),
        Ok(_) => return Ok(()),
        Err(std::env::VarError::NotPresent) => format!(
            "environment variable {var} ({key}) is not set; export it with the secret before \
             starting triage"
        ),
        Err(std::env::VarError::NotUnicode(_)) => {
            format!("environment variable {var} ({key}) is not valid UTF-8")
        }
    };
    Err(loc.at(&name.span(), field, problem))
}

fn check_file(
    value: &Spanned<String>,
    key: &str,
    field: String,
    loc: &Locator,
    config_dir: &Path,
) -> Result<(), ConfigError> {
    let path = resolve_path(config_dir, value.get_ref());
    let shown = path.display();
    let problem = match std::fs::metadata(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => format!(
            "{key} {shown} does not exist; write the secret into it (chmod 600) or fix the path"
        ),
        Err(err) => format!("cannot read {key} {shown}: {err}"),
        // Opening a FIFO or a device could block or read forever.
        Ok(meta) if !meta.is_file() => {
            format!("{key} {shown} is not a regular file; point {key} at a file holding the secret")
        }
        Ok(_) => match token::resolve(&TokenSource::File(path.clone())) {
            Ok(_) => return Ok(()),
            Err(problem) => problem.replacen("secret file", key, 1),
        },
    };
    Err(loc.at(&value.span(), field, problem))
}
