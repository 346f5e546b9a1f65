//! The reconciler's arithmetic for one bucket, run by the control thread
//! every reconcile interval (sans-IO: `now` and the interval are inputs).
//!
//! Each step reads how many tokens every core leased since the last step
//! (its [`Lane`](super::bucket::Lane)), and from that:
//!
//! * **demand** per core, smoothed (half of each new interval's rate, half
//!   of the old estimate), and the bucket's total;
//! * **lease sizes**: the bucket's lease budget (about 2 ms of its rate, see
//!   [`SharedBucket::budget`]) shared out by demand, at least one token each,
//!   so a busy core takes big leases (few atomics) and an idle one small
//!   leases (little stranded credit);
//! * **idle credit**: a core that leased nothing for [`IDLE_ROUNDS`] steps
//!   but still holds credit is asked to hand it back (the recall flag; the
//!   core returns it at its next service turn);
//! * the **net count** leased since the last step, which for a quota is the
//!   usage to add to the store.
//!
//! Guarantees: a step only moves lease sizes and recall flags and refills the
//! pool from time; it never creates or removes tokens. Does not: touch the
//! store or decide periods (see `quota`).

use super::bucket::SharedBucket;

/// Steps without a lease after which a core's held credit is recalled.
pub const IDLE_ROUNDS: u32 = 2;

/// What the reconciler remembers of one bucket between steps.
#[derive(Clone, Debug, Default)]
pub struct BucketTrack {
    /// Each lane's `leased` at the last step.
    last: Vec<u64>,
    /// Smoothed demand per lane, tokens per second.
    demand: Vec<f64>,
    /// Steps since each lane last leased.
    idle: Vec<u32>,
}

impl BucketTrack {
    /// Smoothed demand of the whole bucket, tokens per second.
    pub fn demand(&self) -> f64 {
        self.demand.iter().sum()
    }

    /// One reconcile step at `now`, `dt_ns` after the previous one. Returns
    /// the tokens leased (net of returns) since the previous step.
    pub fn step(&mut self, bucket: &SharedBucket, now: u64, dt_ns: u64) -> i64 {
        bucket.refill(now);
        let lanes = bucket.lanes();
        if self.last.len() != lanes.len() {
            self.last.resize(lanes.len(), 0);
            self.demand.resize(lanes.len(), 0.0);
            self.idle.resize(lanes.len(), 0);
        }
        let secs = (dt_ns.max(1)) as f64 / 1e9;
        let mut net = 0i64;
        for (i, lane) in lanes.iter().enumerate() {
            let now_leased = lane.leased();
            let d = now_leased as i64 - self.last[i] as i64;
            self.last[i] = now_leased;
            net += d;
            let rate = d.max(0) as f64 / secs;
            self.demand[i] = 0.5 * self.demand[i] + 0.5 * rate;
            if d > 0 {
                self.idle[i] = 0;
            } else {
                self.idle[i] = self.idle[i].saturating_add(1);
                if self.idle[i] >= IDLE_ROUNDS && lane.holding() {
                    lane.recall();
                }
            }
        }
        let total: f64 = self.demand.iter().sum();
        let budget = bucket.budget(total as u64);
        for (i, lane) in lanes.iter().enumerate() {
            let share = if total > 0.0 {
                (budget as f64 * self.demand[i] / total).round() as u64
            } else {
                budget / lanes.len() as u64
            };
            lane.set_batch(u32::try_from(share.clamp(1, budget)).unwrap_or(u32::MAX));
        }
        net
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::bucket::LocalBucket;
    use std::sync::Arc;

    const MS: u64 = 1_000_000;

    #[test]
    fn busy_core_gets_the_budget_idle_core_is_recalled() {
        // 100,000/s: a budget of 200 tokens.
        let b = Arc::new(SharedBucket::new(2, 100_000_000, 50_000, 0));
        let busy = LocalBucket::new(b.clone(), 0);
        let idle = LocalBucket::new(b.clone(), 1);
        assert!(idle.take(0).admitted());
        let held = idle.credit();
        assert!(held > 0);
        let mut track = BucketTrack::default();
        let mut t = 0;
        for _ in 0..5 {
            t += 10 * MS;
            for _ in 0..1000 {
                assert!(busy.take(t).admitted());
            }
            track.step(&b, t, 10 * MS);
            idle.service();
        }
        assert!(b.lanes()[0].batch() >= 195, "{}", b.lanes()[0].batch());
        assert_eq!(b.lanes()[1].batch(), 1);
        assert_eq!(idle.credit(), 0, "idle credit handed back");
    }

    #[test]
    fn step_reports_net_leases() {
        let b = Arc::new(SharedBucket::pool(1, 100, 100, 0));
        let l = LocalBucket::new(b.clone(), 0);
        let mut track = BucketTrack::default();
        for _ in 0..7 {
            assert!(l.take(0).admitted());
        }
        let leased = track.step(&b, 10 * MS, 10 * MS);
        assert_eq!(leased as u32, 7 + l.credit());
        l.hand_back();
        assert_eq!(track.step(&b, 20 * MS, 10 * MS), 7 - leased);
    }
}
