//! Request heads that parse: spans, pipelining, HTTP/1.0, absolute-form,
//! Expect, Connection tokens, and the helpers on the public types.

use super::super::*;
use super::req_util::*;

// ---- Positive cases -------------------------------------------------------

#[test]
fn simple_get() {
    let raw = "GET /pets/1?x=1&y=2 HTTP/1.1\r\nHost: api.example.com\r\nAccept:  */*  \r\n\r\n";
    let (h, n) = ok(raw);
    let b = raw.as_bytes();
    assert_eq!(n, raw.len());
    assert_eq!(h.head_len, n);
    assert_eq!(h.method, Method::Get);
    assert_eq!(h.method_span.get(b), b"GET");
    assert_eq!(h.target.get(b), b"/pets/1?x=1&y=2");
    assert_eq!(h.path.get(b), b"/pets/1");
    assert_eq!(h.query.get(b), b"x=1&y=2");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.headers[1].0.get(b), b"Accept");
    assert_eq!(h.headers[1].1.get(b), b"*/*");
    assert_eq!(h.host.map(|s| s.get(b)), Some(&b"api.example.com"[..]));
    assert_eq!(h.framing, Framing::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
}

#[test]
fn path_and_query_split_at_first_question_mark() {
    let raw = "GET /a?b?c=d HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.path.get(raw.as_bytes()), b"/a");
    assert_eq!(h.query.get(raw.as_bytes()), b"b?c=d");
    let raw = "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.path.get(raw.as_bytes()), b"/a");
    assert!(h.query.is_empty());
}

#[test]
fn body_follows_head() {
    let raw = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    let (h, n) = ok(raw);
    assert_eq!(&raw[n..], "hello");
    assert_eq!(h.framing, Framing::Length(5));
}

#[test]
fn content_length_zero_is_length_zero() {
    let (h, _) = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(0));
    let (h, _) = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(7));
}

#[test]
fn pipelined_requests() {
    // RFC 9112 §9.3.2: a client may send several requests without waiting.
    let raw = b"GET /one HTTP/1.1\r\nHost: a\r\n\r\nPOST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /three HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = HeadLimits::default();
    let mut h = RequestHead::default();
    let n1 = parse_request(raw, &limits, &mut h).unwrap().unwrap();
    assert_eq!(h.path.get(raw), b"/one");
    let rest = &raw[n1..];
    let n2 = parse_request(rest, &limits, &mut h).unwrap().unwrap();
    assert_eq!(h.method, Method::Post);
    assert_eq!(h.path.get(rest), b"/two");
    assert_eq!(h.framing, Framing::Length(2));
    assert_eq!(&rest[n2..n2 + 2], b"hi");
    let rest = &rest[n2 + 2..];
    let n3 = parse_request(rest, &limits, &mut h).unwrap().unwrap();
    assert_eq!(n3, rest.len());
    assert_eq!(h.path.get(rest), b"/three");
    assert_eq!(
        h.headers.len(),
        1,
        "headers of earlier requests are cleared"
    );
}

#[test]
fn every_prefix_is_incomplete() {
    let raw = b"POST /p?q HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX: \t y \r\n\r\n";
    for end in 0..raw.len() {
        assert_eq!(
            parse_with(&raw[..end], &HeadLimits::default()),
            Ok(None),
            "prefix {end}"
        );
    }
    assert_eq!(parse_with(raw, &HeadLimits::default()), Ok(Some(raw.len())));
}

#[test]
fn leading_empty_lines_ignored() {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before
    // the request-line.
    let raw = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, n) = ok(raw);
    assert_eq!(n, raw.len());
    assert_eq!(h.path.get(raw.as_bytes()), b"/x");
}

#[test]
fn http10_keep_alive() {
    // RFC 9112 §9.3: HTTP/1.0 persists only with `Connection: keep-alive`.
    let (h, _) = ok("GET / HTTP/1.0\r\n\r\n");
    assert!(!h.keep_alive);
    let (h, _) = ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(h.keep_alive);
    let (h, _) = ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
    assert!(!h.keep_alive);
}

