//! Black-box: stages, stage variables, canaries, custom domains and the
//! deployment header, against the built binary with real backends.

mod common;

use std::io::Write;
use std::net::SocketAddr;

use common::{Backend, Gateway, connect, get, read_response, send_raw};

/// A keep-alive client: `n` GETs of `path` with extra header lines, the
/// response bodies in order.
fn bodies(addr: SocketAddr, path: &str, extra: &str, n: usize) -> Vec<String> {
    let mut s = connect(addr);
    let mut buf = Vec::new();
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n");
    (0..n)
        .map(|_| {
            s.write_all(req.as_bytes()).unwrap();
            let r = read_response(&mut s, &mut buf, false).expect("a response");
            assert_eq!(r.status, 200, "{}", r.text());
            r.text()
        })
        .collect()
}

fn with_host(addr: SocketAddr, host: &str, path: &str) -> common::Response {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

#[test]
fn stage_variables_name_the_upstream_and_the_path() {
    let blue = Backend::echo();
    let green = Backend::echo();
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
upstreams:
  blue: {{targets: ["{blue}"]}}
apis:
  - name: shop
    stages:
      - name: prod
        variables: {{up: blue, v: v1}}
      - name: beta
        variables: {{up: "{green}", v: v2}}
    routes:
      - route: GET /items/{{id}}
        integration:
          type: http_proxy
          uri: http://${{stageVariables.up}}/${{stageVariables.v}}/items/{{id}}?stage=${{stageVariables.v}}
"#,
        blue = blue.addr,
        green = green.addr,
    ));
    let r = get(gw.addr(), "/prod/items/7?x=1");
    assert_eq!(r.status, 200, "{}", r.text());
    let got = blue.last();
    assert_eq!(got.target, "/v1/items/7?stage=v1&x=1");
    assert_eq!(got.header("host"), Some("blue"));
    let r = get(gw.addr(), "/beta/items/8");
    assert_eq!(r.status, 200, "{}", r.text());
    let got = green.last();
    assert_eq!(got.target, "/v2/items/8?stage=v2");
    assert_eq!(got.header("host"), Some(green.addr.to_string().as_str()));
    assert_eq!(blue.requests.load(std::sync::atomic::Ordering::Relaxed), 1);
}

const CANARY: &str = r#"
listeners: [{name: main, address: 127.0.0.1:0}]
# 10,000 requests at once: past the account default's burst (5,000).
throttling: unlimited
apis:
  - name: shop
    stages:
      - name: prod
        variables: {who: prod}
        canary: {percent: 10, deployment: next}
      - name: sticky
        variables: {who: sticky}
        canary: {percent: 50, deployment: next, sticky: {header: x-user}}
      - name: cookie
        variables: {who: cookie}
        canary: {percent: 50, deployment: next, sticky: {cookie: user}}
      - name: vars
        variables: {who: stage}
        deployment_header: true
        canary: {percent: 50, deployment: next, stage_variables: {who: canary}}
    routes:
      - {route: GET /which, integration: {type: mock, body: current}}
      - {route: GET /who, integration: {type: mock, body: 'current ${stageVariables.who}'}}
    deployments:
      next:
        routes:
          - {route: GET /which, integration: {type: mock, body: next}}
          - {route: GET /who, integration: {type: mock, body: 'next ${stageVariables.who}'}}
"#;

#[test]
fn canary_takes_its_share_of_requests() {
    let gw = Gateway::start(CANARY);
    let addr = gw.addr();
    let threads: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || bodies(addr, "/prod/which", "", 2_500)))
        .collect();
    let mut next = 0;
    let mut total = 0;
    for t in threads {
        for b in t.join().unwrap() {
            assert!(b == "current" || b == "next", "{b}");
            next += usize::from(b == "next");
            total += 1;
        }
    }
    let share = next as f64 * 100.0 / total as f64;
    println!("canary share: {share:.2}% of {total}");
    assert!((8.0..=12.0).contains(&share), "canary got {share:.2}%");
}

#[test]
fn sticky_canary_keeps_each_client_on_one_side() {
    let gw = Gateway::start(CANARY);
    let mut sides = Vec::new();
    for user in 0..24 {
        let by_header = bodies(
            gw.addr(),
            "/sticky/which",
            &format!("X-User: u{user}\r\n"),
            10,
        );
        assert!(
            by_header.iter().all(|b| *b == by_header[0]),
            "u{user}: {by_header:?}"
        );
        let by_cookie = bodies(
            gw.addr(),
            "/cookie/which",
            &format!("Cookie: theme=dark; user=u{user}\r\n"),
            10,
        );
        assert!(
            by_cookie.iter().all(|b| *b == by_cookie[0]),
            "u{user}: {by_cookie:?}"
        );
        sides.push(by_header[0].clone());
        sides.push(by_cookie[0].clone());
    }
    // Both sides get clients (50%: all on one side would be 2^-47).
    assert!(sides.contains(&"next".to_owned()) && sides.contains(&"current".to_owned()));
    // Without the header, each request rolls for itself.
    let mixed = bodies(gw.addr(), "/sticky/which", "", 64);
    assert!(mixed.contains(&"next".to_owned()) && mixed.contains(&"current".to_owned()));
}

