//! The terminal console (ratatui): state, update, views, terminal guard.
//!
//! One owner of state (`App`); `update(&mut App, Msg) -> Vec<Cmd>` does no I/O; a store thread
//! runs the `Cmd`s and answers with `Msg`s; views draw from `&App` only. See DESIGN.md
//! "Console principles".

pub mod actions;
pub mod app;
pub mod bulk;
pub mod command;
pub mod detail;
pub mod edit;
pub mod escalation_text;
pub mod event_loop;
pub mod filter;
pub mod key;
pub mod keymap;
pub mod keys;
pub mod link;
pub mod marks;
pub mod metrics;
pub mod msg;
pub mod note;
pub mod open;
pub mod pager;
pub mod paging;
pub mod runs;
pub mod runs_list;
pub mod scroll;
pub mod sort;
pub mod terminal;
pub mod theme;
pub mod undo;
pub mod update;
pub mod view_state;
pub mod views;
pub mod worker;
pub mod worker_bulk;
pub mod yank;

use std::path::PathBuf;

pub use app::{App, View};
pub use keymap::{Key, KeyAction, Keymap, KeymapError};
pub use msg::{Cmd, Msg, StoreCmd};
pub use theme::Theme;
pub use update::update;

use crate::domain::Timestamp;

pub struct ConsoleOptions {
    pub config: crate::config::Config,
    /// Routes, escalation chains, bridge and vendor contacts: the SLA clocks need the chains.
    pub routing: crate::config::RoutingConfig,
    pub store_path: std::path::PathBuf,
    pub operator: String,
    pub read_only: bool,
    /// Same-process change notices from sync/outbox worker (None in tests). Also poll
    /// `Store::data_version()` ~1/s to notice other processes' writes.
    pub changes: Option<tokio::sync::broadcast::Receiver<crate::store::ChangeNotice>>,
    /// Wake the outbox worker after enqueueing an action (None in tests).
    pub outbox_wakeup: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Drives a bulk run started from the console (marked dead letters) in a background task,
    /// sending `Msg::RunProgress`; built by the binary, which owns the upstreams (None in tests:
    /// the run is created and waits for `triage runs resume ID`).
    pub run_driver: Option<RunDriver>,
    /// User keymap overriding assets/keymap.toml key by key (None = `<XDG config>/triage/keymap.toml` if present).
    pub keymap_file: Option<std::path::PathBuf>,
}

/// Drives run `id` to its end, reporting progress on the channel as `Msg::RunProgress`.
pub type RunDriver = std::sync::Arc<
    dyn Fn(
            String,
            tokio::sync::mpsc::UnboundedSender<Msg>,
        ) -> futures::future::BoxFuture<'static, ()>
        + Send
        + Sync,
>;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "terminal: {0} (the console needs an interactive terminal; scripts can use the subcommands)"
    )]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Keymap(#[from] KeymapError),
    #[error("console: {0}")]
    Worker(String),
    #[error("console: cannot install the signal handlers that restore the terminal: {0}")]
    Signals(std::io::Error),
}

/// How the console ended: the operator quit, or a stop signal arrived (exit `128 + signo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleExit {
    Quit,
    Signal(crate::signals::StopSignal),
}

/// Where time comes from: the system clock when running, a fixed one in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// `<XDG config dir>/triage/keymap.toml`.
pub fn default_keymap_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|dirs| dirs.config_dir().join("triage").join("keymap.toml"))
}

/// Runs the console until the operator quits or a stop signal arrives. Called inside a tokio
/// runtime.
pub async fn run(opts: ConsoleOptions) -> Result<ConsoleExit, ConsoleError> {
    let keymap_path = opts.keymap_file.clone().or_else(default_keymap_path);
    let keymap = Keymap::load(keymap_path.as_deref())?;
    let clock = SystemClock;
    let mut app = App::new(
        opts.config.clone(),
        opts.routing.clone(),
        opts.operator.clone(),
        opts.read_only,
        keymap,
        Theme::from_env(),
        clock.now(),
    );
    app.hyperlinks = hyperlinks_wanted(
        std::env::var("TERM").ok().as_deref(),
        std::env::var("TRIAGE_HYPERLINKS").ok().as_deref(),
    );
    event_loop::run_app(opts, app, &clock).await
}

/// Whether web links are drawn as OSC 8 hyperlinks: not on terminals that print unknown escape
/// sequences (TERM=dumb, the Linux console, old VTs) and not when `TRIAGE_HYPERLINKS=0`.
pub fn hyperlinks_wanted(term: Option<&str>, setting: Option<&str>) -> bool {
    match setting {
        Some("0" | "no" | "off" | "false") => false,
        Some("1" | "yes" | "on" | "true") => true,
        _ => yank::terminal_takes_osc52(term),
    }
}

/// Runbook view state from a loaded markdown file (or the reason it could not be read).
pub(crate) fn runbook_view_state(
    connector: &str,
    path: Option<PathBuf>,
    markdown: Result<String, String>,
    no_color: bool,
) -> app::RunbookState {
    let (text, problem) = match markdown {
        Ok(md) => (Some(crate::runbook::render(&md, no_color)), None),
        Err(e) => (None, Some(crate::domain::sanitize::line(&e))),
    };
    app::RunbookState {
        connector: Some(connector.to_string()),
        path,
        text,
        problem,
        scroll: Default::default(),
    }
}
