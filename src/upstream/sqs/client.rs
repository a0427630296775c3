//! The AWS SDK client of one SQS upstream: region, endpoint, credentials (the standard chain, a
//! shared-credentials file and profile, or environment variables named in the config — resolved
//! here, registered for redaction, never stored), HTTP over hyper + rustls on ring (no OpenSSL,
//! no aws-lc) with an optional private CA, and the request timeout. Built lazily on first use
//! (the SDK's loader is async); SDK errors become [`UpstreamError`]s that say what failed.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};

use crate::config::AwsCredentials;
use crate::domain::redact;
use crate::upstream::UpstreamError;
use crate::upstream::tls::TrustedCa;

/// How to reach one SQS endpoint (see [`super::SqsSettings`]).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub id: String,
    pub endpoint: String,
    pub region: String,
    pub credentials: AwsCredentials,
    pub timeout: Duration,
    pub ca: Option<TrustedCa>,
}

/// Builds the SDK client. Environment-variable credentials are read now (a missing one is a
/// [`UpstreamError::Config`]); the chain and files are read by the SDK when first needed.
pub async fn build(settings: &ClientSettings) -> Result<aws_sdk_sqs::Client, UpstreamError> {
    let config_error = |message: String| UpstreamError::Config {
        upstream: settings.id.clone(),
        message,
    };
    let mut trust = TrustStore::default();
    if let Some(ca) = &settings.ca {
        trust = trust.with_pem_certificate(ca.pem().as_bytes().to_vec());
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| config_error(format!("TLS setup failed: {e}")))?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .tls_context(tls_context)
        .build_https();
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(settings.timeout)
        .operation_attempt_timeout(settings.timeout)
        .operation_timeout(settings.timeout * 2)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .endpoint_url(settings.endpoint.clone())
        .http_client(http)
        .timeout_config(timeouts)
        // Writes are retried by the outbox (every attempt audited); reads by the next poll.
        .retry_config(RetryConfig::standard().with_max_attempts(1));
    match &settings.credentials {
        AwsCredentials::Chain { profile } => {
            if let Some(profile) = profile {
                loader = loader.profile_name(profile.clone());
            }
        }
        AwsCredentials::File { path, profile } => {
            if !path.is_file() {
                return Err(config_error(format!(
                    "credentials_file {} is missing or not a regular file",
                    path.display()
                )));
            }
            #[allow(deprecated)]
            let files = aws_config::profile::profile_file::ProfileFiles::builder()
                .with_file(
                    aws_config::profile::profile_file::ProfileFileKind::Credentials,
                    path,
                )
                .build();
            let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_files(files)
                .profile_name(profile.clone())
                .build();
            loader = loader.credentials_provider(SharedCredentialsProvider::new(provider));
        }
        AwsCredentials::Env {
            access_key_id,
            secret_access_key,
            session_token,
        } => {
            let read = |name: &str, key: &str| match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
                Ok(_) => Err(config_error(format!(
                    "environment variable {name} ({key}) is empty"
                ))),
                Err(_) => Err(config_error(format!(
                    "environment variable {name} ({key}) is not set; export it before starting triage"
                ))),
            };
            let id = read(access_key_id, "access_key_id_env")?;
            let secret = read(secret_access_key, "secret_access_key_env")?;
            let token = match session_token {
                Some(name) => Some(read(name, "session_token_env")?),
                None => None,
            };
            redact::register(&secret);
            if let Some(token) = &token {
                redact::register(token);
            }
            let credentials = Credentials::new(id, secret, token, None, "triage-config-env");
            loader = loader.credentials_provider(SharedCredentialsProvider::new(credentials));
        }
    }
    let sdk_config = loader.load().await;
    Ok(aws_sdk_sqs::Client::new(&sdk_config))
}

/// An SDK error as triage's: no answer (connect, timeout, a dropped or unreadable response) is
/// `Unreachable` (transient: whether a write happened is unknown); an error answer is a `Status`
/// with its HTTP status, the service's code and message — throttling as 429, so it is retried.
pub fn upstream_error<E>(
    id: &str,
    endpoint: &str,
    operation: &str,
    err: SdkError<E>,
) -> UpstreamError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let inner = service.err();
            let code = inner.code().unwrap_or("error");
            let message = inner.message().unwrap_or("");
            let throttled = matches!(
                code,
                "ThrottlingException"
                    | "RequestThrottled"
                    | "AWS.SimpleQueueService.RequestThrottled"
            );
            UpstreamError::Status {
                upstream: id.to_string(),
                method: operation.to_string(),
                url: endpoint.to_string(),
                status: if throttled { 429 } else { status },
                message: crate::domain::sanitize::line(&format!("{code}: {message}")),
                retry_after: throttled.then_some(1),
            }
            .redacted()
        }
        SdkError::ConstructionFailure(_) => UpstreamError::Config {
            upstream: id.to_string(),
            message: format!(
                "{operation} could not be built: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&err)
            ),
        }
        .redacted(),
        _ => UpstreamError::Unreachable {
            upstream: id.to_string(),
            url: endpoint.to_string(),
            message: crate::domain::sanitize::line(&format!(
                "{operation}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&err)
            )),
        }
        .redacted(),
    }
}

/// True when the error says the queue does not exist.
pub fn is_missing_queue(error: &UpstreamError) -> bool {
    matches!(error, UpstreamError::Status { message, .. }
        if message.contains("NonExistentQueue") || message.contains("QueueDoesNotExist"))
}
