//! Router tests: stage selection, the priority table, `ANY` and method
//! fall-through, decoded parameters. Gateways are written as YAML and loaded
//! by `config`, as users write them.

use super::*;
use crate::config::{self, Gateway, RouteKey};

pub(super) fn gateway(yaml: &str) -> Gateway {
    config::load_str("t.yaml", yaml).unwrap_or_else(|e| panic!("{e:#?}"))
}

pub(super) fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        "CONNECT" => Method::Connect,
        "TRACE" => Method::Trace,
        _ => Method::Other,
    }
}

pub(super) struct Fixture {
    pub(super) gw: Gateway,
    pub(super) table: Table,
    pub(super) params: Params,
}

impl Fixture {
    pub(super) fn new(yaml: &str) -> Fixture {
        Fixture::on(yaml, 0)
    }
    pub(super) fn on(yaml: &str, listener: usize) -> Fixture {
        let gw = gateway(yaml);
        let table = Table::build(&gw, listener);
        Fixture {
            gw,
            table,
            params: Params::default(),
        }
    }

    /// Select and route as the pipeline does, in the stage's own deployment.
    pub(super) fn lookup(
        &mut self,
        host: Option<&str>,
        m: &str,
        path: &str,
    ) -> Result<Matched, String> {
        match self.table.select(host.map(str::as_bytes), path.as_bytes()) {
            Selected::NotFound(p) => Err(format!("NotFound({p:?})")),
            Selected::Forbidden(p) => Err(format!("Forbidden({p:?})")),
            Selected::Stage(sm) => {
                let d = self.gw.apis[sm.api].stages[sm.stage].deployment;
                let (name, path) = (m.as_bytes(), path.as_bytes());
                match self
                    .table
                    .route(sm, d, method(m), name, path, &mut self.params)
                {
                    Lookup::Found(hit) => Ok(hit),
                    Lookup::NotFound(p) => Err(format!("NotFound({p:?})")),
                }
            }
        }
    }

    /// `"<api>/<stage> <route key> name=value …"`.
    pub(super) fn describe(&self, hit: Matched) -> String {
        let api = &self.gw.apis[hit.api];
        let routes = &api.deployments[hit.deployment].routes;
        let mut out = format!(
            "{}/{} {}",
            api.name, api.stages[hit.stage].name, routes[hit.route].key
        );
        for (n, v) in self.params.iter() {
            out.push_str(&format!(" {n}={v}"));
        }
        out
    }

    /// `"<api>/<stage> <route key> name=value …"`, or `NotFound(..)`.
    pub(super) fn route(&mut self, m: &str, path: &str) -> String {
        self.on_host(None, m, path)
    }

    /// The same with a `Host` value.
    pub(super) fn on_host(&mut self, host: Option<&str>, m: &str, path: &str) -> String {
        match self.lookup(host, m, path) {
            Ok(hit) => self.describe(hit),
            Err(e) => e,
        }
    }

