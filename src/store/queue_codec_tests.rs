//! The block format round-trips every value exactly, reads damaged bytes without panicking, and
//! packs the histories it is made for into a few bytes per point.

use proptest::prelude::*;

use super::*;

fn point(at_ms: i64, counts: [i64; 4], rates: [f64; 3]) -> QueuePoint {
    QueuePoint {
        at_ms,
        ready: counts[0],
        in_flight: counts[1],
        retrying: counts[2],
        dead: counts[3],
        rate_in: rates[0],
        rate_out: rates[1],
        rate_fail: rates[2],
    }
}

/// Points as comparable values (rates by their bits, so NaN and -0.0 count).
fn bits(points: &[QueuePoint]) -> Vec<(i64, [i64; 4], [u64; 3])> {
    points
        .iter()
        .map(|p| {
            (
                p.at_ms,
                [p.ready, p.in_flight, p.retrying, p.dead],
                [
                    p.rate_in.to_bits(),
                    p.rate_out.to_bits(),
                    p.rate_fail.to_bits(),
                ],
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn any_points_come_back_exactly(
        base in any::<i64>(),
        raw in prop::collection::vec((any::<i64>(), any::<[i64; 4]>(), any::<[u64; 3]>()), 0..200),
    ) {
        let points: Vec<QueuePoint> = raw
            .iter()
            .map(|(at, counts, rates)| point(*at, *counts, rates.map(f64::from_bits)))
            .collect();
        let block = encode_points(base, &points);
        let back = decode_points(base, &block).unwrap();
        prop_assert_eq!(bits(&back), bits(&points));
        let depths = decode_depths(base, &block).unwrap();
        prop_assert_eq!(depths, points.iter().map(|p| (p.at_ms, p.dead)).collect::<Vec<_>>());
    }

    #[test]
    fn small_numbers_come_back_exactly(
        base in 0i64..10_000_000,
        raw in prop::collection::vec((0i64..100_000, any::<[u8; 4]>(), any::<[u16; 3]>()), 0..200),
    ) {
        let mut at = base;
        let points: Vec<QueuePoint> = raw
            .iter()
            .map(|(step, counts, rates)| {
                at += step;
                point(at, counts.map(i64::from), rates.map(|r| f64::from(r) / 100.0))
            })
            .collect();
        let back = decode_points(base, &encode_points(base, &points)).unwrap();
        prop_assert_eq!(bits(&back), bits(&points));
    }

    #[test]
    fn any_hours_come_back_exactly(
        base in any::<i64>(),
        raw in prop::collection::vec(any::<[i64; 3]>(), 0..30),
    ) {
        let hours: Vec<HourDepth> = raw
            .iter()
            .map(|h| HourDepth { hour_ms: h[0], max_dead: h[1], last_at_ms: h[2] })
            .collect();
        prop_assert_eq!(decode_hours(base, &encode_hours(base, &hours)).unwrap(), hours);
    }

    #[test]
    fn damaged_bytes_are_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_points(0, &bytes);
        let _ = decode_depths(0, &bytes);
        let _ = decode_hours(0, &bytes);
    }

    #[test]
    fn a_cut_or_flipped_block_is_an_error_not_a_panic(cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
        let points: Vec<QueuePoint> = (0..120)
            .map(|i| point(i * 30_000, [i % 7, 3, 0, i], [2.5, f64::NAN, i as f64 / 3.0]))
            .collect();
        let mut block = encode_points(0, &points);
        if flip < block.len() {
            block[flip] ^= 1 << bit;
        }
        let _ = decode_points(0, &block);
        block.truncate(cut);
        let _ = decode_points(0, &block);
    }
}

#[test]
fn a_steady_hour_of_polls_takes_a_few_bytes() {
    let points: Vec<QueuePoint> = (0..120)
        .map(|i| point(1_000 + i * 30_000, [12, 0, 0, 4], [2.0, 1.5, 0.0]))
        .collect();
    let block = encode_points(0, &points);
    assert!(
        block.len() < 60,
        "{} bytes: under half a byte a point",
        block.len()
    );
    assert_eq!(bits(&decode_points(0, &block).unwrap()), bits(&points));
}

#[test]
fn a_wobbling_hour_of_polls_takes_under_seven_bytes_a_point() {
    // The demo's busiest connector: each poll a baseline times 0.8–1.2, rates to 0.01 msg/s.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut wobble = |base: f64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        base * (0.8 + 0.4 * (seed % 10_000) as f64 / 10_000.0)
    };
    let points: Vec<QueuePoint> = (0..120)
        .map(|i| {
            let counts = [900.0, 120.0, 8.0].map(|b| wobble(b).round() as i64);
            let rates = [45.0, 43.5, 1.5].map(|b| (wobble(b) * 100.0).round() / 100.0);
            point(
                i * 30_000,
                [counts[0], counts[1], counts[2], i % 100],
                rates,
            )
        })
        .collect();
    let block = encode_points(0, &points);
    assert!(block.len() < 7 * 120, "{} bytes", block.len());
    assert_eq!(bits(&decode_points(0, &block).unwrap()), bits(&points));
}

#[test]
fn unknown_versions_and_modes_are_refused() {
    let block = encode_points(0, &[point(5, [1, 2, 3, 4], [0.5, 0.25, 0.125])]);
    let mut newer = block.clone();
    newer[0] = 2;
    assert!(decode_points(0, &newer).is_err());
    // The first column's mode byte follows the version, the count and the column's length.
    let mut odd = block;
    odd[3] = 9;
    assert!(decode_points(0, &odd).is_err());
}
