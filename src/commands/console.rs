//! `triage` with no subcommand: start sync in the background, then the console.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use super::Context;
use crate::console::{ConsoleExit, ConsoleOptions};
use crate::sync::{StoreWriter, SyncOptions, Upstreams};

/// Runs the console until the operator quits. `on_exit` runs after the console and sync stop.
pub async fn run(ctx: Context, keymap_file: Option<std::path::PathBuf>) -> Result<ExitCode> {
    ctx.open_store()?;
    let writer = StoreWriter::open(&ctx.store_path)?;
    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
    super::sync::record_build_errors(&writer, errors).await?;
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
    handle.shutdown().await;
    Ok(exit_code(result?))
}

/// 0 when the operator quit; `128 + signo` when a signal ended the console (143 for SIGTERM).
pub fn exit_code(exit: ConsoleExit) -> ExitCode {
    match exit {
        ConsoleExit::Quit => ExitCode::SUCCESS,
        ConsoleExit::Signal(signal) => ExitCode::from(signal.exit_code()),
    }
}
