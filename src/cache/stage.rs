//! A stage's cache on one worker: the byte-bounded store of entries, the
//! fills in flight (for coalescing), and the counters the admin listener
//! shows. [`StageCaches`] holds them per API stage for one configuration
//! and hands them over to the next when a stage's cache settings did not
//! change, so a reload keeps the entries.
//!
//! Guarantees: each worker holds at most `capacity_bytes / workers` bytes
//! of a stage's entries (plus the fills in flight, each at most the
//! per-entry maximum); a hit allocates nothing; a [`Fill`] dropped before
//! [`Fill::finish`] (error, client gone, body too large) stores nothing and
//! still wakes the requests waiting on it. Single-threaded (`Rc`,
//! `RefCell`): never shared between workers. Does not: touch sockets, or
//! decide cacheability (see `pipeline::cache`).

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, RandomState};
use std::rc::Rc;
use std::time::Instant;

use crate::cache::entry::{Builder, Entry};
use crate::cache::policy::{Counters, HashMapU64, Store};
use crate::config::{CacheSettings, Gateway};
use crate::server::notify::Notify;

/// A fill in flight: requests for the same key wait on `done`.
#[derive(Debug, Default)]
pub struct Pending {
    pub done: Notify,
}

/// What the pipeline counts besides the store's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub hits: u64,
    pub misses: u64,
    /// Misses that waited for another request's fill of the same key.
    pub coalesced: u64,
    /// Responses not stored: `Cache-Control`, `Set-Cookie`, status or framing.
    pub uncacheable: u64,
    /// Responses not stored: body over the per-entry maximum.
    pub too_large: u64,
    /// Entries refreshed by an authorized `Cache-Control: max-age=0`.
    pub invalidations: u64,
    /// Unauthorized `Cache-Control: max-age=0` requests.
    pub unauthorized: u64,
    /// Whole-cache flushes (admin).
    pub flushes: u64,
}

/// Numbers about one stage's cache on one worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    pub api: String,
    pub stage: String,
    pub capacity: u64,
    pub bytes: u64,
    pub entries: u64,
    pub store: Counters,
    pub tally: Tally,
}

#[derive(Debug)]
pub struct StageCache {
    pub api: String,
    pub stage: String,
    pub settings: CacheSettings,
    store: RefCell<Store<Rc<Entry>>>,
    pending: RefCell<HashMapU64<Rc<Pending>>>,
    hasher: RandomState,
    epoch: Instant,
    /// The key of the request being looked up (reused).
    key: RefCell<Vec<u8>>,
    pub tally: Cell<Tally>,
}

impl StageCache {
    /// A cache for one stage; it holds nothing until
    /// [`set_workers`](Self::set_workers) gives it its share.
    pub fn new(api: &str, stage: &str, settings: CacheSettings) -> StageCache {
        StageCache {
            api: api.to_owned(),
            stage: stage.to_owned(),
            settings,
            store: RefCell::new(Store::new(0)),
            pending: RefCell::new(HashMapU64::default()),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            key: RefCell::new(Vec::with_capacity(256)),
            tally: Cell::new(Tally::default()),
        }
    }

    /// Take this worker's share of the stage's capacity.
    pub fn set_workers(&self, workers: usize) {
        let share = self.settings.capacity_bytes / workers.max(1) as u64;
        let now = self.now_ms(Instant::now());
        self.store.borrow_mut().set_capacity(share, now);
    }

    /// `t` on the store's clock (milliseconds since the cache was made).
    pub fn now_ms(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// The reusable key buffer: fill it, then [`hash`](Self::hash) and look up.
    pub fn key_buf(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        self.key.borrow_mut()
    }

    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The live entry for `key` (whose hash is `hash`), counting a store
    /// hit; a hash collision with another key reads as a miss.
    pub fn lookup(&self, hash: u64, key: &[u8], now: u64) -> Option<Rc<Entry>> {
        let mut store = self.store.borrow_mut();
        let entry = store.get(hash, now)?;
        (entry.key() == key).then(|| entry.clone())
    }

    /// The fill of `hash` in flight on this worker, if any.
    pub fn pending(&self, hash: u64) -> Option<Rc<Pending>> {
        self.pending.borrow().get(&hash).cloned()
    }

    /// Start filling `key`; with `coalesce`, requests for the same key
    /// wait for this fill (when no other fill of it runs already).
    pub fn fill(self: &Rc<Self>, hash: u64, key: &[u8], ttl_ms: u64, coalesce: bool) -> Fill {
        let registered = coalesce && {
            let mut pending = self.pending.borrow_mut();
            match pending.entry(hash) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(Rc::new(Pending::default()));
                    true
                }
            }
        };
        Fill {
            cache: self.clone(),
            hash,
            key: key.to_vec(),
            ttl_ms,
            registered,
            builder: None,
        }
    }

    /// Drop every entry.
    pub fn flush(&self) {
        self.store.borrow_mut().clear();
        self.count(|t| t.flushes += 1);
    }

    /// Change the pipeline's counters.
    pub fn count(&self, f: impl FnOnce(&mut Tally)) {
        let mut t = self.tally.get();
        f(&mut t);
        self.tally.set(t);
    }

    pub fn stats(&self) -> StageStats {
        let store = self.store.borrow();
        StageStats {
            api: self.api.clone(),
            stage: self.stage.clone(),
            capacity: store.capacity(),
            bytes: store.bytes(),
            entries: store.len() as u64,
            store: store.counters(),
            tally: self.tally.get(),
        }
    }
}

