//! Resolving an upstream's secret from its [`TokenSource`]. Error messages name the variable,
//! file or command that failed, never the secret.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use super::TokenSource;

pub fn resolve(source: &TokenSource) -> Result<Option<String>, String> {
    match source {
        TokenSource::None => Ok(None),
        TokenSource::Env(name) => match std::env::var(name) {
            Ok(value) => non_empty(value, || {
                format!("environment variable {name} (token_env) is empty")
            }),
            Err(std::env::VarError::NotPresent) => Err(format!(
                "environment variable {name} (token_env) is not set; export it before starting triage"
            )),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                "environment variable {name} (token_env) is not valid UTF-8"
            )),
        },
        TokenSource::File(path) => match read_private(path) {
            Ok(text) => non_empty(text, || format!("secret file {} is empty", path.display())),
            Err(problem) => Err(problem),
        },
        TokenSource::Cmd(cmd) => run_token_command(cmd),
    }
}

/// Reads a secret file, refusing it when group or others may read or write it (checked on the
/// opened file, so it cannot be swapped between the check and the read).
fn read_private(path: &Path) -> Result<String, String> {
    let cannot = |err: std::io::Error| format!("cannot read secret file {}: {err}", path.display());
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if let Some(problem) = super::permissions::secret_file_problem(&meta, path, "secret file") {
        return Err(problem);
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(cannot)?;
    Ok(text)
}

fn run_token_command(cmd: &str) -> Result<Option<String>, String> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run token_cmd `{cmd}` with sh: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first_line = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("(no stderr output)");
        let first_line = crate::domain::sanitize::line(first_line);
        return Err(format!(
            "token_cmd `{cmd}` failed ({}): {first_line}",
            output.status
        ));
    }
    let stdout = String::from_utf8(output.stdout)
        .map_err(|_| format!("token_cmd `{cmd}` printed output that is not valid UTF-8"))?;
    non_empty(stdout, || {
        format!("token_cmd `{cmd}` printed nothing on stdout")
    })
}

fn non_empty(
    value: String,
    empty_message: impl FnOnce() -> String,
) -> Result<Option<String>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(empty_message())
    } else {
        Ok(Some(trimmed.to_owned()))
    }
}
