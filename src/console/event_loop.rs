//! The console task: paints the first frame, starts the store thread, then `select!`s over
//! terminal input, store answers, change notices, timers and stop signals, feeding `update` and
//! drawing only when something changed, inside synchronized updates: what the operator typed at
//! once, anything else at most every 16 ms. (Input is not drained ahead with `now_or_never`:
//! crossterm's `EventStream` keeps the waker of the poll that found nothing, so a dropped poll
//! leaves the next key unseen until another wake-up — measured as keys answered a second late.)
//! A stop signal (TERM, HUP, INT, QUIT) ends the loop like `q`: the store thread finishes the
//! command it runs (an enqueue is never cut), and the terminal is restored within a bound, since
//! after SIGHUP it may be gone.

use std::io::{self, BufWriter, Stdout};
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use crossterm::{execute, queue};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{Instant, MissedTickBehavior};

use super::app::App;
use super::keymap::Key;
use super::msg::{Cmd, Msg, StoreCmd};
use super::terminal::{self, PanicHookGuard, TerminalGuard};
use super::{Clock, ConsoleError, ConsoleExit, ConsoleOptions, update, views, worker};
use crate::signals::{StopSignal, StopSignals};
use crate::store::ChangeNotice;

const FRAME_BUDGET: Duration = Duration::from_millis(16);
/// Longest wait for the terminal to take the restore sequences (it may be gone after SIGHUP).
const RESTORE_BOUND: Duration = Duration::from_secs(1);
/// Longest wait for the store thread to finish its command (the store's busy timeout, and a bit).
const WORKER_STOP_BOUND: Duration = Duration::from_secs(6);

type Backend = CrosstermBackend<BufWriter<Stdout>>;

/// One terminal event, as the loop takes it.
enum Input {
    /// A message for `update`, or nothing (a key release, a mouse event).
    Msg(Option<Msg>),
    /// The terminal's input ended.
    Closed,
    Failed(io::Error),
}

fn input(event: Option<io::Result<Event>>, clock: &dyn Clock) -> Input {
    match event {
        Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
            Input::Msg(Key::from_event(&key).map(|key| Msg::Key {
                key,
                now: clock.now(),
            }))
        }
        Some(Ok(Event::Resize(width, height))) => Input::Msg(Some(Msg::Resize { width, height })),
        Some(Ok(_)) => Input::Msg(None),
        Some(Err(e)) => Input::Failed(e),
        None => Input::Closed,
    }
}

