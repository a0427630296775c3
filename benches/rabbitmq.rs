//! RabbitMQ adapter benchmark (`harness = false`) against the isolated broker of
//! `scripts/upstreams.sh`. On a DLQ of 100,000 messages it times:
//! (0) the first-sight browse: the poller's first read of a DLQ it never saw (each message
//!     identified by its content; nothing is moved unless it has a byte-identical twin);
//! (a) the steady state: browsing it completely and replaying message #50,000 (its identity
//!     found by `message_id` in the first-sight listing) in ONE pass (`browse_and_apply`), count,
//!     order and identities verified afterwards by a further hold pass (whose time is shown as
//!     the bare pass: the same hold-everything/requeue-in-place work without building dead
//!     letters or changing anything);
//! (b) the bulk redrive of the whole DLQ (`replay_all`) to its work queue;
//! (c) the broker's own shovel moving the same messages on the same broker, as the reference;
//! (d) what a run over the whole DLQ does: the DLQ filled again with n other messages, browsed,
//!     then every letter selected in one `browse_and_apply` (one hold pass, as a run's stage
//!     hands a RabbitMQ DLQ to the adapter), each replayed once.
//!
//! ```sh
//! TRIAGE_UPSTREAMS_DIR=/tmp/triage-bench scripts/upstreams.sh start > /tmp/bench-env
//! . /tmp/bench-env
//! cargo bench --bench rabbitmq
//! TRIAGE_UPSTREAMS_DIR=/tmp/triage-bench scripts/upstreams.sh stop
//! ```
//!
//! `TRIAGE_BENCH_RABBITMQ_N` sets the DLQ depth (default 100000), `TRIAGE_BENCH_RUNS` the number
//! of runs (default 3; the table shows each and the median). Without the broker's env vars it
//! says how to start one and exits successfully.

#[allow(dead_code)] // shared test helpers, partly used here
#[path = "../tests/it/support/rabbitmq.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Topology, browse_all, id_of, message_id_of};
use triage::domain::{Action, ActionKind, DeadLetterState};
use triage::upstream::rabbitmq::message;
use triage::upstream::rabbitmq::{Fate, Selection};

/// One run's measurements (`*_cpu`: this process's CPU time, user + system, in that phase).
struct Run {
    first_sight: Duration,
    first_sight_cpu: Duration,
    one_pass: Duration,
    one_pass_cpu: Duration,
    bare_pass: Duration,
    redrive: Duration,
    redrive_cpu: Duration,
    shovel: Duration,
    run_pass: Duration,
    run_pass_cpu: Duration,
}

/// CPU time (user + system) this process used so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn main() {
    let env = ["TRIAGE_TEST_RABBITMQ_AMQP", "TRIAGE_TEST_RABBITMQ_HTTP"];
    if env.iter().any(|var| std::env::var(var).is_err()) {
        println!(
            "rabbitmq bench skipped: {} are not set. Start a private RabbitMQ and run it:\n  \
             TRIAGE_UPSTREAMS_DIR=/tmp/triage-bench scripts/upstreams.sh start > /tmp/bench-env\n  \
             . /tmp/bench-env && cargo bench --bench rabbitmq\n  \
             TRIAGE_UPSTREAMS_DIR=/tmp/triage-bench scripts/upstreams.sh stop",
            env.join("/")
        );
        return;
    }
    let n = number("TRIAGE_BENCH_RABBITMQ_N", 100_000);
    let runs = number("TRIAGE_BENCH_RUNS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results = Vec::new();
    for run in 1..=runs {
        let result = runtime.block_on(measure(n));
        println!(
            "run {run}/{runs}: first sight {:.2} s (client CPU {:.2} s), one pass {:.2} s \
             (client CPU {:.2} s), bare pass {:.2} s, redrive {:.0} msg/s (client CPU {:.2} s), \
             shovel {:.0} msg/s, a run's pass {:.0} msg/s (client CPU {:.2} s)",
            result.first_sight.as_secs_f64(),
            result.first_sight_cpu.as_secs_f64(),
            result.one_pass.as_secs_f64(),
            result.one_pass_cpu.as_secs_f64(),
            result.bare_pass.as_secs_f64(),
            rate(n - 1, result.redrive),
            result.redrive_cpu.as_secs_f64(),
            rate(n, result.shovel),
            rate(n, result.run_pass),
            result.run_pass_cpu.as_secs_f64(),
        );
        results.push(result);
    }
    print_table(n, &results);
}

