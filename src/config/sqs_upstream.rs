//! The SQS keys of an `[[upstream]]`: `region` (required for kind = "sqs"), where the AWS
//! credentials come from — the standard chain (optionally a `profile`), a `credentials_file`, or
//! the names of environment variables (`access_key_id_env` + `secret_access_key_env`, optionally
//! `session_token_env`) —, `origin_attribute` and `browse_pass` (how long one browse pass over a
//! DLQ may keep receiving: 1 s to 10 min, default 20 s). Other kinds may not use them, and an SQS
//! upstream may not use `token_*` (AWS signs requests with a key pair, not a bearer token).

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::located::Locator;
use super::raw::RawUpstream;
use super::validate::resolve_path;
use super::{AwsCredentials, ConfigError, SqsConfig};
use crate::domain::UpstreamKind;

/// The SQS settings of upstream `index` (`None` for other kinds), or the first problem located
/// at its key — a missing `region` at the `[[upstream]]` table.
pub(super) fn check(
    index: usize,
    spanned: &Spanned<RawUpstream>,
    loc: &Locator,
    config_dir: &Path,
) -> Result<Option<SqsConfig>, ConfigError> {
    let raw = spanned.get_ref();
    let field = |key: &str| format!("upstream[{index}].{key}");
    let sqs_only = [
        ("region", &raw.region),
        ("profile", &raw.profile),
        ("credentials_file", &raw.credentials_file),
        ("access_key_id_env", &raw.access_key_id_env),
        ("secret_access_key_env", &raw.secret_access_key_env),
        ("session_token_env", &raw.session_token_env),
        ("origin_attribute", &raw.origin_attribute),
    ];
    if raw.kind != UpstreamKind::Sqs {
        if let Some(value) = &raw.browse_pass {
            let message = format!(
                r#"browse_pass is only valid for kind = "sqs" (this upstream is "{}")"#,
                raw.kind.as_str()
            );
            return Err(loc.at(&value.span(), field("browse_pass"), message));
        }
        if let Some((key, value)) = sqs_only
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
        {
            let message = format!(
                r#"{key} is only valid for kind = "sqs" (this upstream is "{}")"#,
                raw.kind.as_str()
            );
            return Err(loc.at(&value.span(), field(key), message));
        }
        return Ok(None);
    }
    let tokens = [
        ("token_env", &raw.token_env),
        ("token_file", &raw.token_file),
        ("token_cmd", &raw.token_cmd),
    ];
    if let Some((key, value)) = tokens.iter().find_map(|(k, v)| v.as_ref().map(|v| (*k, v))) {
        let message = format!(
            r#"{key} is not used by kind = "sqs": AWS credentials come from the standard chain (environment, profile, web identity), or name them with access_key_id_env + secret_access_key_env, credentials_file or profile"#
        );
        return Err(loc.at(&value.span(), field(key), message));
    }
    let region = match &raw.region {
        None => {
            return Err(loc.at(
                &spanned.span(),
                field("region"),
                r#"kind = "sqs" needs region, e.g. region = "eu-west-1""#,
            ));
        }
        Some(region) => region,
    };
    let text = region.get_ref();
    let well_formed = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && text.contains('-');
    if !well_formed {
        let message = format!(
            "expected an AWS region like \"eu-west-1\" (lowercase letters, digits and '-'), found {text:?}"
        );
        return Err(loc.at(&region.span(), field("region"), message));
    }
    for (key, value) in sqs_only.iter().skip(1) {
        if let Some(value) = value
            && value.get_ref().trim().is_empty()
        {
            return Err(loc.at(
                &value.span(),
                field(key),
                format!("{key} must not be empty"),
            ));
        }
    }
    let browse_pass = match &raw.browse_pass {
        Some(pass) => {
            let value = pass.get_ref().0;
            if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&value) {
                return Err(loc.at(
                    &pass.span(),
                    field("browse_pass"),
                    "browse_pass must be between 1s and 10m (a pass hides the messages it read for up to twice as long)",
                ));
            }
            Some(value)
        }
        None => None,
    };
    let credentials = credentials(raw, loc, config_dir, &field)?;
    Ok(Some(SqsConfig {
        region: text.clone(),
        credentials,
        origin_attribute: raw.origin_attribute.as_ref().map(|v| v.get_ref().clone()),
        browse_pass,
    }))
}

fn credentials(
    raw: &RawUpstream,
    loc: &Locator,
    config_dir: &Path,
    field: &dyn Fn(&str) -> String,
) -> Result<AwsCredentials, ConfigError> {
    let value = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.get_ref().clone());
    match (
        &raw.access_key_id_env,
        &raw.secret_access_key_env,
        &raw.session_token_env,
    ) {
        (Some(id), Some(secret), token) => {
            let other = [
                ("credentials_file", &raw.credentials_file),
                ("profile", &raw.profile),
            ];
            if let Some((key, v)) = other
                .iter()
                .find_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            {
                let message = format!(
                    "{key} cannot be combined with access_key_id_env/secret_access_key_env: name one source of credentials"
                );
                return Err(loc.at(&v.span(), field(key), message));
            }
            Ok(AwsCredentials::Env {
                access_key_id: id.get_ref().clone(),
                secret_access_key: secret.get_ref().clone(),
                session_token: token.as_ref().map(|t| t.get_ref().clone()),
            })
        }
        (Some(id), None, _) => Err(loc.at(
            &id.span(),
            field("access_key_id_env"),
            "access_key_id_env needs secret_access_key_env too (the variable holding the secret key)",
        )),
        (None, Some(secret), _) => Err(loc.at(
            &secret.span(),
            field("secret_access_key_env"),
            "secret_access_key_env needs access_key_id_env too (the variable holding the key id)",
        )),
        (None, None, Some(token)) => Err(loc.at(
            &token.span(),
            field("session_token_env"),
            "session_token_env only goes with access_key_id_env and secret_access_key_env",
        )),
        (None, None, None) => match &raw.credentials_file {
            Some(path) => Ok(AwsCredentials::File {
                path: resolve_path(config_dir, path.get_ref()),
                profile: value(&raw.profile).unwrap_or_else(|| "default".to_string()),
            }),
            None => Ok(AwsCredentials::Chain {
                profile: value(&raw.profile),
            }),
        },
    }
}
