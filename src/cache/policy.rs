//! A byte-bounded store with S3-FIFO eviction and per-entry expiry, on a
//! virtual clock: every call that needs the time takes `now` (milliseconds
//! on any monotonic scale the caller keeps), so tests drive time by hand.
//!
//! S3-FIFO (Yang et al., SOSP 2023) keeps a small FIFO (10 % of the bytes)
//! where new entries start, a main FIFO, and a ghost FIFO of the hashes
//! recently evicted from the small one. An entry hit at least once while in
//! the small queue moves to main when it reaches the queue's head; one that
//! was not is evicted and remembered in the ghost, and comes back straight
//! into main if it is inserted again soon. Main evicts FIFO with up to three
//! second chances (a hit counter decremented on each pass). A scan of keys
//! seen once only ever churns the small queue, so the hot set in main
//! survives it; plain LRU would let the scan flush it. `sim` (tests)
//! compares the two on a skewed workload with scans.
//!
//! Guarantees: the sum of the sizes of the entries held never exceeds the
//! capacity (an entry larger than the capacity is refused); an entry is
//! never returned at or after its expiry; hits, inserts and removals are
//! O(1) amortized; lookups allocate nothing. Removed entries leave a dead
//! node in their queue until eviction passes it or a compaction (when dead
//! nodes outnumber live ones) drops it. Does not: compare keys (the caller
//! stores the full key in the value and checks it; a 64-bit hash collision
//! then reads as a miss and the insert replaces the other entry), or know
//! what a value is.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Hashes in the maps are already uniformly distributed (SipHash with a
/// per-cache random key, see `key`): use them as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type HashMapU64<V> = HashMap<u64, V, BuildHasherDefault<Passthrough>>;

/// Share of the capacity the small queue aims at.
const SMALL_PERCENT: u64 = 10;
/// Hit counter ceiling (two bits, as in the paper).
const MAX_FREQ: u8 = 3;

/// What the store did, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Entries found expired (on lookup or eviction).
    pub expirations: u64,
    /// Entries removed by [`Store::remove`] or [`Store::clear`].
    pub removals: u64,
    /// Inserts refused because the entry alone exceeds the capacity.
    pub refused: u64,
}

#[derive(Debug)]
struct Slot<V> {
    /// `None` once removed; the slot is freed when its queue node is dropped.
    value: Option<V>,
    hash: u64,
    size: u64,
    expires: u64,
    freq: u8,
    in_main: bool,
}

/// A byte-bounded map from 64-bit hashes to values (see the module docs).
#[derive(Debug)]
pub struct Store<V> {
    capacity: u64,
    used: u64,
    small_bytes: u64,
    map: HashMapU64<u32>,
    slots: Vec<Slot<V>>,
    free: Vec<u32>,
    small: VecDeque<u32>,
    main: VecDeque<u32>,
    /// Queue nodes whose slot's value was removed.
    dead: usize,
    ghost: VecDeque<u64>,
    ghost_set: HashMapU64<u32>,
    counters: Counters,
}