    pub(super) fn rest_start(&mut self, m: &str, path: &str) -> usize {
        match self.lookup(None, m, path) {
            Ok(hit) => hit.rest_start,
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

/// An API `shop`, stage `prod`, with these route keys (all mocks).
fn shop(keys: &[&str]) -> Fixture {
    let mut yaml = String::from(
        "listeners: [{name: main, address: 127.0.0.1:0}]\n\
         apis:\n  - name: shop\n    stages: [prod]\n    routes:\n",
    );
    for k in keys {
        yaml.push_str(&format!(
            "      - route: '{k}'\n        integration: {{type: mock}}\n"
        ));
    }
    Fixture::new(&yaml)
}

#[test]
fn most_specific_route_wins() {
    let mut f = shop(&[
        "$default",
        "ANY /pets/{proxy+}",
        "GET /pets/{id}",
        "GET /pets/mine",
        "GET /pets",
    ]);
    assert_eq!(
        f.route("GET", "/prod/pets/mine"),
        "shop/prod GET /pets/mine"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/7"),
        "shop/prod GET /pets/{id} id=7"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/mi"),
        "shop/prod GET /pets/{id} id=mi"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/7/toys"),
        "shop/prod ANY /pets/{proxy+} proxy=7/toys"
    );
    assert_eq!(f.route("GET", "/prod/pets"), "shop/prod GET /pets");
    assert_eq!(f.route("GET", "/prod/cats"), "shop/prod $default");
}

#[test]
fn earlier_segment_decides_first() {
    let mut f = shop(&["GET /a/{x}/c", "GET /{y}/b/c", "GET /{y}/b/{z+}"]);
    assert_eq!(f.route("GET", "/prod/a/b/c"), "shop/prod GET /a/{x}/c x=b");
    assert_eq!(f.route("GET", "/prod/q/b/c"), "shop/prod GET /{y}/b/c y=q");
    // The literal branch has no match for /a/b/d: back to `{y}`.
    assert_eq!(
        f.route("GET", "/prod/a/b/d"),
        "shop/prod GET /{y}/b/{z+} y=a z=d"
    );
}

#[test]
fn any_serves_only_methods_without_their_own_route() {
    let mut f = shop(&["GET /items", "ANY /items", "DELETE /items"]);
    assert_eq!(f.route("GET", "/prod/items"), "shop/prod GET /items");
    assert_eq!(f.route("DELETE", "/prod/items"), "shop/prod DELETE /items");
    assert_eq!(f.route("POST", "/prod/items"), "shop/prod ANY /items");
    assert_eq!(f.route("PURGE", "/prod/items"), "shop/prod ANY /items");
}

#[test]
fn a_path_without_the_method_falls_through_to_less_specific_paths() {
    let mut f = shop(&[
        "GET /pets/{id}",
        "POST /pets/{proxy+}",
        "POST /a/b",
        "GET /a/{x}",
    ]);
    assert_eq!(
        f.route("POST", "/prod/pets/7"),
        "shop/prod POST /pets/{proxy+} proxy=7"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/7"),
        "shop/prod GET /pets/{id} id=7"
    );
    assert_eq!(f.route("GET", "/prod/a/b"), "shop/prod GET /a/{x} x=b");
    assert_eq!(f.route("POST", "/prod/a/b"), "shop/prod POST /a/b");
    // Nothing at all for PUT, and no `$default` route.
    assert_eq!(f.route("PUT", "/prod/pets/7"), "NotFound(Http)");
}

#[test]
fn head_is_not_get() {
    let mut f = shop(&["GET /x", "GET /y", "HEAD /y", "ANY /z"]);
    assert_eq!(f.route("HEAD", "/prod/x"), "NotFound(Http)");
    assert_eq!(f.route("HEAD", "/prod/y"), "shop/prod HEAD /y");
    assert_eq!(f.route("HEAD", "/prod/z"), "shop/prod ANY /z");
}

#[test]
fn extension_methods_match_by_name() {
    let mut f = shop(&["PURGE /cache", "MKCOL /cache", "TRACE /cache", "$default"]);
    assert_eq!(f.route("PURGE", "/prod/cache"), "shop/prod PURGE /cache");
    assert_eq!(f.route("MKCOL", "/prod/cache"), "shop/prod MKCOL /cache");
    assert_eq!(f.route("TRACE", "/prod/cache"), "shop/prod TRACE /cache");
    assert_eq!(
        f.route("purge", "/prod/cache"),
        "shop/prod $default",
        "case-sensitive"
    );
    assert_eq!(f.route("FOO", "/prod/cache"), "shop/prod $default");
}

#[test]
fn greedy_needs_something_after_its_slash() {
    let mut f = shop(&["ANY /files/{proxy+}", "$default"]);
    assert_eq!(f.route("GET", "/prod/files"), "shop/prod $default");
    assert_eq!(f.route("GET", "/prod/files/"), "shop/prod $default");
    assert_eq!(
        f.route("GET", "/prod/files/a"),
        "shop/prod ANY /files/{proxy+} proxy=a"
    );
    assert_eq!(
        f.route("GET", "/prod/files/a/b/c.txt"),
        "shop/prod ANY /files/{proxy+} proxy=a/b/c.txt"
    );
    assert_eq!(
        f.route("GET", "/prod/files/a/"),
        "shop/prod ANY /files/{proxy+} proxy=a/"
    );
    let mut root = shop(&["ANY /{proxy+}", "GET /"]);
    assert_eq!(
        root.route("GET", "/prod/x/y"),
        "shop/prod ANY /{proxy+} proxy=x/y"
    );
    assert_eq!(root.route("GET", "/prod/"), "shop/prod GET /");
    assert_eq!(root.route("POST", "/prod/"), "NotFound(Http)");
}

#[test]
fn trailing_slash_and_empty_segments_do_not_match() {
    let mut f = shop(&["GET /pets", "GET /pets/{id}", "$default"]);
    assert_eq!(f.route("GET", "/prod/pets/"), "shop/prod $default");
    assert_eq!(f.route("GET", "/prod/pets/7/"), "shop/prod $default");
    assert_eq!(f.route("GET", "/prod/pets//"), "shop/prod $default");
    assert_eq!(f.route("GET", "/prod//pets"), "shop/prod $default");
}

#[test]
fn params_are_percent_decoded() {
    let mut f = shop(&[
        "GET /pets/{id}",
        "ANY /files/{proxy+}",
        "GET /u/{a}/{b}/{c}/{d}/{e}",
    ]);
    assert_eq!(
        f.route("GET", "/prod/pets/a%20b"),
        "shop/prod GET /pets/{id} id=a b"
    );
    // `%2F` stays inside its one segment, and decodes to `/`.
    assert_eq!(
        f.route("GET", "/prod/pets/a%2Fb"),
        "shop/prod GET /pets/{id} id=a/b"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/caf%C3%A9"),
        "shop/prod GET /pets/{id} id=caf\u{e9}"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/100%"),
        "shop/prod GET /pets/{id} id=100%"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/%FF"),
        "shop/prod GET /pets/{id} id=%FF"
    );
    assert_eq!(
        f.route("GET", "/prod/files/a%20b/c%2Fd"),
        "shop/prod ANY /files/{proxy+} proxy=a b/c/d"
    );
    assert_eq!(
        f.route("GET", "/prod/u/1/2/3/4/5"),
        "shop/prod GET /u/{a}/{b}/{c}/{d}/{e} a=1 b=2 c=3 d=4 e=5"
    );
    // Reused: the next lookup starts empty.
    assert_eq!(f.route("GET", "/prod/nothing"), "NotFound(Http)");
    assert!(f.params.is_empty());
    assert_eq!(
        f.route("GET", "/prod/pets/9"),
        "shop/prod GET /pets/{id} id=9"
    );
    assert_eq!(f.params.get("id"), Some("9"));
    assert_eq!(f.params.get("proxy"), None);
}

#[test]
fn parameter_names_belong_to_routes_not_positions() {
    let mut f = shop(&["GET /pets/{id}", "GET /pets/{petId}/owner"]);
    assert_eq!(
        f.route("GET", "/prod/pets/7"),
        "shop/prod GET /pets/{id} id=7"
    );
    assert_eq!(
        f.route("GET", "/prod/pets/7/owner"),
        "shop/prod GET /pets/{petId}/owner petId=7"
    );
}

const STAGES: &str = "
listeners: [{name: main, address: 127.0.0.1:0}, {name: admin, address: 127.0.0.1:0}]
apis:
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - {route: GET /status, integration: {type: mock}}
  - name: site
    listeners: [main]
    stages: [$default, beta]
    routes:
      - {route: GET /, integration: {type: mock}}
      - {route: 'GET /pages/{name}', integration: {type: mock}}
      - {route: $default, integration: {type: mock}}
  - name: ops
    listeners: [admin]
    stages: [ops]
    routes:
      - {route: GET /health, integration: {type: mock}}
";

#[test]
fn stage_is_the_first_segment_and_is_stripped() {
    let mut f = Fixture::new(STAGES);
    assert_eq!(f.route("GET", "/v1/status"), "legacy/v1 GET /status");
    assert_eq!(f.rest_start("GET", "/v1/status"), 3);
    assert_eq!(
        f.route("GET", "/beta/pages/home"),
        "site/beta GET /pages/{name} name=home"
    );
    assert_eq!(f.rest_start("GET", "/beta/pages/home"), 5);
    // The stage alone, with or without a slash, is the root.
    assert_eq!(f.route("GET", "/beta"), "site/beta GET /");
    assert_eq!(f.rest_start("GET", "/beta"), 5);
    assert_eq!(f.route("GET", "/beta/"), "site/beta GET /");
    // A stage name must be the whole first segment.
    assert_eq!(f.route("GET", "/betamax"), "site/$default $default");
}

#[test]
fn default_stage_takes_paths_that_name_no_stage() {
    let mut f = Fixture::new(STAGES);
    assert_eq!(
        f.route("GET", "/pages/about"),
        "site/$default GET /pages/{name} name=about"
    );
    assert_eq!(f.rest_start("GET", "/pages/about"), 0);
    assert_eq!(f.route("GET", "/"), "site/$default GET /");
    assert_eq!(f.route("GET", ""), "site/$default GET /");
    assert_eq!(f.route("GET", "/nope/x"), "site/$default $default");
    assert_eq!(f.route("OPTIONS", "*"), "site/$default $default");
}

#[test]
fn not_found_answers_in_the_protocol_of_the_stage_or_listener() {
    let mut f = Fixture::new(STAGES);
    // The REST API's stage matched, its route did not: REST's answer, even
    // though the listener has a `$default` stage.
    assert_eq!(f.route("GET", "/v1/nope"), "NotFound(Rest)");
    assert_eq!(f.route("POST", "/v1/status"), "NotFound(Rest)");
    // No `$default` stage on `admin`: an unknown stage gets the answer of the
    // listener's first API (`legacy`, REST).
    let mut admin = Fixture::on(STAGES, 1);
    assert_eq!(admin.route("GET", "/nope/health"), "NotFound(Rest)");
    assert_eq!(admin.route("GET", "/health"), "NotFound(Rest)");
    assert_eq!(admin.route("GET", "/ops/health"), "ops/ops GET /health");
    assert_eq!(admin.route("GET", "/ops/nope"), "NotFound(Http)");
    assert_eq!(admin.route("GET", "/v1/status"), "legacy/v1 GET /status");
    let mut http_only = shop(&["GET /x"]);
    assert_eq!(http_only.route("GET", "/dev/x"), "NotFound(Http)");
}

const TWO_LISTENERS: &str = "
listeners: [{name: a, address: 127.0.0.1:0}, {name: b, address: 127.0.0.1:0}]
apis:
  - {name: one, listeners: [a], stages: [s], routes: [{route: GET /x, integration: {type: mock}}]}
  - {name: two, listeners: [b], stages: [s], routes: [{route: GET /y, integration: {type: mock}}]}
";

#[test]
fn apis_on_other_listeners_are_not_routed() {
    let mut a = Fixture::on(TWO_LISTENERS, 0);
    assert_eq!(a.route("GET", "/s/x"), "one/s GET /x");
    assert_eq!(a.route("GET", "/s/y"), "NotFound(Http)");
    let mut b = Fixture::on(TWO_LISTENERS, 1);
    assert_eq!(b.route("GET", "/s/y"), "two/s GET /y");
}

#[test]
fn bench_config_routes() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/gateway.yaml"))
        .unwrap();
    let mut f = Fixture::new(&text);
    assert_eq!(f.route("GET", "/mock"), "bench/$default GET /mock");
    assert_eq!(f.route("POST", "/mock"), "bench/$default $default");
    assert_eq!(f.route("GET", "/anything/else"), "bench/$default $default");
    assert_eq!(f.rest_start("GET", "/anything/else"), 0);
}

#[test]
fn two_default_stages_on_one_listener_are_refused() {
    let errs = config::load_str(
        "t.yaml",
        "listeners: [{name: main, address: 127.0.0.1:0}]\n\
         apis: [{name: a, stages: [$default]}, {name: b, stages: [$default]}]\n",
    )
    .unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0]
            .message
            .contains("stage `$default` is also served by API `a`")
    );
    assert_eq!(RouteKey::Default.to_string(), "$default");
}
