//! Request metrics in Amazon API Gateway's names, per API, stage and route:
//! Count, 4XXError / 5XXError (REST APIs) or 4xx / 5xx (HTTP APIs), Latency
//! and IntegrationLatency (hdrhistograms), CacheHitCount / CacheMissCount,
//! throttled requests, DataProcessed, and upstream connection reuse.
//!
//! Three parts, each owned by one thread:
//!
//! * [`Metrics`] is a worker's: plain `Cell` counters and `RefCell`
//!   histograms in a flat array indexed by a [`Slot`] (API × stage × route),
//!   laid out once per configuration by [`Layout`]. Recording takes no lock,
//!   does no atomic operation and never allocates (the histograms have fixed
//!   bounds and are allocated when the configuration is built).
//! * Once a second the worker's housekeeping tick calls
//!   [`Metrics::take_delta`]: what changed since the last call, with the
//!   layout that names it, moved out (the worker's counters restart at zero).
//!   The delta goes to the [`Hub`] over a channel — one message per worker
//!   per second, off the request path.
//! * The [`Hub`] (control side) merges deltas into a [`Registry`] keyed by
//!   label values, not by slot, so series survive a reload that reorders
//!   routes, and renders the Prometheus text format.
//!
//! Does not: persist anything, or export sliding windows (quantiles are over
//! the whole run; use `rate()` over the `_bucket` series for windows).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use hdrhistogram::Histogram;

use crate::config::Protocol;

/// Histograms record microseconds with two significant digits (1 %) from
/// 1 µs to one hour; about 20 KiB each.
const HIST_LOW: u64 = 1;
const HIST_HIGH: u64 = 3_600_000_000;
const HIST_SIGFIG: u8 = 2;

/// `le` bounds of the exported `_bucket` series, in milliseconds.
pub const BUCKETS_MS: [f64; 18] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
    10000.0, 30000.0, 60000.0,
];

/// Exported quantiles (p50, p90, p99, p99.9).
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW, HIST_HIGH, HIST_SIGFIG).expect("valid histogram bounds")
}

/// Where one request's numbers go: an index into a [`Layout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(u32);

/// The label values of one series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Labels {
    pub api: Arc<str>,
    pub stage: Arc<str>,
    /// The route key (`GET /pets/{id}`, `$default`), or `-` when the stage
    /// matched but no route did.
    pub route: Arc<str>,
}

/// One API as the layout needs it.
#[derive(Clone, Debug)]
pub struct ApiShape {
    pub name: String,
    pub protocol: Protocol,
    pub stages: Vec<StageShape>,
}

/// One stage: its name and the deployments it runs (its own, and its
/// canary's), each with its route keys as text in route index order.
#[derive(Clone, Debug)]
pub struct StageShape {
    pub name: String,
    pub deployments: Vec<(usize, Vec<String>)>,
}

#[derive(Debug)]
struct StageSlots {
    /// (deployment index, slot of its first route).
    deployments: Vec<(u32, u32)>,
    /// The slot of requests no route of the stage matched.
    none: u32,
}

/// Names every slot of one configuration: for each API, stage and route of
/// each deployment the stage runs (plus "no route" per stage), and one slot
/// for requests that reached no stage at all. Built once per configuration
/// per worker, then shared with the deltas it names. Series of two
/// deployments (a canary's) with the same route key have the same labels
/// and add up in the [`Registry`].
#[derive(Debug)]
pub struct Layout {
    series: Vec<(Labels, Protocol)>,
    /// Per API, per stage.
    stages: Vec<Vec<StageSlots>>,
    unrouted: u32,
    upstreams: Vec<Arc<str>>,
}

