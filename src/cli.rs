//! Command-line definitions (clap derive). `triage` with no subcommand opens the console.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "triage",
    version,
    about = "On-call console for brittle integrations: queues, dead letters, incidents, acks, replay."
)]
pub struct Cli {
    /// Config file (else $TRIAGE_CONFIG, else ~/.config/triage/triage.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite store (else `store` in the config, else ~/.local/share/triage/triage.db).
    #[arg(long, global = true, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Refuse every action that would change an upstream.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Act as this operator (else `operator` in the config, else $USER@host).
    #[arg(long, global = true, value_name = "NAME")]
    pub operator: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--where` and the console's `/`: the query language (`domain::query`).
const QUERY_HELP: &str = "\
QUERY (--where, and the console's /): terms separated by spaces, all must hold; !term negates.
  word, \"two words\"       free text: substring, ASCII case ignored, in id, connector, error,
                          headers and payload (dead letters) or id, connector, title, kind,
                          severity, status, acked-by (incidents); \\\" escapes a quote
  connector:ID            exactly this connector
  status:S                dead|replayed|discarded, or open|acked|suppressed|resolved
                          (replaces the default: live dead letters, unresolved incidents)
  severity:S  owner:ID    incidents: severity (critical, major, warning, info), routed owner
  error:TEXT              dead letters: error code or message contains TEXT
  origin:QUEUE            dead letters: the queue it died in (x-death), else its connector
  header:NAME=VALUE       dead letters: a header with exactly VALUE (header:NAME: present)
  age:<2h  age:>1d        younger / older than (failure time; incidents: opened)
  since:T  until:T        at or after / before T: 2h (ago), 2026-12-01, 2026-12-01T02:10:00Z
  re:FIELD=REGEX          regex on text, id, connector, error, origin, payload (dead letters)
                          or text, id, connector, title, kind, owner (incidents)
Examples:
  triage dead-letters --where 'connector:crm error:\"column lead_source\" age:<2h'
  triage dead-letters --where 'origin:orders.work !header:x-retry=final since:2026-12-01'
  triage incidents --where 'severity:critical !status:resolved owner:alice'
A bad query exits 2 and shows where it went wrong.";

/// `triage report --help`: the definitions, short (docs/METRICS.md has them in full).
const REPORT_HELP: &str = "\
DEFINITIONS (docs/METRICS.md has them in full). Incident numbers cover incidents OPENED in the
window [until - since, until), whatever happened to them later.
  MTTA         acked_at - opened_at of acked incidents; the last ack the upstream reports (an ack
               renewed after it expired counts at the renewal). Median and p90 (nearest rank).
  MTTR         resolved_at - opened_at of resolved incidents (the last resolution).
  reopen rate  incidents that went resolved -> unresolved at least once / incidents opened.
  ack in SLA   acked at or before the ack deadline (opened + the route's ack SLA) / incidents
               judged: acked ones, and unacked ones whose deadline passed (not those resolved
               unacked before it, nor those whose deadline is still ahead).
  escalations  steps taken (watch or an operator), each level of each ack cycle once; max level.
  cross-team   notifications a step sent to a team other than the connector owner's team,
  pings        per incident opened.
  DLQ          dead letters now; first and last queue snapshot in the window; trend = last - first.
  replays      replays queued in the window; success = delivered / (delivered + failed).
Rows are sorted worst first: incidents opened, MTTR p90, MTTA p90, DLQ now, DLQ trend.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded demo upstream; with no flags, open the console on it with a temporary store.
    Demo(DemoArgs),
    /// Print a shell completion script: `triage completions bash > /etc/bash_completion.d/triage`,
    /// zsh: `triage completions zsh > "${fpath[1]}/_triage"`, fish: `> ~/.config/fish/completions/triage.fish`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout — `triage man | man -l -` — or, with --dir, write
    /// triage.1 and one page per subcommand (triage-replay.1, …) there.
    Man {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Poll every upstream into the store and send pending actions (until Ctrl-C, or once).
    Sync {
        /// One poll of every upstream and one pass over the outbox, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Headless daemon: sync, send the outbox, and escalate when ack deadlines pass (one
    /// active watcher per store; others stand by).
    Watch {
        /// How often clocks are evaluated.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        tick: std::time::Duration,
        /// How long the watch lease lasts without renewal (a crashed watcher's lease expires).
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        lease: std::time::Duration,
    },
    /// List connectors with queue stats (from the store).
    Connectors(ListArgs),
    /// List incidents, most urgent first (from the store); `incidents show ID` shows one whole,
    /// with its route and notes.
    #[command(after_long_help = QUERY_HELP, args_conflicts_with_subcommands = true)]
    Incidents {
        #[command(subcommand)]
        command: Option<IncidentsCommand>,
        #[command(flatten)]
        list: ListArgs,
        /// Include resolved incidents.
        #[arg(long)]
        all_statuses: bool,
        /// Only incidents whose id, connector, title, kind, severity, status or ack author
        /// contain TEXT (ASCII case ignored), like the console's `/`.
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
        /// Only incidents the query selects (the console's `/` language, described by --help).
        #[arg(long = "where", value_name = "QUERY")]
        filter: Option<String>,
    },
    /// List dead letters, newest first (from the store).
    #[command(after_long_help = QUERY_HELP)]
    DeadLetters {
        #[command(flatten)]
        list: ListArgs,
        /// dead (default), replayed or discarded.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only dead letters whose id, connector, error, headers or whole payload contain TEXT
        /// (ASCII case ignored), like the console's `/`.
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
        /// Only dead letters the query selects (the console's `/` language, described by --help).
        #[arg(long = "where", value_name = "QUERY")]
        filter: Option<String>,
    },
    /// Add a note to an incident (kept as a history with author and time; audited).
    Note {
        /// Id, or `upstream:id` when ids collide across upstreams.
        id: String,
        /// The note; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Acknowledge an incident.
    Ack(IncidentActionArgs),
    /// End an incident's acknowledgement: it is open again and its escalation resumes (on
    /// Alertmanager: the silences that ack exactly this alert expire).
    Unack(IncidentActionArgs),
    /// Take an incident's next escalation step now: notify its chain's next targets (the
    /// backup without a chain) and escalate on the upstream when it can.
    Escalate(IncidentActionArgs),
    /// Resolve an incident.
    Resolve(IncidentActionArgs),
    /// Replay a dead letter to its destination (optionally with an edited payload) — or every
    /// dead letter a query matches, as a staged run (`--where`; see `triage runs`).
    #[command(mut_arg("id", |a| a.required(false).required_unless_present("query")))]
    Replay {
        #[command(flatten)]
        action: ActionArgs,
        #[command(flatten)]
        bulk: BulkArgs,
        /// Send this file's bytes instead of the stored payload.
        #[arg(long, value_name = "FILE")]
        payload_file: Option<PathBuf>,
        /// Edit the payload in $VISUAL / $EDITOR first: shows the diff and the contract check,
        /// asks (or --yes), and records the SHA-256 of the original and of what is sent.
        #[arg(long, conflicts_with_all = ["payload_file", "query"])]
        edit: bool,
        /// RabbitMQ: where to send it instead of the queue it last died in: `first-origin` (the
        /// queue it first died in), `queue:NAME`, or `exchange:NAME[:ROUTING_KEY]`. SQS:
        /// `queue:NAME` instead of its source queue (needed when the source is not known).
        #[arg(long, value_name = "DESTINATION", value_parser = parse_destination)]
        to: Option<String>,
        /// RabbitMQ: replay without the message's own TTL (restored from x-death by default).
        #[arg(long)]
        no_ttl: bool,
    },
    /// Discard a dead letter (it will not be delivered).
    Discard(IncidentActionArgs),
    /// Bulk recovery runs: list them, show one, pause, resume (drives it here until it is done
    /// or pauses) or cancel.
    Runs {
        #[command(subcommand)]
        command: Option<RunsCommand>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show pending and failed actions (add --all for sent ones).
    Outbox {
        #[command(flatten)]
        list: ListArgs,
        /// Include sent actions (by default only pending and failed ones).
        #[arg(long)]
        all: bool,
    },
    /// Show the audit log, newest first; --verify checks its hash chain.
    Audit {
        #[command(flatten)]
        list: ListArgs,
        /// Check the hash chain of the whole audit log instead of listing it (exit 1 if it is
        /// broken, naming the first bad row).
        #[arg(long)]
        verify: bool,
    },
    /// Routing rules: see which route an incident takes and why (like `amtool config routes test`).
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Metrics per connector and per team over a window: incidents, MTTA, MTTR, reopen rate,
    /// ack within SLA, escalations, cross-team pings, DLQ trend, replays (from the store).
    #[command(after_long_help = REPORT_HELP)]
    Report(ReportArgs),
    /// A shift summary in Markdown: open incidents, what was done and by whom, runs in progress,
    /// DLQs that grew, connectors down or stale, and the audit range covered.
    Handoff(HandoffArgs),
    /// Audit the inventory against the ownership rules; lists every violation, exits 1 if any.
    Check {
        /// Print {"ok", "violations"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The connector inventory.
    Inventory {
        #[command(subcommand)]
        command: InventoryCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Route an incident described by KEY=VALUE facts: connector, kind, severity, upstream,
    /// label.<name>. Prints owner, backup, ack SLA, chain steps, runbook and the matched rule.
    Test {
        #[arg(required = true, value_name = "KEY=VALUE")]
        facts: Vec<String>,
        /// Also list every rule tried and why it did or did not match.
        #[arg(long)]
        tree: bool,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Write every connector with owner, backup, purpose, source, destination, direction, ack
    /// SLA, incidents in the window, reopens, MTTA and MTTR (from the store).
    Export {
        /// CSV with a header row (the default format).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// One JSON object per connector per line instead.
        #[arg(long)]
        json: bool,
        /// Window for the incident metrics, in days.
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        days: u32,
        /// Write to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Only serve the demo upstream (no console), until Ctrl-C.
    #[arg(long)]
    pub serve_only: bool,
    /// Address to listen on (loopback); default a free port on 127.0.0.1.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Write a triage.toml pointing at the demo (plus its runbooks and contracts beside it).
    #[arg(long, value_name = "FILE")]
    pub write_config: Option<PathBuf>,
    /// Seed of the simulated scenario.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Require this bearer token on the demo API.
    #[arg(long, env = "TRIAGE_DEMO_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve the API as a v1.0 upstream: no discovery (`GET /v1`) and no batch endpoints, so
    /// clients replay one request per dead letter.
    #[arg(long)]
    pub no_batch: bool,
    /// Also serve N generated dead letters and N/10 incidents (realistic payloads), to measure
    /// ingest, search and the console at size (`--scale 1000000`; about 2 KB of memory each).
    #[arg(long, value_name = "N")]
    pub scale: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this connector.
    #[arg(long, value_name = "ID")]
    pub connector: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Rows to show (0 = all, streamed page by page); how many more there are goes to stderr.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// A run's settings, progress, failures grouped by reason, and its first members.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop handing members to the outbox (those already there are still sent). A server-side
    /// move in flight (SQS's move task) is cancelled: the letters it had not moved stay in the
    /// DLQ and wait in the run, planned, to be sent once by `runs resume`.
    Pause { id: String },
    /// Go on with a paused run (or one whose driver died) and drive it here until it is done or
    /// pauses: a progress bar on a terminal, JSON lines otherwise or with --json.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop for good: members not yet in the outbox are left out. A server-side move in flight
    /// (SQS's move task) is cancelled: the letters it had not moved stay in the DLQ, answered
    /// not replayed (a new run sends them).
    Cancel { id: String },
}

/// `triage replay --where QUERY`: a staged, rate-limited run over every dead letter it matches.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Replay every dead letter QUERY matches (the console's `/` language; see
    /// `triage dead-letters --help`), as a staged run: the plan first, then stages.
    #[arg(long = "where", value_name = "QUERY", conflicts_with_all = ["id", "payload_file"])]
    pub query: Option<String>,
    /// Print the plan (counts per connector and destination, contract violations, stages, rate,
    /// estimated time) and change nothing.
    #[arg(long, requires = "query")]
    pub plan: bool,
    /// Start without asking (needed when stdin is not a terminal): a run, or an edited replay.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Stage sizes: counts, percentages of the selection, `rest`.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "1,10%,rest",
        requires = "query"
    )]
    pub stages: String,
    /// Pause the run when a stage fails more than this (a count or a percentage).
    #[arg(long, value_name = "LIMIT", default_value = "10%", requires = "query")]
    pub max_failures: String,
    /// Actions per second at most (`50/s`, `600/m`); a 429 or Retry-After slows it further.
    #[arg(long, value_name = "RATE", requires = "query")]
    pub rate: Option<String>,
    /// Members in flight at once (default 500: one outbox round, one batch request); as many
    /// more wait in the outbox behind them, prepared while those are answered.
    #[arg(long, value_name = "N", requires = "query")]
    pub concurrency: Option<usize>,
    /// Replay letters that violate their connector's contract too (skipped by default; an
    /// edited payload that violates it is refused without this).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ActionArgs {
    /// Id, or `upstream:id` when ids collide across upstreams.
    #[arg(required = true)]
    pub id: Option<String>,
    /// Enqueue and return at once; the console, `triage sync` or the next command sends it.
    #[arg(long)]
    pub no_wait: bool,
    /// Seconds to wait for the upstream's answer.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IncidentActionArgs {
    #[command(flatten)]
    pub action: ActionArgs,
    /// A note recorded with the action.
    #[arg(long)]
    pub note: Option<String>,
}

/// `--to`: checked when the command line is read, kept as text in the action.
fn parse_destination(text: &str) -> Result<String, String> {
    crate::domain::ReplayDestination::parse(text).map(|_| text.to_string())
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// One incident whole: status, owner and route, ack, escalation level, labels, links, notes.
    Show {
        /// Id, or `upstream:id` when ids collide across upstreams.
        id: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The window's length, ending at --until: 24h, 7d, 30d, 90m…
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// The window's end (RFC 3339, e.g. 2026-12-01T00:00:00Z); default now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this connector (its row, its team's share, its series).
    #[arg(long, value_name = "ID")]
    pub connector: Option<String>,
    /// The whole report as JSON (rows, teams, total, DLQ series, incidents per day).
    #[arg(long, group = "report_format")]
    pub json: bool,
    /// Markdown tables (the default).
    #[arg(long, group = "report_format")]
    pub markdown: bool,
    /// One CSV row per connector and per team, with a header row.
    #[arg(long, group = "report_format")]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct HandoffArgs {
    /// The shift's length, ending now: 12h, 8h, 1d…
    #[arg(long, default_value = "12h", value_parser = humantime::parse_duration)]
    pub since: std::time::Duration,
    /// Also send the summary through this configured notifier (`[[notifier]]` id).
    #[arg(long, value_name = "NOTIFIER")]
    pub post: Option<String>,
}
