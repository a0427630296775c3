//! End to end in tmux (#12 "How it is checked"): the real console on a real demo upstream and
//! store shows the escalation level `triage watch` actually took, in the row and the detail;
//! a 200 KB dead letter's headers and its end are both reachable (`G`, `g`) at 80×24; sorting
//! (`:sort`, `I`) changes the order of the rows on screen. Skipped, with a message, only when
//! tmux is not installed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::demo_cli::{BIN, Demo, Killed};
use crate::support::tmux::Tmux;

/// The plain console (not `demo`) on the demo's config and store, in a `w`×`h` tmux pane.
fn console(demo: &Demo, name: &str, w: u16, h: u16) -> Tmux {
    let tmux = Tmux::new(name);
    let home = demo.dir.path();
    let script = format!(
        "{BIN} --config {} --store {} --operator e2e-op; echo CONSOLE-EXITED; sleep 60",
        demo.config.display(),
        demo.store.display()
    );
    let (w, h) = (w.to_string(), h.to_string());
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        &w,
        "-y",
        &h,
        "-e",
        &format!("HOME={}", home.display()),
        "-e",
        &format!("XDG_STATE_HOME={}", home.join("state").display()),
        "-e",
        &format!("XDG_CONFIG_HOME={}", home.join("config").display()),
        "sh",
        "-c",
        &script,
    ]);
    tmux.wait_for("the console", 60, |s| {
        s.contains("Connectors (") && s.contains("live")
    });
    tmux
}

fn skip() -> bool {
    if Tmux::available() {
        return false;
    }
    eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
    true
}

/// Every incident's (id, escalation level) in the store, from `triage incidents --json`.
fn levels(demo: &Demo) -> Vec<(String, u64)> {
    let out = demo.ok(&["incidents", "--json", "--limit", "0"]);
    let rows: Vec<serde_json::Value> = match serde_json::from_str(&out) {
        Ok(serde_json::Value::Array(rows)) => rows,
        _ => out
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    rows.iter()
        .map(|i| {
            let id = i["id"].as_str().unwrap_or_default();
            let id = id.rsplit(':').next().unwrap_or(id).to_string();
            (id, i["escalation_level"].as_u64().unwrap_or(0))
        })
        .collect()
}

#[test]
fn the_level_watch_took_shows_in_the_row_and_the_detail() {
    if skip() {
        return;
    }
    let demo = Demo::start(&[]);
    let tmux = console(&demo, "truth-level", 160, 48);
    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    let _watch = Killed(
        Command::new(BIN)
            .arg("--config")
            .arg(&demo.config)
            .arg("--store")
            .arg(&demo.store)
            .args(["watch", "--tick", "500ms"])
            .env("XDG_STATE_HOME", demo.dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch"),
    );
    // The demo holds an incident whose ack expired long ago: watch takes its chain to level 2.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (id, level) = loop {
        if let Some(found) = levels(&demo).into_iter().find(|(_, level)| *level >= 2) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "watch took no step: {:?}",
            levels(&demo)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    // The level column (not the next-step column's "L2 due") says the level taken.
    let level_cell = |row: &str| -> Option<String> {
        let words: Vec<&str> = row.split_whitespace().collect();
        words
            .iter()
            .position(|w| w.starts_with('L') && w[1..].trim_end_matches('!').parse::<u32>().is_ok())
            .map(|at| words[at].to_string())
    };
    let screen = tmux.wait_for("the row to show the level taken", 30, |s| {
        s.lines().any(|l| {
            l.contains(&id)
                && level_cell(l).is_some_and(|c| c.trim_end_matches('!') == format!("L{level}"))
        })
    });
    let row = screen.lines().find(|l| l.contains(&id)).unwrap_or_default();
    assert!(!row.contains(" L0"), "the row still says level 0: {row}");
    // Walk to the row and open it: the detail says the level taken, not "level 0".
    tmux.keys(&["g"]);
    for _ in 0..40 {
        if tmux
            .screen()
            .lines()
            .any(|l| l.starts_with('▶') && l.contains(&id))
        {
            break;
        }
        tmux.keys(&["j"]);
    }
    tmux.keys(&["Enter"]);
    let detail = tmux.wait_for("the detail", 20, |s| {
        s.contains(&id) && s.contains("level ")
    });
    assert!(
        detail.contains(&format!("level      {level} of")),
        "the detail does not show level {level}:\n{detail}"
    );
}

#[test]
fn a_200_kb_dead_letter_is_reachable_to_its_end_and_back_to_its_headers() {
    if skip() {
        return;
    }
    let demo = Demo::start(&[]);
    // A letter of another (unconfigured) upstream, so no relist of the demo's touches it.
    {
        use triage::domain::*;
        let mut store = triage::store::Store::open(&demo.store).expect("store");
        let at = chrono::Utc::now();
        let payload = format!(
            "{{\"rows\":\"{}\"}}",
            "lorem ipsum dolor sit amet ".repeat(200 * 1024 / 27)
        );
        assert!(payload.len() > 200 * 1024);
        store
            .write_sync_batch(&triage::store::SyncBatch {
                upstream: "archive".into(),
                at,
                connectors: None,
                incidents: vec![],
                dead_letters: vec![DeadLetter {
                    upstream: "archive".into(),
                    id: "dl-huge".into(),
                    connector: "warehouse-export".into(),
                    payload: payload.into_bytes(),
                    content_type: Some("application/json".into()),
                    headers: vec![
                        ("x-trace".into(), "TRACE-HEAD-1".into()),
                        ("x-tenant".into(), "acme".into()),
                    ],
                    error: DeadLetterError {
                        code: "PAYLOAD_TOO_LARGE".into(),
                        message: "the warehouse refused a 200 KB row".into(),
                        http_status: Some(413),
                        vendor_response: Some("VENDOR-SAYS-413".into()),
                    },
                    attempts: 2,
                    first_failed_at: at,
                    last_failed_at: at + chrono::Duration::hours(1),
                    state: DeadLetterState::Dead,
                    updated_at: at,
                }],
                cursors: vec![],
                state: ConnectionState::Live { last_ok: at },
            })
            .expect("write");
    }
    let tmux = console(&demo, "truth-huge", 80, 24);
    tmux.keys(&["3"]);
    tmux.wait_for("the huge letter on top", 20, |s| {
        s.lines()
            .any(|l| l.starts_with('▶') && l.contains("dl-huge"))
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the headers first", 20, |s| {
        s.contains("headers (2)") && s.contains("TRACE-HEAD-1")
    });
    tmux.keys(&["G"]);
    tmux.wait_for("the end of what the detail shows", 20, |s| {
        s.contains("more bytes not shown") && !s.contains("TRACE-HEAD-1")
    });
    tmux.keys(&["g"]);
    tmux.wait_for("the headers again", 20, |s| {
        s.contains("TRACE-HEAD-1") && s.contains("VENDOR-SAYS-413")
    });
}

/// The connector names of the dead-letter rows on screen, top to bottom.
fn row_connectors(screen: &str, connectors: &[String]) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains("dl_"))
        .filter_map(|l| connectors.iter().find(|c| l.contains(c.as_str())).cloned())
        .collect()
}