/// A response being stored as it streams to the client. Dropping it
/// without [`finish`](Self::finish) stores nothing.
#[derive(Debug)]
pub struct Fill {
    cache: Rc<StageCache>,
    hash: u64,
    key: Vec<u8>,
    ttl_ms: u64,
    registered: bool,
    builder: Option<Builder>,
}

impl Fill {
    pub fn settings(&self) -> &CacheSettings {
        &self.cache.settings
    }

    /// The response head is known: `head` is its status line and stored
    /// header lines; `body_len` its length when the framing says. False
    /// (and nothing will be stored) when the body is known to be too large.
    pub fn start(&mut self, head: &[u8], status: u16, body_len: Option<u64>) -> bool {
        let max = self.cache.settings.max_entry_bytes;
        self.builder = Builder::new(&self.key, head, status, max, body_len);
        if self.builder.is_none() {
            self.cache.count(|t| t.too_large += 1);
        }
        self.builder.is_some()
    }

    /// The response will not be stored (counted as uncacheable).
    pub fn skip(&mut self) {
        self.builder = None;
        self.cache.count(|t| t.uncacheable += 1);
    }

    /// Append body bytes; past the per-entry maximum the fill is given up.
    pub fn body(&mut self, piece: &[u8]) {
        if let Some(b) = &mut self.builder
            && !b.body(piece)
        {
            self.builder = None;
            self.cache.count(|t| t.too_large += 1);
        }
    }

    /// The body is complete: store the entry (at `now`, an `Instant`).
    pub fn finish(mut self, now: Instant) {
        let Some(builder) = self.builder.take() else {
            return;
        };
        let now = self.cache.now_ms(now);
        let entry = builder.finish(now);
        let size = entry.size();
        self.cache.store.borrow_mut().insert(
            self.hash,
            Rc::new(entry),
            size,
            now.saturating_add(self.ttl_ms),
            now,
        );
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        if self.registered {
            let pending = self.cache.pending.borrow_mut().remove(&self.hash);
            if let Some(p) = pending {
                p.done.fire();
            }
        }
    }
}

/// The stage caches of one configuration on one worker, by API and stage.
#[derive(Debug, Default)]
pub struct StageCaches {
    by_api: Vec<Vec<Option<Rc<StageCache>>>>,
    workers: Cell<usize>,
}

impl StageCaches {
    /// The caches `gw`'s stages configure; from `previous`, those of stages
    /// with the same API name, stage name and cache settings are kept
    /// (entries and all), so are the worker count.
    pub fn build(gw: &Gateway, previous: Option<&StageCaches>) -> StageCaches {
        let workers = previous.map_or(0, |p| p.workers.get());
        let by_api = gw
            .apis
            .iter()
            .map(|api| {
                api.stages
                    .iter()
                    .map(|s| {
                        let settings = s.settings.cache.as_ref()?;
                        let kept = previous.and_then(|p| {
                            p.iter()
                                .find(|c| {
                                    c.api == api.name
                                        && c.stage == s.name
                                        && c.settings == *settings
                                })
                                .cloned()
                        });
                        Some(kept.unwrap_or_else(|| {
                            let c = StageCache::new(&api.name, &s.name, settings.clone());
                            if workers > 0 {
                                c.set_workers(workers);
                            }
                            Rc::new(c)
                        }))
                    })
                    .collect()
            })
            .collect();
        StageCaches {
            by_api,
            workers: Cell::new(workers),
        }
    }

    /// Give every cache its share for `workers` workers.
    pub fn set_workers(&self, workers: usize) {
        self.workers.set(workers);
        for c in self.iter() {
            c.set_workers(workers);
        }
    }

