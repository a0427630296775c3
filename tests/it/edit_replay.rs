//! `triage replay ID --edit` through the real binary against the real demo upstream: the editor
//! (`$EDITOR`, here a `sed` script) changes the stored payload, the diff and the contract check
//! are printed, the edited bytes are what the destination judges, and the audit names the
//! SHA-256 of the original and of what was sent. An unchanged payload, a failing editor, a
//! contract violation without `--force` and a missing `--yes` off a terminal send nothing.

use crate::support::demo_cli;

use demo_cli::{Demo, json_lines};
use sha2::{Digest, Sha256};

const HUBSPOT: &str = "hubspot-form-to-salesforce";

/// A live hubspot letter that died of the renamed field, and its stored payload.
fn renamed_field_letter(demo: &Demo) -> (String, String) {
    let lines = json_lines(
        &demo
            .command(&["dead-letters", "--json", "--limit", "1", "--where"])
            .arg(format!(
                "connector:{HUBSPOT} error:INVALID_FIELD status:dead"
            ))
            .output()
            .expect("dead-letters")
            .stdout,
    );
    let letter = lines
        .first()
        .expect("a dead hubspot letter with INVALID_FIELD");
    (
        letter["id"].as_str().expect("id").to_string(),
        letter["payload"]
            .as_str()
            .expect("utf8 payload")
            .to_string(),
    )
}

fn replay_edit(demo: &Demo, id: &str, editor: &str, extra: &[&str]) -> std::process::Output {
    demo.command(&[&["replay", id, "--edit"][..], extra].concat())
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("replay --edit")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn audit(demo: &Demo) -> Vec<serde_json::Value> {
    json_lines(demo.ok(&["audit", "--json", "--limit", "0"]).as_bytes())
}

fn outbox_len(demo: &Demo) -> usize {
    json_lines(
        demo.ok(&["outbox", "--all", "--json", "--limit", "0"])
            .as_bytes(),
    )
    .len()
}

#[test]
fn an_edited_payload_is_diffed_checked_sent_and_audited_with_both_hashes() {
    let demo = Demo::start(&[]);
    demo.ok(&["sync", "--once"]);
    let (id, payload) = renamed_field_letter(&demo);
    assert!(payload.contains("\"lead_source\""), "{payload}");

    let out = replay_edit(
        &demo,
        &id,
        "sed -i s/lead_source/LeadSource__c/",
        &["--yes"],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("delivered"),
        "{}",
        text(&out.stdout)
    );
    // The diff shows the indented line that changed, and the verdict.
    assert!(stderr.contains("-   \"lead_source\": "), "{stderr}");
    assert!(stderr.contains("+   \"LeadSource__c\": "), "{stderr}");
    assert!(
        stderr.contains("contract: conforms to hubspot-form-lead.json"),
        "{stderr}"
    );
    // The stored payload (still carrying lead_source) would fail: the destination got the edit.
    let deliveries = demo.get("/demo/deliveries");
    assert_eq!(deliveries[&id], 1, "{deliveries}");

    let sent = payload.replace("lead_source", "LeadSource__c");
    let hex = |b: &[u8]| hex::encode(Sha256::digest(b));
    let rows = audit(&demo);
    let edited = rows
        .iter()
        .find(|r| r["event"] == "replay.edited")
        .expect("a replay.edited audit row");
    let detail = edited["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&format!("original sha256:{}", hex(payload.as_bytes()))),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("sent sha256:{}", hex(sent.as_bytes()))),
        "compact JSON goes back compact, in its own key order: {detail}"
    );
    assert!(rows.iter().any(|r| r["event"] == "replay.sent"));
    demo.ok(&["audit", "--verify"]);
}

#[test]
fn nothing_is_sent_without_a_change_a_working_editor_the_contract_or_a_yes() {
    let demo = Demo::start(&[]);
    demo.ok(&["sync", "--once"]);
    let (id, _) = renamed_field_letter(&demo);
    let before = outbox_len(&demo);

    let unchanged = replay_edit(&demo, &id, "true", &["--yes"]);
    assert_eq!(unchanged.status.code(), Some(1));
    assert!(
        text(&unchanged.stderr).contains("not changed"),
        "{}",
        text(&unchanged.stderr)
    );

    let failed = replay_edit(&demo, &id, "false", &["--yes"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(
        text(&failed.stderr).contains("exited with"),
        "{}",
        text(&failed.stderr)
    );

    // Dropping a required field: refused before anything is queued.
    let breaking = "sed -i /\"email\"/d";
    let violating = replay_edit(&demo, &id, breaking, &["--yes"]);
    assert_eq!(violating.status.code(), Some(1));
    let stderr = text(&violating.stderr);
    assert!(
        stderr.contains("violates hubspot-form-lead.json"),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");

    let unasked = replay_edit(&demo, &id, "sed -i s/lead_source/LeadSource__c/", &[]);
    assert_eq!(unasked.status.code(), Some(1));
    assert!(
        text(&unasked.stderr).contains("--yes"),
        "{}",
        text(&unasked.stderr)
    );

    assert_eq!(outbox_len(&demo), before, "nothing was queued");
    assert_eq!(demo.get("/demo/deliveries").get(&id), None);

    // --force sends the violating edit; the destination refuses it and says why.
    let forced = replay_edit(&demo, &id, breaking, &["--yes", "--force"]);
    assert_eq!(forced.status.code(), Some(1), "{}", text(&forced.stderr));
    assert!(
        text(&forced.stdout).contains("CONTRACT_VIOLATION")
            || text(&forced.stderr).contains("CONTRACT_VIOLATION"),
        "{}\n{}",
        text(&forced.stdout),
        text(&forced.stderr)
    );
    assert_eq!(outbox_len(&demo), before + 1);
}
