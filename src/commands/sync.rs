//! `triage sync`: poll every upstream into the store and send pending actions; `--once` does
//! one round and reports per upstream (exit 1 if any upstream failed).

use std::process::ExitCode;

use chrono::Utc;
use color_eyre::eyre::Result;
use tokio::sync::broadcast;

use super::Context;
use super::progress::StateReporter;
use crate::domain::ConnectionState;
use crate::domain::redact;
use crate::signals::{StopSignal, StopSignals};
use crate::sync::poller::{PollContext, poll_once};
use crate::sync::{StoreWriter, SyncOptions, Upstreams, outbox};

pub async fn run(ctx: &Context, once: bool) -> Result<ExitCode> {
    ctx.open_store()?;
    let writer = StoreWriter::open(&ctx.store_path)?;
    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
    let mut failed = record_build_errors(&writer, errors).await?;
    upstreams.remember_handled(&writer).await;
    if !once {
        let mut stop = StopSignals::install(&StopSignal::HEADLESS)?;
        let handle = crate::sync::start(
            &ctx.config,
            &ctx.routing,
            upstreams,
            writer,
            SyncOptions {
                pollers: true,
                outbox_worker: true,
            },
        );
        eprintln!(
            "syncing {} upstream(s) into {}; Ctrl-C to stop",
            ctx.config.upstreams.len(),
            ctx.store_path.display()
        );
        // Until a stop signal, tell each upstream's state as it changes (down, stale, live).
        let state_writer = StoreWriter::open(&ctx.store_path)?;
        let mut states = StateReporter::default();
        let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
        let signal = loop {
            tokio::select! {
                signal = stop.recv() => break signal,
                _ = every_second.tick() => states.report(&state_writer).await?,
            }
        };
        crate::signals::notice(format_args!("sync: {} received; stopping", signal.name()));
        handle.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    let (changes, _) = broadcast::channel(64);
    for upstream in upstreams.all() {
        let interval = ctx
            .config
            .upstream(upstream.id())
            .map(|u| u.poll_interval)
            .unwrap_or_default();
        let poll_ctx = PollContext::new(&ctx.config, &ctx.routing, interval);
        match poll_once(upstream.as_ref(), &writer, &poll_ctx, &changes).await {
            Ok(s) => println!(
                "{}: live — {} connectors, {} incidents changed, {} dead letters changed",
                upstream.id(),
                s.connectors,
                s.incidents_changed,
                s.dead_letters_changed
            ),
            Err(e) => {
                failed = true;
                println!(
                    "{}: down — {}",
                    upstream.id(),
                    redact::scrub(&e.to_string())
                );
                let id = upstream.id().to_string();
                let state = ConnectionState::Down {
                    since: Utc::now(),
                    error: e.to_string(),
                };
                writer
                    .call(move |s| s.set_upstream_state(&id, &state))
                    .await?;
            }
        }
    }
    // Everything due now, round after round (a round takes at most `outbox::DUE_LIMIT`).
    let mut sent = 0;
    loop {
        let round = outbox::process_due(&upstreams, &writer, &changes).await?;
        sent += round;
        if round < outbox::DUE_LIMIT {
            break;
        }
    }
    if sent > 0 {
        println!("outbox: {sent} action(s) sent or retried");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Upstreams that could not even be built (missing secret, unsupported kind) are down.
pub async fn record_build_errors(
    writer: &StoreWriter,
    errors: Vec<crate::upstream::UpstreamError>,
) -> Result<bool> {
    let any = !errors.is_empty();
    for e in errors {
        eprintln!("warning: {}", redact::scrub(&e.to_string()));
        let id = match &e {
            crate::upstream::UpstreamError::Config { upstream, .. }
            | crate::upstream::UpstreamError::Unsupported { upstream, .. }
            | crate::upstream::UpstreamError::Unreachable { upstream, .. }
            | crate::upstream::UpstreamError::Status { upstream, .. }
            | crate::upstream::UpstreamError::Malformed { upstream, .. }
            | crate::upstream::UpstreamError::Uncertain { upstream, .. }
            | crate::upstream::UpstreamError::Recalled { upstream, .. } => upstream.clone(),
        };
        let state = ConnectionState::Down {
            since: Utc::now(),
            error: e.to_string(),
        };
        writer
            .call(move |s| s.set_upstream_state(&id, &state))
            .await?;
    }
    Ok(any)
}
