//! Allocations per request on authorized routes, counted by a global
//! allocator (as tests/alloc.rs does): a JWT-authorized route whose token is
//! in the per-core verified-token cache, and a route behind a Lambda-style
//! REQUEST authorizer whose result is cached. Both: 0 per request once
//! warm (the cache keys go into a reusable per-core buffer, the method ARN
//! into a reusable string, the identity is shared by `Rc`). Bound asserted
//! as < 0.05 to tolerate a one-off buffer growth.

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

/// An authorizer endpoint that allows everyone (it is called once: cached).
fn authorizer() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut have = 0;
                loop {
                    let n = match s.read(&mut buf[have..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    have += n;
                    let text = String::from_utf8_lossy(&buf[..have]).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if have < end + 4 + len {
                        continue;
                    }
                    let body = br#"{"isAuthorized":true,"context":{"user":"u"}}"#;
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(body);
                    have = 0;
                }
            });
        }
    });
    addr
}

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

#[test]
fn authorized_requests_allocate_nothing_once_cached() {
    use jsonwebtoken::jwk::{Jwk, JwkSet};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    let pem_path =
        std::env::temp_dir().join(format!("tollgate-alloc-auth-{}.pem", std::process::id()));
    assert!(
        std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out"
            ])
            .arg(&pem_path)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let key = EncodingKey::from_rsa_pem(&std::fs::read(&pem_path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&pem_path);
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k".into());
    let jwks_path =
        std::env::temp_dir().join(format!("tollgate-alloc-auth-{}.json", std::process::id()));
    std::fs::write(
        &jwks_path,
        serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap(),
    )
    .unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k".into());
    let token = jsonwebtoken::encode(
        &h,
        &serde_json::json!({"iss": "https://i", "aud": "a", "sub": "s", "exp": exp, "scope": "read"}),
        &key,
    )
    .unwrap();

    let auth = authorizer();
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
throttling: unlimited
apis:
  - name: bench
    stages: ["$default"]
    authorizers:
      users: {{type: jwt, issuer: "https://i", audience: [a], jwks_file: "{}"}}
      gate: {{type: request, uri: "http://{auth}/", enable_simple_responses: true, identity_source: ["$request.header.X-Token"]}}
    routes:
      - {{route: GET /jwt, authorizer: users, authorization_scopes: [read], integration: {{type: mock, body: ok}}}}
      - {{route: GET /lambda, authorizer: gate, integration: {{type: mock, body: ok}}}}
"#,
        jwks_path.display()
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
    running
        .shared
        .jwks
        .sync(&running.shared.current().1.gateway);
    let addr = running.addrs[0];
    let jwt = per_request(
        addr,
        format!("GET /jwt HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    );
    let lambda = per_request(
        addr,
        b"GET /lambda HTTP/1.1\r\nHost: bench\r\nX-Token: alice\r\n\r\n",
    );
    println!(
        "allocations per request: jwt (cached token) {jwt:.3}, cached request authorizer {lambda:.3}"
    );
    assert!(jwt < 0.05, "a JWT route allocates {jwt} times per request");
    assert!(
        lambda < 0.05,
        "a cached authorizer allocates {lambda} times per request"
    );
    running.stop().unwrap();
    let _ = std::fs::remove_file(&jwks_path);
}
