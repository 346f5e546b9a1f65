//! The process-wide limiter: what outlives one configuration. The static
//! buckets by key, the plan of each published configuration, per-key
//! buckets (usage plan throttles and quota pools, created on a key's first
//! request), the quota store and the API keys added at runtime.
//!
//! Workers read it without locks on the request path: plans are handed
//! over once per reload, per-key buckets are found in lock-free maps
//! (papaya) on a key's first request per core and kept in the core's own
//! map afterwards. The mutexes here guard control-side state (the static
//! bucket registry, the published plans, the store, runtime keys) and are
//! taken by the control thread, the reconciler and the admin API only.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::bucket::SharedBucket;
use super::keys::{KeyEntry, KeyHash, KeyTable, PassThrough};
use super::manage::RuntimeKeys;
use super::period::{bounds, day_of};
use super::plan::{CoreLimits, DynKey, Plan};
use super::redis_store::RedisStore;
use super::store::{FileStore, Store};
use crate::config::{Gateway, Quota, QuotaState, QuotaStore, Throttle};

/// A quota pool for one key in one usage plan, and what the reconciler
/// needs to count it.
#[derive(Debug)]
pub struct QuotaCounter {
    pub bucket: Arc<SharedBucket>,
    pub plan: Box<str>,
    /// The key's id (hex).
    pub key: Box<str>,
    /// First day of the period the pool counts.
    pub period: AtomicI64,
    /// The quota's limit the pool was sized for.
    pub limit: AtomicU64,
    /// The store's total for the period when the pool was made.
    pub base: u64,
}

/// See the module docs.
pub struct Limiter {
    pub cores: usize,
    /// Fixed for the process (a reload that changes it is refused).
    pub state: QuotaState,
    registry: Mutex<HashMap<String, Arc<SharedBucket>>>,
    /// The plans of the last few generations (workers ask by generation).
    plans: Mutex<Vec<Arc<Plan>>>,
    pub(crate) dynamic: papaya::HashMap<DynKey, Arc<SharedBucket>, PassThrough>,
    pub(crate) quotas: papaya::HashMap<DynKey, Arc<QuotaCounter>, PassThrough>,
    /// Period totals the file store held when it opened: (plan, key, period) → total.
    initial: OnceLock<HashMap<(String, String, i64), u64>>,
    pub(crate) store: Mutex<Option<Box<dyn Store>>>,
    pub(crate) runtime: Mutex<RuntimeKeys>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("cores", &self.cores)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Limiter {
    /// The limiter for a process with `cores` workers, first serving `gw`.
    /// Opens the quota store now when `gw` has quotas (so a broken
    /// `state_dir` stops the start), and reads runtime API keys.
    pub fn new(gw: &Gateway, cores: usize) -> std::io::Result<Limiter> {
        let state = gw.quota_state.clone();
        let runtime = RuntimeKeys::load(&PathBuf::from(&state.state_dir))?;
        let limiter = Limiter {
            cores: cores.max(1),
            state,
            registry: Mutex::default(),
            plans: Mutex::default(),
            dynamic: papaya::HashMap::with_hasher(PassThrough::default()),
            quotas: papaya::HashMap::with_hasher(PassThrough::default()),
            initial: OnceLock::new(),
            store: Mutex::new(None),
            runtime: Mutex::new(runtime),
        };
        if gw.usage_plans.iter().any(|p| p.quota.is_some()) {
            limiter.open_store().map_err(std::io::Error::other)?;
        }
        Ok(limiter)
    }

    /// Open the quota store if it is not open yet.
    pub fn open_store(&self) -> Result<(), String> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if store.is_some() {
            return Ok(());
        }
        let opened: Box<dyn Store> = match &self.state.store {
            QuotaStore::File => {
                let fs = FileStore::open(&PathBuf::from(&self.state.state_dir))
                    .map_err(|e| e.to_string())?;
                let _ = self.initial.set(fs.totals());
                Box::new(fs)
            }
            QuotaStore::Redis(url) => {
                let _ = self.initial.set(HashMap::new());
                Box::new(RedisStore::new(url)?)
            }
        };
        eprintln!("tollgate: quota store: {}", opened.describe());
        *store = Some(opened);
        Ok(())
    }

