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
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

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

fn new_histogram() -> Histogram<u64> {
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
    pub stages: Vec<String>,
    /// Route keys as text, in route index order.
    pub routes: Vec<String>,
}

/// Names every slot of one configuration: for each API, stage and route
/// (plus "no route" per stage), and one slot for requests that reached no
/// stage at all. Built once per configuration per worker, then shared with
/// the deltas it names.
#[derive(Debug)]
pub struct Layout {
    series: Vec<(Labels, Protocol)>,
    /// Per API: (first slot, routes + 1).
    apis: Vec<(u32, u32)>,
    unrouted: u32,
    upstreams: Vec<Arc<str>>,
}

impl Layout {
    /// `unrouted_protocol` names the family that requests matching no stage
    /// count in (the first API's protocol, as their error responses use).
    pub fn new(apis: &[ApiShape], upstreams: &[String], unrouted_protocol: Protocol) -> Layout {
        let mut series = Vec::new();
        let mut bases = Vec::new();
        let no_route: Arc<str> = Arc::from("-");
        for api in apis {
            let name: Arc<str> = Arc::from(api.name.as_str());
            let routes: Vec<Arc<str>> = api.routes.iter().map(|r| Arc::from(r.as_str())).collect();
            bases.push((series.len() as u32, routes.len() as u32 + 1));
            for stage in &api.stages {
                let stage: Arc<str> = Arc::from(stage.as_str());
                for route in routes.iter().chain(std::iter::once(&no_route)) {
                    series.push((
                        Labels {
                            api: name.clone(),
                            stage: stage.clone(),
                            route: route.clone(),
                        },
                        api.protocol,
                    ));
                }
            }
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
            apis: bases,
            unrouted,
            upstreams: upstreams.iter().map(|u| Arc::from(u.as_str())).collect(),
        }
    }

