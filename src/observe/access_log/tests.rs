//! Every `$context` variable in each form, presets byte for byte, escaping,
//! absent values and compile errors.

use super::*;
use crate::observe::request_id::IdGen;

/// Every variable tollgate fills, in template order.
const ALL: &[&str] = &[
    "requestId",
    "extendedRequestId",
    "identity.sourceIp",
    "identity.userAgent",
    "httpMethod",
    "resourcePath",
    "routeKey",
    "path",
    "protocol",
    "status",
    "responseLength",
    "requestTime",
    "requestTimeEpoch",
    "responseLatency",
    "integrationLatency",
    "integrationStatus",
    "integration.error",
    "authorizer.error",
    "error.message",
    "error.responseType",
    "apiId",
    "stage",
    "domainName",
    "authorizer.principalId",
    "authorizer.claims.email",
    "xrayTraceId",
    "traceparent",
];

fn trace() -> TraceContext {
    TraceContext::from_headers(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        None,
        &IdGen::new(5),
        0,
    )
}

fn record(t: &TraceContext) -> Record<'_> {
    Record {
        request_id: b"c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        extended_request_id: b"Jb1rVgzpoAMEV7Q=",
        source_ip: "192.0.2.7".parse().unwrap(),
        user_agent: Some(b"curl/8.5 \"x\", <y> & z\\"),
        client_cert_subject: None,
        http_method: b"GET",
        resource_path: Some("/pets/{id}"),
        route_key: Some("GET /pets/{id}"),
        path: b"/prod/pets/7",
        protocol: "HTTP/1.1",
        status: 200,
        response_length: 17,
        data_processed: 250,
        // 2024-02-29 13:04:05.678 UTC
        request_time_ms: 1_709_211_845_678,
        response_latency_ms: 12,
        integration_latency_ms: Some(9),
        integration_status: Some(201),
        integration_error: None,
        error_message: None,
        error_response_type: None,
        api_id: "shop",
        stage: Some("prod"),
        deployment: Some("next"),
        domain_name: Some(b"api.example.com"),
        trace: Some(t),
        caller: None,
        authorizer: None,
        authorizer_error: None,
    }
}

fn render(spec: &str, r: &Record<'_>) -> String {
    let f = Format::compile(spec, Protocol::Rest).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let mut out = Vec::new();
    f.render(&mut out, r);
    String::from_utf8(out).unwrap()
}

fn span(t: &TraceContext) -> String {
    let mut v = Vec::new();
    t.write_traceparent(&mut v);
    String::from_utf8(v).unwrap()
}

#[test]
fn every_variable_in_clf() {
    let t = trace();
    let tmpl: Vec<String> = ALL.iter().map(|v| format!("$context.{v}")).collect();
    let line = render(&tmpl.join(" "), &record(&t));
    let want = format!(
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef Jb1rVgzpoAMEV7Q= 192.0.2.7 curl/8.5 \\\"x\\\", <y> & z\\\\ GET /pets/{{id}} GET /pets/{{id}} /prod/pets/7 HTTP/1.1 200 17 29/Feb/2024:13:04:05 +0000 1709211845678 12 9 201 - - - - shop prod api.example.com - - 1-4bf92f35-77b34da6a3ce929d0e0e4736 {}\n",
        span(&t)
    );
    assert_eq!(line, want);
}

