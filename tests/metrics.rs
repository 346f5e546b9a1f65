//! `GET /metrics` on the admin listener: exact values of API Gateway's
//! metrics (Count, 4XXError / 5XXError, 4xx / 5xx, IntegrationLatency
//! count, DataProcessed) after a known mix of requests against the built
//! binary, upstream connection reuse, unrouted requests, the worker driver,
//! the histogram series, a reload in between, and the Grafana dashboard's
//! queries naming only metrics that exist.
//!
//! CacheHitCount / CacheMissCount and throttled requests come from their
//! hooks (`Facts::cache_hit`, set by the cache step; `Facts::throttled`,
//! set for a THROTTLED gateway response; both recorded by
//! `Observer::finish`): exactly 0 on routes without a cache or throttle,
//! and exactly what the client saw (`X-Cache`, 429s) on routes with one.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, connect};

/// Parse the text format into `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_string(), v.parse::<f64>().expect("sample value"))
        })
        .collect()
}

fn total(s: &BTreeMap<String, f64>, family: &str) -> f64 {
    s.iter()
        .filter(|(k, _)| k.starts_with(&format!("{family}{{")))
        .map(|(_, v)| v)
        .sum()
}

/// Poll `/metrics` until the requests counted reach `count` (workers
/// publish once a second).
fn metrics_when(gw: &Gateway, count: f64) -> (String, BTreeMap<String, f64>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = gw.admin_get("/metrics");
        assert_eq!(r.status, 200);
        let text = r.text();
        let s = samples(&text);
        let n = total(&s, "tollgate_Count");
        if n >= count || Instant::now() > deadline {
            assert_eq!(n, count, "Count over all series:\n{text}");
            return (text, s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn series(name: &str, api: &str, stage: &str, route: &str) -> String {
    format!("{name}{{api=\"{api}\",stage=\"{stage}\",route=\"{route}\"}}")
}

/// One request on a keep-alive connection; returns (status, bytes of the
/// whole response). Responses here all carry Content-Length.
fn exchange(s: &mut TcpStream, req: &[u8]) -> (u16, usize) {
    s.write_all(req).unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .expect("content-length");
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).unwrap();
                assert!(n > 0, "closed mid-response");
                buf.extend_from_slice(&tmp[..n]);
            }
            assert_eq!(buf.len(), end + 4 + len, "one response at a time");
            return (status, buf.len());
        }
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: metrics.test\r\n\r\n").into_bytes()
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(backend: SocketAddr, down: u16, extra_route: &str) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  backend:
    targets: [{backend}]
apis:
  - name: shop
    protocol: rest
    stages: [prod]
    routes:
      - route: GET /ok
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /teapot
        integration: {{type: mock, status: 418}}
      - route: GET /boom
        integration: {{type: mock, status: 500}}
      - route: GET /up
        integration: {{type: http_proxy, uri: "http://backend/up"}}
      - route: GET /down
        integration: {{type: http_proxy, uri: "http://127.0.0.1:{down}/down"}}
{extra_route}
  - name: web
    protocol: http
    stages: [v1]
    routes:
      - route: GET /hello
        integration: {{type: mock, status: 200, body: hello}}
      - route: POST /echo
        integration: {{type: http_proxy, uri: "http://{backend}/echo"}}
"#
    )
}

