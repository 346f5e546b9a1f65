//! Loader tests: the shipped configurations load into the model they
//! describe; each class of mistake is reported at its line and column
//! (the fixtures in `tests/fixtures/bad/` list what they expect in
//! `# expect: LINE:COLUMN text` comments); all errors are reported at once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn errors(file: &str, text: &str) -> Vec<ConfigError> {
    match load_str(file, text) {
        Ok(_) => panic!("{file} loaded, expected errors"),
        Err(e) => e,
    }
}

/// `(line, column, message)` of each error, for readable assertions.
fn located(errs: &[ConfigError]) -> Vec<(u64, u64, &str)> {
    errs.iter()
        .map(|e| (e.line, e.column, e.message.as_str()))
        .collect()
}

fn assert_one(errs: &[ConfigError], line: u64, column: u64, text: &str) {
    assert_eq!(errs.len(), 1, "{:#?}", located(errs));
    let e = &errs[0];
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains(text), "{e}");
}

/// The routes an API's first stage runs.
fn routes(api: &Api) -> &[Route] {
    &api.deployments[api.stages[0].deployment].routes
}

fn stage_names(api: &Api) -> Vec<&str> {
    api.stages.iter().map(|s| s.name.as_str()).collect()
}

const MINIMAL: &str = "listeners: [{name: main, address: 127.0.0.1:0}]\n";

#[test]
fn example_config_loads() {
    let gw = load(&root().join("config/gateway.yaml")).unwrap();
    assert_eq!(gw.listeners.len(), 1);
    assert_eq!(gw.listeners[0].address.to_string(), "127.0.0.1:8080");
    assert_eq!(gw.limits.max_body_bytes, 10_485_760);
    assert_eq!(gw.upstreams.len(), 1);
    assert_eq!(gw.upstreams[0].name, "backend");
    assert_eq!(gw.upstreams[0].targets[0].to_string(), "127.0.0.1:9000");
    assert_eq!(gw.apis.len(), 2);
    let pets = &gw.apis[0];
    assert_eq!(pets.protocol, Protocol::Http);
    assert_eq!(stage_names(pets), ["prod", "beta"]);
    assert_eq!(pets.listeners, [0]);
    let keys: Vec<String> = routes(pets).iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        keys,
        [
            "GET /pets/{id}",
            "GET /pets",
            "GET /hello",
            "ANY /files/{proxy+}",
            "$default"
        ]
    );
    let Integration::Mock(m) = &routes(pets)[0].integration else {
        panic!()
    };
    assert_eq!(m.status, 200);
    assert_eq!(
        m.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    assert!(m.body.starts_with(b"{\"id\":\"7\""));
    let Integration::HttpProxy(files) = &routes(pets)[3].integration else {
        panic!()
    };
    assert_eq!(files.upstream, 0);
    assert_eq!(files.host_header, "backend");
    assert_eq!(
        files.path,
        Some(Template {
            parts: vec![
                TemplatePart::Literal("/files/".into()),
                TemplatePart::Param("proxy".into())
            ]
        })
    );
    let Integration::HttpProxy(dflt) = &routes(pets)[4].integration else {
        panic!()
    };
    assert_eq!(dflt.path, None);
    // prod and beta run `current` with their own greeting; beta's canary
    // runs `next` with the canary's.
    let [prod, beta] = &pets.stages[..] else {
        panic!("{:?}", pets.stages)
    };
    let hello = |d: usize| {
        let Integration::Mock(m) = &pets.deployments[d].routes[2].integration else {
            panic!()
        };
        String::from_utf8(m.body.clone()).unwrap()
    };
    assert_eq!(hello(prod.deployment), "hello from prod\n");
    assert_eq!(hello(beta.deployment), "hello from beta\n");
    assert!(!prod.deployment_header && beta.deployment_header);
    let canary = beta.canary.as_ref().unwrap();
    assert_eq!(canary.percent, 10.0);
    assert_eq!(canary.sticky, Some(Sticky::Header("x-canary".into())));
    let next = &pets.deployments[canary.deployment];
    assert_eq!(next.name, "next");
    let Integration::Mock(m) = &next.routes[1].integration else {
        panic!()
    };
    assert_eq!(m.body, b"hello from the canary\n");
    assert_eq!(
        canary.variables,
        [
            ("backend".to_owned(), "backend".to_owned()),
            ("greeting".to_owned(), "hello from the canary".to_owned())
        ]
    );
    assert_eq!(gw.apis[1].protocol, Protocol::Rest);
    assert_eq!(stage_names(&gw.apis[1]), ["v1"]);
    let names: Vec<&str> = gw.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["api.example.com", "*.pets.example.com"]);
    assert_eq!(
        gw.domains[0].mappings[1],
        BasePathMapping {
            base_path: "beta".into(),
            api: 0,
            stage: 1
        }
    );
}

