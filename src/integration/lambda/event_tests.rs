//! Events for a matrix of requests, compared with golden files under
//! `tests/fixtures/lambda/` (run with `TOLLGATE_BLESS=1` to rewrite them
//! after a deliberate change, then read the diff), and with the field lists
//! of API Gateway's developer guide, null versus absent included.

use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::proto::http1::{HeadLimits, RequestHead, parse_request};

/// 2020-03-12T19:03:58.390Z
const TIME_MS: u64 = 1_584_039_838_390;

struct Case {
    raw: &'static [u8],
    /// Where the path after the stage starts.
    rest_start: usize,
    version: PayloadVersion,
    rest: bool,
    route_key: &'static str,
    resource: &'static str,
    params: &'static [(&'static str, &'static str)],
    stage: &'static str,
    stage_variables: &'static [(&'static str, &'static str)],
    binary_media_types: &'static [&'static str],
    authorizer: Authorizer<'static>,
    identity: Option<Identity<'static>>,
}

impl Case {
    fn base(raw: &'static [u8], version: PayloadVersion, rest: bool) -> Case {
        Case {
            raw,
            rest_start: 0,
            version,
            rest,
            route_key: "$default",
            resource: "$default",
            params: &[],
            stage: "$default",
            stage_variables: &[],
            binary_media_types: &[],
            authorizer: Authorizer::None,
            identity: None,
        }
    }
}

fn event(c: &Case) -> (Vec<u8>, Value) {
    let mut head = RequestHead::default();
    let n = parse_request(c.raw, &HeadLimits::default(), &mut head)
        .unwrap()
        .expect("a complete head");
    let mut params = Params::default();
    for (k, v) in c.params {
        params.push(k, v.as_bytes());
    }
    let vars: Vec<(String, String)> = c
        .stage_variables
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let types: Vec<String> = c.binary_media_types.iter().map(|s| s.to_string()).collect();
    let method = std::str::from_utf8(head.method_span.get(c.raw)).unwrap();
    let req = Request {
        method,
        path: head.path.get(c.raw),
        rest_start: c.rest_start,
        query: head.query.get(c.raw),
        head: c.raw,
        headers: &head.headers,
        protocol: head.version.as_str(),
        source_ip: "203.0.113.9".parse().unwrap(),
        port: 8080,
        body: &c.raw[n..],
    };
    let (request_id, extended) = if c.rest {
        ("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "BQGojGkyoAMFZ4A=")
    } else {
        ("JKJaXmPLvHcESHA=", "JKJaXmPLvHcESHA=")
    };
    let ctx = Context {
        version: c.version,
        rest: c.rest,
        route_key: c.route_key,
        resource: c.resource,
        params: &params,
        stage: c.stage,
        stage_variables: &vars,
        request_id,
        extended_request_id: extended,
        api_id: "a1b2c3d4e5",
        account_id: "123456789012",
        time_ms: TIME_MS,
        binary_media_types: &types,
        authorizer: c.authorizer,
        identity: c.identity,
    };
    let mut out = Vec::new();
    let mut scratch = Scratch::default();
    write(&mut out, &req, &ctx, &mut scratch);
    // Writing again into a used scratch gives the same bytes.
    let mut again = Vec::new();
    write(&mut again, &req, &ctx, &mut scratch);
    assert_eq!(out, again);
    assert_no_duplicate_keys(&out);
    let value: Value = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
    (out, value)
}

/// JSON objects with a repeated member name parse (the last wins), so
/// `Value` equality alone would not notice one.
fn assert_no_duplicate_keys(json: &[u8]) {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                assert!(seen.insert(k.clone()), "duplicate key {k:?}");
                m.next_value_seed(Check)?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            while s.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut d = serde_json::Deserializer::from_slice(json);
    Check.deserialize(&mut d).unwrap();
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lambda")
        .join(format!("{name}.json"))
}

/// Compare with (or, under `TOLLGATE_BLESS=1`, write) the golden file.
fn golden(name: &str, c: &Case) -> Value {
    let (_, value) = event(c);
    let path = fixture(name);
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = serde_json::to_string_pretty(&value).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (TOLLGATE_BLESS=1 writes it)", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value,
        expected,
        "{name} differs from {}:\n{}",
        path.display(),
        serde_json::to_string_pretty(&value).unwrap()
    );
    value
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(|s| s.as_str())
        .collect();
    k.sort_unstable();
    k
}

