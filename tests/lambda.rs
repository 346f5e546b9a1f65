//! Lambda proxy integration, black-box: the built gateway in front of a
//! function server that serves the Lambda Invoke API
//! (`POST /2015-03-31/functions/{name}/invocations`) and answers what each
//! test asks, and in front of a Python handler written the way AWS
//! documents them (`def handler(event, context)`, tests/lambda_runtime/).
//!
//! Events that reach the function are compared with golden files
//! (tests/fixtures/lambda/e2e-*.json; `TOLLGATE_BLESS=1` rewrites them), the
//! few fields that change per run (request ids, times, the listener port)
//! masked.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, Gateway, Received, Reply, connect, get, read_response, send_raw};
use serde_json::{Value, json};

/// A 200 Invoke answer carrying the function's `result`.
fn answer(result: &str) -> Reply {
    Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: result.as_bytes().to_vec(),
    }
}

/// A function server that always answers `result`.
fn function(result: &'static str) -> Backend {
    Backend::start(move |_| answer(result))
}

/// The event the function server received last.
fn event(fs: &Backend) -> Value {
    let r = fs.last();
    assert_eq!(r.method, "POST");
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

/// One HTTP API (stage `prod`) and one REST API (stage `v1`), every path to
/// a lambda route on `fs`.
fn gateway(fs: &Backend, http_payload: &str) -> Gateway {
    Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages:
      - name: prod
        variables: {{tableName: pets-prod, region: us-east-1}}
    binary_media_types: ["image/*"]
    routes:
      - route: POST /pets/{{id}}/toys
        integration: {{type: lambda, uri: "http://{fs}", function: shop-fn, payload_format_version: "{http_payload}"}}
      - route: ANY /{{proxy+}}
        integration: {{type: lambda, uri: "http://{fs}", function: shop-fn, payload_format_version: "{http_payload}"}}
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - route: POST /pets/{{id}}/toys
        integration: {{type: lambda, uri: "http://{fs}", function: "arn:aws:lambda:us-east-1:123456789012:function:legacy"}}
      - route: ANY /{{proxy+}}
        integration: {{type: lambda, uri: "http://{fs}", function: legacy, timeout_ms: 500}}
"#,
        fs = fs.addr
    ))
}

const FULL: &str = "POST /STAGE/pets/7/toys?color=red&color=blue&size=L&q=a%20b&flag HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: text/html\r\n\
accept: application/json\r\n\
X-Multi: one\r\n\
X-Multi: two, three\r\n\
Cookie: session=abc; theme=dark\r\n\
Cookie: lang=en\r\n\
X-Forwarded-For: 198.51.100.1\r\n\
Content-Type: application/json\r\n\
Content-Length: 16\r\n\
Connection: close\r\n\
\r\n\
{\"toy\":\"ball\\n\"}";

/// Replace what changes from run to run.
fn mask(mut v: Value) -> Value {
    let ctx = v["requestContext"].as_object_mut().unwrap();
    for k in [
        "requestId",
        "extendedRequestId",
        "requestTime",
        "requestTimeEpoch",
        "time",
        "timeEpoch",
    ] {
        if ctx.contains_key(k) {
            ctx.insert(k.into(), json!("<varies>"));
        }
    }
    for h in ["headers", "multiValueHeaders"] {
        if let Some(map) = v.get_mut(h).and_then(Value::as_object_mut) {
            for (k, val) in map.iter_mut() {
                if k.eq_ignore_ascii_case("x-forwarded-port") {
                    *val = if val.is_array() {
                        json!(["<port>"])
                    } else {
                        json!("<port>")
                    };
                }
            }
        }
    }
    v
}

fn golden(name: &str, value: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lambda")
        .join(format!("{name}.json"));
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        let mut text = serde_json::to_string_pretty(value).unwrap();
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (TOLLGATE_BLESS=1 writes it)", path.display())),
    )
    .unwrap();
    assert_eq!(
        value,
        &expected,
        "{name}:\n{}",
        serde_json::to_string_pretty(value).unwrap()
    );
}

