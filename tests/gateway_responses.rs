//! Gateway responses, black-box: every type the gateway can produce today is
//! triggered once and compared with API Gateway's default (status,
//! `x-amzn-ErrorType` on REST APIs, `{"message":…}` body), on a REST and an
//! HTTP API; then an API's `gateway_responses` overrides (own type,
//! `DEFAULT_4XX` / `DEFAULT_5XX` fallbacks, templates, HEAD) and the
//! configuration checks.
//!
//! Types that need later issues (authorizers, API keys, throttling, usage
//! plans, request validation, IAM, WAF) have their defaults checked by the
//! unit tests in `pipeline::gateway_response`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Backend, Gateway, Reply, Response, get, send_raw};

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Setup {
    gw: Gateway,
    _functions: Backend,
    _slow: Backend,
}

fn setup(extra_api: &str) -> Setup {
    // Answers every Invoke with Lambda's "function not found".
    let functions = Backend::start(|_| Reply::Full {
        status: 404,
        headers: vec![(
            "X-Amzn-ErrorType".into(),
            "ResourceNotFoundException".into(),
        )],
        body: br#"{"Type":"User","message":"Function not found"}"#.to_vec(),
    });
    let slow = Backend::start(|_| Reply::Stall(Duration::from_secs(3)));
    let closed = closed_port();
    let routes = format!(
        r#"
      - route: GET /mock
        integration: {{type: mock, body: ok}}
      - route: POST /mock
        integration: {{type: mock, body: ok}}
      - route: GET /missing-function
        integration: {{type: lambda, uri: "http://{f}", function: nope}}
      - route: GET /refused
        integration: {{type: lambda, uri: "http://127.0.0.1:{closed}", function: f}}
      - route: GET /slow
        integration: {{type: http_proxy, uri: "http://{s}", timeout_ms: 200}}"#,
        f = functions.addr,
        s = slow.addr,
    );
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
limits: {{max_body_bytes: 100}}
apis:
  - name: rest
    protocol: rest
    stages: [r]
    routes:{routes}
  - name: http
    stages: [h]
    routes:{routes}
{extra_api}
domains:
  - name: api.example.com
    mappings: {{m: rest/r}}
"#
    ));
    Setup {
        gw,
        _functions: functions,
        _slow: slow,
    }
}

/// The default answer: status, REST error type, message.
fn assert_default(r: &Response, status: u16, error_type: Option<&str>, message: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("x-amzn-ErrorType"), error_type, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), format!("{{\"message\":\"{message}\"}}"));
}

fn raw(gw: &Gateway, req: &str) -> Response {
    send_raw(gw.addr(), req.as_bytes())
}

