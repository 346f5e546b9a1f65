//! Which limits apply to a request, and the one check the pipeline calls.
//!
//! A [`Plan`] is built by the control thread for each published
//! configuration: a slot per account, stage and stage-route throttle (each
//! a [`SharedBucket`] kept across reloads by its key, e.g. `stage/shop/prod`),
//! per route of each stage the slot that applies, the usage plans that cover
//! each stage, and the API key table. Each worker then builds its
//! [`CoreLimits`]: a [`LocalBucket`] per slot, and per API key (lazily, on
//! the key's first request on this core) a lease on the key's usage plan
//! throttle and quota, which live in the process-wide [`Limiter`] keyed by
//! key and plan, so they survive reloads too.
//!
//! [`CoreLimits::check`] runs API Gateway's order: API key (routes with
//! `api_key_required`), the key's usage plan quota, its usage plan throttle
//! (per route, else the plan's), the stage's throttle (the route's setting,
//! else the stage default), the account throttle. A refusal hands back what
//! earlier levels took, so a refused request costs no level a token.
//!
//! Guarantees: a request whose key and limits were seen before on this core
//! allocates nothing and takes no lock (one SHA-256 and one map probe per
//! keyed request; a `Cell` per level otherwise).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::bucket::{Decision, LocalBucket, SharedBucket};
use super::keys::{KeyHash, KeyTable, PassThrough};
use super::limiter::Limiter;
use crate::config::{Gateway, Quota, Throttle};
use crate::route::Matched;

/// A per-key limit: the key (first 16 bytes of its hash) and what it limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynKey {
    pub key: [u8; 16],
    /// A hash of the limit's names (usage plan, and API, stage and route for
    /// a per-route throttle), stable across reloads.
    pub scope: u64,
}

impl Hash for DynKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let k = u64::from_le_bytes(self.key[..8].try_into().expect("8 bytes"));
        state.write_u64(k ^ self.scope.rotate_left(17));
    }
}

