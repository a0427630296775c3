//! Upstream errors made safe to persist and print: URLs and messages pass through
//! `domain::redact` where the error is built (the HTTP client), so a token, a URL password or a
//! webhook's secret path never reaches the outbox, the audit log, the log file or stderr.

use super::UpstreamError;

impl UpstreamError {
    /// The same error with every secret the process knows of (tokens, passwords, webhook URLs)
    /// and every secret-shaped text (URL passwords, `?token=`) redacted (`domain::redact`).
    pub fn redacted(self) -> Self {
        let clean = |text: String| crate::domain::redact::scrub(&text).into_owned();
        match self {
            UpstreamError::Unreachable {
                upstream,
                url,
                message,
            } => UpstreamError::Unreachable {
                upstream,
                url: clean(url),
                message: clean(message),
            },
            UpstreamError::Status {
                upstream,
                method,
                url,
                status,
                message,
                retry_after,
            } => UpstreamError::Status {
                upstream,
                method,
                url: clean(url),
                status,
                message: clean(message),
                retry_after,
            },
            UpstreamError::Malformed {
                upstream,
                url,
                message,
            } => UpstreamError::Malformed {
                upstream,
                url: clean(url),
                message: clean(message),
            },
            UpstreamError::Unsupported { upstream, message } => UpstreamError::Unsupported {
                upstream,
                message: clean(message),
            },
            UpstreamError::Config { upstream, message } => UpstreamError::Config {
                upstream,
                message: clean(message),
            },
            UpstreamError::Uncertain {
                upstream,
                url,
                message,
            } => UpstreamError::Uncertain {
                upstream,
                url: clean(url),
                message: clean(message),
            },
            UpstreamError::Recalled { upstream, message } => UpstreamError::Recalled {
                upstream,
                message: clean(message),
            },
        }
    }
}