pub async fn run_app(
    opts: ConsoleOptions,
    mut app: App,
    clock: &dyn Clock,
) -> Result<ConsoleExit, ConsoleError> {
    // Before raw mode: from here on these signals are messages, not deaths.
    let mut stop = StopSignals::install(&StopSignal::ALL).map_err(ConsoleError::Signals)?;
    let mut guard = TerminalGuard::enter()?;
    let _hook = PanicHookGuard::install();
    let mut terminal = Terminal::new(CrosstermBackend::new(BufWriter::with_capacity(
        1 << 16,
        io::stdout(),
    )))?;
    let size = terminal.size()?;
    app.size = (size.width, size.height);
    draw(&mut terminal, &mut app)?;
    let mut last_draw = Instant::now();

    let (cmd_tx, cmd_rx) = std::sync::mpsc::channel::<StoreCmd>();
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let run_tx = msg_tx.clone();
    let mut run_tasks: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let store_path = opts.store_path.clone();
    let escalation = worker::EscalationContext {
        config: opts.config.clone(),
        routing: opts.routing.clone(),
    };
    let worker = std::thread::Builder::new()
        .name("console-store".into())
        .spawn(move || worker::run_with(store_path, cmd_rx, msg_tx, Some(escalation)))
        .map_err(|e| ConsoleError::Worker(format!("cannot start the store thread: {e}")))?;

    let mut events = EventStream::new();
    let mut changes = opts.changes;
    let mut version_poll = tokio::time::interval(Duration::from_secs(1));
    version_poll.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut countdown = tokio::time::interval(Duration::from_secs(1));
    countdown.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let result = 'events: loop {
        let draw_at = last_draw + FRAME_BUDGET;
        let mut from_terminal = false;
        let msg = tokio::select! {
            event = events.next() => match input(event, clock) {
                Input::Msg(msg) => {
                    from_terminal = true;
                    msg
                }
                Input::Closed => break Ok(ConsoleExit::Quit),
                Input::Failed(e) => break Err(ConsoleError::Terminal(e)),
            },
            signal = stop.recv() => break Ok(ConsoleExit::Signal(signal)),
            Some(msg) = msg_rx.recv() => Some(msg),
            msg = next_change(&mut changes) => msg,
            _ = version_poll.tick() => {
                let _ = cmd_tx.send(StoreCmd::CheckDataVersion);
                None
            }
            _ = countdown.tick(), if app.needs_tick() => Some(Msg::Tick { now: clock.now() }),
            _ = tokio::time::sleep_until(draw_at), if app.dirty => None,
        };
        if let Some(msg) = msg {
            for cmd in update::update(&mut app, msg) {
                match cmd {
                    Cmd::Store(store_cmd) => {
                        if cmd_tx.send(store_cmd).is_err() {
                            app.set_status(
                                super::app::StatusLevel::Error,
                                "the store thread stopped; restart triage",
                            );
                        }
                    }
                    Cmd::WakeOutbox => {
                        if let Some(wakeup) = &opts.outbox_wakeup {
                            wakeup.notify_one();
                        }
                    }
                    Cmd::Suspend => {
                        if let Err(e) = guard.suspend().and_then(|()| repaint_all(&mut terminal)) {
                            break 'events Err(ConsoleError::Terminal(e));
                        }
                        app.dirty = true;
                    }
                    Cmd::DriveRun { id } => match &opts.run_driver {
                        Some(driver) => {
                            run_tasks.retain(|t| !t.is_finished());
                            run_tasks.push(tokio::spawn(driver(id, run_tx.clone())));
                        }
                        None => app.set_status(
                            super::app::StatusLevel::Warning,
                            format!(
                                "run {} created; this console cannot drive it: `triage runs resume {}`",
                                crate::domain::sanitize::line(&id),
                                crate::domain::sanitize::line(&id)
                            ),
                        ),
                    },
                    Cmd::EditPayload { letter, draft } => {
                        // The input reader stops with its stream: the editor owns the tty. (Drop
                        // it before making a new one: its thread holds crossterm's reader lock
                        // while it polls, and `EventStream::new` waits for that lock.)
                        drop(events);
                        guard.leave();
                        let outcome = edit_payload(&mut stop, &opts.config, &letter, &draft).await;
                        if let Err(signal) = outcome {
                            break 'events Ok(ConsoleExit::Signal(signal));
                        }
                        if let Err(e) = guard.resume().and_then(|()| repaint_all(&mut terminal)) {
                            break 'events Err(ConsoleError::Terminal(e));
                        }
                        events = EventStream::new();
                        if let Ok(review) = outcome {
                            // Answered here, so the first frame after the editor has the dialog.
                            for cmd in update::update(&mut app, Msg::EditReviewed(review)) {
                                tracing::warn!("unexpected command after an edit review: {cmd:?}");
                            }
                        }
                        app.dirty = true;
                    }
                    Cmd::OpenUrl { what, url } => {
                        let browser = std::env::var("BROWSER").ok().filter(|b| !b.trim().is_empty());
                        match browser {
                            _ if !super::link::is_web_url(&url) => app.set_status(
                                super::app::StatusLevel::Warning,
                                format!(
                                    "{what}: {} is not an http(s) link; not opened",
                                    crate::domain::sanitize::line(&url)
                                ),
                            ),
                            Some(browser) => {
                                let started = std::process::Command::new("sh")
                                    .arg("-c")
                                    .arg(format!("exec {browser} \"$1\""))
                                    .arg("triage-browser")
                                    .arg(&url)
                                    .stdin(std::process::Stdio::null())
                                    .stdout(std::process::Stdio::null())
                                    .stderr(std::process::Stdio::null())
                                    .spawn();
                                match started {
                                    // Reaped by a thread: the browser may outlive the wait.
                                    Ok(mut child) => {
                                        std::thread::spawn(move || child.wait());
                                        app.set_status(
                                            super::app::StatusLevel::Success,
                                            format!("opened {what} in {browser}"),
                                        );
                                    }
                                    Err(e) => app.set_status(
                                        super::app::StatusLevel::Warning,
                                        format!("cannot start $BROWSER ({browser}): {e}"),
                                    ),
                                }
                            }
                            None => {
                                use std::io::Write;
                                let copied = super::yank::terminal_takes_osc52(
                                    std::env::var("TERM").ok().as_deref(),
                                ) && terminal
                                    .backend_mut()
                                    .write_all(super::yank::osc52(url.as_bytes()).as_bytes())
                                    .and_then(|()| terminal.backend_mut().flush())
                                    .is_ok();
                                app.set_status(
                                    super::app::StatusLevel::Info,
                                    format!(
                                        "{what}: {}{}",
                                        crate::domain::sanitize::line(&url),
                                        if copied { " (copied; no $BROWSER here)" } else { "" }
                                    ),
                                );
                            }
                        }
                    }
                    Cmd::Yank { what, bytes } => {
                        let term = std::env::var("TERM").ok();
                        if !super::yank::terminal_takes_osc52(term.as_deref()) {
                            app.set_status(
                                super::app::StatusLevel::Warning,
                                format!(
                                    "this terminal (TERM={}) does not take OSC 52: nothing copied",
                                    term.as_deref().unwrap_or("unset")
                                ),
                            );
                        } else if bytes.len() > super::yank::MAX_YANK_BYTES {
                            app.set_status(
                                super::app::StatusLevel::Warning,
                                format!(
                                    "{what} is {} KB: more than terminals take by OSC 52 ({} KB); nothing copied",
                                    bytes.len() / 1024,
                                    super::yank::MAX_YANK_BYTES / 1024
                                ),
                            );
                        } else {
                            use std::io::Write;
                            let sequence = super::yank::osc52(&bytes);
                            let written = terminal
                                .backend_mut()
                                .write_all(sequence.as_bytes())
                                .and_then(|()| terminal.backend_mut().flush());
                            match written {
                                Ok(()) => app.set_status(
                                    super::app::StatusLevel::Success,
                                    format!("copied {what} to the clipboard ({} bytes)", bytes.len()),
                                ),
                                Err(e) => break 'events Err(ConsoleError::Terminal(e)),
                            }
                        }
                    }
                    Cmd::Page { name, text } => {
                        drop(events);
                        guard.leave();
                        let outcome = page_text(&mut stop, &name, &text).await;
                        let problem = match outcome {
                            Ok(problem) => problem,
                            Err(signal) => break 'events Ok(ConsoleExit::Signal(signal)),
                        };
                        if let Err(e) = guard.resume().and_then(|()| repaint_all(&mut terminal)) {
                            break 'events Err(ConsoleError::Terminal(e));
                        }
                        events = EventStream::new();
                        if let Some(problem) = problem {
                            app.set_status(super::app::StatusLevel::Warning, problem);
                        }
                        app.dirty = true;
                    }
                    Cmd::Quit => {}
                }
            }
        }
        if app.should_quit {
            break Ok(ConsoleExit::Quit);
        }
        // What the operator typed is answered at once; store answers, notices and timers are
        // drawn at most every FRAME_BUDGET.
        if app.dirty && (from_terminal || last_draw.elapsed() >= FRAME_BUDGET) {
            if let Err(e) = draw(&mut terminal, &mut app) {
                break Err(ConsoleError::Terminal(e));
            }
            last_draw = Instant::now();
        }
    };
    // Every way out comes through here: the store thread finishes its command, the terminal is
    // restored within a bound (after SIGHUP or an I/O error it may be gone or not reading).
    drop(cmd_tx);
    // A run cut here stays `running` in the store: `triage runs resume ID` goes on.
    for task in run_tasks {
        task.abort();
    }
    if let Ok(ConsoleExit::Signal(signal)) = &result {
        tracing::info!("{} received: restoring the terminal", signal.name());
    }
    terminal::release_bounded(terminal, guard, RESTORE_BOUND);
    join_bounded(worker, WORKER_STOP_BOUND);
    result
}