#[test]
fn every_type_the_gateway_produces_has_its_default() {
    let s = setup("");
    let gw = &s.gw;
    // RESOURCE_NOT_FOUND (HTTP APIs) / MISSING_AUTHENTICATION_TOKEN (REST).
    assert_default(&get(gw.addr(), "/h/nothing"), 404, None, "Not Found");
    assert_default(
        &get(gw.addr(), "/r/nothing"),
        403,
        Some("MissingAuthenticationTokenException"),
        "Missing Authentication Token",
    );
    // API_CONFIGURATION_ERROR: the Invoke API has no such function.
    assert_default(
        &get(gw.addr(), "/r/missing-function"),
        500,
        Some("InternalServerErrorException"),
        "Internal server error",
    );
    assert_default(
        &get(gw.addr(), "/h/missing-function"),
        500,
        None,
        "Internal Server Error",
    );
    // INTEGRATION_FAILURE: the endpoint refuses connections.
    assert_default(
        &get(gw.addr(), "/r/refused"),
        502,
        Some("InternalServerErrorException"),
        "Internal server error",
    );
    assert_default(
        &get(gw.addr(), "/h/refused"),
        500,
        None,
        "Internal Server Error",
    );
    // INTEGRATION_TIMEOUT.
    assert_default(
        &get(gw.addr(), "/r/slow"),
        504,
        Some("InternalServerErrorException"),
        "Endpoint request timed out",
    );
    assert_default(&get(gw.addr(), "/h/slow"), 503, None, "Service Unavailable");
    // REQUEST_TOO_LARGE.
    let big = "POST /r/mock HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n";
    assert_default(
        &raw(gw, big),
        413,
        Some("RequestTooLongException"),
        "Request Too Long",
    );
    // DEFAULT_4XX: an unmapped custom domain path, a malformed chunked body.
    assert_default(
        &raw(
            gw,
            "GET /other/x HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n",
        ),
        403,
        Some("ForbiddenException"),
        "Forbidden",
    );
    assert_default(
        &raw(
            gw,
            "POST /r/mock HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ),
        400,
        Some("BadRequestException"),
        "Bad Request",
    );
    // DEFAULT_5XX: a version the gateway does not speak (before routing).
    let r = raw(gw, "GET /r/mock HTTP/2.0\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 505);
    assert_eq!(r.text(), r#"{"message":"HTTP Version Not Supported"}"#);
}

const OVERRIDES: &str = r#"
  - name: custom
    protocol: rest
    stages: [c]
    gateway_responses:
      MISSING_AUTHENTICATION_TOKEN:
        status: 404
        headers: {x-reason: no-route}
        template: '{"error":$context.error.messageString,"type":"$context.error.responseType","id":"$context.requestId"}'
      DEFAULT_4XX:
        headers: {access-control-allow-origin: "*"}
      DEFAULT_5XX:
        status: 503
      INTEGRATION_TIMEOUT:
        headers: {content-type: text/plain}
        template: 'timed out: $context.error.message'
    routes:
      - route: POST /mock
        integration: {type: mock, body: ok}
      - route: GET /refused
        integration: {type: lambda, uri: "http://127.0.0.1:1", function: f}
      - route: GET /slow
        integration: {type: http_proxy, uri: "http://SLOW", timeout_ms: 200}
"#;

#[test]
fn api_overrides_replace_status_headers_and_template() {
    let slow = Backend::start(|_| Reply::Stall(Duration::from_secs(3)));
    let s = setup(&OVERRIDES.replace("SLOW", &slow.addr.to_string()));
    let gw = &s.gw;

    // The type's own override: status, header, template with variables.
    let r = get(gw.addr(), "/c/nothing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-reason"), Some("no-route"));
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    // Its own override wins over DEFAULT_4XX (no CORS header).
    assert_eq!(r.header("access-control-allow-origin"), None);
    let id = r.header("x-amzn-RequestId").unwrap().to_owned();
    assert_eq!(
        r.text(),
        format!(
            r#"{{"error":"Missing Authentication Token","type":"MISSING_AUTHENTICATION_TOKEN","id":"{id}"}}"#
        )
    );
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    let get_len = r.body.len();

    // HEAD: the same length, no body.
    let r = raw(
        gw,
        "HEAD /c/nothing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    assert!(r.body.is_empty());
    let len: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(len, get_len, "request ids are all 36 characters");

    // No own override: DEFAULT_4XX's headers, the type's own status and body.
    let r = raw(
        gw,
        "POST /c/mock HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.text(), r#"{"message":"Request Too Long"}"#);

    // DEFAULT_5XX's status for a 5xx type without its own override.
    let r = get(gw.addr(), "/c/refused");
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), r#"{"message":"Internal server error"}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("InternalServerErrorException")
    );

    // An own override with a text template and its own content type.
    let r = get(gw.addr(), "/c/slow");
    assert_eq!(r.status, 504);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "timed out: Endpoint request timed out");

    // Other APIs keep the defaults.
    assert_eq!(get(gw.addr(), "/r/nothing").status, 403);
}

#[test]
fn the_config_checks_gateway_responses() {
    let check = |responses: &str| -> String {
        let path = common::temp_path("yaml");
        std::fs::write(
            &path,
            format!(
                "listeners: [{{name: main, address: 127.0.0.1:0}}]\napis:\n  - name: a\n    stages: [s]\n    gateway_responses:\n{responses}    routes:\n      - route: GET /x\n        integration: {{type: mock}}\n"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["validate", path.to_str().unwrap()])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = check("      NOT_A_TYPE: {status: 400}\n");
    assert!(
        out.contains("`NOT_A_TYPE` is not a gateway response type"),
        "{out}"
    );
    let out = check("      THROTTLED: {status: 99}\n");
    assert!(
        out.contains("`status` must be between 200 and 599"),
        "{out}"
    );
    let out = check("      THROTTLED: {headers: {content-length: '5'}}\n");
    assert!(out.contains("is set by the gateway itself"), "{out}");
    let out = check("      THROTTLED: {template: 'x $context.identity.sourceIp'}\n");
    assert!(
        out.contains("is not a variable gateway response templates support"),
        "{out}"
    );
    let out = check("      THROTTLED: {status: 503, headers: {retry-after: '1'}}\n");
    assert!(!out.contains(":6:"), "{out}");
}