#[test]
fn bench_config_loads() {
    let gw = load(&root().join("bench/gateway.yaml")).unwrap();
    assert_eq!(gw.listeners[0].address.to_string(), "127.0.0.1:8090");
    let api = &gw.apis[0];
    assert_eq!(stage_names(api), ["$default"]);
    let Integration::Mock(m) = &routes(api)[0].integration else {
        panic!()
    };
    assert_eq!((m.status, m.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(
        m.headers,
        [("content-type".to_owned(), "text/plain".to_owned())]
    );
    assert_eq!(routes(api)[1].key, RouteKey::Default);
    let Integration::HttpProxy(p) = &routes(api)[1].integration else {
        panic!()
    };
    // A literal host:port adds an implicit upstream named after it.
    assert_eq!(gw.upstreams[p.upstream].name, "127.0.0.1:9000");
    assert_eq!(p.host_header, "127.0.0.1:9000");
    assert_eq!(
        (p.timeout, p.pass_host, &p.path),
        (Duration::from_secs(29), false, &None)
    );
}

#[test]
fn defaults_fill_in() {
    let gw = load_str(
        "t.yaml",
        "listeners: [{name: a, address: 127.0.0.1:0}, {name: b, address: 127.0.0.1:0}]\n\
         upstreams: {u: {targets: [localhost:9000]}}\n\
         apis: [{name: x, stages: [$default]}]\n",
    )
    .unwrap();
    let l = gw.limits;
    assert_eq!((l.max_header_bytes, l.max_headers), (16384, 100));
    assert_eq!(l.header_read_timeout, Duration::from_secs(10));
    assert_eq!(l.keepalive_timeout, Duration::from_secs(60));
    assert_eq!(l.drain_timeout, Duration::from_secs(30));
    let u = &gw.upstreams[0];
    assert_eq!((u.balance, u.pool_size), (Balance::RoundRobin, 64));
    assert_eq!(
        (u.connect_timeout, u.idle_timeout),
        (Duration::from_secs(2), Duration::from_secs(60))
    );
    assert!(u.targets[0].ip().is_loopback() && u.targets[0].port() == 9000);
    assert_eq!(gw.apis[0].protocol, Protocol::Http);
    assert_eq!(gw.apis[0].listeners, [0, 1], "all listeners by default");
}

#[test]
fn route_keys_resolve() {
    let gw = load_str(
        "t.yaml",
        &format!(
            "{MINIMAL}apis: [{{name: x, stages: [s], routes: [\
             {{route: GET /, integration: {{type: mock}}}},\
             {{route: HEAD /a, integration: {{type: mock}}}},\
             {{route: ANY /a, integration: {{type: mock}}}},\
             {{route: PURGE /a, integration: {{type: mock}}}},\
             {{route: TRACE /a, integration: {{type: mock}}}},\
             {{route: '$default', integration: {{type: mock}}}}]}}]\n"
        ),
    )
    .unwrap();
    let keys: Vec<&RouteKey> = routes(&gw.apis[0]).iter().map(|r| &r.key).collect();
    let path = |m: Option<Method>, name: &str, p: &str| RouteKey::Path {
        method: m,
        method_name: name.into(),
        path: p.into(),
    };
    assert_eq!(
        keys,
        [
            &path(Some(Method::Get), "GET", "/"),
            &path(Some(Method::Head), "HEAD", "/a"),
            &path(None, "ANY", "/a"),
            &path(Some(Method::Other), "PURGE", "/a"),
            &path(Some(Method::Trace), "TRACE", "/a"),
            &RouteKey::Default,
        ]
    );
}

#[test]
fn uri_templates_and_implicit_upstreams() {
    let gw = load_str(
        "t.yaml",
        &format!(
            "{MINIMAL}apis: [{{name: x, stages: [s], routes: [\
             {{route: 'GET /u/{{id}}/f/{{rest+}}', integration: {{type: http_proxy, \
               uri: 'http://127.0.0.1:9000/users/{{id}}/files/{{rest}}?v={{id}}', pass_host: true, timeout_ms: 50}}}},\
             {{route: GET /q, integration: {{type: http_proxy, uri: 'http://127.0.0.1:9000?a=b'}}}},\
             {{route: GET /r, integration: {{type: http_proxy, uri: 'http://127.0.0.1:9000/'}}}}]}}]\n"
        ),
    )
    .unwrap();
    assert_eq!(gw.upstreams.len(), 1, "one implicit upstream, shared");
    let Integration::HttpProxy(p) = &routes(&gw.apis[0])[0].integration else {
        panic!()
    };
    let lit = |s: &str| TemplatePart::Literal(s.into());
    let param = |s: &str| TemplatePart::Param(s.into());
    assert_eq!(
        p.path.as_ref().unwrap().parts,
        [
            lit("/users/"),
            param("id"),
            lit("/files/"),
            param("rest"),
            lit("?v="),
            param("id")
        ]
    );
    assert!(p.pass_host);
    assert_eq!(p.timeout, Duration::from_millis(50));
    let Integration::HttpProxy(q) = &routes(&gw.apis[0])[1].integration else {
        panic!()
    };
    assert_eq!(q.path.as_ref().unwrap().parts, [lit("/?a=b")]);
    let Integration::HttpProxy(r) = &routes(&gw.apis[0])[2].integration else {
        panic!()
    };
    assert_eq!(r.path, None);
}

#[test]
fn json_config_loads() {
    let text = r#"{
  "listeners": [{"name": "main", "address": "127.0.0.1:0"}],
  "apis": [{"name": "x", "protocol": "rest", "stages": ["v1"], "routes": [
    {"route": "GET /a/{id}", "integration": {"type": "mock", "status": 201, "body": "{\"a\": \"\u00e9\"}"}}
  ]}]
}"#;
    let gw = load_str("gw.json", text).unwrap();
    let Integration::Mock(m) = &routes(&gw.apis[0])[0].integration else {
        panic!()
    };
    assert_eq!(m.status, 201);
    assert_eq!(String::from_utf8_lossy(&m.body), "{\"a\": \"\u{e9}\"}");
}

#[test]
fn json_errors_are_located() {
    // Semantic errors in JSON are located like YAML's.
    let text = "{\n  \"listeners\": [{\"name\": \"main\", \"address\": \"127.0.0.1:0\"}],\n  \
                \"apis\": [{\"name\": \"x\", \"stages\": [\"bad stage\"]}]\n}\n";
    assert_one(&errors("gw.json", text), 3, 37, "stage name `bad stage`");
    // Unknown fields too.
    let text = "{\"listeners\": [],\n \"bogus\": 1}";
    assert_one(&errors("gw.json", text), 2, 2, "unknown field `bogus`");
    // Strict JSON: a trailing comma (fine in YAML flow style) is refused.
    let text = "{\n  \"listeners\": [{\"name\": \"main\", \"address\": \"127.0.0.1:0\"},],\n  \"apis\": []\n}\n";
    assert_one(&errors("gw.json", text), 2, 60, "invalid JSON");
}

#[test]
fn many_errors_are_all_reported_in_order() {
    let text = format!(
        "{MINIMAL}apis:\n  - name: x\n    stages: [$default, 'a b']\n    listeners: [main, other]\n    routes:\n      \
         - {{route: GET /p/, integration: {{type: mock, status: 1000}}}}\n      \
         - {{route: GET /q, integration: {{type: http_proxy, uri: http://nope}}}}\n"
    );
    let errs = errors("t.yaml", &text);
    let lines: Vec<u64> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, [4, 5, 7, 7, 8], "{:#?}", located(&errs));
    assert!(errs[4].message.contains("unknown upstream `nope`"));
    assert_eq!(
        errs[0].to_string(),
        format!("t.yaml:4:24: {}", errs[0].message)
    );
}

