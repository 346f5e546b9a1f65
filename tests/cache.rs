//! The response cache against the built binary and a real backend: hit and
//! miss (`Age`, `X-Cache`), TTL expiry, cache key parameters, what is not
//! stored (origin `Cache-Control`, non-GET, bodies over the per-entry
//! maximum), each `Cache-Control: max-age=0` strategy, the admin flush,
//! fill coalescing under concurrent load (origin requests ≤ workers), the
//! byte bound with 1 MB bodies, the cache carried across a reload that
//! keeps the stage's settings, and CacheHitCount / CacheMissCount.
//!
//! Requests that must meet the same worker's cache share one keep-alive
//! connection (each worker has its own cache). TTL expiry on a virtual
//! clock is `cache::policy`'s unit test; here a 1 s TTL runs on the real one.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, Response, connect, read_response};

const TOKEN: &str = "cache-test-token";

fn start(yaml: &str, workers: &str) -> Gateway {
    // SAFETY: every test sets the same value; the gateway child reads it.
    unsafe { std::env::set_var("TOLLGATE_ADMIN_TOKEN", TOKEN) };
    Gateway::start_with(yaml, &["--workers", workers])
}

/// A keep-alive client.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client {
            s: connect(addr),
            buf: Vec::new(),
        }
    }

    fn req(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        use std::io::Write;
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        if method == "POST" {
            text.push_str("Content-Length: 0\r\n");
        }
        text.push_str("\r\n");
        self.s.write_all(text.as_bytes()).unwrap();
        read_response(&mut self.s, &mut self.buf, method == "HEAD").expect("a response")
    }

    fn get(&mut self, path: &str) -> Response {
        self.req("GET", path, &[])
    }
}

/// Answers `n=<request number> <target>`, with `headers`.
fn counting_backend(headers: Vec<(String, String)>) -> Backend {
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Backend::start(move |r| Reply::Full {
        status: 200,
        headers: headers.clone(),
        body: format!("n={} {}", n.fetch_add(1, Ordering::SeqCst) + 1, r.target).into_bytes(),
    })
}

fn origin(b: &Backend) -> usize {
    b.requests.load(Ordering::SeqCst)
}

/// One REST API, stage `prod` with `stage_cache`, routes as given.
fn config(stage_cache: &str, routes: &str) -> String {
    format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    protocol: rest
    stages:
      - name: prod
        cache: {stage_cache}
    routes:
{routes}
"#
    )
}

fn proxy_route(route: &str, backend: SocketAddr, cache: &str) -> String {
    format!(
        "      - route: {route}\n        integration: {{type: http_proxy, uri: \"http://{backend}\"}}\n        cache: {cache}\n"
    )
}

