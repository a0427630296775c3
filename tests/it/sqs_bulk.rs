//! A bulk run of 1,000 SQS dead letters through the real binary against the SQS-compatible
//! server (moto): the server's own redrive fills the DLQ, `sync --once` browses it, and
//! `replay --where connector:… --stages 1,10%,rest` sends every one back to its source queue
//! once. With `--rate 200/s` the achieved rate is measured over the last stage (`rest`, 899
//! members): the test timestamps each JSON progress line as it arrives and divides the members
//! answered between the first line of that stage and the last line by the time between them —
//! so the canary, the 10 % stage and the gate between stages are not in it. It must be within
//! 10 % of 200/s (180–220/s), as issue #16 asks. The server's raw rate for the same calls
//! (receive 10, send 10, send their 10 receipts to a second queue, delete 10; 8 such rounds at a
//! time) is measured in the same test and printed; below 220/s the test fails naming it, since
//! the server then cannot carry the run (plain moto managed ≈ 23/s: `scripts/moto-server.py`
//! replaces its calls whose cost grew with the queue's depth). The measured numbers are in
//! docs/PERFORMANCE.md, "SQS against moto". A second run at `--rate 4/s` must keep within 10 %
//! of it too. The `the_test_server_…` tests pin moto's own answers where `moto-server.py`
//! replaces its methods. Ignored by plain `cargo test`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use futures::StreamExt;

use crate::support::sqs::{Redrive, SqsCli, create_queue, depth, drain_look, send, string};

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

/// The server's raw rate (messages/s) for the calls a replay makes: receive 10 from `from`, send
/// them to `to` and (their receipts) to `receipts`, delete them from `from`, 8 such rounds at a
/// time, until `from` is empty.
async fn raw_rate(client: &Client, from: &str, to: &str, receipts: &str) -> (usize, f64) {
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
                for queue in [to, receipts] {
                    client
                        .send_message_batch()
                        .queue_url(queue)
                        .set_entries(Some(sends.clone()))
                        .send()
                        .await
                        .expect("send batch");
                }
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
    /// Each progress line: arrival (s), stage, members answered — for a failure's message.
    timeline: String,
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
        timeline: progress
            .iter()
            .map(|(t, stage, answered)| {
                format!("{:.2}s stage {stage}: {answered}", t.as_secs_f64())
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    eprintln!(
        "{name}: run ({rate:?}) of {LETTERS} in {total:?}; last stage {members} in {window:?}: \
         {:.1}/s",
        achieved.rate
    );

    // Nothing left in the DLQ — checked first: looking at the source queue counts as a receive
    // there, and its redrive policy (maxReceiveCount 1) sends a message received twice back to
    // the DLQ. Then every body once in the source queue (a multiset).
    assert_eq!(
        depth(&q.client, &q.dlq_url).await,
        (0, 0, 0),
        "the DLQ empty after the run ({summary})"
    );
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
    (achieved, q)
}

#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_bulk_run_of_1000_at_200_per_second_delivers_each_once_at_that_rate() {
    let (achieved, q) = bulk_run("bulk200", Some("200/s")).await;
    let rate = achieved.rate;
    // The server's raw rate for the same work, straight against it: 1,000 messages from one
    // plain queue to another (not the source queue: its redrive policy moves a message received
    // again to the DLQ instead of handing it out). Measured every time, so a failure says whose
    // it is.
    let from = create_queue(&q.client, &format!("{}-rawfrom", q.dlq), &[]).await;
    let to = create_queue(&q.client, &format!("{}-rawto", q.dlq), &[]).await;
    let receipts = create_queue(&q.client, &format!("{}-rawreceipts", q.dlq), &[]).await;
    let bodies: Vec<String> = (0..LETTERS).map(|n| format!("raw{n}")).collect();
    send_all(&q.client, &from, &bodies).await;
    let (moved, raw) = raw_rate(&q.client, &from, &to, &receipts).await;
    eprintln!(
        "bulk200: the server's raw rate: {moved} in {raw:.1}/s; the run reached {rate:.1}/s \
         ({} in {:?})",
        achieved.members, achieved.window
    );
    // moto may hand one message to two concurrent receives.
    assert!(moved >= LETTERS, "the raw loop moved every message");
    for url in [&from, &to, &receipts] {
        let _ = q.client.delete_queue().queue_url(url).send().await;
    }
    q.delete().await;
    assert!(
        raw >= 220.0,
        "the test server's raw rate is {raw:.1}/s, below the 220/s a 200/s run needs \
         (scripts/moto-server.py replaces moto's O(queue depth) calls; see docs/PERFORMANCE.md, \
         \"SQS against moto\"); the run reached {rate:.1}/s"
    );
    assert!(
        (180.0..=220.0).contains(&rate),
        "{rate:.1}/s over the last stage is not within 10 % of 200/s ({} in {:?}; the server's \
         raw rate {raw:.1}/s); progress: {}",
        achieved.members,
        achieved.window,
        achieved.timeline
    );
}

/// The pacing at a slow rate: the last stage's rate within 10 % of `--rate 4/s` (a bucket that
/// lost tokens between slow steps once ran a 4/s run at 3.2/s).
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn a_bulk_run_of_1000_at_4_per_second_keeps_that_rate_within_10_percent() {
    let (achieved, q) = bulk_run("bulk4", Some("4/s")).await;
    let rate = achieved.rate;
    assert!(
        (3.6..=4.4).contains(&rate),
        "{rate:.2}/s is not within 10 % of 4/s ({} in {:?})",
        achieved.members,
        achieved.window
    );
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
    // Held for the longest visibility SQS allows, so a slow server never hands one out twice;
    // the newest handle of each message (moto honours any handle a message had).
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let got = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(43_200)
            .send()
            .await
            .expect("receive");
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            if let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) {
                by_id.insert(id.to_string(), handle.to_string());
            }
        }
    }
    let handles: Vec<String> = by_id.into_values().collect();
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

