//! A bulk run of 1,000 SQS dead letters through the real binary against the SQS-compatible
//! server (moto): the server's own redrive fills the DLQ, `sync --once` browses it, and
//! `replay --where connector:… --stages 1,10%,rest` sends every one back to its source queue
//! once. With `--rate 200/s` the achieved rate is measured over the last stage (`rest`, 899
//! members): the test timestamps each JSON progress line as it arrives and divides the members
//! answered between the first line of that stage and the last line by the time between them —
//! so the canary, the 10 % stage and the gate between stages are not in it. It must not be above
//! 220/s, and not below 180/s unless the server itself cannot go faster: then the server's raw
//! rate for the same work (receive 10, send 10, delete 10, 8 calls at a time, as the adapter
//! does) is measured in the same test and the run must reach 90 % of min(200, raw). The
//! measured numbers are printed (docs/PERFORMANCE.md, "SQS against moto"). Ignored by plain
//! `cargo test`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use futures::StreamExt;

use crate::support::sqs::{Redrive, SqsCli, create_queue, depth, drain_look};

const LETTERS: usize = 1_000;

/// Runs `args`, each stdout line with the time it arrived (since the start).
fn timed_lines(cli: &SqsCli, args: &[&str]) -> Vec<(Duration, String)> {
    let mut child = cli
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn triage");
    let start = Instant::now();
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<(Duration, String)> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .map(|line| (start.elapsed(), line))
        .collect();
    let out = child.wait_with_output().expect("wait for triage");
    assert!(
        out.status.success(),
        "triage {args:?}: {}\n{}",
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// Sends `bodies` to the queue at `url`, 10 per call, 8 calls at a time.
async fn send_all(client: &Client, url: &str, bodies: &[String]) {
    let calls: Vec<_> = bodies
        .chunks(10)
        .map(|chunk| {
            let entries: Vec<SendMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(n, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .message_body(body)
                        .build()
                        .expect("entry")
                })
                .collect();
            client
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
        })
        .collect();
    let answers: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(8)
        .collect()
        .await;
    for answer in answers {
        let out = answer.expect("send batch");
        assert!(out.failed().is_empty(), "{:?}", out.failed());
    }
}

/// The server's raw rate (messages/s) for the work a replay does: receive 10 from `from`, send
/// them to `to`, delete them from `from`, 8 such rounds at a time, until `from` is empty.
async fn raw_rate(client: &Client, from: &str, to: &str) -> (usize, f64) {
    let start = Instant::now();
    let mut moved = 0;
    loop {
        let rounds: Vec<_> = (0..8)
            .map(|_| async {
                let got = client
                    .receive_message()
                    .queue_url(from)
                    .max_number_of_messages(10)
                    .visibility_timeout(60)
                    .send()
                    .await
                    .expect("receive");
                let messages = got.messages().to_vec();
                if messages.is_empty() {
                    return 0;
                }
                let sends: Vec<SendMessageBatchRequestEntry> = messages
                    .iter()
                    .enumerate()
                    .map(|(n, m)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .message_body(m.body().unwrap_or_default())
                            .build()
                            .expect("entry")
                    })
                    .collect();
                client
                    .send_message_batch()
                    .queue_url(to)
                    .set_entries(Some(sends))
                    .send()
                    .await
                    .expect("send batch");
                let deletes: Vec<DeleteMessageBatchRequestEntry> = messages
                    .iter()
                    .enumerate()
                    .map(|(n, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(n.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("entry")
                    })
                    .collect();
                client
                    .delete_message_batch()
                    .queue_url(from)
                    .set_entries(Some(deletes))
                    .send()
                    .await
                    .expect("delete batch");
                messages.len()
            })
            .collect();
        let n: usize = futures::future::join_all(rounds).await.into_iter().sum();
        if n == 0 {
            break;
        }
        moved += n;
    }
    (moved, moved as f64 / start.elapsed().as_secs_f64())
}

/// What one bulk run achieved.
struct Achieved {
    /// Members answered per second over the last stage.
    rate: f64,
    /// Members answered in that window, and its length.
    members: u64,
    window: Duration,
    /// The whole command, plan to end.
    total: Duration,
}

/// Fills a DLQ with `LETTERS` redriven messages, browses them (`sync --once`, timed), replays
/// them with `rate` (`--rate`, or none) and checks each arrived once; answers the run's rate.
async fn bulk_run(name: &str, rate: Option<&str>) -> (Achieved, Redrive) {
    let q = Redrive::new(name, 1, 1, false).await;
    let (source, url) = q.sources[0].clone();
    let bodies: Vec<String> = (0..LETTERS)
        .map(|n| format!("{{\"bulk\":{n},\"pad\":\"{}\"}}", "x".repeat(64)))
        .collect();
    let start = Instant::now();
    send_all(&q.client, &url, &bodies).await;
    q.fail_all(0).await;
    eprintln!("{name}: {LETTERS} redriven in {:?}", start.elapsed());
    assert_eq!(depth(&q.client, &q.dlq_url).await.0, LETTERS as u64);

    let cli = SqsCli::new(&q.endpoint, &source, "bulk", "browse_pass = \"5m\"\n");
    let browse = Instant::now();
    cli.ok(&["sync", "--once"]);
    let browse = browse.elapsed();
    eprintln!(
        "{name}: browse (sync --once) of {LETTERS} in {browse:?}: {:.0} messages/s",
        LETTERS as f64 / browse.as_secs_f64()
    );
    let listed = cli
        .ok(&["dead-letters", "--json", "--limit", "0"])
        .lines()
        .filter(|l| l.starts_with('{'))
        .count();
    assert_eq!(listed, LETTERS, "listed by one sync --once");

    let mut args = vec![
        "replay",
        "--where",
        "connector:bulk",
        "--yes",
        "--stages",
        "1,10%,rest",
        "--json",
    ];
    if let Some(rate) = rate {
        args.extend(["--rate", rate]);
    }
    let lines = timed_lines(&cli, &args);
    let total = lines.last().map(|(t, _)| *t).unwrap_or_default();
    // (arrival, stage, members answered) of each progress line.
    let progress: Vec<(Duration, u64, u64)> = lines
        .iter()
        .filter_map(|(t, line)| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let p = value.get("progress")?;
            let answered = ["sent", "failed", "skipped"]
                .iter()
                .map(|k| p["progress"][k].as_u64().unwrap_or(0))
                .sum();
            Some((*t, p["stage"].as_u64().unwrap_or(0), answered))
        })
        .collect();
    let last = progress.last().expect("progress lines");
    let summary = lines
        .iter()
        .rev()
        .find(|(_, l)| l.contains("\"progress\""))
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    eprintln!("{name}: the run's last progress line: {summary}");
    assert_eq!(last.2, LETTERS as u64, "every member answered: {last:?}");
    let first = progress
        .iter()
        .find(|(_, stage, _)| *stage == 3)
        .expect("a progress line of the last stage");
    let members = last.2 - first.2;
    let window = last.0 - first.0;
    let achieved = Achieved {
        rate: members as f64 / window.as_secs_f64(),
        members,
        window,
        total,
    };
    eprintln!(
        "{name}: run ({rate:?}) of {LETTERS} in {total:?}; last stage {members} in {window:?}: \
         {:.1}/s",
        achieved.rate
    );

    // Every body once in the source queue (a multiset), nothing left in the DLQ.
    let mut arrived: BTreeMap<String, usize> = BTreeMap::new();
    for m in drain_look(&q.client, &url).await {
        *arrived
            .entry(m.body().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = bodies.iter().map(|b| (b.clone(), 1)).collect();
    let twice: Vec<_> = arrived.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(arrived.len(), LETTERS, "every body arrived");
    assert_eq!(arrived, expected);
    assert_eq!(
        depth(&q.client, &q.dlq_url).await,
        (0, 0, 0),
        "the DLQ empty after the run ({summary})"
    );
    (achieved, q)
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_bulk_run_of_1000_at_200_per_second_delivers_each_once_at_that_rate() {
    let (achieved, q) = bulk_run("bulk200", Some("200/s")).await;
    let rate = achieved.rate;
    assert!(
        rate <= 220.0,
        "above the run's rate: {rate:.1}/s ({} in {:?})",
        achieved.members,
        achieved.window
    );
    if rate < 180.0 {
        // Below: only when the server cannot go faster. The same work straight against it, on
        // the 1,000 messages now in the source queue.
        let scratch = create_queue(&q.client, &format!("{}-raw", q.dlq), &[]).await;
        let (moved, raw) = raw_rate(&q.client, &q.sources[0].1, &scratch).await;
        eprintln!("bulk200: the server's raw rate: {moved} in {raw:.1}/s");
        let _ = q.client.delete_queue().queue_url(&scratch).send().await;
        let floor = 0.9 * raw.min(200.0);
        assert!(
            rate >= floor,
            "{rate:.1}/s is below 90 % of min(200, the server's raw {raw:.1}/s)"
        );
    }
    q.delete().await;
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_bulk_run_of_1000_without_a_rate_delivers_each_once() {
    let (achieved, q) = bulk_run("bulkmax", None).await;
    assert!(achieved.rate > 0.0);
    assert!(achieved.total > Duration::ZERO);
    q.delete().await;
}

/// The test server itself must keep what 8 concurrent `DeleteMessageBatch` calls remove: plain
/// moto 5.2.5 does not (its queue rebuilds its message list from a snapshot, so concurrent
/// deletes undo each other: 17 of 1,000 stayed, every entry answered successful), which is why
/// `scripts/upstreams.sh` runs it through `scripts/moto-server.py`. Without this, a bulk run's
/// residue in the DLQ would be the server's, not the adapter's.
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_test_server_keeps_every_concurrent_delete() {
    let (endpoint, _) = crate::support::sqs::server();
    let client = crate::support::sqs::client(&endpoint).await;
    let url = create_queue(&client, &crate::support::sqs::prefix("deletes"), &[]).await;
    let bodies: Vec<String> = (0..LETTERS).map(|n| format!("m{n}")).collect();
    send_all(&client, &url, &bodies).await;
    let mut handles: Vec<String> = Vec::new();
    loop {
        let got = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        if got.messages().is_empty() {
            break;
        }
        handles.extend(
            got.messages()
                .iter()
                .filter_map(|m| m.receipt_handle().map(str::to_string)),
        );
    }
    assert_eq!(handles.len(), LETTERS, "every message received once");
    let calls: Vec<_> = handles
        .chunks(10)
        .map(|chunk| {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(n, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(n.to_string())
                        .receipt_handle(h)
                        .build()
                        .expect("entry")
                })
                .collect();
            client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
        })
        .collect();
    let answers: Vec<_> = futures::stream::iter(calls)
        .buffer_unordered(8)
        .collect()
        .await;
    let deleted: usize = answers
        .into_iter()
        .map(|a| a.expect("delete batch").successful().len())
        .sum();
    assert_eq!(deleted, LETTERS, "every delete answered successful");
    assert_eq!(
        depth(&client, &url).await,
        (0, 0, 0),
        "nothing left after every delete answered successful"
    );
    let _ = client.delete_queue().queue_url(&url).send().await;
}
