//! Router tests for custom domains, base path mappings, deployments and
//! canaries: `select` by Host and base path (exact, wildcard, fallback,
//! forbidden), `route` in the deployment the caller chose, and build time.

use std::time::{Duration, Instant};

use super::tests::{Fixture, method};
use super::*;

const DOMAINS: &str = "
listeners: [{name: main, address: 127.0.0.1:0}, {name: internal, address: 127.0.0.1:0}]
apis:
  - name: shop
    listeners: [main]
    stages:
      - prod
      - name: beta
        deployment: v2
        canary: {percent: 50, deployment: current}
    routes:
      - {route: GET /pets, integration: {type: mock}}
      - {route: 'GET /pets/{id}', integration: {type: mock}}
      - {route: $default, integration: {type: mock}}
    deployments:
      v2:
        routes:
          - {route: GET /pets, integration: {type: mock}}
          - {route: GET /v2only, integration: {type: mock}}
  - name: admin
    protocol: rest
    listeners: [internal]
    stages: [v1]
    routes:
      - {route: GET /status, integration: {type: mock}}
  - name: site
    listeners: [main]
    stages: [$default]
    routes:
      - {route: GET /, integration: {type: mock}}
      - {route: $default, integration: {type: mock}}
domains:
  - name: api.example.com
    mappings: {'': shop/prod, beta: shop/beta, admin: admin/v1}
  - name: '*.example.com'
    mappings: {v1: shop/prod}
  - name: internal.example.org
    mappings: {'': admin/v1}
";

#[test]
fn exact_domain_maps_base_paths_and_strips_them() {
    let mut f = Fixture::new(DOMAINS);
    let host = Some("api.example.com");
    assert_eq!(f.on_host(host, "GET", "/pets"), "shop/prod GET /pets");
    assert_eq!(
        f.on_host(host, "GET", "/pets/7"),
        "shop/prod GET /pets/{id} id=7"
    );
    // The stage prefix is not used on a custom domain: the mapping names it.
    assert_eq!(f.on_host(host, "GET", "/prod/pets"), "shop/prod $default");
    // `beta` maps to shop/beta, which runs deployment v2.
    assert_eq!(
        f.on_host(host, "GET", "/beta/v2only"),
        "shop/beta GET /v2only"
    );
    assert_eq!(f.on_host(host, "GET", "/beta/pets/7"), "NotFound(Http)");
    let hit = f.lookup(host, "GET", "/beta/v2only").unwrap();
    assert_eq!((hit.rest_start, hit.deployment), (5, 1));
    assert_eq!(f.gw.apis[0].deployments[hit.deployment].name, "v2");
    // A base path is a whole segment: `/betamax` is the "" mapping's.
    assert_eq!(f.on_host(host, "GET", "/betamax"), "shop/prod $default");
    // `/beta` alone is the mapped stage's root.
    assert_eq!(
        f.table.select(host.map(str::as_bytes), b"/beta"),
        Selected::Stage(StageMatch {
            api: 0,
            stage: 1,
            rest_start: 5
        })
    );
}

#[test]
fn host_matching_ignores_case_port_and_a_trailing_dot() {
    let mut f = Fixture::new(DOMAINS);
    for host in [
        "API.Example.COM",
        "api.example.com:8080",
        "api.example.com.",
        "Api.Example.Com.:443",
    ] {
        assert_eq!(
            f.on_host(Some(host), "GET", "/pets"),
            "shop/prod GET /pets",
            "{host}"
        );
    }
}

#[test]
fn wildcards_take_exactly_one_more_label_and_exact_names_win() {
    let mut f = Fixture::new(DOMAINS);
    assert_eq!(
        f.on_host(Some("eu.example.com"), "GET", "/v1/pets"),
        "shop/prod GET /pets"
    );
    assert_eq!(
        f.on_host(Some("EU.example.com:80"), "GET", "/v1/pets/3"),
        "shop/prod GET /pets/{id} id=3"
    );
    // api.example.com is an exact domain: its mappings, not the wildcard's.
    assert_eq!(
        f.on_host(Some("api.example.com"), "GET", "/v1/pets"),
        "shop/prod $default"
    );
    // Two more labels, or none, is not the wildcard: stage prefix routing.
    for host in ["a.b.example.com", "example.com", ".example.com"] {
        assert_eq!(
            f.on_host(Some(host), "GET", "/v1/pets"),
            "site/$default $default",
            "{host}"
        );
        assert_eq!(
            f.on_host(Some(host), "GET", "/prod/pets"),
            "shop/prod GET /pets",
            "{host}"
        );
    }
}

#[test]
fn a_domain_without_a_mapping_for_the_base_path_is_forbidden() {
    let mut f = Fixture::new(DOMAINS);
    // The wildcard has no "" mapping.
    assert_eq!(
        f.on_host(Some("eu.example.com"), "GET", "/pets"),
        "Forbidden(Http)"
    );
    assert_eq!(
        f.on_host(Some("eu.example.com"), "GET", "/"),
        "Forbidden(Http)"
    );
    assert_eq!(
        f.on_host(Some("eu.example.com"), "GET", ""),
        "Forbidden(Http)"
    );
    assert_eq!(
        f.on_host(Some("eu.example.com"), "OPTIONS", "*"),
        "Forbidden(Http)"
    );
    assert_eq!(
        f.table.select(Some(b"eu.example.com"), b"/nope/x"),
        Selected::Forbidden(Protocol::Http)
    );
}

