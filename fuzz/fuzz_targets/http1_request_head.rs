//! `parse_request` on arbitrary bytes. Beyond "no panic": a head that
//! parses obeys the module's guarantees (spans in bounds, framing as
//! `request_framing` says, no bare LF / obs-fold / CTL left in it), parses
//! the same from `buf[..n]` alone and under smaller limits, and is
//! incomplete one byte short.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::http1::{
    Framing, HeadLimits, Method, Reject, RequestHead, Span, Version, parse_request, request_framing,
};

fn in_bounds(s: Span, n: usize) {
    assert!(
        s.start <= s.end && s.end as usize <= n,
        "{s:?} outside ..{n}"
    );
}

fn within(inner: Span, outer: Span) {
    assert!(
        outer.start <= inner.start && inner.end <= outer.end,
        "{inner:?} not in {outer:?}"
    );
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_head(data: &[u8], n: usize, head: &RequestHead, limits: &HeadLimits) {
    assert!(n <= data.len() && n <= limits.max_head_bytes && n == head.head_len);
    let raw = &data[..n];
    assert!(raw.ends_with(b"\r\n\r\n"), "head ends in CRLF CRLF");
    for (i, &b) in raw.iter().enumerate() {
        // No bare LF, no bare CR, no obs-fold.
        if b == b'\n' {
            assert!(i > 0 && raw[i - 1] == b'\r', "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(raw.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    for &s in &[head.method_span, head.target, head.path, head.query] {
        in_bounds(s, n);
    }
    within(head.path, head.target);
    within(head.query, head.target);
    assert!(head.path.end <= head.query.start);
    assert_eq!(Method::parse(head.method_span.get(raw)), head.method);
    let target = head.target.get(raw);
    assert!(!target.is_empty() && target.iter().all(|&b| b.is_ascii_graphic() && b != b'#'));
    if let Some(h) = head.host {
        in_bounds(h, n);
        assert!(!h.is_empty());
    } else {
        assert_eq!(head.version, Version::Http10);
    }
    let mut hosts = 0;
    for &(name, value) in &head.headers {
        in_bounds(name, n);
        in_bounds(value, n);
        assert!(name.end < value.start || (value.is_empty() && name.end <= value.start));
        let name = name.get(raw);
        assert!(!name.is_empty() && name.iter().all(|&b| is_tchar(b)));
        let value = value.get(raw);
        assert!(
            value.iter().all(|&b| b == b'\t' || b >= b' ' && b != 0x7f),
            "CTL in value"
        );
        let ows = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
        assert!(
            !ows(value.first()) && !ows(value.last()),
            "value not trimmed"
        );
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        }
    }
    assert!(hosts <= 1 && (hosts == 1 || head.version == Version::Http10));

    // The one framing function agrees, and the framing matches the fields.
    assert_eq!(request_framing(raw, head), Ok(head.framing));
    let cl = head.header(raw, "content-length");
    let te = head.header(raw, "transfer-encoding");
    match head.framing {
        Framing::Chunked => {
            assert!(cl.is_none() && head.version == Version::Http11);
            // Over all Transfer-Encoding lines, exactly one coding: chunked.
            let mut codings = Vec::new();
            for &(name, value) in &head.headers {
                if name.get(raw).eq_ignore_ascii_case(b"transfer-encoding") {
                    for m in value.get(raw).split(|&b| b == b',') {
                        let m = m.trim_ascii();
                        if !m.is_empty() {
                            codings.push(m.to_ascii_lowercase());
                        }
                    }
                }
            }
            assert_eq!(codings, [b"chunked".to_vec()]);
        }
        Framing::Length(len) => {
            assert!(te.is_none());
            let v = cl.expect("Length without Content-Length");
            assert!(v.iter().all(u8::is_ascii_digit));
            assert_eq!(
                std::str::from_utf8(v).ok().and_then(|v| v.parse().ok()),
                Some(len)
            );
        }
        Framing::None => assert!(cl.is_none() && te.is_none()),
        Framing::Close => panic!("requests are never framed by close"),
    }
    if head.expect_continue {
        assert_eq!(head.version, Version::Http11);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = HeadLimits::default();
    let mut head = RequestHead::default();
    match parse_request(data, &limits, &mut head) {
        Ok(Some(n)) => {
            check_head(data, n, &head, &limits);
            // The head alone parses the same: nothing after it mattered.
            let mut again = RequestHead::default();
            assert_eq!(parse_request(&data[..n], &limits, &mut again), Ok(Some(n)));
            assert_eq!(again, head);
            // One byte short is incomplete, not an error.
            assert_eq!(parse_request(&data[..n - 1], &limits, &mut again), Ok(None));
            // A limit the head fits exactly in changes nothing; one byte less refuses it.
            let exact = HeadLimits {
                max_head_bytes: n,
                max_headers: head.headers.len(),
            };
            assert_eq!(parse_request(data, &exact, &mut again), Ok(Some(n)));
            assert_eq!(again, head);
            let short = HeadLimits {
                max_head_bytes: n - 1,
                ..limits
            };
            assert_eq!(
                parse_request(data, &short, &mut again),
                Err(Reject::HeadTooLarge)
            );
            if !head.headers.is_empty() {
                let fewer = HeadLimits {
                    max_headers: head.headers.len() - 1,
                    ..limits
                };
                assert_eq!(
                    parse_request(data, &fewer, &mut again),
                    Err(Reject::TooManyHeaders)
                );
            }
        }
        Ok(None) => assert!(data.len() < limits.max_head_bytes),
        Err(r) => {
            assert!(matches!(r.status(), 400 | 431 | 505));
            assert!(!r.reason().is_empty() && !r.reason().starts_with("internal"));
        }
    }
});
