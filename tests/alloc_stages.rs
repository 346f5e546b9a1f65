//! Allocations per request on a keep-alive connection, counted by a global
//! allocator, through custom domains, base paths, stage variables and
//! canaries (by request id, sticky header, sticky cookie), with the
//! deployment header (the same harness as `alloc.rs`, in its own process so
//! that no other test allocates meanwhile). The gateway runs
//! in-process (one worker); the client and the backend use fixed buffers
//! and allocate nothing per request, so the count is the gateway's.
//!
//! Bound: 0 per request (< 0.05, as in `alloc.rs`).

mod alloc_support;

use alloc_support::{backend, per_request, start};

#[test]
fn allocations_per_request_through_domains_and_canaries() {
    let upstream = backend();
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
throttling: unlimited
apis:
  - name: shop
    protocol: http
    stages:
      - name: prod
        variables: {{up: "{upstream}"}}
        deployment_header: true
        canary: {{percent: 50, deployment: next}}
      - name: sticky
        variables: {{up: "{upstream}"}}
        canary: {{percent: 50, deployment: next, sticky: {{header: x-user}}}}
      - name: cookie
        variables: {{up: "{upstream}"}}
        canary: {{percent: 50, deployment: next, sticky: {{cookie: user}}}}
    routes:
      - route: GET /mock
        integration: {{type: mock, status: 200, headers: {{content-type: text/plain}}, body: ok}}
      - route: $default
        integration: {{type: http_proxy, uri: "http://${{stageVariables.up}}"}}
    deployments:
      next:
        routes:
          - route: GET /mock
            integration: {{type: mock, status: 200, body: next}}
          - route: $default
            integration: {{type: http_proxy, uri: "http://${{stageVariables.up}}/next"}}
domains:
  - name: api.example.com
    mappings: {{"": shop/prod, s: shop/sticky}}
"#
    );
    let running = start(&yaml);
    let addr = running.addrs[0];
    let cases: [(&str, &[u8]); 5] = [
        (
            "stage prefix, canary by request id, mock",
            b"GET /prod/mock HTTP/1.1\r\nHost: bench\r\n\r\n",
        ),
        (
            "custom domain, canary by request id, proxy",
            b"GET /p?q=1 HTTP/1.1\r\nHost: API.example.com:80\r\n\r\n",
        ),
        (
            "base path, sticky header, mock",
            b"GET /s/mock HTTP/1.1\r\nHost: api.example.com\r\nX-User: u7\r\n\r\n",
        ),
        (
            "sticky cookie, proxy",
            b"GET /cookie/p HTTP/1.1\r\nHost: b\r\nCookie: a=1; user=u9\r\n\r\n",
        ),
        (
            "unknown host, stage prefix, no canary header",
            b"GET /sticky/mock HTTP/1.1\r\nHost: other\r\n\r\n",
        ),
    ];
    for (what, req) in cases {
        let n = per_request(addr, req, 200);
        println!("allocations per request, {what}: {n:.3}");
        assert!(n < 0.05, "{what}: {n} allocations per request");
    }
    running.stop().unwrap();
}