fn sorted<'a>(list: &[&'a str]) -> Vec<&'a str> {
    let mut l = list.to_vec();
    l.sort_unstable();
    l
}

const FULL: &[u8] = b"POST /prod/pets/7/toys?color=red&color=blue&size=L&q=a%20b&flag HTTP/1.1\r\n\
Host: a1b2c3d4e5.execute-api.us-east-1.amazonaws.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: text/html\r\n\
accept: application/json\r\n\
X-Multi: one\r\n\
X-Multi: two, three\r\n\
Cookie: session=abc; theme=dark\r\n\
Cookie: lang=en\r\n\
X-Forwarded-For: 198.51.100.1\r\n\
Connection: keep-alive\r\n\
Content-Type: application/json\r\n\
Content-Length: 16\r\n\
\r\n\
{\"toy\":\"ball\\n\"}";

fn full(version: PayloadVersion, rest: bool) -> Case {
    Case {
        rest_start: 5,
        route_key: "POST /pets/{id}/toys",
        resource: "/pets/{id}/toys",
        params: &[("id", "7")],
        stage: "prod",
        stage_variables: &[("tableName", "pets-prod"), ("region", "us-east-1")],
        ..Case::base(FULL, version, rest)
    }
}

// 1.0 REST: the field list of set-up-lambda-proxy-integrations.
const V1_REST_TOP: &[&str] = &[
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
];
const V1_CONTEXT: &[&str] = &[
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "extendedRequestId",
    "httpMethod",
    "identity",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "resourceId",
    "resourcePath",
    "stage",
];
const V1_IDENTITY_HTTP: &[&str] = &[
    "accessKey",
    "accountId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
];
// 2.0: the field list of http-api-develop-integrations-lambda.
const V2_TOP: &[&str] = &[
    "version",
    "routeKey",
    "rawPath",
    "rawQueryString",
    "cookies",
    "headers",
    "queryStringParameters",
    "requestContext",
    "body",
    "pathParameters",
    "isBase64Encoded",
    "stageVariables",
];
const V2_CONTEXT: &[&str] = &[
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "http",
    "requestId",
    "routeKey",
    "stage",
    "time",
    "timeEpoch",
];
const V2_HTTP: &[&str] = &["method", "path", "protocol", "sourceIp", "userAgent"];

#[test]
fn v1_rest_full() {
    let v = golden("v1-rest-full", &full(PayloadVersion::V1, true));
    assert_eq!(keys(&v), sorted(V1_REST_TOP));
    assert_eq!(keys(&v["requestContext"]), sorted(V1_CONTEXT));
    let mut identity = V1_IDENTITY_HTTP.to_vec();
    identity.extend(["apiKey", "apiKeyId"]);
    assert_eq!(keys(&v["requestContext"]["identity"]), sorted(&identity));
    // REST: `path` without the stage, `requestContext.path` with it.
    assert_eq!(v["path"], "/pets/7/toys");
    assert_eq!(v["requestContext"]["path"], "/prod/pets/7/toys");
    assert_eq!(v["resource"], "/pets/{id}/toys");
    assert_eq!(v["requestContext"]["resourcePath"], "/pets/{id}/toys");
    assert_eq!(
        v["requestContext"]["requestTime"],
        "12/Mar/2020:19:03:58 +0000"
    );
    assert_eq!(v["requestContext"]["requestTimeEpoch"], TIME_MS);
    // Repeated headers: grouped case-insensitively, first spelling, last value.
    assert_eq!(v["headers"]["Accept"], "application/json");
    assert_eq!(
        v["multiValueHeaders"]["Accept"],
        serde_json::json!(["text/html", "application/json"])
    );
    assert_eq!(
        v["multiValueHeaders"]["X-Multi"],
        serde_json::json!(["one", "two, three"])
    );
    assert_eq!(v["headers"]["Cookie"], "lang=en");
    assert!(v["headers"].get("Connection").is_none());
    assert_eq!(v["headers"]["X-Forwarded-For"], "198.51.100.1, 203.0.113.9");
    // Query: last value, and all values; decoded; a bare name is "".
    assert_eq!(v["queryStringParameters"]["color"], "blue");
    assert_eq!(
        v["multiValueQueryStringParameters"]["color"],
        serde_json::json!(["red", "blue"])
    );
    assert_eq!(v["queryStringParameters"]["q"], "a b");
    assert_eq!(v["queryStringParameters"]["flag"], "");
    assert_eq!(v["body"], "{\"toy\":\"ball\\n\"}");
    assert_eq!(v["isBase64Encoded"], false);
    assert!(v.get("version").is_none());
    assert!(v["requestContext"].get("authorizer").is_none());
}

