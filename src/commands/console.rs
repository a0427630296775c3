//! `triage` with no subcommand: start sync in the background, then the console.

use std::process::ExitCode;

use color_eyre::eyre::Result;

use super::Context;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use crate::console::runs::RunGauge;
use crate::console::{ConsoleExit, ConsoleOptions, Msg, RunDriver};
use crate::domain::ActionKind;
use crate::domain::run::RunState;
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
        run_driver: Some(run_driver(&ctx, handle.changes.clone())),
        keymap_file,
    };
    let result = crate::console::run(console).await;
    // The operator asked to leave: do not wait for a hung upstream (pending work stays in the
    // outbox and is sent by the next `triage` or `triage sync`).
    handle.shutdown_within(QUIT_GRACE).await;
    Ok(exit_code(result?))
}

/// Drives a run started in the console like `triage runs resume` does: its own upstream
/// adapters and store writer, change notices into the console's channel, progress as messages.
pub fn run_driver(
    ctx: &Context,
    changes: tokio::sync::broadcast::Sender<crate::store::ChangeNotice>,
) -> RunDriver {
    let (config, routing, path) = (
        ctx.config.clone(),
        ctx.routing.clone(),
        ctx.store_path.clone(),
    );
    Arc::new(move |id: String, tx: UnboundedSender<Msg>| {
        let (config, routing, path, changes) = (
            config.clone(),
            routing.clone(),
            path.clone(),
            changes.clone(),
        );
        Box::pin(async move {
            let (upstreams, errors) = Upstreams::from_config(&config, &routing);
            for e in errors {
                // Logged, never printed over the UI (sync already recorded them for the header).
                tracing::warn!("run {id}: {}", crate::domain::redact::scrub(&e.to_string()));
            }
            let mut gauge = RunGauge {
                id: id.clone(),
                kind: ActionKind::Replay,
                state: RunState::Running,
                progress: Default::default(),
                stage: None,
                stages: 0,
                finished: false,
                error: None,
                speed: None,
            };
            let writer = match StoreWriter::open(&path) {
                Ok(writer) => writer,
                Err(e) => {
                    gauge.finished = true;
                    gauge.error = Some(e.to_string());
                    let _ = tx.send(Msg::RunProgress(Box::new(gauge)));
                    return;
                }
            };
            let run_id = id.clone();
            if let Ok(Some(run)) = writer.call(move |s| s.run(&run_id)).await {
                gauge.kind = run.kind;
            }
            upstreams.remember_handled(&writer).await;
            let mut last = gauge.clone();
            let result = crate::sync::runs::drive(&id, &writer, &upstreams, &changes, |status| {
                last.state = status.state;
                last.progress = status.progress.clone();
                last.stage = status.stage;
                last.stages = status.stages;
                last.speed = Some(crate::console::runs::RunSpeed {
                    rate: status.rate,
                    sending_rate: status.sending_rate,
                    eta_secs: status.eta_secs,
                });
                let _ = tx.send(Msg::RunProgress(Box::new(last.clone())));
            })
            .await;
            last.finished = true;
            match result {
                Ok(crate::sync::runs::Driven::Ended(state)) => last.state = state,
                Ok(crate::sync::runs::Driven::Elsewhere(other)) => {
                    last.error = Some(format!(
                        "driven by {} (since {}): it goes on there",
                        other.holder,
                        other.acquired_at.format("%H:%M:%S")
                    ))
                }
                Err(e) => {
                    last.error = Some(crate::domain::redact::scrub(&e.to_string()).into_owned())
                }
            }
            let _ = tx.send(Msg::RunProgress(Box::new(last)));
        })
    })
}

/// 0 when the operator quit; `128 + signo` when a signal ended the console (143 for SIGTERM).
pub fn exit_code(exit: ConsoleExit) -> ExitCode {
    match exit {
        ConsoleExit::Quit => ExitCode::SUCCESS,
        ConsoleExit::Signal(signal) => ExitCode::from(signal.exit_code()),
    }
}