#[test]
fn the_deployment_header_names_who_served() {
    let backend = Backend::echo();
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages:
      - prod
      - name: named
        deployment_header: true
    routes:
      - {{route: GET /mock, integration: {{type: mock, body: m}}}}
      - {{route: GET /proxy, integration: {{type: http_proxy, uri: "http://{}/p"}}}}
"#,
        backend.addr
    ));
    for path in ["/named/mock", "/named/proxy", "/named/missing"] {
        let r = get(gw.addr(), path);
        assert_eq!(r.header("x-tollgate-deployment"), Some("current"), "{path}");
    }
    assert_eq!(get(gw.addr(), "/named/missing").status, 404);
    for path in ["/prod/mock", "/prod/proxy", "/nostage"] {
        assert_eq!(
            get(gw.addr(), path).header("x-tollgate-deployment"),
            None,
            "{path}"
        );
    }
    // With a canary, the header and the variables follow the side chosen.
    let gw = Gateway::start(CANARY);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..64 {
        let r = get(gw.addr(), "/vars/who");
        let d = r.header("x-tollgate-deployment").unwrap().to_owned();
        let want = if d == "next" {
            "next canary"
        } else {
            "current stage"
        };
        assert_eq!(r.text(), want);
        seen.insert(d);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn custom_domains_map_base_paths() {
    let gw = Gateway::start(
        r#"
listeners: [{name: main, address: 127.0.0.1:0}]
apis:
  - name: shop
    stages: [prod, v2]
    routes:
      - {route: 'GET /pets/{id}', integration: {type: mock, body: shop}}
  - name: orders
    protocol: rest
    stages: [live]
    routes:
      - {route: GET /orders, integration: {type: mock, body: orders}}
domains:
  - name: api.example.com
    mappings: {"": shop/prod, v2: shop/v2}
  - name: "*.example.com"
    mappings: {orders: orders/live}
"#,
    );
    let a = gw.addr();
    // Exact name, "" mapping: no base path, no stage prefix.
    let r = with_host(a, "api.example.com", "/pets/7");
    assert_eq!((r.status, r.text().as_str()), (200, "shop"));
    // Base path stripped before route matching; Host case and port ignored.
    let r = with_host(a, "API.example.com:8080", "/v2/pets/7");
    assert_eq!((r.status, r.text().as_str()), (200, "shop"));
    // Wildcard: any one label.
    let r = with_host(a, "eu.example.com", "/orders/orders");
    assert_eq!((r.status, r.text().as_str()), (200, "orders"));
    // A base path the domain does not map: API Gateway's 403.
    let r = with_host(a, "eu.example.com", "/pets/7");
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"message":"Forbidden"}"#);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("ForbiddenException"));
    assert!(
        r.header("x-amzn-RequestId").is_some(),
        "REST shape: orders is REST"
    );
    // The stage prefix means nothing on a custom domain.
    let r = with_host(a, "api.example.com", "/prod/pets/7");
    assert_eq!(r.status, 404);
    // Any other host: stage prefixes, as without domains.
    let r = with_host(a, "localhost", "/prod/pets/7");
    assert_eq!((r.status, r.text().as_str()), (200, "shop"));
    let r = with_host(a, "a.b.example.com", "/live/orders");
    assert_eq!((r.status, r.text().as_str()), (200, "orders"));
    let r = with_host(a, "other.test", "/pets/7");
    assert_eq!(r.status, 404);
}

#[test]
fn the_access_log_names_the_deployment_that_served() {
    let log = std::env::temp_dir().join(format!(
        "tollgate-stages-{}-deployment.log",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&log);
    let config = CANARY.replacen(
        "        deployment_header: true\n",
        &format!(
            "        deployment_header: true\n        access_log: {{destination: {}, format: '$context.requestId $context.deploymentId'}}\n",
            log.display()
        ),
        1,
    );
    let gw = Gateway::start(&config);
    let mut served = std::collections::HashMap::new();
    for _ in 0..64 {
        let r = get(gw.addr(), "/vars/who");
        let id = r.header("apigw-requestid").unwrap().to_owned();
        served.insert(id, r.header("x-tollgate-deployment").unwrap().to_owned());
    }
    // Lines reach the file within the writers' flush interval (100 ms).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= served.len() || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = std::fs::remove_file(&log);
    let mut sides = std::collections::HashSet::new();
    for line in text.lines() {
        let (id, deployment) = line.split_once(' ').unwrap();
        assert_eq!(Some(&deployment.to_owned()), served.get(id), "{line}");
        sides.insert(deployment.to_owned());
    }
    assert_eq!(text.lines().count(), served.len());
    assert_eq!(sides.len(), 2, "both sides logged: {sides:?}");
}