/// FNV-1a over length-prefixed parts: a scope id from names.
pub fn scope(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in (p.len() as u64).to_le_bytes().iter().chain(p.as_bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Missing, unknown or disabled API key (403 Forbidden).
    InvalidKey,
    /// The key's usage plan quota is used up (429 Limit Exceeded).
    QuotaExceeded,
    /// A throttle refused: 429 Too Many Requests, `Retry-After` seconds.
    Throttled { retry_after: u32 },
}

/// One usage plan's per-key limits.
#[derive(Debug)]
pub struct PlanLimits {
    pub name: Box<str>,
    pub throttle: Option<(u64, Throttle)>,
    pub quota: Option<(u64, Quota)>,
}

/// The limits of one API stage.
#[derive(Debug, Default)]
pub struct StageLimits {
    /// By deployment, by route: the slot of the stage-level throttle.
    pub routes: Vec<Vec<Option<u32>>>,
    /// Usage plans that cover the stage: the plan, and by deployment, by
    /// route, the plan's per-route throttle.
    pub plans: Vec<(u32, RouteThrottles)>,
}

/// By deployment, by route: a per-route throttle (its scope and limit).
pub type RouteThrottles = Vec<Vec<Option<(u64, Throttle)>>>;

/// What one configuration limits, shared by the workers.
#[derive(Debug)]
pub struct Plan {
    pub generation: u64,
    /// Static buckets: account, stages, stage routes.
    pub statics: Vec<Arc<SharedBucket>>,
    /// The static buckets' keys, by slot (for status and tests).
    pub static_keys: Vec<String>,
    pub account: Option<u32>,
    /// By API, by stage.
    pub stages: Vec<Vec<StageLimits>>,
    pub plans: Vec<PlanLimits>,
    pub keys: KeyTable,
    /// Every per-key throttle by scope (to carry buckets across reloads).
    pub scopes: HashMap<u64, Throttle>,
}

impl Plan {
    /// The plan of `gw`: static buckets come from (and go back into)
    /// `registry`, reusing a bucket whose key survives; `keys` is the key
    /// table (configuration keys merged with runtime ones).
    pub fn build(
        gw: &Gateway,
        generation: u64,
        cores: usize,
        registry: &mut HashMap<String, Arc<SharedBucket>>,
        keys: KeyTable,
        now: u64,
    ) -> Plan {
        let mut statics: Vec<Arc<SharedBucket>> = Vec::new();
        let mut static_keys: Vec<String> = Vec::new();
        let mut slot = |key: String, t: Throttle| -> u32 {
            if let Some(i) = static_keys.iter().position(|k| *k == key) {
                return i as u32;
            }
            let b = match registry.get(&key) {
                Some(b) => {
                    if b.rate_milli() != t.rate_milli || b.capacity() != t.burst {
                        b.set_limit(t.rate_milli, t.burst, now);
                    }
                    b.clone()
                }
                None => Arc::new(SharedBucket::new(cores, t.rate_milli, t.burst, now)),
            };
            statics.push(b);
            static_keys.push(key);
            (statics.len() - 1) as u32
        };
        let account = gw.throttling.map(|t| slot("account".to_owned(), t));
        let mut scopes = HashMap::new();
        let plans: Vec<PlanLimits> = gw
            .usage_plans
            .iter()
            .map(|p| {
                let throttle = p.throttle.map(|t| {
                    let s = scope(&["plan-throttle", &p.name]);
                    scopes.insert(s, t);
                    (s, t)
                });
                PlanLimits {
                    name: p.name.as_str().into(),
                    throttle,
                    quota: p.quota.map(|q| (scope(&["quota", &p.name]), q)),
                }
            })
            .collect();
        let mut stages = Vec::with_capacity(gw.apis.len());
        for (ai, api) in gw.apis.iter().enumerate() {
            let mut per_stage = Vec::with_capacity(api.stages.len());
            for (si, stage) in api.stages.iter().enumerate() {
                let st = &stage.settings;
                let default = st
                    .throttling
                    .map(|t| slot(format!("stage/{}/{}", api.name, stage.name), t));
                let routes = api
                    .deployments
                    .iter()
                    .map(|d| {
                        d.routes
                            .iter()
                            .map(|r| {
                                let key = r.key.to_string();
                                match st.route_throttling.iter().find(|(k, _)| *k == key) {
                                    Some((k, t)) => Some(slot(
                                        format!("route/{}/{}/{k}", api.name, stage.name),
                                        *t,
                                    )),
                                    None => default,
                                }
                            })
                            .collect()
                    })
                    .collect();
                let mut covering = Vec::new();
                for (pi, p) in gw.usage_plans.iter().enumerate() {
                    for ps in p.api_stages.iter().filter(|s| s.api == ai && s.stage == si) {
                        let by_route = api
                            .deployments
                            .iter()
                            .map(|d| {
                                d.routes
                                    .iter()
                                    .map(|r| {
                                        let key = r.key.to_string();
                                        ps.route_throttling.iter().find(|(k, _)| *k == key).map(
                                            |(k, t)| {
                                                let s = scope(&[
                                                    "plan-route",
                                                    &p.name,
                                                    &api.name,
                                                    &stage.name,
                                                    k,
                                                ]);
                                                scopes.insert(s, *t);
                                                (s, *t)
                                            },
                                        )
                                    })
                                    .collect()
                            })
                            .collect();
                        covering.push((pi as u32, by_route));
                    }
                }
                per_stage.push(StageLimits {
                    routes,
                    plans: covering,
                });
            }
            stages.push(per_stage);
        }
        registry.clear();
        for (k, b) in static_keys.iter().zip(&statics) {
            registry.insert(k.clone(), b.clone());
        }
        Plan {
            generation,
            statics,
            static_keys,
            account,
            stages,
            plans,
            keys,
            scopes,
        }
    }
}

/// What a worker holds for one configuration's limits.
#[derive(Debug, Default)]
pub struct CoreLimits {
    plan: Option<Arc<Plan>>,
    limiter: Option<Arc<Limiter>>,
    lane: usize,
    statics: Vec<LocalBucket>,
    /// Leases on per-key buckets (usage plan throttles, quotas).
    dynamic: RefCell<HashMap<DynKey, LocalBucket, PassThrough>>,
    /// Service turns so far (per-key leases are serviced every tenth).
    turns: std::cell::Cell<u32>,
}

/// What a check took, to hand back on a later refusal.
#[derive(Clone, Copy)]
enum Taken {
    Static(u32),
    Dynamic(DynKey),
}

impl CoreLimits {
    /// No limits (a gateway started without a limiter).
    pub fn none() -> CoreLimits {
        CoreLimits::default()
    }

    /// The leases of core `lane` on `plan`; `previous` (the configuration
    /// this one replaces) hands over its credit on buckets that survive.
    pub fn new(
        plan: Arc<Plan>,
        limiter: Arc<Limiter>,
        lane: usize,
        previous: Option<&CoreLimits>,
    ) -> CoreLimits {
        let statics: Vec<LocalBucket> = plan
            .statics
            .iter()
            .map(|b| LocalBucket::new(b.clone(), lane))
            .collect();
        if let Some(prev) = previous {
            for l in &statics {
                for p in &prev.statics {
                    l.adopt(p);
                }
            }
        }
        CoreLimits {
            plan: Some(plan),
            limiter: Some(limiter),
            lane,
            statics,
            dynamic: RefCell::default(),
            turns: std::cell::Cell::new(0),
        }
    }

    pub fn plan(&self) -> Option<&Arc<Plan>> {
        self.plan.as_ref()
    }

    /// The limits of request `m`: `Ok` to go on. `key_required` is the
    /// route's `api_key_required`; `api_key` finds the `X-API-Key` value
    /// (only asked when the route requires a key); `clock` tells the time in
    /// ns (only asked, once, when a lease is spent).
    pub fn check<'a>(
        &self,
        m: &Matched,
        key_required: bool,
        api_key: impl FnOnce() -> Option<&'a [u8]>,
        clock: impl Fn() -> u64,
    ) -> Result<(), Refusal> {
        let read = std::cell::Cell::new(None);
        let now = || {
            read.get().unwrap_or_else(|| {
                let t = clock();
                read.set(Some(t));
                t
            })
        };
        let Some(plan) = &self.plan else {
            return Ok(());
        };
        let Some(stage) = plan.stages.get(m.api).and_then(|s| s.get(m.stage)) else {
            return Ok(());
        };
        let mut taken: [Option<Taken>; 4] = [None; 4];
        if key_required {
            let hash = KeyHash::of(api_key().ok_or(Refusal::InvalidKey)?);
            let covered = !stage.plans.is_empty();
            let usage_plan = plan.keys.with(&hash, |e| match e {
                Some(e) if e.enabled => {
                    let p = stage.plans.iter().find(|(p, _)| e.plans.contains(p));
                    match p {
                        Some(p) => Ok(Some(p)),
                        // A stage no plan covers takes any valid key.
                        None if !covered => Ok(None),
                        None => Err(Refusal::InvalidKey),
                    }
                }
                _ => Err(Refusal::InvalidKey),
            })?;
            if let Some((pi, by_route)) = usage_plan {
                let limits = &plan.plans[*pi as usize];
                let route = by_route
                    .get(m.deployment)
                    .and_then(|d| d.get(m.route))
                    .copied()
                    .flatten();
                let quota = limits.quota.map(|(s, q)| (self.dyn_key(&hash, s), q));
                let throttle = route
                    .or(limits.throttle)
                    .map(|(s, t)| (self.dyn_key(&hash, s), t));
                self.ensure(&hash, limits, quota, throttle);
                let dynamic = self.dynamic.borrow();
                if let Some((k, _)) = quota {
                    if !dynamic[&k].take_lazy(now).admitted() {
                        return Err(Refusal::QuotaExceeded);
                    }
                    taken[0] = Some(Taken::Dynamic(k));
                }
                if let Some((k, _)) = throttle {
                    if let Decision::Throttle { wait_ns } = dynamic[&k].take_lazy(now) {
                        self.hand_back(&taken, &dynamic);
                        return Err(throttled(wait_ns));
                    }
                    taken[1] = Some(Taken::Dynamic(k));
                }
            }
        }
        let route_slot = stage
            .routes
            .get(m.deployment)
            .and_then(|d| d.get(m.route))
            .copied()
            .flatten();
        for (i, slot) in [route_slot, plan.account].into_iter().enumerate() {
            let Some(slot) = slot else { continue };
            if let Decision::Throttle { wait_ns } = self.statics[slot as usize].take_lazy(now) {
                if taken.iter().any(Option::is_some) {
                    self.hand_back(&taken, &self.dynamic.borrow());
                }
                return Err(throttled(wait_ns));
            }
            taken[2 + i] = Some(Taken::Static(slot));
        }
        Ok(())
    }

    fn dyn_key(&self, hash: &KeyHash, scope: u64) -> DynKey {
        DynKey {
            key: hash.short(),
            scope,
        }
    }

    /// Leases on the key's quota and throttle buckets exist on this core.
    fn ensure(
        &self,
        hash: &KeyHash,
        limits: &PlanLimits,
        quota: Option<(DynKey, Quota)>,
        throttle: Option<(DynKey, Throttle)>,
    ) {
        let missing = {
            let d = self.dynamic.borrow();
            quota.is_some_and(|(k, _)| !d.contains_key(&k))
                || throttle.is_some_and(|(k, _)| !d.contains_key(&k))
        };
        if !missing {
            return;
        }
        let Some(limiter) = &self.limiter else {
            return;
        };
        let mut d = self.dynamic.borrow_mut();
        if let Some((k, q)) = quota
            && !d.contains_key(&k)
        {
            let b = limiter.quota_bucket(k, &limits.name, hash, q);
            d.insert(k, LocalBucket::new(b, self.lane));
        }
        if let Some((k, t)) = throttle
            && !d.contains_key(&k)
        {
            let b = limiter.key_bucket(k, t);
            d.insert(k, LocalBucket::new(b, self.lane));
        }
    }

    fn hand_back(
        &self,
        taken: &[Option<Taken>; 4],
        dynamic: &HashMap<DynKey, LocalBucket, PassThrough>,
    ) {
        for t in taken.iter().flatten() {
            match t {
                Taken::Static(s) => self.statics[*s as usize].refund(),
                Taken::Dynamic(k) => {
                    if let Some(l) = dynamic.get(k) {
                        l.refund();
                    }
                }
            }
        }
    }

    /// The worker's service turn (its housekeeping tick, every 100 ms): hand
    /// back credit the reconciler recalled (per-key leases every tenth turn).
    pub fn service(&self) {
        for l in &self.statics {
            l.service();
        }
        let turn = self.turns.get().wrapping_add(1);
        self.turns.set(turn);
        if turn.is_multiple_of(10) {
            for l in self.dynamic.borrow().values() {
                l.service();
            }
        }
    }

    /// Hand back all unspent credit (before the worker stops).
    pub fn release(&self) {
        for l in &self.statics {
            l.hand_back();
        }
        for l in self.dynamic.borrow().values() {
            l.hand_back();
        }
    }
}

fn throttled(wait_ns: u64) -> Refusal {
    let secs = wait_ns.div_ceil(1_000_000_000).clamp(1, 86_400);
    Refusal::Throttled {
        retry_after: secs as u32,
    }
}