impl Layout {
    /// `unrouted_protocol` names the family that requests matching no stage
    /// count in (the first API's protocol, as their error responses use).
    pub fn new(apis: &[ApiShape], upstreams: &[String], unrouted_protocol: Protocol) -> Layout {
        let mut series = Vec::new();
        let mut stages = Vec::with_capacity(apis.len());
        let no_route: Arc<str> = Arc::from("-");
        for api in apis {
            let name: Arc<str> = Arc::from(api.name.as_str());
            let mut api_stages = Vec::with_capacity(api.stages.len());
            for st in &api.stages {
                let stage: Arc<str> = Arc::from(st.name.as_str());
                let mut push = |route: Arc<str>| {
                    series.push((
                        Labels {
                            api: name.clone(),
                            stage: stage.clone(),
                            route,
                        },
                        api.protocol,
                    ));
                    series.len() as u32 - 1
                };
                let mut deployments = Vec::with_capacity(st.deployments.len());
                for (d, routes) in &st.deployments {
                    let first = routes.iter().map(|r| push(Arc::from(r.as_str()))).min();
                    deployments.push((*d as u32, first.unwrap_or(u32::MAX)));
                }
                let none = push(no_route.clone());
                api_stages.push(StageSlots { deployments, none });
            }
            stages.push(api_stages);
        }
        let unrouted = series.len() as u32;
        let empty: Arc<str> = Arc::from("");
        series.push((
            Labels {
                api: empty.clone(),
                stage: empty.clone(),
                route: empty,
            },
            unrouted_protocol,
        ));
        Layout {
            series,
            stages,
            unrouted,
            upstreams: upstreams.iter().map(|u| Arc::from(u.as_str())).collect(),
        }
    }

    /// The slot of a request of a stage: `route` of `deployment`, or `None`
    /// when no route matched. Out-of-range indexes give the stage's
    /// "no route" slot (or the unrouted one).
    pub fn slot(&self, api: usize, stage: usize, deployment: usize, route: Option<usize>) -> Slot {
        let Some(st) = self.stages.get(api).and_then(|a| a.get(stage)) else {
            return Slot(self.unrouted);
        };
        let Some(r) = route else {
            return Slot(st.none);
        };
        match st
            .deployments
            .iter()
            .find(|(d, _)| *d as usize == deployment)
        {
            Some((_, first)) if (*first as usize).saturating_add(r) < st.none as usize => {
                Slot(first + r as u32)
            }
            _ => Slot(st.none),
        }
    }

    /// The slot of requests that matched no stage (or failed before routing).
    pub fn unrouted(&self) -> Slot {
        Slot(self.unrouted)
    }

    pub fn labels(&self, slot: Slot) -> &Labels {
        &self.series[slot.0 as usize].0
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// What one finished exchange reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// The status sent to the client; 0 when nothing was sent.
    pub status: u16,
    /// Request received to response sent, in µs.
    pub latency_us: u64,
    /// Upstream request sent to upstream response head received, in µs;
    /// `None` when no integration answered.
    pub integration_latency_us: Option<u64>,
    /// Request and response bytes (heads and bodies): HTTP APIs' DataProcessed.
    pub bytes: u64,
}

/// Plain counter values of one series (a delta or a total).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub count: u64,
    pub err4: u64,
    pub err5: u64,
    pub cache_hit: u64,
    pub cache_miss: u64,
    pub throttled: u64,
    pub data_processed: u64,
    pub latency_sum_us: u64,
    pub integration_count: u64,
    pub integration_sum_us: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.count += o.count;
        self.err4 += o.err4;
        self.err5 += o.err5;
        self.cache_hit += o.cache_hit;
        self.cache_miss += o.cache_miss;
        self.throttled += o.throttled;
        self.data_processed += o.data_processed;
        self.latency_sum_us += o.latency_sum_us;
        self.integration_count += o.integration_count;
        self.integration_sum_us += o.integration_sum_us;
    }
}

/// A histogram allocated on its series' first request (then reused), so a
/// configuration with many routes costs memory only for routes that run.
type LazyHistogram = RefCell<Option<Box<Histogram<u64>>>>;

#[derive(Debug)]
struct Series {
    counts: Cell<Counts>,
    dirty: Cell<bool>,
    latency: LazyHistogram,
    integration: LazyHistogram,
}

fn record_into(h: &LazyHistogram, v: u64) {
    h.borrow_mut()
        .get_or_insert_with(|| Box::new(new_histogram()))
        .saturating_record(v.max(HIST_LOW));
}

impl Series {
    fn new() -> Series {
        Series {
            counts: Cell::new(Counts::default()),
            dirty: Cell::new(false),
            latency: RefCell::new(None),
            integration: RefCell::new(None),
        }
    }

