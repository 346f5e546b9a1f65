//! SigV4 verification (`auth::sigv4_verify`) on arbitrary requests. The
//! input is NUL-separated fields: an `Authorization` value, a path, a query,
//! an `X-Amz-Date` value, then header (name, value) pairs.
//!
//! Checks: (1) `check` on the request as given never panics, and every
//! refusal has a message and one of API Gateway's error types; a request it
//! accepts verifies (or refuses) without panicking, whatever the secret.
//! (2) The same path, query and headers signed by the crate's signer for
//! `execute-api` pass `check` and `verify`: signer and verifier
//! canonicalise every input the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::auth::sigv4::{self, AmzDate, EMPTY_SHA256};
use tollgate_fuzz::auth::sigv4_verify::{self, Incoming, VerifyError};

/// 2015-08-30T12:36:00Z
const NOW: u64 = 1_440_938_160;

const TYPES: [&str; 4] = [
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
];

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0);
    let authz = fields.next().unwrap_or_default();
    let path = fields.next().unwrap_or_default();
    let query = fields.next().unwrap_or_default();
    let date = fields.next().unwrap_or_default();
    let mut extra: Vec<(&[u8], &[u8])> = Vec::new();
    while let (Some(n), Some(v)) = (fields.next(), fields.next()) {
        extra.push((n, v));
    }

    // (1) The request as given.
    let mut headers: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"example.amazonaws.com"),
        (b"Authorization", authz),
        (b"X-Amz-Date", date),
    ];
    headers.extend_from_slice(&extra);
    let req = Incoming {
        method: b"GET",
        path,
        query,
        headers: &headers[..],
    };
    match sigv4_verify::check(&req, NOW, "us-east-1") {
        Ok(signed) => {
            let _ = signed.access_key_id();
            match signed.verify(&req, EMPTY_SHA256, "secret") {
                Ok(()) | Err(VerifyError::Mismatch { .. }) | Err(VerifyError::SecurityToken) => {}
                // More query parameters than the verifier sorts on its stack.
                Err(VerifyError::Incomplete(m)) if m.starts_with("Too many query parameters") => {}
                Err(e) => panic!("verify refused with {e:?}"),
            }
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            assert!(TYPES.contains(&e.error_type()), "{e:?}");
        }
    }

    // (2) Signed by the signer, verified by the verifier.
    let at = AmzDate::from_unix(NOW);
    let mut signed_headers: Vec<(&str, &str)> =
        vec![("host", "example.amazonaws.com"), ("x-amz-date", at.as_str())];
    for (n, v) in &extra {
        let (Ok(n), Ok(v)) = (std::str::from_utf8(n), std::str::from_utf8(v)) else {
            continue;
        };
        // Names a client can sign; values without line breaks (HTTP's rule).
        let reserved = ["authorization", "host", "x-amz-date", "x-amz-security-token", "date"];
        if is_token(n)
            && !reserved.iter().any(|r| n.eq_ignore_ascii_case(r))
            && !v.contains(['\r', '\n'])
            && signed_headers.len() < sigv4::MAX_SIGNED_HEADERS
        {
            signed_headers.push((n, v));
        }
    }
    let list_len: usize = signed_headers.iter().map(|(n, _)| n.len() + 1).sum();
    if list_len > sigv4_verify::MAX_SIGNED_HEADERS_LEN {
        return; // a longer SignedHeaders list than the verifier takes (documented)
    }
    if query.split(|&b| b == b'&').any(|p| p.starts_with(b"X-Amz-Algorithm")) {
        return; // would read as a presigned request
    }
    let key = sigv4::signing_key("secret", at.date(), "us-east-1", sigv4_verify::SERVICE);
    let mut value = Vec::new();
    let to_sign = sigv4::Request {
        method: "POST",
        path,
        query,
        headers: &signed_headers,
        payload_sha256: EMPTY_SHA256,
    };
    if sigv4::authorization(&to_sign, "AKIDEXAMPLE", &key, &at, "us-east-1", sigv4_verify::SERVICE, &mut value)
        .is_err()
    {
        return; // too many query parameters to sign
    }
    let value = String::from_utf8(value).unwrap();
    let mut all = signed_headers.clone();
    all.push(("Authorization", &value));
    let req = Incoming {
        method: b"POST",
        path,
        query,
        headers: &all[..],
    };
    let signed = sigv4_verify::check(&req, NOW, "us-east-1")
        .unwrap_or_else(|e| panic!("a signed request was refused: {e:?}"));
    assert_eq!(signed.access_key_id(), "AKIDEXAMPLE");
    if let Err(e) = signed.verify(&req, EMPTY_SHA256, "secret") {
        panic!("signer and verifier disagree: {e:?}");
    }
});
