//! Black-box: the built binary proxying to a real backend on 127.0.0.1.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn config(backend: std::net::SocketAddr, protocol: &str, timeout_ms: u64) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  backend:
    targets: ["{backend}"]
    pool_size: 16
apis:
  - name: shop
    protocol: {protocol}
    stages: ["$default"]
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, body: ok}}
      - route: ANY /items/{{id}}
        integration: {{type: http_proxy, uri: "http://backend/v1/items/{{id}}", timeout_ms: {timeout_ms}}}
      - route: $default
        integration: {{type: http_proxy, uri: "http://backend", timeout_ms: {timeout_ms}}}
"#
    )
}

#[test]
fn proxies_path_query_and_forwarding_headers() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let r = send_raw(
        gw.addr(),
        b"GET /items/a%20b?x=1&y=2 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: keep-alive, x-drop\r\nX-Drop: secret\r\nTE: trailers\r\nX-Keep: yes\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("apigw-requestid").is_some());
    let got = backend.last();
    assert_eq!(got.target, "/v1/items/a%20b?x=1&y=2");
    assert_eq!(got.header("host"), Some("backend"));
    assert_eq!(got.header("x-forwarded-for"), Some("10.0.0.1, 127.0.0.1"));
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        got.header("x-forwarded-port"),
        Some(gw.addr().port().to_string().as_str())
    );
    assert_eq!(got.header("x-keep"), Some("yes"));
    // RFC 9110 §7.6.1: hop-by-hop fields and fields named by Connection are not forwarded.
    assert_eq!(got.header("x-drop"), None);
    assert_eq!(got.header("te"), None);
    assert_eq!(got.header_count("connection"), 0);
}

#[test]
fn default_route_forwards_whole_path() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let r = get(gw.addr(), "/some/deep/path?q=%2F");
    assert_eq!(r.status, 200);
    assert_eq!(backend.last().target, "/some/deep/path?q=%2F");
}

#[test]
fn reuses_upstream_connections() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for _ in 0..50 {
        s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        backend.requests.load(std::sync::atomic::Ordering::Relaxed),
        50
    );
    // One client connection lands on one worker: one upstream connection serves all.
    assert_eq!(
        backend.accepts.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn large_body_streams_both_ways() {
    const SIZE: usize = 10 * 1024 * 1024 - 1;
    let backend = Backend::start(|r| Reply::Full {
        status: 200,
        headers: vec![],
        body: r.body.iter().rev().copied().collect(),
    });
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let mut s = connect(gw.addr());
    s.write_all(
        format!("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes(),
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), SIZE);
    assert!(r.body.iter().rev().copied().eq(body.iter().copied()));
}

#[test]
fn chunked_both_ways() {
    let backend = Backend::start(|r| Reply::Chunked {
        status: 201,
        pieces: r.body.chunks(1000).map(|c| c.to_vec()).collect(),
    });
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let mut s = connect(gw.addr());
    let mut req = b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut expected = Vec::new();
    for i in 0..300u32 {
        let piece = format!("piece-{i};");
        req.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        expected.extend_from_slice(piece.as_bytes());
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, expected);
    let got = backend.last();
    assert_eq!(got.header("transfer-encoding"), Some("chunked"));
    assert_eq!(got.body, expected);
    // The connection is still usable.
    s.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "ok");
}

#[test]
fn close_delimited_upstream_body_is_rechunked() {
    let backend = Backend::start(|_| Reply::CloseDelimited {
        body: b"until-close".to_vec(),
    });
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let mut s = connect(gw.addr());
    s.write_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "until-close");
    // HTTP/1.0 client: close-delimited passthrough, then close.
    let mut s = connect(gw.addr());
    s.write_all(b"GET /a HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false).unwrap();
    assert_eq!(r.text(), "until-close");
    assert_eq!(r.header("transfer-encoding"), None);
}

