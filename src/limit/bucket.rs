//! Token buckets shared by every core, spent through per-core leases.
//!
//! A [`SharedBucket`] is one limit (a rate in requests per second and a
//! burst, or a quota's remaining count): a pool of tokens in atomics,
//! refilled from the time that passed (`now` is an input, in nanoseconds of
//! one monotonic clock). A core never spends from the pool directly: its
//! [`LocalBucket`] leases a small batch of whole tokens (one atomic
//! read-modify-write) and spends them one by one in a `Cell`, without
//! atomics. When the batch is gone it leases the next one; when the pool has
//! none, the request is throttled and told how long until a token returns.
//!
//! Each core has a [`Lane`] in the bucket: how many tokens it leased (the
//! demand the reconciler reads), the lease size the reconciler chose for it,
//! and a recall flag the reconciler raises when the core sits on credit it
//! does not use; the core then hands its credit back at its next service
//! turn ([`LocalBucket::service`]).
//!
//! Guarantees: a limit is never split as limit/N per core — any one core can
//! take the whole pool. Tokens are created only by refill (capped at the
//! burst) and moved between pool and leases, never duplicated, so over any
//! window a bucket admits at most `burst + rate × window` plus the credit
//! that was out on leases when the pool was full (at most the sum of the
//! cores' lease sizes, which the reconciler keeps to about 2 ms of the rate).
//! Refill does not drift: the remainder of a refill that did not make a whole
//! nano-token stays in the clock stamp.
//!
//! Does not: read clocks, sleep, or decide which limits apply (see `plan`).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Tokens are counted in billionths: a whole rate (requests per second)
/// refills an exact number of them every nanosecond, so refill never rounds.
pub const ONE: i64 = 1_000_000_000;
const NANOS: u128 = 1_000_000_000;
/// The longest a core refuses by itself after the pool said no (10 ms).
const BLOCK_AT_MOST: u64 = 10_000_000;

/// What a bucket answers to a request for one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// A token was spent: the request may go on.
    Admit,
    /// No token: the next one is expected after `wait_ns` nanoseconds
    /// (`u64::MAX` when the bucket never refills, as a quota until its next period).
    Throttle { wait_ns: u64 },
}

impl Decision {
    pub fn admitted(self) -> bool {
        self == Decision::Admit
    }
}

/// One core's view of a bucket, for the reconciler. Written by the owning
/// core only (plain stores), except `batch` and `recall` (the reconciler).
/// Not padded to a cache line: a core writes its lane once per lease, not
/// per request, and per-key buckets (one per API key and limit) stay small
/// (16 bytes a core).
#[derive(Debug, Default)]
pub struct Lane {
    /// Tokens leased by this core, net of what it handed back (cumulative).
    leased: AtomicU64,
    /// Whole tokens per lease, as the reconciler last sized it.
    batch: AtomicU32,
    /// The reconciler asks the core to hand back its unspent credit.
    recall: AtomicBool,
    /// The core holds leased credit it has not spent or handed back.
    holding: AtomicBool,
}

impl Lane {
    /// Tokens this core leased, net of returns.
    pub fn leased(&self) -> u64 {
        self.leased.load(Ordering::Acquire)
    }

    pub fn batch(&self) -> u32 {
        self.batch.load(Ordering::Relaxed)
    }

    pub fn holding(&self) -> bool {
        self.holding.load(Ordering::Acquire)
    }

    /// Raise the recall flag (the reconciler).
    pub fn recall(&self) {
        self.recall.store(true, Ordering::Release);
    }

    /// Set the lease size (the reconciler); at least 1.
    pub fn set_batch(&self, n: u32) {
        self.batch.store(n.max(1), Ordering::Relaxed);
    }
}

/// A limit's pool of tokens, shared by all cores.
#[derive(Debug)]
pub struct SharedBucket {
    /// Nano-tokens in the pool. May go below 0 only through [`SharedBucket::adjust`].
    tokens: AtomicI64,
    /// The monotonic time (ns) up to which refill has been credited.
    stamp: AtomicU64,
    /// Refill in nano-tokens per second (0: never refills, as a quota).
    rate: AtomicU64,
    /// The pool's cap, in nano-tokens (the burst, or the quota's limit).
    capacity: AtomicI64,
    lanes: Box<[Lane]>,
}

