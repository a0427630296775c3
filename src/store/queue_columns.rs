//! One column of a queue history block (`store::queue_codec`): a run of integers written the
//! smallest of three ways, or a run of floats kept bit for bit. No I/O.
//!
//! A column is `mode (1 byte) · payload`:
//! - `RUN`: each value's difference from the previous one (the first from 0), zigzagged
//!   (small negatives stay small), as LEB128 varints; a token `0` is followed by a varint `k`
//!   and stands for `k + 1` zeros, so a value that does not change costs nothing per point.
//!   Best for values that hold still or move in steps (a DLQ depth, a poll interval).
//! - `PACK_VALUES`: frame of reference — the smallest value (zigzag varint), the greatest common
//!   divisor of the distances from it (varint; rates given to 0.01 msg/s are whole tens of
//!   milli-msgs/s), a bit width (1 byte), then every `(value − smallest) / divisor` in that many
//!   bits. Best for values that wobble around a level (a busy queue's `ready`, its rates).
//! - `PACK_DELTAS`: the first value (zigzag varint), then the differences packed like
//!   `PACK_VALUES`. Best for values that drift (a random walk).
//! - `FLOAT_BITS` (rates only): each value's IEEE bits XORed with the previous one's, as
//!   `RUN`-style tokens; used when a rate is not a whole number of milli-msgs/s.
//!
//! Every integer comes back exactly over the whole `i64` range (wrapping arithmetic).

use super::queue_codec::BlockError;

const RUN: u8 = 0;
const PACK_VALUES: u8 = 1;
const PACK_DELTAS: u8 = 2;
const FLOAT_BITS: u8 = 3;

type Decoded<T> = Result<T, BlockError>;

/// Integers, the smallest of the three ways.
pub(crate) fn put_integers(values: &[i64]) -> Vec<u8> {
    let deltas: Vec<i64> = deltas(values);
    let mut best = vec![RUN];
    best.extend(tokens(deltas.iter().map(|&d| zigzag(d))));
    let mut packed = vec![PACK_VALUES];
    pack(&mut packed, values);
    if packed.len() < best.len() {
        best = packed;
    }
    if let Some((&first, rest)) = deltas.split_first() {
        let mut packed = vec![PACK_DELTAS];
        put_varint(&mut packed, zigzag(first));
        pack(&mut packed, rest);
        if packed.len() < best.len() {
            best = packed;
        }
    }
    best
}

/// Rates: as milli-msgs/s integers when every one is a whole number of them, else their bits.
pub(crate) fn put_rates(values: &[f64]) -> Vec<u8> {
    if let Some(milli) = values
        .iter()
        .map(|&v| exact_milli(v))
        .collect::<Option<Vec<_>>>()
    {
        return put_integers(&milli);
    }
    let mut out = vec![FLOAT_BITS];
    let mut prev = 0u64;
    out.extend(tokens(values.iter().map(|v| {
        let bits = v.to_bits();
        let xor = bits ^ prev;
        prev = bits;
        xor
    })));
    out
}

/// `v` as a whole number of thousandths when `m / 1000` gives back exactly `v`.
pub(crate) fn exact_milli(v: f64) -> Option<i64> {
    let scaled = (v * 1000.0).round();
    if !scaled.is_finite() || scaled.abs() > 9.0e15 {
        return None;
    }
    let milli = scaled as i64;
    ((milli as f64 / 1000.0).to_bits() == v.to_bits()).then_some(milli)
}

/// `points` integers back from a column written by [`put_integers`].
pub(crate) fn get_integers(column: &[u8], points: usize) -> Decoded<Vec<i64>> {
    let Some((&mode, mut rest)) = column.split_first() else {
        return Err(BlockError("column without its mode"));
    };
    match mode {
        RUN => Ok(undelta(untoken(rest, points)?)),
        PACK_VALUES => unpack(rest, points),
        PACK_DELTAS => {
            if points == 0 {
                return Ok(Vec::new());
            }
            let first = unzigzag(varint(&mut rest)?);
            let mut deltas = vec![first];
            deltas.extend(unpack(rest, points - 1)?);
            let mut prev = 0i64;
            Ok(deltas
                .into_iter()
                .map(|d| {
                    prev = prev.wrapping_add(d);
                    prev
                })
                .collect())
        }
        _ => Err(BlockError("unknown integer column mode")),
    }
}