#[test]
fn v1_http_full() {
    let v = golden("v1-http-full", &full(PayloadVersion::V1, false));
    let mut top = V1_REST_TOP.to_vec();
    top.push("version");
    assert_eq!(keys(&v), sorted(&top));
    let mut ctx = V1_CONTEXT.to_vec();
    ctx.push("authorizer");
    assert_eq!(keys(&v["requestContext"]), sorted(&ctx));
    assert_eq!(
        keys(&v["requestContext"]["identity"]),
        sorted(V1_IDENTITY_HTTP)
    );
    assert_eq!(v["version"], "1.0");
    // HTTP APIs: the whole path, stage included.
    assert_eq!(v["path"], "/prod/pets/7/toys");
    assert_eq!(v["requestContext"]["resourceId"], Value::Null);
    assert_eq!(
        v["requestContext"]["authorizer"],
        serde_json::json!({"claims": null, "scopes": null})
    );
}

#[test]
fn v2_http_full() {
    let v = golden("v2-http-full", &full(PayloadVersion::V2, false));
    assert_eq!(keys(&v), sorted(V2_TOP));
    assert_eq!(keys(&v["requestContext"]), sorted(V2_CONTEXT));
    assert_eq!(keys(&v["requestContext"]["http"]), sorted(V2_HTTP));
    assert_eq!(v["rawPath"], "/prod/pets/7/toys");
    assert_eq!(
        v["rawQueryString"],
        "color=red&color=blue&size=L&q=a%20b&flag"
    );
    assert_eq!(
        v["cookies"],
        serde_json::json!(["session=abc", "theme=dark", "lang=en"])
    );
    assert!(v["headers"].get("cookie").is_none());
    assert_eq!(v["headers"]["accept"], "text/html,application/json");
    assert_eq!(v["headers"]["x-multi"], "one,two, three");
    assert_eq!(v["headers"]["x-forwarded-port"], "8080");
    assert_eq!(v["queryStringParameters"]["color"], "red,blue");
    assert_eq!(v["pathParameters"], serde_json::json!({"id": "7"}));
    assert_eq!(
        v["stageVariables"],
        serde_json::json!({"tableName": "pets-prod", "region": "us-east-1"})
    );
    assert_eq!(v["requestContext"]["time"], "12/Mar/2020:19:03:58 +0000");
    assert_eq!(v["requestContext"]["http"]["sourceIp"], "203.0.113.9");
    assert_eq!(v["requestContext"]["http"]["userAgent"], "curl/8.5.0");
    assert_eq!(v["requestContext"]["domainPrefix"], "a1b2c3d4e5");
    assert_eq!(v["requestContext"]["routeKey"], "POST /pets/{id}/toys");
}