#[test]
fn v2_event_through_the_gateway_matches_golden() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = gateway(&fs, "2.0");
    let r = send_raw(gw.addr(), FULL.replace("STAGE", "prod").as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "ok");
    let received = fs.last();
    assert_eq!(received.target, "/2015-03-31/functions/shop-fn/invocations");
    let v = event(&fs);
    golden("e2e-v2-http", &mask(v.clone()));
    assert!(
        v["requestContext"]["requestId"]
            .as_str()
            .is_some_and(|id| Some(id) == r.header("apigw-requestid"))
    );
    assert!(v["requestContext"]["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);
}

#[test]
fn v1_http_api_event_matches_golden() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = gateway(&fs, "1.0");
    let r = send_raw(gw.addr(), FULL.replace("STAGE", "prod").as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    golden("e2e-v1-http", &mask(event(&fs)));
}

#[test]
fn v1_rest_event_matches_golden() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = gateway(&fs, "2.0");
    let r = send_raw(gw.addr(), FULL.replace("STAGE", "v1").as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    // A REST answer without Content-Type gets application/json.
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        fs.last().target,
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Alegacy/invocations"
    );
    let v = event(&fs);
    golden("e2e-v1-rest", &mask(v.clone()));
    // REST: `path` without the stage; the request id is the x-amzn-RequestId.
    assert_eq!(v["path"], "/pets/7/toys");
    assert_eq!(v["requestContext"]["path"], "/v1/pets/7/toys");
    assert_eq!(
        v["requestContext"]["requestId"].as_str(),
        r.header("x-amzn-RequestId")
    );
    assert_eq!(
        v["requestContext"]["extendedRequestId"].as_str(),
        r.header("x-amz-apigw-id")
    );
}

#[test]
fn binary_request_bodies_arrive_base64() {
    let fs = function(r#"{"statusCode":204}"#);
    let gw = gateway(&fs, "2.0");
    let mut req = b"PUT /prod/upload HTTP/1.1\r\nHost: h\r\nContent-Type: image/png\r\nContent-Length: 6\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(b"\x89PNG\x00\xff");
    let r = send_raw(gw.addr(), &req);
    assert_eq!(r.status, 204);
    let v = event(&fs);
    assert_eq!(v["isBase64Encoded"], true);
    assert_eq!(v["body"], "iVBORwD/");
    assert_eq!(v["routeKey"], "ANY /{proxy+}");
    assert_eq!(v["pathParameters"], json!({"proxy": "upload"}));
}

#[test]
fn chunked_request_bodies_are_collected() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = gateway(&fs, "2.0");
    let r = send_raw(
        gw.addr(),
        b"POST /prod/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let v = event(&fs);
    assert_eq!(v["body"], "hello world");
    assert_eq!(v["isBase64Encoded"], false);
}

#[test]
fn v1_answers_with_multi_value_headers_and_base64_bodies() {
    let fs = function(
        r#"{"statusCode":201,"headers":{"X-One":"1","Content-Type":"image/png","Server":"fn"},"multiValueHeaders":{"X-Many":["a","b"]},"body":"iVBORwD/","isBase64Encoded":true}"#,
    );
    let gw = gateway(&fs, "1.0");
    let r = send_raw(
        gw.addr(),
        b"GET /v1/img HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"\x89PNG\x00\xff");
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.header("content-type"), Some("image/png"));
    let many: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-many"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(many, ["a", "b"]);
    // REST remaps the function's Server header, as for HTTP proxies.
    assert_eq!(r.header("x-amzn-Remapped-Server"), Some("fn"));
}

#[test]
fn v2_cookies_become_set_cookie_fields() {
    let fs = function(
        r#"{"statusCode":200,"cookies":["a=1; Path=/","b=2; HttpOnly"],"headers":{"content-type":"text/plain"},"body":"hi"}"#,
    );
    let gw = gateway(&fs, "2.0");
    let r = get(gw.addr(), "/prod/c");
    assert_eq!(r.status, 200);
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; HttpOnly"]);
    assert_eq!(r.text(), "hi");
}

#[test]
fn v2_json_without_status_code_is_a_200_json_body() {
    let fs = function(r#"{"message":"Hello from Lambda!"}"#);
    let gw = gateway(&fs, "2.0");
    let r = get(gw.addr(), "/prod/x");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"message":"Hello from Lambda!"}"#);
    // A JSON string: its value.
    let fs = function(r#""Hello from Lambda!""#);
    let gw = gateway(&fs, "2.0");
    assert_eq!(get(gw.addr(), "/prod/x").text(), "Hello from Lambda!");
}

#[test]
fn malformed_answers_are_integration_failures() {
    for bad in [
        "not json",
        r#"{"statusCode":200,"extra":1}"#,
        r#"{"statusCode":200,"body":{"a":1}}"#,
        r#"{"statusCode":99}"#,
        r#"{"statusCode":200,"headers":{"x":"a\r\nb: c"}}"#,
        r#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
    ] {
        let fs = Backend::start(move |_| answer(bad));
        let gw = gateway(&fs, "1.0");
        let r = get(gw.addr(), "/v1/x");
        assert_eq!(r.status, 502, "{bad}");
        assert_eq!(r.text(), r#"{"message":"Internal server error"}"#, "{bad}");
        assert_eq!(
            r.header("x-amzn-ErrorType"),
            Some("InternalServerErrorException")
        );
        let r = get(gw.addr(), "/prod/x");
        assert_eq!(r.status, 500, "{bad}");
        assert_eq!(r.text(), r#"{"message":"Internal Server Error"}"#, "{bad}");
        assert_eq!(r.header("x-amzn-ErrorType"), None);
    }
}

#[test]
fn function_errors_are_integration_failures() {
    let fs = Backend::start(|_| Reply::Full {
        status: 200,
        headers: vec![("X-Amz-Function-Error".into(), "Unhandled".into())],
        body: br#"{"errorMessage":"boom","errorType":"Error"}"#.to_vec(),
    });
    let gw = gateway(&fs, "2.0");
    let r = get(gw.addr(), "/v1/x");
    assert_eq!(r.status, 502);
    assert_eq!(r.text(), r#"{"message":"Internal server error"}"#);
    let r = get(gw.addr(), "/prod/x");
    assert_eq!(r.status, 500);
}

#[test]
fn unknown_functions_are_configuration_errors() {
    let fs = Backend::start(|_| Reply::Full {
        status: 404,
        headers: vec![(
            "X-Amzn-ErrorType".into(),
            "ResourceNotFoundException".into(),
        )],
        body: br#"{"Type":"User","message":"Function not found"}"#.to_vec(),
    });
    let gw = gateway(&fs, "2.0");
    let r = get(gw.addr(), "/v1/x");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), r#"{"message":"Internal server error"}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("InternalServerErrorException")
    );
}

#[test]
fn slow_functions_time_out() {
    let fs = Backend::start(|_| Reply::Stall(Duration::from_secs(3)));
    let gw = gateway(&fs, "2.0");
    // The REST routes have timeout_ms: 500.
    let r = get(gw.addr(), "/v1/slow");
    assert_eq!(r.status, 504);
    assert_eq!(r.text(), r#"{"message":"Endpoint request timed out"}"#);
}

#[test]
fn an_unreachable_endpoint_is_an_integration_failure() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    routes:
      - route: $default
        integration: {{type: lambda, uri: "http://127.0.0.1:{port}", function: f}}
"#
    ));
    let r = get(gw.addr(), "/x");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), r#"{"message":"Internal Server Error"}"#);
}