impl SharedBucket {
    /// A full bucket refilled at `rate_milli`/1000 tokens per second up to
    /// `burst` tokens, with one lane per core.
    pub fn new(cores: usize, rate_milli: u64, burst: u64, now: u64) -> SharedBucket {
        let b = SharedBucket {
            tokens: AtomicI64::new(to_units(burst)),
            stamp: AtomicU64::new(now),
            rate: AtomicU64::new(rate_milli.saturating_mul(1_000_000)),
            capacity: AtomicI64::new(to_units(burst)),
            lanes: (0..cores.max(1)).map(|_| Lane::default()).collect(),
        };
        b.size_lanes_evenly();
        b
    }

    /// A pool that never refills: `capacity` tokens of which `remaining` are
    /// left (a quota for the current period).
    pub fn pool(cores: usize, capacity: u64, remaining: u64, now: u64) -> SharedBucket {
        let b = SharedBucket::new(cores, 0, capacity, now);
        b.tokens
            .store(to_units(remaining.min(capacity)), Ordering::Release);
        b
    }

    fn size_lanes_evenly(&self) {
        let each = (self.budget(0) / self.lanes.len() as u64).max(1);
        for l in self.lanes.iter() {
            l.set_batch(u32::try_from(each).unwrap_or(u32::MAX));
        }
    }

    /// Whole tokens that may be out on leases at once, for a demand of
    /// `demand` tokens per second: about 2 ms of the rate (or of the demand,
    /// when that is higher, as for quotas), at most half of what the pool
    /// holds (so leases shrink as a quota runs out).
    pub fn budget(&self, demand: u64) -> u64 {
        let rate = self.rate.load(Ordering::Relaxed) / ONE as u64;
        let held = self
            .tokens
            .load(Ordering::Relaxed)
            .clamp(0, self.capacity.load(Ordering::Relaxed))
            / ONE;
        (rate.max(demand) / 500).clamp(1, (held as u64 / 2).max(1))
    }

    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// Whole tokens in the pool now (not counting leases).
    pub fn available(&self) -> i64 {
        self.tokens.load(Ordering::Acquire).div_euclid(ONE)
    }

    /// Tokens per second × 1000.
    pub fn rate_milli(&self) -> u64 {
        self.rate.load(Ordering::Relaxed) / 1_000_000
    }

    /// The cap in whole tokens.
    pub fn capacity(&self) -> u64 {
        (self.capacity.load(Ordering::Relaxed).max(0) / ONE) as u64
    }

    /// Credit the time up to `now` at the current rate, capped at the capacity.
    pub fn refill(&self, now: u64) {
        let rate = self.rate.load(Ordering::Relaxed);
        let last = self.stamp.load(Ordering::Acquire);
        if now <= last {
            return;
        }
        if rate == 0 {
            // Nothing accrues; keep the stamp current for a later rate change.
            let _ = self
                .stamp
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed);
            return;
        }
        let dt = u128::from(now - last);
        let add = u128::from(rate) * dt / NANOS;
        if add == 0 {
            return;
        }
        // Advance the stamp only by the time the whole nano-tokens stand for
        // (rounded down: the remainder, under a nanosecond, is credited later).
        let used = (add * NANOS / u128::from(rate)).min(dt) as u64;
        if self
            .stamp
            .compare_exchange(last, last + used, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return; // another core credited this time
        }
        let add = i64::try_from(add).unwrap_or(i64::MAX);
        let cap = self.capacity.load(Ordering::Relaxed);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t < cap).then(|| t.saturating_add(add).min(cap))
            });
    }

    /// Lease up to `want` whole tokens (at least one): how many were taken,
    /// or how long until one is there.
    pub fn lease(&self, now: u64, want: u32) -> Result<u32, u64> {
        self.refill(now);
        let want = i64::from(want.max(1));
        match self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t >= ONE).then(|| t - want.min(t / ONE) * ONE)
            }) {
            Ok(before) => Ok(want.min(before / ONE) as u32),
            Err(t) => Err(self.wait_for(ONE - t)),
        }
    }

    /// Nanoseconds until `deficit` nano-tokens have accrued.
    fn wait_for(&self, deficit: i64) -> u64 {
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return u64::MAX;
        }
        let ns = (deficit.max(0) as u128 * NANOS).div_ceil(u128::from(rate));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Put `n` whole tokens back into the pool (never above the capacity).
    pub fn give_back(&self, n: u32) {
        let add = i64::from(n) * ONE;
        let cap = self.capacity.load(Ordering::Relaxed);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(if t >= cap { t } else { (t + add).min(cap) })
            });
    }

    /// Add `delta` whole tokens (negative: remove), uncapped below: the
    /// reconciler's correction for what other gateway nodes counted.
    pub fn adjust(&self, delta: i64) {
        let cap = self.capacity.load(Ordering::Relaxed);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(delta.saturating_mul(ONE)).min(cap))
            });
    }

    /// Set the pool to `remaining` whole tokens (a quota's new period).
    pub fn reset(&self, remaining: u64) {
        self.tokens.store(to_units(remaining), Ordering::Release);
    }

    /// A new rate and burst (a reload): time until `now` is credited at the
    /// old rate first; the pool keeps its tokens up to the new cap.
    pub fn set_limit(&self, rate_milli: u64, burst: u64, now: u64) {
        self.refill(now);
        self.rate
            .store(rate_milli.saturating_mul(1_000_000), Ordering::Relaxed);
        let cap = to_units(burst);
        self.capacity.store(cap, Ordering::Relaxed);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                (t > cap).then_some(cap)
            });
    }
}

