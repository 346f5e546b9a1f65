//! Loader tests for deployments, stages, stage variables, canaries and
//! custom domains: what resolves to what, and each mistake at its line and
//! column (more of them, all at once, in `tests/fixtures/bad/deployments.yaml`
//! and `domains.yaml`).

use super::*;

fn gateway(yaml: &str) -> Gateway {
    load_str("t.yaml", yaml).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(yaml: &str) -> Vec<ConfigError> {
    match load_str("t.yaml", yaml) {
        Ok(_) => panic!("loaded, expected errors"),
        Err(e) => e,
    }
}

fn assert_one(errs: &[ConfigError], line: u64, column: u64, text: &str) {
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let e = &errs[0];
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains(text), "{e}");
}

fn mock(api: &Api, deployment: usize, route: usize) -> &Mock {
    match &api.deployments[deployment].routes[route].integration {
        Integration::Mock(m) => m,
        other => panic!("{other:?}"),
    }
}

fn proxy(api: &Api, deployment: usize, route: usize) -> &HttpProxy {
    match &api.deployments[deployment].routes[route].integration {
        Integration::HttpProxy(p) => p,
        other => panic!("{other:?}"),
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const HEAD: &str = "listeners: [{name: main, address: 127.0.0.1:0}]\n\
                    upstreams: {blue: {targets: [127.0.0.1:9001]}, green: {targets: [127.0.0.1:9002]}}\n";

#[test]
fn short_and_full_stage_forms() {
    let gw = gateway(&format!(
        "{HEAD}apis:
  - name: shop
    stages:
      - prod
      - name: beta
    routes:
      - {{route: GET /x, integration: {{type: mock}}}}
"
    ));
    let api = &gw.apis[0];
    for (s, name) in api.stages.iter().zip(["prod", "beta"]) {
        assert_eq!(s.name, name);
        assert_eq!(api.deployments[s.deployment].name, "current");
        assert!(s.variables.is_empty() && s.canary.is_none() && !s.deployment_header);
        assert_eq!(s.settings, StageSettings::default());
    }
    // Both run the same routes with the same (no) variables: resolved once.
    assert_eq!(api.deployments.len(), 1);
    assert_eq!(api.stage("beta"), Some(1));
    assert_eq!(gw.route_count(), 1);
}

#[test]
fn variables_reach_uri_authority_path_query_and_mock_responses() {
    let gw = gateway(&format!(
        "{HEAD}apis:
  - name: shop
    stages:
      - name: prod
        variables: {{up: blue, v: v1, who: prod}}
      - name: beta
        variables: {{up: '127.0.0.1:9003', v: v2, who: beta}}
    routes:
      - route: GET /items/{{id}}
        integration:
          type: http_proxy
          uri: http://${{stageVariables.up}}/${{stageVariables.v}}/items/{{id}}?who=${{stageVariables.who}}
      - route: GET /hello
        integration:
          type: mock
          headers: {{x-stage: 'stage ${{stageVariables.who}}', x-plain: '${{other}}'}}
          body: hello ${{stageVariables.who}}
"
    ));
    let api = &gw.apis[0];
    let (prod, beta) = (api.stages[0].deployment, api.stages[1].deployment);
    assert_ne!(prod, beta);
    let p = proxy(api, prod, 0);
    assert_eq!(gw.upstreams[p.upstream].name, "blue");
    assert_eq!(p.host_header, "blue");
    let parts = &p.path.as_ref().unwrap().parts;
    assert_eq!(
        parts,
        &[
            TemplatePart::Literal("/v1/items/".into()),
            TemplatePart::Param("id".into()),
            TemplatePart::Literal("?who=prod".into())
        ]
    );
    // A literal host:port from a variable adds its implicit upstream.
    let b = proxy(api, beta, 0);
    assert_eq!(gw.upstreams[b.upstream].name, "127.0.0.1:9003");
    assert_eq!(b.host_header, "127.0.0.1:9003");
    let m = mock(api, beta, 1);
    assert_eq!(
        m.headers,
        pairs(&[("x-stage", "stage beta"), ("x-plain", "${other}")])
    );
    assert_eq!(m.body, b"hello beta");
    assert_eq!(mock(api, prod, 1).body, b"hello prod");
    assert_eq!(
        api.stages[1].variables,
        pairs(&[("up", "127.0.0.1:9003"), ("v", "v2"), ("who", "beta")])
    );
}

#[test]
fn route_sets_are_shared_when_the_values_they_use_are_equal() {
    let gw = gateway(&format!(
        "{HEAD}apis:
  - name: shop
    stages:
      - {{name: a, variables: {{up: blue, note: one}}}}
      - {{name: b, variables: {{up: blue, note: two}}}}
      - {{name: c, variables: {{up: green}}}}
      - {{name: d, deployment: fixed, variables: {{up: green}}}}
      - {{name: e, deployment: fixed}}
    routes:
      - {{route: GET /x, integration: {{type: http_proxy, uri: 'http://${{stageVariables.up}}/x'}}}}
    deployments:
      fixed:
        routes:
          - {{route: GET /y, integration: {{type: mock}}}}
"
    ));
    let api = &gw.apis[0];
    let d: Vec<usize> = api.stages.iter().map(|s| s.deployment).collect();
    // `note` is used by no route: a and b share; c differs in `up`; `fixed`
    // uses no variable, so d and e share it whatever their variables.
    assert_eq!(d, [0, 0, 1, 2, 2]);
    let names: Vec<&str> = api.deployments.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["current", "current", "fixed"]);
    assert_eq!(api.deployments[0].id, api.deployments[1].id);
    assert_eq!(gw.route_count(), 2);
}

#[test]
fn deployment_ids_are_content_hashes_stable_across_runs() {
    let yaml = format!(
        "{HEAD}apis:
  - name: shop
    stages: [{{name: a, deployment: same}}, {{name: b, deployment: other}}, c]
    routes:
      - {{route: GET /x, integration: {{type: mock, body: x}}}}
    deployments:
      same:
        routes:
          - {{route: GET /x, integration: {{type: mock, body: x}}}}
      other:
        routes:
          - {{route: GET /x, integration: {{type: mock, body: y}}}}
"
    );
    let gw = gateway(&yaml);
    let ids: Vec<&str> = gw.apis[0]
        .deployments
        .iter()
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(
        ids.iter()
            .all(|id| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    // `same` has current's routes: same id. `other` differs in one byte.
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[1]);
    // The hash is FNV-1a of the routes as written: fixed, not per process.
    assert_eq!(gateway(&yaml).apis[0].deployments[1].id, ids[1]);
    assert_eq!(ids[0], "1b023d23");
}

#[test]
fn canary_variables_override_and_extend_the_stage_ones() {
    let gw = gateway(&format!(
        "{HEAD}apis:
  - name: shop
    stages:
      - name: prod
        variables: {{up: blue, v: '1'}}
        deployment_header: true
        canary:
          percent: 0.5
          deployment: next
          stage_variables: {{v: '2', extra: x}}
          sticky: {{cookie: Canary}}
    routes:
      - {{route: GET /x, integration: {{type: mock, body: '${{stageVariables.v}}'}}}}
    deployments:
      next:
        routes:
          - {{route: GET /x, integration: {{type: mock, body: '${{stageVariables.v}}${{stageVariables.extra}}'}}}}
"
    ));
    let api = &gw.apis[0];
    let s = &api.stages[0];
    assert!(s.deployment_header);
    let c = s.canary.as_ref().unwrap();
    assert_eq!(c.percent, 0.5);
    assert_eq!(c.sticky, Some(Sticky::Cookie("Canary".into())));
    assert_eq!(
        c.variables,
        pairs(&[("extra", "x"), ("up", "blue"), ("v", "2")])
    );
    assert_eq!(api.deployments[c.deployment].name, "next");
    assert_eq!(mock(api, c.deployment, 0).body, b"2x");
    assert_eq!(mock(api, s.deployment, 0).body, b"1");
}

#[test]
fn canary_percent_bounds() {
    for (percent, ok) in [
        ("0", true),
        ("100", true),
        ("0.5", true),
        ("100.5", false),
        ("-0.1", false),
    ] {
        let yaml = format!(
            "{HEAD}apis:\n  - name: shop\n    stages:\n      - name: prod\n        canary: {{percent: {percent}}}\n"
        );
        match load_str("t.yaml", &yaml) {
            Ok(gw) => {
                assert!(ok, "{percent} loaded");
                let c = gw.apis[0].stages[0].canary.as_ref().unwrap();
                assert_eq!(
                    c.deployment, gw.apis[0].stages[0].deployment,
                    "same route set"
                );
            }
            Err(e) => {
                assert!(!ok, "{percent}: {e:#?}");
                assert_one(&e, 7, 27, "canary `percent` must be between 0 and 100");
            }
        }
    }
    // A percent must be a number.
    let e = errors(&format!(
        "{HEAD}apis:\n  - name: shop\n    stages:\n      - name: prod\n        canary: {{percent: ten}}\n"
    ));
    assert_eq!(e.len(), 1, "{e:#?}");
}

#[test]
fn unknown_variables_are_located_at_their_uri_or_header() {
    let yaml = format!(
        "{HEAD}apis:
  - name: shop
    stages: [{{name: prod, variables: {{up: blue}}}}]
    routes:
      - route: GET /x
        integration:
          type: http_proxy
          uri: http://${{stageVariables.host}}/x
      - route: GET /y
        integration:
          type: mock
          headers:
            x-v: ${{stageVariables.version}}
"
    );
    let errs = errors(&yaml);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_eq!((errs[0].line, errs[0].column), (10, 16));
    assert_eq!(
        errs[0].message,
        "unknown stage variable `host` in stage `prod`, which has up"
    );
    assert_eq!((errs[1].line, errs[1].column), (15, 18));
    assert!(errs[1].message.contains("`version`"));
}

#[test]
fn a_bad_value_is_reported_with_the_uri_it_made() {
    let errs = errors(&format!(
        "{HEAD}apis:
  - name: shop
    stages: [{{name: prod, variables: {{up: nowhere}}}}]
    routes:
      - {{route: GET /x, integration: {{type: http_proxy, uri: 'http://${{stageVariables.up}}/x'}}}}
"
    ));
    assert_one(
        &errs,
        7,
        62,
        "unknown upstream `nowhere`: name one under `upstreams`, or write host:port \
         (with the variables of stage `prod`: `http://nowhere/x`)",
    );
}

#[test]
fn errors_a_deployment_shares_between_stages_are_reported_once() {
    let errs = errors(&format!(
        "{HEAD}apis:
  - name: shop
    stages: [{{name: a, variables: {{v: '1'}}}}, {{name: b, variables: {{v: '2'}}}}]
    routes:
      - {{route: GET /x, integration: {{type: mock, status: 700, body: '${{stageVariables.v}}'}}}}
      - {{route: GET /x, integration: {{type: mock}}}}
"
    ));
    let got: Vec<(u64, u64)> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(got, [(7, 59), (8, 17)], "{errs:#?}");
}

#[test]
fn a_deployment_no_stage_runs_is_checked_without_variables() {
    // Its variables cannot be known: unknown names are fine...
    gateway(&format!(
        "{HEAD}apis:
  - name: shop
    stages: [prod]
    deployments:
      later:
        routes:
          - {{route: GET /x, integration: {{type: http_proxy, uri: 'http://${{stageVariables.up}}/x'}}}}
"
    ));
    // ...but everything else is checked.
    let errs = errors(&format!(
        "{HEAD}apis:
  - name: shop
    stages: [prod]
    deployments:
      later:
        routes:
          - {{route: GET x, integration: {{type: mock}}}}
          - {{route: GET /y, integration: {{type: mock, body: '${{stageVariables.a-b}}'}}}}
          - {{route: GET /z, integration: {{type: http_proxy, uri: 'http://nowhere/z'}}}}
"
    ));
    let got: Vec<u64> = errs.iter().map(|e| e.line).collect();
    assert_eq!(got, [9, 10, 11], "{errs:#?}");
}

#[test]
fn domains_resolve_to_api_stages() {
    let gw = gateway(&format!(
        "{HEAD}apis:
  - {{name: shop, stages: [prod, $default]}}
  - {{name: admin, protocol: rest, stages: [v1]}}
domains:
  - name: API.Example.COM
    mappings: {{'': shop/prod, v1: admin/v1, d: shop/$default}}
  - name: '*.example.net'
    mappings: {{v1: admin/v1}}
"
    ));
    assert_eq!(
        gw.domains,
        [
            Domain {
                name: "api.example.com".into(),
                mappings: vec![
                    BasePathMapping {
                        base_path: String::new(),
                        api: 0,
                        stage: 0
                    },
                    BasePathMapping {
                        base_path: "v1".into(),
                        api: 1,
                        stage: 0
                    },
                    BasePathMapping {
                        base_path: "d".into(),
                        api: 0,
                        stage: 1
                    },
                ]
            },
            Domain {
                name: "*.example.net".into(),
                mappings: vec![BasePathMapping {
                    base_path: "v1".into(),
                    api: 1,
                    stage: 0
                }]
            }
        ]
    );
}

#[test]
fn domain_mistakes_are_located() {
    let errs = errors(&format!(
        "{HEAD}apis: [{{name: shop, stages: [prod]}}]\ndomains:\n  - {{name: 'x.com', mappings: {{'': shop/dev}}}}\n"
    ));
    assert_one(&errs, 5, 36, "API `shop` has no stage `dev`");
    let errs = errors(&format!(
        "{HEAD}apis: [{{name: shop, stages: [prod]}}]\ndomains:\n  - {{name: 'x.com', mappings: {{'': web/prod}}}}\n"
    ));
    assert_one(&errs, 5, 36, "unknown API `web`");
    let errs = errors(&format!(
        "{HEAD}apis: [{{name: shop, stages: [prod]}}]\ndomains:\n  - {{name: 'x*.com', mappings: {{'': shop/prod}}}}\n"
    ));
    assert_one(&errs, 5, 12, "a wildcard is only `*.` at the start");
    let errs = errors(&format!(
        "{HEAD}apis: [{{name: shop, stages: [prod]}}]\ndomains:\n  - {{name: x.com, mappings: {{'': shop/prod}}, tls: true}}\n"
    ));
    assert_one(&errs, 5, 46, "unknown field `tls`");
}
