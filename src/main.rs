//! The `triage` binary: parse the command line, install error and panic reporting, send logs to
//! a file, and dispatch. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = triage::cli::Cli::parse();
    if let Err(e) = color_eyre::install() {
        eprintln!("warning: cannot install error reporting: {e}");
    }
    let _log_guard = init_logging();
    triage::upstream::http::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("triage: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(triage::commands::run(cli));
    // Work still running now was abandoned on purpose (a signal, a hung upstream): actions are
    // durable outbox rows, so exiting without it loses nothing. Its tasks are dropped (a store
    // they hold is closed, a write in progress on a blocking thread finishes) within a second.
    // With no task left and every writer's store closed, the idle threads are not waited for:
    // each one's exit hands its allocator arena back (glibc consolidates every free chunk of
    // it), ≈ 10 ms after a bulk replay, for nothing — the process ends anyway.
    if runtime.metrics().num_alive_tasks() == 0 && triage::sync::writers_open() == 0 {
        runtime.shutdown_background();
    } else {
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    }
    match outcome {
        Ok(code) => code,
        Err(report) => {
            let text = format!("{report:#}");
            // Not eprintln!: after SIGHUP stderr may be gone, and it would panic.
            triage::signals::notice(format_args!(
                "triage: {}",
                triage::domain::redact::scrub(&text)
            ));
            ExitCode::FAILURE
        }
    }
}

/// Logs go to `<XDG state dir>/triage/triage.log` (level from `TRIAGE_LOG`, default info),
/// private (0600 in a 0700 directory) and scrubbed of secrets; never to the terminal, which the
/// console owns.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use triage::commands::log_file;
    let dir = triage::commands::log_dir();
    let file = match log_file::open(&dir) {
        Ok(file) => file,
        Err(e) => {
            eprintln!(
                "warning: triage is not logging: cannot open {}: {e}",
                dir.join(log_file::LOG_FILE_NAME).display()
            );
            return None;
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
    let writer = log_file::Scrubbing(writer);
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIAGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .ok()?;
    Some(guard)
}
