//! Throttling against the built binary (2 workers): the 429 shapes of REST
//! and HTTP APIs with `Retry-After`, stage and route levels, the account
//! level, buckets kept across a reload, and the whole limit reachable from
//! one keep-alive connection.
//!
//! The rate test's tolerance is ±10 %, wider than the simulation's ±2 %
//! (tests/limit_sim.rs), because here the clock is the wall clock of two
//! processes: the window is measured by the client from its first to its
//! last answer, which is off from the gateway's by connection setup and the
//! scheduling of 2 workers and 4 client threads on a 2-CPU machine (a few
//! ms at each end, a few tokens at 200/s), and each client's request in
//! flight when the window closes is not counted.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Gateway, Response, connect, get, read_response};

fn yaml(protocol: &str, stage_throttle: &str, extra: &str) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
{extra}
apis:
  - name: shop
    protocol: {protocol}
    stages:
      - name: prod
        throttling: {stage_throttle}
        route_settings:
          "GET /slow": {{throttling: {{rate: 1, burst: 1}}}}
    routes:
      - route: GET /a
        integration: {{type: mock, body: a}}
      - route: GET /slow
        integration: {{type: mock, body: slow}}
"#
    )
}

/// Keep-alive GETs on one connection until the first non-200: how many passed.
fn until_refused(gw: &Gateway, path: &str, max: usize) -> (usize, Option<Response>) {
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for i in 0..max {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut s, &mut buf, false).expect("a response");
        if r.status != 200 {
            return (i, Some(r));
        }
    }
    (max, None)
}

#[test]
fn rest_api_429_has_its_error_type_and_retry_after() {
    let gw = Gateway::start(&yaml("rest", "{rate: 0.5, burst: 3}", ""));
    let (passed, refused) = until_refused(&gw, "/prod/a", 10);
    assert_eq!(passed, 3, "the burst passes");
    let r = refused.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"message":"Too Many Requests"}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-amzn-RequestId").is_some());
    // 0.5 per second: the next token in up to 2 s.
    let retry: u32 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
}

#[test]
fn http_api_429_has_the_http_api_shape() {
    let gw = Gateway::start(&yaml("http", "{rate: 0.5, burst: 2}", ""));
    let (passed, refused) = until_refused(&gw, "/prod/a", 10);
    assert_eq!(passed, 2);
    let r = refused.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"message":"Too Many Requests"}"#);
    assert_eq!(r.header("x-amzn-ErrorType"), None);
    assert!(r.header("apigw-requestid").is_some());
    assert!(r.header("retry-after").is_some());
    // The connection stays usable after a 429.
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /prod/a HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 429);
    }
}

#[test]
fn route_settings_replace_the_stage_default() {
    let gw = Gateway::start(&yaml("http", "{rate: 1000, burst: 1000}", ""));
    let (slow, _) = until_refused(&gw, "/prod/slow", 10);
    assert_eq!(slow, 1, "the route's own throttle (burst 1)");
    let (fast, _) = until_refused(&gw, "/prod/a", 50);
    assert_eq!(fast, 50, "other routes keep the stage's");
}

#[test]
fn account_throttle_applies_to_every_api() {
    let extra = "throttling: {rate: 1, burst: 4}";
    let gw = Gateway::start(&yaml("http", "{rate: 1000, burst: 1000}", extra));
    let (a, _) = until_refused(&gw, "/prod/a", 10);
    let (b, r) = until_refused(&gw, "/prod/slow", 10);
    assert_eq!(a + b, 4, "one account bucket for all routes");
    assert_eq!(r.unwrap().status, 429);
    // Not routed: no limit is taken or applied.
    assert_eq!(get(gw.addr(), "/nope").status, 404);
}

#[test]
fn a_reload_keeps_a_surviving_bucket_and_applies_its_new_limit() {
    // SAFETY: set before the gateway starts; read only by the child.
    unsafe { std::env::set_var("TOLLGATE_ADMIN_TOKEN", "t") };
    let gw = Gateway::start(&yaml("http", "{rate: 0.1, burst: 5}", ""));
    let (passed, _) = until_refused(&gw, "/prod/a", 20);
    assert_eq!(passed, 5);
    // Same key (stage/shop/prod), new burst: the bucket is not refilled.
    std::fs::write(&gw.config, yaml("http", "{rate: 0.1, burst: 10}", "")).unwrap();
    assert_eq!(gw.admin_post("/admin/reload", Some("t")).status, 200);
    wait_ready(&gw);
    assert_eq!(until_refused(&gw, "/prod/a", 20).0, 0, "still empty");
    // A new rate takes effect at once: 1000/s refills in a few ms.
    std::fs::write(&gw.config, yaml("http", "{rate: 1000, burst: 10}", "")).unwrap();
    assert_eq!(gw.admin_post("/admin/reload", Some("t")).status, 200);
    wait_ready(&gw);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(until_refused(&gw, "/prod/a", 10).0, 10);
}

