//! The real `triage` binary against the SQS-compatible server (moto): `sync --once` lists the
//! dead letters moto's redrive made, under their connector with the live counts, and a staged
//! bulk run (`replay --where … --stages 1,10%,rest`) sends every one back through the same run
//! machinery as the other upstreams — batched sends and deletes, since moto serves no
//! `StartMessageMoveTask`. Ignored by plain `cargo test`.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use crate::support::sqs::{Redrive, depth, drain_look, send, server, string};

const BIN: &str = env!("CARGO_BIN_EXE_triage");

struct Cli {
    config: std::path::PathBuf,
    store: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    fn new(endpoint: &str, queue: &str) -> Cli {
        let (_, region) = server();
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("triage.toml");
        let text = format!(
            "operator = \"ana@bastion\"\n[[upstream]]\nid = \"aws\"\nkind = \"sqs\"\n\
             url = \"{endpoint}\"\nregion = \"{region}\"\n\
             access_key_id_env = \"TRIAGE_TEST_SQS_ACCESS_KEY_ID\"\n\
             secret_access_key_env = \"TRIAGE_TEST_SQS_SECRET_ACCESS_KEY\"\ntimeout = \"30s\"\n\
             [[connector]]\nid = \"orders\"\nupstream = \"aws\"\nqueue = \"{queue}\"\n\
             source = \"s\"\ndestination = \"d\"\ndirection = \"inbound\"\npurpose = \"p\"\n\
             owner = \"maria\"\n[[person]]\nid = \"maria\"\nname = \"Maria\"\n"
        );
        std::fs::write(&config, text).expect("config");
        let store = dir.path().join("triage.db");
        Cli {
            config,
            store,
            _dir: dir,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env(
                "XDG_STATE_HOME",
                self.store.parent().expect("dir").join("state"),
            )
            .output()
            .expect("run triage")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triage {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        self.ok(args)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn sync_lists_the_redriven_letters_and_a_staged_run_replays_every_one() {
    let q = Redrive::new("cli", 1, 2, false).await;
    let (source, url) = q.sources[0].clone();
    let mut bodies = BTreeSet::new();
    for n in 0..30 {
        let body = format!("{{\"order\":{n}}}");
        send(
            &q.client,
            &url,
            &body,
            &[("n", string(&n.to_string()))],
            None,
        )
        .await;
        bodies.insert(body);
    }
    q.fail_all(0).await;
    let cli = Cli::new(&q.endpoint, &source);
    cli.ok(&["sync", "--once"]);
    let letters = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert_eq!(letters.len(), 30, "{letters:#?}");
    assert!(letters.iter().all(|l| l["connector"] == "orders"));
    let connectors = cli.json(&["connectors", "--json"]);
    let orders = connectors
        .iter()
        .find(|c| c["id"] == "orders")
        .expect("orders listed");
    assert_eq!(orders["stats"]["dead"], 30, "{orders:#}");

    let out = cli.run(&[
        "replay",
        "--where",
        "connector:orders",
        "--yes",
        "--stages",
        "1,10%,rest",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let arrived: BTreeSet<String> = drain_look(&q.client, &url)
        .await
        .iter()
        .filter_map(|m| m.body().map(str::to_string))
        .collect();
    assert_eq!(arrived, bodies, "every one back in the source queue, once");
    assert_eq!(depth(&q.client, &url).await.0, 30);
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0));
    cli.ok(&["sync", "--once"]);
    let live = cli.json(&["dead-letters", "--json", "--limit", "0"]);
    assert!(live.is_empty(), "{live:#?}");
    q.delete().await;
}
