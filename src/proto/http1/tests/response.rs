//! Response heads: the RFC 9112 §6.3 framing table, keep-alive, and syntax.

use super::super::*;

fn parse(raw: &[u8], method: Method) -> Result<Option<usize>, Reject> {
    let mut head = ResponseHead::default();
    parse_response(raw, method, &HeadLimits::default(), &mut head)
}

fn ok_for(raw: &str, method: Method) -> ResponseHead {
    let mut head = ResponseHead::default();
    match parse_response(raw.as_bytes(), method, &HeadLimits::default(), &mut head) {
        Ok(Some(n)) => {
            assert_eq!(n, head.head_len);
            // The public decision function agrees with the parse.
            assert_eq!(
                response_framing(raw.as_bytes(), method, &head),
                Ok(head.framing)
            );
            head
        }
        other => panic!("expected a complete head, got {other:?} for {raw:?}"),
    }
}

fn ok(raw: &str) -> ResponseHead {
    ok_for(raw, Method::Get)
}

fn framing(raw: &str, method: Method) -> Framing {
    ok_for(raw, method).framing
}

fn assert_malformed(raw: &[u8]) {
    let r = parse(raw, Method::Get);
    assert!(
        matches!(r, Err(Reject::Malformed(_))),
        "{r:?} for {:?}",
        String::from_utf8_lossy(raw)
    );
}

fn assert_bad_framing(raw: &str) {
    let r = parse(raw.as_bytes(), Method::Get);
    assert!(matches!(r, Err(Reject::BadFraming(_))), "{r:?} for {raw:?}");
}

#[test]
fn no_body_for_head_1xx_204_304() {
    // RFC 9112 §6.3 rule 1: whatever the fields say.
    let cl = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert_eq!(framing(cl, Method::Head), Framing::None);
    let te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(framing(te, Method::Head), Framing::None);
    assert_eq!(
        framing("HTTP/1.1 100 Continue\r\n\r\n", Method::Post),
        Framing::None
    );
    assert_eq!(
        framing(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            Method::Get
        ),
        Framing::None
    );
    assert_eq!(
        framing(
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            Method::Get
        ),
        Framing::None
    );
    assert_eq!(
        framing(
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            Method::Get
        ),
        Framing::None
    );
    assert_eq!(
        framing(
            "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Get
        ),
        Framing::None
    );
    // Even a broken Content-Length does not matter there.
    assert_eq!(
        framing(
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 1, 2\r\n\r\n",
            Method::Get
        ),
        Framing::None
    );
    assert!(ok("HTTP/1.1 204 No Content\r\n\r\n").keep_alive);
}

#[test]
fn connect_2xx_has_no_body() {
    // RFC 9112 §6.3 rule 2.
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::Connect
        ),
        Framing::None
    );
    assert_eq!(
        framing(
            "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 5\r\n\r\n",
            Method::Connect
        ),
        Framing::Length(5)
    );
}

#[test]
fn chunked_final_is_chunked() {
    // RFC 9112 §6.3 rule 4.
    let h = ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(h.keep_alive);
    // A response may carry other codings below chunked; the body is still
    // delimited by the chunked coding.
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n",
            Method::Get
        ),
        Framing::Chunked
    );
}

#[test]
fn te_not_final_chunked_reads_to_close() {
    // RFC 9112 §6.3 rule 4: in a response, TE without a final chunked means
    // the body runs until the connection closes.
    let h = ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    assert_eq!(h.framing, Framing::Close);
    assert!(!h.keep_alive);
    assert_eq!(
        framing(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Method::Get
        ),
        Framing::Close
    );
}