#[test]
fn sorting_changes_the_order_on_screen() {
    if skip() {
        return;
    }
    let demo = Demo::start(&[]);
    let tmux = console(&demo, "truth-sort", 160, 48);
    let connectors: Vec<String> = demo
        .get("/v1/connectors")
        .get("items")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect();
    assert!(connectors.len() > 2, "{connectors:?}");
    tmux.keys(&["3"]);
    let before = tmux.wait_for("dead letters", 20, |s| s.contains("Dead letters (all"));
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "sort connector"]);
    tmux.keys(&["Enter"]);
    let sorted = tmux.wait_for("the sorted title", 20, |s| {
        s.contains("sorted by connector ↑")
    });
    let ascending = row_connectors(&sorted, &connectors);
    assert!(ascending.len() > 3, "{sorted}");
    assert!(ascending.windows(2).all(|w| w[0] <= w[1]), "{sorted}");
    assert_ne!(
        row_connectors(&before, &connectors),
        ascending,
        "the order did not change"
    );
    tmux.keys(&["I"]);
    let reversed = tmux.wait_for("the reversed title", 20, |s| {
        s.contains("sorted by connector ↓")
    });
    let descending = row_connectors(&reversed, &connectors);
    assert!(descending.windows(2).all(|w| w[0] >= w[1]), "{reversed}");
}

#[test]
fn incident_links_reach_the_terminal_as_osc8_hyperlinks() {
    if skip() {
        return;
    }
    let demo = Demo::start(&[]);
    let tmux = console(&demo, "truth-links", 160, 48);
    // Every byte the console writes to the pane, as a terminal receives it.
    let raw = demo.dir.path().join("pane.raw");
    tmux.run(&[
        "pipe-pane",
        "-o",
        "-t",
        "e2e",
        &format!("cat >> {}", raw.display()),
    ]);
    tmux.keys(&["2"]);
    tmux.wait_for("the incidents", 20, |s| s.contains("Incidents ("));
    tmux.keys(&["Enter"]);
    let detail = tmux.wait_for("the detail's links", 20, |s| {
        s.contains("links  ") && s.contains("<http")
    });
    let url = detail
        .split('<')
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a link on screen")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted = format!("\x1b]8;;{url}\x1b\\{url}\x1b]8;;\x1b\\");
    loop {
        let bytes = std::fs::read(&raw).unwrap_or_default();
        if String::from_utf8_lossy(&bytes).contains(&wanted) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no OSC 8 hyperlink for {url} in the pane's output ({} bytes)",
            bytes.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
