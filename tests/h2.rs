//! Black-box: HTTP/2 to clients (TLS with ALPN, h2c with prior knowledge)
//! through the same pipeline as HTTP/1, and the abuse limits: flood
//! scripts (Python `h2`, tests/scripts/h2_flood.py) get GOAWAY while a
//! well-behaved client on another connection keeps being served.

mod common;

use common::tls::*;
use common::*;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn config(pki: &Pki, backend: std::net::SocketAddr) -> String {
    let (c, k) = pki.leaf("api", &["api.example.com"], false);
    format!(
        r#"
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls: {{cert: {c}, key: {k}}}
    http2: {{max_concurrent_streams: 64, max_pending_accept_reset_streams: 10}}
  - name: h2c
    address: 127.0.0.1:0
    http2: {{h2c: true}}
limits: {{max_body_bytes: 100000}}
apis:
  - name: a
    stages: [$default]
    routes:
      - {{route: GET /hello, integration: {{type: mock, status: 200, body: hello}}}}
      - {{route: ANY /echo, integration: {{type: http_proxy, uri: 'http://{backend}/echo'}}}}
"#
    )
}

/// curl with prior knowledge on the h2c listener: (status, version, body).
fn curl_h2c(gw: &Gateway, path: &str, extra: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code} %{http_version}",
        ])
        .args(extra)
        .arg(format!("http://{}{path}", gw.listeners[1].1))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut t = tail.split_whitespace();
    let status = t.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, t.next().unwrap_or("").to_string(), body.to_string())
}

#[test]
fn curl_http2_over_tls_and_h2c_run_the_pipeline() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let gw = Gateway::start(&config(&pki, backend.addr));
    let (status, version, body) = curl(&pki, &gw, "api.example.com", "/hello", &["--http2"]);
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "2", "hello")
    );
    // Routing and gateway responses are the pipeline's.
    let (status, version, body) = curl(&pki, &gw, "api.example.com", "/nope", &["--http2"]);
    assert_eq!((status, version.as_str()), (404, "2"));
    assert_eq!(body, r#"{"message":"Not Found"}"#);
    // A proxied POST: the body and the authority reach the backend as HTTP/1.1.
    let (status, _, body) = curl(
        &pki,
        &gw,
        "api.example.com",
        "/echo?q=1",
        &["--http2", "-d", "ping=1", "-H", "x-custom: yes"],
    );
    assert_eq!(status, 200, "{body}");
    let got = backend.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/echo?q=1");
    assert_eq!(got.body, b"ping=1");
    assert_eq!(got.header("x-custom"), Some("yes"));
    assert_eq!(got.header("x-forwarded-proto"), Some("https"));
    // Past max_body_bytes: the API Gateway 413.
    let big = temp_path("body");
    std::fs::write(&big, "x".repeat(150_000)).unwrap();
    let arg = format!("@{}", big.display());
    let (status, _, _) = curl(
        &pki,
        &gw,
        "api.example.com",
        "/echo",
        &["--http2", "--data-binary", &arg],
    );
    let _ = std::fs::remove_file(&big);
    assert_eq!(status, 413);

    // h2c with prior knowledge, and HTTP/1.1 on the same listener.
    let (status, version, body) = curl_h2c(&gw, "/hello", &["--http2-prior-knowledge"]);
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "2", "hello")
    );
    let (status, version, body) = curl_h2c(&gw, "/hello", &["--http1.1"]);
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "1.1", "hello")
    );
    // Many streams on one connection.
    let urls: Vec<String> = (0..20)
        .map(|_| format!("http://{}/hello", gw.listeners[1].1))
        .collect();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--http2-prior-knowledge",
            "--parallel",
            "--parallel-immediate",
        ])
        .args(&urls)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello".repeat(20));
}

