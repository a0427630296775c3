//! End to end, k9s habits in the real console (`triage demo` in a tmux pane): `:dl` switches
//! to the dead letters; `y` copies the selected id by OSC 52, which tmux (with `set-clipboard
//! on`, as a terminal would) turns into its paste buffer; `:inc` and Tab completion work.
//! Skipped, with a message, only when tmux is not installed.

use crate::e2e_signals::start_console_with;
use crate::support::tmux::Tmux;

#[test]
fn colon_dl_switches_view_and_y_copies_the_id_by_osc52() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (tmux, _pid) = start_console_with("habits", home.path(), &[]);
    tmux.run(&["set-option", "-s", "set-clipboard", "on"]);

    tmux.keys(&[":"]);
    tmux.keys(&["-l", "dl"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the dead letters", 20, |s| s.contains("Dead letters ("));
    let selected = screen
        .lines()
        .find(|l| l.starts_with('▶'))
        .expect("a selected row")
        .to_string();
    tmux.keys(&["Enter"]);
    let detail = tmux.wait_for("the detail", 20, |s| s.contains("dl_"));
    let id = detail
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("dl_"))
        .expect("the letter's id on screen")
        .to_string();
    tmux.keys(&["y"]);
    tmux.wait_for("the copy confirmed", 20, |s| s.contains("copied id"));
    let buffer = tmux.run(&["show-buffer"]);
    assert_eq!(
        buffer.trim(),
        id,
        "tmux took the OSC 52 copy (row: {selected})"
    );

    tmux.keys(&["Escape", ":"]);
    tmux.keys(&["-l", "in"]);
    tmux.keys(&["Tab"]);
    tmux.wait_for("the completion", 20, |s| s.contains(":inc"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
}

#[test]
fn capital_o_starts_the_browser_on_the_incidents_link() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let opened = home.path().join("opened.txt");
    let browser = home.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .expect("browser script");
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&browser)
        .status()
        .expect("chmod");
    let (tmux, _pid) = start_console_with(
        "browser",
        home.path(),
        &[format!("BROWSER={}", browser.display())],
    );
    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail", 20, |s| s.contains("links"));
    tmux.keys(&["O"]);
    tmux.wait_for("the browser started", 20, |s| s.contains("opened "));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !opened.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser script did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = std::fs::read_to_string(&opened).expect("url");
    assert!(url.trim().starts_with("http"), "{url}");
}

#[test]
fn a_resolve_is_held_and_capital_u_takes_it_back_before_it_is_sent() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let (tmux, _pid) = start_console_with("undo", home.path(), &[]);
    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    tmux.keys(&["x"]);
    tmux.wait_for("the resolve dialog", 20, |s| {
        s.contains("Resolve ") && s.contains("U undoes it")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the hold", 20, |s| {
        s.contains("is sent in 10 s: U undoes it")
    });
    tmux.keys(&["U"]);
    tmux.wait_for("the undo", 20, |s| s.contains("undone: it was not sent"));
    tmux.keys(&["5"]);
    tmux.wait_for("the audit row", 20, |s| s.contains("resolve.undone"));
}
