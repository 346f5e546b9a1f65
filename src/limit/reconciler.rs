//! The reconciler thread: every `reconcile_ms` (default 10 ms) it steps
//! every bucket (see [`BucketTrack`]: demand, lease sizes, idle credit
//! recalled) and syncs quota counts with the store — one batch per round,
//! holding what changed since the last round, whose answers (the totals all
//! nodes counted) correct each key's pool for other nodes' use. A quota
//! period that ends is flushed and its pool refilled.
//!
//! Started by the control thread after the workers; stopped after they
//! stopped (and handed back their credit), with a last round, so a graceful
//! restart loses no count. A crash loses at most the counts of one round.
//! Per-key throttle buckets are stepped every tenth round (their leases are
//! small); static buckets and quotas every round. A quota counter is synced
//! when it changed, and every tenth round anyway, so a node learns what
//! other nodes counted within ten intervals (100 ms by default); until then
//! it may admit what its own pool still holds.
//!
//! Between nodes, a quota can be exceeded by what the other nodes admit in
//! the time it takes them to learn of the exhaustion (at most about ten
//! intervals of their traffic); on one node, never.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::limiter::{Limiter, unix_now};
use super::period::{bounds, day_of};
use super::plan::DynKey;
use super::reconcile::BucketTrack;
use super::store::Count;

/// A running reconciler.
#[derive(Debug)]
pub struct Reconciler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Reconciler {
    /// Run a last round (quota counts flushed) and end the thread.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.handle.thread().unpark();
        let _ = self.handle.join();
    }
}

/// Start the reconciler of `limiter`.
pub fn spawn(limiter: Arc<Limiter>) -> std::io::Result<Reconciler> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::Builder::new()
        .name("tollgate-limits".into())
        .spawn(move || run(&limiter, &flag))?;
    Ok(Reconciler { stop, handle })
}

fn run(limiter: &Limiter, stop: &AtomicBool) {
    let interval = limiter.state.reconcile;
    let mut state = State::default();
    let mut last = super::now_ns();
    loop {
        let started = Instant::now();
        let finishing = stop.load(Ordering::Acquire);
        let now = super::now_ns();
        let today = day_of(unix_now());
        state.round(limiter, now, now.saturating_sub(last), today, finishing);
        last = now;
        if finishing {
            return;
        }
        std::thread::park_timeout(interval.saturating_sub(started.elapsed()));
    }
}

/// What the reconciler remembers of a quota counter.
#[derive(Debug, Default)]
struct QuotaTrack {
    track: BucketTrack,
    /// Counted here, not yet added to the store.
    pending: i64,
    /// The period total the store last answered (all nodes).
    total: u64,
    /// First day of the period being counted.
    period: i64,
}

#[derive(Debug, Default)]
struct State {
    statics: HashMap<usize, BucketTrack>,
    dynamic: HashMap<DynKey, BucketTrack>,
    quotas: HashMap<DynKey, QuotaTrack>,
    rounds: u64,
    /// When a store error was last reported (one line per 5 s at most).
    reported: Option<Instant>,
}

impl State {
    /// One round at monotonic `now` (ns), `dt` after the last, on UTC day `today`.
    fn round(&mut self, limiter: &Limiter, now: u64, dt: u64, today: i64, finishing: bool) {
        self.rounds += 1;
        if let Some(plan) = limiter.current() {
            let mut seen = HashSet::with_capacity(plan.statics.len());
            for b in &plan.statics {
                let id = Arc::as_ptr(b) as usize;
                seen.insert(id);
                self.statics.entry(id).or_default().step(b, now, dt);
            }
            self.statics.retain(|id, _| seen.contains(id));
        }
        if finishing || self.rounds.is_multiple_of(10) {
            let map = limiter.dynamic.pin();
            for (k, b) in map.iter() {
                self.dynamic.entry(*k).or_default().step(b, now, dt * 10);
            }
            self.dynamic.retain(|k, _| map.contains_key(k));
        }
        self.quotas(limiter, now, dt, today, finishing);
    }

