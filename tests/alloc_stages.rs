//! Allocations per request on a keep-alive connection, counted by a global
//! allocator, through custom domains, base paths, stage variables and
//! canaries (by request id, sticky header, sticky cookie), with the
//! deployment header (the same harness as `alloc.rs`, in its own process so
//! that no other test allocates meanwhile). The gateway runs
//! in-process (one worker); the client and the backend use fixed buffers
//! and allocate nothing per request, so the count is the gateway's.
//!
//! Bound: 0 per request (< 0.05, as in `alloc.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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

const BACKEND_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// Keep-alive backend that answers every request head with a fixed response.
fn backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut have = 0;
                loop {
                    let n = match s.read(&mut buf[have..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    have += n;
                    while let Some(end) = find(&buf[..have], b"\r\n\r\n") {
                        if s.write_all(BACKEND_RESPONSE).is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..have, 0);
                        have -= end + 4;
                    }
                }
            });
        }
    });
    addr
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Send `req` and read one Content-Length response into fixed buffers.
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

fn per_request(addr: SocketAddr, req: &[u8]) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 8192];
    for _ in 0..2_000 {
        assert_eq!(round_trip(&mut s, req, &mut buf), 200);
    }
    const N: u64 = 10_000;
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..N {
        round_trip(&mut s, req, &mut buf);
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    (after - before) as f64 / N as f64
}

#[test]
fn allocations_per_request_through_domains_and_canaries() {
    let upstream = backend();
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: shop
    protocol: http
    stages:
      - name: prod
        variables: {{up: "{upstream}"}}
        deployment_header: true
        canary: {{percent: 50, deployment: next}}
      - name: sticky
        variables: {{up: "{upstream}"}}
        canary: {{percent: 50, deployment: next, sticky: {{header: x-user}}}}
      - name: cookie
        variables: {{up: "{upstream}"}}
        canary: {{percent: 50, deployment: next, sticky: {{cookie: user}}}}
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, headers: {{content-type: text/plain}}, body: ok}}
      - route: $default
        integration: {{type: http_proxy, uri: "http://${{stageVariables.up}}"}}
    deployments:
      next:
        routes:
          - route: GET /mock
            integration: {{type: mock, status: 200, body: next}}
          - route: $default
            integration: {{type: http_proxy, uri: "http://${{stageVariables.up}}/next"}}
domains:
  - name: api.example.com
    mappings: {{"": shop/prod, s: shop/sticky}}
"#
    );
    let gw = tollgate::config::load_str("alloc.yaml", &yaml).expect("config");
    let running = tollgate::server::start(
        tollgate::server::Deployed {
            gateway: gw,
            id: "alloc".into(),
            origin: "alloc.yaml".into(),
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
    let cases: [(&str, &[u8]); 5] = [
        (
            "stage prefix, canary by request id, mock",
            b"GET /prod/mock HTTP/1.1\r\nHost: bench\r\n\r\n",
        ),
        (
            "custom domain, canary by request id, proxy",
            b"GET /p?q=1 HTTP/1.1\r\nHost: API.example.com:80\r\n\r\n",
        ),
        (
            "base path, sticky header, mock",
            b"GET /s/mock HTTP/1.1\r\nHost: api.example.com\r\nX-User: u7\r\n\r\n",
        ),
        (
            "sticky cookie, proxy",
            b"GET /cookie/p HTTP/1.1\r\nHost: b\r\nCookie: a=1; user=u9\r\n\r\n",
        ),
        (
            "unknown host, stage prefix, no canary header",
            b"GET /sticky/mock HTTP/1.1\r\nHost: other\r\n\r\n",
        ),
    ];
    for (what, req) in cases {
        let n = per_request(addr, req);
        println!("allocations per request, {what}: {n:.3}");
        assert!(n < 0.05, "{what}: {n} allocations per request");
    }
    running.stop().unwrap();
}