/// Runs `$EDITOR` on the letter's payload with the terminal given back, and reviews what it
/// saved. Like `system(3)`, INT and QUIT are the editor's while it runs; TERM or HUP (the SSH
/// session closed) stop the editor and end the console: `Err(signal)`, nothing is sent.
async fn edit_payload(
    stop: &mut StopSignals,
    config: &crate::config::Config,
    letter: &crate::domain::DeadLetter,
    draft: &crate::domain::edit::EditDraft,
) -> Result<Result<Box<crate::domain::edit::EditReview>, String>, StopSignal> {
    use crate::editor::{self, EditFile};
    let file = match EditFile::create(&letter.id, &draft.text, letter.content_type.as_deref()) {
        Ok(file) => file,
        Err(e) => return Ok(Err(format!("cannot write the payload for editing: {e}"))),
    };
    let mut child = match file.command().spawn() {
        Ok(child) => child,
        Err(e) => {
            return Ok(Err(format!(
                "cannot run the editor `{}`: {e}",
                editor::editor_command()
            )));
        }
    };
    let status = wait_for_child(stop, &mut child).await?;
    let saved = match status {
        Ok(status) if status.success() => file
            .read()
            .map_err(|e| format!("cannot read the edited file {}: {e}", file.path.display())),
        Ok(status) => Err(format!(
            "the editor `{}` exited with {status}: edit discarded, nothing replayed",
            editor::editor_command()
        )),
        Err(e) => Err(format!("waiting for the editor: {e}")),
    };
    Ok(saved.and_then(|saved| {
        editor::review(
            config,
            (&letter.upstream, &letter.id, &letter.connector),
            &letter.payload,
            draft,
            &saved,
        )
        .map(Box::new)
        .map_err(|refusal| format!("{}: {refusal}", letter.id))
    }))
}