#[test]
fn connection_tokens() {
    // RFC 9112 §9.3 / RFC 9110 §7.6.1: `close` in any Connection field (a
    // case-insensitive comma list) ends persistence.
    let (h, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert!(!h.keep_alive);
    let (h, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n");
    assert!(!h.keep_alive);
    let (h, _) =
        ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
    assert!(!h.keep_alive);
    let (h, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    assert!(h.keep_alive);
    let (h, _) = ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, xclose\r\n\r\n");
    assert!(h.keep_alive, "only the exact token counts");
}

#[test]
fn expect_continue() {
    // RFC 9110 §10.1.1: `100-continue` is case-insensitive; HTTP/1.0 clients
    // can't handle 100 (RFC 9110 §15.2), so only HTTP/1.1 counts.
    let (h, _) =
        ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert!(h.expect_continue);
    let (h, _) =
        ok("POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue\r\nContent-Length: 3\r\n\r\n");
    assert!(h.expect_continue);
    let (h, _) = ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert!(!h.expect_continue);
    let (h, _) = ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n");
    assert!(!h.expect_continue);
}

#[test]
fn absolute_form() {
    // RFC 9112 §3.2.2: a server MUST accept absolute-form; the target's
    // authority wins over the Host field.
    let raw = "GET http://api.example.com:8080/pets?limit=2 HTTP/1.1\r\nHost: other\r\n\r\n";
    let (h, _) = ok(raw);
    let b = raw.as_bytes();
    assert_eq!(h.target.get(b), b"http://api.example.com:8080/pets?limit=2");
    assert_eq!(h.path.get(b), b"/pets");
    assert_eq!(h.query.get(b), b"limit=2");
    assert_eq!(h.host.map(|s| s.get(b)), Some(&b"api.example.com:8080"[..]));

    let raw = "GET HTTPS://a.b HTTP/1.1\r\nHost: a.b\r\n\r\n";
    let (h, _) = ok(raw);
    assert!(h.path.is_empty());
    assert!(h.query.is_empty());
    assert_eq!(h.host.map(|s| s.get(raw.as_bytes())), Some(&b"a.b"[..]));

    let raw = "GET http://a.b?x HTTP/1.1\r\nHost: a.b\r\n\r\n";
    let (h, _) = ok(raw);
    assert!(h.path.is_empty());
    assert_eq!(h.query.get(raw.as_bytes()), b"x");
}

#[test]
fn absolute_form_still_needs_host_field() {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is 400 whatever its target.
    assert_bad_host("GET http://a/ HTTP/1.1\r\n\r\n");
}

#[test]
fn extension_and_lowercase_methods() {
    // RFC 9110 §9.1: methods are case-sensitive tokens.
    let raw = "PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.method, Method::Other);
    assert_eq!(h.method_span.get(raw.as_bytes()), b"PURGE");
    let (h, _) = ok("get /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.method, Method::Other);
}

#[test]
fn method_parse_and_as_str() {
    for m in [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
        Method::Connect,
        Method::Trace,
    ] {
        assert_eq!(Method::parse(m.as_str().as_bytes()), m);
    }
    assert_eq!(Method::parse(b"PROPFIND"), Method::Other);
    assert_eq!(Method::Other.as_str(), "");
}

#[test]
fn header_lookup_is_case_insensitive() {
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Api-Key: k1\r\nx-api-key: k2\r\n\r\n";
    let (h, _) = ok(raw);
    let b = raw.as_bytes();
    assert_eq!(h.header(b, "x-api-key"), Some(&b"k1"[..]));
    assert_eq!(h.header(b, b"X-API-KEY"), Some(&b"k1"[..]));
    assert_eq!(h.header(b, "x-api"), None);
    assert_eq!(h.header(b, String::from("host")), Some(&b"a"[..]));
}

#[test]
fn empty_field_value() {
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.header(raw.as_bytes(), "x-empty"), Some(&b""[..]));
    assert_eq!(h.header(raw.as_bytes(), "x-blank"), Some(&b""[..]));
}

#[test]
fn headers_vec_is_reused() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let mut h = RequestHead::default();
    parse_request(raw, &HeadLimits::default(), &mut h).unwrap();
    let (cap, ptr) = (h.headers.capacity(), h.headers.as_ptr());
    for _ in 0..3 {
        parse_request(raw, &HeadLimits::default(), &mut h).unwrap();
        assert_eq!((h.headers.capacity(), h.headers.as_ptr()), (cap, ptr));
    }
}

#[test]
fn request_framing_matches_parse() {
    let cases = [
        (
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n",
            Framing::Length(4),
        ),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            Framing::Chunked,
        ),
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", Framing::None),
        ("GET / HTTP/1.0\r\n\r\n", Framing::None),
    ];
    for (raw, want) in cases {
        let (h, _) = ok(raw);
        assert_eq!(h.framing, want);
        assert_eq!(request_framing(raw.as_bytes(), &h), Ok(want));
    }
    // And its rejections, on a head whose fields were changed after parsing.
    let raw = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nX: chunked\r\n\r\n";
    let (mut h, _) = ok(raw);
    h.headers[2].0 = h.headers[0].0; // a second "Host"
    assert!(matches!(
        request_framing(raw.as_bytes(), &h),
        Err(Reject::BadHost(_))
    ));
}

#[test]
fn reject_statuses_and_reasons() {
    assert_eq!(Reject::Malformed("x").status(), 400);
    assert_eq!(Reject::BadFraming("y").reason(), "y");
    assert_eq!(Reject::BadHost("z").to_string(), "z");
    assert_eq!(Reject::UnsupportedVersion.status(), 505);
}
