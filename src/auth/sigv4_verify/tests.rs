//! Verification against AWS's Signature Version 4 test suite (credentials
//! `AKIDEXAMPLE` / `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, region
//! `us-east-1`, service `service`, time `20150830T123600Z`): the
//! header-signed cases of `aws-sig-v4-test-suite` and the presigned
//! (`query-signed-request`) cases of aws-c-auth's `aws-signing-test-suite`,
//! each named after its case; then every refusal, with API Gateway's words.

use super::*;
use crate::auth::sigv4::{self, EMPTY_SHA256};

const KEY_ID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z
const NOW: u64 = 1_440_938_160;
const HOST: (&str, &str) = ("Host", "example.amazonaws.com");
const DATE: (&str, &str) = ("X-Amz-Date", "20150830T123600Z");

fn authz(signed: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={KEY_ID}/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
    )
}

/// Check and verify a request for the test suite's scope.
fn run(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
    now: u64,
) -> Result<Signed, VerifyError> {
    let req = Incoming {
        method: method.as_bytes(),
        path: path.as_bytes(),
        query: query.as_bytes(),
        headers,
    };
    let s = check_scoped(&req, now, "us-east-1", "service")?;
    assert_eq!(s.access_key_id(), KEY_ID);
    s.verify(&req, sigv4::payload_hash(body.as_bytes()).as_str(), SECRET)?;
    Ok(s)
}

fn header_case(path: &str, query: &str, extra: &[(&str, &str)], signed: &str, signature: &str) {
    let a = authz(signed, signature);
    let mut headers = vec![HOST];
    headers.extend_from_slice(extra);
    headers.push(DATE);
    headers.push(("Authorization", &a));
    run("GET", path, query, &headers, "", NOW).unwrap();
}

