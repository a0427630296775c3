//! A run whose driver died is not left pretending: `kill -9` of `triage replay --where` leaves the
//! run `running` with no live driver — `triage runs` says "running (no driver)" and `runs show`
//! how to go on — and `triage watch` adopts it and drives it to the end, every letter delivered
//! exactly once; while the watcher drives it, a `triage runs resume` elsewhere says who drives it
//! instead of driving it twice.

use crate::support::demo_cli;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use demo_cli::{Demo, Killed, json_lines};

const HUBSPOT: &str = "hubspot-form-to-salesforce";

fn show(demo: &Demo, id: &str) -> serde_json::Value {
    serde_json::from_str(&demo.ok(&["runs", "show", id, "--json"])).expect("show json")
}

#[test]
fn watch_adopts_a_run_whose_driver_was_killed_and_a_second_resume_is_refused() {
    let demo = Demo::start(&[]);
    demo.post(&format!("/demo/connectors/{HUBSPOT}/fix"), "");
    demo.post(
        &format!("/demo/connectors/{HUBSPOT}/dead-letters"),
        r#"{"count": 600}"#,
    );
    demo.ok(&["sync", "--once"]);
    let query = format!("connector:{HUBSPOT}");
    let mut driver = Killed(
        demo.command(&[
            "replay", "--where", &query, "--yes", "--json", "--rate", "100/s",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay"),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let _ = driver.0.kill();
    let _ = driver.0.wait();
    let mut out = Vec::new();
    if let Some(mut stdout) = driver.0.stdout.take() {
        let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
    }
    let run = json_lines(&out)
        .iter()
        .find_map(|l| l["progress"]["run"].as_str().map(String::from))
        .expect("the run's id came out before the kill");

    // No driver: the list and the detail say so (not a plain "running").
    let shown = show(&demo, &run);
    assert_eq!(shown["run"]["state"], "running");
    let table = demo.ok(&["runs"]);
    let row = table
        .lines()
        .find(|l| l.contains(&run))
        .expect("the run's row");
    assert!(row.contains("running (no driver)"), "{table}");
    let listed = json_lines(&demo.run(&["runs", "--json"]).stdout);
    let entry = listed
        .iter()
        .find(|r| r["run"]["id"] == run.as_str())
        .expect("the run in --json");
    assert!(entry["driver"].is_null(), "{entry}");
    let detail = demo.ok(&["runs", "show", &run]);
    assert!(detail.contains("no process drives it"), "{detail}");
    let sent_before = shown["progress"]["sent"].as_u64().unwrap_or(0);
    assert!(sent_before > 0 && sent_before < 600, "cut mid-run: {shown}");

    // The watcher adopts it.
    let watch_err = demo.dir.path().join("watch.stderr");
    let _watch = Killed(
        demo.command(&["watch", "--tick", "300ms"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&watch_err).expect("stderr file"))
            .spawn()
            .expect("watch"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = json_lines(&demo.run(&["runs", "--json"]).stdout);
        let entry = listed
            .iter()
            .find(|r| r["run"]["id"] == run.as_str())
            .cloned();
        if entry.as_ref().is_some_and(|e| e["driver"].is_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "watch did not adopt the run: {entry:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Driven there: a resume here says so and drives nothing.
    let resume = demo.run(&["runs", "resume", &run]);
    let said = String::from_utf8_lossy(&resume.stderr);
    if show(&demo, &run)["run"]["state"] == "running" {
        assert_ne!(resume.status.code(), Some(0), "{said}");
        assert!(said.contains("is driven by"), "{said}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let shown = loop {
        let shown = show(&demo, &run);
        if shown["run"]["state"] == "done" {
            break shown;
        }
        assert!(
            Instant::now() < deadline,
            "the adopted run did not finish: {shown}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(shown["progress"]["failed"], 0, "{shown}");
    let sent = shown["progress"]["sent"].as_u64().expect("sent");
    let delivered: BTreeMap<String, u64> =
        serde_json::from_value(demo.get("/demo/deliveries")).expect("deliveries");
    assert_eq!(
        delivered.len() as u64,
        sent,
        "every letter sent was delivered"
    );
    assert!(
        delivered.values().all(|n| *n == 1),
        "nothing twice: {delivered:?}"
    );
    let log = std::fs::read_to_string(&watch_err).unwrap_or_default();
    assert!(
        log.contains(&format!("run {run} has no driver; driving it here")),
        "{log}"
    );
    assert!(demo.ok(&["audit", "--verify"]).contains("intact"));
}
