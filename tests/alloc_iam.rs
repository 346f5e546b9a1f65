//! Allocations per request on IAM-authorized routes (`aws_iam`), counted by
//! a global allocator (as tests/alloc.rs does): a header-signed GET and a
//! signed POST with a body, replayed on one connection within the
//! signature's 5-minute window. Both: 0 per request once warm (the key's
//! signing key is derived once a day per worker, the body is hashed where it
//! lies in the read buffer, the method ARN goes into a reusable string, the
//! identity is shared by `Rc`). Bound asserted as < 0.05 to tolerate a
//! one-off buffer growth. The signature is made here with tollgate's own
//! signer: tests/iam.rs shows botocore's signatures pass.

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

fn round_trip(s: &mut TcpStream, req: &[u8], buf: &mut [u8]) -> u16 {
    s.write_all(req).unwrap();
    let mut have = 0;
    loop {
        have += s.read(&mut buf[have..]).unwrap();
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[..end];
            let status = (head[9] - b'0') as u16 * 100
                + (head[10] - b'0') as u16 * 10
                + (head[11] - b'0') as u16;
            let at = head
                .windows(16)
                .position(|w| w == b"Content-Length: ")
                .expect("content-length")
                + 16;
            let mut len = 0usize;
            for &b in &head[at..] {
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
    let mut ok = 0u64;
    for _ in 0..N {
        ok += u64::from(round_trip(&mut s, req, &mut buf) == 200);
    }
    assert_eq!(ok, N, "responses other than 200 while measuring");
    let after = ALLOCS.load(Ordering::SeqCst);
    (after - before) as f64 / N as f64
}

fn signed(method: &str, path: &str, body: &str, host: &str) -> Vec<u8> {
    use tollgate::auth::sigv4::{self, AmzDate};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = AmzDate::from_unix(now);
    let hash = sigv4::payload_hash(body.as_bytes());
    let headers = [("host", host), ("x-amz-date", date.as_str())];
    let req = sigv4::Request {
        method,
        path: path.as_bytes(),
        query: b"",
        headers: &headers,
        payload_sha256: hash.as_str(),
    };
    let key = sigv4::signing_key("s3cr3t", date.date(), "us-east-1", "execute-api");
    let mut authz = Vec::new();
    sigv4::authorization(
        &req,
        "AKIAALICE0EXAMPLE0",
        &key,
        &date,
        "us-east-1",
        "execute-api",
        &mut authz,
    )
    .unwrap();
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        date.as_str(),
        String::from_utf8(authz).unwrap(),
        body.len()
    )
    .into_bytes();
    out.shrink_to_fit();
    out
}

#[test]
fn signed_requests_allocate_nothing() {
    let yaml = r#"
listeners: [{name: main, address: 127.0.0.1:0}]
throttling: unlimited
iam:
  access_keys:
    - id: AKIAALICE0EXAMPLE0
      secret: s3cr3t
      policy: {Statement: [{Effect: Deny, Action: "*", Resource: "*/admin"}, {Effect: Allow, Action: execute-api:Invoke, Resource: "arn:aws:execute-api:us-east-1:123456789012:bench/*"}]}
apis:
  - name: bench
    protocol: rest
    stages: [prod]
    routes:
      - {route: GET /pets, authorization: aws_iam, integration: {type: mock, body: ok}}
      - {route: POST /pets, authorization: aws_iam, integration: {type: mock, body: ok}}
"#;
    let gw = tollgate::config::load_str("alloc.yaml", yaml).expect("config");
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
    let get = per_request(addr, &signed("GET", "/prod/pets", "", "bench"));
    let post = per_request(
        addr,
        &signed(
            "POST",
            "/prod/pets",
            r#"{"name":"rex","kind":"dog"}"#,
            "bench",
        ),
    );
    println!("allocations per request: signed GET {get:.3}, signed POST {post:.3}");
    assert!(get < 0.05, "a signed GET allocates {get} times per request");
    assert!(
        post < 0.05,
        "a signed POST allocates {post} times per request"
    );
    running.stop().unwrap();
}