#[test]
fn te_overrides_content_length() {
    // RFC 9112 §6.3 rule 3: TE wins over CL; the connection is not reused
    // since the pair "ought to be handled as an error".
    let h = ok("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
    assert!(!h.keep_alive);
}

#[test]
fn chunked_twice_in_response() {
    // RFC 9112 §6.1: chunked MUST NOT be applied more than once.
    assert_bad_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
}

#[test]
fn te_in_http10_response() {
    // RFC 9112 §6.1: TE in an HTTP/1.0 message means faulty framing.
    assert_bad_framing("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn content_length_response() {
    // RFC 9112 §6.3 rule 6.
    let h = ok("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(42));
    assert!(h.keep_alive);
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get),
        Framing::Length(0)
    );
}

#[test]
fn invalid_content_length_response() {
    // RFC 9112 §6.3 rule 5: invalid CL in a response → the proxy answers 502.
    assert_bad_framing("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    assert_bad_framing("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n");
    assert_bad_framing("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n");
    assert_bad_framing("HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n");
    assert_bad_framing("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n");
}

#[test]
fn no_length_reads_to_close() {
    // RFC 9112 §6.3 rule 8.
    let h = ok("HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(h.framing, Framing::Close);
    assert!(!h.keep_alive);
}

#[test]
fn response_keep_alive() {
    // RFC 9112 §9.3.
    assert!(ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(!ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").keep_alive);
    assert!(!ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x, Close\r\n\r\n").keep_alive);
    assert!(!ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    assert!(
        ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n").keep_alive
    );
    // A body that runs to close can't be followed by another response.
    assert!(!ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

#[test]
fn reason_phrase_spans() {
    let raw = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let h = ok(raw);
    assert_eq!(h.status, 404);
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.reason.get(raw.as_bytes()), b"Not Found");
    // RFC 9112 §4: a client SHOULD ignore the reason-phrase; an empty or
    // missing one is accepted.
    let raw = "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n";
    assert!(ok(raw).reason.is_empty());
    let raw = "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n";
    assert!(ok(raw).reason.is_empty());
    // obs-text in the reason (httparse hands back "" for it; we don't).
    let raw = b"HTTP/1.1 200 \xe4\xb8\xad\r\nContent-Length: 0\r\n\r\n";
    let mut h = ResponseHead::default();
    parse_response(raw, Method::Get, &HeadLimits::default(), &mut h)
        .unwrap()
        .unwrap();
    assert_eq!(h.reason.get(raw), b"\xe4\xb8\xad");
}

#[test]
fn response_bare_lf() {
    // RFC 9112 §2.2: MAY accept a bare LF; we refuse it in responses too, so
    // an accepted head can be forwarded as is.
    assert_malformed(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n");
    assert_malformed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\n");
}

#[test]
fn response_obs_fold() {
    // RFC 9112 §5.2: a proxy MUST either replace obs-fold or discard the
    // response with 502; spans can't replace bytes, so we discard.
    assert_malformed(b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n");
}

#[test]
fn response_whitespace_before_colon() {
    // RFC 9112 §5.1: a proxy MUST remove such whitespace before forwarding;
    // we refuse the response instead.
    assert_malformed(b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n");
}

#[test]
fn response_status_code() {
    // RFC 9112 §4: status-code = 3DIGIT; RFC 9110 §15: 100..=599.
    assert_malformed(b"HTTP/1.1 099 Low\r\n\r\n");
    assert_malformed(b"HTTP/1.1 20 OK\r\n\r\n");
    assert_malformed(b"HTTP/1.1 2000 OK\r\n\r\n");
    assert_malformed(b"HTTP/1.1 abc OK\r\n\r\n");
}

#[test]
fn response_versions() {
    // RFC 9112 §2.3.
    assert_eq!(
        parse(b"HTTP/2.0 200 OK\r\n\r\n", Method::Get),
        Err(Reject::UnsupportedVersion)
    );
    assert_malformed(b"http/1.1 200 OK\r\n\r\n");
    assert_malformed(b"ICY 200 OK\r\n\r\n");
}

#[test]
fn response_partial_and_limits() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    for end in 0..raw.len() - 3 {
        assert_eq!(parse(&raw[..end], Method::Get), Ok(None), "prefix {end}");
    }
    assert_eq!(parse(raw, Method::Get), Ok(Some(raw.len() - 3)));
    let small = HeadLimits {
        max_head_bytes: 20,
        max_headers: 4,
    };
    let mut h = ResponseHead::default();
    assert_eq!(
        parse_response(raw, Method::Get, &small, &mut h),
        Err(Reject::HeadTooLarge)
    );
    let few = HeadLimits {
        max_head_bytes: 1024,
        max_headers: 0,
    };
    assert_eq!(
        parse_response(raw, Method::Get, &few, &mut h),
        Err(Reject::TooManyHeaders)
    );
}

#[test]
fn response_header_lookup() {
    let raw = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
    let h = ok(raw);
    assert_eq!(
        h.header(raw.as_bytes(), "content-type"),
        Some(&b"text/plain"[..])
    );
    assert_eq!(h.header(raw.as_bytes(), "x-missing"), None);
}