const BARE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn v1_rest_bare_has_nulls() {
    let v = golden("v1-rest-bare", &Case::base(BARE, PayloadVersion::V1, true));
    assert_eq!(keys(&v), sorted(V1_REST_TOP));
    for k in [
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "body",
    ] {
        assert_eq!(v[k], Value::Null, "{k}");
    }
    assert_eq!(v["requestContext"]["identity"]["userAgent"], Value::Null);
    assert_eq!(v["path"], "/");
}

#[test]
fn v2_bare_leaves_fields_out() {
    let v = golden("v2-http-bare", &Case::base(BARE, PayloadVersion::V2, false));
    let present: Vec<&str> = V2_TOP
        .iter()
        .copied()
        .filter(|k| {
            ![
                "cookies",
                "queryStringParameters",
                "body",
                "pathParameters",
                "stageVariables",
            ]
            .contains(k)
        })
        .collect();
    assert_eq!(keys(&v), sorted(&present));
    assert_eq!(v["rawQueryString"], "");
    assert_eq!(v["requestContext"]["http"]["userAgent"], "");
    assert_eq!(v["isBase64Encoded"], false);
}

const PNG: &[u8] = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Type: image/png\r\nContent-Length: 6\r\n\r\n\x89PNG\x00\xff";

#[test]
fn binary_bodies_are_base64() {
    let case = Case {
        binary_media_types: &["image/*"],
        ..Case::base(PNG, PayloadVersion::V2, false)
    };
    let v = golden("v2-http-binary", &case);
    assert_eq!(v["isBase64Encoded"], true);
    assert_eq!(v["body"], "iVBORwD/");
    let v1 = event(&Case {
        binary_media_types: &["image/png"],
        ..Case::base(PNG, PayloadVersion::V1, true)
    })
    .1;
    assert_eq!(v1["isBase64Encoded"], true);
    assert_eq!(v1["body"], "iVBORwD/");
}

#[test]
fn text_bodies_of_binary_types_are_base64_too() {
    let raw: &[u8] = b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Type: application/octet-stream; x=1\r\nContent-Length: 2\r\n\r\nhi";
    let v = event(&Case {
        binary_media_types: &["application/octet-stream"],
        ..Case::base(raw, PayloadVersion::V2, false)
    })
    .1;
    assert_eq!(v["body"], "aGk=");
    // Not listed: text.
    let v = event(&Case::base(raw, PayloadVersion::V2, false)).1;
    assert_eq!(v["body"], "hi");
    assert_eq!(v["isBase64Encoded"], false);
}

#[test]
fn invalid_utf8_bodies_are_base64_whatever_the_type() {
    let raw: &[u8] = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n\xc3\x28";
    let v = event(&Case::base(raw, PayloadVersion::V1, false)).1;
    assert_eq!(v["isBase64Encoded"], true);
    assert_eq!(v["body"], "wyg=");
}

#[test]
fn media_type_patterns() {
    assert!(media_matches(b"*/*", b"text/plain"));
    assert!(media_matches(b"image/*", b"image/png"));
    assert!(media_matches(b"image/*", b"IMAGE/PNG"));
    assert!(!media_matches(b"image/*", b"imagex/png"));
    assert!(!media_matches(b"image/*", b"image"));
    assert!(media_matches(b"application/pdf", b"Application/PDF"));
    assert!(!media_matches(b"application/pdf", b"application/pdfx"));
}

