//! `triage` with no subcommand: start sync in the background, then the console.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use super::Context;
use crate::console::{ConsoleExit, ConsoleOptions};
use crate::sync::{StoreWriter, SyncOptions, Upstreams};

/// How long sync tasks get to finish their step once the console has quit, before they are
/// aborted: enough for a store write, short enough that quitting feels immediate.
const QUIT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs the console until the operator quits. `on_exit` runs after the console and sync stop.
pub async fn run(ctx: Context, keymap_file: Option<std::path::PathBuf>) -> Result<ExitCode> {
    ctx.open_store()?;
    let writer = StoreWriter::open(&ctx.store_path)?;
    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
    super::sync::record_build_errors(&writer, errors).await?;
    upstreams.remember_handled(&writer).await;
    let options = SyncOptions {
        pollers: true,
        outbox_worker: !ctx.read_only,
    };
    let handle = crate::sync::start(&ctx.config, &ctx.routing, upstreams, writer, options);
    let console = ConsoleOptions {
        config: ctx.config.clone(),
        routing: ctx.routing.clone(),
        store_path: ctx.store_path.clone(),
        operator: ctx.operator.clone(),
        read_only: ctx.read_only,
        changes: Some(handle.subscribe()),
        outbox_wakeup: Some(handle.outbox_wakeup.clone()),
        keymap_file,
    };
    let result = crate::console::run(console).await;
    // The operator asked to leave: do not wait for a hung upstream (pending work stays in the
    // outbox and is sent by the next `triage` or `triage sync`).
    handle.shutdown_within(QUIT_GRACE).await;
    Ok(exit_code(result?))
}

/// 0 when the operator quit; `128 + signo` when a signal ended the console (143 for SIGTERM).
pub fn exit_code(exit: ConsoleExit) -> ExitCode {
    match exit {
        ConsoleExit::Quit => ExitCode::SUCCESS,
        ConsoleExit::Signal(signal) => ExitCode::from(signal.exit_code()),
    }
}
