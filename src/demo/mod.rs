//! The embedded demo upstream: an axum server speaking the Triage Connector API v1 on loopback, driven by a simulated marketing-ops scenario.