#[test]
fn exact_values_after_a_known_mix() {
    let backend = Backend::start(|r| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: format!("{} {}", r.method, r.target).into_bytes(),
    });
    let down = closed_port();
    let yaml = config(backend.addr, down, "");
    let mut gw = Gateway::start(&yaml);

    // One keep-alive connection: one worker, one upstream pool.
    let mut c = connect(gw.addr());
    let mut rest_expect: Vec<(&str, u16, usize)> = Vec::new();
    let mut send = |c: &mut TcpStream, path: &str, route: &'static str, want: u16, n: usize| {
        for _ in 0..n {
            let (status, _) = exchange(c, &get(path));
            assert_eq!(status, want, "{path}");
        }
        rest_expect.push((route, want, n));
    };
    send(&mut c, "/prod/ok", "GET /ok", 200, 3);
    send(&mut c, "/prod/teapot", "GET /teapot", 418, 2);
    send(&mut c, "/prod/boom", "GET /boom", 500, 1);
    send(&mut c, "/prod/up", "GET /up", 200, 4);
    send(&mut c, "/prod/down", "GET /down", 502, 2);
    send(&mut c, "/prod/missing", "-", 403, 2);
    // HTTP API: DataProcessed is every byte of these exchanges.
    let mut http_bytes = BTreeMap::<&str, usize>::new();
    for (path, route, want, n) in [
        ("/v1/hello", "GET /hello", 200u16, 3),
        ("/v1/nope", "-", 404, 1),
    ] {
        for _ in 0..n {
            let req = get(path);
            let (status, resp) = exchange(&mut c, &req);
            assert_eq!(status, want);
            *http_bytes.entry(route).or_default() += req.len() + resp;
        }
    }
    for _ in 0..2 {
        let req = b"POST /v1/echo HTTP/1.1\r\nHost: metrics.test\r\nContent-Length: 5\r\n\r\nhello";
        let (status, resp) = exchange(&mut c, req);
        assert_eq!(status, 200);
        *http_bytes.entry("POST /echo").or_default() += req.len() + resp;
    }
    // No stage: the unrouted series (the listener's first API is REST: 403).
    let (status, _) = exchange(&mut c, &get("/nostage"));
    assert_eq!(status, 403);
    drop(c);
    // A malformed head never reaches routing: unrouted too.
    let bad = common::send_raw(gw.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(bad.status, 400);

    let count = 3.0 + 2.0 + 1.0 + 4.0 + 2.0 + 2.0 + 3.0 + 1.0 + 2.0 + 1.0 + 1.0;
    let (text, s) = metrics_when(&gw, count);
    let at = |name: &str, api: &str, stage: &str, route: &str| -> f64 {
        let k = series(name, api, stage, route);
        *s.get(&k).unwrap_or_else(|| panic!("{k} missing:\n{text}"))
    };

    for (route, status, n) in &rest_expect {
        let n = *n as f64;
        assert_eq!(at("tollgate_Count", "shop", "prod", route), n, "{route}");
        let e4 = if (400..500).contains(status) { n } else { 0.0 };
        let e5 = if (500..600).contains(status) { n } else { 0.0 };
        assert_eq!(
            at("tollgate_4XXError", "shop", "prod", route),
            e4,
            "{route}"
        );
        assert_eq!(
            at("tollgate_5XXError", "shop", "prod", route),
            e5,
            "{route}"
        );
        // Not yet fed (cache and throttling are other issues): exactly zero.
        assert_eq!(at("tollgate_CacheHitCount", "shop", "prod", route), 0.0);
        assert_eq!(at("tollgate_CacheMissCount", "shop", "prod", route), 0.0);
        assert_eq!(
            at("tollgate_throttled_requests", "shop", "prod", route),
            0.0
        );
        assert_eq!(at("tollgate_Latency_count", "shop", "prod", route), n);
        assert!(!s.contains_key(&series("tollgate_4xx", "shop", "prod", route)));
        let buckets_inf = format!(
            "tollgate_Latency_bucket{{api=\"shop\",stage=\"prod\",route=\"{route}\",le=\"+Inf\"}}"
        );
        assert_eq!(s[&buckets_inf], n);
        for q in ["0.5", "0.9", "0.99", "0.999"] {
            let k = format!(
                "tollgate_Latency_quantile{{api=\"shop\",stage=\"prod\",route=\"{route}\",quantile=\"{q}\"}}"
            );
            assert!(s[&k] >= 0.0, "{k}");
        }
    }
    // IntegrationLatency: only exchanges an integration answered.
    assert_eq!(
        at(
            "tollgate_IntegrationLatency_count",
            "shop",
            "prod",
            "GET /up"
        ),
        4.0
    );
    assert!(!s.contains_key(&series(
        "tollgate_IntegrationLatency_count",
        "shop",
        "prod",
        "GET /down"
    )));
    assert!(!s.contains_key(&series(
        "tollgate_IntegrationLatency_count",
        "shop",
        "prod",
        "GET /ok"
    )));

    // HTTP API names.
    assert_eq!(at("tollgate_Count", "web", "v1", "GET /hello"), 3.0);
    assert_eq!(at("tollgate_4xx", "web", "v1", "GET /hello"), 0.0);
    assert_eq!(at("tollgate_5xx", "web", "v1", "GET /hello"), 0.0);
    assert_eq!(at("tollgate_Count", "web", "v1", "-"), 1.0);
    assert_eq!(at("tollgate_4xx", "web", "v1", "-"), 1.0);
    assert_eq!(at("tollgate_Count", "web", "v1", "POST /echo"), 2.0);
    assert_eq!(
        at(
            "tollgate_IntegrationLatency_count",
            "web",
            "v1",
            "POST /echo"
        ),
        2.0
    );
    assert!(!s.contains_key(&series("tollgate_4XXError", "web", "v1", "-")));
    assert!(!s.contains_key(&series("tollgate_CacheHitCount", "web", "v1", "GET /hello")));
    for (route, bytes) in &http_bytes {
        assert_eq!(
            at("tollgate_DataProcessed", "web", "v1", route),
            *bytes as f64,
            "DataProcessed of {route}"
        );
    }

    // Unrouted: /nostage and the malformed head.
    assert_eq!(at("tollgate_Count", "", "", ""), 2.0);
    assert_eq!(at("tollgate_4XXError", "", "", ""), 2.0);

    // Upstream reuse: one client connection → one worker → one pool per upstream.
    let up = |u: &str, kind: &str| {
        s[&format!("tollgate_upstream_requests{{upstream=\"{u}\",connection=\"{kind}\"}}")]
    };
    assert_eq!(up("backend", "new"), 1.0);
    assert_eq!(up("backend", "reused"), 3.0);
    let echo_upstream = backend.addr.to_string();
    assert_eq!(up(&echo_upstream, "new"), 1.0);
    assert_eq!(up(&echo_upstream, "reused"), 1.0);
    assert_eq!(
        s[&"tollgate_upstream_connection_reuse_ratio{upstream=\"backend\"}".to_string()],
        0.75
    );
    // The refused upstream never connected.
    assert!(!text.contains(&format!("upstream=\"127.0.0.1:{down}\"")));

    // Workers: both, with their driver; requests per worker add up.
    let drivers: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("tollgate_worker_info{"))
        .collect();
    assert_eq!(drivers.len(), 2, "{text}");
    for d in &drivers {
        assert!(
            d.contains("driver=\"io_uring\"") || d.contains("driver=\"epoll\""),
            "{d}"
        );
    }
    assert_eq!(total(&s, "tollgate_worker_requests"), count);
    assert!(text.contains("# TYPE tollgate_Latency histogram\n"));
    assert!(text.contains("# TYPE tollgate_4XXError counter\n"));

    // A reload (a route added): totals carry on by their labels.
    std::fs::write(
        &gw.config,
        config(
            backend.addr,
            down,
            "      - route: GET /new\n        integration: {type: mock, status: 201}",
        ),
    )
    .unwrap();
    gw.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut polls = 0.0;
    loop {
        polls += 1.0;
        if common::get(gw.addr(), "/prod/new").status == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "reload did not happen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = connect(gw.addr());
    assert_eq!(exchange(&mut c, &get("/prod/ok")).0, 200);
    drop(c);
    let (text, s) = metrics_when(&gw, count + polls + 1.0);
    assert_eq!(
        s[&series("tollgate_Count", "shop", "prod", "GET /ok")],
        4.0,
        "{text}"
    );
    assert_eq!(
        s[&series("tollgate_Count", "shop", "prod", "GET /new")],
        1.0
    );

    let r = gw.admin_get("/metrics");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(gw.admin_post("/metrics", None).status, 405);
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
}