// The test server's answers, unchanged by `scripts/moto-server.py`: it replaces moto's receive,
// send, change-visibility and delete (and the retention check) with the same logic at the cost of
// the batch instead of the queue's depth. Each test below pins what plain moto 5.2.5 answers (they
// pass against `moto_server` itself) for one behaviour those replacements touch, so a replacement
// that changed an answer fails here rather than as a puzzle in a bulk run.

/// Up to 10 messages of the queue at `url` (visibility `visibility`, or the queue's), with every
/// message and system attribute.
async fn receive(client: &Client, url: &str, visibility: Option<i32>) -> Vec<Message> {
    client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .set_visibility_timeout(visibility)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .expect("receive")
        .messages()
        .to_vec()
}

fn bodies(messages: &[Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m.body().unwrap_or_default())
        .collect()
}

fn system(message: &Message, name: MessageSystemAttributeName) -> Option<&str> {
    message
        .attributes()
        .and_then(|a| a.get(&name))
        .map(String::as_str)
}

fn receive_count(message: &Message) -> Option<&str> {
    system(message, MessageSystemAttributeName::ApproximateReceiveCount)
}

/// Sends `bodies` to the queue at `url` in one `SendMessageBatch`.
async fn send_batch(client: &Client, url: &str, bodies: &[String]) {
    let entries: Vec<SendMessageBatchRequestEntry> = bodies
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
    let out = client
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
        .expect("send batch");
    assert!(out.failed().is_empty(), "{:?}", out.failed());
}