    #[inline]
    fn bump(&self, f: impl FnOnce(&mut Counts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
        self.dirty.set(true);
    }
}

/// A worker's metrics for one configuration. `!Sync`: only its worker touches it.
#[derive(Debug)]
pub struct Metrics {
    layout: Arc<Layout>,
    series: Box<[Series]>,
    /// Per upstream: (new connections, reused connections).
    upstreams: Box<[(Cell<u64>, Cell<u64>)]>,
}

impl Metrics {
    pub fn new(layout: Arc<Layout>) -> Metrics {
        Metrics {
            series: (0..layout.len()).map(|_| Series::new()).collect(),
            upstreams: (0..layout.upstreams.len())
                .map(|_| (Cell::new(0), Cell::new(0)))
                .collect(),
            layout,
        }
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    /// Record one finished exchange.
    pub fn record(&self, slot: Slot, o: &Outcome) {
        let s = &self.series[slot.0 as usize];
        s.bump(|c| {
            c.count += 1;
            c.err4 += u64::from((400..500).contains(&o.status));
            c.err5 += u64::from((500..600).contains(&o.status));
            c.data_processed += o.bytes;
            c.latency_sum_us += o.latency_us;
            if let Some(i) = o.integration_latency_us {
                c.integration_count += 1;
                c.integration_sum_us += i;
            }
        });
        record_into(&s.latency, o.latency_us);
        if let Some(i) = o.integration_latency_us {
            record_into(&s.integration, i);
        }
    }

    /// The response came from the cache (REST APIs' CacheHitCount).
    pub fn cache_hit(&self, slot: Slot) {
        self.series[slot.0 as usize].bump(|c| c.cache_hit += 1);
    }

    /// The cache was consulted and had no entry (CacheMissCount).
    pub fn cache_miss(&self, slot: Slot) {
        self.series[slot.0 as usize].bump(|c| c.cache_miss += 1);
    }

    /// The request was refused by a rate limit (429).
    pub fn throttled(&self, slot: Slot) {
        self.series[slot.0 as usize].bump(|c| c.throttled += 1);
    }

    /// An upstream exchange used a new (`reused: false`) or pooled connection.
    pub fn upstream(&self, upstream: usize, reused: bool) {
        if let Some((new, old)) = self.upstreams.get(upstream) {
            let c = if reused { old } else { new };
            c.set(c.get() + 1);
        }
    }

    /// Move out everything recorded since the last call (None when nothing
    /// was). Allocates: call it from the housekeeping tick, not per request.
    pub fn take_delta(&self, worker: usize) -> Option<Delta> {
        let mut series = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            if !s.dirty.replace(false) {
                continue;
            }
            let counts = s.counts.replace(Counts::default());
            let take = |h: &LazyHistogram| {
                let mut h = h.borrow_mut();
                let h = h.as_mut().filter(|h| !h.is_empty())?;
                let copy = (**h).clone();
                h.reset();
                Some(copy)
            };
            series.push(SeriesDelta {
                slot: Slot(i as u32),
                counts,
                latency: take(&s.latency),
                integration: take(&s.integration),
            });
        }
        let mut upstreams = Vec::new();
        for (i, (new, old)) in self.upstreams.iter().enumerate() {
            let (n, o) = (new.replace(0), old.replace(0));
            if n + o > 0 {
                upstreams.push((i as u32, n, o));
            }
        }
        if series.is_empty() && upstreams.is_empty() {
            return None;
        }
        Some(Delta {
            worker,
            layout: self.layout.clone(),
            series,
            upstreams,
        })
    }
}

/// What changed in one series during one publication interval.
#[derive(Debug)]
pub struct SeriesDelta {
    pub slot: Slot,
    pub counts: Counts,
    pub latency: Option<Histogram<u64>>,
    pub integration: Option<Histogram<u64>>,
}

/// One worker's changes since its last publication, with the layout that
/// names its slots.
#[derive(Debug)]
pub struct Delta {
    pub worker: usize,
    pub layout: Arc<Layout>,
    pub series: Vec<SeriesDelta>,
    /// (upstream index, new connections, reused connections).
    pub upstreams: Vec<(u32, u64, u64)>,
}

mod registry;
pub use registry::{Hub, LogFacts, Registry, Totals, WorkerFacts, escape_label};

#[cfg(test)]
mod tests;
