//! `triage demo`: the embedded demo upstream. With `--serve-only` it only serves (and can write
//! a config pointing at it); without, it also opens the console on a temporary store.

use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr};

use super::Context;
use crate::cli::{Cli, DemoArgs};
use crate::config::Config;
use crate::demo::{DemoOptions, DemoServer, write_demo_config_with_token};
use crate::signals::{StopSignal, StopSignals};

pub async fn run(cli: &Cli, args: &DemoArgs) -> Result<ExitCode> {
    let mut options = DemoOptions {
        seed: args.seed,
        token: args.token.clone(),
        batch: !args.no_batch,
        scale: args.scale,
        ..DemoOptions::default()
    };
    if let Some(listen) = args.listen {
        options.listen = listen;
    }
    let server = DemoServer::start(options).await?;
    let url = server.url();
    if args.serve_only {
        if let Some(path) = &args.write_config {
            let written = write_config_at(path, &url, args.token.as_deref())?;
            let token = if args.token.is_some() {
                " (with the token in demo.token, mode 0600)"
            } else {
                ""
            };
            println!("config written to {}{token}", written.display());
        }
        let mut stop = StopSignals::install(&StopSignal::HEADLESS)?;
        println!("demo upstream listening on {url} (Ctrl-C to stop)");
        stop.recv().await;
        server.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    // Console on the demo: config and store in a temporary directory removed on exit.
    let dir = tempfile::Builder::new()
        .prefix("triage-demo-")
        .tempdir()
        .wrap_err("cannot create a temporary directory")?;
    let config_path = match &args.write_config {
        Some(path) => write_config_at(path, &url, args.token.as_deref())?,
        None => write_demo_config_with_token(dir.path(), &url, args.token.as_deref())
            .wrap_err("cannot write the demo config")?,
    };
    let (config, routing) = Config::load_with_routing(&config_path)?;
    let mut ctx = Context::from_config(cli, config, routing);
    if cli.store.is_none() {
        ctx.store_path = dir.path().join("triage.db");
    }
    let result = super::console::run(ctx, None).await;
    // The operator quit: requests a fault holds are not worth waiting for.
    server
        .shutdown_within(std::time::Duration::from_millis(100))
        .await;
    result
}

/// Writes the demo config so that it ends up exactly at `path` (runbooks and contracts beside it).
fn write_config_at(
    path: &std::path::Path,
    url: &str,
    token: Option<&str>,
) -> Result<std::path::PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("cannot create {}", dir.display()))?;
    let written = write_demo_config_with_token(dir, url, token)
        .wrap_err_with(|| format!("cannot write the demo config into {}", dir.display()))?;
    if written != path {
        std::fs::rename(&written, path)
            .wrap_err_with(|| format!("cannot move {} to {}", written.display(), path.display()))?;
    }
    Ok(path.to_path_buf())
}