/// A receive past `maxReceiveCount` moves the message to the DLQ (the receive answers without
/// it), where it is the same message: id, body, attributes, sent timestamp, and its receive count
/// carried on; and the handles it had in the source queue still act on it there (moto keeps a
/// message's handles across the move).
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_test_server_redrives_a_message_received_past_max_receive_count() {
    let q = Redrive::new("guard-redrive", 1, 2, false).await;
    let url = q.sources[0].1.clone();
    let id = send(&q.client, &url, "r1", &[("k", string("v"))], None).await;
    let first = receive(&q.client, &url, None).await;
    assert_eq!(bodies(&first), ["r1"]);
    assert_eq!(receive_count(&first[0]), Some("1"));
    let second = receive(&q.client, &url, None).await;
    assert_eq!(bodies(&second), ["r1"]);
    assert_eq!(receive_count(&second[0]), Some("2"));
    assert!(
        receive(&q.client, &url, None).await.is_empty(),
        "the third receive moved it to the DLQ"
    );
    assert_eq!(depth(&q.client, &url).await, (0, 0, 0));
    assert_eq!(depth(&q.client, &q.dlq_url).await, (1, 0, 0));
    let dead = receive(&q.client, &q.dlq_url, Some(30)).await;
    assert_eq!(bodies(&dead), ["r1"]);
    assert_eq!(dead[0].message_id(), Some(id.as_str()));
    assert_eq!(receive_count(&dead[0]), Some("3"));
    assert_eq!(
        system(&dead[0], MessageSystemAttributeName::SentTimestamp),
        system(&first[0], MessageSystemAttributeName::SentTimestamp)
    );
    let attribute = dead[0]
        .message_attributes()
        .and_then(|a| a.get("k"))
        .expect("the message attribute came along");
    assert_eq!(attribute.string_value(), Some("v"));
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 1, 0));
    // moto honours, in the DLQ, the handles the message had in its source queue.
    for handle in [&first[0], &second[0]].map(|m| m.receipt_handle().expect("handle")) {
        assert_ne!(Some(handle), dead[0].receipt_handle());
    }
    q.client
        .change_message_visibility()
        .queue_url(&q.dlq_url)
        .receipt_handle(second[0].receipt_handle().expect("handle"))
        .visibility_timeout(0)
        .send()
        .await
        .expect("the source queue's handle changes its visibility in the DLQ");
    let back = receive(&q.client, &q.dlq_url, Some(30)).await;
    assert_eq!(bodies(&back), ["r1"]);
    assert_eq!(receive_count(&back[0]), Some("4"));
    q.client
        .delete_message()
        .queue_url(&q.dlq_url)
        .receipt_handle(first[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect("the source queue's first handle deletes it from the DLQ");
    assert_eq!(depth(&q.client, &q.dlq_url).await, (0, 0, 0));
    q.delete().await;
}

/// Messages come in the order sent, a received message stays hidden for its visibility timeout
/// (the next receives pass it by), a message made visible again comes back with a new handle and
/// its receive count up, any handle it ever had deletes it, a deleted handle deletes again
/// successfully, and an unknown, deleted or purged handle is `ReceiptHandleIsInvalid` where moto
/// says so.
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_test_server_hides_received_messages_and_honours_every_handle() {
    use aws_sdk_sqs::error::ProvideErrorMetadata;

    let (endpoint, _) = crate::support::sqs::server();
    let client = crate::support::sqs::client(&endpoint).await;
    let url = create_queue(
        &client,
        &crate::support::sqs::prefix("guard-visibility"),
        &[],
    )
    .await;
    let sent: Vec<String> = (0..25).map(|n| format!("v{n}")).collect();
    for chunk in sent.chunks(10) {
        send_batch(&client, &url, chunk).await;
    }
    let a = receive(&client, &url, Some(30)).await;
    let b = receive(&client, &url, Some(30)).await;
    let c = receive(&client, &url, Some(30)).await;
    let received: Vec<&str> = [&a, &b, &c].into_iter().flat_map(|m| bodies(m)).collect();
    assert_eq!(received, sent, "in the order sent, each once");
    assert!(
        receive(&client, &url, Some(30)).await.is_empty(),
        "all hidden"
    );
    assert_eq!(depth(&client, &url).await, (0, 25, 0));

    let old = a[0].receipt_handle().expect("handle").to_string();
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&old)
        .visibility_timeout(0)
        .send()
        .await
        .expect("visible again");
    let again = receive(&client, &url, Some(30)).await;
    assert_eq!(bodies(&again), ["v0"]);
    assert_eq!(receive_count(&again[0]), Some("2"));
    let new = again[0].receipt_handle().expect("handle").to_string();
    assert_ne!(new, old);

    let deleted = client
        .delete_message_batch()
        .queue_url(&url)
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("old")
                .receipt_handle(&old)
                .build()
                .expect("entry"),
        )
        .entries(
            DeleteMessageBatchRequestEntry::builder()
                .id("bogus")
                .receipt_handle("bogus")
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("delete batch");
    let ok: Vec<&str> = deleted.successful().iter().map(|s| s.id()).collect();
    let failed: Vec<(&str, &str)> = deleted
        .failed()
        .iter()
        .map(|f| (f.id(), f.code()))
        .collect();
    assert_eq!(ok, ["old"], "an old handle deletes");
    assert_eq!(failed, [("bogus", "ReceiptHandleIsInvalid")]);
    client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(&new)
        .send()
        .await
        .expect("a deleted message's handle deletes again");
    let refused = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(&new)
        .visibility_timeout(0)
        .send()
        .await
        .expect_err("a deleted message's visibility cannot change");
    assert_eq!(refused.code(), Some("ReceiptHandleIsInvalid"));
    assert_eq!(depth(&client, &url).await, (0, 24, 0));

    let changed = client
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("bogus")
                .receipt_handle("bogus")
                .visibility_timeout(0)
                .build()
                .expect("entry"),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("v10")
                .receipt_handle(b[0].receipt_handle().expect("handle"))
                .visibility_timeout(0)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("change visibility batch");
    let ok: Vec<&str> = changed.successful().iter().map(|s| s.id()).collect();
    let failed: Vec<(&str, &str)> = changed
        .failed()
        .iter()
        .map(|f| (f.id(), f.code()))
        .collect();
    assert_eq!(ok, ["v10"]);
    assert_eq!(failed, [("bogus", "ReceiptHandleIsInvalid")]);
    let back = receive(&client, &url, Some(30)).await;
    assert_eq!(bodies(&back), ["v10"]);
    assert_eq!(receive_count(&back[0]), Some("2"));
    assert_eq!(depth(&client, &url).await, (0, 24, 0));

    // A purge forgets the messages: their handles are unknown from then on.
    client
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("purge");
    let refused = client
        .delete_message()
        .queue_url(&url)
        .receipt_handle(back[0].receipt_handle().expect("handle"))
        .send()
        .await
        .expect_err("a purged message's handle deletes nothing");
    assert_eq!(refused.code(), Some("ReceiptHandleIsInvalid"));
    assert_eq!(depth(&client, &url).await, (0, 0, 0));
    let _ = client.delete_queue().queue_url(&url).send().await;
}

