//! triage: a terminal console and headless CLI for on-call operators of brittle integrations.
//!
//! Layers (arrows = may use): commands → console, sync, demo, config, store;
//! console → store, domain, runbook; sync → upstream, store, domain; upstream, store, config,
//! demo, api → domain. `domain` does no I/O.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod editor;
pub mod escalate;
pub mod notify;
pub mod runbook;
pub mod signals;
pub mod store;
pub mod sync;
pub mod upstream;