#[test]
fn head_requests_get_the_length_without_the_body() {
    let fs = function(r#"{"statusCode":200,"body":"twelve bytes"}"#);
    let gw = gateway(&fs, "2.0");
    let r = send_raw(
        gw.addr(),
        b"HEAD /prod/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("12"));
    assert!(r.body.is_empty());
    assert_eq!(event(&fs)["requestContext"]["http"]["method"], "HEAD");
}

#[test]
fn invoke_connections_are_pooled() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = Gateway::start_with(
        &format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    routes:
      - route: $default
        integration: {{type: lambda, uri: "http://{}", function: f}}
"#,
            fs.addr
        ),
        &["--workers", "1"],
    );
    let mut s = connect(gw.addr());
    let mut buf = Vec::new();
    for i in 0..20 {
        s.write_all(format!("GET /n/{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "ok");
    }
    assert_eq!(fs.requests.load(std::sync::atomic::Ordering::Relaxed), 20);
    assert_eq!(fs.accepts.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn invoke_requests_are_sigv4_signed_with_configured_credentials() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    routes:
      - route: $default
        integration:
          type: lambda
          uri: "http://{}"
          function: "arn:aws:lambda:eu-west-1:123456789012:function:f"
          region: eu-west-1
          credentials:
            access_key_id: AKIDEXAMPLE
            secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
            session_token: TOKEN123
"#,
        fs.addr
    ));
    let r = get(gw.addr(), "/x");
    assert_eq!(r.status, 200);
    let received = fs.last();
    check_signature(&received, "eu-west-1", Some("TOKEN123"));
}

/// Recompute the signature of what the function server received (with the
/// signer that AWS's test vectors check) and compare.
fn check_signature(r: &Received, region: &str, token: Option<&str>) {
    use tollgate::auth::sigv4;
    let authz = r.header("authorization").expect("an Authorization header");
    let date = r.header("x-amz-date").expect("X-Amz-Date");
    assert_eq!(r.header("x-amz-security-token"), token);
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/{region}/lambda/aws4_request, SignedHeaders=",
        &date[..8]
    );
    assert!(authz.starts_with(&prefix), "{authz}");
    let host = r.header("host").unwrap();
    let mut signed = vec![("host", host), ("x-amz-date", date)];
    if let Some(t) = token {
        signed.push(("x-amz-security-token", t));
    }
    let hash = sigv4::payload_hash(&r.body);
    let req = sigv4::Request {
        method: "POST",
        path: r.target.as_bytes(),
        query: b"",
        headers: &signed,
        payload_sha256: hash.as_str(),
    };
    // The date header says which second was signed.
    let secs = {
        let d = |a: usize, b: usize| date[a..b].parse::<u64>().unwrap();
        let days = days_from_civil(d(0, 4) as i64, d(4, 6), d(6, 8));
        days * 86_400 + d(9, 11) * 3600 + d(11, 13) * 60 + d(13, 15)
    };
    let amz = sigv4::AmzDate::from_unix(secs);
    assert_eq!(amz.as_str(), date);
    let key = sigv4::signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        amz.date(),
        region,
        "lambda",
    );
    let mut expected = Vec::new();
    sigv4::authorization(
        &req,
        "AKIDEXAMPLE",
        &key,
        &amz,
        region,
        "lambda",
        &mut expected,
    )
    .unwrap();
    assert_eq!(authz, String::from_utf8(expected).unwrap());
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = (y - era * 400) as u64;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe as i64 - 719_468) as u64
}

