//! Shell completions and man pages come from the binary's own command line definitions: every
//! subcommand and flag the binary takes is in them, and they need no config.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

fn triage(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("TRIAGE_CONFIG", "/nonexistent/triage.toml")
        .output()
        .expect("run triage");
    assert!(
        out.status.success(),
        "triage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn completions_for_each_shell_name_the_subcommands_and_flags() {
    let bash = triage(&["completions", "bash"]);
    assert!(bash.contains("_triage()"), "{bash}");
    for word in [
        "replay",
        "runs",
        "dead-letters",
        "--where",
        "--edit",
        "--plan",
    ] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(triage(&["completions", "zsh"]).starts_with("#compdef triage"));
    let fish = triage(&["completions", "fish"]);
    assert!(
        fish.contains("complete -c triage") && fish.contains("replay"),
        "{fish}"
    );
    let refused = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(
        refused.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bash"));
}

#[test]
fn the_man_page_renders_and_the_dir_gets_one_page_per_subcommand() {
    let page = triage(&["man"]);
    assert!(
        page.contains(".TH triage"),
        "{}",
        &page[..page.len().min(400)]
    );
    assert!(page.contains("replay") && page.contains("completions"));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "triage.1",
        "triage-replay.1",
        "triage-runs.1",
        "triage-dead-letters.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
}
