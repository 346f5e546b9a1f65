//! Black-box: API Gateway's route priority, stages and parameter decoding.

mod common;

use common::*;

fn mock(body: &str) -> String {
    format!("{{type: mock, status: 200, body: \"{body}\"}}")
}

fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: shop
    protocol: http
    stages: [prod]
    routes:
      - route: GET /pets/dog
        integration: {}
      - route: GET /pets/{{id}}
        integration: {}
      - route: ANY /pets/{{id}}
        integration: {}
      - route: GET /pets/{{proxy+}}
        integration: {}
      - route: POST /files/{{proxy+}}
        integration: {{type: http_proxy, uri: "http://{backend}/store/{{proxy}}"}}
      - route: $default
        integration: {}
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - route: GET /orders
        integration: {}
"#,
        mock("exact"),
        mock("param"),
        mock("any"),
        mock("greedy"),
        mock("default"),
        mock("orders"),
    )
}

#[test]
fn most_specific_route_wins() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr));
    let a = gw.addr();
    assert_eq!(get(a, "/prod/pets/dog").text(), "exact");
    assert_eq!(get(a, "/prod/pets/7").text(), "param");
    assert_eq!(get(a, "/prod/pets/7/toys").text(), "greedy");
    assert_eq!(get(a, "/prod/unknown").text(), "default");
    // ANY matches methods without their own route on that path.
    let r = send_raw(a, b"DELETE /prod/pets/7 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "any");
}

#[test]
fn unknown_stage_and_rest_misses() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr));
    let a = gw.addr();
    assert_eq!(get(a, "/v1/orders").text(), "orders");
    let r = get(a, "/v1/missing");
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"message":"Missing Authentication Token"}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    assert!(r.header("x-amzn-RequestId").is_some());
    let r = get(a, "/nostage/pets/7");
    assert!(r.status == 404 || r.status == 403, "{}", r.status);
}

#[test]
fn greedy_parameter_reaches_backend_encoded() {
    let backend = Backend::echo();
    let gw = Gateway::start(&config(backend.addr));
    let r = send_raw(
        gw.addr(),
        b"POST /prod/files/a%20b/c%2Fd.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Decoded "a b/c/d.txt" → re-encoded as a path: the space escaped, the
    // slashes of the greedy value kept.
    assert_eq!(backend.last().target, "/store/a%20b/c/d.txt");
}
