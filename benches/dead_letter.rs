//! Building one dead letter from an AMQP message (`message::dead_letter`), the per-message client
//! work a browse pass adds to the broker's consume/hold/requeue: `x-death` parsed into the error,
//! headers flattened and sanitised, the payload copied; the identity is the stamped `x-triage-id`
//! (read from the headers by the pass, passed in here). Cases: the RabbitMQ bench's messages (an
//! `x-death` as RabbitMQ writes it, `message_id`), the same with nested application headers, and
//! a hostile one (escape sequences and bidi controls in headers, no `message_id`).
//!
//! Beside it, the content identity of such a message (`message::content_id`).
//!
//! `cargo bench --bench dead_letter`

use std::hint::black_box;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldArray, FieldTable};
use triage::upstream::rabbitmq::message;

/// An `x-death` entry as RabbitMQ 3.10 writes it for a rejected message.
fn death(queue: &str) -> AMQPValue {
    let mut entry = FieldTable::default();
    entry.insert("reason".into(), AMQPValue::LongString("rejected".into()));
    entry.insert("queue".into(), AMQPValue::LongString(queue.into()));
    entry.insert("exchange".into(), AMQPValue::LongString("orders".into()));
    entry.insert("count".into(), AMQPValue::LongLongInt(1));
    entry.insert("time".into(), AMQPValue::Timestamp(1_790_000_000));
    let keys = FieldArray::from(vec![AMQPValue::LongString(queue.into())]);
    entry.insert("routing-keys".into(), AMQPValue::FieldArray(keys));
    AMQPValue::FieldArray(vec![AMQPValue::FieldTable(entry)].into())
}

fn plain() -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-death".into(), death("orders.work"));
    BasicProperties::default()
        .with_headers(headers)
        .with_message_id("big-50000".into())
}

fn nested() -> BasicProperties {
    let mut meta = FieldTable::default();
    meta.insert("tenant".into(), AMQPValue::LongString("acme".into()));
    meta.insert(
        "trace".into(),
        AMQPValue::LongString("4bf92f3577b34da6".into()),
    );
    let mut headers = FieldTable::default();
    headers.insert("x-death".into(), death("orders.work"));
    headers.insert("meta".into(), AMQPValue::FieldTable(meta));
    headers.insert("attempt".into(), AMQPValue::LongInt(3));
    BasicProperties::default()
        .with_headers(headers)
        .with_message_id("order-7731".into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

fn hostile() -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-death".into(), death("orders\u{1b}[2J.work"));
    headers.insert(
        "x-note\u{202e}".into(),
        AMQPValue::LongString("\u{1b}]52;c;aGk=\u{7}\u{9b}31m ok".into()),
    );
    BasicProperties::default().with_headers(headers)
}

fn bench_dead_letter(c: &mut Criterion) {
    let payload = format!(r#"{{"order":50000,"pad":"{}"}}"#, "p".repeat(100)).into_bytes();
    let now = Utc::now();
    let id = message::new_stamp();
    let mut group = c.benchmark_group("dead_letter");
    group.throughput(Throughput::Elements(1));
    for (name, properties) in [
        ("rabbitmq_bench_message", plain()),
        ("nested_headers", nested()),
        ("hostile_no_message_id", hostile()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                message::dead_letter("rmq", &id, "orders", black_box(&payload), &properties, now)
            })
        });
    }
    group.finish();
    // The content identity of an unstamped message (`message::content_id`: the payload and the
    // properties' JSON form, hashed), which a pass computes for every message without a stamp.
    let mut group = c.benchmark_group("content_identity");
    group.throughput(Throughput::Elements(1));
    for (name, properties) in [
        ("rabbitmq_bench_message", plain()),
        ("nested_headers", nested()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| message::content_id(black_box(&payload), &properties))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dead_letter);
criterion_main!(benches);
