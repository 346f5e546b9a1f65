//! IAM authorization (SigV4), black-box: the gateway binary on 127.0.0.1,
//! a real backend, and requests signed by botocore's `SigV4Auth` /
//! `SigV4QueryAuth` (tests/fixtures/sigv4_sign.py; botocore from PyPI,
//! installed by test.sh), so no line of tollgate's signing code takes part.
//! Signed requests pass (header-signed GET, POST with a body, chunked, and
//! presigned); tampered path, query, body, header or date, a wrong secret,
//! an unknown key id, a session token and a policy that denies fail with
//! API Gateway's exact answers. The caller reaches the access log.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Response, send_raw, temp_path};
use serde_json::{Value, json};
use tollgate::auth::sigv4::payload_hash;

const ALICE: &str = "AKIAALICE0EXAMPLE0";
const ALICE_SECRET: &str = "alice/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BOB: &str = "AKIABOB00EXAMPLE00";
const ALICE_ARN: &str = "arn:aws:iam::123456789012:user/alice";
const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// Bob's secret: the value of an environment variable the gateway inherits.
fn bob_secret() -> String {
    std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests")
}

struct Setup {
    gw: Gateway,
    backend: Backend,
    log: std::path::PathBuf,
}

fn setup() -> Setup {
    let backend = Backend::echo();
    let log = temp_path("log");
    let routes = format!(
        r#"
      - {{route: GET /pets, authorization: aws_iam, integration: {{type: http_proxy, uri: "http://{b}/pets"}}}}
      - {{route: POST /pets, authorization: aws_iam, integration: {{type: http_proxy, uri: "http://{b}/pets"}}}}
      - {{route: "GET /items/{{id}}", authorization: aws_iam, integration: {{type: mock, body: item}}}}
      - {{route: GET /admin, authorization: aws_iam, integration: {{type: mock, body: admin}}}}
      - {{route: GET /open, integration: {{type: mock, body: open}}}}"#,
        b = backend.addr
    );
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
iam:
  region: us-east-1
  account_id: "123456789012"
  access_keys:
    - id: {ALICE}
      secret: "{ALICE_SECRET}"
      principal: {ALICE_ARN}
      policy:
        Version: "2012-10-17"
        Statement:
          - {{Effect: Allow, Action: execute-api:Invoke, Resource: ["arn:aws:execute-api:us-east-1:123456789012:shop/*", "arn:aws:execute-api:us-east-1:123456789012:h/*"]}}
          - {{Effect: Deny, Action: execute-api:Invoke, Resource: "arn:aws:execute-api:*:*:shop/prod/GET/admin"}}
    - id: {BOB}
      secret_env: CARGO_MANIFEST_DIR
      policy: {{Statement: {{Effect: Allow, Action: "execute-api:*", Resource: "arn:aws:execute-api:us-east-1:123456789012:shop/prod/GET/pets"}}}}
apis:
  - name: shop
    protocol: rest
    stages:
      - name: prod
        access_log:
          destination: {log}
          format: "$context.identity.userArn $context.identity.accessKey $context.status $context.requestId"
    routes:{routes}
  - name: h
    stages: [hs]
    routes:{routes}
"#,
        log = log.display()
    ));
    Setup { gw, backend, log }
}

/// A request signed by botocore, as it will be sent.
#[derive(Clone, Debug)]
struct Signed {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Spec<'a> {
    method: &'a str,
    target: &'a str,
    body: &'a str,
    headers: &'a [(&'a str, &'a str)],
    key: &'a str,
    secret: &'a str,
    token: Option<&'a str>,
    query: bool,
    offset: i64,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            method: "GET",
            target: "/prod/pets",
            body: "",
            headers: &[],
            key: ALICE,
            secret: ALICE_SECRET,
            token: None,
            query: false,
            offset: 0,
        }
    }
}

