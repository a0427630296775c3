//! Shared HTTP client for upstream adapters: per-request timeout, bearer auth, bounded response
//! size, problem+json error decoding, and retries with exponential backoff (honouring
//! `Retry-After`) for idempotent reads. Writes are not retried here: the outbox retries them
//! durably, with an audit row per attempt.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::UpstreamError;
use super::tls::TrustedCa;
use crate::domain::sanitize;

/// Answers larger than this are refused (a lying server must not exhaust memory).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Longest `Retry-After` honoured inside one read; longer ones end the retries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How reads are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
        }
    }
}

/// One upstream's HTTP client. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    upstream: String,
    base: Url,
    client: reqwest::Client,
    timeout: Duration,
    /// The `ca_file` trusted on top of the system roots, named in TLS errors.
    trusted_ca: Option<TrustedCa>,
    auth: Auth,
    retry: RetryPolicy,
}

/// How requests authenticate.
#[derive(Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic {
        user: String,
        password: Option<String>,
    },
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is deliberately left out.
        f.debug_struct("HttpClient")
            .field("upstream", &self.upstream)
            .field("base", &crate::domain::redact::scrub(self.base.as_str()))
            .finish()
    }
}

/// Installs the ring crypto provider for rustls once per process (reqwest is built without one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl HttpClient {
    pub fn new(
        upstream: &str,
        base_url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<Self, UpstreamError> {
        install_crypto_provider();
        let config_err = |message: String| UpstreamError::Config {
            upstream: upstream.to_string(),
            message,
        };
        let mut base = Url::parse(base_url).map_err(|e| {
            let shown = crate::domain::redact::redact_url(base_url);
            config_err(format!("url {shown:?} is not valid: {e}"))
        })?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = build_client(timeout, None).map_err(config_err)?;
        let auth = token.map(Auth::Bearer).unwrap_or(Auth::None);
        Ok(HttpClient {
            upstream: upstream.to_string(),
            base,
            client,
            timeout,
            trusted_ca: None,
            auth,
            retry: RetryPolicy::default(),
        })
    }

    /// The same client, trusting `ca` for `https://` in addition to the system roots.
    pub fn trusting(self, ca: TrustedCa) -> Result<Self, UpstreamError> {
        let client =
            build_client(self.timeout, Some(&ca)).map_err(|message| UpstreamError::Config {
                upstream: self.upstream.clone(),
                message,
            })?;
        Ok(HttpClient {
            client,
            trusted_ca: Some(ca),
            ..self
        })
    }

    /// Replaces the authentication (e.g. basic auth for RabbitMQ's management API).
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The URL of `segments` below the base, each segment percent-encoded (ids are untrusted).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// GET with retries on transient failures.
    pub async fn get_json<T: DeserializeOwned, Q: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        query: &Q,
    ) -> Result<T, UpstreamError> {
        let url = self.url(segments);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        (|| async {
            self.send::<T, Q, ()>(Method::GET, url.clone(), Some(query), None)
                .await
        })
        .retry(backoff)
        .when(UpstreamError::is_transient)
        .adjust(|err, planned| match err.retry_after() {
            Some(wait) if wait > MAX_RETRY_AFTER => None,
            Some(wait) => Some(wait),
            None => planned,
        })
        .notify(
            |err, wait| tracing::debug!(upstream = %self.upstream, "retrying in {wait:?}: {err}"),
        )
        .await
    }

    /// POST once; the caller (the outbox) owns retries.
    pub async fn post_json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, UpstreamError> {
        self.send::<T, (), B>(Method::POST, self.url(segments), None, Some(body))
            .await
    }

    /// POST once with its own timeout instead of the client's (a batch needs longer than one
    /// item); the caller owns retries.
    pub async fn post_json_within<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        body: &B,
        timeout: Duration,
        headers: &[(&str, &str)],
    ) -> Result<T, UpstreamError> {
        let url = self.url(segments);
        let shown_url = url.as_str().to_string();
        let bytes = self
            .send_bytes_within::<(), B>(Method::POST, url, None, Some(body), Some(timeout), headers)
            .await?;
        self.decode(&shown_url, &bytes)
    }

    /// The per-request timeout this client was built with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POST once, ignoring the answer body (for APIs that answer 200 with nothing).
    pub async fn post_ignoring_body<B: Serialize + ?Sized>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<(), UpstreamError> {
        self.send_bytes::<(), B>(Method::POST, self.url(segments), None, Some(body))
            .await
            .map(|_| ())
    }

    /// DELETE once; the answer body is ignored.
    pub async fn delete(&self, segments: &[&str]) -> Result<(), UpstreamError> {
        self.send_bytes::<(), ()>(Method::DELETE, self.url(segments), None, None)
            .await
            .map(|_| ())
    }

    async fn send<T: DeserializeOwned, Q: Serialize + ?Sized, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        query: Option<&Q>,
        body: Option<&B>,
    ) -> Result<T, UpstreamError> {
        let shown_url = url.as_str().to_string();
        let bytes = self.send_bytes(method, url, query, body).await?;
        self.decode(&shown_url, &bytes)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        shown_url: &str,
        bytes: &[u8],
    ) -> Result<T, UpstreamError> {
        serde_json::from_slice(bytes).map_err(|e| {
            UpstreamError::Malformed {
                upstream: self.upstream.clone(),
                url: shown_url.to_string(),
                message: format!("{e} (answer starts {:?})", preview(bytes)),
            }
            .redacted()
        })
    }

    /// Sends one request; a non-2xx answer becomes `UpstreamError::Status` with the
    /// problem+json title/detail (or the start of the body) and `Retry-After`.
    async fn send_bytes<Q: Serialize + ?Sized, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        query: Option<&Q>,
        body: Option<&B>,
    ) -> Result<Vec<u8>, UpstreamError> {
        self.send_bytes_within(method, url, query, body, None, &[])
            .await
    }

    /// [`send_bytes`](Self::send_bytes) with `timeout` instead of the client's, when given.
    async fn send_bytes_within<Q: Serialize + ?Sized, B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        query: Option<&Q>,
        body: Option<&B>,
        timeout: Option<Duration>,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, UpstreamError> {
        let mut request = self
            .client
            .request(method.clone(), url.clone())
            .header("accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(query) = query {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(token) => request = request.bearer_auth(token),
            Auth::Basic { user, password } => {
                request = request.basic_auth(user, password.as_deref())
            }
        }
        let shown_url = url.as_str().to_string();
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&shown_url, &e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = read_limited(response).await.map_err(|e| match e {
            ReadError::TooLarge => UpstreamError::Malformed {
                upstream: self.upstream.clone(),
                url: shown_url.clone(),
                message: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
            }
            .redacted(),
            ReadError::Transport(e) => self.unreachable(&shown_url, &e),
        })?;
        if !status.is_success() {
            return Err(UpstreamError::Status {
                upstream: self.upstream.clone(),
                method: method.to_string(),
                url: shown_url,
                status: status.as_u16(),
                message: error_message(&bytes),
                retry_after,
            }
            .redacted());
        }
        Ok(bytes)
    }

    fn unreachable(&self, url: &str, e: &reqwest::Error) -> UpstreamError {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        if e.is_timeout() {
            message = format!("timed out ({message})");
        } else if self.base.scheme() == "https" && is_certificate_failure(e) {
            let trust = match &self.trusted_ca {
                Some(ca) => format!("the system roots and ca_file {}", ca.path().display()),
                None => "the system roots only (set ca_file for a private CA)".to_string(),
            };
            message = format!("TLS certificate not trusted (trusting {trust}): {message}");
        }
        UpstreamError::Unreachable {
            upstream: self.upstream.clone(),
            url: url.to_string(),
            message,
        }
        .redacted()
    }
}