#[test]
fn unreadable_file_is_one_error() {
    let errs = load(Path::new("/nonexistent/gw.yaml")).unwrap_err();
    assert_one(&errs, 0, 0, "cannot read");
    assert_eq!(errs[0].file, "/nonexistent/gw.yaml");
}

#[test]
fn header_injection_in_mock_headers_is_refused() {
    let text = format!(
        "{MINIMAL}apis: [{{name: x, stages: [s], routes: [{{route: GET /, integration: \
         {{type: mock, headers: {{'bad name': 'x', ok: \"a\\r\\nb\"}}}}}}]}}]\n"
    );
    let errs = errors("t.yaml", &text);
    assert_eq!(errs.len(), 2, "{:#?}", located(&errs));
    assert!(errs[0].message.contains("not a valid header name"));
    assert!(errs[1].message.contains("control characters"));
}

/// Every fixture in `tests/fixtures/bad/` fails with exactly the errors its
/// `# expect: LINE:COLUMN text` comments list.
#[test]
fn bad_fixtures_report_expected_errors() {
    let dir = root().join("tests/fixtures/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "fixtures missing in {}", dir.display());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let want: Vec<(u64, u64, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let (pos, msg) = l.split_once(' ').unwrap_or((l, ""));
                let (line, col) = pos.split_once(':').unwrap();
                (line.parse().unwrap(), col.parse().unwrap(), msg.trim())
            })
            .collect();
        let errs = load(&path).expect_err(&path.display().to_string());
        let got = located(&errs);
        assert_eq!(got.len(), want.len(), "{}: {got:#?}", path.display());
        for ((gl, gc, gm), (wl, wc, wm)) in got.iter().zip(&want) {
            assert!(
                (gl, gc) == (wl, wc) && gm.contains(wm),
                "{}: want {wl}:{wc} {wm:?}, got {gl}:{gc} {gm:?}\nall: {got:#?}",
                path.display()
            );
        }
        assert!(errs.iter().all(|e| e.file == path.display().to_string()));
    }
}