fn sign(addr: SocketAddr, spec: &Spec<'_>) -> Signed {
    let mut headers = serde_json::Map::new();
    for (n, v) in spec.headers {
        headers.insert((*n).into(), Value::String((*v).into()));
    }
    let input = json!({
        "method": spec.method,
        "url": format!("http://{addr}{}", spec.target),
        "body": spec.body,
        "headers": headers,
        "key": spec.key,
        "secret": spec.secret,
        "token": spec.token,
        "region": "us-east-1",
        "mode": if spec.query { "query" } else { "header" },
        "offset": spec.offset,
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigv4_sign.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore signer failed (pip install botocore): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = v["url"].as_str().unwrap();
    let target = url
        .strip_prefix(&format!("http://{addr}"))
        .unwrap()
        .to_owned();
    let headers = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_owned(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Signed {
        method: spec.method.to_owned(),
        target,
        headers,
        body: spec.body.as_bytes().to_vec(),
    }
}

fn send(addr: SocketAddr, r: &Signed) -> Response {
    let mut raw = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", r.method, r.target);
    for (n, v) in &r.headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        r.body.len()
    ));
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(&r.body);
    send_raw(addr, &bytes)
}

fn header<'a>(r: &'a Signed, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap()
}

fn body_json(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("JSON body: {}", r.text()))
}

fn assert_refused(r: &Response, error_type: &str, message: &str) {
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some(error_type),
        "{}",
        r.text()
    );
    assert_eq!(body_json(r), json!({ "message": message }));
}

/// The mismatch answer for a request whose canonical form is `creq`.
fn mismatch(creq: &str, date: &str) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date}\n{}/us-east-1/execute-api/aws4_request\n{}",
        &date[..8],
        payload_hash(creq.as_bytes()).as_str()
    );
    format!(
        "{BAD_SIGNATURE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\nThe String-to-Sign should have been\n'{sts}'\n"
    )
}

