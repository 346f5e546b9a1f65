//! One exchange, observed: what the pipeline notes along a request's way
//! ([`Facts`]), what it copies of the request for the access log before the
//! head's bytes are reused ([`Capture`]), and the one call at the end that
//! turns both into metrics and an access log line ([`Observer::finish`]).
//!
//! An [`Observer`] belongs to one worker and one configuration (it lives in
//! the worker's `Active`): the metrics of that configuration and the access
//! log of each stage that has one. Nothing here locks, and with the buffers
//! warmed up nothing allocates per request.

use std::cell::Cell;
use std::net::IpAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Gateway, Protocol};
use crate::observe::access_log::{Format, Record};
use crate::observe::log_writer::{Destination, LocalLog, Sinks};
use crate::observe::metrics::{ApiShape, Layout, Metrics, Outcome, Slot, StageShape};
use crate::observe::request_id::RequestId;
use crate::observe::trace::TraceContext;
use crate::proto::http1::{RequestHead, Version};

/// What the steps of one exchange note for its end. Cells, because the
/// steps see the request by shared reference.
#[derive(Debug, Default)]
pub struct Facts {
    /// The status sent to the client (0: none was).
    pub status: Cell<u16>,
    /// Response body bytes sent.
    pub response_length: Cell<u64>,
    /// Response head bytes sent.
    pub response_head: Cell<u64>,
    /// Request body bytes received.
    pub request_body: Cell<u64>,
    /// When the integration was called, and when its response head arrived.
    pub integration_start: Cell<Option<Instant>>,
    pub integration_end: Cell<Option<Instant>>,
    pub integration_status: Cell<Option<u16>>,
    /// Why the integration failed, for `$context.integration.error`.
    pub integration_error: Cell<Option<&'static str>>,
    /// A gateway response: (message, response type), for `$context.error.*`.
    pub error: Cell<Option<(&'static str, &'static str)>>,
    /// A rate limit refused the request (the throttling step sets it):
    /// counted in `tollgate_throttled_requests`.
    pub throttled: Cell<bool>,
    /// Why the authorizer refused (`$context.authorizer.error`).
    pub authorizer_error: Cell<Option<&'static str>>,
    /// The response cache was consulted: `Some(true)` served from it,
    /// `Some(false)` a miss (CacheHitCount / CacheMissCount).
    pub cache_hit: Cell<Option<bool>>,
}

impl Facts {
    pub fn clear(&self) {
        self.status.set(0);
        self.response_length.set(0);
        self.response_head.set(0);
        self.request_body.set(0);
        self.integration_start.set(None);
        self.integration_end.set(None);
        self.integration_status.set(None);
        self.integration_error.set(None);
        self.error.set(None);
        self.throttled.set(false);
        self.authorizer_error.set(None);
        self.cache_hit.set(None);
    }

    /// A response went out: its status and the sizes of its head and body.
    pub fn responded(&self, status: u16, head: usize, body: u64) {
        self.status.set(status);
        self.response_head.set(head as u64);
        self.response_length.set(body);
    }

    fn integration_latency_us(&self) -> Option<u64> {
        match (self.integration_start.get(), self.integration_end.get()) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_micros() as u64),
            _ => None,
        }
    }
}

/// Where the access-log parts of a request were copied in a scratch buffer.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    pub method: Range<usize>,
    pub path: Range<usize>,
    pub user_agent: Option<Range<usize>>,
    pub host: Option<Range<usize>>,
    pub http10: bool,
}

impl Capture {
    /// Copy the parts of `head` (parsed from `rd`) a log line may show into
    /// `scratch` (cleared first; its capacity is reused).
    pub fn take(scratch: &mut Vec<u8>, rd: &[u8], head: &RequestHead) -> Capture {
        scratch.clear();
        let mut put = |s: &[u8]| {
            let start = scratch.len();
            scratch.extend_from_slice(s);
            start..scratch.len()
        };
        let method = put(head.method_span.get(rd));
        let path = put(head.path.get(rd));
        let user_agent = head.header(rd, "user-agent").map(&mut put);
        let host = head.host.map(|h| put(h.get(rd)));
        Capture {
            method,
            path,
            user_agent,
            host,
            http10: head.version == Version::Http10,
        }
    }
}