#[test]
fn credentials_from_the_environment() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let config = common::temp_path("yaml");
    std::fs::write(
        &config,
        format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    routes:
      - route: $default
        integration: {{type: lambda, uri: "http://{}", function: f, credentials: env, region: us-west-2}}
"#,
            fs.addr
        ),
    )
    .unwrap();
    // The harness starts the binary itself; here the environment matters.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--workers",
            "1",
            "--no-admin",
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env_remove("AWS_SESSION_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(&mut child);
    let addr = listening_addr(guard.0);
    let r = get(addr, "/x");
    assert_eq!(r.status, 200, "{}", r.text());
    check_signature(&fs.last(), "us-west-2", None);
    drop(guard);
    let _ = std::fs::remove_file(config);
}

struct KillOnDrop<'a>(&'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn listening_addr(child: &mut Child) -> std::net::SocketAddr {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("tollgate: listening")))
        .expect("a listening line");
    let addr = line
        .split_whitespace()
        .last()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(Duration::from_millis(100));
    addr
}

#[test]
fn missing_environment_credentials_are_a_configuration_error() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let config = common::temp_path("yaml");
    std::fs::write(
        &config,
        format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    protocol: rest
    stages: [$default]
    routes:
      - route: $default
        integration: {{type: lambda, uri: "http://{}", function: f, credentials: env}}
"#,
            fs.addr
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args([
            "run",
            config.to_str().unwrap(),
            "--workers",
            "1",
            "--no-admin",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(&mut child);
    let addr = listening_addr(guard.0);
    let r = get(addr, "/x");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), r#"{"message":"Internal server error"}"#);
    assert_eq!(fs.requests.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(guard);
    let _ = std::fs::remove_file(config);
}

/// The Python handler harness: `invoke_server.py handler.handler`.
struct PythonFunction {
    child: Child,
    port: u16,
}

impl PythonFunction {
    fn start() -> PythonFunction {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lambda_runtime");
        let mut child = Command::new("python3")
            .arg("invoke_server.py")
            .arg("handler.handler")
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (the Python handler tests need it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("invoke_server.py said {line:?}"));
        PythonFunction { child, port }
    }
}

impl Drop for PythonFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_python_handler_answers_through_tollgate() {
    let py = PythonFunction::start();
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [prod]
    routes:
      - route: ANY /{{proxy+}}
        integration: {{type: lambda, uri: "http://127.0.0.1:{port}", function: shop-handler}}
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - route: ANY /{{proxy+}}
        integration: {{type: lambda, uri: "http://127.0.0.1:{port}", function: "arn:aws:lambda:us-east-1:123456789012:function:legacy"}}
"#,
        port = py.port
    ));
    for (stage, function) in [("prod", "shop-handler"), ("v1", "legacy")] {
        let r = get(gw.addr(), &format!("/{stage}/hello?name=Ann"));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["message"], "Hello, Ann!");
        assert_eq!(body["method"], "GET");
        assert!(body["function"].as_str().unwrap().ends_with(function));
        let id = r
            .header("apigw-requestid")
            .or(r.header("x-amzn-RequestId"))
            .unwrap();
        assert_eq!(body["requestId"], id);

        let r = send_raw(
            gw.addr(),
            format!("POST /{stage}/echo HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world").as_bytes(),
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.text(), "dlrow olleh");
        assert_eq!(r.header("x-echo-length"), Some("11"));

        let r = get(gw.addr(), &format!("/{stage}/binary"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, (0..=255u8).collect::<Vec<u8>>());

        let r = get(gw.addr(), &format!("/{stage}/multi"));
        let values: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-values"))
            .map(|(_, v)| v.as_str())
            .collect();
        if stage == "v1" {
            assert_eq!(values, ["one", "two"]);
        } else {
            // multiValueHeaders is not part of a 2.0 answer.
            assert_eq!(r.status, 500);
        }

        // An exception in the handler: Lambda's function error.
        let r = get(gw.addr(), &format!("/{stage}/boom"));
        assert_eq!(r.status, if stage == "v1" { 502 } else { 500 });
    }
    let r = get(gw.addr(), "/prod/cookies");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .count(),
        2
    );
    let r = get(gw.addr(), "/prod/plain");
    assert_eq!(r.text(), r#"{"items": [1, 2, 3]}"#);
    // 1.0 has no inferred answers: a dict without statusCode is malformed.
    let r = get(gw.addr(), "/v1/plain");
    assert_eq!(r.status, 502);
}