#[test]
fn signed_requests_pass() {
    let s = setup();
    let addr = s.gw.addr();

    // Header-signed GET with a query.
    let r = sign(
        addr,
        &Spec {
            target: "/prod/pets?b=2&a=x%20y",
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(
        resp.text().starts_with("GET /pets?b=2&a=x%20y\n"),
        "{}",
        resp.text()
    );

    // POST with a body (and a signed content-type).
    let body = r#"{"name":"rex","kind":"dog"}"#;
    let r = sign(
        addr,
        &Spec {
            method: "POST",
            body,
            headers: &[("Content-Type", "application/json")],
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(s.backend.last().body, body.as_bytes());

    // The same signed POST sent chunked: the body is what is hashed.
    let mut raw = format!("POST /prod/pets HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in &r.headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    raw.push_str(&format!(
        "5\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        &body[..5],
        body.len() - 5,
        &body[5..]
    ));
    let resp = send_raw(addr, raw.as_bytes());
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(s.backend.last().body, body.as_bytes());

    // An encoded path segment: botocore signs it encoded once more
    // (`%3A` as `%253A`), as the gateway's canonical request does.
    let r = sign(
        addr,
        &Spec {
            target: "/prod/items/arn%3Aaws%3Ax%20y",
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!((resp.status, resp.text().as_str()), (200, "item"));

    // Presigned query string (SigV4QueryAuth).
    let r = sign(
        addr,
        &Spec {
            target: "/prod/pets?x=1",
            query: true,
            ..Spec::default()
        },
    );
    assert!(r.target.contains("X-Amz-Signature="), "{}", r.target);
    let resp = send(addr, &r);
    assert_eq!(resp.status, 200, "{}", resp.text());

    // Bob's secret comes from the environment; his policy allows GET /pets.
    let r = sign(
        addr,
        &Spec {
            key: BOB,
            secret: &bob_secret(),
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 200);

    // HTTP APIs take the same signatures.
    let r = sign(
        addr,
        &Spec {
            target: "/hs/pets",
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 200);

    // The caller reaches the access log.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&s.log).unwrap_or_default();
        if text.lines().count() >= 5 {
            let first = text.lines().next().unwrap();
            assert!(
                first.starts_with(&format!("{ALICE_ARN} {ALICE} 200 ")),
                "{text}"
            );
            assert!(
                text.contains(&format!("arn:aws:iam::123456789012:user/{BOB} {BOB} 200 ")),
                "{text}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "access log: {text:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tampered_requests_fail_with_api_gateways_answers() {
    let s = setup();
    let addr = s.gw.addr();
    let empty = payload_hash(b"");

    // Path: signed for item 1, sent for item 2.
    let signed = sign(
        addr,
        &Spec {
            target: "/prod/items/1",
            ..Spec::default()
        },
    );
    let date = header(&signed, "X-Amz-Date").to_owned();
    let mut r = signed.clone();
    r.target = "/prod/items/2".into();
    let creq = format!(
        "GET\n/prod/items/2\n\nhost:{addr}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        empty.as_str()
    );
    assert_refused(
        &send(addr, &r),
        "InvalidSignatureException",
        &mismatch(&creq, &date),
    );
    assert_eq!(send(addr, &signed).status, 200);

    // Query.
    let signed = sign(
        addr,
        &Spec {
            target: "/prod/pets?a=1",
            ..Spec::default()
        },
    );
    let mut r = signed.clone();
    r.target = "/prod/pets?a=2".into();
    let resp = send(addr, &r);
    assert_eq!(resp.status, 403);
    assert!(
        body_json(&resp)["message"]
            .as_str()
            .unwrap()
            .starts_with(BAD_SIGNATURE)
    );

    // Body.
    let signed = sign(
        addr,
        &Spec {
            method: "POST",
            body: "amount=10",
            ..Spec::default()
        },
    );
    let mut r = signed.clone();
    r.body = b"amount=99".to_vec();
    let date = header(&signed, "X-Amz-Date").to_owned();
    let creq = format!(
        "POST\n/prod/pets\n\nhost:{addr}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        payload_hash(b"amount=99").as_str()
    );
    assert_refused(
        &send(addr, &r),
        "InvalidSignatureException",
        &mismatch(&creq, &date),
    );
    assert_eq!(send(addr, &signed).status, 200);

    // A signed header.
    let signed = sign(
        addr,
        &Spec {
            headers: &[("X-Tenant", "a")],
            ..Spec::default()
        },
    );
    let mut r = signed.clone();
    for h in &mut r.headers {
        if h.0.eq_ignore_ascii_case("x-tenant") {
            h.1 = "b".into();
        }
    }
    let resp = send(addr, &r);
    assert_eq!(resp.status, 403);
    assert!(
        body_json(&resp)["message"]
            .as_str()
            .unwrap()
            .contains("\nx-tenant:b\n")
    );

    // The date header, changed after signing (still in the window).
    let mut r = sign(addr, &Spec::default());
    let date = header(&r, "X-Amz-Date").to_owned();
    let later = format!(
        "{}{}",
        &date[..14],
        if date.ends_with("0Z") { "1Z" } else { "0Z" }
    );
    for h in &mut r.headers {
        if h.0.eq_ignore_ascii_case("x-amz-date") {
            h.1 = later.clone();
        }
    }
    let resp = send(addr, &r);
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert!(
        body_json(&resp)["message"]
            .as_str()
            .unwrap()
            .starts_with(BAD_SIGNATURE)
    );

    // A wrong secret.
    let r = sign(
        addr,
        &Spec {
            secret: "not-alices-secret",
            ..Spec::default()
        },
    );
    let date = header(&r, "X-Amz-Date").to_owned();
    let creq = format!(
        "GET\n/prod/pets\n\nhost:{addr}\nx-amz-date:{date}\n\nhost;x-amz-date\n{}",
        empty.as_str()
    );
    assert_refused(
        &send(addr, &r),
        "InvalidSignatureException",
        &mismatch(&creq, &date),
    );

    // A presigned URL with a changed parameter.
    let mut r = sign(
        addr,
        &Spec {
            target: "/prod/pets?x=1",
            query: true,
            ..Spec::default()
        },
    );
    r.target = r.target.replace("x=1", "x=2");
    assert_eq!(send(addr, &r).status, 403);
}

fn amz(date: &str) -> bool {
    date.len() == 16 && date.as_bytes()[8] == b'T' && date.ends_with('Z')
}

#[test]
fn dates_out_of_the_window_expire() {
    let s = setup();
    let addr = s.gw.addr();
    for (offset, words, sign_char) in [
        (-600, "Signature expired: ", '-'),
        (600, "Signature not yet current: ", '+'),
    ] {
        let r = sign(
            addr,
            &Spec {
                offset,
                ..Spec::default()
            },
        );
        let date = header(&r, "X-Amz-Date").to_owned();
        let resp = send(addr, &r);
        assert_eq!(resp.status, 403);
        assert_eq!(
            resp.header("x-amzn-ErrorType"),
            Some("InvalidSignatureException")
        );
        let m = body_json(&resp)["message"].as_str().unwrap().to_owned();
        // "Signature expired: D is now earlier than E (N - 5 min.)"
        let rest = m
            .strip_prefix(&format!("{words}{date} "))
            .unwrap_or_else(|| panic!("{m}"));
        let rest = rest
            .strip_prefix(if offset < 0 {
                "is now earlier than "
            } else {
                "is still later than "
            })
            .unwrap_or_else(|| panic!("{m}"));
        let (edge, now) = rest.split_once(" (").unwrap();
        assert!(amz(edge), "{m}");
        let now = now
            .strip_suffix(&format!(" {sign_char} 5 min.)"))
            .unwrap_or_else(|| panic!("{m}"));
        assert!(amz(now), "{m}");
    }
    // A presigned URL past its X-Amz-Expires.
    let r = sign(
        addr,
        &Spec {
            query: true,
            offset: -7200,
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!(resp.status, 403);
    let m = body_json(&resp)["message"].as_str().unwrap().to_owned();
    assert!(
        m.starts_with("Signature expired: ") && m.ends_with(" - 60 min.)"),
        "{m}"
    );
}

#[test]
fn unknown_keys_tokens_and_missing_signatures() {
    let s = setup();
    let addr = s.gw.addr();
    let r = sign(
        addr,
        &Spec {
            key: "AKIANOBODY0EXAMPLE",
            ..Spec::default()
        },
    );
    assert_refused(
        &send(addr, &r),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    );
    // Temporary credentials: the gateway issued no session token.
    let r = sign(
        addr,
        &Spec {
            token: Some("FQoGZXIvYXdzEXAMPLETOKEN"),
            ..Spec::default()
        },
    );
    assert!(header(&r, "X-Amz-Security-Token").starts_with("FQoG"));
    assert_refused(
        &send(addr, &r),
        "UnrecognizedClientException",
        "The security token included in the request is invalid",
    );
    // No signature at all.
    let resp = common::get(addr, "/prod/pets");
    assert_refused(
        &resp,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    // A bearer token is not a SigV4 signature.
    let resp = send_raw(
        addr,
        b"GET /prod/pets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\nConnection: close\r\n\r\n",
    );
    assert_refused(
        &resp,
        "IncompleteSignatureException",
        "'abc' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc'.",
    );
    // Routes without `aws_iam` take anyone.
    assert_eq!(common::get(addr, "/prod/open").status, 200);
    // HTTP APIs answer every IAM refusal with Forbidden.
    let resp = common::get(addr, "/hs/pets");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.header("x-amzn-ErrorType"), None);
    assert_eq!(body_json(&resp), json!({"message": "Forbidden"}));
    let r = sign(
        addr,
        &Spec {
            target: "/hs/pets",
            key: "AKIANOBODY0EXAMPLE",
            ..Spec::default()
        },
    );
    assert_eq!(body_json(&send(addr, &r)), json!({"message": "Forbidden"}));
}

#[test]
fn policies_deny_with_the_principal_and_resource() {
    let s = setup();
    let addr = s.gw.addr();
    // Alice: an explicit deny on GET /admin.
    let r = sign(
        addr,
        &Spec {
            target: "/prod/admin",
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!(resp.status, 403);
    assert_eq!(
        resp.header("x-amzn-ErrorType"),
        Some("AccessDeniedException")
    );
    assert_eq!(
        body_json(&resp),
        json!({"Message": format!("User: {ALICE_ARN} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:shop/prod/GET/admin with an explicit deny in an identity-based policy")})
    );
    // Bob: allowed GET /pets only; POST is implicitly denied.
    let secret = bob_secret();
    let r = sign(
        addr,
        &Spec {
            method: "POST",
            body: "x",
            key: BOB,
            secret: &secret,
            ..Spec::default()
        },
    );
    let resp = send(addr, &r);
    assert_eq!(
        body_json(&resp),
        json!({"Message": format!("User: arn:aws:iam::123456789012:user/{BOB} is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:********9012:shop/prod/POST/pets because no identity-based policy allows the execute-api:Invoke action")})
    );
    // The method ARN carries the path below the stage, parameters as sent.
    let r = sign(
        addr,
        &Spec {
            target: "/prod/items/42",
            key: BOB,
            secret: &secret,
            ..Spec::default()
        },
    );
    let m = body_json(&send(addr, &r))["Message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        m.contains(
            "on resource: arn:aws:execute-api:us-east-1:********9012:shop/prod/GET/items/42 "
        ),
        "{m}"
    );
    // HTTP API denials are Forbidden.
    let r = sign(
        addr,
        &Spec {
            target: "/hs/pets",
            key: BOB,
            secret: &secret,
            ..Spec::default()
        },
    );
    assert_eq!(body_json(&send(addr, &r)), json!({"message": "Forbidden"}));
}

#[test]
fn expect_continue_is_answered_once_before_the_body_is_hashed() {
    use std::io::Read;
    let s = setup();
    let addr = s.gw.addr();
    let body = "{\"big\":true}";
    let r = sign(
        addr,
        &Spec {
            method: "POST",
            body,
            ..Spec::default()
        },
    );
    let mut raw = format!("POST /prod/pets HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in &r.headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut c = common::connect(addr);
    c.write_all(raw.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(body.as_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert_eq!(s.backend.last().body, body.as_bytes());
}

#[test]
fn a_policy_allowing_invalidate_cache_may_refresh_the_cache() {
    use std::sync::atomic::Ordering;
    let backend = Backend::echo();
    // One worker: the response cache is per worker.
    let gw = Gateway::start_with(
        &format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
iam:
  access_keys:
    - id: {ALICE}
      secret: "{ALICE_SECRET}"
      policy: {{Statement: {{Effect: Allow, Action: "execute-api:*", Resource: "*"}}}}
    - id: {BOB}
      secret: bob
      policy: {{Statement: {{Effect: Allow, Action: execute-api:Invoke, Resource: "*"}}}}
apis:
  - name: shop
    protocol: rest
    stages:
      - name: prod
        cache: {{capacity_bytes: 1000000, require_authorization_for_cache_control: true, unauthorized_cache_control_header_strategy: FAIL_WITH_403}}
    routes:
      - {{route: GET /c, authorization: aws_iam, integration: {{type: http_proxy, uri: "http://{b}/c"}}}}
"#,
            b = backend.addr
        ),
        &["--workers", "1"],
    );
    let addr = gw.addr();
    let origin = || backend.requests.load(Ordering::SeqCst);
    let plain = sign(
        addr,
        &Spec {
            target: "/prod/c",
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &plain).status, 200);
    assert_eq!(send(addr, &plain).status, 200);
    assert_eq!(origin(), 1, "the second was served from the cache");
    // Bob may invoke, not invalidate.
    let bob = sign(
        addr,
        &Spec {
            target: "/prod/c",
            key: BOB,
            secret: "bob",
            headers: &[("Cache-Control", "max-age=0")],
            ..Spec::default()
        },
    );
    let resp = send(addr, &bob);
    assert_eq!(resp.status, 403, "{}", resp.text());
    assert_eq!(origin(), 1);
    // Alice's policy allows execute-api:InvalidateCache: the entry is refreshed.
    let alice = sign(
        addr,
        &Spec {
            target: "/prod/c",
            headers: &[("Cache-Control", "max-age=0")],
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &alice).status, 200);
    assert_eq!(origin(), 2);
}

#[test]
fn bodies_over_the_limit_are_refused_before_hashing() {
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
limits: {{max_body_bytes: 100}}
iam:
  access_keys:
    - {{id: {ALICE}, secret: "{ALICE_SECRET}", policy: {{Statement: {{Effect: Allow, Action: "*", Resource: "*"}}}}}}
apis:
  - name: shop
    protocol: rest
    stages: [prod]
    routes:
      - {{route: POST /pets, authorization: aws_iam, integration: {{type: mock, body: ok}}}}
"#
    ));
    let addr = gw.addr();
    let big = "x".repeat(200);
    let r = sign(
        addr,
        &Spec {
            method: "POST",
            body: &big,
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 413);
    // Chunked: the limit applies while the body is read for its hash.
    let mut raw = format!("POST /prod/pets HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in &r.headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    raw.push_str(&format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len()));
    assert_eq!(send_raw(addr, raw.as_bytes()).status, 413);
    // Within the limit, the same key passes.
    let r = sign(
        addr,
        &Spec {
            method: "POST",
            body: "small",
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 200);
}

#[test]
fn the_caller_reaches_lambda_events() {
    use common::Reply;
    let fs = Backend::start(|_| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: br#"{"statusCode":200,"body":"ok"}"#.to_vec(),
    });
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
iam:
  access_keys:
    - {{id: {ALICE}, secret: "{ALICE_SECRET}", principal: {ALICE_ARN}, policy: {{Statement: {{Effect: Allow, Action: "*", Resource: "*"}}}}}}
apis:
  - name: shop
    protocol: rest
    stages: [prod]
    routes:
      - {{route: GET /fn, authorization: aws_iam, integration: {{type: lambda, uri: "http://{f}", function: f}}}}
  - name: h
    stages: [hs]
    routes:
      - {{route: GET /fn, authorization: aws_iam, integration: {{type: lambda, uri: "http://{f}", function: f}}}}
"#,
        f = fs.addr
    ));
    let addr = gw.addr();
    let event = || -> Value { serde_json::from_slice(&fs.last().body).unwrap() };
    // REST, payload 1.0: requestContext.identity.
    let r = sign(
        addr,
        &Spec {
            target: "/prod/fn",
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 200);
    let id = event()["requestContext"]["identity"].clone();
    assert_eq!(id["userArn"], ALICE_ARN);
    assert_eq!(id["caller"], ALICE_ARN);
    assert_eq!(id["accessKey"], ALICE);
    assert_eq!(id["accountId"], "123456789012");
    // HTTP API, payload 2.0: requestContext.authorizer.iam.
    let r = sign(
        addr,
        &Spec {
            target: "/hs/fn",
            ..Spec::default()
        },
    );
    assert_eq!(send(addr, &r).status, 200);
    let iam = event()["requestContext"]["authorizer"]["iam"].clone();
    assert_eq!(iam["userArn"], ALICE_ARN);
    assert_eq!(iam["accessKey"], ALICE);
    assert_eq!(iam["accountId"], "123456789012");
}