fn flood(mode: &str, addr: std::net::SocketAddr, tls: bool) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/h2_flood.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(mode)
        .arg("127.0.0.1")
        .arg(addr.port().to_string());
    if tls {
        cmd.arg("--tls");
    }
    let out = cmd.output().expect("python3 h2_flood.py");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn floods_get_goaway_while_a_good_client_is_served() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let gw = Gateway::start(&config(&pki, backend.addr));
    // A well-behaved HTTP/2 client on its own connection, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let good = {
        let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
        let addr = gw.listeners[1].1;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let out = Command::new("curl")
                    .args(["-s", "--max-time", "5", "--http2-prior-knowledge"])
                    .arg(format!("http://{addr}/hello"))
                    .output()
                    .unwrap();
                if out.stdout == b"hello" {
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Rapid Reset (CVE-2023-44487), CONTINUATION, PING and SETTINGS floods,
    // over TLS and h2c.
    for (mode, tls) in [
        ("rapid-reset", true),
        ("rapid-reset", false),
        ("continuation", true),
        ("continuation", false),
        ("ping", true),
        ("ping", false),
        ("settings", true),
        ("settings", false),
    ] {
        let addr = if tls { gw.addr() } else { gw.listeners[1].1 };
        let out = flood(mode, addr, tls);
        // ENHANCE_YOUR_CALM (0xb) for floods.
        assert!(
            out.starts_with("GOAWAY"),
            "{mode} (tls {tls}): expected GOAWAY, got {out}"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Release);
    good.join().unwrap();
    assert!(
        served.load(Ordering::Relaxed) > 0,
        "the good client got nothing"
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "the good client failed");
    // And the gateway still answers new connections.
    let (status, _, _) = curl(&pki, &gw, "api.example.com", "/hello", &["--http2"]);
    assert_eq!(status, 200);
}

/// The Python gRPC test server (tests/scripts/grpc_echo.py); killed on drop.
struct GrpcServer {
    child: std::process::Child,
    port: u16,
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const GRPC_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/grpc_echo.py");

impl GrpcServer {
    fn start() -> GrpcServer {
        GrpcServer::start_with(&[])
    }

    /// `tls`: certificate and key files (the server then speaks TLS).
    fn start_with(tls: &[&str]) -> GrpcServer {
        let mut child = Command::new("python3")
            .args([GRPC_SCRIPT, "server"])
            .args(tls)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 grpc_echo.py (pip install grpcio)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("grpc server port (is grpcio installed?)");
        GrpcServer { child, port }
    }
}

#[test]
fn grpc_unary_and_server_streaming_through_the_gateway() {
    let pki = Pki::new();
    let grpc = GrpcServer::start();
    let (c, k) = pki.leaf("api", &["api.example.com"], false);
    let yaml = format!(
        r#"
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls: {{cert: {c}, key: {k}}}
  - name: h2c
    address: 127.0.0.1:0
    http2: {{h2c: true}}
upstreams:
  grpc: {{targets: ["127.0.0.1:{port}"], protocol: h2}}
apis:
  - name: g
    stages: [$default]
    routes:
      - {{route: "POST /test.Echo/{{method}}", integration: {{type: http_proxy, uri: "http://grpc"}}}}
"#,
        port = grpc.port
    );
    let gw = Gateway::start(&yaml);
    let want = "unary echo:hi OK kept\nstream 0:s,1:s,2:s,3:s,4:s\nfail NOT_FOUND no such thing\n";
    // h2c with prior knowledge.
    let out = Command::new("python3")
        .args([GRPC_SCRIPT, "client", &gw.listeners[1].1.to_string()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Over TLS (ALPN h2), verified against the test CA.
    let out = Command::new("python3")
        .args([
            GRPC_SCRIPT,
            "client",
            &gw.addr().to_string(),
            &pki.path("ca.pem"),
            "api.example.com",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn idle_h2_connections_close_after_the_keepalive_timeout() {
    let gw = Gateway::start(
        "listeners: [{name: h2c, address: 127.0.0.1:0, http2: {h2c: true}}]\n\
         limits: {keepalive_timeout_ms: 300}\n\
         apis: [{name: a, stages: [$default], routes: [{route: GET /x, integration: {type: mock}}]}]\n",
    );
    let started = std::time::Instant::now();
    let out = flood("idle", gw.addr(), false);
    // GOAWAY with NO_ERROR (0), within a few keep-alive periods.
    assert_eq!(out.trim(), "GOAWAY 0");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn grpc_to_an_upstream_over_tls_with_alpn_h2() {
    let pki = Pki::new();
    let (uc, uk) = pki.leaf("upstream", &["localhost"], false);
    let grpc = GrpcServer::start_with(&[&uc, &uk]);
    let yaml = format!(
        r#"
listeners:
  - name: h2c
    address: 127.0.0.1:0
    http2: {{h2c: true}}
upstreams:
  grpc: {{targets: ["localhost:{port}"], protocol: h2, tls: {{ca_file: {ca}}}}}
apis:
  - name: g
    stages: [$default]
    routes:
      - {{route: "POST /test.Echo/{{method}}", integration: {{type: http_proxy, uri: "https://grpc"}}}}
"#,
        port = grpc.port,
        ca = pki.path("ca.pem"),
    );
    let gw = Gateway::start(&yaml);
    let out = Command::new("python3")
        .args([GRPC_SCRIPT, "client", &gw.addr().to_string()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "unary echo:hi OK kept\nstream 0:s,1:s,2:s,3:s,4:s\nfail NOT_FOUND no such thing\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
