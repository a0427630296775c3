//! FNV-1a, a small fast hasher for the report's short keys (connector names, row ids), which
//! come from the local store, not from an attacker choosing collisions in a server.

use std::hash::{BuildHasherDefault, Hasher};

/// 64-bit FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_i64(&mut self, value: i64) {
        // One multiply per integer key instead of eight byte rounds.
        self.0 = (self.0 ^ value as u64).wrapping_mul(0x0100_0000_01b3);
    }
}

/// A `HashMap` built with [`Fnv`].
pub type FnvMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fnv>>;