impl<V> Store<V> {
    pub fn new(capacity: u64) -> Store<V> {
        Store {
            capacity,
            used: 0,
            small_bytes: 0,
            map: HashMapU64::default(),
            slots: Vec::new(),
            free: Vec::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            dead: 0,
            ghost: VecDeque::new(),
            ghost_set: HashMapU64::default(),
            counters: Counters::default(),
        }
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held (the sum of the sizes given to [`insert`](Self::insert)).
    pub fn bytes(&self) -> u64 {
        self.used
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Change the capacity, evicting down to it.
    pub fn set_capacity(&mut self, capacity: u64, now: u64) {
        self.capacity = capacity;
        while self.used > self.capacity && self.evict(now) {}
    }

    /// The live value for `hash`, counting a hit; an expired one is
    /// removed (and `None` returned, counted as a miss).
    pub fn get(&mut self, hash: u64, now: u64) -> Option<&V> {
        let Some(&i) = self.map.get(&hash) else {
            self.counters.misses += 1;
            return None;
        };
        let i = i as usize;
        if self.slots[i].expires <= now {
            self.counters.expirations += 1;
            self.counters.misses += 1;
            self.kill(i);
            return None;
        }
        self.counters.hits += 1;
        let slot = &mut self.slots[i];
        slot.freq = (slot.freq + 1).min(MAX_FREQ);
        slot.value.as_ref()
    }

    /// Like [`get`](Self::get) without counting or changing anything.
    pub fn peek(&self, hash: u64, now: u64) -> Option<&V> {
        let &i = self.map.get(&hash)?;
        let slot = &self.slots[i as usize];
        (slot.expires > now).then_some(slot.value.as_ref()?)
    }

    /// Store `value` of `size` bytes for `hash` until `expires` (replacing
    /// what `hash` held), evicting as needed. Returns false (and drops
    /// `value`) when `size` alone exceeds the capacity.
    pub fn insert(&mut self, hash: u64, value: V, size: u64, expires: u64, now: u64) -> bool {
        if let Some(&i) = self.map.get(&hash) {
            self.counters.removals += 1;
            self.kill(i as usize);
        }
        if size > self.capacity {
            self.counters.refused += 1;
            return false;
        }
        while self.used + size > self.capacity {
            if !self.evict(now) {
                break;
            }
        }
        let to_main = self.ghost_set.remove(&hash).is_some();
        let slot = Slot {
            value: Some(value),
            hash,
            size,
            expires,
            freq: 0,
            in_main: to_main,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        if to_main {
            self.main.push_back(i);
        } else {
            self.small.push_back(i);
            self.small_bytes += size;
        }
        self.used += size;
        self.map.insert(hash, i);
        self.counters.inserts += 1;
        true
    }

    /// Drop the entry for `hash`; whether there was one.
    pub fn remove(&mut self, hash: u64) -> bool {
        match self.map.get(&hash) {
            Some(&i) => {
                self.counters.removals += 1;
                self.kill(i as usize);
                true
            }
            None => false,
        }
    }

    /// Drop every entry (and the ghost).
    pub fn clear(&mut self) {
        self.counters.removals += self.map.len() as u64;
        self.map.clear();
        self.slots.clear();
        self.free.clear();
        self.small.clear();
        self.main.clear();
        self.ghost.clear();
        self.ghost_set.clear();
        self.dead = 0;
        self.used = 0;
        self.small_bytes = 0;
    }

    /// Remove slot `i`'s value and bytes; its queue node stays (dead).
    fn kill(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.value.take().is_none() {
            return;
        }
        self.used -= slot.size;
        if !slot.in_main {
            self.small_bytes -= slot.size;
        }
        self.map.remove(&slot.hash);
        self.dead += 1;
        if self.dead > 64 && self.dead > self.map.len() {
            self.compact();
        }
    }

    /// Drop dead queue nodes and free their slots.
    fn compact(&mut self) {
        let slots = &self.slots;
        let free = &mut self.free;
        let mut keep = |i: &u32| {
            let live = slots[*i as usize].value.is_some();
            if !live {
                free.push(*i);
            }
            live
        };
        self.small.retain(&mut keep);
        self.main.retain(&mut keep);
        self.dead = 0;
    }

    fn remember(&mut self, hash: u64) {
        self.ghost.push_back(hash);
        *self.ghost_set.entry(hash).or_insert(0) += 1;
        let limit = self.map.len().max(64);
        while self.ghost.len() > limit {
            let Some(old) = self.ghost.pop_front() else {
                break;
            };
            if let Some(n) = self.ghost_set.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.ghost_set.remove(&old);
                }
            }
        }
    }

    /// Free at least one live entry's bytes; false when nothing is left.
    fn evict(&mut self, now: u64) -> bool {
        loop {
            let from_small = !self.small.is_empty()
                && (self.small_bytes > self.capacity * SMALL_PERCENT / 100 || self.main.is_empty());
            let popped = if from_small {
                self.small.pop_front()
            } else {
                self.main.pop_front()
            };
            let Some(i) = popped else {
                return false;
            };
            let idx = i as usize;
            let slot = &mut self.slots[idx];
            if slot.value.is_none() {
                // A dead node: its bytes are already gone.
                self.dead -= 1;
                self.free.push(i);
                continue;
            }
            if slot.expires <= now {
                self.counters.expirations += 1;
                self.release(idx);
                return true;
            }
            if from_small {
                if slot.freq > 0 {
                    slot.freq = 0;
                    slot.in_main = true;
                    self.small_bytes -= slot.size;
                    self.main.push_back(i);
                    continue;
                }
                let hash = slot.hash;
                self.counters.evictions += 1;
                self.release(idx);
                self.remember(hash);
                return true;
            }
            if slot.freq > 0 {
                slot.freq -= 1;
                self.main.push_back(i);
                continue;
            }
            self.counters.evictions += 1;
            self.release(idx);
            return true;
        }
    }

    /// Remove live slot `i`, whose queue node was just popped.
    fn release(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        slot.value = None;
        self.used -= slot.size;
        if !slot.in_main {
            self.small_bytes -= slot.size;
        }
        self.map.remove(&slot.hash);
        self.free.push(i as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_000_000;

    #[test]
    fn hit_miss_and_expiry_on_a_virtual_clock() {
        let mut s = Store::new(1000);
        assert!(s.insert(1, "a", 100, 5_000, 0));
        assert_eq!(s.get(1, 0), Some(&"a"));
        assert_eq!(s.get(1, 4_999), Some(&"a"));
        // At the expiry instant the entry is gone.
        assert_eq!(s.get(1, 5_000), None);
        assert_eq!(s.bytes(), 0);
        assert_eq!(s.get(2, 0), None);
        let c = s.counters();
        assert_eq!((c.hits, c.misses, c.expirations), (2, 2, 1));
    }

    #[test]
    fn never_holds_more_bytes_than_its_capacity() {
        // 1 MB entries in a 4.5 MB store.
        let mb = 1_000_000;
        let mut s = Store::new(4 * mb + mb / 2);
        for k in 0..100u64 {
            assert!(s.insert(k, k, mb, T, k));
            assert!(
                s.bytes() <= s.capacity(),
                "{} > {}",
                s.bytes(),
                s.capacity()
            );
            // Touch a few to exercise promotion.
            s.get(k / 2, k);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.bytes(), 4 * mb);
        assert!(s.counters().evictions >= 96);
    }

    #[test]
    fn refuses_an_entry_larger_than_the_capacity() {
        let mut s = Store::new(100);
        assert!(!s.insert(1, (), 101, T, 0));
        assert!(s.is_empty());
        assert_eq!(s.counters().refused, 1);
    }

    #[test]
    fn replacing_a_key_keeps_the_accounting() {
        let mut s = Store::new(1000);
        s.insert(7, 1, 300, T, 0);
        s.insert(7, 2, 500, T, 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s.bytes(), 500);
        assert_eq!(s.get(7, 1), Some(&2));
        assert!(s.remove(7));
        assert_eq!(s.bytes(), 0);
        assert!(!s.remove(7));
    }

    #[test]
    fn dead_nodes_are_compacted_without_eviction_pressure() {
        let mut s = Store::new(u64::MAX);
        for k in 0..10_000u64 {
            s.insert(k % 10, k, 10, T, 0);
        }
        assert_eq!(s.len(), 10);
        assert!(s.small.len() + s.main.len() < 200, "queues hold dead nodes");
    }

    #[test]
    fn a_scan_does_not_flush_the_hot_set() {
        let mut s = Store::new(100 * 10);
        // A hot set of 50 entries, each hit.
        for round in 0..3 {
            for k in 0..50u64 {
                if s.get(k, round).is_none() {
                    s.insert(k, k, 10, T, round);
                }
            }
        }
        // A scan of 1,000 keys seen once.
        for k in 1000..2000u64 {
            s.insert(k, k, 10, T, 10);
        }
        let hot = (0..50u64).filter(|k| s.peek(*k, 11).is_some()).count();
        assert!(hot >= 45, "only {hot} of 50 hot entries survived the scan");
    }

    #[test]
    fn ghost_hits_go_straight_to_main() {
        let mut s = Store::new(100);
        s.insert(1, 1, 10, T, 0);
        // Push key 1 out of the small queue unhit.
        for k in 2..30u64 {
            s.insert(k, k, 10, T, 0);
        }
        assert!(s.peek(1, 0).is_none());
        assert!(s.ghost_set.contains_key(&1));
        s.insert(1, 1, 10, T, 0);
        let i = s.map[&1] as usize;
        assert!(s.slots[i].in_main);
    }

    #[test]
    fn expired_entries_go_first_under_pressure() {
        let mut s = Store::new(100);
        s.insert(1, 1, 50, 10, 0);
        s.get(1, 1);
        s.insert(2, 2, 50, T, 0);
        s.get(2, 1);
        s.insert(3, 3, 50, T, 20);
        assert!(s.peek(1, 20).is_none());
        assert!(s.peek(2, 20).is_some());
        assert!(s.peek(3, 20).is_some());
        assert_eq!(s.counters().expirations, 1);
    }

    #[test]
    fn shrinking_the_capacity_evicts() {
        let mut s = Store::new(1000);
        for k in 0..10u64 {
            s.insert(k, k, 100, T, 0);
        }
        s.set_capacity(300, 0);
        assert!(s.bytes() <= 300);
    }
}
