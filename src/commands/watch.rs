//! `triage watch`: the headless daemon for a bastion. Whoever holds the store's `watch` lease
//! syncs every upstream, sends the outbox, and escalates incidents whose SLA clock says a step
//! is due; every other instance on the same store stands by and takes over when the lease
//! lapses. The active one also drives runs whose driver is gone (`sync::run_adopt`). Runs until
//! SIGINT, SIGTERM or SIGHUP, then releases the lease.

use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use color_eyre::eyre::Result;

use super::Context;
use super::progress::{EscalationReporter, StateReporter};
use crate::signals::{StopSignal, StopSignals};
use crate::sync::run_adopt::RunAdopter;
use crate::sync::watcher::{WATCH_LOCK, evaluate, look_at_everything};
use crate::sync::{StoreWriter, SyncHandle, SyncOptions, Upstreams};

pub async fn run(ctx: &Context, tick: Duration, lease: Duration) -> Result<ExitCode> {
    ctx.open_store()?;
    let writer = StoreWriter::open(&ctx.store_path)?;
    let holder = format!("watch:{}:{}", ctx.operator, std::process::id());
    let lease = chrono::Duration::from_std(lease.max(tick * 2))?;
    let mut active: Option<SyncHandle> = None;
    let mut adopter: Option<RunAdopter> = None;
    let mut stop = StopSignals::install(&StopSignal::HEADLESS)?;
    let mut standby_reported = false;
    // A line on stderr per escalation step and notification, and per upstream state change.
    let mut steps = EscalationReporter::start(&writer).await?;
    let mut states = StateReporter::default();
    loop {
        let now = Utc::now();
        let holder_id = holder.clone();
        let lock = writer
            .call(move |s| s.try_lock(WATCH_LOCK, &holder_id, now, now + lease))
            .await?;
        match lock {
            Ok(()) => {
                if active.is_none() {
                    // Taking over (or starting): this config's chains and SLAs may differ from
                    // the last holder's, so every incident gets a look.
                    look_at_everything(&writer).await?;
                    let (upstreams, errors) = Upstreams::from_config(&ctx.config, &ctx.routing);
                    super::sync::record_build_errors(&writer, errors).await?;
                    upstreams.remember_handled(&writer).await;
                    let options = SyncOptions {
                        pollers: true,
                        outbox_worker: !ctx.read_only,
                    };
                    active = Some(crate::sync::start(
                        &ctx.config,
                        &ctx.routing,
                        upstreams,
                        writer.clone(),
                        options,
                    ));
                    eprintln!(
                        "watch: active ({holder}); syncing and escalating from {}",
                        ctx.store_path.display()
                    );
                    standby_reported = false;
                }
                if !ctx.read_only {
                    // Runs whose driver is gone go on here.
                    let runs = match &mut adopter {
                        Some(adopter) => adopter,
                        None => adopter
                            .insert(RunAdopter::new(&ctx.config, &ctx.routing, &writer).await),
                    };
                    for id in runs.adopt_orphans(&writer).await? {
                        eprintln!("watch: run {id} has no driver; driving it here");
                    }
                    let summary =
                        evaluate(&ctx.config, &ctx.routing, &writer, &holder, Utc::now()).await?;
                    if summary.actions_enqueued > 0
                        && let Some(handle) = &active
                    {
                        handle.outbox_wakeup.notify_one();
                    }
                }
                states.report(&writer).await?;
                steps.report(&writer).await?;
            }
            Err(other) => {
                if let Some(handle) = active.take() {
                    eprintln!("watch: lost the lease to {}; standing by", other.holder);
                    handle.shutdown().await;
                }
                if let Some(mut runs) = adopter.take() {
                    runs.stop();
                }
                if !standby_reported {
                    eprintln!(
                        "watch: standing by — {} holds the lease until {}",
                        other.holder,
                        other.lease_until.format("%H:%M:%S UTC")
                    );
                    standby_reported = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            signal = stop.recv() => {
                crate::signals::notice(format_args!("watch: {} received; stopping", signal.name()));
                break;
            }
        }
    }
    if let Some(mut runs) = adopter.take() {
        runs.stop();
    }
    if let Some(handle) = active.take() {
        handle.shutdown().await;
    }
    let holder_id = holder.clone();
    writer
        .call(move |s| s.unlock(WATCH_LOCK, &holder_id))
        .await?;
    crate::signals::notice(format_args!("watch: stopped"));
    Ok(ExitCode::SUCCESS)
}
