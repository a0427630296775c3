//! The real `triage` binary against the SQS-compatible server (moto): `sync --once` lists the
//! dead letters moto's redrive made, under their connector with the live counts, and a staged
//! bulk run (`replay --where … --stages 1,10%,rest`) sends every one back through the same run
//! machinery as the other upstreams — batched sends and deletes, since moto serves no
//! `StartMessageMoveTask`. Ignored by plain `cargo test`.

use std::collections::BTreeSet;

use crate::support::sqs::{Redrive, SqsCli, depth, drain_look, send, string};

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
    let cli = SqsCli::new(&q.endpoint, &source, "orders", "");
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