/// The `traceparent` and `X-Amzn-Trace-Id` values of a request, if sent.
pub fn trace_headers<'b>(rd: &'b [u8], head: &RequestHead) -> (Option<&'b [u8]>, Option<&'b [u8]>) {
    let mut tp = None;
    let mut amzn = None;
    for (n, v) in &head.headers {
        let name = n.get(rd);
        if tp.is_none() && name.eq_ignore_ascii_case(b"traceparent") {
            tp = Some(v.get(rd));
        } else if amzn.is_none() && name.eq_ignore_ascii_case(b"x-amzn-trace-id") {
            amzn = Some(v.get(rd));
        }
    }
    (tp, amzn)
}

/// The wall clock for `requestTime`, derived from the monotonic clock and
/// an anchor refreshed by the housekeeping tick (no clock read per request
/// beyond the `Instant` the latency needs anyway).
#[derive(Debug)]
pub struct WallClock {
    anchor: Cell<(Instant, u64)>,
}

impl Default for WallClock {
    fn default() -> Self {
        let c = WallClock {
            anchor: Cell::new((Instant::now(), 0)),
        };
        c.refresh();
        c
    }
}

impl WallClock {
    pub fn refresh(&self) {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.anchor.set((Instant::now(), ms));
    }

    /// Unix time in ms at `t`.
    pub fn unix_ms(&self, t: Instant) -> u64 {
        let (at, ms) = self.anchor.get();
        match t.checked_duration_since(at) {
            Some(d) => ms + d.as_millis() as u64,
            None => ms.saturating_sub(at.duration_since(t).as_millis() as u64),
        }
    }
}

/// Start the writer of every access log destination `gw` names (before
/// workers build their observers, from a thread that is not pinned: a
/// writer thread inherits its creator's CPU affinity).
pub fn start_log_writers(gw: &Gateway, sinks: &Sinks) {
    for al in gw
        .apis
        .iter()
        .flat_map(|a| &a.stages)
        .filter_map(|s| s.settings.access_log.as_ref())
    {
        if let Err(e) = sinks.get(&Destination::parse(&al.destination)) {
            eprintln!(
                "tollgate: access log {}: cannot start its writer: {e}",
                al.destination
            );
        }
    }
}

/// One stage's access log on this worker.
#[derive(Debug)]
pub struct StageLog {
    pub format: Format,
    pub out: Rc<LocalLog>,
}

/// One configuration's observers on one worker.
#[derive(Debug)]
pub struct Observer {
    pub metrics: Metrics,
    /// Per API, the index of its first stage in `logs`.
    stage_base: Vec<usize>,
    logs: Vec<Option<StageLog>>,
    /// Distinct destinations, to flush each once.
    outputs: Vec<Rc<LocalLog>>,
}

/// An access log of one stage, to build an [`Observer`] with.
#[derive(Debug)]
pub struct LogSpec {
    pub api: usize,
    pub stage: usize,
    pub format: Format,
    pub out: Rc<LocalLog>,
}

/// How one exchange ended, for [`Observer::finish`].
#[derive(Debug)]
pub struct Finished<'a> {
    pub slot: Slot,
    /// (api, stage) when a stage matched.
    pub stage: Option<(usize, usize)>,
    /// The deployment that served (the stage's or its canary's).
    pub deployment: Option<&'a str>,
    pub started: Instant,
    pub ended: Instant,
    /// Request head bytes.
    pub head_len: usize,
    pub facts: &'a Facts,
    pub peer: IpAddr,
    pub request_id: &'a RequestId,
    pub extended_id: &'a RequestId,
    pub trace: Option<&'a TraceContext>,
    /// The captured request parts and the buffer they are in.
    pub capture: Option<(&'a Capture, &'a [u8])>,
    pub wall: &'a WallClock,
    /// The IAM caller, on routes with `aws_iam`.
    pub caller: Option<crate::observe::access_log::Caller<'a>>,
    /// Who the authorizer said the caller is.
    pub identity: Option<&'a crate::auth::Identity>,
    /// The verified mTLS client certificate's subject, if any.
    pub client_cert_subject: Option<&'a str>,
}

