//! Bulk recovery runs through the real binary against the real demo upstream (loopback): the
//! plan changes nothing; a failing canary pauses the run with the grouped reason and a resume
//! after the fix completes it; a 429 with Retry-After slows a run and fails nothing; `kill -9` of
//! the sending process at three points of a 2,000-letter run loses and doubles nothing.

use crate::support::demo_cli;

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use demo_cli::{Demo, Killed, json_lines};

const HUBSPOT: &str = "hubspot-form-to-salesforce";

fn deliveries(demo: &Demo) -> BTreeMap<String, u64> {
    serde_json::from_value(demo.get("/demo/deliveries")).expect("deliveries")
}

/// The run's members as `runs show --json` lists them (first 20) and its progress.
fn show(demo: &Demo, id: &str) -> serde_json::Value {
    serde_json::from_str(&demo.ok(&["runs", "show", id, "--json"])).expect("show json")
}

/// Ids of the live dead letters of `connector`.
fn dead_ids(demo: &Demo, connector: &str) -> HashSet<String> {
    json_lines(
        &demo
            .run(&[
                "dead-letters",
                "--json",
                "--limit",
                "0",
                "--connector",
                connector,
            ])
            .stdout,
    )
    .iter()
    .filter_map(|d| d["id"].as_str().map(String::from))
    .collect()
}

fn last_progress(lines: &[serde_json::Value]) -> serde_json::Value {
    lines
        .iter()
        .rev()
        .find(|l| l.get("progress").is_some())
        .map(|l| l["progress"].clone())
        .unwrap_or_default()
}