    fn quotas(&mut self, limiter: &Limiter, now: u64, dt: u64, today: i64, finishing: bool) {
        let plan = limiter.current();
        // A sync of unchanged counters every tenth round picks up other
        // nodes' counts (the file store has none; it answers from memory).
        let refresh = self.rounds.is_multiple_of(10)
            && limiter
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|s| s.shared());
        let map = limiter.quotas.pin();
        let mut batch: Vec<Count> = Vec::new();
        // Per batch entry: the counter, and for a period that ended the
        // next period's start and the limit to refill to.
        let mut keys: Vec<(DynKey, Option<(i64, u64)>)> = Vec::new();
        let mut gone: Vec<DynKey> = Vec::new();
        for (k, c) in map.iter() {
            let qt = self.quotas.entry(*k).or_insert_with(|| QuotaTrack {
                total: c.base,
                period: c.period.load(Ordering::Relaxed),
                ..QuotaTrack::default()
            });
            qt.pending += qt.track.step(&c.bucket, now, dt);
            let quota = plan.as_ref().and_then(|p| {
                p.plans
                    .iter()
                    .find_map(|l| l.quota.filter(|(s, _)| *s == k.scope).map(|(_, q)| q))
            });
            let Some(q) = quota else {
                // The plan (or its quota) is gone: flush what was counted,
                // then forget the counter.
                if qt.pending != 0 {
                    batch.push(count(c, qt.period, qt.period + 1, today, qt.pending));
                    keys.push((*k, None));
                } else {
                    gone.push(*k);
                }
                continue;
            };
            let old = c.limit.load(Ordering::Relaxed);
            if q.limit != old {
                c.limit.store(q.limit, Ordering::Relaxed);
                c.bucket.set_limit(0, q.limit, now);
                if q.limit > old {
                    c.bucket.adjust((q.limit - old) as i64);
                }
            }
            let (start, end) = bounds(q.period, q.offset, today);
            if start != qt.period {
                // The period ended: its last counts go to its last day.
                if qt.pending != 0 {
                    let (_, old_end) = bounds(q.period, q.offset, qt.period);
                    batch.push(count(c, qt.period, old_end, old_end - 1, qt.pending));
                    keys.push((*k, Some((start, q.limit))));
                } else {
                    roll(c, qt, start, q.limit);
                }
                continue;
            }
            if qt.pending != 0 || refresh || finishing {
                batch.push(count(c, start, end, today, qt.pending));
                keys.push((*k, None));
            }
        }
        for k in gone {
            map.remove(&k);
            self.quotas.remove(&k);
        }
        if batch.is_empty() {
            return;
        }
        let result = {
            let mut store = limiter.store.lock().unwrap_or_else(|e| e.into_inner());
            match store.as_mut() {
                Some(s) => s.sync(&batch),
                None => Err("no quota store is open".to_owned()),
            }
        };
        match result {
            Ok(totals) => {
                for (((k, rolled), c), total) in keys.iter().zip(&batch).zip(totals) {
                    let (Some(qt), Some(counter)) = (self.quotas.get_mut(k), map.get(k)) else {
                        continue;
                    };
                    let sent = c.delta;
                    if let Some((start, limit)) = rolled {
                        qt.pending -= sent;
                        roll(counter, qt, *start, *limit);
                        continue;
                    }
                    // What other nodes counted since our last sync.
                    let others = total as i64 - (qt.total as i64 + sent);
                    if others != 0 {
                        counter.bucket.adjust(-others);
                    }
                    qt.total = total;
                    qt.pending -= sent;
                }
            }
            Err(e) => {
                if self
                    .reported
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
                {
                    eprintln!("tollgate: quota store: {e}; counts are kept and sent again");
                    self.reported = Some(Instant::now());
                }
            }
        }
        self.quotas.retain(|k, _| map.contains_key(k));
    }
}

fn count(c: &super::limiter::QuotaCounter, period: i64, end: i64, day: i64, delta: i64) -> Count {
    Count {
        plan: c.plan.to_string(),
        key: c.key.to_string(),
        period,
        period_end: end,
        day,
        delta,
    }
}