fn wait_ready(gw: &Gateway) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.admin_get("/readyz").status != 200 {
        assert!(Instant::now() < deadline, "workers did not switch");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Load from `clients` keep-alive connections for `secs`; (admitted, window).
fn hammer(gw: &Gateway, clients: usize, secs: f64) -> (u64, f64) {
    let ok = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let addr = gw.addr();
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (ok, stop) = (ok.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut s = connect(addr);
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(b"GET /prod/a HTTP/1.1\r\nHost: t\r\n\r\n")
                        .unwrap();
                    let r = read_response(&mut s, &mut buf, false).unwrap();
                    if r.status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert_eq!(r.status, 429);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    (ok.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

#[test]
fn two_workers_admit_rate_times_time_plus_burst() {
    let gw = Gateway::start(&yaml("http", "{rate: 200, burst: 100}", ""));
    let (ok, window) = hammer(&gw, 4, 3.0);
    let expected = 100.0 + 200.0 * window;
    let err = (ok as f64 / expected - 1.0) * 100.0;
    println!(
        "4 clients, 2 workers: {ok} admitted in {window:.3} s, expected {expected:.0} ({err:+.2} %)"
    );
    assert!(err.abs() <= 10.0, "{err:+.2} % off");
}

#[test]
fn one_keepalive_connection_gets_the_whole_limit() {
    // One connection lands on one worker; the limit is not split per worker.
    let gw = Gateway::start(&yaml("http", "{rate: 200, burst: 50}", ""));
    let (ok, window) = hammer(&gw, 1, 2.0);
    let expected = 50.0 + 200.0 * window;
    let err = (ok as f64 / expected - 1.0) * 100.0;
    println!(
        "1 connection, 2 workers: {ok} admitted in {window:.3} s, expected {expected:.0} ({err:+.2} %)"
    );
    assert!(
        err.abs() <= 10.0,
        "{err:+.2} % off (a per-worker split would be about -50 %)"
    );
}

#[test]
fn usage_plan_throttles_each_key_apart_and_per_route() {
    let extra = r#"api_keys:
  - {name: one, value: key-one-0123456789abcdef, usage_plans: [gold]}
  - {name: two, value: key-two-0123456789abcdef, usage_plans: [gold]}
usage_plans:
  - name: gold
    throttle: {rate: 0.1, burst: 3}
    api_stages:
      - api: shop
        stage: prod
        throttle: {"GET /slow": {rate: 0.1, burst: 1}}"#;
    let yaml = yaml("rest", "{rate: 1000, burst: 1000}", extra)
        .replace(
            "      - route: GET /a\n",
            "      - route: GET /a\n        api_key_required: true\n",
        )
        .replace(
            "      - route: GET /slow\n",
            "      - route: GET /slow\n        api_key_required: true\n",
        )
        .replace(
            "          \"GET /slow\": {throttling: {rate: 1, burst: 1}}",
            "          \"GET /slow\": {throttling: {rate: 1000, burst: 1000}}",
        );
    let gw = Gateway::start(&yaml);
    let keyed = |key: &str, path: &str| {
        let mut s = connect(gw.addr());
        let mut buf = Vec::new();
        let mut passed = 0;
        for _ in 0..10 {
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: t\r\nX-API-Key: {key}\r\n\r\n").as_bytes(),
            )
            .unwrap();
            let r = read_response(&mut s, &mut buf, false).unwrap();
            match r.status {
                200 => passed += 1,
                429 => assert!(r.header("retry-after").is_some()),
                other => panic!("{other}"),
            }
        }
        passed
    };
    assert_eq!(
        keyed("key-one-0123456789abcdef", "/prod/a"),
        3,
        "the plan's burst"
    );
    assert_eq!(
        keyed("key-two-0123456789abcdef", "/prod/a"),
        3,
        "each key its own bucket"
    );
    assert_eq!(
        keyed("key-one-0123456789abcdef", "/prod/slow"),
        1,
        "the plan's per-route throttle"
    );
}
