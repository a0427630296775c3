//! End to end, edit before replay in the real console (`triage demo` in a tmux pane): `E` on a
//! dead letter that died of the renamed field gives the terminal to `$EDITOR` (a script that
//! renames the field), the dialog shows the diff and "conforms", `y` replays it and the Activity
//! view shows the replay sent. And a hang-up while the editor runs (#13 point 9): the editor is
//! stopped, the console exits 129 with the terminal restored, nothing is sent.
//! Skipped, with a message, only when tmux is not installed.

use std::time::{Duration, Instant};

use crate::e2e_signals::{has_flag, start_console_with};
use crate::support::tmux::{Tmux, alive};

fn editor_script(home: &std::path::Path, body: &str) -> String {
    let path = home.join("editor.sh");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("editor script");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&path)
        .status()
        .expect("chmod");
    format!("EDITOR={}", path.display())
}

/// Dead letters, filtered to the renamed-field ones, first row selected.
fn to_a_renamed_field_letter(tmux: &Tmux) {
    tmux.keys(&["3"]);
    tmux.wait_for("the dead letters", 20, |s| s.contains("Dead letters ("));
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "error:INVALID_FIELD"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the filter to answer", 20, |s| {
        s.contains("filter: error:INVALID_FIELD  (")
            && s.contains(" matches")
            && s.lines()
                .any(|l| l.starts_with('▶') && l.contains("INVALID_FIELD"))
    });
}

#[test]
fn e_edits_in_the_editor_shows_the_diff_and_y_replays_the_edit() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let editor = editor_script(home.path(), "sed -i 's/lead_source/LeadSource__c/' \"$1\"");
    let (tmux, _pid) = start_console_with("edit-flow", home.path(), &[editor]);
    to_a_renamed_field_letter(&tmux);
    tmux.keys(&["E"]);
    let dialog = tmux.wait_for("the edited-replay dialog", 20, |s| {
        s.contains("Replay the edited payload of")
    });
    assert!(dialog.contains("-   \"lead_source\""), "{dialog}");
    assert!(dialog.contains("+   \"LeadSource__c\""), "{dialog}");
    assert!(
        dialog.contains("conforms to hubspot-form-lead.json"),
        "{dialog}"
    );
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "1",
        "the console took the screen back"
    );
    tmux.keys(&["y"]);
    tmux.keys(&["5"]);
    tmux.wait_for("the replay sent in Activity", 30, |s| {
        s.lines()
            .any(|l| l.contains("replay") && l.contains("sent") && l.contains("delivered"))
    });
}

#[test]
fn a_hang_up_while_the_editor_runs_stops_it_and_restores_the_terminal() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let pid_file = home.path().join("editor.pid");
    let editor = editor_script(
        home.path(),
        &format!("echo $$ > {}\nexec sleep 120", pid_file.display()),
    );
    let (tmux, console) = start_console_with("edit-hup", home.path(), &[editor]);
    to_a_renamed_field_letter(&tmux);
    tmux.keys(&["E"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let editor_pid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the editor did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "the editor has the normal screen"
    );
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &console.to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    tmux.wait_for("the console to exit", 20, |s| s.contains("CONSOLE-EXITED"));
    let exit = std::fs::read_to_string(home.path().join("exit.txt")).expect("exit code");
    assert_eq!(exit.trim(), "129");
    let stty = std::fs::read_to_string(home.path().join("stty.txt")).expect("stty");
    assert!(
        has_flag(&stty, "icanon") && has_flag(&stty, "echo"),
        "terminal not restored: {stty}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(editor_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(editor_pid), "the editor outlived the console");
}

#[test]
fn v_hands_the_payload_to_the_pager_and_takes_the_terminal_back() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
        return;
    }
    let home = tempfile::tempdir().expect("tempdir");
    let paged = home.path().join("paged.txt");
    let pager = editor_script(home.path(), &format!("cp \"$1\" {}", paged.display()))
        .replacen("EDITOR=", "PAGER=", 1);
    let (tmux, _pid) = start_console_with("pager", home.path(), &[pager]);
    to_a_renamed_field_letter(&tmux);
    tmux.keys(&["v"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !paged.exists() {
        assert!(Instant::now() < deadline, "the pager did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&paged).expect("paged text");
    assert!(
        text.starts_with("{\n  \""),
        "compact JSON is shown indented: {text}"
    );
    assert!(text.contains("\n  \"lead_source\": "), "{text}");
    tmux.wait_for("the console back", 20, |s| s.contains("Dead letters ("));
    assert_eq!(tmux.pane("#{alternate_on}"), "1");
}