    /// The slot of a routed request (`route: None` when no route matched).
    pub fn slot(&self, api: usize, stage: usize, route: Option<usize>) -> Slot {
        let (base, width) = self.apis[api];
        let r = route.map_or(width - 1, |r| r as u32);
        Slot(base + stage as u32 * width + r)
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

#[derive(Debug)]
struct Series {
    counts: Cell<Counts>,
    dirty: Cell<bool>,
    latency: RefCell<Histogram<u64>>,
    integration: RefCell<Histogram<u64>>,
}

impl Series {
    fn new() -> Series {
        Series {
            counts: Cell::new(Counts::default()),
            dirty: Cell::new(false),
            latency: RefCell::new(new_histogram()),
            integration: RefCell::new(new_histogram()),
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
        s.latency
            .borrow_mut()
            .saturating_record(o.latency_us.max(HIST_LOW));
        if let Some(i) = o.integration_latency_us {
            s.integration
                .borrow_mut()
                .saturating_record(i.max(HIST_LOW));
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
            let take = |h: &RefCell<Histogram<u64>>| {
                let mut h = h.borrow_mut();
                if h.is_empty() {
                    None
                } else {
                    let copy = h.clone();
                    h.reset();
                    Some(copy)
                }
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

/// Totals of one series since the process started.
#[derive(Debug)]
pub struct Totals {
    pub protocol: Protocol,
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub integration: Histogram<u64>,
}

/// Facts about a worker for `tollgate_worker_info`.
#[derive(Clone, Debug)]
pub struct WorkerFacts {
    pub index: usize,
    pub cpu: Option<usize>,
    pub driver: Option<&'static str>,
}

/// Counters of one access log destination.
#[derive(Clone, Debug)]
pub struct LogFacts {
    pub destination: String,
    pub lines: u64,
    pub dropped: u64,
    pub write_errors: u64,
    pub reopens: u64,
}

/// Merged totals, keyed by label values.
#[derive(Debug, Default)]
pub struct Registry {
    series: BTreeMap<Labels, Totals>,
    /// upstream name → (new connections, reused connections).
    upstreams: BTreeMap<Arc<str>, (u64, u64)>,
    /// requests per worker.
    workers: BTreeMap<usize, u64>,
}

impl Registry {
    pub fn merge(&mut self, d: Delta) {
        for s in d.series {
            let (labels, protocol) = &d.layout.series[s.slot.0 as usize];
            let t = self.series.entry(labels.clone()).or_insert_with(|| Totals {
                protocol: *protocol,
                counts: Counts::default(),
                latency: new_histogram(),
                integration: new_histogram(),
            });
            t.protocol = *protocol;
            t.counts.add(&s.counts);
            if let Some(h) = &s.latency {
                let _ = t.latency.add(h);
            }
            if let Some(h) = &s.integration {
                let _ = t.integration.add(h);
            }
            *self.workers.entry(d.worker).or_default() += s.counts.count;
        }
        for (u, n, o) in d.upstreams {
            let name = d.layout.upstreams[u as usize].clone();
            let e = self.upstreams.entry(name).or_default();
            e.0 += n;
            e.1 += o;
        }
    }

    /// The totals of one series, if it saw traffic.
    pub fn get(&self, api: &str, stage: &str, route: &str) -> Option<&Totals> {
        self.series
            .iter()
            .find(|(l, _)| &*l.api == api && &*l.stage == stage && &*l.route == route)
            .map(|(_, t)| t)
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, workers: &[WorkerFacts], logs: &[LogFacts]) -> String {
        let mut out = String::with_capacity(4096 + self.series.len() * 2048);
        let rest = Some(Protocol::Rest);
        let http = Some(Protocol::Http);
        let counters: [CounterFamily; 9] = [
            (
                "tollgate_Count",
                "Requests (API Gateway metric Count).",
                None,
                |c| c.count,
            ),
            (
                "tollgate_4XXError",
                "Client errors, REST APIs (API Gateway metric 4XXError).",
                rest,
                |c| c.err4,
            ),
            (
                "tollgate_5XXError",
                "Server errors, REST APIs (API Gateway metric 5XXError).",
                rest,
                |c| c.err5,
            ),
            (
                "tollgate_4xx",
                "Client errors, HTTP APIs (API Gateway metric 4xx).",
                http,
                |c| c.err4,
            ),
            (
                "tollgate_5xx",
                "Server errors, HTTP APIs (API Gateway metric 5xx).",
                http,
                |c| c.err5,
            ),
            (
                "tollgate_CacheHitCount",
                "Requests served from the response cache, REST APIs.",
                rest,
                |c| c.cache_hit,
            ),
            (
                "tollgate_CacheMissCount",
                "Requests the response cache could not serve, REST APIs.",
                rest,
                |c| c.cache_miss,
            ),
            (
                "tollgate_throttled_requests",
                "Requests refused by a rate limit (429).",
                None,
                |c| c.throttled,
            ),
            (
                "tollgate_DataProcessed",
                "Request and response bytes, HTTP APIs (API Gateway metric DataProcessed).",
                http,
                |c| c.data_processed,
            ),
        ];
        for (name, help, only, pick) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, t) in self
                .series
                .iter()
                .filter(|(_, t)| only.is_none_or(|p| p == t.protocol))
            {
                series_line(&mut out, name, labels, "", pick(&t.counts) as f64);
            }
        }
        let hists: [(&str, &str, HistPick); 2] = [
            (
                "tollgate_Latency",
                "Request received to response sent, ms (API Gateway metric Latency).",
                |t| (&t.latency, t.counts.count, t.counts.latency_sum_us),
            ),
            (
                "tollgate_IntegrationLatency",
                "Upstream request sent to upstream response received, ms (API Gateway metric IntegrationLatency).",
                |t| {
                    (
                        &t.integration,
                        t.counts.integration_count,
                        t.counts.integration_sum_us,
                    )
                },
            ),
        ];
        for (name, help, pick) in hists {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for (labels, t) in &self.series {
                let (h, count, sum_us) = pick(t);
                if count == 0 {
                    continue;
                }
                for le in BUCKETS_MS {
                    let le_us = (le * 1000.0) as u64;
                    let n = count_at_or_below(h, le_us);
                    series_line(
                        &mut out,
                        &format!("{name}_bucket"),
                        labels,
                        &format!(",le=\"{le}\""),
                        n as f64,
                    );
                }
                series_line(
                    &mut out,
                    &format!("{name}_bucket"),
                    labels,
                    ",le=\"+Inf\"",
                    count as f64,
                );
                series_line(
                    &mut out,
                    &format!("{name}_sum"),
                    labels,
                    "",
                    sum_us as f64 / 1000.0,
                );
                series_line(&mut out, &format!("{name}_count"), labels, "", count as f64);
            }
            let q = format!("{name}_quantile");
            let _ = writeln!(
                out,
                "# HELP {q} {name} quantiles over the whole run, ms (p50, p90, p99, p99.9).\n# TYPE {q} gauge"
            );
            for (labels, t) in &self.series {
                let (h, count, _) = pick(t);
                if count == 0 {
                    continue;
                }
                for qv in QUANTILES {
                    let v = h.value_at_quantile(qv) as f64 / 1000.0;
                    series_line(&mut out, &q, labels, &format!(",quantile=\"{qv}\""), v);
                }
            }
        }
        out.push_str("# HELP tollgate_upstream_requests Upstream exchanges by connection: new or reused from the pool.\n# TYPE tollgate_upstream_requests counter\n");
        for (name, (n, o)) in &self.upstreams {
            let u = escape_label(name);
            let _ = writeln!(
                out,
                "tollgate_upstream_requests{{upstream=\"{u}\",connection=\"new\"}} {n}"
            );
            let _ = writeln!(
                out,
                "tollgate_upstream_requests{{upstream=\"{u}\",connection=\"reused\"}} {o}"
            );
        }
        out.push_str("# HELP tollgate_upstream_connection_reuse_ratio Reused / all upstream exchanges.\n# TYPE tollgate_upstream_connection_reuse_ratio gauge\n");
        for (name, (n, o)) in &self.upstreams {
            let ratio = if n + o == 0 {
                0.0
            } else {
                *o as f64 / (n + o) as f64
            };
            let _ = writeln!(
                out,
                "tollgate_upstream_connection_reuse_ratio{{upstream=\"{}\"}} {}",
                escape_label(name),
                fmt_f64(ratio)
            );
        }
        out.push_str("# HELP tollgate_worker_info A worker thread: its CPU and I/O driver.\n# TYPE tollgate_worker_info gauge\n");
        for w in workers {
            let cpu = w.cpu.map(|c| c.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "tollgate_worker_info{{worker=\"{}\",cpu=\"{cpu}\",driver=\"{}\"}} 1",
                w.index,
                w.driver.unwrap_or("")
            );
        }
        out.push_str("# HELP tollgate_worker_requests Requests finished per worker.\n# TYPE tollgate_worker_requests counter\n");
        for w in workers {
            let n = self.workers.get(&w.index).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "tollgate_worker_requests{{worker=\"{}\"}} {n}",
                w.index
            );
        }
        let log_families: [(&str, &str, LogPick); 4] = [
            (
                "tollgate_access_log_lines",
                "Access log lines written.",
                |l| l.lines,
            ),
            (
                "tollgate_access_log_dropped_lines",
                "Access log lines dropped because the destination could not keep up or failed.",
                |l| l.dropped,
            ),
            (
                "tollgate_access_log_write_errors",
                "Failed writes (or opens) of an access log destination.",
                |l| l.write_errors,
            ),
            (
                "tollgate_access_log_reopens",
                "Access log destinations reopened (SIGUSR1).",
                |l| l.reopens,
            ),
        ];
        for (name, help, pick) in log_families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for l in logs {
                let _ = writeln!(
                    out,
                    "{name}{{destination=\"{}\"}} {}",
                    escape_label(&l.destination),
                    pick(l)
                );
            }
        }
        out
    }
}

/// (name, help, only this protocol's series, value).
type CounterFamily = (
    &'static str,
    &'static str,
    Option<Protocol>,
    fn(&Counts) -> u64,
);
/// (histogram, count, sum in µs) of a series.
type HistPick = fn(&Totals) -> (&Histogram<u64>, u64, u64);
type LogPick = fn(&LogFacts) -> u64;

/// Requests whose recorded value is ≤ `le_us` (hdrhistogram bins are 1 %
/// wide; a bin counts when its highest equivalent value is within the bound).
fn count_at_or_below(h: &Histogram<u64>, le_us: u64) -> u64 {
    h.iter_recorded()
        .take_while(|v| v.value_iterated_to() <= le_us)
        .map(|v| v.count_at_value())
        .sum()
}

fn series_line(out: &mut String, name: &str, l: &Labels, extra: &str, v: f64) {
    let _ = writeln!(
        out,
        "{name}{{api=\"{}\",stage=\"{}\",route=\"{}\"{extra}}} {}",
        escape_label(&l.api),
        escape_label(&l.stage),
        escape_label(&l.route),
        fmt_f64(v)
    );
}

fn fmt_f64(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Label value escaping of the text format: `\`, `"` and newline.
pub fn escape_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The control side: workers send their deltas here; `/metrics` and the
/// control thread's once-a-second collection merge them into the registry.
#[derive(Debug)]
pub struct Hub {
    tx: Mutex<Sender<Delta>>,
    state: Mutex<(Receiver<Delta>, Registry)>,
}

impl Default for Hub {
    fn default() -> Self {
        let (tx, rx) = channel();
        Hub {
            tx: Mutex::new(tx),
            state: Mutex::new((rx, Registry::default())),
        }
    }
}

impl Hub {
    /// A sender for one worker (taken once, when the worker starts).
    pub fn sender(&self) -> Sender<Delta> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Merge every delta received so far, then run `f` on the registry.
    pub fn with_registry<R>(&self, f: impl FnOnce(&Registry) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (rx, registry) = &mut *guard;
        while let Ok(d) = rx.try_recv() {
            registry.merge(d);
        }
        f(registry)
    }

    /// Merge what arrived (the control thread calls this once a second so
    /// the channel stays short when nobody scrapes).
    pub fn collect(&self) {
        self.with_registry(|_| ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Arc<Layout> {
        Arc::new(Layout::new(
            &[
                ApiShape {
                    name: "shop".into(),
                    protocol: Protocol::Rest,
                    stages: vec!["prod".into(), "beta".into()],
                    routes: vec!["GET /pets".into(), "GET /pets/{id}".into()],
                },
                ApiShape {
                    name: "edge".into(),
                    protocol: Protocol::Http,
                    stages: vec!["$default".into()],
                    routes: vec!["$default".into()],
                },
            ],
            &["backend".into()],
            Protocol::Rest,
        ))
    }

    #[test]
    fn slots_name_their_series() {
        let l = layout();
        let s = l.slot(0, 1, Some(1));
        assert_eq!(&*l.labels(s).stage, "beta");
        assert_eq!(&*l.labels(s).route, "GET /pets/{id}");
        assert_eq!(&*l.labels(l.slot(0, 0, None)).route, "-");
        assert_eq!(&*l.labels(l.slot(1, 0, Some(0))).api, "edge");
        assert_eq!(&*l.labels(l.unrouted()).api, "");
        // 2 stages × (2 routes + none) + 1 × (1 + none) + unrouted
        assert_eq!(l.len(), 6 + 2 + 1);
    }

    #[test]
    fn deltas_merge_by_labels_and_reset_the_worker() {
        let m = Metrics::new(layout());
        let s = m.layout().slot(0, 0, Some(0));
        let o = |status, lat| Outcome {
            status,
            latency_us: lat,
            integration_latency_us: None,
            bytes: 10,
        };
        m.record(s, &o(200, 1_000));
        m.record(s, &o(404, 2_000));
        m.record(s, &o(502, 3_000));
        m.cache_hit(s);
        m.cache_miss(s);
        m.throttled(s);
        m.upstream(0, true);
        m.upstream(0, false);
        m.upstream(0, true);
        let d = m.take_delta(0).expect("a delta");
        assert!(m.take_delta(0).is_none(), "nothing new since");
        let mut r = Registry::default();
        r.merge(d);
        // A second worker with another layout instance (a reload) adds to the same series.
        let m2 = Metrics::new(layout());
        m2.record(m2.layout().slot(0, 0, Some(0)), &o(200, 4_000));
        r.merge(m2.take_delta(1).unwrap());
        let t = r.get("shop", "prod", "GET /pets").unwrap();
        assert_eq!(
            t.counts,
            Counts {
                count: 4,
                err4: 1,
                err5: 1,
                cache_hit: 1,
                cache_miss: 1,
                throttled: 1,
                data_processed: 40,
                latency_sum_us: 10_000,
                integration_count: 0,
                integration_sum_us: 0,
            }
        );
        assert_eq!(t.latency.len(), 4);
        let text = r.render(&[], &[]);
        assert!(
            text.contains("tollgate_Count{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 4\n")
        );
        assert!(
            text.contains("tollgate_4XXError{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 1\n")
        );
        assert!(
            !text.contains("tollgate_4xx{"),
            "REST series only under REST names"
        );
        assert!(text.contains(
            "tollgate_upstream_requests{upstream=\"backend\",connection=\"reused\"} 2\n"
        ));
        assert!(text.contains(
            "tollgate_upstream_connection_reuse_ratio{upstream=\"backend\"} 0.6666666666666666\n"
        ));
        assert!(text.contains(
            "tollgate_Latency_bucket{api=\"shop\",stage=\"prod\",route=\"GET /pets\",le=\"2.5\"} 2\n"
        ));
        assert!(text.contains(
            "tollgate_Latency_bucket{api=\"shop\",stage=\"prod\",route=\"GET /pets\",le=\"+Inf\"} 4\n"
        ));
        assert!(text.contains(
            "tollgate_Latency_sum{api=\"shop\",stage=\"prod\",route=\"GET /pets\"} 10\n"
        ));
        assert!(text.contains(
            "tollgate_Latency_quantile{api=\"shop\",stage=\"prod\",route=\"GET /pets\",quantile=\"0.5\"} 2"
        ));
        assert!(
            !text.contains("tollgate_IntegrationLatency_count"),
            "no integration answered"
        );
    }

    #[test]
    fn http_api_series_use_http_names() {
        let m = Metrics::new(layout());
        let s = m.layout().slot(1, 0, Some(0));
        m.record(
            s,
            &Outcome {
                status: 503,
                latency_us: 5,
                integration_latency_us: Some(3),
                bytes: 100,
            },
        );
        let mut r = Registry::default();
        r.merge(m.take_delta(0).unwrap());
        let text = r.render(
            &[WorkerFacts {
                index: 0,
                cpu: Some(3),
                driver: Some("io_uring"),
            }],
            &[LogFacts {
                destination: "/var/log/a \"b\".log".into(),
                lines: 7,
                dropped: 2,
                write_errors: 0,
                reopens: 1,
            }],
        );
        assert!(
            text.contains("tollgate_5xx{api=\"edge\",stage=\"$default\",route=\"$default\"} 1\n")
        );
        assert!(!text.contains("tollgate_5XXError{api=\"edge\""));
        assert!(text.contains(
            "tollgate_DataProcessed{api=\"edge\",stage=\"$default\",route=\"$default\"} 100\n"
        ));
        assert!(text.contains("tollgate_IntegrationLatency_count{api=\"edge\",stage=\"$default\",route=\"$default\"} 1\n"));
        assert!(
            text.contains("tollgate_worker_info{worker=\"0\",cpu=\"3\",driver=\"io_uring\"} 1\n")
        );
        assert!(text.contains("tollgate_worker_requests{worker=\"0\"} 1\n"));
        assert!(text.contains(
            "tollgate_access_log_dropped_lines{destination=\"/var/log/a \\\"b\\\".log\"} 2\n"
        ));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::new(layout());
        m.record(
            m.layout().unrouted(),
            &Outcome {
                status: 400,
                ..Outcome::default()
            },
        );
        let mut r = Registry::default();
        r.merge(m.take_delta(0).unwrap());
        for line in r.render(&[], &[]).lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
            assert!(series.ends_with('}'), "{line}");
        }
    }

    #[test]
    fn hub_merges_from_senders() {
        let hub = Hub::default();
        let tx = hub.sender();
        let m = Metrics::new(layout());
        m.record(
            m.layout().unrouted(),
            &Outcome {
                status: 200,
                ..Outcome::default()
            },
        );
        tx.send(m.take_delta(0).unwrap()).unwrap();
        let n = hub.with_registry(|r| r.get("", "", "").map(|t| t.counts.count));
        assert_eq!(n, Some(1));
    }
}
