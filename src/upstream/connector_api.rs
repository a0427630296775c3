//! Triage Connector API v1 client (reqwest).