/// FIFO: a message whose deduplication id was seen is dropped (explicit ids, and the body's hash
/// with content-based deduplication); one receive hands out a group's messages in order, and
/// while a group has messages in flight no receive hands out more of it — other groups go on,
/// and the group goes on once its messages are deleted.
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_test_server_keeps_fifo_groups_and_deduplication() {
    let (endpoint, _) = crate::support::sqs::server();
    let client = crate::support::sqs::client(&endpoint).await;
    let prefix = crate::support::sqs::prefix("guard-fifo");
    let fifo = [("FifoQueue", "true".to_string())];
    let url = create_queue(&client, &format!("{prefix}.fifo"), &fifo).await;
    let put =
        |url: String, body: &'static str, group: &'static str, dedup: Option<&'static str>| {
            let client = client.clone();
            async move {
                client
                    .send_message()
                    .queue_url(url)
                    .message_body(body)
                    .message_group_id(group)
                    .set_message_deduplication_id(dedup.map(str::to_string))
                    .send()
                    .await
                    .expect("send")
            }
        };
    put(url.clone(), "a", "g1", Some("d1")).await;
    put(url.clone(), "b", "g1", Some("d2")).await;
    put(url.clone(), "c", "g2", Some("d3")).await;
    put(url.clone(), "a again", "g1", Some("d1")).await;
    let first = receive(&client, &url, Some(30)).await;
    assert_eq!(bodies(&first), ["a", "b", "c"], "the duplicate dropped");
    assert!(
        receive(&client, &url, Some(30)).await.is_empty(),
        "both groups in flight"
    );
    put(url.clone(), "f", "g1", Some("d6")).await;
    put(url.clone(), "d", "g3", Some("d4")).await;
    assert_eq!(
        bodies(&receive(&client, &url, Some(30)).await),
        ["d"],
        "g1 held back while a and b are in flight"
    );
    for m in &first[..2] {
        client
            .delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().expect("handle"))
            .send()
            .await
            .expect("delete");
    }
    put(url.clone(), "e", "g1", Some("d5")).await;
    assert_eq!(
        bodies(&receive(&client, &url, Some(30)).await),
        ["f", "e"],
        "g1 free again, in order; g2 still in flight"
    );

    let mut attributes = fifo.to_vec();
    attributes.push(("ContentBasedDeduplication", "true".to_string()));
    let by_body = create_queue(&client, &format!("{prefix}-cbd.fifo"), &attributes).await;
    for body in ["same", "same", "other"] {
        put(by_body.clone(), body, "g", None).await;
    }
    let got = receive(&client, &by_body, Some(30)).await;
    assert_eq!(bodies(&got), ["same", "other"]);
    assert!(
        got.iter().all(
            |m| system(m, MessageSystemAttributeName::MessageDeduplicationId)
                .is_some_and(|d| d.len() == 64)
        ),
        "the body's SHA-256 as the deduplication id"
    );
    for url in [&url, &by_body] {
        let _ = client.delete_queue().queue_url(url).send().await;
    }
}

