//! Request syntax rules httparse leaves to us or that we re-check: field
//! lines, the request line, request-target forms, limits. One test per rule,
//! its RFC section in a comment.

use super::super::*;
use super::req_util::*;

// ---- Field-line syntax ----------------------------------------------------

#[test]
fn obs_fold() {
    // RFC 9112 §5.2: a server MUST reject obs-fold in a request (400).
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n");
    // A folded Transfer-Encoding is the smuggling form of it.
    assert_malformed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n");
}

#[test]
fn bare_cr() {
    // RFC 9112 §2.2: a bare CR MUST be rejected or replaced; we reject.
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\rHost: a\r\n\r\n");
    assert_malformed(b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n");
}

#[test]
fn bare_lf() {
    // RFC 9112 §2.2: a recipient MAY take a bare LF as a line end; httparse
    // does, we don't (another hop may not, and would see different fields).
    assert_malformed(b"GET / HTTP/1.1\nHost: a\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\n\n");
    assert_malformed(b"GET / HTTP/1.1\nHost: a\n\n");
    assert_malformed(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    // Smuggling shape: a bare LF that would end the head early elsewhere.
    assert_malformed(b"POST / HTTP/1.1\r\nHost: a\r\nX: y\nContent-Length: 5\r\n\r\n");
}

#[test]
fn nul_and_ctl_in_value() {
    // RFC 9110 §5.5: field values hold no CTLs but HTAB; NUL MUST be rejected
    // or replaced, we reject.
    for ctl in [0x00u8, 0x01, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f] {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b".to_vec();
        raw.push(ctl);
        raw.extend_from_slice(b"c\r\n\r\n");
        assert_malformed(&raw);
    }
    let raw = "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\tc\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.header(raw.as_bytes(), "x-a"), Some(&b"b\tc"[..]));
}

#[test]
fn obs_text_in_value_allowed() {
    // RFC 9110 §5.5: obs-text (0x80-0xFF) is allowed in field values.
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: \xc3\xa9\xff\r\n\r\n";
    let mut h = RequestHead::default();
    assert!(matches!(
        parse_request(raw, &HeadLimits::default(), &mut h),
        Ok(Some(_))
    ));
    assert_eq!(h.header(raw, "x-a"), Some(&b"\xc3\xa9\xff"[..]));
}

#[test]
fn whitespace_between_name_and_colon() {
    // RFC 9112 §5.1: a server MUST reject whitespace between field name and
    // colon with 400.
    assert_malformed(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n");
    assert_malformed(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n");
}

#[test]
fn whitespace_before_first_field_line() {
    // RFC 9112 §2.2: whitespace between the start-line and the first field
    // line MUST be rejected (or the line skipped); we reject.
    assert_malformed(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n");
}

#[test]
fn non_token_field_names() {
    // RFC 9110 §5.1: field-name = token.
    for name in [
        "Fo@o", "Foo\"", "(x)", "a/b", "x[1]", "a,b", "a=b", "\u{e9}",
    ] {
        assert_malformed(format!("GET / HTTP/1.1\r\nHost: a\r\n{name}: v\r\n\r\n").as_bytes());
    }
    // An empty name.
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n");
    // No colon at all.
    assert_malformed(b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
}

// ---- Request line ---------------------------------------------------------

#[test]
fn unsupported_versions_get_505() {
    // RFC 9110 §15.6.6 / RFC 9112 §2.3: a well-formed version we don't speak → 505.
    for v in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"] {
        let r = reject(&format!("GET / {v}\r\nHost: a\r\n\r\n"));
        assert_eq!(r, Reject::UnsupportedVersion, "{v}");
        assert_eq!(r.status(), 505);
    }
    // Known to be unsupported before the line is complete.
    assert_eq!(reject("GET / HTTP/2"), Reject::UnsupportedVersion);
}

#[test]
fn malformed_versions_get_400() {
    // RFC 9112 §2.3: HTTP-version is case-sensitive "HTTP/" DIGIT "." DIGIT.
    for v in [
        "http/1.1",
        "HTTX/1.1",
        "HTTP/1",
        "HTTP/11.1",
        "HTTP/1.1.1",
        "HTTP/a.b",
        "1.1",
    ] {
        assert_malformed(format!("GET / {v}\r\nHost: a\r\n\r\n").as_bytes());
    }
    // HTTP/0.9 style request line without a version.
    assert_malformed(b"GET /\r\n\r\n");
}

#[test]
fn request_line_whitespace() {
    // RFC 9112 §3: exactly one SP between the three parts, none after.
    assert_malformed(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n");
    assert_malformed(b" GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn non_token_method() {
    // RFC 9110 §9.1: method = token.
    assert_malformed(b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn authority_form_refused() {
    // RFC 9112 §3.2.3: authority-form is for CONNECT, which we don't tunnel.
    assert_malformed(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
}

#[test]
fn asterisk_form_only_for_options() {
    // RFC 9112 §3.2.4: asterisk-form is only used for OPTIONS.
    assert_malformed(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n");
    let raw = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.method, Method::Options);
    assert_eq!(h.path.get(raw.as_bytes()), b"*");
    assert!(h.query.is_empty());
    // `*` followed by more is no form at all.
    assert_malformed(b"OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn double_slash_is_origin_form() {
    // RFC 9112 §3.2.1: absolute-path = 1*( "/" segment ) and segments may be
    // empty, so `//a/b` is a path, not a network-path reference.
    let raw = "GET //a/b HTTP/1.1\r\nHost: h\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(h.path.get(raw.as_bytes()), b"//a/b");
    assert_eq!(h.host.map(|s| s.get(raw.as_bytes())), Some(&b"h"[..]));
}

#[test]
fn other_target_forms_refused() {
    // RFC 9112 §3.2: origin-form, absolute-form, authority-form, asterisk-form
    // and nothing else; absolute-form only for schemes we serve.
    for t in ["foo", "foo/bar", "?q", "ftp://a/b", "http:/a", "mailto:x@y"] {
        assert_malformed(format!("GET {t} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
}

#[test]
fn absolute_form_authority_checked() {
    // RFC 9110 §4.2.4: userinfo in an http URI is an error; RFC 9110 §4.2.1:
    // an http URI has a non-empty host.
    assert_malformed(b"GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET http:// HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn fragment_in_target_refused() {
    // RFC 9112 §3.2.1 / RFC 9110 §4.2.5: a fragment is never sent in a request-target.
    assert_malformed(b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_malformed(b"GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn non_ascii_target_refused() {
    // RFC 9112 §3.2 / RFC 3986 §2: a request-target is ASCII; httparse lets
    // UTF-8 through, we don't.
    assert_malformed("GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes());
    assert_malformed(b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n");
}

// ---- Limits ---------------------------------------------------------------

#[test]
fn head_too_large_partial() {
    // RFC 6585 §5: 431 when the head won't fit.
    let limits = HeadLimits {
        max_head_bytes: 32,
        max_headers: 10,
    };
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    assert_eq!(parse_with(&raw[..31], &limits), Ok(None));
    assert_eq!(parse_with(&raw[..32], &limits), Err(Reject::HeadTooLarge));
    assert_eq!(parse_with(raw, &limits), Err(Reject::HeadTooLarge));
    assert_eq!(Reject::HeadTooLarge.status(), 431);
}

#[test]
fn head_too_large_complete() {
    // RFC 6585 §5: a complete head past the limit is refused too.
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n";
    let exact = HeadLimits {
        max_head_bytes: raw.len(),
        max_headers: 10,
    };
    assert_eq!(parse_with(raw, &exact), Ok(Some(raw.len())));
    let under = HeadLimits {
        max_head_bytes: raw.len() - 1,
        max_headers: 10,
    };
    assert_eq!(parse_with(raw, &under), Err(Reject::HeadTooLarge));
}

#[test]
fn too_many_headers() {
    // RFC 6585 §5: 431 for too many fields.
    let limits = HeadLimits {
        max_head_bytes: 16 * 1024,
        max_headers: 3,
    };
    let three = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_eq!(parse_with(three, &limits), Ok(Some(three.len())));
    let four = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(parse_with(four, &limits), Err(Reject::TooManyHeaders));
    assert_eq!(Reject::TooManyHeaders.status(), 431);
}

#[test]
fn max_headers_capped_by_slot_array() {
    let limits = HeadLimits {
        max_head_bytes: 64 * 1024,
        max_headers: 10_000,
    };
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 1..MAX_HEADERS_CAP {
        raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    assert_eq!(parse_with(&raw, &limits), Ok(Some(raw.len())));
    raw.truncate(raw.len() - 2);
    raw.extend_from_slice(b"X-last: v\r\n\r\n");
    assert_eq!(parse_with(&raw, &limits), Err(Reject::TooManyHeaders));
}
