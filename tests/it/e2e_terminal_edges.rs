//! End to end, terminal edge cases (#13 point 9) on the real console in tmux: a resize storm
//! (sizes from 1×1 to 200×60, fast) leaves it alive and drawing at the final size; Ctrl-Z with a
//! confirmation dialog open (at an interactive bash) stops it and gives the terminal back (the
//! normal screen, the shell's prompt) and, after `fg`, takes it again with the dialog still there. (A hang-up while `$EDITOR` runs is in
//! e2e_edit.rs; 0×0 and 1×1 frames are drawn in console_snapshots.rs.)
//! Skipped, with a message, only when tmux is not installed.

use std::time::{Duration, Instant};

use crate::e2e_signals::{start_console_interactive, start_console_with};
use crate::support::tmux::{Tmux, alive};

/// The process state letter from /proc (R, S, T for stopped…).
fn state(pid: u32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(str::to_string))
        .and_then(|rest| rest.trim().chars().next())
        .unwrap_or('?')
}

fn wait_state(pid: u32, want: char) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(pid) != want {
        assert!(
            Instant::now() < deadline,
            "pid {pid} never reached state {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_resize_storm_leaves_the_console_alive_and_drawing_at_the_last_size() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (tmux, pid) = start_console_with("resize", home.path(), &[]);
    tmux.run(&["set-option", "-w", "-t", "e2e", "window-size", "manual"]);
    let sizes = [
        (1, 1),
        (200, 60),
        (20, 5),
        (2, 2),
        (80, 24),
        (1, 40),
        (150, 3),
        (60, 1),
    ];
    for round in 0..6 {
        for (w, h) in sizes {
            let (w, h) = (w + round, h + round);
            tmux.run(&[
                "resize-window",
                "-t",
                "e2e",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ]);
        }
    }
    tmux.run(&["resize-window", "-t", "e2e", "-x", "100", "-y", "30"]);
    let screen = tmux.wait_for("the console at 100×30", 20, |s| {
        s.contains("1 Connectors  2 Incidents") && s.contains("Connectors (")
    });
    assert!(alive(pid), "the console survived the storm");
    assert!(
        screen.lines().all(|l| l.chars().count() <= 100),
        "drawn for the final width:\n{screen}"
    );
    assert_eq!(tmux.pane("#{alternate_on}"), "1");
}

#[test]
fn ctrl_z_during_a_dialog_gives_the_terminal_back_and_fg_brings_the_dialog_back() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (tmux, pid) = start_console_interactive("ctrl-z", home.path());
    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    tmux.keys(&["e"]);
    tmux.wait_for("the escalate dialog", 20, |s| {
        s.contains("Escalate ") && s.contains("next level is paged")
    });
    tmux.keys(&["C-z"]);
    wait_state(pid, 'T');
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "stopped: the normal screen is back"
    );
    // The shell has the terminal (its prompt, in its own line-editing mode) and says so.
    tmux.wait_for("the shell's prompt", 20, |s| {
        s.contains("Stopped") && !s.contains("next level is paged")
    });
    tmux.keys(&["-l", "fg"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the dialog again", 20, |s| {
        s.contains("next level is paged")
    });
    assert_eq!(tmux.pane("#{alternate_on}"), "1");
    tmux.keys(&["n"]);
    tmux.wait_for("the dialog closed", 20, |s| {
        !s.contains("next level is paged") && s.contains("cancelled")
    });
    assert!(alive(pid));
}