#[test]
fn every_variable_in_json() {
    let t = trace();
    let fields: Vec<String> = ALL
        .iter()
        .map(|v| format!("\"{v}\":\"$context.{v}\""))
        .collect();
    let line = render(&format!("{{{}}}", fields.join(",")), &record(&t));
    let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {line}"))
            .to_string()
    };
    assert_eq!(s("requestId"), "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(s("extendedRequestId"), "Jb1rVgzpoAMEV7Q=");
    assert_eq!(s("identity.sourceIp"), "192.0.2.7");
    assert_eq!(s("identity.userAgent"), "curl/8.5 \"x\", <y> & z\\");
    assert_eq!(s("httpMethod"), "GET");
    assert_eq!(s("resourcePath"), "/pets/{id}");
    assert_eq!(s("routeKey"), "GET /pets/{id}");
    assert_eq!(s("path"), "/prod/pets/7");
    assert_eq!(s("protocol"), "HTTP/1.1");
    assert_eq!(s("status"), "200");
    assert_eq!(s("responseLength"), "17");
    assert_eq!(s("requestTime"), "29/Feb/2024:13:04:05 +0000");
    assert_eq!(s("requestTimeEpoch"), "1709211845678");
    assert_eq!(s("responseLatency"), "12");
    assert_eq!(s("integrationLatency"), "9");
    assert_eq!(s("integrationStatus"), "201");
    assert_eq!(s("integration.error"), "-");
    assert_eq!(s("authorizer.error"), "-");
    assert_eq!(s("error.message"), "-");
    assert_eq!(s("error.responseType"), "-");
    assert_eq!(s("apiId"), "shop");
    assert_eq!(s("stage"), "prod");
    assert_eq!(s("domainName"), "api.example.com");
    assert_eq!(s("authorizer.principalId"), "-");
    assert_eq!(s("authorizer.claims.email"), "-");
    assert_eq!(s("xrayTraceId"), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    assert_eq!(s("traceparent"), span(&t));
}

#[test]
fn json_bare_values_are_numbers_or_null() {
    let t = trace();
    let mut r = record(&t);
    r.integration_latency_ms = None;
    r.integration_status = None;
    let line = render(
        "{\"requestId\":\"$context.requestId\",\"status\":$context.status,\"lat\":$context.integrationLatency,\"istatus\":$context.integrationStatus,\"principal\":$context.authorizer.principalId,\"claim\":\"$context.authorizer.claims.sub\",\"len\":$context.responseLength}",
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
    assert_eq!(v["status"], 200);
    assert_eq!(v["len"], 17);
    assert!(v["lat"].is_null());
    assert!(v["istatus"].is_null());
    assert!(v["principal"].is_null());
    assert_eq!(v["claim"], "-");
}

#[test]
fn every_variable_in_xml() {
    let t = trace();
    let els: Vec<String> = ALL
        .iter()
        .map(|v| format!("<v n=\"{v}\">$context.{v}</v>"))
        .collect();
    let line = render(&format!("<request>{}</request>", els.join("")), &record(&t));
    let get = |name: &str| {
        let open = format!("<v n=\"{name}\">");
        let at = line.find(&open).unwrap() + open.len();
        line[at..at + line[at..].find("</v>").unwrap()].to_string()
    };
    assert_eq!(
        get("identity.userAgent"),
        "curl/8.5 &quot;x&quot;, &lt;y&gt; &amp; z\\"
    );
    assert_eq!(get("requestId"), "c6af9ac6-7b61-11e6-9a41-93e8deadbeef");
    assert_eq!(get("requestTime"), "29/Feb/2024:13:04:05 +0000");
    assert_eq!(get("resourcePath"), "/pets/{id}");
    assert_eq!(get("status"), "200");
    assert_eq!(get("integrationStatus"), "201");
    assert_eq!(get("integration.error"), "-");
    assert_eq!(get("authorizer.principalId"), "-");
    assert_eq!(get("authorizer.claims.email"), "-");
    assert_eq!(get("domainName"), "api.example.com");
    assert_eq!(get("xrayTraceId"), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    assert_eq!(get("traceparent"), span(&t));
    assert_eq!(line.matches("<v n=").count(), ALL.len());
}

#[test]
fn every_variable_in_csv() {
    let t = trace();
    let tmpl: Vec<String> = ALL.iter().map(|v| format!("$context.{v}")).collect();
    let f = Format::compile(&tmpl.join(","), Protocol::Rest).unwrap();
    assert_eq!(f.form(), Form::Csv);
    let mut out = Vec::new();
    f.render(&mut out, &record(&t));
    let line = String::from_utf8(out).unwrap();
    let want = format!(
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef,Jb1rVgzpoAMEV7Q=,192.0.2.7,\"curl/8.5 \"\"x\"\", <y> & z\\\",GET,/pets/{{id}},GET /pets/{{id}},/prod/pets/7,HTTP/1.1,200,17,29/Feb/2024:13:04:05 +0000,1709211845678,12,9,201,-,-,-,-,shop,prod,api.example.com,-,-,1-4bf92f35-77b34da6a3ce929d0e0e4736,{}\n",
        span(&t)
    );
    assert_eq!(line, want);
}

#[test]
fn gateway_errors_fill_the_error_variables() {
    let t = trace();
    let mut r = record(&t);
    r.status = 504;
    r.error_message = Some("Endpoint request timed out");
    r.error_response_type = Some("INTEGRATION_TIMEOUT");
    r.integration_error = Some("timeout");
    r.integration_status = None;
    r.route_key = None;
    r.resource_path = None;
    let line = render(
        "$context.requestId \"$context.error.message\" $context.error.responseType $context.integration.error $context.integrationStatus $context.routeKey $context.resourcePath",
        &r,
    );
    assert_eq!(
        line,
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef \"Endpoint request timed out\" INTEGRATION_TIMEOUT timeout - - -\n"
    );
    let json = render(
        "{\"id\":\"$context.requestId\",\"message\":$context.error.messageString,\"quoted\":\"$context.error.messageString\"}",
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["message"], "Endpoint request timed out");
    assert_eq!(v["quoted"], "\"Endpoint request timed out\"");
}

#[test]
fn presets_are_api_gateways_console_samples() {
    let t = trace();
    let mut r = record(&t);
    r.user_agent = Some(b"curl/8");
    assert_eq!(
        render("clf", &r),
        "192.0.2.7 - - [29/Feb/2024:13:04:05 +0000] \"GET /pets/{id} HTTP/1.1\" 200 17 c6af9ac6-7b61-11e6-9a41-93e8deadbeef Jb1rVgzpoAMEV7Q=\n"
    );
    let json = render("json", &r);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ip"], "192.0.2.7");
    assert_eq!(v["caller"], "-");
    assert_eq!(v["resourcePath"], "/pets/{id}");
    assert!(render("xml", &r).starts_with(
        "<request id=\"c6af9ac6-7b61-11e6-9a41-93e8deadbeef\"> <extendedRequestId>Jb1rVgzpoAMEV7Q=</extendedRequestId> <ip>192.0.2.7</ip> <caller>-</caller>"
    ));
    assert_eq!(
        render("csv", &r),
        "192.0.2.7,-,-,29/Feb/2024:13:04:05 +0000,GET,/pets/{id},HTTP/1.1,200,17,c6af9ac6-7b61-11e6-9a41-93e8deadbeef,Jb1rVgzpoAMEV7Q=\n"
    );
    // HTTP APIs' samples show the route key.
    let f = Format::compile("clf", Protocol::Http).unwrap();
    let mut out = Vec::new();
    f.render(&mut out, &r);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "192.0.2.7 - - [29/Feb/2024:13:04:05 +0000] \"GET GET /pets/{id} HTTP/1.1\" 200 17 c6af9ac6-7b61-11e6-9a41-93e8deadbeef\n"
    );
}

#[test]
fn control_characters_never_break_a_line() {
    let t = trace();
    let mut r = record(&t);
    r.user_agent = Some(b"a\nb\r\x00\x7f\xff");
    r.path = b"/p\"q";
    for spec in [
        "$context.requestId $context.identity.userAgent $context.path",
        "{\"id\":\"$context.requestId\",\"ua\":\"$context.identity.userAgent\",\"p\":\"$context.path\"}",
        "<r id=\"$context.requestId\">$context.identity.userAgent $context.path</r>",
        "$context.requestId,$context.identity.userAgent,$context.path",
    ] {
        let line = render(spec, &r);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        assert!(line.ends_with('\n'));
        assert!(
            !line[..line.len() - 1].bytes().any(|b| b < 0x20),
            "{line:?}"
        );
    }
    let json = render(
        "{\"ua\":\"$context.identity.userAgent\",\"id\":\"$context.requestId\"}",
        &r,
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ua"], "a\nb\r\u{0}\u{7f}\u{ff}");
}

#[test]
fn compile_errors_say_what_is_wrong() {
    let e = Format::compile("$context.status $context.nope", Protocol::Http).unwrap_err();
    assert!(e.contains("`$context.nope`"), "{e}");
    let e = Format::compile("$context.status", Protocol::Http).unwrap_err();
    assert!(e.contains("requestId"), "{e}");
    let e = Format::compile("$context.requestId\n$context.status", Protocol::Http).unwrap_err();
    assert!(e.contains("one line"), "{e}");
    let e = Format::compile("$context.requestId $context.authorizer.", Protocol::Http).unwrap_err();
    assert!(e.contains("`$context.authorizer`"), "{e}");
}

#[test]
fn variable_names_end_where_the_template_says() {
    let t = trace();
    let r = record(&t);
    // A trailing dot is text; claims may contain ':' and '-'.
    assert_eq!(
        render(
            "$context.requestId. [$context.status]-$context.authorizer.claims.cognito:groups|",
            &r
        ),
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef. [200]--|\n"
    );
    // The longest name wins: messageString is not message + "String".
    let mut r2 = r;
    r2.error_message = Some("Not Found");
    assert_eq!(
        render("$context.requestId $context.error.messageString", &r2),
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef \\\"Not Found\\\"\n"
    );
    // A $ that starts no variable is text.
    assert_eq!(render("$ $x $context.requestId", &r).split(' ').count(), 3);
}

#[test]
fn domain_prefix_and_ipv6() {
    let t = trace();
    let mut r = record(&t);
    r.source_ip = "2001:db8::1".parse().unwrap();
    r.domain_name = Some(b"api.example.com:8080");
    assert_eq!(
        render(
            "$context.requestId $context.identity.sourceIp $context.domainPrefix $context.dataProcessed",
            &r
        ),
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef 2001:db8::1 api 250\n"
    );
    r.domain_name = None;
    r.trace = None;
    r.stage = None;
    assert_eq!(
        render(
            "$context.requestId $context.domainName $context.domainPrefix $context.xrayTraceId $context.stage",
            &r
        ),
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef - - - -\n"
    );
}

#[test]
fn rendering_reuses_the_callers_buffer() {
    let t = trace();
    let r = record(&t);
    let f = Format::compile("json", Protocol::Rest).unwrap();
    let mut out = Vec::with_capacity(4096);
    let cap = out.capacity();
    for _ in 0..10 {
        out.clear();
        f.render(&mut out, &r);
    }
    assert_eq!(out.capacity(), cap);
}

#[test]
fn iam_caller_identity_variables() {
    let t = trace();
    let mut r = record(&t);
    let spec = "$context.identity.userArn $context.identity.caller $context.identity.user $context.identity.accessKey $context.identity.accountId $context.requestId";
    assert_eq!(
        render(spec, &r),
        "- - - - - c6af9ac6-7b61-11e6-9a41-93e8deadbeef\n"
    );
    r.caller = Some(Caller {
        user_arn: "arn:aws:iam::123456789012:user/alice",
        access_key: "AKIAALICE0EXAMPLE0",
        account_id: "123456789012",
    });
    assert_eq!(
        render(spec, &r),
        "arn:aws:iam::123456789012:user/alice arn:aws:iam::123456789012:user/alice arn:aws:iam::123456789012:user/alice AKIAALICE0EXAMPLE0 123456789012 c6af9ac6-7b61-11e6-9a41-93e8deadbeef\n"
    );
}

#[test]
fn authorizer_variables_come_from_the_identity() {
    let t = trace();
    let id = crate::auth::Identity {
        kind: crate::auth::IdentityKind::Jwt,
        principal_id: Some("user-1".into()),
        claims: vec![
            ("email".into(), "\"a@example.com\"".into()),
            ("n".into(), "7".into()),
            ("cognito:groups".into(), "\"admins\"".into()),
        ],
        ..Default::default()
    };
    let mut r = record(&t);
    r.authorizer = Some(&id);
    let spec = r#"{"id":"$context.requestId","p":"$context.authorizer.principalId","e":"$context.authorizer.claims.email","j":"$context.authorizer.jwt.claims.email","n":$context.authorizer.claims.n,"g":"$context.authorizer.claims.cognito:groups","x":"$context.authorizer.claims.none","err":"$context.authorizer.error"}"#;
    let line = render(spec, &r);
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["p"], "user-1");
    assert_eq!(v["e"], "a@example.com");
    assert_eq!(v["j"], "a@example.com");
    assert_eq!(v["n"], 7);
    assert_eq!(v["g"], "admins");
    assert_eq!(v["x"], "-");
    assert_eq!(v["err"], "-");
    r.authorizer = None;
    r.authorizer_error = Some("the token has expired");
    let v: serde_json::Value = serde_json::from_str(render(spec, &r).trim_end()).unwrap();
    assert_eq!(v["err"], "the token has expired");
    assert_eq!(v["p"], "-");
    assert_eq!(v["n"], serde_json::Value::Null);
}
