//! The response cache, per core, in API Gateway's terms: a stage's cache
//! holds responses of its routes by cache key for a TTL, bounded in bytes;
//! a client's `Cache-Control: max-age=0` refreshes an entry when the caller
//! may invalidate; the admin listener flushes a stage; concurrent misses of
//! one key on one worker send one request to the origin.
//!
//! Each worker has its own caches (nothing is shared or locked on the
//! request path), each holding `capacity_bytes / workers` of a stage's
//! capacity. The price: a key is filled once per worker, so the origin sees
//! up to one request per key per TTL per worker, and a popular entry is held
//! once per worker (bench/RESULTS.md measures both).
//!
//! The parts, sans-IO where they can be:
//!
//! * [`key`]: the cache key into a reusable buffer.
//! * [`control`]: `Cache-Control` of requests and responses.
//! * [`policy`]: the byte-bounded S3-FIFO store on a virtual clock.
//! * [`entry`]: one response as one block (key, head, body).
//! * [`stage`]: a stage's cache on one worker: store, fills in flight
//!   (coalescing), counters; kept across reloads that keep its settings.
//! * [`flush`]: the board between the admin listener and the workers.
//!
//! The pipeline step that uses them is `pipeline::cache`.

pub mod control;
pub mod entry;
pub mod flush;
pub mod key;
pub mod policy;
#[cfg(test)]
mod sim;
pub mod stage;

use crate::config::{CacheKeyParameter, CacheSettings, RouteCache, caching};

/// The invariants of a stage's cache settings that `config` guarantees,
/// for a model read from a snapshot (see `snapshot::check`).
pub fn check_settings(s: &CacheSettings) -> Result<(), String> {
    if s.ttl_seconds > caching::MAX_TTL_SECONDS {
        return Err(format!("cache TTL {} s is above 3600", s.ttl_seconds));
    }
    if s.capacity_bytes == 0 || s.max_entry_bytes == 0 || s.fill_wait.is_zero() {
        return Err("cache capacity, entry maximum and fill wait must be > 0".to_owned());
    }
    Ok(())
}

/// The same for a route's cache settings.
pub fn check_route(r: &RouteCache) -> Result<(), String> {
    if r.ttl_seconds.is_some_and(|t| t > caching::MAX_TTL_SECONDS) {
        return Err("cache TTL is above 3600 s".to_owned());
    }
    for p in &r.key_parameters {
        if let CacheKeyParameter::Header(n) = p
            && (n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase() || b <= b' '))
        {
            return Err(format!(
                "cache key header {n:?} is not a lower-case field name"
            ));
        }
    }
    Ok(())
}
