//! Shared HTTP client for upstream adapters: timeouts, retries with backoff, auth.