    /// Build and keep the plan of `gw` for `generation` (before it is
    /// published): static buckets carried over by key, per-key buckets
    /// given their new limits, the key table rebuilt with runtime keys.
    pub fn prepare(&self, gw: &Gateway, generation: u64) -> Arc<Plan> {
        if gw.usage_plans.iter().any(|p| p.quota.is_some())
            && let Err(e) = self.open_store()
        {
            eprintln!("tollgate: quota store: {e}; quotas count in memory until it opens");
        }
        let now = super::now_ns();
        // Held until the plan is kept, so a key the admin API adds meanwhile
        // is either read here or added to this plan's table too.
        let runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        let keys = key_table(gw, &runtime);
        let plan = {
            let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            Plan::build(gw, generation, self.cores, &mut registry, keys, now)
        };
        // Per-key throttles: new limits apply at once; gone ones are dropped.
        let dynamic = self.dynamic.pin();
        let mut gone = Vec::new();
        for (k, b) in dynamic.iter() {
            match plan.scopes.get(&k.scope) {
                Some(t) if b.rate_milli() != t.rate_milli || b.capacity() != t.burst => {
                    b.set_limit(t.rate_milli, t.burst, now);
                }
                Some(_) => {}
                None => gone.push(*k),
            }
        }
        for k in gone {
            dynamic.remove(&k);
        }
        let plan = Arc::new(plan);
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans.push(plan.clone());
        if plans.len() > 4 {
            plans.remove(0);
        }
        drop(runtime);
        plan
    }

    /// The plans kept (the newest last).
    pub fn plans(&self) -> Vec<Arc<Plan>> {
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The plan prepared for `generation` (the newest when it is gone).
    pub fn plan(&self, generation: u64) -> Option<Arc<Plan>> {
        let plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans
            .iter()
            .rev()
            .find(|p| p.generation == generation)
            .or(plans.last())
            .cloned()
    }

    /// The newest plan.
    pub fn current(&self) -> Option<Arc<Plan>> {
        self.plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }

    /// A worker's leases for `generation`.
    pub fn core_limits(
        self: &Arc<Self>,
        generation: u64,
        lane: usize,
        previous: Option<&CoreLimits>,
    ) -> CoreLimits {
        match self.plan(generation) {
            Some(plan) => CoreLimits::new(plan, self.clone(), lane, previous),
            None => CoreLimits::none(),
        }
    }
}

/// The key table of `gw`: its keys, then runtime additions and changes.
fn key_table(gw: &Gateway, runtime: &RuntimeKeys) -> KeyTable {
    let table = KeyTable::with_capacity(gw.api_keys.len() + runtime.len());
    for k in &gw.api_keys {
        table.insert(
            KeyHash(k.hash),
            KeyEntry {
                name: k.name.as_str().into(),
                enabled: k.enabled,
                plans: k.usage_plans.iter().map(|&p| p as u32).collect(),
                runtime: false,
            },
        );
    }
    runtime.apply(&table, gw);
    table
}

impl Limiter {
    /// The bucket of a key's usage plan throttle, made on first use.
    pub fn key_bucket(&self, k: DynKey, t: Throttle) -> Arc<SharedBucket> {
        let map = self.dynamic.pin();
        map.get_or_insert_with(k, || {
            Arc::new(SharedBucket::new(
                self.cores,
                t.rate_milli,
                t.burst,
                super::now_ns(),
            ))
        })
        .clone()
    }

    /// The quota pool of a key in a usage plan, made on first use with what
    /// the store counted for the current period.
    pub fn quota_bucket(
        &self,
        k: DynKey,
        plan: &str,
        hash: &KeyHash,
        q: Quota,
    ) -> Arc<SharedBucket> {
        let map = self.quotas.pin();
        map.get_or_insert_with(k, || {
            let key = hash.id();
            let (period, _) = bounds(q.period, q.offset, day_of(unix_now()));
            let base = self
                .initial
                .get()
                .and_then(|m| m.get(&(plan.to_owned(), key.clone(), period)))
                .copied()
                .unwrap_or(0);
            Arc::new(QuotaCounter {
                bucket: Arc::new(SharedBucket::pool(
                    self.cores,
                    q.limit,
                    q.limit.saturating_sub(base),
                    super::now_ns(),
                )),
                plan: plan.into(),
                key: key.into(),
                period: AtomicI64::new(period),
                limit: AtomicU64::new(q.limit),
                base,
            })
        })
        .bucket
        .clone()
    }

    /// The quota counter of (plan, key), if the key was used.
    pub fn quota_counter(&self, plan: &str, hash: &KeyHash) -> Option<Arc<QuotaCounter>> {
        let k = DynKey {
            key: hash.short(),
            scope: super::plan::scope(&["quota", plan]),
        };
        self.quotas.pin().get(&k).cloned()
    }

    /// Period of every live quota counter (for tests and status).
    pub fn quota_periods(&self) -> Vec<(String, String, i64)> {
        self.quotas
            .pin()
            .iter()
            .map(|(_, c)| {
                (
                    c.plan.to_string(),
                    c.key.to_string(),
                    c.period.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}