#[test]
fn authorizer_contexts() {
    let claims: &'static [(&str, &str)] = &[("sub", "\"u-1\""), ("email", "\"a@example.com\"")];
    let scopes: &'static [&str] = &["read", "write"];
    let v = golden(
        "v2-http-jwt",
        &Case {
            authorizer: Authorizer::Jwt {
                claims,
                scopes: Some(scopes),
            },
            ..Case::base(BARE, PayloadVersion::V2, false)
        },
    );
    let mut ctx = V2_CONTEXT.to_vec();
    ctx.push("authorizer");
    assert_eq!(keys(&v["requestContext"]), sorted(&ctx));
    assert_eq!(
        v["requestContext"]["authorizer"],
        serde_json::json!({"jwt": {"claims": {"sub": "u-1", "email": "a@example.com"}, "scopes": ["read", "write"]}})
    );

    let context: &'static [(&str, &str)] = &[("user", "\"alice\""), ("tier", "3"), ("ok", "true")];
    let v = event(&Case {
        authorizer: Authorizer::Lambda {
            principal_id: None,
            context,
        },
        ..Case::base(BARE, PayloadVersion::V2, false)
    })
    .1;
    assert_eq!(
        v["requestContext"]["authorizer"],
        serde_json::json!({"lambda": {"user": "alice", "tier": 3, "ok": true}})
    );

    let v = golden(
        "v1-rest-lambda-authorizer",
        &Case {
            authorizer: Authorizer::Lambda {
                principal_id: Some("user|a1"),
                context,
            },
            ..Case::base(BARE, PayloadVersion::V1, true)
        },
    );
    assert_eq!(
        v["requestContext"]["authorizer"],
        serde_json::json!({"user": "alice", "tier": 3, "ok": true, "principalId": "user|a1"})
    );

    let v = event(&Case {
        authorizer: Authorizer::Jwt {
            claims,
            scopes: None,
        },
        ..Case::base(BARE, PayloadVersion::V1, false)
    })
    .1;
    assert_eq!(
        v["requestContext"]["authorizer"],
        serde_json::json!({"claims": {"sub": "u-1", "email": "a@example.com"}, "scopes": null})
    );
}

#[test]
fn paths_and_queries_are_decoded() {
    let raw: &[u8] = b"GET /files/a%20b/caf%C3%A9/%FF?n%61me=v%2Bw+x&utf=%E2%9C%93&bad=%zz HTTP/1.1\r\nHost: h\r\n\r\n";
    let v = event(&Case {
        params: &[("proxy", "a b/caf\u{e9}/%FF")],
        ..Case::base(raw, PayloadVersion::V2, false)
    })
    .1;
    // Not UTF-8 once decoded: the raw text stays.
    assert_eq!(v["rawPath"], "/files/a%20b/caf%C3%A9/%FF");
    assert_eq!(v["rawQueryString"], "n%61me=v%2Bw+x&utf=%E2%9C%93&bad=%zz");
    assert_eq!(v["queryStringParameters"]["name"], "v+w+x");
    assert_eq!(v["queryStringParameters"]["utf"], "\u{2713}");
    assert_eq!(v["queryStringParameters"]["bad"], "%zz");
    let raw: &[u8] = b"GET /files/a%20b HTTP/1.1\r\nHost: h\r\n\r\n";
    let v = event(&Case::base(raw, PayloadVersion::V2, false)).1;
    assert_eq!(v["rawPath"], "/files/a b");
    assert_eq!(v["requestContext"]["http"]["path"], "/files/a b");
}