fn number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(messages: usize, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_table(n: usize, runs: &[Run]) {
    let column = |f: &dyn Fn(&Run) -> f64| -> String {
        let values: Vec<f64> = runs.iter().map(f).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{:.2} ({min:.2}–{max:.2})", median(values))
    };
    let redrive = |r: &Run| rate(n - 1, r.redrive);
    let shovel = |r: &Run| rate(n, r.shovel);
    println!();
    println!(
        "| {n} messages, {} runs: median (min–max) | result |",
        runs.len()
    );
    println!("|---|---|");
    println!(
        "| (0) first-sight browse (a DLQ never seen: content identities, nothing moved), s | {} |",
        column(&|r| r.first_sight.as_secs_f64())
    );
    println!(
        "| client CPU during (0), s | {} |",
        column(&|r| r.first_sight_cpu.as_secs_f64())
    );
    println!(
        "| (a) browse all + replay #{} in one pass (identities known), s | {} |",
        n / 2,
        column(&|r| r.one_pass.as_secs_f64())
    );
    println!(
        "| client CPU during (a), s | {} |",
        column(&|r| r.one_pass_cpu.as_secs_f64())
    );
    println!(
        "| bare hold pass (keep every message, no dead letters built), s | {} |",
        column(&|r| r.bare_pass.as_secs_f64())
    );
    println!("| (b) bulk redrive, msg/s | {} |", column(&redrive));
    println!(
        "| client CPU during (b), s | {} |",
        column(&|r| r.redrive_cpu.as_secs_f64())
    );
    println!("| (c) broker shovel, msg/s | {} |", column(&shovel));
    println!(
        "| redrive / shovel | {} |",
        column(&|r| redrive(r) / shovel(r))
    );
    let run_pass = |r: &Run| rate(n, r.run_pass);
    println!(
        "| (d) a run's pass: every letter selected, one `browse_and_apply`, msg/s | {} |",
        column(&run_pass)
    );
    println!(
        "| client CPU during (d), s | {} |",
        column(&|r| r.run_pass_cpu.as_secs_f64())
    );
    println!(
        "| run's pass / shovel | {} |",
        column(&|r| run_pass(r) / shovel(r))
    );
    let runs_n = runs.len();
    println!(
        "bench-row|RabbitMQ ({n} messages, median of {runs_n})|bulk redrive, msg/s|{}|broker shovel: {}|{}|≥ 0.8",
        column(&redrive),
        column(&shovel),
        column(&|r| redrive(r) / shovel(r))
    );
    println!(
        "bench-row|RabbitMQ ({n} messages, median of {runs_n})|a run's pass over the whole DLQ (`browse_and_apply`), msg/s|{}|broker shovel: {}|{}|",
        column(&run_pass),
        column(&shovel),
        column(&|r| run_pass(r) / shovel(r))
    );
    println!(
        "bench-row|RabbitMQ ({n} messages, median of {runs_n})|browse all + replay #{} in one pass, s|{}|||< 15 s",
        n / 2,
        column(&|r| r.one_pass.as_secs_f64())
    );
}

async fn measure(n: usize) -> Run {
    let t = Topology::new("bench").await;
    let payload = |i: usize| format!(r#"{{"order":{i},"pad":"{}"}}"#, "p".repeat(100)).into_bytes();
    t.publish_to_dlq((0..n).map(|i| (payload(i), t.dead_properties(&format!("big-{i}"), &t.work))))
        .await;
    let adapter = t.adapter();
    let middle = n / 2;

    // (0) First sight: the poller's first browse of a DLQ it never saw (each message identified
    // by its content; none has a twin, so nothing is moved).
    let (started, cpu) = (Instant::now(), cpu_time());
    let first = browse_all(&adapter).await;
    let (first_sight, first_sight_cpu) = (started.elapsed(), cpu_time() - cpu);
    assert_eq!(first.len(), n);
    assert!(
        first
            .iter()
            .enumerate()
            .all(|(i, d)| message_id_of(d) == Some(format!("big-{i}").as_str())),
        "first-sight order"
    );
    let target = id_of(&first, &format!("big-{middle}"));

    let selection = Selection {
        action: Action {
            kind: ActionKind::Replay,
            upstream: "rmq".into(),
            target: target.clone(),
            operator: "bench".into(),
            note: None,
            level: None,
            payload: None,
            destination: None,
            drop_ttl: false,
        },
        idempotency_key: "bench-replay".into(),
    };

    // (a) One pass over the known DLQ: browse everything, replay the middle one.
    let (started, cpu) = (Instant::now(), cpu_time());
    let pass = adapter
        .browse_and_apply("orders", std::slice::from_ref(&selection))
        .await
        .expect("browse + replay in one pass");
    let (one_pass, one_pass_cpu) = (started.elapsed(), cpu_time() - cpu);
    assert!(pass.outcomes[0].1.ok, "{:?}", pass.outcomes);
    assert_eq!(pass.letters.len(), n);
    assert_eq!(
        (pass.report.committed.len(), pass.report.commits),
        (1, 1),
        "one change, one transaction: nothing left to stamp"
    );
    assert_eq!(pass.letters[middle].state, DeadLetterState::Replayed);
    assert!(
        pass.letters
            .iter()
            .map(|d| &d.id)
            .eq(first.iter().map(|d| &d.id)),
        "browse order and identities"
    );
    let started = Instant::now();
    let mut order = Vec::with_capacity(n);
    let verified = t
        .broker()
        .hold_pass(&t.dlq, |_, payload, properties| {
            order.push(message::identity(payload, properties));
            Fate::Keep
        })
        .await
        .expect("verify pass");
    let bare_pass = started.elapsed();
    assert!(verified.committed.is_empty(), "{verified:?}");
    let kept = first
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != middle)
        .map(|(_, d)| &d.id);
    assert!(
        order.len() == n - 1 && order.iter().zip(kept).all(|(id, expected)| id == expected),
        "count, order and identities kept: {} messages",
        order.len()
    );

    // (b) Bulk redrive of the rest.
    let (started, cpu) = (Instant::now(), cpu_time());
    let report = adapter
        .replay_all("orders", "bench", "bench-bulk")
        .await
        .expect("bulk redrive");
    let (redrive, redrive_cpu) = (started.elapsed(), cpu_time() - cpu);
    assert_eq!((report.replayed, report.unroutable.len()), (n - 1, 0));
    t.wait_for_depth(&t.work, n as u32).await;

    // (c) The broker's shovel moving the same n messages from the work queue to a new queue.
    let target = format!("{}.shovelled", t.work);
    t.channel
        .queue_declare(
            target.as_str().into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("shovel target");
    let body = serde_json::json!({"value": {
        "src-protocol": "amqp091", "src-uri": "amqp://", "src-queue": t.work,
        "dest-protocol": "amqp091", "dest-uri": "amqp://", "dest-queue": target,
        "src-delete-after": "queue-length"}});
    let url = format!("{}/api/parameters/shovel/%2f/{}-shovel", t.http, t.work);
    triage::upstream::http::install_crypto_provider();
    let started = Instant::now();
    let status = reqwest::Client::new()
        .put(&url)
        .basic_auth("guest", Some("guest"))
        .json(&body)
        .send()
        .await
        .expect("management API")
        .status();
    assert!(
        status.is_success(),
        "shovel: {status} (is rabbitmq_shovel enabled?)"
    );
    t.wait_for_depth(&target, n as u32).await;
    let shovel = started.elapsed();
    let _ = t
        .channel
        .queue_delete(target.as_str().into(), Default::default())
        .await;

    // (d) A run's pass: n other messages, browsed, then all of them selected in one
    // `browse_and_apply` — what a run's stage covering the whole DLQ hands the adapter.
    let again = |i: usize| format!(r#"{{"order":{i},"again":"{}"}}"#, "q".repeat(100)).into_bytes();
    t.publish_to_dlq((0..n).map(|i| (again(i), t.dead_properties(&format!("again-{i}"), &t.work))))
        .await;
    // The listing also names the letters replayed above (as replayed): only the live ones.
    let letters: Vec<_> = browse_all(&adapter)
        .await
        .into_iter()
        .filter(|d| d.state == DeadLetterState::Dead)
        .collect();
    assert_eq!(letters.len(), n);
    let selections: Vec<Selection> = letters
        .iter()
        .enumerate()
        .map(|(i, d)| Selection {
            action: Action {
                target: d.id.clone(),
                ..selection.action.clone()
            },
            idempotency_key: format!("bench-run-{i}"),
        })
        .collect();
    let (started, cpu) = (Instant::now(), cpu_time());
    let pass = adapter
        .browse_and_apply("orders", &selections)
        .await
        .expect("a run's pass");
    let (run_pass, run_pass_cpu) = (started.elapsed(), cpu_time() - cpu);
    assert!(
        pass.outcomes.iter().all(|(_, outcome)| outcome.ok),
        "every letter replayed"
    );
    assert_eq!(pass.outcomes.len(), n);
    t.wait_for_depth(&t.work, n as u32).await;
    assert_eq!(t.broker().message_count(&t.dlq).await.expect("count"), 0);
    t.cleanup().await;
    Run {
        first_sight,
        first_sight_cpu,
        one_pass,
        one_pass_cpu,
        bare_pass,
        redrive,
        redrive_cpu,
        shovel,
        run_pass,
        run_pass_cpu,
    }
}
