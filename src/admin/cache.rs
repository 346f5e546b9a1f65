//! The response cache on the admin listener:
//!
//! * `POST /admin/cache/flush?stage=S[&api=A]` — flush stage `S`'s cache
//!   (of API `A`, or of every API with such a stage) on every worker; the
//!   answer comes once all workers applied it (they do at their next
//!   housekeeping tick, within ~100 ms). Needs the admin token.
//! * `GET /admin/cache` — per worker and stage: capacity (the worker's
//!   share), bytes and entries held, hits, misses, evictions and the rest
//!   of the counters, as of each worker's last tick.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::Shared;

/// Longest wait for the workers to apply a flush.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// `name`'s value in a query string, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then(|| decode(v))
    })
}

fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `POST /admin/cache/flush` (the caller checked the token).
pub fn flush(shared: &Shared, query: &str) -> (u16, String) {
    let Some(stage) = param(query, "stage") else {
        return (
            400,
            json!({"message": "`stage` is required: /admin/cache/flush?stage=NAME[&api=NAME]"})
                .to_string(),
        );
    };
    let api = param(query, "api");
    let (_, deployed) = shared.current();
    let matching: Vec<String> = deployed
        .gateway
        .apis
        .iter()
        .filter(|a| api.as_ref().is_none_or(|n| *n == a.name))
        .filter(|a| {
            a.stages
                .iter()
                .any(|s| s.name == stage && s.settings.cache.is_some())
        })
        .map(|a| a.name.clone())
        .collect();
    if matching.is_empty() {
        return (
            404,
            json!({"message": format!("no stage `{stage}` with a cache")}).to_string(),
        );
    }
    let seq = shared.cache.request(api, stage.clone());
    let workers = shared.workers.len();
    let deadline = Instant::now() + FLUSH_WAIT;
    while !shared.cache.applied_by_all(seq, workers) {
        if Instant::now() >= deadline {
            return (
                503,
                json!({"message": "not every worker applied the flush in time; it will be applied"})
                    .to_string(),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (
        200,
        json!({"flushed": true, "stage": stage, "apis": matching, "workers": workers}).to_string(),
    )
}

/// `GET /admin/cache`.
pub fn stats(shared: &Shared) -> (u16, String) {
    let workers: Vec<_> = shared
        .cache
        .stats()
        .into_iter()
        .enumerate()
        .map(|(worker, stages)| {
            let stages: Vec<_> = stages
                .iter()
                .map(|s| {
                    json!({
                        "api": s.api,
                        "stage": s.stage,
                        "capacity_bytes": s.capacity,
                        "bytes": s.bytes,
                        "entries": s.entries,
                        "hits": s.tally.hits,
                        "misses": s.tally.misses,
                        "coalesced": s.tally.coalesced,
                        "uncacheable": s.tally.uncacheable,
                        "too_large": s.tally.too_large,
                        "invalidations": s.tally.invalidations,
                        "unauthorized_invalidations": s.tally.unauthorized,
                        "flushes": s.tally.flushes,
                        "inserts": s.store.inserts,
                        "evictions": s.store.evictions,
                        "expirations": s.store.expirations,
                        "refused": s.store.refused,
                    })
                })
                .collect();
            json!({"worker": worker, "stages": stages})
        })
        .collect();
    (200, json!({"workers": workers}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(
            param("api=a&stage=%24default", "stage").as_deref(),
            Some("$default")
        );
        assert_eq!(param("stage=prod", "api"), None);
        assert_eq!(param("stage", "stage").as_deref(), Some(""));
    }
}
