//! Terminal safety: a guard that enables raw mode + the alternate screen and undoes exactly
//! those on Drop; a chained panic hook that restores the terminal before the previous hook
//! prints; Ctrl-Z suspension (restore, SIGTSTP ourselves, re-enter on resume); a bounded
//! restore when the console ends.

use std::io::{self, Write};
use std::panic::{self, PanicHookInfo};
use std::sync::Arc;
use std::time::Duration;

use crossterm::cursor::Show;
use crossterm::execute;
use crossterm::terminal::{
    EndSynchronizedUpdate, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode,
    enable_raw_mode,
};

/// Raw mode and the alternate screen while alive.
pub struct TerminalGuard {
    active: bool,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        enable_raw_mode()?;
        let mut guard = TerminalGuard { active: true };
        if let Err(e) = execute!(io::stdout(), EnterAlternateScreen) {
            guard.leave();
            return Err(e);
        }
        Ok(guard)
    }

    /// Gives the terminal back (for suspension); `resume` takes it again.
    pub fn leave(&mut self) {
        if self.active {
            restore();
            self.active = false;
        }
    }

    pub fn resume(&mut self) -> io::Result<()> {
        if !self.active {
            enable_raw_mode()?;
            execute!(io::stdout(), EnterAlternateScreen)?;
            self.active = true;
        }
        Ok(())
    }

    /// Ctrl-Z: restore the terminal, stop the process, and take the terminal back after `fg`.
    pub fn suspend(&mut self) -> io::Result<()> {
        self.leave();
        // SAFETY: raising a signal at ourselves has no memory-safety preconditions.
        let rc = unsafe { libc::raise(libc::SIGTSTP) };
        if rc != 0 {
            tracing::warn!("raise(SIGTSTP) failed: {}", io::Error::last_os_error());
        }
        self.resume()
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Undoes what the guard enables (safe to call more than once, and from a panic hook).
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(out, EndSynchronizedUpdate, LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// When the console ends (quit, stop signal, terminal error): flushes what the terminal still
/// buffers and restores it, on a helper thread so that a terminal that is gone or not reading
/// (SIGHUP, a dead SSH link) cannot hang the exit. Cooked mode comes back first (tcsetattr does not wait for output); write errors
/// (EIO, EPIPE) are ignored; after `bound` the process goes on without waiting.
pub fn release_bounded<T: Send + 'static>(terminal: T, guard: TerminalGuard, bound: Duration) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let release = move || {
        let _ = disable_raw_mode();
        drop(terminal);
        drop(guard);
        let _ = done_tx.send(());
    };
    let spawned = std::thread::Builder::new()
        .name("terminal-restore".into())
        .spawn(release);
    if spawned.is_ok() && done_rx.recv_timeout(bound).is_err() {
        tracing::warn!("the terminal did not take the restore sequences within {bound:?}");
    }
}

type PanicHook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Installs a panic hook that restores the terminal, then calls the hook that was there before.
/// Dropping it puts the previous hook back.
pub struct PanicHookGuard {
    previous: Option<Arc<PanicHook>>,
}

impl PanicHookGuard {
    pub fn install() -> PanicHookGuard {
        let previous: Arc<PanicHook> = Arc::new(panic::take_hook());
        let chained = Arc::clone(&previous);
        panic::set_hook(Box::new(move |info| {
            restore();
            chained(info);
        }));
        PanicHookGuard {
            previous: Some(previous),
        }
    }
}

impl Drop for PanicHookGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            if std::thread::panicking() {
                return;
            }
            let _ours = panic::take_hook();
            panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}
