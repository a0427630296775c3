//! One module per subcommand; `run` dispatches. Commands are the only place that wires the
//! config, the store, the sync engine, the demo and the console together.

pub mod act;
pub mod check;
pub mod console;
pub mod demo;
pub mod edit_replay;
pub mod handoff;
mod handoff_more;
pub mod inventory;
pub mod list;
pub mod list_more;
pub mod log_file;
pub mod manual;
pub mod notes;
pub mod output;
pub mod progress;
pub mod report;
pub mod routes;
pub mod runs;
pub mod sync;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr, eyre};

use crate::cli::{Cli, Command, InventoryCommand, RoutesCommand};
use crate::config::{Config, RoutingConfig};
use crate::store::Store;

/// What every command but `demo` needs: the config, the store path and the operator.
pub struct Context {
    pub config: Config,
    /// Routes, escalation chains, bridge and vendor contacts (beside the config).
    pub routing: RoutingConfig,
    pub store_path: PathBuf,
    pub operator: String,
    pub read_only: bool,
}

/// Commands that only read the config to audit it or report (`check`, `routes test`, `inventory export`, `report`):
/// they run where the secrets may not be (CI, a laptop), so a missing `token_env` variable or
/// `token_file` is not their business. Every other command reaches upstreams or their data and
/// refuses such a config when it loads.
fn audits_config_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Check { .. }
            | Command::Routes { .. }
            | Command::Inventory { .. }
            | Command::Report(_)
    )
}

impl Context {
    /// Loads the config, refusing it when a secret it names is missing (`Config::load`).
    pub fn load(cli: &Cli) -> Result<Context> {
        Context::load_checked(cli, true)
    }

    /// Loads the config without looking for its secrets (`Config::load_without_secrets`).
    pub fn load_without_secrets(cli: &Cli) -> Result<Context> {
        Context::load_checked(cli, false)
    }

    fn load_checked(cli: &Cli, secrets: bool) -> Result<Context> {
        let Some(path) = Config::locate(cli.config.as_deref()) else {
            return Err(eyre!(
                "no config file: pass --config FILE, set TRIAGE_CONFIG, or create {} from assets/triage.example.toml \
                 (to try triage without one: `triage demo`)",
                default_config_path().display()
            ));
        };
        let (config, routing) = if secrets {
            Config::load_with_routing(&path)?
        } else {
            Config::load_without_secrets(&path)?
        };
        Ok(Context::from_config(cli, config, routing))
    }

    pub fn from_config(cli: &Cli, config: Config, routing: RoutingConfig) -> Context {
        let store_path = cli
            .store
            .clone()
            .or_else(|| config.store.clone())
            .unwrap_or_else(default_store_path);
        let operator = cli
            .operator
            .clone()
            .unwrap_or_else(|| config.operator.clone());
        let read_only = cli.read_only || config.read_only;
        Context {
            config,
            routing,
            store_path,
            operator,
            read_only,
        }
    }

    /// Opens the store and writes the config's inventory into it.
    pub fn open_store(&self) -> Result<Store> {
        let mut store = Store::open(&self.store_path)?;
        store
            .sync_inventory(&self.config.inventory())
            .wrap_err("cannot write the inventory to the store")?;
        store
            .sync_team_directory(&self.config.team_directory())
            .wrap_err("cannot write the team directory to the store")?;
        Ok(store)
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "triage")
}

pub fn default_store_path() -> PathBuf {
    project_dirs()
        .map(|d| d.data_dir().join("triage.db"))
        .unwrap_or_else(|| PathBuf::from("triage.db"))
}

pub fn default_config_path() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().join("triage.toml"))
        .unwrap_or_else(|| PathBuf::from("triage.toml"))
}

/// Where the log file goes: the XDG state dir (never the terminal while the UI runs); without a
/// home, a per-user directory in the temp dir (never the shared temp dir itself: it is made 0700).
pub fn log_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.state_dir().unwrap_or(d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            std::env::temp_dir().join(format!("triage-{uid}"))
        })
}

/// Runs the parsed command line. Output into a closed pipe (`triage outbox | head`) ends the
/// command quietly with success: the reader had what it wanted.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match dispatch(&cli).await {
        Err(e) if output::is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

async fn dispatch(cli: &Cli) -> Result<ExitCode> {
    match &cli.command {
        Some(Command::Demo(args)) => demo::run(cli, args).await,
        // Need no config: they describe the command line itself.
        Some(Command::Completions { shell }) => manual::completions(*shell),
        Some(Command::Man { dir }) => manual::man(dir.as_deref()),
        None => {
            let ctx = Context::load(cli)?;
            console::run(ctx, None).await
        }
        Some(command) => {
            let ctx = if audits_config_only(command) {
                Context::load_without_secrets(cli)?
            } else {
                Context::load(cli)?
            };
            match command {
                Command::Sync { once } => sync::run(&ctx, *once).await,
                Command::Watch { tick, lease } => watch::run(&ctx, *tick, *lease).await,
                Command::Connectors(list) => list::connectors(&ctx, list),
                Command::Incidents {
                    command: Some(crate::cli::IncidentsCommand::Show { id, json }),
                    ..
                } => notes::show_incident(&ctx, id, *json),
                Command::Note { id, text } => notes::add(&ctx, id, &text.join(" ")),
                Command::Incidents {
                    command: None,
                    list,
                    all_statuses,
                    grep,
                    filter,
                } => list::incidents(
                    &ctx,
                    list,
                    *all_statuses,
                    grep.as_deref(),
                    filter.as_deref(),
                ),
                Command::DeadLetters {
                    list,
                    state,
                    grep,
                    filter,
                } => list::dead_letters(
                    &ctx,
                    list,
                    state.as_deref(),
                    grep.as_deref(),
                    filter.as_deref(),
                ),
                Command::Outbox { list, all } => list_more::outbox(&ctx, list, *all),
                Command::Audit { list, verify } => list_more::audit(&ctx, list, *verify),
                Command::Routes {
                    command: RoutesCommand::Test { facts, tree, json },
                } => routes::test(&ctx, facts, *tree, *json),
                Command::Check { json } => check::run(&ctx, *json),
                Command::Report(args) => report::run(&ctx, args),
                Command::Handoff(args) => handoff::run(&ctx, args).await,
                Command::Inventory {
                    command:
                        InventoryCommand::Export {
                            csv: _,
                            json,
                            days,
                            output,
                        },
                } => inventory::export(&ctx, *json, *days, output.as_deref()),
                Command::Replay {
                    action,
                    bulk,
                    to,
                    no_ttl,
                    ..
                } if bulk.query.is_some() => {
                    runs::replay_where(&ctx, bulk, action.json, to.clone(), *no_ttl).await
                }
                Command::Runs { command, json } => runs::run(&ctx, command.as_ref(), *json).await,
                _ => act::run(&ctx, command).await,
            }
        }
    }
}

/// Reads a file the operator named, with its name in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).wrap_err_with(|| format!("cannot read {}", path.display()))
}