impl Observer {
    /// The observers of configuration `gw` on one worker: its metric
    /// layout, and a [`LocalLog`] per access log destination its stages
    /// name (from `sinks`, which starts each destination's writer once).
    pub fn build(gw: &Gateway, sinks: &Sinks) -> Observer {
        let route_keys = |api: &crate::config::Api, d: usize| -> (usize, Vec<String>) {
            let routes = api.deployments.get(d).map_or(&[][..], |d| &d.routes[..]);
            (d, routes.iter().map(|r| r.key.to_string()).collect())
        };
        let shapes: Vec<ApiShape> = gw
            .apis
            .iter()
            .map(|api| ApiShape {
                name: api.name.clone(),
                protocol: api.protocol,
                stages: api
                    .stages
                    .iter()
                    .map(|st| {
                        let mut deployments = vec![route_keys(api, st.deployment)];
                        if let Some(c) =
                            st.canary.as_ref().filter(|c| c.deployment != st.deployment)
                        {
                            deployments.push(route_keys(api, c.deployment));
                        }
                        StageShape {
                            name: st.name.clone(),
                            deployments,
                        }
                    })
                    .collect(),
            })
            .collect();
        let upstreams: Vec<String> = gw.upstreams.iter().map(|u| u.name.clone()).collect();
        let unrouted = gw.apis.first().map_or(Protocol::Http, |a| a.protocol);
        let layout = Arc::new(Layout::new(&shapes, &upstreams, unrouted));
        let mut outputs: Vec<(Destination, Rc<LocalLog>)> = Vec::new();
        let mut specs = Vec::new();
        for (a, api) in gw.apis.iter().enumerate() {
            for (st, stage) in api.stages.iter().enumerate() {
                let Some(al) = &stage.settings.access_log else {
                    continue;
                };
                // Checked when the configuration loaded.
                let Ok(format) = Format::compile(&al.format, api.protocol) else {
                    continue;
                };
                let dest = Destination::parse(&al.destination);
                let out = match outputs.iter().find(|(d, _)| *d == dest) {
                    Some((_, out)) => out.clone(),
                    None => match sinks.get(&dest) {
                        Ok(sink) => {
                            let out = Rc::new(LocalLog::new(sink));
                            outputs.push((dest, out.clone()));
                            out
                        }
                        Err(e) => {
                            eprintln!(
                                "tollgate: access log {}: cannot start its writer: {e}",
                                al.destination
                            );
                            continue;
                        }
                    },
                };
                specs.push(LogSpec {
                    api: a,
                    stage: st,
                    format,
                    out,
                });
            }
        }
        let stages: Vec<usize> = gw.apis.iter().map(|a| a.stages.len()).collect();
        Observer::new(layout, &stages, specs)
    }

    /// `stages_per_api[i]`: how many stages API `i` has.
    pub fn new(layout: Arc<Layout>, stages_per_api: &[usize], logs: Vec<LogSpec>) -> Observer {
        let mut stage_base = Vec::with_capacity(stages_per_api.len());
        let mut n = 0;
        for s in stages_per_api {
            stage_base.push(n);
            n += s;
        }
        let mut slots: Vec<Option<StageLog>> = (0..n).map(|_| None).collect();
        let mut outputs: Vec<Rc<LocalLog>> = Vec::new();
        for spec in logs {
            if !outputs.iter().any(|o| Rc::ptr_eq(o, &spec.out)) {
                outputs.push(spec.out.clone());
            }
            slots[stage_base[spec.api] + spec.stage] = Some(StageLog {
                format: spec.format,
                out: spec.out,
            });
        }
        Observer {
            metrics: Metrics::new(layout),
            stage_base,
            logs: slots,
            outputs,
        }
    }

    /// A request that failed before it was routed (a malformed head, a
    /// timeout): counted in the unrouted series, not logged (no stage).
    pub fn unrouted(&self, o: &Outcome) {
        self.metrics.record(self.metrics.layout().unrouted(), o);
    }

