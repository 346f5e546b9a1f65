//! The control side of the metrics: a [`Registry`] of totals merged from
//! the workers' deltas by label values (so series survive reloads that
//! reorder routes), the [`Hub`] the deltas arrive at, and the Prometheus
//! text format (0.0.4) `GET /metrics` answers. Runs on the control and
//! admin threads, never on a worker; it may lock and allocate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use super::{BUCKETS_MS, Counts, Delta, Labels, QUANTILES, new_histogram};
use crate::config::Protocol;

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
