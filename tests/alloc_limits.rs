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

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Send `req`, read one Content-Length response into `buf`; its status.
fn round_trip(s: &mut TcpStream, req: &[u8], buf: &mut [u8; 8192]) -> u16 {
    s.write_all(req).unwrap();
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).unwrap();
        assert!(n > 0, "gateway closed the connection");
        have += n;
        if let Some(end) = find(&buf[..have], b"\r\n\r\n") {
            let head = &buf[..end];
            let status = (head[9] - b'0') as u16 * 100
                + (head[10] - b'0') as u16 * 10
                + (head[11] - b'0') as u16;
            let cl_at = find(head, b"Content-Length: ").expect("content-length") + 16;
            let mut len = 0usize;
            for &b in &head[cl_at..] {
                if !b.is_ascii_digit() {
                    break;
                }
                len = len * 10 + (b - b'0') as usize;
            }
            while have < end + 4 + len {
                have += s.read(&mut buf[have..]).unwrap();
            }
            return status;
        }
    }
}

/// Allocations per request over 10,000 requests after 2,000 of warm-up,
/// all answered with `status`.
fn per_request(addr: SocketAddr, req: &[u8], status: u16) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 8192];
    for _ in 0..2_000 {
        assert_eq!(round_trip(&mut s, req, &mut buf), status);
    }
    const N: u64 = 10_000;
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..N {
        assert_eq!(round_trip(&mut s, req, &mut buf), status);
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    (after - before) as f64 / N as f64
}

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
    let gw = tollgate::config::load_str("alloc_limits.yaml", &yaml).expect("config");
    let running = tollgate::server::start(
        tollgate::server::Deployed {
            gateway: gw,
            id: "alloc".into(),
            origin: "alloc_limits.yaml".into(),
            loaded_at: std::time::SystemTime::now(),
        },
        &tollgate::server::Options {
            workers: Some(1),
            driver: tollgate::server::Driver::Auto,
            admin: None,
            admin_token: None,
            watch: false,
        },
    )
    .unwrap();
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
