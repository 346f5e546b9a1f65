//! Black-box: HTTP/1.1 framing, limits and connection handling of the binary.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

fn config(extra_limits: &str) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
limits:
  max_body_bytes: 1000
{extra_limits}
apis:
  - name: shop
    protocol: http
    stages: ["$default"]
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, headers: {{content-type: text/plain}}, body: ok}}
      - route: POST /mock
        integration: {{type: mock, status: 201, body: created}}
"#
    )
}

#[test]
fn pipelined_requests_answer_in_order() {
    let gw = Gateway::start(&config(""));
    let mut s = connect(gw.addr());
    let mut req = Vec::new();
    for i in 0..20 {
        if i % 2 == 0 {
            req.extend_from_slice(b"GET /mock HTTP/1.1\r\nHost: t\r\n\r\n");
        } else {
            req.extend_from_slice(
                b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            );
        }
    }
    req.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    s.write_all(&req).unwrap();
    let mut buf = Vec::new();
    for i in 0..20 {
        let r = read_response(&mut s, &mut buf, false).unwrap();
        if i % 2 == 0 {
            assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        } else {
            assert_eq!((r.status, r.text().as_str()), (201, "created"));
        }
    }
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), r#"{"message":"Not Found"}"#);
}

/// Each of these must be answered 400 and the connection closed (RFC 9112 §11.2:
/// a request that could be framed two ways is a smuggling vector).
const SMUGGLING: &[(&str, &[u8])] = &[
    ("differing Content-Length §6.3", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("duplicate Content-Length", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("Content-Length list §6.3", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello"),
    ("plus-signed Content-Length §8.6", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello"),
    ("empty Content-Length", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n"),
    ("non-digit Content-Length", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5a\r\n\r\nhello"),
    ("CL with TE §6.1", b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE in HTTP/1.0 §6.1", b"POST /mock HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("TE not chunked §6.1", b"POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n"),
    ("chunked not final §6.1", b"POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    ("bad chunk size §7.1", b"POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("bad chunk extension §7.1.1", b"POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;\"x\r\nhello\r\n0\r\n\r\n"),
    ("obs-fold §5.2", b"GET /mock HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n"),
    ("bare CR §2.2", b"GET /mock HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n"),
    ("bare LF §2.2", b"GET /mock HTTP/1.1\nHost: t\n\n"),
    ("NUL in value §5.5", b"GET /mock HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n"),
    ("space before colon §5.1", b"GET /mock HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n"),
    ("whitespace before first header §2.2", b"GET /mock HTTP/1.1\r\n Host: t\r\n\r\n"),
    ("non-token header name §5.1", b"GET /mock HTTP/1.1\r\nHost: t\r\nX(A): a\r\n\r\n"),
    ("missing Host §3.2", b"GET /mock HTTP/1.1\r\n\r\n"),
    ("duplicate Host §3.2", b"GET /mock HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
];

#[test]
fn smuggling_attempts_get_400_and_close() {
    let gw = Gateway::start(&config(""));
    for (name, bytes) in SMUGGLING {
        let mut s = connect(gw.addr());
        s.write_all(bytes).unwrap();
        let mut buf = Vec::new();
        let r =
            read_response(&mut s, &mut buf, false).unwrap_or_else(|| panic!("{name}: no response"));
        assert_eq!(r.status, 400, "{name}");
        assert_eq!(r.header("connection"), Some("close"), "{name}");
        assert!(is_closed(&mut s), "{name}: connection left open");
    }
}

#[test]
fn oversized_head_is_431() {
    let gw = Gateway::start(&config(""));
    let mut s = connect(gw.addr());
    let big = "a".repeat(20_000);
    let _ =
        s.write_all(format!("GET /mock HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let r = read_response(&mut s, &mut Vec::new(), false).unwrap();
    assert_eq!(r.status, 431);
    assert!(is_closed(&mut s));
}

#[test]
fn oversized_body_is_413() {
    let gw = Gateway::start(&config(""));
    let r = send_raw(
        gw.addr(),
        b"POST /mock HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.text(), r#"{"message":"Request Too Long"}"#);
    // Chunked bodies are counted as they arrive.
    let mut req = b"POST /mock HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        req.extend_from_slice(b"200\r\n");
        req.extend_from_slice(&[b'x'; 512]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let r = send_raw(gw.addr(), &req);
    assert_eq!(r.status, 413);
}

#[test]
fn slow_head_gets_408_on_time() {
    let gw = Gateway::start(&config("  header_read_timeout_ms: 500"));
    let mut s = connect(gw.addr());
    s.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\n").unwrap();
    let t = Instant::now();
    let r = read_response(&mut s, &mut Vec::new(), false).unwrap();
    assert_eq!(r.status, 408);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(is_closed(&mut s));
}

#[test]
fn idle_keepalive_connection_is_closed_after_timeout() {
    let gw = Gateway::start(&config("  keepalive_timeout_ms: 300"));
    let mut s = connect(gw.addr());
    s.write_all(b"GET /mock HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut s, &mut Vec::new(), false)
            .unwrap()
            .status,
        200
    );
    let t = Instant::now();
    assert!(is_closed(&mut s));
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn http10_client_without_keepalive_is_closed() {
    let gw = Gateway::start(&config(""));
    let mut s = connect(gw.addr());
    s.write_all(b"GET /mock HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut Vec::new(), false).unwrap();
    assert_eq!(r.text(), "ok");
    assert!(is_closed(&mut s));
    // With keep-alive it stays open.
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /mock HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn head_on_mock_has_no_body() {
    let gw = Gateway::start(&config(""));
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    s.write_all(b"HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /mock HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf, true).unwrap();
    assert_eq!(r.status, 404);
    let r = read_response(&mut s, &mut buf, false).unwrap();
    assert_eq!(r.text(), "ok");
}

#[test]
fn epoll_driver_serves_too() {
    let gw = Gateway::start_with(&config(""), &["--workers", "1", "--driver", "epoll"]);
    assert_eq!(get(gw.addr(), "/mock").text(), "ok");
    assert!(gw.stderr().contains("driver epoll"), "{}", gw.stderr());
}
