//! `triage handoff` on the demo after an ack, an escalation and a replay made through the CLI by
//! three operators: each action is listed with its operator, with the open incidents, the audit
//! range and its hashes; `--post` delivers the same Markdown to a loopback webhook receiver.

use std::time::Duration;

use crate::support::demo_cli::Demo;
use crate::support::receiver;

fn ids(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_lists_each_action_with_its_operator_and_posts_to_a_webhook() {
    let (hook, received) = receiver::receiver().await;
    let text = tokio::task::spawn_blocking(move || {
        let demo = Demo::start(&[]);
        let mut config = std::fs::read_to_string(&demo.config).unwrap();
        config.push_str(&format!(
            "\n[[notifier]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{hook}\"\n"
        ));
        std::fs::write(&demo.config, config).unwrap();
        demo.ok(&["sync", "--once"]);
        let incidents = ids(&demo.ok(&["incidents", "--json"]));
        let open: Vec<&str> = incidents
            .iter()
            .filter(|i| i["status"] == "open")
            .filter_map(|i| i["id"].as_str())
            .collect();
        assert!(open.len() >= 2, "{incidents:?}");
        demo.ok(&["--operator", "carol@bastion", "ack", open[0]]);
        demo.ok(&["--operator", "dave@bastion", "escalate", open[1]]);
        let letters = ids(&demo.ok(&["dead-letters", "--json", "--limit", "1"]));
        let letter = letters[0]["id"].as_str().unwrap().to_string();
        // Delivered or refused by the destination: either way it is erin's replay.
        demo.run(&["--operator", "erin@bastion", "replay", &letter]);
        let text = demo.ok(&["--operator", "frank@bastion", "handoff", "--since", "1h"]);
        let out = demo.run(&["--operator", "frank@bastion", "handoff", "--post", "chat"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("handoff: posted via chat"));
        let missing = demo.run(&["handoff", "--post", "nowhere"]);
        assert!(!missing.status.success(), "an unknown notifier is refused");
        (text, open[0].to_string(), open[1].to_string(), letter)
    })
    .await
    .unwrap();
    let (text, acked, escalated, letter) = text;
    assert!(text.starts_with("# Shift handoff — "), "{text}");
    assert!(text.contains("by frank@bastion"), "{text}");
    let section = |title: &str| -> String {
        let start = text
            .find(title)
            .unwrap_or_else(|| panic!("no {title}: {text}"));
        let rest = &text[start + title.len()..];
        rest[..rest.find("\n#").unwrap_or(rest.len())].to_string()
    };
    let ack = section("### Acknowledged (1)");
    assert!(
        ack.contains("- by carol@bastion: 1 sent")
            && ack.contains(&format!("carol@bastion demo:{acked} (sent)")),
        "{text}"
    );
    let steps = section("### Escalation steps (1)");
    assert!(
        steps.contains("- by dave@bastion: 1 recorded") && steps.contains(&escalated),
        "{text}"
    );
    let upstream = section("### Escalated (upstream) (1)");
    assert!(upstream.contains("dave@bastion"), "{text}");
    let replays = section("### Replayed (1)");
    assert!(
        replays.contains("- by erin@bastion: 1 ") && replays.contains(&letter),
        "{text}"
    );
    let open = section("## Open and acknowledged incidents");
    assert!(
        open.contains(&format!("| demo:{acked} ")) && open.contains("| acknowledged |"),
        "{text}"
    );
    let audit = section("## Audit range");
    assert!(
        audit.contains("Rows 1–")
            && audit.contains("First hash `")
            && audit.contains("triage audit --verify"),
        "{text}"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // The escalation's own notification went to the same hook; find the summary.
    let body = loop {
        let summary = received
            .lock()
            .unwrap()
            .iter()
            .find(|b| b["kind"] == "summary")
            .cloned();
        if let Some(body) = summary {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no summary reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["kind"], "summary");
    assert_eq!(body["title"], "Shift handoff from frank@bastion");
    let posted = body["text"].as_str().unwrap();
    assert!(
        posted.contains("- by carol@bastion: 1 sent") && posted.contains("- by erin@bastion: 1 "),
        "{posted}"
    );
}