fn to_units(tokens: u64) -> i64 {
    i64::try_from(tokens)
        .unwrap_or(i64::MAX)
        .saturating_mul(ONE)
}

/// One core's lease on a [`SharedBucket`]: credit spent without atomics.
/// Dropping it hands unspent credit back to the pool.
#[derive(Debug)]
pub struct LocalBucket {
    shared: Arc<SharedBucket>,
    lane: usize,
    credit: Cell<u32>,
    /// After a refusal: no token can be in the pool before this time (unless
    /// credit is handed back), so requests until then are refused here,
    /// without touching the pool's cache line.
    blocked_until: Cell<u64>,
}

impl LocalBucket {
    /// The lease of core `lane` (clamped to the bucket's lanes).
    pub fn new(shared: Arc<SharedBucket>, lane: usize) -> LocalBucket {
        let lane = lane.min(shared.lanes.len() - 1);
        LocalBucket {
            shared,
            lane,
            credit: Cell::new(0),
            blocked_until: Cell::new(0),
        }
    }

    pub fn shared(&self) -> &Arc<SharedBucket> {
        &self.shared
    }

    /// Unspent leased credit.
    pub fn credit(&self) -> u32 {
        self.credit.get()
    }

    /// Spend one token at `now`.
    #[inline]
    pub fn take(&self, now: u64) -> Decision {
        self.take_lazy(|| now)
    }

    /// [`take`](Self::take), asking for the time only when the lease is
    /// spent (most requests spend leased credit and need no clock).
    #[inline]
    pub fn take_lazy(&self, now: impl FnOnce() -> u64) -> Decision {
        let c = self.credit.get();
        if c > 0 {
            self.credit.set(c - 1);
            return Decision::Admit;
        }
        let now = now();
        let blocked = self.blocked_until.get();
        if now < blocked {
            return Decision::Throttle {
                wait_ns: blocked - now,
            };
        }
        self.lease(now)
    }

    #[cold]
    fn lease(&self, now: u64) -> Decision {
        let lane = &self.shared.lanes[self.lane];
        match self.shared.lease(now, lane.batch()) {
            Ok(n) => {
                lane.leased.store(
                    lane.leased.load(Ordering::Relaxed) + u64::from(n),
                    Ordering::Release,
                );
                lane.holding.store(n > 1, Ordering::Release);
                self.credit.set(n - 1);
                Decision::Admit
            }
            Err(wait_ns) => {
                // At most one reconcile interval: a quota's pool (which never
                // refills) can be corrected by the reconciler.
                self.blocked_until
                    .set(now.saturating_add(wait_ns.min(BLOCK_AT_MOST)));
                Decision::Throttle { wait_ns }
            }
        }
    }

    /// Undo one [`take`](Self::take) whose request another limit refused.
    pub fn refund(&self) {
        self.credit.set(self.credit.get() + 1);
    }

    /// Forget a refusal remembered by [`take`](Self::take) (a quota's new period).
    pub fn unblock(&self) {
        self.blocked_until.set(0);
    }

    /// The core's service turn: hand credit back if the reconciler asked.
    pub fn service(&self) {
        let lane = &self.shared.lanes[self.lane];
        if lane.recall.load(Ordering::Acquire) {
            lane.recall.store(false, Ordering::Release);
            self.hand_back();
        }
    }

    /// Return all unspent credit to the pool.
    pub fn hand_back(&self) {
        let c = self.credit.replace(0);
        let lane = &self.shared.lanes[self.lane];
        lane.holding.store(false, Ordering::Release);
        if c > 0 {
            lane.leased.store(
                lane.leased
                    .load(Ordering::Relaxed)
                    .saturating_sub(u64::from(c)),
                Ordering::Release,
            );
            self.shared.give_back(c);
        }
    }

