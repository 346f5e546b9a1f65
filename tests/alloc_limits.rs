//! Allocations per request with limits in the way, counted by a global
//! allocator as in tests/alloc.rs: a route under the account and a stage
//! throttle, a route with `api_key_required` whose key's usage plan has a
//! throttle and a quota, and a request a throttle refuses (429). The
//! gateway runs in-process with one worker; the client reuses fixed buffers.
//!
//! Bound: 0 per request (asserted < 0.05, as in tests/alloc.rs). The key's
//! leases are made on its first request (the warm-up); afterwards a keyed
//! request hashes the key on the stack, probes the lock-free key table and
//! spends from `Cell`s.

mod alloc_support;

use std::net::TcpStream;

use alloc_support::{per_request, round_trip, start};

#[test]
fn limits_allocate_nothing_per_request() {
    let state = std::env::temp_dir().join(format!("tollgate-alloc-limits-{}", std::process::id()));
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
state_dir: {}
throttling: {{rate: 10000000, burst: 10000000}}
api_keys:
  - {{name: k, value: alloc-key-0123456789abcdef, usage_plans: [p]}}
usage_plans:
  - name: p
    throttle: {{rate: 10000000, burst: 10000000}}
    quota: {{limit: 100000000, period: MONTH}}
    api_stages:
      - {{api: bench, stage: prod, throttle: {{"GET /keyed": {{rate: 10000000, burst: 10000000}}}}}}
apis:
  - name: bench
    protocol: rest
    stages:
      - name: prod
        throttling: {{rate: 10000000, burst: 10000000}}
        route_settings:
          "GET /tight": {{throttling: {{rate: 0.001, burst: 1}}}}
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /keyed
        api_key_required: true
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /tight
        integration: {{type: mock, status: 200, body: ok}}
"#,
        state.display()
    );
    let running = start(&yaml);
    let addr = running.addrs[0];
    let throttled = per_request(addr, b"GET /prod/mock HTTP/1.1\r\nHost: b\r\n\r\n", 200);
    let keyed = per_request(
        addr,
        b"GET /prod/keyed HTTP/1.1\r\nHost: b\r\nX-API-Key: alloc-key-0123456789abcdef\r\n\r\n",
        200,
    );
    // The first passes (burst 1), then every request is refused.
    let mut s = TcpStream::connect(addr).unwrap();
    let mut buf = [0u8; 8192];
    round_trip(
        &mut s,
        b"GET /prod/tight HTTP/1.1\r\nHost: b\r\n\r\n",
        &mut buf,
    );
    let refused = per_request(addr, b"GET /prod/tight HTTP/1.1\r\nHost: b\r\n\r\n", 429);
    println!(
        "allocations per request: throttled {throttled:.3}, keyed (plan throttle + quota) {keyed:.3}, refused (429) {refused:.3}"
    );
    assert!(throttled < 0.05, "throttled route: {throttled}");
    assert!(keyed < 0.05, "keyed route: {keyed}");
    assert!(refused < 0.05, "refused request: {refused}");
    running.stop().unwrap();
    let _ = std::fs::remove_dir_all(&state);
}