#[test]
fn many_query_parameters_keep_first_occurrence_order() {
    let mut q = String::new();
    for i in 0..300 {
        q.push_str(&format!("k{}={i}&", i % 7));
    }
    let raw = format!("GET /?{q} HTTP/1.1\r\nHost: h\r\n\r\n");
    let raw: &'static [u8] = Box::leak(raw.into_bytes().into_boxed_slice());
    let (bytes, v) = event(&Case::base(raw, PayloadVersion::V1, false));
    let text = String::from_utf8(bytes).unwrap();
    let qsp = text.find("\"queryStringParameters\":{").unwrap();
    let order: Vec<usize> = (0..7)
        .map(|k| text[qsp..].find(&format!("\"k{k}\"")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(
        v["multiValueQueryStringParameters"]["k3"]
            .as_array()
            .unwrap()
            .len(),
        43
    );
    assert_eq!(v["queryStringParameters"]["k3"], "297");
}

#[test]
fn header_values_that_are_not_utf8_stay_json() {
    let raw: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nX-Bin: a\xffb\r\nX-Q: say \"hi\"\\\r\n\r\n";
    for version in [PayloadVersion::V1, PayloadVersion::V2] {
        let v = event(&Case::base(raw, version, false)).1;
        let h = &v["headers"];
        let bin = h.get("X-Bin").or(h.get("x-bin")).unwrap();
        assert_eq!(bin, "a\u{fffd}b");
        let q = h.get("X-Q").or(h.get("x-q")).unwrap();
        assert_eq!(q, "say \"hi\"\\");
    }
}

#[test]
fn v1_key_order_follows_the_guide() {
    let (bytes, _) = event(&full(PayloadVersion::V1, true));
    let text = String::from_utf8(bytes).unwrap();
    let pos = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    let top: Vec<usize> = V1_REST_TOP.iter().map(|k| pos(k)).collect();
    assert!(top.windows(2).all(|w| w[0] < w[1]), "{text}");
}

/// Builds one typical event `TOLLGATE_EVENT_N` times (default 0); bench/lambda.sh
/// runs it under callgrind with N = 0 and N = 20000 and divides the
/// difference in instructions by N.
#[test]
#[ignore = "run by bench/lambda.sh under callgrind"]
fn event_build_cost() {
    let n: usize = std::env::var("TOLLGATE_EVENT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let raw: &[u8] = b"GET /prod/pets/7?verbose=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
    let mut head = RequestHead::default();
    parse_request(raw, &HeadLimits::default(), &mut head)
        .unwrap()
        .unwrap();
    let mut params = Params::default();
    params.push("id", b"7");
    let req = Request {
        method: "GET",
        path: head.path.get(raw),
        rest_start: 5,
        query: head.query.get(raw),
        head: raw,
        headers: &head.headers,
        protocol: "HTTP/1.1",
        source_ip: "127.0.0.1".parse().unwrap(),
        port: 8090,
        body: b"",
    };
    let ctx = Context {
        version: PayloadVersion::V2,
        rest: false,
        route_key: "GET /pets/{id}",
        resource: "/pets/{id}",
        params: &params,
        stage: "prod",
        stage_variables: &[],
        request_id: "JKJaXmPLvHcESHA=",
        extended_request_id: "JKJaXmPLvHcESHA=",
        api_id: "bench",
        account_id: "123456789012",
        time_ms: TIME_MS,
        binary_media_types: &[],
        authorizer: Authorizer::None,
        identity: None,
    };
    let mut out = Vec::with_capacity(4096);
    let mut scratch = Scratch::default();
    for _ in 0..n {
        out.clear();
        write(&mut out, std::hint::black_box(&req), &ctx, &mut scratch);
        std::hint::black_box(&out);
    }
    println!("built {n} events of {} bytes", out.len());
}

#[test]
fn iam_caller_reaches_identity_and_authorizer_iam() {
    let who = Identity {
        access_key: "AKIAALICE0EXAMPLE0",
        account_id: "123456789012",
        user_arn: "arn:aws:iam::123456789012:user/alice",
    };
    let raw: &[u8] = b"GET /prod/x HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
    let mut c = Case::base(raw, PayloadVersion::V1, true);
    c.identity = Some(who);
    let (_, v) = event(&c);
    let id = &v["requestContext"]["identity"];
    assert_eq!(id["accessKey"], "AKIAALICE0EXAMPLE0");
    assert_eq!(id["accountId"], "123456789012");
    assert_eq!(id["caller"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(id["user"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(id["userArn"], "arn:aws:iam::123456789012:user/alice");
    let mut c = Case::base(raw, PayloadVersion::V2, false);
    c.identity = Some(who);
    let (_, v) = event(&c);
    let iam = &v["requestContext"]["authorizer"]["iam"];
    assert_eq!(iam["accessKey"], "AKIAALICE0EXAMPLE0");
    assert_eq!(iam["userArn"], "arn:aws:iam::123456789012:user/alice");
    assert_eq!(iam["cognitoIdentity"], Value::Null);
}
