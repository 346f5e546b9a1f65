//! Request smuggling rules: Content-Length, Transfer-Encoding and Host
//! (RFC 9112 §3.2, §6). One test per rule, its RFC section in a comment.

use super::super::*;
use super::req_util::*;

// ---- Content-Length -------------------------------------------------------

#[test]
fn content_length_differing_values() {
    // RFC 9112 §6.3 rule 5: CL with differing values is unrecoverable
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n",
    );
}

#[test]
fn content_length_identical_duplicate_fields() {
    // RFC 9110 §8.6 lets a recipient merge identical values; RFC 9112 §6.3
    // rule 5 lets it reject. We reject: another hop may not merge.
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n",
    );
}

#[test]
fn content_length_identical_list() {
    // RFC 9110 §8.6: `Content-Length = 1*DIGIT`; a list is not one.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10, 10\r\n\r\n");
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10,10\r\n\r\n");
}

#[test]
fn content_length_plus_sign() {
    // RFC 9110 §8.6: 1*DIGIT, no sign.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +10\r\n\r\n");
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
}

#[test]
fn content_length_empty() {
    // RFC 9110 §8.6: at least one DIGIT.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n");
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:   \r\n\r\n");
}

#[test]
fn content_length_non_digit() {
    // RFC 9110 §8.6: DIGIT only.
    for v in ["1a", "0x10", "1 0", "1\t0", "ten", "1.0", "1_0"] {
        assert_bad_framing(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n"
        ));
    }
}

#[test]
fn content_length_overflow() {
    // RFC 9112 §6.3 rule 5 / RFC 9110 §8.6: a length we cannot represent is invalid.
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n",
    );
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
    );
    let (h, _) = ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(u64::MAX));
}

#[test]
fn content_length_with_transfer_encoding() {
    // RFC 9112 §6.1: a server MAY reject CL together with TE; §6.3 rule 3
    // calls the pair a smuggling attempt.
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
    );
}

// ---- Transfer-Encoding ----------------------------------------------------

#[test]
fn transfer_encoding_in_http10() {
    // RFC 9112 §6.1: TE in an HTTP/1.0 message means faulty framing.
    assert_bad_framing("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_bad_framing("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn transfer_encoding_gzip() {
    // RFC 9112 §6.3 rule 4: a request whose final coding is not chunked → 400.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
}

#[test]
fn transfer_encoding_chunked_then_gzip() {
    // RFC 9112 §6.3 rule 4: chunked must be the final coding.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
}

#[test]
fn transfer_encoding_gzip_then_chunked() {
    // RFC 9112 §6.1 allows `gzip, chunked`, but we do not decode gzip, and
    // forwarding a coding we cannot check is a smuggling surface: 400.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
}

#[test]
fn transfer_encoding_chunked_twice() {
    // RFC 9112 §6.1: a sender MUST NOT apply chunked more than once.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    assert_bad_framing(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
}

#[test]
fn transfer_encoding_lookalike_codings() {
    // RFC 9112 §7: the coding name is `chunked`, compared case-insensitively
    // and nothing else (no prefix/suffix matching, no parameters).
    for te in [
        "xchunked",
        "chunkedx",
        "chunked;q=1",
        "\"chunked\"",
        "chunk",
        "identity",
    ] {
        assert_bad_framing(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n"
        ));
    }
}

#[test]
fn transfer_encoding_empty() {
    // RFC 9112 §6.1: a TE field with no coding cannot frame a body.
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n");
    assert_bad_framing("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n");
}

#[test]
fn transfer_encoding_case_insensitive() {
    // RFC 9112 §7: transfer-coding names are case-insensitive.
    for te in [
        "chunked",
        "Chunked",
        "CHUNKED",
        "cHuNkEd",
        " chunked ",
        ", chunked",
    ] {
        let (h, _) = ok(&format!(
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:{te}\r\n\r\n"
        ));
        assert_eq!(h.framing, Framing::Chunked, "{te:?}");
    }
    let (h, _) = ok("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\n\r\n");
    assert_eq!(h.framing, Framing::Chunked);
}

// ---- Host -----------------------------------------------------------------

#[test]
fn missing_host_in_http11() {
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host.
    assert_bad_host("GET / HTTP/1.1\r\n\r\n");
    assert_bad_host("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n");
}

#[test]
fn duplicate_host() {
    // RFC 9112 §3.2: 400 for more than one Host field line, even identical.
    assert_bad_host("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_bad_host("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
    assert_bad_host("GET / HTTP/1.0\r\nHost: a\r\nHOST: b\r\n\r\n");
}

#[test]
fn invalid_host_value() {
    // RFC 9112 §3.2 / RFC 9110 §7.2: 400 for a Host that is not
    // uri-host [":" port].
    for v in ["a b", "a/b", "a@b", "a?b", "a#b", "a\\b", "\"a\""] {
        assert_bad_host(&format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n"));
    }
    assert_bad_host("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    let raw = "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
    let (h, _) = ok(raw);
    assert_eq!(
        h.host.map(|s| s.get(raw.as_bytes())),
        Some(&b"[::1]:8080"[..])
    );
}

#[test]
fn http10_without_host_is_fine() {
    // RFC 9112 §3.2: the Host requirement is HTTP/1.1's.
    let (h, _) = ok("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(h.host, None);
    assert_eq!(h.version, Version::Http10);
}