#[test]
fn get_vanilla() {
    header_case(
        "/",
        "",
        &[],
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn get_header_key_duplicate() {
    header_case(
        "/",
        "",
        &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    );
}

#[test]
fn get_header_value_trim() {
    header_case(
        "/",
        "",
        &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    );
}

#[test]
fn get_unreserved() {
    header_case(
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "",
        &[],
        "host;x-amz-date",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    );
}

#[test]
fn get_utf8() {
    header_case(
        "/\u{1234}",
        "",
        &[],
        "host;x-amz-date",
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    );
}

#[test]
fn get_vanilla_query_order_key() {
    header_case(
        "/",
        "Param1=value2&Param1=Value1",
        &[],
        "host;x-amz-date",
        "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    );
}

#[test]
fn get_vanilla_utf8_query() {
    header_case(
        "/",
        "\u{1234}=bar",
        &[],
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    );
}

#[test]
fn get_slashes_and_relative_paths_normalise() {
    for path in ["//", "/./", "/example/..", "/example1/example2/../.."] {
        header_case(
            path,
            "",
            &[],
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        );
    }
    header_case(
        "/example space/",
        "",
        &[],
        "host;x-amz-date",
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    );
}

#[test]
fn post_x_www_form_urlencoded() {
    let a = authz(
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        HOST,
        DATE,
        ("Authorization", a.as_str()),
    ];
    run("POST", "/", "", &headers, "Param1=value1", NOW).unwrap();
    // The same request with another body: the payload line differs.
    let err = run("POST", "/", "", &headers, "Param1=value2", NOW).unwrap_err();
    assert!(matches!(err, VerifyError::Mismatch { .. }), "{err:?}");
}

// Presigned (query-signed) vectors: aws-c-auth's suite, X-Amz-Expires=3600.

fn query_case(path: &str, query: &str, headers: &[(&str, &str)]) -> Result<Signed, VerifyError> {
    let mut all = vec![HOST];
    all.extend_from_slice(headers);
    run("GET", path, query, &all, "", NOW + 60)
}

const Q: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z";

#[test]
fn presigned_get_vanilla_query_unreserved() {
    let u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let q = format!(
        "{u}={u}&{Q}&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf"
    );
    let s = query_case("/", &q, &[]).unwrap();
    assert!(s.is_presigned());
}

#[test]
fn presigned_get_utf8() {
    let q = format!(
        "{Q}&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44"
    );
    query_case("/\u{1234}", &q, &[]).unwrap();
}

#[test]
fn presigned_get_header_value_trim() {
    let q = format!(
        "{Q}&X-Amz-SignedHeaders=host%3Bmy-header1%3Bmy-header2&X-Amz-Expires=3600&X-Amz-Signature=e7bb0fd515e125e1aec2ecc4c0c17484fb06f6846b927c35e46005dd3df3acd4"
    );
    query_case(
        "/",
        &q,
        &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
    )
    .unwrap();
}

#[test]
fn presigned_expires_after_its_lifetime() {
    let q = format!(
        "{Q}&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44"
    );
    let req = Incoming {
        method: b"GET",
        path: "/\u{1234}".as_bytes(),
        query: q.as_bytes(),
        headers: &[HOST][..],
    };
    assert!(check_scoped(&req, NOW + 3600, "us-east-1", "service").is_ok());
    let err = check_scoped(&req, NOW + 3601, "us-east-1", "service").unwrap_err();
    assert_eq!(
        err.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T133601Z - 60 min.)"
    );
    assert_eq!(err.error_type(), "InvalidSignatureException");
}

#[test]
fn presigned_tampered_query_fails() {
    let q = format!(
        "{Q}&X-Amz-SignedHeaders=host&X-Amz-Expires=7200&X-Amz-Signature=10eae3f14a260bd3911cc6d008d3c576d143b05b62f09782a7a4b37f52178e44"
    );
    let err = query_case("/\u{1234}", &q, &[]).unwrap_err();
    assert!(matches!(err, VerifyError::Mismatch { .. }), "{err:?}");
}

#[test]
fn presigned_missing_parts() {
    let req = Incoming {
        method: b"GET",
        path: b"/",
        query: b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
        headers: &[HOST][..],
    };
    let err = check(&req, NOW, "us-east-1").unwrap_err();
    assert_eq!(
        err.message(),
        "AWS query-string parameters must include 'X-Amz-Credential'. AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-SignedHeaders'. Re-examine the query-string parameters."
    );
    assert_eq!(err.error_type(), "IncompleteSignatureException");
}

// Refusals.

fn vanilla_headers(a: &str) -> Vec<(&str, &str)> {
    vec![HOST, DATE, ("Authorization", a)]
}

const VANILLA_SIG: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

#[test]
fn no_signature_is_missing_token() {
    let err = run("GET", "/", "", &[HOST, DATE], "", NOW).unwrap_err();
    assert_eq!(err, VerifyError::Missing);
    assert_eq!(err.message(), "Missing Authentication Token");
    assert_eq!(err.error_type(), "MissingAuthenticationTokenException");
}

#[test]
fn tampered_path_query_header_or_secret_mismatch() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let h = vanilla_headers(&a);
    for (path, query) in [("/other", ""), ("/", "a=b")] {
        let err = run("GET", path, query, &h, "", NOW).unwrap_err();
        assert!(matches!(err, VerifyError::Mismatch { .. }), "{err:?}");
    }
    let other_host = [("Host", "evil.example.com"), DATE, ("Authorization", &a)];
    assert!(matches!(
        run("GET", "/", "", &other_host, "", NOW),
        Err(VerifyError::Mismatch { .. })
    ));
    let req = Incoming {
        method: b"GET",
        path: b"/",
        query: b"",
        headers: &h[..],
    };
    let s = check_scoped(&req, NOW, "us-east-1", "service").unwrap();
    assert!(matches!(
        s.verify(&req, EMPTY_SHA256, "not-the-secret"),
        Err(VerifyError::Mismatch { .. })
    ));
}

#[test]
fn mismatch_message_tells_canonical_request_and_string_to_sign() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let err = run("GET", "/x", "", &vanilla_headers(&a), "", NOW).unwrap_err();
    let creq = "GET\n/x\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let creq_hash = sigv4::payload_hash(creq.as_bytes());
    assert_eq!(
        err.message(),
        format!(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n\
             The Canonical String for this request should have been\n'{creq}'\n\n\
             The String-to-Sign should have been\n\
             'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}'\n",
            creq_hash.as_str()
        )
    );
    assert_eq!(err.error_type(), "InvalidSignatureException");
}