#[test]
fn hit_and_miss_with_age_and_x_cache() {
    let b = counting_backend(vec![("Content-Type".into(), "text/plain".into())]);
    let gw = start(
        &config(
            "{capacity_bytes: 1000000, x_cache_header: true}",
            &proxy_route("GET /items", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    let first = c.get("/prod/items");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("Miss"));
    assert_eq!(first.header("age"), None);
    let second = c.get("/prod/items");
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache"), Some("Hit"));
    assert_eq!(second.header("age"), Some("0"));
    assert_eq!(second.text(), first.text());
    assert_eq!(second.header("content-type"), Some("text/plain"));
    // The gateway's own headers are this request's, not the stored ones.
    assert_ne!(
        second.header("x-amzn-requestid"),
        first.header("x-amzn-requestid")
    );
    assert_eq!(origin(&b), 1);
    std::thread::sleep(Duration::from_millis(1100));
    let third = c.get("/prod/items");
    assert_eq!(third.header("age"), Some("1"));
    assert_eq!(origin(&b), 1);
}

#[test]
fn ttl_expiry_and_route_override() {
    let b = counting_backend(vec![]);
    let routes = proxy_route("GET /short", b.addr, "{ttl_seconds: 1}")
        + &proxy_route("GET /off", b.addr, "{ttl_seconds: 0}")
        + &proxy_route("GET /disabled", b.addr, "{enabled: false}");
    let gw = start(&config("{capacity_bytes: 1000000}", &routes), "2");
    let mut c = Client::new(gw.addr());
    let a = c.get("/prod/short").text();
    assert_eq!(c.get("/prod/short").text(), a);
    assert_eq!(origin(&b), 1);
    std::thread::sleep(Duration::from_millis(1300));
    let after = c.get("/prod/short").text();
    assert_ne!(after, a, "the entry expired after its 1 s TTL");
    assert_eq!(origin(&b), 2);
    for path in ["/prod/off", "/prod/disabled"] {
        let before = origin(&b);
        c.get(path);
        c.get(path);
        assert_eq!(origin(&b), before + 2, "{path} is not cached");
    }
}

#[test]
fn cache_key_parameters() {
    let b = counting_backend(vec![]);
    let routes = proxy_route("GET /plain/{id}", b.addr, "{}")
        + &proxy_route(
            "GET /keyed/{id}",
            b.addr,
            "{key_parameters: [method.request.path.id, method.request.querystring.q, method.request.header.Accept]}",
        );
    let gw = start(&config("{capacity_bytes: 1000000}", &routes), "2");
    let mut c = Client::new(gw.addr());
    // API Gateway's rule: without the path parameter in the key, /plain/1
    // and /plain/2 share an entry.
    let one = c.get("/prod/plain/1").text();
    assert_eq!(c.get("/prod/plain/2").text(), one);
    assert_eq!(origin(&b), 1);

    let base = origin(&b);
    let a = c.get("/prod/keyed/1?q=x").text();
    assert_eq!(c.get("/prod/keyed/1?other=9&q=x").text(), a);
    assert_ne!(c.get("/prod/keyed/2?q=x").text(), a);
    assert_ne!(c.get("/prod/keyed/1?q=y").text(), a);
    assert_ne!(c.get("/prod/keyed/1").text(), a);
    let json = c.req(
        "GET",
        "/prod/keyed/1?q=x",
        &[("Accept", "application/json")],
    );
    assert_ne!(json.text(), a);
    let json2 = c.req(
        "GET",
        "/prod/keyed/1?q=x",
        &[("accept", "application/json")],
    );
    assert_eq!(json2.text(), json.text());
    assert_eq!(origin(&b), base + 5);
}

#[test]
fn what_is_not_stored() {
    let b = counting_backend(vec![("Cache-Control".into(), "private".into())]);
    let c2 = counting_backend(vec![("Cache-Control".into(), "no-store".into())]);
    let big = Backend::start(|_| Reply::ok(&"x".repeat(2000)));
    let chunked = Backend::start(|_| Reply::Chunked {
        status: 200,
        pieces: vec![vec![b'a'; 600], vec![b'b'; 600]],
    });
    let small_chunked = Backend::start(|_| Reply::Chunked {
        status: 200,
        pieces: vec![b"ab".to_vec(), b"cd".to_vec()],
    });
    let routes = proxy_route("GET /private", b.addr, "{}")
        + &proxy_route("GET /nostore", c2.addr, "{}")
        + &proxy_route("GET /big", big.addr, "{}")
        + &proxy_route("GET /chunked", chunked.addr, "{}")
        + &proxy_route("GET /small", small_chunked.addr, "{}")
        + &proxy_route("ANY /post", small_chunked.addr, "{}")
        + &proxy_route("POST /cachedpost", small_chunked.addr, "{methods: [POST]}");
    let gw = start(
        &config("{capacity_bytes: 1000000, max_entry_bytes: 1000}", &routes),
        "2",
    );
    let mut c = Client::new(gw.addr());
    for (path, backend) in [
        ("/prod/private", &b),
        ("/prod/nostore", &c2),
        ("/prod/big", &big),
        ("/prod/chunked", &chunked),
    ] {
        let r1 = c.get(path);
        let r2 = c.get(path);
        assert_eq!((r1.status, r2.status), (200, 200));
        assert_eq!(origin(backend), 2, "{path} must not be stored");
    }
    // A chunked body within the maximum is stored, and served with a length.
    let r1 = c.get("/prod/small");
    let r2 = c.get("/prod/small");
    assert_eq!(r2.text(), "abcd");
    assert_eq!(r1.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r2.header("content-length"), Some("4"));
    assert_eq!(origin(&small_chunked), 1);
    // POST: not by default; with `methods: [POST]`, yes.
    c.req("POST", "/prod/post", &[]);
    c.req("POST", "/prod/post", &[]);
    assert_eq!(origin(&small_chunked), 3);
    c.req("POST", "/prod/cachedpost", &[]);
    c.req("POST", "/prod/cachedpost", &[]);
    assert_eq!(origin(&small_chunked), 4);
}

#[test]
fn origin_cache_control_ignored_when_configured() {
    let b = counting_backend(vec![("Cache-Control".into(), "no-store".into())]);
    let gw = start(
        &config(
            "{capacity_bytes: 1000000, origin_cache_control: ignore}",
            &proxy_route("GET /x", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    c.get("/prod/x");
    c.get("/prod/x");
    assert_eq!(origin(&b), 1);
}

/// Fill `/prod/x`, then send `Cache-Control: max-age=0`.
fn invalidate(strategy: &str, require: bool) -> (Response, Response, usize) {
    let b = counting_backend(vec![]);
    let gw = start(
        &config(
            &format!(
                "{{capacity_bytes: 1000000, require_authorization_for_cache_control: {require}, unauthorized_cache_control_header_strategy: {strategy}}}"
            ),
            &proxy_route("GET /x", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    assert_eq!(c.get("/prod/x").status, 200);
    let refreshed = c.req("GET", "/prod/x", &[("Cache-Control", "max-age=0")]);
    let after = c.get("/prod/x");
    (refreshed, after, origin(&b))
}

#[test]
fn unauthorized_invalidation_succeeds_with_a_warning_header() {
    let (r, after, n) = invalidate("SUCCEED_WITH_RESPONSE_HEADER", true);
    assert_eq!(r.status, 200);
    assert_eq!(n, 1, "the header was ignored: served from the cache");
    assert!(r.header("warning").unwrap().starts_with("199 "));
    assert_eq!(r.text(), after.text());
}

#[test]
fn unauthorized_invalidation_succeeds_silently() {
    let (r, _, n) = invalidate("SUCCEED_WITHOUT_RESPONSE_HEADER", true);
    assert_eq!(r.status, 200);
    assert_eq!(n, 1);
    assert_eq!(r.header("warning"), None);
}

#[test]
fn unauthorized_invalidation_fails_with_403() {
    let (r, after, n) = invalidate("FAIL_WITH_403", true);
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), Some("AccessDeniedException"));
    assert_eq!(
        r.text(),
        r#"{"message":"User is not authorized to access this resource"}"#
    );
    assert_eq!(n, 1);
    assert_eq!(after.status, 200, "the connection goes on");
}

#[test]
fn authorized_invalidation_refreshes_the_entry() {
    // Without authorizers, `require_authorization_for_cache_control: false`
    // is what lets a caller invalidate.
    let (r, after, n) = invalidate("FAIL_WITH_403", false);
    assert_eq!(r.status, 200);
    assert_eq!(n, 2, "went to the origin");
    assert!(r.text().starts_with("n=2"));
    assert_eq!(
        after.text(),
        r.text(),
        "the refreshed entry replaced the old"
    );
}

#[test]
fn admin_flush_empties_every_worker() {
    let b = counting_backend(vec![]);
    let gw = start(
        &config(
            "{capacity_bytes: 1000000}",
            &proxy_route("GET /x", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    c.get("/prod/x");
    c.get("/prod/x");
    assert_eq!(origin(&b), 1);
    assert_eq!(
        gw.admin_post("/admin/cache/flush?stage=prod", None).status,
        401
    );
    assert_eq!(
        gw.admin_post("/admin/cache/flush?stage=nope", Some(TOKEN))
            .status,
        404
    );
    assert_eq!(gw.admin_post("/admin/cache/flush", Some(TOKEN)).status, 400);
    let r = gw.admin_post("/admin/cache/flush?stage=prod&api=shop", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"workers\":2"));
    c.get("/prod/x");
    assert_eq!(
        origin(&b),
        2,
        "flushed: the next request went to the origin"
    );
}

#[test]
fn concurrent_misses_are_coalesced_per_worker() {
    let b = Backend::start(|_| Reply::Slow {
        delay: Duration::from_millis(400),
        body: b"slow answer".to_vec(),
    });
    let workers = 2;
    let gw = start(
        &config(
            "{capacity_bytes: 1000000}",
            &proxy_route("GET /slow", b.addr, "{}"),
        ),
        &workers.to_string(),
    );
    let addr = gw.addr();
    let clients = 64;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut c = Client::new(addr);
                barrier.wait();
                let r = c.get("/prod/slow");
                (r.status, r.text())
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), (200, "slow answer".to_string()));
    }
    let n = origin(&b);
    println!("{clients} concurrent misses on {workers} workers: {n} origin requests");
    assert!(
        (1..=workers).contains(&n),
        "{n} origin requests for one key (at most one per worker)"
    );
}

/// `GET /admin/cache` once the workers' counters show `misses` in total.
fn cache_stats(gw: &Gateway, misses: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&gw.admin_get("/admin/cache").text()).unwrap();
        let seen: u64 = v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| w["stages"].as_array().unwrap().iter())
            .map(|s| s["misses"].as_u64().unwrap())
            .sum();
        if seen >= misses || Instant::now() > deadline {
            assert_eq!(seen, misses, "{v}");
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn byte_bound_holds_with_1mb_bodies() {
    let body = "y".repeat(1_000_000);
    let b = Backend::start(move |_| Reply::ok(&body));
    // 4.5 MB for the stage: 2.25 MB per worker, room for two 1 MB entries.
    let gw = start(
        &config(
            "{capacity_bytes: 4500000, max_entry_bytes: 1100000}",
            &proxy_route(
                "GET /big",
                b.addr,
                "{key_parameters: [method.request.querystring.k]}",
            ),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    for k in 0..10 {
        let r = c.get(&format!("/prod/big?k={k}"));
        assert_eq!(r.body.len(), 1_000_000);
    }
    // The last key is still there (served from the entry, 1 MB, zero-copy).
    let r = c.get("/prod/big?k=9");
    assert_eq!(r.body.len(), 1_000_000);
    assert!(r.header("age").is_some());
    assert_eq!(origin(&b), 10);
    let v = cache_stats(&gw, 10);
    for w in v["workers"].as_array().unwrap() {
        for s in w["stages"].as_array().unwrap() {
            let cap = s["capacity_bytes"].as_u64().unwrap();
            assert_eq!(cap, 2_250_000);
            assert!(s["bytes"].as_u64().unwrap() <= cap, "{s}");
            assert!(s["entries"].as_u64().unwrap() <= 2, "{s}");
        }
    }
}

#[test]
fn bodies_above_the_entry_maximum_are_not_cached() {
    let body = "z".repeat(1_000_000);
    let b = Backend::start(move |_| Reply::ok(&body));
    let gw = start(
        &config(
            "{capacity_bytes: 100000000, max_entry_bytes: 999999}",
            &proxy_route("GET /big", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    assert_eq!(c.get("/prod/big").body.len(), 1_000_000);
    assert_eq!(c.get("/prod/big").body.len(), 1_000_000);
    assert_eq!(origin(&b), 2);
    let v = cache_stats(&gw, 2);
    let too_large: u64 = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["stages"].as_array().unwrap().iter())
        .map(|s| s["too_large"].as_u64().unwrap())
        .sum();
    assert_eq!(too_large, 2);
}

fn reload(gw: &Gateway, yaml: &str) {
    std::fs::write(&gw.config, yaml).unwrap();
    let r = gw.admin_post("/admin/reload", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.admin_get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "workers did not switch");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn cache_survives_a_reload_that_keeps_its_settings() {
    let b = counting_backend(vec![]);
    let yaml = |ttl: u32, mock: &str| {
        config(
            &format!("{{capacity_bytes: 1000000, ttl_seconds: {ttl}}}"),
            &(proxy_route("GET /x", b.addr, "{}")
                + &format!(
                    "      - route: GET /mock\n        integration: {{type: mock, body: {mock}}}\n"
                )),
        )
    };
    let gw = start(&yaml(300, "one"), "2");
    let mut c = Client::new(gw.addr());
    let first = c.get("/prod/x").text();
    // Another route changes; the stage's cache settings do not.
    reload(&gw, &yaml(300, "two"));
    assert_eq!(c.get("/prod/mock").text(), "two");
    assert_eq!(c.get("/prod/x").text(), first);
    assert_eq!(origin(&b), 1, "the entry survived the reload");
    // The stage's TTL changes: a new, empty cache.
    reload(&gw, &yaml(200, "two"));
    assert_ne!(c.get("/prod/x").text(), first);
    assert_eq!(origin(&b), 2);
}

#[test]
fn cache_hit_and_miss_counts_in_metrics() {
    let b = counting_backend(vec![]);
    let gw = start(
        &config(
            "{capacity_bytes: 1000000}",
            &proxy_route("GET /x", b.addr, "{}"),
        ),
        "2",
    );
    let mut c = Client::new(gw.addr());
    for _ in 0..4 {
        assert_eq!(c.get("/prod/x").status, 200);
    }
    let hit = "tollgate_CacheHitCount{api=\"shop\",stage=\"prod\",route=\"GET /x\"} 3";
    let miss = "tollgate_CacheMissCount{api=\"shop\",stage=\"prod\",route=\"GET /x\"} 1";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = gw.admin_get("/metrics").text();
        if text.contains(hit) && text.contains(miss) {
            break;
        }
        assert!(Instant::now() < deadline, "{hit} / {miss} not in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn config_errors_are_located() {
    let b = "127.0.0.1:9";
    let bad = config(
        "{capacity_bytes: 0, ttl_seconds: 3601}",
        &format!(
            "      - route: GET /x/{{id}}\n        integration: {{type: http_proxy, uri: \"http://{b}\"}}\n        cache: {{key_parameters: [method.request.path.nope, method.request.body.x], methods: [BREW]}}\n"
        ),
    );
    let path = common::temp_path("yaml");
    std::fs::write(&path, bad).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for want in [
        "`capacity_bytes` must be > 0",
        "`ttl_seconds` must be between 0 and 3600",
        "the route has no path parameter `nope`",
        "cache key parameter `method.request.body.x` must be",
        "`BREW` is not a method the cache can serve",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn a_canary_has_its_own_entries() {
    let stable = Backend::start(|_| Reply::ok("stable"));
    let canary = Backend::start(|_| Reply::ok("canary"));
    let yaml = |percent: u32| {
        format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    protocol: rest
    stages:
      - name: prod
        cache: {{capacity_bytes: 1000000}}
        canary: {{percent: {percent}, deployment: v2}}
    routes:
      - route: GET /x
        integration: {{type: http_proxy, uri: "http://{}"}}
    deployments:
      v2:
        routes:
          - route: GET /x
            integration: {{type: http_proxy, uri: "http://{}"}}
"#,
            stable.addr, canary.addr
        )
    };
    let gw = start(&yaml(0), "2");
    let mut c = Client::new(gw.addr());
    assert_eq!(c.get("/prod/x").text(), "stable");
    assert_eq!(c.get("/prod/x").text(), "stable");
    assert_eq!(origin(&stable), 1);
    // All traffic to the canary: the stage's entry does not answer for it,
    // though the cache (same settings) survived the reload.
    reload(&gw, &yaml(100));
    assert_eq!(c.get("/prod/x").text(), "canary");
    assert_eq!(c.get("/prod/x").text(), "canary");
    assert_eq!(origin(&canary), 1);
    reload(&gw, &yaml(0));
    assert_eq!(c.get("/prod/x").text(), "stable");
    assert_eq!(origin(&stable), 1, "the stage's entry was kept");
}