#[test]
fn a_plan_changes_nothing_a_failing_canary_pauses_and_a_resume_after_the_fix_completes() {
    let demo = Demo::start(&[]);
    demo.ok(&["sync", "--once"]);
    let before = deliveries(&demo);
    let dead = dead_ids(&demo, HUBSPOT);
    assert!(dead.len() > 50, "the demo's backlog: {}", dead.len());

    // The plan: counts, contract violations skipped, stages; nothing sent, nothing stored.
    let query = format!("connector:{HUBSPOT}");
    let plan = demo.ok(&["replay", "--where", &query, "--plan", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(plan.trim()).expect("plan json");
    let plan = &plan["plan"];
    assert_eq!(plan["total"], dead.len());
    let to_send = plan["to_send"].as_u64().expect("to_send") as usize;
    let violations = plan["violations"].as_u64().expect("violations") as usize;
    assert_eq!(to_send + violations, dead.len(), "{plan}");
    assert!(
        violations > 0,
        "the demo's broken payloads are found: {plan}"
    );
    assert_eq!(plan["stages"][0], 1, "a canary first");
    assert_eq!(plan["groups"][0]["destination"], "Salesforce");
    let table = demo.ok(&["replay", "--where", &query, "--plan"]);
    assert!(
        table.contains(&format!("Plan: replay {to_send} of {}", dead.len()))
            && table.contains("violate their connector's contract: skipped"),
        "{table}"
    );
    assert_eq!(deliveries(&demo), before, "a plan sends nothing");
    assert!(demo.ok(&["runs"]).contains("(none)"));
    assert!(demo.ok(&["outbox", "--all"]).contains("(none)"));

    // Without a terminal to ask on, --yes is needed.
    let refused = demo.run(&["replay", "--where", &query]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));

    // The CRM column is still missing: the canary fails, the run pauses saying why.
    let out = demo.run(&["replay", "--where", &query, "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(75), "paused: {out:?}");
    let progress = last_progress(&json_lines(&out.stdout));
    assert_eq!(progress["state"], "paused", "{progress}");
    let reason = progress["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("stage 1 failed 1 of 1") && reason.contains("INVALID_FIELD"),
        "{reason}"
    );
    let run = progress["run"].as_str().expect("run id").to_string();
    assert_eq!(progress["progress"]["failed"], 1);
    assert_eq!(
        progress["progress"]["planned"],
        to_send - 1,
        "nothing after the canary"
    );
    let listed = demo.ok(&["runs"]);
    assert!(
        listed.contains(&run) && listed.contains("paused"),
        "{listed}"
    );

    // Fixed upstream; resume: every other letter is sent, each exactly once.
    demo.post(&format!("/demo/connectors/{HUBSPOT}/fix"), "");
    let out = demo.run(&["runs", "resume", &run, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "done, with the canary's failure: {out:?}"
    );
    let progress = last_progress(&json_lines(&out.stdout));
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(progress["progress"]["sent"], to_send - 1);
    assert_eq!(progress["progress"]["skipped"], violations);
    let shown = show(&demo, &run);
    assert_eq!(shown["run"]["state"], "done");
    assert!(
        shown["failures"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("INVALID_FIELD")),
        "{shown}"
    );
    let after = deliveries(&demo);
    let newly: Vec<(&String, u64)> = after
        .iter()
        .map(|(id, n)| (id, n - before.get(id).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(newly.len(), to_send - 1, "each sent member delivered");
    assert!(newly.iter().all(|(id, n)| *n == 1 && dead.contains(*id)));
    let pending = json_lines(&demo.run(&["outbox", "--json", "--limit", "0"]).stdout);
    assert!(
        pending.iter().all(|e| e["state"] != "pending"),
        "nothing left pending"
    );
    assert!(demo.ok(&["audit", "--verify"]).contains("intact"));
    let audit = demo.ok(&["audit", "--limit", "0"]);
    for event in ["run.created", "run.paused", "run.resumed", "run.done"] {
        assert!(audit.contains(event), "{event} audited");
    }
    // Nothing to resume any more.
    assert_eq!(demo.run(&["runs", "resume", &run]).status.code(), Some(1));
}

#[test]
fn a_429_with_retry_after_slows_the_run_and_fails_nothing() {
    let demo = Demo::start(&[]);
    demo.post(&format!("/demo/connectors/{HUBSPOT}/fix"), "");
    demo.ok(&["sync", "--once"]);
    let query = format!("connector:{HUBSPOT}");
    let before = deliveries(&demo);
    // The next replay requests (batch or single) answer 429, Retry-After: 2.
    demo.post(
        "/demo/faults",
        r#"{"status": 429, "retry_after": 2, "count": 2, "path": "/v1/dead-letters/replay"}"#,
    );
    let started = Instant::now();
    let out = demo.run(&[
        "replay", "--where", &query, "--yes", "--json", "--stages", "rest",
    ]);
    let progress = last_progress(&json_lines(&out.stdout));
    assert_eq!(out.status.code(), Some(0), "{progress}");
    assert_eq!(progress["state"], "done");
    assert_eq!(progress["progress"]["failed"], 0, "a 429 fails nothing");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited as asked: {:?}",
        started.elapsed()
    );
    let sent = progress["progress"]["sent"].as_u64().expect("sent") as usize;
    let after = deliveries(&demo);
    let delivered = after
        .iter()
        .filter(|(id, n)| **n > before.get(*id).copied().unwrap_or(0))
        .count();
    assert_eq!(delivered, sent);
    assert!(after.values().all(|n| *n <= 1), "nothing twice");
}

#[test]
fn kill_9_at_three_points_of_a_2000_letter_run_loses_and_doubles_nothing() {
    let demo = Demo::start(&[]);
    demo.post(&format!("/demo/connectors/{HUBSPOT}/fix"), "");
    demo.post(
        &format!("/demo/connectors/{HUBSPOT}/dead-letters"),
        r#"{"count": 2000}"#,
    );
    demo.ok(&["sync", "--once"]);
    let dead = dead_ids(&demo, HUBSPOT);
    assert!(dead.len() >= 2000, "{}", dead.len());
    let query = format!("connector:{HUBSPOT}");
    // Slow enough to be cut mid-stage: 400/s, 100 waiting at most.
    let args = [
        "replay",
        "--where",
        &query,
        "--yes",
        "--json",
        "--rate",
        "400/s",
        "--concurrency",
        "100",
    ];
    let mut child = Killed(
        demo.command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("replay"),
    );
    let mut run = String::new();
    let mut cuts = 0;
    for wait in [
        Duration::from_millis(900),
        Duration::from_millis(1700),
        Duration::from_millis(2300),
    ] {
        std::thread::sleep(wait);
        // kill -9: no chance to tidy up.
        let _ = child.0.kill();
        let _ = child.0.wait();
        let mut out = Vec::new();
        if let Some(mut stdout) = child.0.stdout.take() {
            let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
        }
        if run.is_empty() {
            run = json_lines(&out)
                .iter()
                .find_map(|l| l["progress"]["run"].as_str().map(String::from))
                .expect("the run's id came out before the cut");
        }
        cuts += 1;
        let shown = show(&demo, &run);
        assert_eq!(
            shown["run"]["state"], "running",
            "a killed driver leaves it running"
        );
        child = Killed(
            demo.command(&["runs", "resume", &run, "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("resume"),
        );
    }
    assert_eq!(cuts, 3);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            assert_eq!(status.code(), Some(0), "the last resume completes the run");
            break;
        }
        assert!(Instant::now() < deadline, "the run did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shown = show(&demo, &run);
    assert_eq!(shown["run"]["state"], "done", "{shown}");
    let sent = shown["progress"]["sent"].as_u64().expect("sent") as usize;
    let skipped = shown["progress"]["skipped"].as_u64().expect("skipped") as usize;
    assert_eq!(
        sent + skipped,
        dead.len(),
        "contract violators skipped, the rest sent"
    );
    assert!(sent >= 2000, "{sent}");
    assert_eq!(shown["progress"]["failed"], 0);
    let delivered = deliveries(&demo);
    assert_eq!(
        dead.iter()
            .filter(|id| delivered.get(*id) == Some(&1))
            .count(),
        sent,
        "every letter sent was delivered exactly once"
    );
    assert!(delivered.values().all(|n| *n == 1), "nothing twice");
    let outbox = json_lines(
        &demo
            .run(&["outbox", "--json", "--all", "--limit", "0"])
            .stdout,
    );
    assert_eq!(outbox.len(), sent, "one action per member, never two");
    assert!(outbox.iter().all(|e| e["state"] == "sent"));
    assert!(demo.ok(&["audit", "--verify"]).contains("intact"));
}