#[test]
fn unsigned_payload_is_not_taken() {
    // A client that signs `UNSIGNED-PAYLOAD` in place of the body's hash
    // fails, as at API Gateway: the payload line is the body's own hash.
    let mut creq_sig = Vec::new();
    let req = sigv4::Request {
        method: "POST",
        path: b"/",
        query: b"",
        headers: &[HOST, DATE, ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")],
        payload_sha256: "UNSIGNED-PAYLOAD",
    };
    let key = sigv4::signing_key(SECRET, "20150830", "us-east-1", "service");
    sigv4::authorization(
        &req,
        KEY_ID,
        &key,
        &AmzDate::from_unix(NOW),
        "us-east-1",
        "service",
        &mut creq_sig,
    )
    .unwrap();
    let a = String::from_utf8(creq_sig).unwrap();
    let headers = [
        HOST,
        DATE,
        ("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"),
        ("Authorization", a.as_str()),
    ];
    let err = run("POST", "/", "", &headers, "body", NOW).unwrap_err();
    assert!(matches!(err, VerifyError::Mismatch { .. }), "{err:?}");
}

#[test]
fn skewed_dates_expire_or_are_not_yet_current() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let h = vanilla_headers(&a);
    assert!(run("GET", "/", "", &h, "", NOW + 300).is_ok());
    assert!(run("GET", "/", "", &h, "", NOW - 300).is_ok());
    let err = run("GET", "/", "", &h, "", NOW + 301).unwrap_err();
    assert_eq!(
        err.message(),
        "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)"
    );
    assert_eq!(err.error_type(), "InvalidSignatureException");
    let err = run("GET", "/", "", &h, "", NOW - 301).unwrap_err();
    assert_eq!(
        err.message(),
        "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T123059Z + 5 min.)"
    );
}

#[test]
fn http_date_header_stands_in_for_x_amz_date() {
    // Signed by this crate's signer with `Date` instead of `X-Amz-Date`
    // (what botocore does when a request carries `Date`).
    let headers = [HOST, ("Date", "Sun, 30 Aug 2015 12:36:00 -0000")];
    let req = sigv4::Request {
        method: "GET",
        path: b"/",
        query: b"",
        headers: &headers,
        payload_sha256: EMPTY_SHA256,
    };
    let key = sigv4::signing_key(SECRET, "20150830", "us-east-1", "service");
    let mut a = Vec::new();
    sigv4::authorization(
        &req,
        KEY_ID,
        &key,
        &AmzDate::from_unix(NOW),
        "us-east-1",
        "service",
        &mut a,
    )
    .unwrap();
    let a = String::from_utf8(a).unwrap();
    let all = [headers[0], headers[1], ("Authorization", a.as_str())];
    run("GET", "/", "", &all, "", NOW).unwrap();
}

#[test]
fn malformed_authorization_headers() {
    let cases: [(&str, &str); 4] = [
        (
            "Bearer sometoken",
            "'sometoken' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer sometoken'.",
        ),
        (
            "Bearer",
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=a/b, Signature=",
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=a/b, Signature=",
        ),
        (
            "AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ",
        ),
    ];
    for (value, want) in cases {
        let err = run("GET", "/", "", &vanilla_headers(value), "", NOW).unwrap_err();
        assert_eq!(err.message(), want, "{value}");
        assert_eq!(err.error_type(), "IncompleteSignatureException", "{value}");
    }
    // Without any date header.
    let err = run(
        "GET",
        "/",
        "",
        &[HOST, ("Authorization", "AWS4-HMAC-SHA256 Credential=a")],
        "",
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=a"
    );
}

#[test]
fn bad_date_format() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let h = [HOST, ("X-Amz-Date", "2015-08-30"), ("Authorization", &a)];
    let err = run("GET", "/", "", &h, "", NOW).unwrap_err();
    assert_eq!(
        err.message(),
        "Date must be in ISO-8601 'basic format'. Got '2015-08-30'. See http://en.wikipedia.org/wiki/ISO_8601"
    );
    assert_eq!(err.error_type(), "IncompleteSignatureException");
}

