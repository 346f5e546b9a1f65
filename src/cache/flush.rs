//! Between the admin listener and the workers: flush requests (`POST
//! /admin/cache/flush`) go on a board the workers read at their
//! housekeeping tick, each worker acknowledges what it applied, and workers
//! post their caches' numbers for `GET /admin/cache`.
//!
//! Guarantees: a flush is applied by every worker once; the admin side can
//! wait until all have acknowledged it. Workers look at the board once per
//! tick with one atomic load when nothing changed; the request path never
//! touches it. Does not: flush anything itself.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::stage::StageStats;

/// One flush: `stage` of API `api`, or of every API that has the stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushRequest {
    pub seq: u64,
    pub api: Option<String>,
    pub stage: String,
}

/// Requests kept for workers that have not read them yet.
const KEPT: usize = 256;

#[derive(Debug, Default)]
pub struct Board {
    seq: AtomicU64,
    requests: Mutex<Vec<FlushRequest>>,
    /// Per worker: the last sequence number applied.
    acks: Mutex<Vec<u64>>,
    /// Per worker: its caches' numbers, as of its last tick.
    stats: Mutex<Vec<Vec<StageStats>>>,
}

impl Board {
    /// Post a flush; its sequence number.
    pub fn request(&self, api: Option<String>, stage: String) -> u64 {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.seq.load(Ordering::Acquire) + 1;
        requests.push(FlushRequest { seq, api, stage });
        if requests.len() > KEPT {
            requests.remove(0);
        }
        self.seq.store(seq, Ordering::Release);
        seq
    }

    /// The last sequence number posted.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// Flushes posted after `seen` (worker side); `None` when there are
    /// none, after one atomic load.
    pub fn since(&self, seen: u64) -> Option<(u64, Vec<FlushRequest>)> {
        if self.seq.load(Ordering::Acquire) <= seen {
            return None;
        }
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let last = requests.last().map_or(seen, |r| r.seq);
        let new = requests.iter().filter(|r| r.seq > seen).cloned().collect();
        Some((last, new))
    }

    /// Worker `worker` applied everything up to `seq`.
    pub fn ack(&self, worker: usize, seq: u64) {
        let mut acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
        if acks.len() <= worker {
            acks.resize(worker + 1, 0);
        }
        acks[worker] = acks[worker].max(seq);
    }

    /// Whether `workers` workers have all applied `seq`.
    pub fn applied_by_all(&self, seq: u64, workers: usize) -> bool {
        let acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
        (0..workers).all(|w| acks.get(w).is_some_and(|&a| a >= seq))
    }

    /// Worker `worker`'s caches' numbers now.
    pub fn publish(&self, worker: usize, stats: Vec<StageStats>) {
        let mut all = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() <= worker {
            all.resize(worker + 1, Vec::new());
        }
        all[worker] = stats;
    }

    /// Every worker's last published numbers, by worker index.
    pub fn stats(&self) -> Vec<Vec<StageStats>> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_reach_each_worker_once() {
        let b = Board::default();
        assert!(b.since(0).is_none());
        let s1 = b.request(None, "prod".into());
        let s2 = b.request(Some("shop".into()), "beta".into());
        let (last, new) = b.since(0).unwrap();
        assert_eq!((last, new.len()), (s2, 2));
        let (_, new) = b.since(s1).unwrap();
        assert_eq!(new[0].stage, "beta");
        assert!(b.since(s2).is_none());
        assert!(!b.applied_by_all(s2, 2));
        b.ack(0, s2);
        b.ack(1, s1);
        assert!(!b.applied_by_all(s2, 2));
        b.ack(1, s2);
        assert!(b.applied_by_all(s2, 2));
    }
}