#[test]
fn stalled_backend_times_out_rest_504_http_503() {
    let backend = Backend::start(|_| Reply::Stall(Duration::from_secs(5)));
    for (protocol, status, message) in [
        ("rest", 504, "{\"message\":\"Endpoint request timed out\"}"),
        ("http", 503, "{\"message\":\"Service Unavailable\"}"),
    ] {
        let gw = Gateway::start(&config(backend.addr, protocol, 500));
        let t = Instant::now();
        let r = get(gw.addr(), "/stall");
        let took = t.elapsed();
        assert_eq!(r.status, status);
        assert_eq!(r.text(), message);
        assert!(took >= Duration::from_millis(450), "{took:?}");
        assert!(
            took < Duration::from_secs(4),
            "timeout not applied: {took:?}"
        );
    }
}

#[test]
fn dead_backend_rest_502_http_500() {
    // A port with nothing listening.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for (protocol, status, message) in [
        ("rest", 502, "{\"message\":\"Internal server error\"}"),
        ("http", 500, "{\"message\":\"Internal Server Error\"}"),
    ] {
        let gw = Gateway::start(&config(dead, protocol, 29000));
        let r = get(gw.addr(), "/x");
        assert_eq!(r.status, status);
        assert_eq!(r.text(), message);
        if protocol == "rest" {
            assert!(r.header("x-amzn-RequestId").is_some());
            assert!(r.header("x-amzn-ErrorType").is_some());
        }
    }
}

#[test]
fn backend_hangup_is_502_and_client_connection_survives() {
    let backend = Backend::start(|_| Reply::Hangup);
    let gw = Gateway::start(&config(backend.addr, "rest", 29000));
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 502);
    s.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
}

#[test]
fn stale_pooled_connection_is_retried_once() {
    // The backend closes each connection after one response (without saying so).
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let served2 = served.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while find(&got, b"\r\n\r\n").is_none() {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if got.is_empty() {
                continue;
            }
            served2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
            std::thread::sleep(Duration::from_millis(50));
            drop(s);
        }
    });
    let gw = Gateway::start(&config(addr, "http", 29000));
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for _ in 0..5 {
        s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.text(), "hi");
        std::thread::sleep(Duration::from_millis(150));
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 5);
}

#[test]
fn curl_round_trip() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-i",
            "--data-binary",
            "@-",
            "-H",
            "Expect: 100-continue",
        ])
        .arg(gw.url("/curl/path"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&vec![b'z'; 200_000])?;
            c.wait_with_output()
        })
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP/1.1 100 Continue"), "{text}");
    assert!(text.contains("POST /curl/path"), "{text}");
    assert!(text.contains("body-len: 200000"), "{text}");
}

#[test]
fn head_request_keeps_length_without_body() {
    let backend = Backend::start(|_| Reply::ok("twelve bytes"));
    let gw = Gateway::start(&config(backend.addr, "http", 29000));
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    s.write_all(b"HEAD /x HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("12"));
    s.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "ok");
}

#[test]
fn round_robin_across_targets_and_failover_on_refused_connect() {
    let a = Backend::start(|_| Reply::ok("a"));
    let b = Backend::start(|_| Reply::ok("b"));
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  two:
    targets: ["{}", "{}"]
  flaky:
    targets: ["{dead}", "{}"]
apis:
  - name: shop
    protocol: http
    stages: ["$default"]
    routes:
      - route: GET /two
        integration: {{type: http_proxy, uri: "http://two/"}}
      - route: ANY /flaky
        integration: {{type: http_proxy, uri: "http://flaky/"}}
"#,
        a.addr, b.addr, b.addr
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    let mut seen = String::new();
    for _ in 0..6 {
        s.write_all(b"GET /two HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        seen.push_str(&read_response(&mut s, &mut buf, false).unwrap().text());
    }
    assert!(seen == "ababab" || seen == "bababa", "{seen}");
    // GET is idempotent: a refused target is skipped.
    for _ in 0..4 {
        s.write_all(b"GET /flaky HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "b"));
    }
    // POST is not retried elsewhere: the refused target answers 500 (HTTP API).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        s.write_all(b"POST /flaky HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        statuses.push(read_response(&mut s, &mut buf, false).unwrap().status);
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 500, 500]);
}