/// Delays (the message's own and the queue's default) hold a message back until they end, and a
/// message older than the queue's retention period is not handed out.
#[tokio::test]
#[ignore = "needs the SQS-compatible server: run scripts/test-all.sh"]
async fn the_test_server_delays_and_expires_messages() {
    let (endpoint, _) = crate::support::sqs::server();
    let client = crate::support::sqs::client(&endpoint).await;
    let prefix = crate::support::sqs::prefix("guard-delay");
    let delayed = create_queue(&client, &format!("{prefix}-message"), &[]).await;
    let by_default = create_queue(
        &client,
        &format!("{prefix}-queue"),
        &[("DelaySeconds", "3".to_string())],
    )
    .await;
    let short = create_queue(
        &client,
        &format!("{prefix}-retention"),
        &[("MessageRetentionPeriod", "1".to_string())],
    )
    .await;
    let sent = Instant::now();
    client
        .send_message()
        .queue_url(&delayed)
        .message_body("later")
        .delay_seconds(3)
        .send()
        .await
        .expect("send");
    send_batch(&client, &delayed, &["now".to_string()]).await;
    send_batch(&client, &by_default, &["x".to_string()]).await;
    send_batch(&client, &short, &["old".to_string()]).await;
    assert_eq!(bodies(&receive(&client, &delayed, Some(30)).await), ["now"]);
    assert!(receive(&client, &by_default, Some(30)).await.is_empty());
    assert_eq!(depth(&client, &delayed).await, (0, 1, 1));
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "the server answered too slowly to see a delay: {:?}",
        sent.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(3_500).saturating_sub(sent.elapsed())).await;
    send_batch(&client, &short, &["young".to_string()]).await;
    assert_eq!(
        bodies(&receive(&client, &delayed, Some(30)).await),
        ["later"]
    );
    assert_eq!(
        bodies(&receive(&client, &by_default, Some(30)).await),
        ["x"]
    );
    // moto ends a receive at an expired message (and counts it received), so the next one
    // passes it by.
    assert!(receive(&client, &short, Some(30)).await.is_empty());
    assert_eq!(bodies(&receive(&client, &short, Some(30)).await), ["young"]);
    for url in [&delayed, &by_default, &short] {
        let _ = client.delete_queue().queue_url(url).send().await;
    }
}