/// One reqwest client: request and connect timeouts, the user agent, and `ca`'s certificates
/// trusted on top of the system roots.
fn build_client(timeout: Duration, ca: Option<&TrustedCa>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca {
        let certificates = reqwest::Certificate::from_pem_bundle(ca.pem().as_bytes())
            .map_err(|e| format!("ca_file {}: {e}", ca.path().display()))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// True when a request failed because the server's certificate was not trusted (rustls reports
/// it as an invalid-certificate error somewhere in the source chain, often inside io::Errors).
fn is_certificate_failure(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(tls) = rustls_error_in(cause) {
            return matches!(tls, rustls::Error::InvalidCertificate(_));
        }
        source = cause.source();
    }
    false
}

/// The rustls error `error` is, or wraps through io::Errors (whose `source()` skips it).
fn rustls_error_in<'a>(
    mut error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        error = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)?;
    }
}

enum ReadError {
    TooLarge,
    Transport(reqwest::Error),
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|n| n as usize > MAX_RESPONSE_BYTES)
    {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ReadError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The human part of an error answer: problem+json title/detail, else the start of the body
/// (sanitised; bytes that are not UTF-8 shown lossily).
pub fn error_message(body: &[u8]) -> String {
    if let Ok(problem) = serde_json::from_slice::<crate::api::Problem>(body) {
        let text = match problem.detail {
            Some(detail) if !detail.is_empty() => format!("{}: {detail}", problem.title),
            _ => problem.title,
        };
        return sanitize::line(&text);
    }
    preview(body)
}

fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(160)];
    let text = sanitize::bytes_line(cut);
    if body.is_empty() {
        "(empty body)".to_string()
    } else {
        text
    }
}