    /// Move `other`'s credit here (a reload keeps a lease on a surviving bucket).
    pub fn adopt(&self, other: &LocalBucket) {
        if Arc::ptr_eq(&self.shared, &other.shared) && self.lane == other.lane {
            self.credit.set(self.credit.get() + other.credit.replace(0));
        }
    }
}

impl Drop for LocalBucket {
    fn drop(&mut self) {
        self.hand_back();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    #[test]
    fn starts_full_and_refills_at_the_rate() {
        let b = Arc::new(SharedBucket::new(1, 10_000, 5, 0)); // 10/s, burst 5
        let l = LocalBucket::new(b.clone(), 0);
        let admitted = (0..10).filter(|_| l.take(0).admitted()).count();
        assert_eq!(admitted, 5);
        // 10/s: one token per 100 ms.
        assert_eq!(l.take(50 * MS), Decision::Throttle { wait_ns: 50 * MS });
        assert!(l.take(100 * MS).admitted());
        assert!(!l.take(100 * MS).admitted());
        // A long pause refills only up to the burst.
        let n = (0..20).filter(|_| l.take(100 * S).admitted()).count();
        assert_eq!(n, 5);
    }

    #[test]
    fn fractional_rates_lose_nothing_to_rounding() {
        // 0.3 requests per second, polled about every 100 µs for 100 s.
        // Burst 2 so the cap never clips a refill.
        let b = SharedBucket::new(1, 300, 2, 0);
        let _ = b.lease(0, 2);
        let mut got = 0;
        let mut t = 0;
        while t <= 100 * S + MS {
            t += 99_997; // an odd step, so refills leave remainders
            if b.lease(t, 1).is_ok() {
                got += 1;
            }
        }
        assert_eq!(got, 30);
    }

    #[test]
    fn one_core_can_take_the_whole_limit() {
        let b = Arc::new(SharedBucket::new(8, 1_000_000, 100, 0));
        let l = LocalBucket::new(b.clone(), 3);
        let n = (0..1000).filter(|_| l.take(0).admitted()).count();
        assert_eq!(n, 100);
    }

    #[test]
    fn drop_and_hand_back_return_credit() {
        let b = Arc::new(SharedBucket::new(2, 0, 100, 0));
        b.lanes()[0].set_batch(10);
        let l = LocalBucket::new(b.clone(), 0);
        assert!(l.take(0).admitted());
        assert_eq!(l.credit(), 9);
        assert_eq!(b.available(), 90);
        assert_eq!(b.lanes()[0].leased(), 10);
        drop(l);
        assert_eq!(b.available(), 99);
        assert_eq!(b.lanes()[0].leased(), 1);
    }

    #[test]
    fn recall_is_served_at_the_service_turn() {
        let b = Arc::new(SharedBucket::new(2, 0, 100, 0));
        b.lanes()[1].set_batch(20);
        let l = LocalBucket::new(b.clone(), 1);
        assert!(l.take(0).admitted());
        assert!(b.lanes()[1].holding());
        b.lanes()[1].recall();
        l.service();
        assert_eq!(l.credit(), 0);
        assert_eq!(b.available(), 99);
        assert!(!b.lanes()[1].holding());
    }

    #[test]
    fn set_limit_credits_old_rate_then_caps() {
        let b = SharedBucket::new(1, 1_000_000, 1000, 0); // 1000/s
        assert_eq!(b.lease(0, 1000), Ok(1000));
        b.set_limit(10_000, 5, 100 * MS); // 100 ms at 1000/s = 100 tokens, capped at 5
        assert_eq!(b.available(), 5);
        assert_eq!(b.rate_milli(), 10_000);
    }

    #[test]
    fn quota_pool_never_refills_and_adjusts() {
        let b = SharedBucket::pool(1, 10, 3, 0);
        assert_eq!(b.lease(0, 5), Ok(3));
        assert_eq!(b.lease(10 * S, 1), Err(u64::MAX));
        b.adjust(2);
        assert_eq!(b.available(), 2);
        b.adjust(-5);
        assert_eq!(b.available(), -3);
        b.reset(10);
        assert_eq!(b.available(), 10);
    }

    #[test]
    fn refund_restores_a_token() {
        let b = Arc::new(SharedBucket::new(1, 0, 1, 0));
        let l = LocalBucket::new(b, 0);
        assert!(l.take(0).admitted());
        assert!(!l.take(0).admitted());
        l.refund();
        assert!(l.take(0).admitted());
    }
}
