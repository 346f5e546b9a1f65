//! Throttling, API keys, usage plans and quotas.
//!
//! Sans-IO (`now` is an input, no clock, socket or file):
//!
//! * [`bucket`]: the token bucket arithmetic and the lease protocol between
//!   a limit's [`SharedBucket`] (atomics, one per limit) and each core's
//!   [`LocalBucket`] (a `Cell`, spent without atomics).
//! * [`reconcile`]: what the control thread's reconciler does to a bucket
//!   every interval: demand, lease sizes, idle credit recalled.
//! * [`period`]: quota periods (DAY, WEEK, MONTH with an offset, UTC).
//! * [`keys`]: the API key table (SHA-256 → key; lock-free reads).
//! * [`plan`]: which limits a request meets, and the pipeline's one check.
//!
//! Around them:
//!
//! * [`limiter`]: the process-wide state that outlives a reload (buckets by
//!   key, per-key buckets, the quota store, runtime keys).
//! * [`reconciler`]: the control-side thread that steps buckets and syncs
//!   quota counts every `reconcile_ms`.
//! * [`store`], [`redis_store`]: where quota counts are kept.
//! * [`manage`]: the admin API's key changes and usage reports.
//!
//! Everything here that decides takes `now` as an input; [`now_ns`] is the
//! one clock the server passes in (monotonic nanoseconds since the process's
//! first call), so a simulation can drive the same code on a virtual clock.

pub mod bucket;
pub mod keys;
pub mod limiter;
pub mod manage;
pub mod period;
pub mod plan;
pub mod reconcile;
pub mod reconciler;
pub mod redis_store;
pub mod store;

pub use bucket::{Decision, LocalBucket, SharedBucket};
pub use limiter::Limiter;
pub use plan::{CoreLimits, Plan, Refusal};
pub use reconcile::BucketTrack;

use std::sync::OnceLock;
use std::time::Instant;

/// Monotonic nanoseconds since the first call in this process.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
