//! Usage plan quotas against the built binary: `429 Limit Exceeded` when a
//! key's quota is used up, `GET /admin/usage` in get-usage's shape, and the
//! counts kept in `state_dir` across a graceful restart (none lost) and a
//! `kill -9` (at most one reconcile interval lost).

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{Gateway, connect, read_response, temp_path};

const KEY: &str = "quota-key-0123456789abcdef";

fn config(state: &Path, limit: u64) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
state_dir: {state}
reconcile_ms: 10
api_keys:
  - {{name: qk, value: {KEY}, usage_plans: [metered]}}
usage_plans:
  - name: metered
    quota: {{limit: {limit}, period: MONTH, offset: 0}}
    throttle: {{rate: 100000, burst: 100000}}
    api_stages: [{{api: shop, stage: prod}}]
apis:
  - name: shop
    protocol: rest
    stages: [prod]
    routes:
      - route: GET /m
        api_key_required: true
        integration: {{type: mock, body: m}}
"#,
        state = state.display()
    )
}

/// `n` keyed GETs on one keep-alive connection: the statuses seen.
fn send(gw: &Gateway, n: usize) -> Vec<u16> {
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    (0..n)
        .map(|_| {
            s.write_all(
                format!("GET /prod/m HTTP/1.1\r\nHost: t\r\nX-API-Key: {KEY}\r\n\r\n").as_bytes(),
            )
            .unwrap();
            read_response(&mut s, &mut buf, false).unwrap().status
        })
        .collect()
}

fn usage(gw: &Gateway) -> serde_json::Value {
    let r = gw.admin_get("/admin/usage?plan=metered&key=qk");
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_str(&r.text()).unwrap()
}

/// Requests counted today for the key, as the store has them.
fn used_today(gw: &Gateway) -> u64 {
    let u = usage(gw);
    let days = u["items"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    days.last().unwrap()[0].as_u64().unwrap()
}

#[test]
fn quota_runs_out_with_limit_exceeded() {
    let state = temp_path("state");
    let gw = Gateway::start(&config(&state, 5));
    let statuses = send(&gw, 8);
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    s.write_all(format!("GET /prod/m HTTP/1.1\r\nHost: t\r\nX-API-Key: {KEY}\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"message":"Limit Exceeded"}"#);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("LimitExceededException"));
    std::thread::sleep(Duration::from_millis(100));
    let u = usage(&gw);
    assert_eq!(u["usagePlanId"], "metered");
    let days = u["items"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(
        days.as_array().unwrap().last().unwrap(),
        &serde_json::json!([5, 0])
    );
    let q = u["quotas"].as_object().unwrap().values().next().unwrap();
    assert_eq!(q["remaining"], 0);
    assert_eq!(q["limit"], 5);
    assert_eq!(q["period"], "MONTH");
    // Unknown plan or key.
    assert_eq!(gw.admin_get("/admin/usage?plan=nope").status, 404);
    assert_eq!(
        gw.admin_get("/admin/usage?plan=metered&key=nobody").status,
        404
    );
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_graceful_restart_loses_no_count() {
    let state = temp_path("state");
    let mut gw = Gateway::start(&config(&state, 1000));
    // Two connections: both workers count.
    assert!(send(&gw, 137).iter().all(|&s| s == 200));
    assert!(send(&gw, 63).iter().all(|&s| s == 200));
    gw.signal(libc::SIGTERM);
    assert_eq!(gw.wait_exit(Duration::from_secs(10)), Some(0));
    let gw = Gateway::start(&config(&state, 1000));
    assert_eq!(used_today(&gw), 200, "every request counted once");
    drop(gw);
    // And the quota goes on from there: 800 left.
    let gw = Gateway::start(&config(&state, 1000));
    let statuses = send(&gw, 810);
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 800);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn kill_9_loses_at_most_one_reconcile_interval() {
    let state = temp_path("state");
    let mut gw = Gateway::start(&config(&state, 100_000));
    assert!(send(&gw, 300).iter().all(|&s| s == 200));
    // More than one interval (10 ms) passes: all of it is on disk.
    std::thread::sleep(Duration::from_millis(50));
    // Requests in the last interval before the kill may be lost (or, as
    // leases, counted whole): at most what one interval carries.
    let last = send(&gw, 20);
    assert!(last.iter().all(|&s| s == 200));
    gw.signal(libc::SIGKILL);
    gw.wait_exit(Duration::from_secs(5));
    let gw = Gateway::start(&config(&state, 100_000));
    let used = used_today(&gw);
    println!("after kill -9: {used} of 320 counted");
    assert!((300..=320 + 4).contains(&used), "{used} counted");
    let _ = std::fs::remove_dir_all(&state);
}
