//! Allocations per request on authorized routes, counted by a global
//! allocator (as tests/alloc.rs does): a JWT-authorized route whose token is
//! in the per-core verified-token cache, and a route behind a Lambda-style
//! REQUEST authorizer whose result is cached. Both: 0 per request once
//! warm (the cache keys go into a reusable per-core buffer, the method ARN
//! into a reusable string, the identity is shared by `Rc`). Bound asserted
//! as < 0.05 to tolerate a one-off buffer growth.

mod alloc_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

use alloc_support::{per_request, start};

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
    let running = start(&yaml);
    running
        .shared
        .jwks
        .sync(&running.shared.current().1.gateway);
    let addr = running.addrs[0];
    let jwt = per_request(
        addr,
        format!("GET /jwt HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
        200,
    );
    let lambda = per_request(
        addr,
        b"GET /lambda HTTP/1.1\r\nHost: bench\r\nX-Token: alice\r\n\r\n",
        200,
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