#[test]
fn other_hosts_fall_back_to_stage_prefixes() {
    let mut f = Fixture::new(DOMAINS);
    for host in [
        None,
        Some("localhost:8080"),
        Some("[::1]:8080"),
        Some("127.0.0.1"),
        Some(""),
    ] {
        assert_eq!(
            f.on_host(host, "GET", "/prod/pets"),
            "shop/prod GET /pets",
            "{host:?}"
        );
        assert_eq!(
            f.on_host(host, "GET", "/"),
            "site/$default GET /",
            "{host:?}"
        );
    }
}

#[test]
fn a_domain_is_served_where_its_apis_are() {
    // main serves shop and site; internal serves admin.
    let mut main = Fixture::on(DOMAINS, 0);
    // internal.example.org maps only admin, not served on main: no domain here.
    assert_eq!(
        main.on_host(Some("internal.example.org"), "GET", "/status"),
        "site/$default $default"
    );
    // api.example.com's `admin` mapping is left out on main.
    assert_eq!(
        main.on_host(Some("api.example.com"), "GET", "/admin/status"),
        "shop/prod $default"
    );
    let mut internal = Fixture::on(DOMAINS, 1);
    assert_eq!(
        internal.on_host(Some("internal.example.org"), "GET", "/status"),
        "admin/v1 GET /status"
    );
    assert_eq!(
        internal.on_host(Some("api.example.com"), "GET", "/admin/status"),
        "admin/v1 GET /status"
    );
    // shop is not on internal: api.example.com has no "" mapping there.
    assert_eq!(
        internal.on_host(Some("api.example.com"), "GET", "/pets"),
        "Forbidden(Rest)"
    );
}

#[test]
fn route_runs_the_deployment_the_caller_chose() {
    let mut f = Fixture::new(DOMAINS);
    let Selected::Stage(sm) = f.table.select(None, b"/beta/pets/7") else {
        panic!()
    };
    let beta = &f.gw.apis[0].stages[1];
    let (own, canary) = (beta.deployment, beta.canary.as_ref().unwrap().deployment);
    assert_ne!(own, canary);
    let path = b"/beta/pets/7";
    // v2 has no /pets/{id}, and no $default.
    assert_eq!(
        f.table
            .route(sm, own, Method::Get, b"GET", path, &mut f.params),
        Lookup::NotFound(Protocol::Http)
    );
    let Lookup::Found(hit) = f
        .table
        .route(sm, canary, Method::Get, b"GET", path, &mut f.params)
    else {
        panic!()
    };
    assert_eq!(hit.deployment, canary);
    assert_eq!(f.describe(hit), "shop/beta GET /pets/{id} id=7");
    // An index the API does not have is not found, not a panic.
    assert_eq!(
        f.table
            .route(sm, 99, Method::Get, b"GET", path, &mut f.params),
        Lookup::NotFound(Protocol::Http)
    );
    // The canary choice, as the pipeline makes it: about half each way.
    let picks = (0..1000u64)
        .filter(|&id| choose_deployment(beta, [], || id) == canary)
        .count();
    assert!((400..600).contains(&picks), "{picks}");
}

/// Build a table of `n` routes under one literal parent (the worst case for
/// a quadratic child search) plus parameters, through the config loader.
fn many_routes(n: usize) -> (Duration, Duration, Fixture) {
    let mut yaml = String::from(
        "listeners: [{name: main, address: 127.0.0.1:0}]\napis:\n  - name: big\n    stages: [$default]\n    routes:\n",
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "      - {{route: 'GET /items/i{i}/{{id}}', integration: {{type: mock}}}}\n"
        ));
    }
    let t = Instant::now();
    let gw = tests::gateway(&yaml);
    let load = t.elapsed();
    let t = Instant::now();
    let table = Table::build(&gw, 0);
    let build = t.elapsed();
    (
        load,
        build,
        Fixture {
            gw,
            table,
            params: Params::default(),
        },
    )
}

#[test]
fn ten_thousand_routes_build_quickly_and_route() {
    let (load, build, mut f) = many_routes(10_000);
    println!("10,000 routes: load {load:?}, Table::build {build:?}");
    // Generous bounds for unoptimized builds on a busy machine; a quadratic
    // pass over 10,000 siblings takes far longer.
    assert!(
        build < Duration::from_secs(2),
        "Table::build took {build:?}"
    );
    assert!(load < Duration::from_secs(10), "loading took {load:?}");
    assert_eq!(
        f.route("GET", "/items/i9999/7"),
        "big/$default GET /items/i9999/{id} id=7"
    );
    assert_eq!(
        f.route("GET", "/items/i0/x"),
        "big/$default GET /items/i0/{id} id=x"
    );
    assert_eq!(f.route("GET", "/items/i10000/7"), "NotFound(Http)");
    let _ = method("GET");
}
