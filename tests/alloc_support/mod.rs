//! What the allocation tests (tests/alloc*.rs) share: a global allocator
//! that counts, a keep-alive backend and a client that use fixed buffers
//! (so they allocate nothing per request and the count is the gateway's),
//! and an in-process gateway with one worker.
//!
//! Each test file is its own process, so no other test allocates while one
//! measures; within a file, measure in one `#[test]`.

#![allow(dead_code)] // each test file uses a part

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
pub fn backend() -> SocketAddr {
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

/// Send `req`, read one Content-Length response into `buf`; its status.
pub fn round_trip(s: &mut TcpStream, req: &[u8], buf: &mut [u8; 8192]) -> u16 {
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

/// Allocations per request over 10,000 keep-alive requests after 2,000 of
/// warm-up, every one of them answered with `status` (so each took the path
/// under test, not, say, a 429).
pub fn per_request(addr: SocketAddr, req: &[u8], status: u16) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = [0u8; 8192];
    for _ in 0..2_000 {
        assert_eq!(round_trip(&mut s, req, &mut buf), status);
    }
    const N: u64 = 10_000;
    let before = ALLOCS.load(Ordering::SeqCst);
    let mut ok = 0u64;
    for _ in 0..N {
        ok += u64::from(round_trip(&mut s, req, &mut buf) == status);
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(ok, N, "responses other than {status} while measuring");
    (after - before) as f64 / N as f64
}

/// The gateway of `yaml`, in this process, with one worker.
pub fn start(yaml: &str) -> tollgate::server::Running {
    let gw = tollgate::config::load_str("alloc.yaml", yaml).expect("config");
    tollgate::server::start(
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
    .unwrap()
}