    /// The access log of a stage, if it has one.
    pub fn stage_log(&self, api: usize, stage: usize) -> Option<&StageLog> {
        self.logs.get(self.stage_base.get(api)? + stage)?.as_ref()
    }

    /// Whether any stage logs (so requests capture their parts).
    pub fn logs_any(&self) -> bool {
        !self.outputs.is_empty()
    }

    /// Hand buffered lines to the writers (housekeeping tick).
    pub fn flush_logs(&self) {
        for o in &self.outputs {
            o.flush();
        }
    }

    /// The end of one exchange: record its metrics and write its log line.
    pub fn finish(&self, f: &Finished<'_>) {
        let facts = f.facts;
        let latency = f.ended.saturating_duration_since(f.started);
        let integration_latency_us = facts.integration_latency_us();
        self.metrics.record(
            f.slot,
            &Outcome {
                status: facts.status.get(),
                latency_us: latency.as_micros() as u64,
                integration_latency_us,
                bytes: f.head_len as u64
                    + facts.request_body.get()
                    + facts.response_head.get()
                    + facts.response_length.get(),
            },
        );
        if facts.throttled.get() {
            self.metrics.throttled(f.slot);
        }
        match facts.cache_hit.get() {
            Some(true) => self.metrics.cache_hit(f.slot),
            Some(false) => self.metrics.cache_miss(f.slot),
            None => {}
        }
        let Some((api, stage)) = f.stage else { return };
        let (Some(log), Some((cap, scratch))) = (self.stage_log(api, stage), f.capture) else {
            return;
        };
        let labels = self.metrics.layout().labels(f.slot);
        let route_key = (&*labels.route != "-").then_some(&*labels.route);
        let error = facts.error.get();
        let record = Record {
            request_id: f.request_id.as_bytes(),
            extended_request_id: f.extended_id.as_bytes(),
            source_ip: f.peer,
            user_agent: cap.user_agent.clone().map(|r| &scratch[r]),
            client_cert_subject: f.client_cert_subject,
            http_method: &scratch[cap.method.clone()],
            resource_path: route_key.and_then(|k| k.split_once(' ')).map(|(_, p)| p),
            route_key,
            path: &scratch[cap.path.clone()],
            protocol: if cap.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
            status: facts.status.get(),
            response_length: facts.response_length.get(),
            data_processed: f.head_len as u64
                + facts.request_body.get()
                + facts.response_head.get()
                + facts.response_length.get(),
            request_time_ms: f.wall.unix_ms(f.started),
            response_latency_ms: latency.as_millis() as u64,
            integration_latency_ms: integration_latency_us.map(|us| us / 1000),
            integration_status: facts.integration_status.get(),
            integration_error: facts.integration_error.get(),
            error_message: error.map(|e| e.0),
            error_response_type: error.map(|e| e.1),
            api_id: &labels.api,
            stage: Some(&*labels.stage),
            deployment: f.deployment,
            domain_name: cap.host.clone().map(|r| &scratch[r]),
            trace: f.trace,
            caller: f.caller,
            authorizer: f.identity,
            authorizer_error: facts.authorizer_error.get(),
        };
        log.out.line(|buf| log.format.render(buf, &record));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::request_id::IdGen;
    use crate::proto::http1::{HeadLimits, parse_request};
    use std::time::Duration;

    #[test]
    fn wall_clock_follows_the_monotonic_clock() {
        let c = WallClock::default();
        let now = Instant::now();
        let a = c.unix_ms(now);
        let b = c.unix_ms(now + Duration::from_millis(1500));
        assert_eq!(b - a, 1500);
        let sys = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(a.abs_diff(sys) < 1000, "{a} vs {sys}");
    }

    #[test]
    fn capture_and_trace_headers_come_from_the_head() {
        let rd = b"GET /prod/pets/7?x=1 HTTP/1.0\r\nHost: api.example.com\r\nUser-Agent: t/1\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n\r\n";
        let mut head = RequestHead::default();
        parse_request(rd, &HeadLimits::default(), &mut head)
            .unwrap()
            .unwrap();
        let mut scratch = Vec::new();
        let cap = Capture::take(&mut scratch, rd, &head);
        assert_eq!(&scratch[cap.method.clone()], b"GET");
        assert_eq!(&scratch[cap.path.clone()], b"/prod/pets/7");
        assert_eq!(&scratch[cap.user_agent.clone().unwrap()], b"t/1");
        assert_eq!(&scratch[cap.host.clone().unwrap()], b"api.example.com");
        assert!(cap.http10);
        let (tp, amzn) = trace_headers(rd, &head);
        assert!(tp.unwrap().starts_with(b"00-4bf9"));
        assert!(amzn.unwrap().starts_with(b"Root=1-5759"));
    }

    #[test]
    fn finish_records_metrics_and_writes_the_stage_log() {
        let layout = Arc::new(Layout::new(
            &[ApiShape {
                name: "shop".into(),
                protocol: Protocol::Rest,
                stages: ["prod", "beta"]
                    .iter()
                    .map(|s| StageShape {
                        name: s.to_string(),
                        deployments: vec![(0, vec!["GET /pets/{id}".into()])],
                    })
                    .collect(),
            }],
            &[],
            Protocol::Rest,
        ));
        let path =
            std::env::temp_dir().join(format!("tollgate-exchange-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let sinks = Sinks::default();
        let out = Rc::new(LocalLog::new(
            sinks.get(&Destination::File(path.clone())).unwrap(),
        ));
        let fmt = Format::compile(
            "$context.requestId $context.stage $context.routeKey $context.resourcePath $context.status $context.responseLength $context.integrationStatus $context.error.responseType",
            Protocol::Rest,
        )
        .unwrap();
        let obs = Observer::new(
            layout.clone(),
            &[2],
            vec![LogSpec {
                api: 0,
                stage: 0,
                format: fmt,
                out,
            }],
        );
        assert!(obs.stage_log(0, 0).is_some());
        assert!(obs.stage_log(0, 1).is_none());
        let rd = b"GET /prod/pets/7 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut head = RequestHead::default();
        parse_request(rd, &HeadLimits::default(), &mut head)
            .unwrap()
            .unwrap();
        let mut scratch = Vec::new();
        let cap = Capture::take(&mut scratch, rd, &head);
        let ids = IdGen::new(1);
        let (id, ext) = (ids.uuid(), ids.short());
        let facts = Facts::default();
        facts.responded(200, 100, 17);
        facts.throttled.set(true);
        facts.cache_hit.set(Some(false));
        let wall = WallClock::default();
        let started = Instant::now();
        for stage in [0, 1] {
            obs.finish(&Finished {
                identity: None,
                slot: layout.slot(0, stage, 0, Some(0)),
                stage: Some((0, stage)),
                deployment: Some("current"),
                started,
                ended: started + Duration::from_millis(3),
                head_len: rd.len(),
                facts: &facts,
                peer: "127.0.0.1".parse().unwrap(),
                request_id: &id,
                extended_id: &ext,
                trace: None,
                capture: Some((&cap, &scratch)),
                wall: &wall,
                caller: None,
                client_cert_subject: None,
            });
        }
        obs.flush_logs();
        let deadline = Instant::now() + Duration::from_secs(5);
        while sinks.facts()[0].lines < 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{} prod GET /pets/{{id}} /pets/{{id}} 200 17 - -\n",
                id.as_str()
            )
        );
        let d = obs.metrics.take_delta(0).unwrap();
        assert_eq!(d.series.len(), 2, "one series per stage");
        assert_eq!(d.series[0].counts.count, 1);
        assert_eq!(d.series[0].counts.throttled, 1);
        assert_eq!(d.series[0].counts.cache_miss, 1);
        assert_eq!(d.series[0].counts.cache_hit, 0);
        assert_eq!(
            d.series[0].counts.data_processed,
            rd.len() as u64 + 100 + 17
        );
        sinks.shutdown(Duration::from_secs(1));
        let _ = std::fs::remove_file(&path);
    }
}
