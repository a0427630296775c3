//! `triage watch` end to end: the demo upstream, a short SLA, and a real HTTP receiver on
//! 127.0.0.1 standing in for the chat webhook. No ack → the backup is notified at the deadline,
//! then the bridge; an incident acked before its deadline sends nothing; two watchers on one
//! store escalate once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use triage::demo::{DemoOptions, DemoServer};

use crate::support::receiver;
use receiver::receiver;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Watcher(Child);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn watcher(config: &std::path::Path, store: &std::path::Path, state: &std::path::Path) -> Watcher {
    Watcher(
        Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("--store")
            .arg(store)
            .args(["watch", "--tick", "200ms", "--lease", "3s"])
            .env("XDG_STATE_HOME", state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watch"),
    )
}

fn for_incident<'a>(received: &'a [serde_json::Value], id: &str) -> Vec<&'a serde_json::Value> {
    received.iter().filter(|b| b["incident"] == id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_incident_escalates_to_backup_then_bridge_once_and_acked_one_stays_quiet() {
    triage::upstream::http::install_crypto_provider();
    let demo = DemoServer::start(DemoOptions {
        tick: Duration::from_secs(3600),
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    let http = reqwest::Client::new();
    let page: serde_json::Value = http
        .get(format!("{}/v1/incidents?limit=500", demo.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let open: Vec<&serde_json::Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["status"] == "open")
        .collect();
    let x = open[0];
    let y = open
        .iter()
        .find(|i| i["connector"] != x["connector"])
        .expect("a second open incident");
    // Deadlines a few seconds from now, whatever the demo's opening times were.
    let sla = |incident: &serde_json::Value| {
        let opened: chrono::DateTime<Utc> = incident["opened_at"]
            .as_str()
            .expect("opened_at")
            .parse()
            .expect("time");
        (Utc::now() - opened).num_seconds() + 4
    };
    let (hook, received) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let connector = |c: &serde_json::Value| {
        format!(
            "[[connector]]\nid = {c}\nupstream = \"demo\"\nsource = \"a\"\ndestination = \"b\"\ndirection = \"inbound\"\n\
             purpose = \"test\"\nowner = \"maria\"\nbackup = \"dev\"\nack_sla = \"1h\"\n"
        )
    };
    let route = |name: &str, i: &serde_json::Value| {
        format!(
            "[[route]]\nname = \"{name}\"\nmatch = {{ connector = {}, kind = {} }}\nack_sla = \"{}s\"\nchain = \"test-major\"\n",
            i["connector"],
            i["kind"],
            sla(i)
        )
    };
    let text = format!(
        "operator = \"oncall@bastion\"\nbridge = \"#incident-bridge\"\n\
         [[upstream]]\nid = \"demo\"\nkind = \"connector_api\"\nurl = \"{}\"\npoll_interval = \"200ms\"\n\
         [[person]]\nid = \"maria\"\nname = \"Maria Lopez\"\nhandle = \"@maria\"\n\
         [[person]]\nid = \"dev\"\nname = \"Dev Patel\"\nhandle = \"@dev\"\n{}{}\
         [[notifier]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{hook}\"\n\
         [[chain]]\nname = \"test-major\"\n[[chain.step]]\nafter = \"0s\"\nnotify = [\"backup\"]\n\
         [[chain.step]]\nafter = \"3s\"\nnotify = [\"bridge\"]\n{}{}[[route]]\nname = \"default\"\n",
        demo.url(),
        connector(&x["connector"]),
        connector(&y["connector"]),
        route("x", x),
        route("y", y),
    );
    std::fs::write(&config, text).expect("config");
    // Y is acknowledged before its deadline: nothing may be sent for it.
    let ack = http
        .post(format!(
            "{}/v1/incidents/{}/ack",
            demo.url(),
            y["id"].as_str().expect("id")
        ))
        .json(&serde_json::json!({"operator": "maria"}))
        .send()
        .await
        .expect("ack");
    assert!(ack.status().is_success());

    let store = dir.path().join("triage.db");
    let state = dir.path().join("state");
    let _first = watcher(&config, &store, &state);
    let _second = watcher(&config, &store, &state);
    let x_id = x["id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let count = for_incident(&received.lock().expect("lock"), &x_id).len();
        if count >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "escalations never arrived: {:?}",
            received.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = received.lock().expect("lock").clone();
    let for_x = for_incident(&received, &x_id);
    assert_eq!(
        for_x.len(),
        2,
        "exactly one notification per step: {received:?}"
    );
    assert_eq!(for_x[0]["escalation_level"], 1);
    assert!(
        for_x[0]["recipients"]
            .to_string()
            .contains("Dev Patel (@dev)"),
        "{}",
        for_x[0]
    );
    assert_eq!(for_x[1]["escalation_level"], 2);
    assert!(
        for_x[1]["recipients"]
            .to_string()
            .contains("#incident-bridge"),
        "{}",
        for_x[1]
    );
    assert_eq!(for_x[0]["ack_command"], format!("triage ack demo:{x_id}"));
    assert!(
        for_incident(&received, y["id"].as_str().expect("id")).is_empty(),
        "acked in time: {received:?}"
    );
    // The Connector API has an escalate endpoint: the upstream saw level 2.
    let page: serde_json::Value = http
        .get(format!("{}/v1/incidents?limit=500", demo.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let upstream_x = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == x_id.as_str())
        .expect("x");
    assert_eq!(upstream_x["escalation_level"], 2);
    demo.shutdown().await;
}

/// The operator's escalate takes the chain's next step now: the step's notification goes out
/// and the upstream is escalated; past the last step nothing more is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_escalate_takes_the_next_chain_step_and_stops_at_the_last() {
    triage::upstream::http::install_crypto_provider();
    let demo = DemoServer::start(DemoOptions {
        tick: Duration::from_secs(3600),
        ..DemoOptions::default()
    })
    .await
    .expect("demo");
    let (hook, received) = receiver().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triage.toml");
    let text = format!(
        "operator = \"oncall@bastion\"\nbridge = \"#incident-bridge\"\n\
         [[upstream]]\nid = \"demo\"\nkind = \"connector_api\"\nurl = \"{}\"\n\
         [[person]]\nid = \"maria\"\nname = \"Maria Lopez\"\n[[person]]\nid = \"dev\"\nname = \"Dev Patel\"\nhandle = \"@dev\"\n\
         [[notifier]]\nid = \"chat\"\nkind = \"slack\"\nurl = \"{hook}\"\n\
         [[chain]]\nname = \"major\"\n[[chain.step]]\nafter = \"0m\"\nnotify = [\"backup\"]\n\
         [[chain.step]]\nafter = \"1h\"\nnotify = [\"bridge\"]\n\
         [[route]]\nname = \"default\"\nbackup = \"dev\"\nchain = \"major\"\n",
        demo.url()
    );
    std::fs::write(&config, text).expect("config");
    let store = dir.path().join("triage.db");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .arg("--store")
            .arg(&store)
            .args(args)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .output()
            .expect("run triage")
    };
    assert!(run(&["sync", "--once"]).status.success());
    let listed = run(&["incidents", "--json"]);
    let incidents: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let open = incidents
        .iter()
        .find(|i| i["status"] == "open")
        .expect("open incident");
    let id = open["id"].as_str().expect("id").to_string();

    let first = run(&["escalate", &id, "--note", "vendor silent"]);
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("level 1 of chain major → backup"), "{out}");
    let second = run(&["escalate", &id]);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    let third = run(&["escalate", &id]);
    assert_eq!(third.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&third.stderr).contains("last step"));

    let bodies = received.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let texts: Vec<String> = bodies
        .iter()
        .map(|b| b["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        texts[0].contains("level 1 of chain major") && texts[0].contains("vendor silent"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("level 2 of chain major → bridge"),
        "{texts:?}"
    );
    assert!(bodies[0]["blocks"].to_string().contains("Dev Patel (@dev)"));
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/incidents?limit=500", demo.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let upstream = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id.as_str())
        .expect("incident");
    assert_eq!(upstream["escalation_level"], 2);
    demo.shutdown().await;
}
