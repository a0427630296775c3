//! The integration suite as one test crate (one link instead of one per file): a module per
//! capability, shared harnesses in `support/` and the console fixtures in `console_fixtures/`.

mod console_fixtures;
mod support;

mod alertmanager;
mod cli;
mod cli_truth;
mod cli_where;
mod config;
mod connector_batch;
mod console_marks;
mod console_marks_store;
mod console_navigation;
mod console_run_driver;
mod console_snapshots;
mod console_terminal;
mod console_truth;
mod console_update;
mod console_worker;
mod demo_api;
mod demo_contract;
mod e2e_all_upstreams;
mod e2e_quit;
mod e2e_signals;
mod e2e_tmux;
mod fuzz_smoke;
mod outbox_takeover;
mod permissions;
mod query;
mod rabbitmq;
mod rabbitmq_batch;
mod rabbitmq_relist;
mod rabbitmq_restart;
mod rabbitmq_tls;
mod rabbitmq_truth;
mod routing;
mod runs;
mod schemathesis;
mod secrets;
mod signals_headless;
mod store;
mod store_damaged;
mod store_history;
mod sync;
mod watch;
mod watch_due;
