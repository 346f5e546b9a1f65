//! The API key table: SHA-256 of a key's value → what the gateway knows of
//! the key. Shared by every core, read without locks (papaya, a lock-free
//! concurrent map), written by the control thread (a reload builds a new
//! table; the admin API adds or disables keys in the running one).
//!
//! Guarantees: a lookup hashes the presented value once (SHA-256) and does
//! one hash-map probe, whatever the number of keys, and allocates nothing.
//! Values are never stored, only their hashes. Does not: decide what a
//! missing key means (see `plan`).

use std::hash::{BuildHasher, Hash, Hasher};

use sha2::{Digest, Sha256};

/// A key's identity: the SHA-256 of its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(value: &[u8]) -> KeyHash {
        KeyHash(Sha256::digest(value).into())
    }

    /// The id the gateway shows for a key (admin API, store): the hex of
    /// the first 16 bytes of its hash.
    pub fn id(&self) -> String {
        self.0[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 16 bytes (a key's part of per-key limit keys).
    pub fn short(&self) -> [u8; 16] {
        let mut s = [0u8; 16];
        s.copy_from_slice(&self.0[..16]);
        s
    }
}

impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already uniformly distributed: eight bytes are the hash.
        state.write_u64(u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes")));
    }
}

/// A hasher for keys that hash themselves into one `u64` (no mixing needed).
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl BuildHasher for PassThrough {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// What the gateway knows of one API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEntry {
    pub name: Box<str>,
    pub enabled: bool,
    /// Usage plans (indexes into the configuration's `usage_plans`).
    pub plans: Box<[u32]>,
    /// Added through the admin API (kept in `state_dir`), not the configuration.
    pub runtime: bool,
}

/// Every API key of one configuration (and those added at runtime).
#[derive(Debug, Default)]
pub struct KeyTable {
    map: papaya::HashMap<KeyHash, KeyEntry, PassThrough>,
}

impl KeyTable {
    pub fn with_capacity(n: usize) -> KeyTable {
        KeyTable {
            map: papaya::HashMap::builder()
                .capacity(n)
                .hasher(PassThrough(0))
                .build(),
        }
    }

    pub fn insert(&self, hash: KeyHash, entry: KeyEntry) {
        self.map.pin().insert(hash, entry);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Run `f` on the entry of the key whose value is `value`.
    pub fn with<R>(&self, hash: &KeyHash, f: impl FnOnce(Option<&KeyEntry>) -> R) -> R {
        let pinned = self.map.pin();
        f(pinned.get(hash))
    }

    /// Every key (for the admin API).
    pub fn entries(&self) -> Vec<(KeyHash, KeyEntry)> {
        self.map
            .pin()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// The hash of the key with this name or id.
    pub fn find(&self, name_or_id: &str) -> Option<KeyHash> {
        self.map
            .pin()
            .iter()
            .find(|(k, v)| &*v.name == name_or_id || k.id() == name_or_id)
            .map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_value_hash() {
        let t = KeyTable::with_capacity(4);
        let h = KeyHash::of(b"abcdefghij0123456789");
        t.insert(
            h,
            KeyEntry {
                name: "alice".into(),
                enabled: true,
                plans: Box::new([0]),
                runtime: false,
            },
        );
        assert!(t.with(&h, |e| e.is_some_and(|e| e.enabled)));
        assert!(t.with(&KeyHash::of(b"other"), |e| e.is_none()));
        assert_eq!(t.find("alice"), Some(h));
        assert_eq!(t.find(&h.id()), Some(h));
        assert_eq!(h.id().len(), 32);
    }
}