#[test]
fn stage_variables_reach_the_event_and_the_function_name() {
    let fs = function(r#"{"statusCode":200,"body":"ok"}"#);
    let gw = Gateway::start(&format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages:
      - name: prod
        variables: {{fn: orders-prod, color: blue}}
        canary: {{percent: 100, stage_variables: {{color: green}}}}
      - name: beta
        variables: {{fn: orders-beta}}
    routes:
      - route: $default
        integration: {{type: lambda, uri: "http://{}", function: "${{stageVariables.fn}}"}}
"#,
        fs.addr
    ));
    get(gw.addr(), "/beta/x");
    assert_eq!(
        fs.last().target,
        "/2015-03-31/functions/orders-beta/invocations"
    );
    assert_eq!(event(&fs)["stageVariables"], json!({"fn": "orders-beta"}));
    get(gw.addr(), "/prod/x");
    assert_eq!(
        fs.last().target,
        "/2015-03-31/functions/orders-prod/invocations"
    );
    // The canary (all of prod's requests) runs the same routes with its own variables.
    assert_eq!(
        event(&fs)["stageVariables"],
        json!({"fn": "orders-prod", "color": "green"})
    );
}

#[test]
fn the_config_checks_lambda_integrations() {
    let check = |yaml: &str| -> String {
        let path = common::temp_path("yaml");
        std::fs::write(&path, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["validate", path.to_str().unwrap()])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let base = |integration: &str, protocol: &str| {
        format!(
            "listeners: [{{name: main, address: 127.0.0.1:0}}]\napis:\n  - name: a\n    protocol: {protocol}\n    stages: [s]\n    routes:\n      - route: GET /x\n        integration: {integration}\n"
        )
    };
    let out = check(&base("{type: lambda, uri: \"http://127.0.0.1:9\"}", "http"));
    assert!(out.contains("needs a `function`"), "{out}");
    let out = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9/x\", function: f}",
        "http",
    ));
    assert!(out.contains("the endpoint only"), "{out}");
    let out = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9\", function: f, payload_format_version: \"2.0\"}",
        "rest",
    ));
    assert!(
        out.contains("REST APIs send Lambda payload format 1.0 only"),
        "{out}"
    );
    let out = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9\", function: f, payload_format_version: 3}",
        "http",
    ));
    assert!(out.contains("\"1.0\" or \"2.0\""), "{out}");
    let out = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9\", function: \"a b\"}",
        "http",
    ));
    assert!(out.contains("is not a function name"), "{out}");
    let out = check(&base("{type: mock, function: f}", "http"));
    assert!(
        out.contains("`function` does not apply to a mock integration"),
        "{out}"
    );
    let out = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9\", function: f, credentials: vault}",
        "http",
    ));
    assert!(out.contains("write `env`"), "{out}");
    // Unquoted versions read as numbers are fine.
    let ok = check(&base(
        "{type: lambda, uri: \"http://127.0.0.1:9\", function: f, payload_format_version: 1.0}",
        "http",
    ));
    assert!(!ok.contains("error") && !ok.contains(":8:"), "{ok}");
}