/// Start counting the period that starts `start`: a full pool.
fn roll(c: &super::limiter::QuotaCounter, qt: &mut QuotaTrack, start: i64, limit: u64) {
    c.period.store(start, Ordering::Relaxed);
    c.bucket.reset(limit);
    qt.period = start;
    qt.total = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::bucket::LocalBucket;
    use crate::limit::keys::KeyHash;
    use crate::limit::plan::scope;
    use crate::limit::store::Store;
    use std::sync::Mutex;

    /// A store shared by "other nodes": it adds `others` to every total.
    #[derive(Default)]
    struct Fake {
        totals: HashMap<(String, String, i64), u64>,
        others: Arc<Mutex<u64>>,
        batches: Arc<Mutex<Vec<Vec<Count>>>>,
    }

    impl Store for Fake {
        fn sync(&mut self, batch: &[Count]) -> Result<Vec<u64>, String> {
            self.batches.lock().unwrap().push(batch.to_vec());
            let others = std::mem::take(&mut *self.others.lock().unwrap());
            Ok(batch
                .iter()
                .map(|c| {
                    let t = self
                        .totals
                        .entry((c.plan.clone(), c.key.clone(), c.period))
                        .or_default();
                    *t = (*t as i64 + c.delta + others as i64) as u64;
                    *t
                })
                .collect())
        }
        fn usage(&mut self, _: &str, _: &str, _: i64, _: i64) -> Result<Vec<u64>, String> {
            Ok(Vec::new())
        }
        fn describe(&self) -> String {
            "fake".into()
        }
        fn shared(&self) -> bool {
            true
        }
    }

    type Batches = Arc<Mutex<Vec<Vec<Count>>>>;

    fn limiter() -> (Arc<Limiter>, Arc<Mutex<u64>>, Batches) {
        let dir = std::env::temp_dir().join(format!("tollgate-rec-{}", std::process::id()));
        let yaml = format!(
            "listeners: [{{name: m, address: 127.0.0.1:0}}]\nstate_dir: {}\nquota_store: redis://127.0.0.1:1\nusage_plans:\n  - name: p\n    quota: {{limit: 10, period: DAY}}\n    api_stages: [{{api: a, stage: s}}]\napis:\n  - name: a\n    stages: [s]\n    routes: [{{route: GET /x, integration: {{type: mock}}}}]\n",
            dir.display()
        );
        let gw = crate::config::load_str("t.yaml", &yaml).unwrap();
        let l = Arc::new(Limiter::new(&gw, 1).unwrap());
        l.prepare(&gw, 1);
        let fake = Fake::default();
        let (others, batches) = (fake.others.clone(), fake.batches.clone());
        *l.store.lock().unwrap() = Some(Box::new(fake));
        (l, others, batches)
    }

    fn pool(l: &Limiter) -> LocalBucket {
        let hash = KeyHash::of(b"k");
        let k = DynKey {
            key: hash.short(),
            scope: scope(&["quota", "p"]),
        };
        let q = l.current().unwrap().plans[0].quota.unwrap().1;
        LocalBucket::new(l.quota_bucket(k, "p", &hash, q), 0)
    }

    #[test]
    fn counts_sync_and_other_nodes_use_the_same_quota() {
        let (l, others, batches) = limiter();
        let local = pool(&l);
        let today = day_of(unix_now());
        let mut s = State::default();
        for _ in 0..3 {
            assert!(local.take(0).admitted());
        }
        s.round(&l, 10, 10, today, false);
        assert_eq!(batches.lock().unwrap().last().unwrap()[0].delta, 3);
        assert_eq!(local.credit(), 0);
        // Another node counts 5: this one learns at the tenth round's refresh.
        *others.lock().unwrap() = 5;
        for r in 2..=10 {
            s.round(&l, r * 10, 10, today, false);
        }
        let admitted = (0..10).filter(|_| local.take(200).admitted()).count();
        assert_eq!(admitted, 2, "10 - 3 - 5 left");
    }

    #[test]
    fn a_new_period_flushes_the_old_one_and_refills() {
        let (l, _, batches) = limiter();
        let local = pool(&l);
        let today = day_of(unix_now());
        let mut s = State::default();
        let n = (0..20).filter(|_| local.take(0).admitted()).count();
        assert_eq!(n, 10);
        s.round(&l, 10, 10, today, false);
        // Midnight (UTC): the counts so far went to the old day; a full quota.
        local.hand_back();
        local.unblock();
        s.round(&l, 20, 10, today + 1, false);
        s.round(&l, 30, 10, today + 1, false);
        let n = (0..20).filter(|_| local.take(40).admitted()).count();
        assert_eq!(n, 10);
        s.round(&l, 50, 10, today + 1, false);
        let b = batches.lock().unwrap();
        assert!(
            b.iter()
                .flatten()
                .any(|c| c.period == today && c.delta == 10)
        );
        assert!(
            b.iter()
                .flatten()
                .any(|c| c.period == today + 1 && c.delta == 10)
        );
    }
}
