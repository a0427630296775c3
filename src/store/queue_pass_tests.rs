//! A pass packs polls with every value kept, rolls them to the highest counts and the mean
//! rates, and keeps the deepest DLQ of each hour.

use rusqlite::params;

use super::super::Store;
use super::super::queue_codec::{QueuePoint, decode_hours, decode_points};
use super::*;
use crate::store::queue_points::{self, DAY_MS, HOUR_MS, MINUTE, MINUTE_MS};

const T0: i64 = 1_780_000_000_000 - 1_780_000_000_000 % DAY_MS;

fn p(at_ms: i64, ready: i64, dead: i64, rate_in: f64) -> QueuePoint {
    QueuePoint {
        at_ms,
        ready,
        in_flight: ready / 2,
        retrying: 0,
        dead,
        rate_in,
        rate_out: rate_in / 4.0,
        rate_fail: 0.01,
    }
}

fn blocks(store: &Store, tier: i64) -> Vec<QueuePoint> {
    let mut out = Vec::new();
    let mut stmt = store
        .conn
        .prepare(
            "SELECT start_ms, data FROM queue_blocks WHERE resolution_ms = ?1 ORDER BY start_ms",
        )
        .unwrap();
    let mut rows = stmt.query([tier]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        out.extend(decode_points(r.get(0).unwrap(), &r.get::<_, Vec<u8>>(1).unwrap()).unwrap());
    }
    out
}

#[test]
fn roll_up_keeps_the_highest_counts_and_the_mean_rates() {
    let points = [
        p(0, 1, 7, 1.0),
        p(30_000, 5, 2, 2.004),
        p(60_000, 3, 3, f64::NAN),
    ];
    let rolled = roll_up(&points, MINUTE_MS);
    assert_eq!(rolled.len(), 2);
    assert_eq!(
        (rolled[0].at_ms, rolled[0].ready, rolled[0].dead),
        (0, 5, 7)
    );
    assert_eq!(rolled[0].rate_in, 1.502, "the mean, to 0.001 msg/s");
    assert_eq!(rolled[0].rate_out, 0.376);
    assert!(rolled[1].rate_in.is_nan(), "a NaN rate stays NaN, not 0");
}

#[test]
fn polls_are_packed_exactly_then_rolled_and_their_hours_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    let polls: Vec<QueuePoint> = (0..360)
        .map(|i| {
            p(
                T0 + i * 30_000,
                100 + i % 13,
                i % 50,
                2.0 + (i % 7) as f64 / 100.0,
            )
        })
        .chain([p(T0 + 5_000, 1, 0, 0.1 + 0.2)])
        .collect();
    store
        .conn
        .execute(
            "INSERT INTO queue_series (upstream, connector) VALUES ('mq', 'c')",
            [],
        )
        .unwrap();
    for q in &polls {
        store
            .conn
            .execute(
                "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
                    rate_out, rate_fail) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    q.at_ms,
                    q.ready,
                    q.in_flight,
                    q.retrying,
                    q.dead,
                    q.rate_in,
                    q.rate_out,
                    q.rate_fail
                ],
            )
            .unwrap();
    }
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    // Half past the third hour: three whole hours are packed, nothing is old enough to roll.
    store
        .downsample_queue_history(at(T0 + 3 * HOUR_MS + 1_800_000))
        .unwrap();
    let mut want = polls.clone();
    want.sort_by_key(|q| q.at_ms);
    let raw = blocks(&store, RAW);
    assert_eq!(raw.len(), 361);
    for (got, want) in raw.iter().zip(&want) {
        assert_eq!(got.at_ms, want.at_ms);
        assert_eq!(
            (got.ready, got.in_flight, got.dead),
            (want.ready, want.in_flight, want.dead)
        );
        assert_eq!(got.rate_in.to_bits(), want.rate_in.to_bits());
        assert_eq!(got.rate_out.to_bits(), want.rate_out.to_bits());
    }
    let count: i64 = store
        .conn
        .query_row("SELECT COUNT(*) FROM queue_polls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 0);
    let (day, data): (i64, Vec<u8>) = store
        .conn
        .query_row("SELECT day_ms, data FROM dlq_depth_days", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let hours = decode_hours(day, &data).unwrap();
    assert_eq!(
        hours
            .iter()
            .map(|h| (h.hour_ms - T0, h.max_dead, h.last_at_ms - T0))
            .collect::<Vec<_>>(),
        [
            (0, 49, 3_570_000),
            (HOUR_MS, 49, 7_170_000),
            (2 * HOUR_MS, 49, 10_770_000)
        ]
    );
    // A day later the first hours are 1-minute points: the highest counts, the mean rates.
    store
        .downsample_queue_history(at(T0 + DAY_MS + 2 * HOUR_MS))
        .unwrap();
    let minutes = blocks(&store, MINUTE);
    assert_eq!(minutes.len(), 120);
    let first = roll_up(&want[..3], MINUTE_MS)[0];
    assert_eq!(minutes[0], first);
    assert_eq!(minutes[0].ready, 101);
    assert_eq!(
        blocks(&store, RAW).len(),
        120,
        "the third hour is still raw"
    );
}

/// The first and last point of any window, found by reading as few blocks as can hold them,
/// are the ends of all the window's points — across tiers, unpacked polls and a late poll.
#[test]
fn a_windows_ends_are_its_first_and_last_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("triage.db")).unwrap();
    store
        .conn
        .execute(
            "INSERT INTO queue_series (upstream, connector) VALUES ('mq', 'c')",
            [],
        )
        .unwrap();
    let insert = |store: &Store, at: i64, dead: i64| {
        store
            .conn
            .execute(
                "INSERT INTO queue_polls (series, at_ms, ready, in_flight, retrying, dead, rate_in,
                    rate_out, rate_fail) VALUES (1, ?1, 0, 0, 0, ?2, 0, 0, 0)",
                params![at, dead],
            )
            .unwrap();
    };
    for i in 0..(10 * 288 + 6) {
        insert(&store, T0 + i * 300_000, i % 97);
    }
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    store
        .downsample_queue_history(at(T0 + 10 * DAY_MS + 1_800_000))
        .unwrap();
    insert(&store, T0 + 5 * DAY_MS + 420_000, 500);
    let tiers = store.queue_history_tiers().unwrap();
    assert_eq!(tiers.len(), 3, "{tiers:?}");
    let mut checked = 0;
    for len in [HOUR_MS, DAY_MS, 3 * DAY_MS, 30 * DAY_MS] {
        let mut from = T0 - 2 * HOUR_MS;
        while from < T0 + 11 * DAY_MS {
            let to = from + len;
            let all = queue_points::depths(&store.conn, 1, from, to).unwrap();
            let first = queue_points::edge(&store.conn, 1, from, to, false).unwrap();
            let last = queue_points::edge(&store.conn, 1, from, to, true).unwrap();
            assert_eq!(first, all.first().copied(), "first of [{from}, {to})");
            assert_eq!(last, all.last().copied(), "last of [{from}, {to})");
            checked += usize::from(!all.is_empty());
            from += 7 * HOUR_MS + 13 * MINUTE_MS;
        }
    }
    assert!(checked > 100, "{checked}");
}