/// `points` rates back from a column written by [`put_rates`].
pub(crate) fn get_rates(column: &[u8], points: usize) -> Decoded<Vec<f64>> {
    match column.split_first() {
        Some((&FLOAT_BITS, rest)) => {
            let mut prev = 0u64;
            Ok(untoken(rest, points)?
                .into_iter()
                .map(|xor| {
                    prev ^= xor;
                    f64::from_bits(prev)
                })
                .collect())
        }
        _ => Ok(get_integers(column, points)?
            .into_iter()
            .map(|m| m as f64 / 1000.0)
            .collect()),
    }
}

fn deltas(values: &[i64]) -> Vec<i64> {
    let mut prev = 0i64;
    values
        .iter()
        .map(|&v| {
            let d = v.wrapping_sub(prev);
            prev = v;
            d
        })
        .collect()
}

fn undelta(values: Vec<u64>) -> Vec<i64> {
    let mut prev = 0i64;
    values
        .into_iter()
        .map(|v| {
            prev = prev.wrapping_add(unzigzag(v));
            prev
        })
        .collect()
}

/// Frame of reference: smallest value, divisor, bit width, the packed offsets.
fn pack(out: &mut Vec<u8>, values: &[i64]) {
    let min = values.iter().copied().min().unwrap_or(0);
    let offsets: Vec<u64> = values.iter().map(|&v| v.wrapping_sub(min) as u64).collect();
    let divisor = offsets.iter().fold(0u64, |g, &o| gcd(g, o)).max(1);
    let width = 64
        - offsets
            .iter()
            .map(|o| o / divisor)
            .max()
            .unwrap_or(0)
            .leading_zeros();
    put_varint(out, zigzag(min));
    put_varint(out, divisor);
    out.push(width as u8);
    let (mut acc, mut bits) = (0u128, 0u32);
    for o in offsets {
        acc |= u128::from(o / divisor) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

fn unpack(mut bytes: &[u8], points: usize) -> Decoded<Vec<i64>> {
    let min = unzigzag(varint(&mut bytes)?);
    let divisor = varint(&mut bytes)?;
    let Some((&width, packed)) = bytes.split_first() else {
        return Err(BlockError("packed column cut short"));
    };
    let width = u32::from(width);
    if width > 64 {
        return Err(BlockError("packed column wider than 64 bits"));
    }
    let needed = (points as u128 * u128::from(width)).div_ceil(8);
    if needed != packed.len() as u128 {
        return Err(BlockError("packed column of the wrong length"));
    }
    let mask = if width == 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    let mut out = Vec::with_capacity(points);
    let (mut acc, mut bits, mut next) = (0u128, 0u32, packed.iter());
    for _ in 0..points {
        while bits < width {
            let byte = next.next().copied().unwrap_or(0);
            acc |= u128::from(byte) << bits;
            bits += 8;
        }
        let offset = (acc as u64) & mask;
        acc >>= width;
        bits -= width;
        out.push(min.wrapping_add(offset.wrapping_mul(divisor) as i64));
    }
    Ok(out)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Zero runs as `0, k` (k + 1 zeros); any other value as itself.
fn tokens(values: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0u64;
    for value in values {
        if value == 0 {
            zeros += 1;
            continue;
        }
        flush_zeros(&mut out, &mut zeros);
        put_varint(&mut out, value);
    }
    flush_zeros(&mut out, &mut zeros);
    out
}

fn flush_zeros(out: &mut Vec<u8>, zeros: &mut u64) {
    if *zeros > 0 {
        out.push(0);
        put_varint(out, *zeros - 1);
        *zeros = 0;
    }
}

/// Tokens back to exactly `points` values.
fn untoken(mut column: &[u8], points: usize) -> Decoded<Vec<u64>> {
    let mut out = Vec::with_capacity(points);
    while !column.is_empty() {
        match varint(&mut column)? {
            0 => {
                let run = usize::try_from(varint(&mut column)?).unwrap_or(usize::MAX);
                if run >= points - out.len() {
                    return Err(BlockError("zero run past the block's points"));
                }
                out.resize(out.len() + run + 1, 0);
            }
            value if out.len() < points => out.push(value),
            _ => return Err(BlockError("column longer than the block's points")),
        }
    }
    if out.len() != points {
        return Err(BlockError("column shorter than the block's points"));
    }
    Ok(out)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn varint(bytes: &mut &[u8]) -> Decoded<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some((&byte, rest)) = bytes.split_first() else {
            return Err(BlockError("cut short"));
        };
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(BlockError("varint longer than 64 bits"))
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}
