//! Allocations per request on IAM-authorized routes (`aws_iam`), counted by
//! a global allocator (as tests/alloc.rs does): a header-signed GET and a
//! signed POST with a body, replayed on one connection within the
//! signature's 5-minute window. Both: 0 per request once warm (the key's
//! signing key is derived once a day per worker, the body is hashed where it
//! lies in the read buffer, the method ARN goes into a reusable string, the
//! identity is shared by `Rc`). Bound asserted as < 0.05 to tolerate a
//! one-off buffer growth. The signature is made here with tollgate's own
//! signer: tests/iam.rs shows botocore's signatures pass.

mod alloc_support;

use alloc_support::{per_request, start};

fn signed(method: &str, path: &str, body: &str, host: &str) -> Vec<u8> {
    use tollgate::auth::sigv4::{self, AmzDate};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = AmzDate::from_unix(now);
    let hash = sigv4::payload_hash(body.as_bytes());
    let headers = [("host", host), ("x-amz-date", date.as_str())];
    let req = sigv4::Request {
        method,
        path: path.as_bytes(),
        query: b"",
        headers: &headers,
        payload_sha256: hash.as_str(),
    };
    let key = sigv4::signing_key("s3cr3t", date.date(), "us-east-1", "execute-api");
    let mut authz = Vec::new();
    sigv4::authorization(
        &req,
        "AKIAALICE0EXAMPLE0",
        &key,
        &date,
        "us-east-1",
        "execute-api",
        &mut authz,
    )
    .unwrap();
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nX-Amz-Date: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n{body}",
        date.as_str(),
        String::from_utf8(authz).unwrap(),
        body.len()
    )
    .into_bytes();
    out.shrink_to_fit();
    out
}

#[test]
fn signed_requests_allocate_nothing() {
    let yaml = r#"
listeners: [{name: main, address: 127.0.0.1:0}]
throttling: unlimited
iam:
  access_keys:
    - id: AKIAALICE0EXAMPLE0
      secret: s3cr3t
      policy: {Statement: [{Effect: Deny, Action: "*", Resource: "*/admin"}, {Effect: Allow, Action: execute-api:Invoke, Resource: "arn:aws:execute-api:us-east-1:123456789012:bench/*"}]}
apis:
  - name: bench
    protocol: rest
    stages: [prod]
    routes:
      - {route: GET /pets, authorization: aws_iam, integration: {type: mock, body: ok}}
      - {route: POST /pets, authorization: aws_iam, integration: {type: mock, body: ok}}
"#;
    let running = start(yaml);
    let addr = running.addrs[0];
    let get = per_request(addr, &signed("GET", "/prod/pets", "", "bench"), 200);
    let post = per_request(
        addr,
        &signed(
            "POST",
            "/prod/pets",
            r#"{"name":"rex","kind":"dog"}"#,
            "bench",
        ),
        200,
    );
    println!("allocations per request: signed GET {get:.3}, signed POST {post:.3}");
    assert!(get < 0.05, "a signed GET allocates {get} times per request");
    assert!(
        post < 0.05,
        "a signed POST allocates {post} times per request"
    );
    running.stop().unwrap();
}