/// Every metric the shipped Grafana dashboard queries exists in `/metrics`.
#[test]
fn grafana_dashboard_queries_existing_metrics() {
    let dash = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/grafana-dashboard.json"
    ))
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&dash).expect("valid JSON");
    assert!(json["panels"].as_array().is_some_and(|p| p.len() > 5));
    let yaml = r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: a
    stages:
      - name: s
        access_log: {destination: /dev/null, format: json}
    routes:
      - route: GET /x
        integration: {type: mock}
"#;
    let gw = Gateway::start(yaml);
    common::get(gw.addr(), "/s/x");
    let text = gw.admin_get("/metrics").text();
    let mut names: Vec<&str> = dash
        .match_indices("tollgate_")
        .map(|(i, _)| {
            let rest = &dash[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 10, "{names:?}");
    for n in names {
        let family = n
            .strip_suffix("_bucket")
            .or_else(|| n.strip_suffix("_sum"))
            .or_else(|| n.strip_suffix("_count"))
            .unwrap_or(n);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard queries {n}, which /metrics does not export"
        );
    }
}

/// Throttling and the response cache feed `tollgate_throttled_requests`,
/// CacheHitCount and CacheMissCount through their hooks: the counts equal
/// what the client saw (429s; `X-Cache: Hit` / `Miss`).
#[test]
fn throttled_and_cache_counts_match_what_clients_saw() {
    let backend = Backend::start(|_| Reply::ok("cached body"));
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
throttling: unlimited
apis:
  - name: shop
    protocol: rest
    stages:
      - name: t
        throttling: {{rate: 1, burst: 2}}
      - name: c
        cache: {{capacity_bytes: 1048576, ttl_seconds: 300, x_cache_header: true}}
    routes:
      - route: GET /limited
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /cached
        cache: {{enabled: true}}
        integration: {{type: http_proxy, uri: "http://{}/cached"}}
"#,
        backend.addr
    );
    let gw = Gateway::start(&yaml);
    let mut c = connect(gw.addr());
    let (mut ok, mut refused) = (0.0, 0.0);
    for _ in 0..10 {
        match exchange(&mut c, &get("/t/limited")).0 {
            200 => ok += 1.0,
            429 => refused += 1.0,
            s => panic!("status {s}"),
        }
    }
    assert!(
        refused > 0.0,
        "a burst of 2 at 1/s refuses some of 10 requests"
    );
    let (mut hits, mut misses) = (0.0, 0.0);
    for _ in 0..6 {
        c.write_all(&get("/c/cached")).unwrap();
        let mut buf = Vec::new();
        let r = common::read_response(&mut c, &mut buf, false).expect("a response");
        assert_eq!(r.status, 200);
        match r.header("x-cache") {
            Some("Hit") => hits += 1.0,
            Some("Miss") => misses += 1.0,
            other => panic!("X-Cache: {other:?}"),
        }
    }
    assert!(hits > 0.0 && misses > 0.0, "hits {hits}, misses {misses}");
    println!("throttle: {ok} admitted, {refused} refused; cache: {hits} hits, {misses} misses");
    drop(c);
    let (text, s) = metrics_when(&gw, 16.0);
    let at = |name: &str, stage: &str, route: &str| s[&series(name, "shop", stage, route)];
    assert_eq!(
        at("tollgate_Count", "t", "GET /limited"),
        ok + refused,
        "{text}"
    );
    assert_eq!(
        at("tollgate_throttled_requests", "t", "GET /limited"),
        refused
    );
    assert_eq!(at("tollgate_4XXError", "t", "GET /limited"), refused);
    assert_eq!(at("tollgate_CacheHitCount", "c", "GET /cached"), hits);
    assert_eq!(at("tollgate_CacheMissCount", "c", "GET /cached"), misses);
    assert_eq!(at("tollgate_throttled_requests", "c", "GET /cached"), 0.0);
    assert_eq!(at("tollgate_CacheHitCount", "t", "GET /limited"), 0.0);
}