#[test]
fn host_must_be_signed() {
    let a = authz("x-amz-date", VANILLA_SIG);
    let err = run("GET", "/", "", &vanilla_headers(&a), "", NOW).unwrap_err();
    assert_eq!(
        err.message(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
    assert_eq!(err.error_type(), "InvalidSignatureException");
}

#[test]
fn credential_scope_errors() {
    let a = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service, SignedHeaders=host, Signature=00";
    let err = run("GET", "/", "", &vanilla_headers(a), "", NOW).unwrap_err();
    assert_eq!(
        err.message(),
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20150830/us-east-1/service'"
    );
    let a = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/eu-west-1/s3/aws5_request, SignedHeaders=host, Signature=00";
    let err = run("GET", "/", "", &vanilla_headers(a), "", NOW).unwrap_err();
    assert_eq!(
        err.message(),
        "Credential should be scoped to a valid region, not 'eu-west-1'. Credential should be scoped to correct service: 'service'. Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
    assert_eq!(err.error_type(), "InvalidSignatureException");
    // Trailing slashes are ignored.
    let a = format!(
        "AWS4-HMAC-SHA256 Credential={KEY_ID}/20150830/us-east-1/service/aws4_request/, SignedHeaders=host;x-amz-date, Signature={VANILLA_SIG}"
    );
    run("GET", "/", "", &vanilla_headers(&a), "", NOW).unwrap();
}

#[test]
fn execute_api_is_the_default_scope() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let h = vanilla_headers(&a);
    let req = Incoming {
        method: b"GET",
        path: b"/",
        query: b"",
        headers: &h[..],
    };
    let err = check(&req, NOW, "us-east-1").unwrap_err();
    assert_eq!(
        err.message(),
        "Credential should be scoped to correct service: 'execute-api'."
    );
}

#[test]
fn both_header_and_query_signature() {
    let a = authz("host;x-amz-date", VANILLA_SIG);
    let err = run(
        "GET",
        "/",
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &vanilla_headers(&a),
        "",
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
    );
}

#[test]
fn security_tokens_are_refused_after_the_signature() {
    // post-sts-header-before: the token is signed; the signature is right.
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    let a = authz(
        "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    );
    let h = [
        HOST,
        DATE,
        ("X-Amz-Security-Token", TOKEN),
        ("Authorization", &a),
    ];
    let err = run("POST", "/", "", &h, "", NOW).unwrap_err();
    assert_eq!(err, VerifyError::SecurityToken);
    assert_eq!(err.error_type(), "UnrecognizedClientException");
    // A wrong signature is told first.
    let err = run("POST", "/x", "", &h, "", NOW).unwrap_err();
    assert!(matches!(err, VerifyError::Mismatch { .. }));
}

#[test]
fn round_trip_with_the_signer_for_execute_api() {
    // An encoded path segment (`%3A`) is encoded once more in the canonical URI.
    let path = b"/prod/items/arn%3Aaws%3Ax/a%20b";
    let headers = [
        ("host", "api.example.com"),
        ("x-amz-date", "20150830T123600Z"),
    ];
    let body = b"{\"a\":1}";
    let hash = sigv4::payload_hash(body);
    let req = sigv4::Request {
        method: "PUT",
        path,
        query: b"b=2&a=1&c",
        headers: &headers,
        payload_sha256: hash.as_str(),
    };
    let key = sigv4::signing_key(SECRET, "20150830", "eu-west-1", SERVICE);
    let mut a = Vec::new();
    sigv4::authorization(
        &req,
        "AKIAALICE",
        &key,
        &AmzDate::from_unix(NOW),
        "eu-west-1",
        SERVICE,
        &mut a,
    )
    .unwrap();
    let a = String::from_utf8(a).unwrap();
    let all = [headers[0], headers[1], ("authorization", a.as_str())];
    let inc = Incoming {
        method: b"PUT",
        path,
        query: b"b=2&a=1&c",
        headers: &all[..],
    };
    let s = check(&inc, NOW, "eu-west-1").unwrap();
    assert_eq!(s.access_key_id(), "AKIAALICE");
    assert!(
        s.canonical_request(&inc, hash.as_str())
            .unwrap()
            .starts_with("PUT\n/prod/items/arn%253Aaws%253Ax/a%2520b\na=1&b=2&c=\n")
    );
    s.verify(&inc, hash.as_str(), SECRET).unwrap();
    s.verify_with_key(&inc, hash.as_str(), &key).unwrap();
    assert!(s.verify(&inc, EMPTY_SHA256, SECRET).is_err());
}

#[test]
fn http_dates() {
    assert_eq!(parse_http_date(b"Sun, 30 Aug 2015 12:36:00 GMT"), Some(NOW));
    assert_eq!(
        parse_http_date(b"Sun, 30 Aug 2015 12:36:00 -0000"),
        Some(NOW)
    );
    assert_eq!(parse_http_date(b"Sun, 31 Feb 2015 12:36:00 GMT"), None);
    assert_eq!(parse_http_date(b"Sun, 30 Aug 2015 12:36:00 +0200"), None);
    assert_eq!(parse_http_date(b"yesterday"), None);
    assert_eq!(AmzDate::parse(b"20150830T123600Z").map(|d| d.1), Some(NOW));
    assert_eq!(AmzDate::parse(b"20150830T123600"), None);
    assert_eq!(AmzDate::parse(b"20151330T123600Z"), None);
}

#[test]
fn parts_past_the_limits_are_refused_not_truncated() {
    let names = vec!["x-a"; MAX_SIGNED_HEADERS_LEN / 4 + 1].join(";");
    let a = authz(&format!("host;{names}"), VANILLA_SIG);
    let err = run("GET", "/", "", &vanilla_headers(&a), "", NOW).unwrap_err();
    assert_eq!(err.message(), "Authorization parts are too long.");
    assert_eq!(err.error_type(), "IncompleteSignatureException");
}