    pub fn get(&self, api: usize, stage: usize) -> Option<&Rc<StageCache>> {
        self.by_api.get(api)?.get(stage)?.as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<StageCache>> {
        self.by_api.iter().flatten().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Flush the caches of stage `stage` (of API `api`, or of every API);
    /// how many there were.
    pub fn flush(&self, api: Option<&str>, stage: &str) -> usize {
        let mut n = 0;
        for c in self.iter() {
            if c.stage == stage && api.is_none_or(|a| a == c.api) {
                c.flush();
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(capacity: u64) -> CacheSettings {
        CacheSettings {
            capacity_bytes: capacity,
            ttl_seconds: 300,
            max_entry_bytes: 1 << 20,
            require_authorization_for_cache_control: true,
            unauthorized_strategy:
                crate::config::UnauthorizedCacheControl::SucceedWithResponseHeader,
            ignore_origin_cache_control: false,
            x_cache_header: false,
            fill_wait: Duration::from_secs(1),
        }
    }

    #[test]
    fn fill_then_hit_and_waiters_woken() {
        let c = Rc::new(StageCache::new("a", "s", settings(1 << 20)));
        c.set_workers(2);
        assert_eq!(c.stats().capacity, 1 << 19);
        let key = b"key".to_vec();
        let h = c.hash(&key);
        let t0 = Instant::now();
        assert!(c.lookup(h, &key, c.now_ms(t0)).is_none());
        let mut f = c.fill(h, &key, 60_000, true);
        let p = c.pending(h).expect("registered");
        // A second fill of the same key does not register.
        drop(c.fill(h, &key, 60_000, true));
        assert!(c.pending(h).is_some());
        assert!(f.start(b"HTTP/1.1 200 OK\r\nX: y\r\n", 200, Some(2)));
        f.body(b"hi");
        f.finish(t0);
        assert!(p.done.is_fired());
        assert!(c.pending(h).is_none());
        let e = c.lookup(h, &key, c.now_ms(t0)).expect("hit");
        assert_eq!(e.body(), b"hi");
        // Another key with the same hash does not match.
        assert!(c.lookup(h, b"other", c.now_ms(t0)).is_none());
    }

    #[test]
    fn dropped_fill_stores_nothing_and_wakes() {
        let c = Rc::new(StageCache::new("a", "s", settings(1 << 20)));
        c.set_workers(1);
        let h = c.hash(b"k");
        let mut f = c.fill(h, b"k", 1000, true);
        let p = c.pending(h).unwrap();
        f.start(b"HTTP/1.1 200 OK\r\n", 200, None);
        f.body(b"partial");
        drop(f);
        assert!(p.done.is_fired());
        assert!(c.lookup(h, b"k", 0).is_none());
    }

    #[test]
    fn too_large_bodies_are_not_stored() {
        let mut s = settings(1 << 20);
        s.max_entry_bytes = 4;
        let c = Rc::new(StageCache::new("a", "s", s));
        c.set_workers(1);
        let h = c.hash(b"k");
        let mut f = c.fill(h, b"k", 1000, false);
        assert!(!f.start(b"HTTP/1.1 200 OK\r\n", 200, Some(5)));
        let mut f = c.fill(h, b"k", 1000, false);
        assert!(f.start(b"HTTP/1.1 200 OK\r\n", 200, None));
        f.body(b"abc");
        f.body(b"de");
        f.finish(Instant::now());
        assert!(c.lookup(h, b"k", 0).is_none());
        assert_eq!(c.tally.get().too_large, 2);
    }

    #[test]
    fn reload_keeps_caches_whose_settings_stay() {
        let yaml = |ttl: u32| {
            format!(
                "listeners: [{{name: m, address: 127.0.0.1:0}}]\napis: [{{name: a, protocol: rest, stages: [{{name: s, cache: {{capacity_bytes: 1000, ttl_seconds: {ttl}}}}}, {{name: t, cache: {{capacity_bytes: 1000}}}}], routes: [{{route: GET /x, integration: {{type: mock}}}}]}}]\n"
            )
        };
        let g1 = crate::config::load_str("a.yaml", &yaml(60)).unwrap();
        let g2 = crate::config::load_str("a.yaml", &yaml(120)).unwrap();
        let first = StageCaches::build(&g1, None);
        first.set_workers(2);
        let same = StageCaches::build(&g1, Some(&first));
        assert!(Rc::ptr_eq(
            same.get(0, 0).unwrap(),
            first.get(0, 0).unwrap()
        ));
        let changed = StageCaches::build(&g2, Some(&first));
        assert!(!Rc::ptr_eq(
            changed.get(0, 0).unwrap(),
            first.get(0, 0).unwrap()
        ));
        assert!(Rc::ptr_eq(
            changed.get(0, 1).unwrap(),
            first.get(0, 1).unwrap()
        ));
        // The worker count carries over to new caches.
        assert_eq!(changed.get(0, 0).unwrap().stats().capacity, 500);
        assert_eq!(changed.flush(None, "t"), 1);
        assert_eq!(changed.flush(Some("b"), "t"), 0);
    }
}
