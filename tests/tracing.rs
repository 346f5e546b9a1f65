//! Trace context through the built binary: W3C `traceparent` and
//! `X-Amzn-Trace-Id` accepted from clients and propagated to the backend
//! (same trace, the gateway's own span), created when absent or malformed,
//! each derived from the other when only one arrives, and returned by REST
//! APIs as API Gateway does (`X-Amzn-Trace-Id`, not for HTTP_PROXY).

mod common;

use common::{Backend, Gateway, send_raw};

fn gateway(backend: std::net::SocketAddr) -> Gateway {
    Gateway::start(&format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: rest
    protocol: rest
    stages: [r]
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /up
        integration: {{type: http_proxy, uri: "http://{backend}/up"}}
  - name: http
    protocol: http
    stages: [h]
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, body: ok}}
      - route: GET /up
        integration: {{type: http_proxy, uri: "http://{backend}/up"}}
"#
    ))
}

fn get(gw: &Gateway, path: &str, headers: &str) -> common::Response {
    send_raw(
        gw.addr(),
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n").as_bytes(),
    )
}

/// (trace id, parent id, flags) of a valid traceparent.
fn tp(v: &str) -> (String, String, String) {
    let p: Vec<&str> = v.split('-').collect();
    assert_eq!(p.len(), 4, "{v}");
    assert_eq!(p[0], "00");
    assert_eq!((p[1].len(), p[2].len(), p[3].len()), (32, 16, 2), "{v}");
    assert!(
        v.bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    (p[1].into(), p[2].into(), p[3].into())
}

/// The fields of an X-Amzn-Trace-Id.
fn amzn(v: &str) -> Vec<(String, String)> {
    v.split(';')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap();
            (k.into(), v.into())
        })
        .collect()
}

fn field<'a>(f: &'a [(String, String)], k: &str) -> Option<&'a str> {
    f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn client_traceparent_keeps_its_trace_with_the_gateways_span() {
    let backend = Backend::echo();
    let gw = gateway(backend.addr);
    for stage in ["r", "h"] {
        let r = get(
            &gw,
            &format!("/{stage}/up"),
            "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: congo=t61rcWkgMzE\r\n",
        );
        assert_eq!(r.status, 200);
        let got = backend.last();
        assert_eq!(got.header_count("traceparent"), 1);
        let (trace, span, flags) = tp(got.header("traceparent").unwrap());
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(span, "00f067aa0ba902b7", "the gateway's own span");
        assert_eq!(flags, "01");
        // tracestate passes through untouched.
        assert_eq!(got.header("tracestate"), Some("congo=t61rcWkgMzE"));
        // The X-Ray form of the same trace, with the same span as parent.
        let x = amzn(got.header("x-amzn-trace-id").unwrap());
        assert_eq!(
            field(&x, "Root"),
            Some("1-4bf92f35-77b34da6a3ce929d0e0e4736")
        );
        assert_eq!(field(&x, "Parent"), Some(span.as_str()));
        // HTTP_PROXY: no trace header back to the client.
        assert!(r.header("x-amzn-trace-id").is_none());
    }
}

#[test]
fn client_xray_header_is_propagated_and_mapped_to_w3c() {
    let backend = Backend::echo();
    let gw = gateway(backend.addr);
    let r = get(
        &gw,
        "/r/up",
        "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1\r\n",
    );
    assert_eq!(r.status, 200);
    let got = backend.last();
    assert_eq!(got.header_count("x-amzn-trace-id"), 1);
    let x = amzn(got.header("x-amzn-trace-id").unwrap());
    assert_eq!(
        field(&x, "Root"),
        Some("1-5759e988-bd862e3fe1be46a994272793")
    );
    assert_eq!(field(&x, "Sampled"), Some("1"));
    assert_eq!(field(&x, "Lineage"), Some("a87bd80c:1"));
    let (trace, span, flags) = tp(got.header("traceparent").unwrap());
    assert_eq!(trace, "5759e988bd862e3fe1be46a994272793");
    assert_eq!(field(&x, "Parent"), Some(span.as_str()));
    assert_ne!(span, "53995c3f42cd8ad8");
    assert_eq!(flags, "01", "Sampled=1");
}

#[test]
fn absent_or_malformed_headers_are_created() {
    let backend = Backend::echo();
    let gw = gateway(backend.addr);
    let mut traces = Vec::new();
    for headers in [
        "",
        "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\nX-Amzn-Trace-Id: Root=garbage\r\n",
    ] {
        assert_eq!(get(&gw, "/h/up", headers).status, 200);
        let got = backend.last();
        let (trace, span, flags) = tp(got.header("traceparent").unwrap());
        assert_eq!(flags, "00", "created traces are not sampled");
        let x = amzn(got.header("x-amzn-trace-id").unwrap());
        let root = field(&x, "Root").unwrap();
        assert_eq!(root, format!("1-{}-{}", &trace[..8], &trace[8..]));
        assert_eq!(field(&x, "Parent"), Some(span.as_str()));
        // The first 8 hex digits are the time, as X-Ray wants.
        let secs = u64::from_str_radix(&trace[..8], 16).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs.abs_diff(now) < 60, "{secs} vs {now}");
        assert!(!got.header("x-amzn-trace-id").unwrap().contains("garbage"));
        traces.push(trace);
    }
    assert_ne!(traces[0], traces[1]);
}

#[test]
fn rest_apis_return_the_trace_for_gateway_answers() {
    let backend = Backend::echo();
    let gw = gateway(backend.addr);
    let r = get(
        &gw,
        "/r/mock",
        "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-amzn-trace-id"),
        Some("Root=1-5759e988-bd862e3fe1be46a994272793")
    );
    let id = r.header("x-amz-apigw-id").expect("x-amz-apigw-id");
    assert_eq!(id.len(), 16);
    // Errors too (no route: 403 Missing Authentication Token).
    let r = get(&gw, "/r/none", "");
    assert_eq!(r.status, 403);
    let root = r.header("x-amzn-trace-id").expect("a created trace");
    assert!(root.starts_with("Root=1-") && root.len() == 40, "{root}");
    // HTTP APIs send neither.
    let r = get(&gw, "/h/mock", "");
    assert!(r.header("x-amzn-trace-id").is_none());
    assert!(r.header("x-amz-apigw-id").is_none());
}