/// Waits for a program that has the terminal (`$EDITOR`, `$PAGER`). Like `system(3)`, INT and
/// QUIT are the program's while it runs; TERM or HUP (the SSH session closed) send it HUP (what a
/// closed terminal sends; vim keeps its swap file), then KILL after a second: `Err(signal)`.
async fn wait_for_child(
    stop: &mut StopSignals,
    child: &mut tokio::process::Child,
) -> Result<io::Result<std::process::ExitStatus>, StopSignal> {
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status),
            signal = stop.recv() => match signal {
                StopSignal::Int | StopSignal::Quit => continue,
                StopSignal::Term | StopSignal::Hup => {
                    if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                        // SAFETY: kill(2) has no memory-safety preconditions.
                        unsafe { libc::kill(pid, libc::SIGHUP) };
                    }
                    if tokio::time::timeout(Duration::from_secs(1), child.wait()).await.is_err() {
                        let _ = child.start_kill();
                        let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
                    }
                    return Err(signal);
                }
            },
        }
    }
}

/// `v`: `$PAGER` (else `less`) on `text`; a message for the status line when it did not run.
async fn page_text(
    stop: &mut StopSignals,
    name: &str,
    text: &str,
) -> Result<Option<String>, StopSignal> {
    use crate::editor::{self, EditFile};
    let file = match EditFile::create(name, text, None) {
        Ok(file) => file,
        Err(e) => return Ok(Some(format!("cannot write the payload for the pager: {e}"))),
    };
    let pager = editor::pager_command();
    let mut child = match file.command_with(&pager).spawn() {
        Ok(child) => child,
        Err(e) => return Ok(Some(format!("cannot run the pager `{pager}`: {e}"))),
    };
    Ok(match wait_for_child(stop, &mut child).await? {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("the pager `{pager}` exited with {status}")),
        Err(e) => Some(format!("waiting for the pager: {e}")),
    })
}

/// Joins the store thread once it has finished its command; a thread still busy after `bound`
/// is left to the end of the process (SQLite rolls an unfinished transaction back whole).
fn join_bounded(worker: std::thread::JoinHandle<()>, bound: Duration) {
    let deadline = std::time::Instant::now() + bound;
    while !worker.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !worker.is_finished() {
        tracing::warn!("the console store thread is still busy after {bound:?}; not waiting");
    } else if worker.join().is_err() {
        tracing::error!("console store thread panicked");
    }
}

/// After the terminal was someone else's (Ctrl-Z, `$EDITOR`): clears the screen and makes the
/// next frame paint every cell. `Terminal::clear` would ask the terminal for its cursor position
/// and wait up to 2 s for the answer (lost or slow over a bad link); this asks nothing.
fn repaint_all(terminal: &mut Terminal<Backend>) -> io::Result<()> {
    execute!(
        terminal.backend_mut(),
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    )?;
    // ratatui still holds the last frame: drawing a blank one writes blanks where it had text
    // (the screen is blank already) and leaves its model blank, so the next draw paints it all.
    terminal.draw(|frame| frame.render_widget(ratatui::widgets::Clear, frame.area()))?;
    Ok(())
}

/// Draws one frame from `&App` inside a synchronized update.
fn draw(terminal: &mut Terminal<Backend>, app: &mut App) -> io::Result<()> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|frame| views::render(frame, app))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    app.dirty = false;
    Ok(())
}

/// The next same-process change notice; never resolves when there is no channel.
async fn next_change(changes: &mut Option<broadcast::Receiver<ChangeNotice>>) -> Option<Msg> {
    let Some(receiver) = changes.as_mut() else {
        return std::future::pending().await;
    };
    match receiver.recv().await {
        Ok(notice) => Some(Msg::Changed(notice)),
        Err(RecvError::Lagged(_)) => Some(Msg::ExternalChange),
        Err(RecvError::Closed) => {
            *changes = None;
            None
        }
    }
}
