//! The signals that end a session — SIGTERM, SIGHUP (the SSH session or the tmux pane closed),
//! SIGINT (`kill -INT`; in raw mode Ctrl-C is a key, not a signal) and SIGQUIT — caught so that
//! triage stops cleanly instead of dying: the console restores the terminal and exits with the
//! conventional `128 + signo` (143, 129, 130, 131); headless commands (`sync`, `watch`,
//! `demo --serve-only`) stop their work and exit 0. Actions are durable outbox rows, so pending
//! work stays pending for the next run.

use std::io::{self, Write};
use std::task::Poll;

use tokio::signal::unix::{Signal, SignalKind, signal};

/// A signal asking triage to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Hup,
    Int,
    Quit,
}

impl StopSignal {
    pub const ALL: [StopSignal; 4] = [
        StopSignal::Term,
        StopSignal::Hup,
        StopSignal::Int,
        StopSignal::Quit,
    ];
    /// What the headless commands stop on (SIGQUIT keeps its default: a core dump for debugging).
    pub const HEADLESS: [StopSignal; 3] = [StopSignal::Term, StopSignal::Hup, StopSignal::Int];

    pub fn number(self) -> i32 {
        match self {
            StopSignal::Term => libc::SIGTERM,
            StopSignal::Hup => libc::SIGHUP,
            StopSignal::Int => libc::SIGINT,
            StopSignal::Quit => libc::SIGQUIT,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Hup => "SIGHUP",
            StopSignal::Int => "SIGINT",
            StopSignal::Quit => "SIGQUIT",
        }
    }

    /// The shell's convention for a process ended by this signal: 128 + its number.
    pub fn exit_code(self) -> u8 {
        u8::try_from(128 + self.number()).unwrap_or(u8::MAX)
    }

    fn kind(self) -> SignalKind {
        SignalKind::from_raw(self.number())
    }
}

/// Handlers for a set of stop signals; from `install` on, those signals no longer kill the
/// process but are delivered to `recv`. Must be created inside a tokio runtime.
pub struct StopSignals {
    streams: Vec<(StopSignal, Signal)>,
}

impl StopSignals {
    pub fn install(which: &[StopSignal]) -> io::Result<StopSignals> {
        let streams = which
            .iter()
            .map(|s| signal(s.kind()).map(|stream| (*s, stream)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(StopSignals { streams })
    }

    /// The next stop signal received (cancel safe: a signal is never lost when another branch
    /// of a `select!` wins; it is returned by the next call).
    pub async fn recv(&mut self) -> StopSignal {
        std::future::poll_fn(|cx| {
            for (which, stream) in &mut self.streams {
                // `Ready(None)`: the signal driver is gone, this stream never fires again.
                if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
                    return Poll::Ready(*which);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Writes a line to stderr, ignoring failure: after SIGHUP the terminal is gone and `eprintln!`
/// would panic on EIO instead of letting the command finish stopping.
pub fn notice(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "{line}");
}
