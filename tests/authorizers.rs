//! Authorizers and CORS, black-box: the built gateway with a JWKS served
//! by a test HTTP server (keys generated per run with `openssl genpkey`,
//! tokens minted here with RSA and EC keys), Lambda-style authorizers as
//! HTTP endpoints that count their calls, and a function server behind a
//! Lambda integration that shows what reached it.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Backend, Gateway, Reply, send_raw, temp_path};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A private key made by `openssl genpkey` for this run.
struct Key {
    enc: EncodingKey,
    alg: Algorithm,
    kid: String,
}

impl Key {
    fn generate(alg: Algorithm, kid: &str) -> Key {
        let path = temp_path("pem");
        let args: &[&str] = match alg {
            Algorithm::ES256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Algorithm::ES384 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            _ => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        };
        let ok = std::process::Command::new("openssl")
            .arg("genpkey")
            .args(args)
            .arg("-out")
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl genpkey")
            .success();
        assert!(ok, "openssl genpkey failed");
        let pem = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let enc = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
        };
        Key {
            enc,
            alg,
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self) -> Jwk {
        let mut j = Jwk::from_encoding_key(&self.enc, self.alg).unwrap();
        j.common.key_id = Some(self.kid.clone());
        j
    }

    fn sign(&self, claims: &Value) -> String {
        let mut h = Header::new(self.alg);
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.enc).unwrap()
    }
}

fn jwks(keys: &[&Key]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk()).collect(),
    })
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const ISSUER: &str = "https://issuer.example";

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": "my-api", "sub": "user-1", "exp": now() + 600, "email": "a@example.com", "scope": "orders:read profile"});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// A JWKS server whose document the test may change.
fn jwks_server(doc: Arc<Mutex<String>>) -> Backend {
    Backend::start(move |_| Reply::Full {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: doc.lock().unwrap().clone().into_bytes(),
    })
}

/// A Lambda Invoke API stand-in that answers with the authorizer part of
/// the event it got (so tests see what reached the integration).
fn function_server() -> Backend {
    Backend::start(|r| {
        let ev: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let body = json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": ev["requestContext"]["authorizer"].to_string(),
        });
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    })
}

fn request(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> common::Response {
    let mut r =
        format!("{method} {path} HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    send_raw(gw.addr(), r.as_bytes())
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn jwt_gateway(jwks_addr: std::net::SocketAddr, fs: &Backend, extra: &[&str]) -> Gateway {
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [prod]
    authorizers:
      users:
        type: jwt
        identity_source: ["$request.header.Authorization"]
        issuer: {ISSUER}
        audience: [my-api, other-api]
        jwks_uri: http://{jwks_addr}/.well-known/jwks.json
    routes:
      - route: GET /orders
        authorizer: users
        authorization_scopes: [orders:read]
        integration: {{type: lambda, uri: "http://{fs}", function: orders}}
      - route: GET /admin
        authorizer: users
        authorization_scopes: [admin]
        integration: {{type: mock, body: admin}}
      - route: GET /open
        integration: {{type: mock, body: open}}
"#,
        fs = fs.addr
    );
    Gateway::start_with(&yaml, extra)
}

#[test]
fn jwt_rsa_and_ec_tokens_are_accepted_and_claims_reach_the_function() {
    let rsa = Key::generate(Algorithm::RS256, "rsa-1");
    let ec = Key::generate(Algorithm::ES256, "ec-1");
    let pss = Key::generate(Algorithm::PS256, "ps-1");
    let ec384 = Key::generate(Algorithm::ES384, "ec-2");
    let rs512 = Key::generate(Algorithm::RS512, "rsa-2");
    let doc = Arc::new(Mutex::new(jwks(&[&rsa, &ec, &pss, &ec384, &rs512])));
    let js = jwks_server(doc);
    let fs = function_server();
    let gw = jwt_gateway(js.addr, &fs, &["--workers", "2"]);

    for key in [&rsa, &ec, &pss, &ec384, &rs512] {
        let t = key.sign(&claims(json!({})));
        let r = request(
            &gw,
            "GET",
            "/prod/orders",
            &[("Authorization", &bearer(&t))],
        );
        assert_eq!(r.status, 200, "{:?} {}", key.alg, r.text());
        let a: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(a["jwt"]["claims"]["sub"], "user-1");
        assert_eq!(a["jwt"]["claims"]["email"], "a@example.com");
        assert_eq!(a["jwt"]["scopes"], json!(["orders:read", "profile"]));
    }
    // A token without the `Bearer` prefix is taken as it is.
    let t = rsa.sign(&claims(json!({"aud": ["x", "other-api"]})));
    let r = request(&gw, "GET", "/prod/orders", &[("Authorization", &t)]);
    assert_eq!(r.status, 200, "{}", r.text());
    // A route without an authorizer needs no token.
    assert_eq!(request(&gw, "GET", "/prod/open", &[]).status, 200);
}

#[test]
fn jwt_refusals_answer_401_with_www_authenticate_and_403_for_scopes() {
    let rsa = Key::generate(Algorithm::RS256, "rsa-1");
    let ec = Key::generate(Algorithm::ES256, "ec-1");
    // Same kid as `rsa`, another key: a forged signature.
    let forger = Key::generate(Algorithm::RS256, "rsa-1");
    let doc = Arc::new(Mutex::new(jwks(&[&rsa, &ec])));
    let js = jwks_server(doc);
    let fs = function_server();
    let gw = jwt_gateway(js.addr, &fs, &["--workers", "2"]);

    let r = request(&gw, "GET", "/prod/orders", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), r#"{"message":"Unauthorized"}"#);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|w| w.starts_with("Bearer")),
        "{:?}",
        r.headers
    );

    let alg_none = {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            e.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
            e.encode(claims(json!({})).to_string())
        )
    };
    let mut tampered = rsa.sign(&claims(json!({})));
    // Change the payload, keep the signature.
    let dot = tampered.find('.').unwrap();
    let payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims(json!({"sub": "admin"})).to_string())
    };
    let sig_at = tampered.rfind('.').unwrap();
    tampered = format!("{}.{}{}", &tampered[..dot], payload, &tampered[sig_at..]);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            ec.sign(&claims(json!({"exp": now() - 3600}))),
            "expired",
        ),
        (
            "wrong audience",
            rsa.sign(&claims(json!({"aud": "someone-else"}))),
            "audience",
        ),
        (
            "no audience",
            rsa.sign(&claims(json!({"aud": null}))),
            "audience",
        ),
        (
            "wrong issuer",
            rsa.sign(&claims(json!({"iss": "https://evil.example"}))),
            "issuer",
        ),
        (
            "bad signature",
            forger.sign(&claims(json!({}))),
            "signature",
        ),
        ("tampered payload", tampered, "signature"),
        ("alg none", alg_none, "algorithm"),
        ("not a jwt", "abc.def".to_owned(), "malformed"),
        (
            "not yet valid",
            rsa.sign(&claims(json!({"nbf": now() + 3600}))),
            "not valid yet",
        ),
    ];
    for (what, token, why) in cases {
        let r = request(
            &gw,
            "GET",
            "/prod/orders",
            &[("Authorization", &bearer(&token))],
        );
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_eq!(r.text(), r#"{"message":"Unauthorized"}"#, "{what}");
        let w = r.header("www-authenticate").unwrap_or_default();
        assert!(
            w.starts_with("Bearer") && w.contains(r#"error="invalid_token""#) && w.contains(why),
            "{what}: {w}"
        );
    }

    // A valid token without the route's scope: 403.
    let t = rsa.sign(&claims(json!({})));
    let r = request(&gw, "GET", "/prod/admin", &[("Authorization", &bearer(&t))]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.text(), r#"{"message":"Forbidden"}"#);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|w| w.contains("insufficient_scope")),
        "{:?}",
        r.headers
    );
    // `scp` as a list works too.
    let t = rsa.sign(&claims(json!({"scope": null, "scp": ["admin"]})));
    let r = request(&gw, "GET", "/prod/admin", &[("Authorization", &bearer(&t))]);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn jwks_key_rotation_refetches_on_an_unknown_kid() {
    let old = Key::generate(Algorithm::RS256, "k1");
    let new = Key::generate(Algorithm::ES256, "k2");
    let doc = Arc::new(Mutex::new(jwks(&[&old])));
    let js = jwks_server(doc.clone());
    let fs = function_server();
    let gw = jwt_gateway(js.addr, &fs, &["--workers", "2"]);
    let fetched_at_start = js.requests.load(Ordering::SeqCst);
    assert_eq!(fetched_at_start, 1, "one fetch at start");

    let t_old = old.sign(&claims(json!({})));
    assert_eq!(
        request(
            &gw,
            "GET",
            "/prod/orders",
            &[("Authorization", &bearer(&t_old))]
        )
        .status,
        200
    );
    // The issuer rotates: k2 signs, the JWKS lists both.
    *doc.lock().unwrap() = jwks(&[&old, &new]);
    let t_new = new.sign(&claims(json!({})));
    let first = request(
        &gw,
        "GET",
        "/prod/orders",
        &[("Authorization", &bearer(&t_new))],
    );
    assert_eq!(
        first.status, 401,
        "unknown kid: 401 while the keys are refetched"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while Instant::now() < deadline {
        // Many requests with the unknown kid: refetches stay bounded.
        status = request(
            &gw,
            "GET",
            "/prod/orders",
            &[("Authorization", &bearer(&t_new))],
        )
        .status;
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 200, "the new key is accepted after the refetch");
    let fetches = js.requests.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&fetches),
        "refetches are rate-bounded: {fetches} fetches"
    );
    // Random unknown kids do not make the gateway hammer the issuer: at
    // most one refetch per 2 s (plus one already asked for).
    let stranger = Key::generate(Algorithm::RS256, "k-unknown");
    let t = stranger.sign(&claims(json!({})));
    let began = Instant::now();
    for _ in 0..30 {
        assert_eq!(
            request(
                &gw,
                "GET",
                "/prod/orders",
                &[("Authorization", &bearer(&t))]
            )
            .status,
            401
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = js.requests.load(Ordering::SeqCst);
    let bound = 2 + (began.elapsed().as_secs_f64() / 2.0) as usize;
    assert!(
        after - fetches <= bound,
        "{} fetches for 30 unknown kids in {:?}",
        after - fetches,
        began.elapsed()
    );
}

#[test]
fn jwks_file_is_read_at_start() {
    let rsa = Key::generate(Algorithm::RS384, "f1");
    let path = temp_path("json");
    std::fs::write(&path, jwks(&[&rsa])).unwrap();
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    authorizers:
      users: {{type: jwt, issuer: "{ISSUER}", audience: [my-api], jwks_file: "{p}"}}
      query: {{type: jwt, identity_source: ["$request.querystring.access_token"], issuer: "{ISSUER}", audience: [my-api], jwks_file: "{p}"}}
    routes:
      - {{route: GET /me, authorizer: users, integration: {{type: mock, body: me}}}}
      - {{route: GET /q, authorizer: query, integration: {{type: mock, body: q}}}}
"#,
        p = path.display()
    );
    let gw = Gateway::start(&yaml);
    let t = rsa.sign(&claims(json!({})));
    let r = request(&gw, "GET", "/me", &[("Authorization", &bearer(&t))]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "me");
    // Another identity source: the token in the query string.
    let r = request(&gw, "GET", &format!("/q?access_token={t}"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        request(&gw, "GET", "/q", &[("Authorization", &bearer(&t))]).status,
        401
    );
    let _ = std::fs::remove_file(&path);
}

/// A Lambda-style authorizer endpoint: answers by the `X-Token` identity
/// (`allow`, `deny`, `slow`, `broken`), counting its calls; remembers the
/// last event.
fn authorizer_server(simple: bool) -> (Backend, Arc<Mutex<Vec<Value>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let b = Backend::start(move |r| {
        let ev: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        seen.lock().unwrap().push(ev.clone());
        let token = ev["headers"]["x-token"]
            .as_str()
            .or_else(|| ev["authorizationToken"].as_str())
            .unwrap_or("")
            .to_owned();
        let arn = ev["routeArn"]
            .as_str()
            .or_else(|| ev["methodArn"].as_str())
            .unwrap_or("")
            .to_owned();
        let body = match (simple, token.as_str()) {
            (_, "slow") => {
                return Reply::Slow {
                    delay: Duration::from_millis(1500),
                    body: br#"{"isAuthorized":true}"#.to_vec(),
                };
            }
            (_, "broken") => "not json".to_owned(),
            (true, t) => {
                json!({"isAuthorized": t.starts_with("allow"), "context": {"user": t, "tier": 3}})
                    .to_string()
            }
            (false, t) => {
                // Allow this API's GETs; deny `secret` explicitly.
                let base = arn
                    .rsplit_once("/GET/")
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or_default();
                let effect = if t.starts_with("allow") {
                    "Allow"
                } else {
                    "Deny"
                };
                json!({
                    "principalId": format!("p-{t}"),
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": format!("{base}/GET/*")},
                        {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": format!("{base}/GET/secret")}
                    ]},
                    "context": {"user": t, "n": 7}
                })
                .to_string()
            }
        };
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    });
    (b, events)
}

fn calls(b: &Backend) -> usize {
    b.requests.load(Ordering::SeqCst)
}

#[test]
fn request_authorizer_simple_responses_cached_per_identity() {
    let (auth, events) = authorizer_server(true);
    let fs = function_server();
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [prod]
    authorizers:
      gate:
        type: request
        uri: http://{a}/authorize
        payload_format_version: "2.0"
        enable_simple_responses: true
        identity_source: ["$request.header.X-Token", "$request.querystring.user"]
        result_ttl_seconds: 300
        timeout_ms: 500
      nocache:
        type: request
        uri: http://{a}/authorize
        enable_simple_responses: true
        identity_source: ["$request.header.X-Token"]
        result_ttl_seconds: 0
    routes:
      - route: GET /orders
        authorizer: gate
        integration: {{type: lambda, uri: "http://{fs}", function: orders}}
      - route: GET /fresh
        authorizer: nocache
        integration: {{type: mock, body: fresh}}
"#,
        a = auth.addr,
        fs = fs.addr
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);

    // Missing identity source (no query `user`): 401 without a call.
    let r = request(&gw, "GET", "/prod/orders", &[("X-Token", "allow-1")]);
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), r#"{"message":"Unauthorized"}"#);
    let r = request(&gw, "GET", "/prod/orders?user=bob", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(calls(&auth), 0, "no call without the identity sources");

    // Allowed: the context reaches the function.
    let r = request(
        &gw,
        "GET",
        "/prod/orders?user=bob",
        &[("X-Token", "allow-1")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let a: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(a["lambda"]["user"], "allow-1");
    assert_eq!(a["lambda"]["tier"], 3);
    assert_eq!(calls(&auth), 1);
    let ev = events.lock().unwrap()[0].clone();
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["identitySource"], json!(["allow-1", "bob"]));
    assert_eq!(
        ev["routeArn"],
        "arn:aws:execute-api:us-east-1:000000000000:shop/prod/GET/orders"
    );
    assert_eq!(ev["routeKey"], "GET /orders");
    assert!(ev.get("body").is_none(), "{ev}");

    // The same identity again: answered from the cache (one worker).
    for _ in 0..5 {
        let r = request(
            &gw,
            "GET",
            "/prod/orders?user=bob",
            &[("X-Token", "allow-1")],
        );
        assert_eq!(r.status, 200);
    }
    assert_eq!(calls(&auth), 1, "one call per identity per TTL");
    // Another identity: one more call.
    let r = request(
        &gw,
        "GET",
        "/prod/orders?user=eve",
        &[("X-Token", "allow-1")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(calls(&auth), 2);

    // Denied: 403 Forbidden (HTTP API), cached too.
    for _ in 0..3 {
        let r = request(&gw, "GET", "/prod/orders?user=bob", &[("X-Token", "deny")]);
        assert_eq!(r.status, 403);
        assert_eq!(r.text(), r#"{"message":"Forbidden"}"#);
    }
    assert_eq!(calls(&auth), 3);

    // TTL 0: every request calls.
    for _ in 0..3 {
        assert_eq!(
            request(&gw, "GET", "/prod/fresh", &[("X-Token", "allow-2")]).status,
            200
        );
    }
    assert_eq!(calls(&auth), 6);

    // A slow authorizer (beyond its timeout) and a nonsense answer: 500.
    let t = Instant::now();
    let r = request(&gw, "GET", "/prod/orders?user=bob", &[("X-Token", "slow")]);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.text(), r#"{"message":"Internal Server Error"}"#);
    assert!(
        t.elapsed() < Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );
    let r = request(
        &gw,
        "GET",
        "/prod/orders?user=bob",
        &[("X-Token", "broken")],
    );
    assert_eq!(r.status, 500);
}

#[test]
fn token_authorizer_policies_on_a_rest_api() {
    let (auth, events) = authorizer_server(false);
    let fs = function_server();
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: legacy
    protocol: rest
    stages: [v1]
    authorizers:
      tok:
        type: token
        uri: http://{a}/token
        identity_source: [method.request.header.X-Token]
        identity_validation_expression: "[a-z]+(-[a-z]+)?"
    routes:
      - route: GET /pets
        authorizer: tok
        integration: {{type: lambda, uri: "http://{fs}", function: pets}}
      - route: GET /secret
        authorizer: tok
        integration: {{type: mock, body: secret}}
      - route: POST /pets
        authorizer: tok
        integration: {{type: mock, body: posted}}
"#,
        a = auth.addr,
        fs = fs.addr
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);

    let r = request(&gw, "GET", "/v1/pets", &[("X-Token", "allow-me")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let a: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(a["principalId"], "p-allow-me");
    assert_eq!(a["user"], "allow-me");
    assert_eq!(a["n"], 7);
    let ev = events.lock().unwrap()[0].clone();
    assert_eq!(
        ev,
        json!({"type": "TOKEN", "authorizationToken": "allow-me", "methodArn": "arn:aws:execute-api:us-east-1:000000000000:legacy/v1/GET/pets"})
    );

    // The cached policy serves the other routes: an explicit Deny …
    let r = request(&gw, "GET", "/v1/secret", &[("X-Token", "allow-me")]);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
    );
    assert_eq!(r.header("x-amzn-ErrorType"), Some("AccessDeniedException"));
    // … and no matching Allow.
    let r = request(
        &gw,
        "POST",
        "/v1/pets",
        &[("X-Token", "allow-me"), ("Content-Length", "0")],
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        r#"{"message":"User is not authorized to access this resource"}"#
    );
    assert_eq!(
        calls(&auth),
        1,
        "the policy is cached and evaluated per route"
    );

    // A Deny policy for the caller.
    let r = request(&gw, "GET", "/v1/pets", &[("X-Token", "nope")]);
    assert_eq!(r.status, 403);
    assert!(r.text().contains("explicit deny"));
    // No token, or one the validation expression refuses: 401 without a call.
    let before = calls(&auth);
    let r = request(&gw, "GET", "/v1/pets", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.text(), r#"{"message":"Unauthorized"}"#);
    for bad in ["allow-me-too", "Allow", "allow-me!"] {
        let r = request(&gw, "GET", "/v1/pets", &[("X-Token", bad)]);
        assert_eq!(r.status, 401, "{bad}");
    }
    assert_eq!(calls(&auth), before);
}

#[test]
fn cors_preflight_skips_authorization_and_responses_carry_headers() {
    let (auth, _) = authorizer_server(true);
    // A backend with CORS headers of its own: the API's settings replace them.
    let backend = Backend::start(|_| Reply::Full {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "text/plain".into()),
            ("Access-Control-Allow-Origin".into(), "*".into()),
            ("Access-Control-Allow-Methods".into(), "DELETE".into()),
        ],
        body: b"proxied".to_vec(),
    });
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    cors:
      allow_origins: ["https://app.example"]
      allow_methods: [GET, POST]
      allow_headers: [authorization, x-token]
      expose_headers: [x-total]
      max_age: 600
      allow_credentials: true
    authorizers:
      gate: {{type: request, uri: "http://{a}/", enable_simple_responses: true, identity_source: ["$request.header.X-Token"]}}
    routes:
      - {{route: GET /orders, authorizer: gate, integration: {{type: mock, body: orders}}}}
      - {{route: GET /proxied, integration: {{type: http_proxy, uri: "http://{b}"}}}}
"#,
        a = auth.addr,
        b = backend.addr
    );
    let gw = Gateway::start(&yaml);
    let pre = [
        ("Origin", "https://app.example"),
        ("Access-Control-Request-Method", "GET"),
        ("Access-Control-Request-Headers", "x-token"),
    ];
    // Preflight on an authorized route, and on a path without a route.
    for path in ["/orders", "/nowhere"] {
        let r = request(&gw, "OPTIONS", path, &pre);
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("authorization,x-token")
        );
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    }
    assert_eq!(calls(&auth), 0, "preflights are not authorized");
    // An origin that is not allowed gets no CORS headers.
    let r = request(
        &gw,
        "OPTIONS",
        "/orders",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
    // Normal responses (and refusals) carry the headers.
    let r = request(
        &gw,
        "GET",
        "/orders",
        &[("Origin", "https://app.example"), ("X-Token", "allow")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-expose-headers"), Some("x-total"));
    assert_eq!(r.header("vary"), Some("Origin"));
    assert!(r.header("access-control-allow-methods").is_none());
    let r = request(&gw, "GET", "/orders", &[("Origin", "https://app.example")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = request(&gw, "GET", "/orders", &[("X-Token", "allow")]);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = request(&gw, "GET", "/proxied", &[("Origin", "https://app.example")]);
    assert_eq!(r.text(), "proxied");
    let origins: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("access-control-allow-origin"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(origins, ["https://app.example"]);
    assert!(r.header("access-control-allow-methods").is_none());
}

#[test]
fn authorizer_config_errors_are_located() {
    let yaml = r#"
listeners: [{name: main, address: 127.0.0.1:0}]
apis:
  - name: shop
    stages: [prod]
    authorizers:
      users: {type: jwt, issuer: x, audience: [a]}
      gate: {type: request, uri: "http://127.0.0.1:9/", result_ttl_seconds: 4000}
    routes:
      - {route: GET /a, authorizer: nobody, integration: {type: mock}}
      - {route: GET /b, authorizer: gate, authorization_scopes: [x], integration: {type: mock}}
"#;
    let path = temp_path("yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for want in [
        "needs `jwks_uri`",
        "`result_ttl_seconds` is 0..=3600",
        "unknown authorizer `nobody`",
        "JWT authorizer only",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
}

#[test]
fn function_authorizer_over_the_invoke_api_with_payload_1_and_access_log() {
    // A Lambda Invoke API stand-in for the authorizer function: REQUEST 1.0
    // events; `unauth` raises "Unauthorized", `crash` fails otherwise.
    let events = Arc::new(Mutex::new(Vec::<(String, Value, String)>::new()));
    let seen = events.clone();
    let fnsrv = Backend::start(move |r| {
        let ev: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let auth = r.header("authorization").unwrap_or("").to_owned();
        seen.lock()
            .unwrap()
            .push((r.target.clone(), ev.clone(), auth));
        let token = ev["headers"]["X-Token"].as_str().unwrap_or("").to_owned();
        let (error, body) = match token.as_str() {
            "unauth" => (
                true,
                json!({"errorMessage": "Unauthorized", "errorType": "Exception"}),
            ),
            "crash" => (
                true,
                json!({"errorMessage": "boom", "errorType": "Exception"}),
            ),
            t => (
                false,
                json!({
                    "principalId": format!("p-{t}"),
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ev["methodArn"]}
                    ]},
                    "context": {"tier": "gold"}
                }),
            ),
        };
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        if error {
            headers.push(("X-Amz-Function-Error".into(), "Unhandled".into()));
        }
        Reply::Full {
            status: 200,
            headers,
            body: body.to_string().into_bytes(),
        }
    });
    let log = temp_path("log");
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: legacy
    protocol: rest
    stages:
      - name: v1
        access_log:
          destination: {log}
          format: '{{"id":"$context.requestId","status":$context.status,"principal":"$context.authorizer.principalId","tier":"$context.authorizer.tier","error":"$context.authorizer.error"}}'
    authorizers:
      gate:
        type: request
        uri: http://{f}
        function: "gate-fn"
        credentials: {{access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMI}}
        region: eu-west-1
        identity_source: [method.request.header.X-Token]
    routes:
      - {{route: "GET /pets/{{id}}", authorizer: gate, integration: {{type: mock, body: pet}}}}
"#,
        f = fnsrv.addr,
        log = log.display()
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);

    let r = request(&gw, "GET", "/v1/pets/7?x=1", &[("X-Token", "alice")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let (target, ev, auth) = events.lock().unwrap()[0].clone();
    assert_eq!(target, "/2015-03-31/functions/gate-fn/invocations");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/eu-west-1/lambda/aws4_request"),
        "signed like the lambda integration: {auth}"
    );
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(
        ev["methodArn"],
        "arn:aws:execute-api:us-east-1:000000000000:legacy/v1/GET/pets/7"
    );
    assert_eq!(ev["resource"], "/pets/{id}");
    assert_eq!(ev["pathParameters"]["id"], "7");
    assert_eq!(ev["queryStringParameters"]["x"], "1");
    assert_eq!(ev["httpMethod"], "GET");

    let r = request(&gw, "GET", "/v1/pets/7", &[("X-Token", "unauth")]);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.text(), r#"{"message":"Unauthorized"}"#);
    assert_eq!(r.header("x-amzn-ErrorType"), Some("UnauthorizedException"));
    let r = request(&gw, "GET", "/v1/pets/7", &[("X-Token", "crash")]);
    assert_eq!(r.status, 500, "{}", r.text());
    assert_eq!(r.text(), r#"{"message":null}"#);
    assert_eq!(
        r.header("x-amzn-ErrorType"),
        Some("AuthorizerFailureException")
    );

    // The access log shows who the authorizer said the caller is, and why it refused.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lines.len(), 3, "{lines:?}");
    let l: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(l[0]["principal"], "p-alice");
    assert_eq!(l[0]["tier"], "gold");
    assert_eq!(l[0]["error"], "-");
    assert_eq!(l[1]["status"], 401);
    assert_eq!(l[1]["principal"], "-");
    assert_eq!(l[1]["error"], "the authorizer said Unauthorized");
    assert_eq!(l[2]["status"], 500);
    let _ = std::fs::remove_file(&log);
}

#[test]
fn usage_identifier_key_from_the_authorizer_is_the_api_key() {
    let auth = Backend::start(|r| {
        let ev: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let token = ev["authorizationToken"].as_str().unwrap_or("");
        let key = if token == "good" {
            "0123456789abcdefghij-good"
        } else {
            "not-a-key-at-all-here"
        };
        let body = json!({
            "principalId": token,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}
            ]},
            "usageIdentifierKey": key
        });
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    });
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
api_keys:
  - {{name: k, value: 0123456789abcdefghij-good}}
apis:
  - name: legacy
    protocol: rest
    stages: [v1]
    authorizers:
      tok: {{type: token, uri: "http://{a}/", identity_source: [method.request.header.X-Token]}}
    routes:
      - {{route: GET /metered, authorizer: tok, api_key_required: true, integration: {{type: mock, body: metered}}}}
"#,
        a = auth.addr
    );
    let gw = Gateway::start(&yaml);
    let r = request(&gw, "GET", "/v1/metered", &[("X-Token", "good")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request(&gw, "GET", "/v1/metered", &[("X-Token", "bad")]);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.text(), r#"{"message":"Forbidden"}"#);
    // A client's own X-API-Key still counts first.
    let r = request(
        &gw,
        "GET",
        "/v1/metered",
        &[
            ("X-Token", "bad"),
            ("X-API-Key", "0123456789abcdefghij-good"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_policy_granting_invalidate_cache_lets_max_age_0_refresh() {
    let auth = Backend::start(|r| {
        let ev: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let token = ev["authorizationToken"].as_str().unwrap_or("");
        let actions = if token == "admin" {
            json!(["execute-api:Invoke", "execute-api:InvalidateCache"])
        } else {
            json!("execute-api:Invoke")
        };
        let body = json!({
            "principalId": token,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": actions, "Effect": "Allow", "Resource": ev["methodArn"]}
            ]}
        });
        Reply::Full {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    });
    let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    let origin = Backend::start(move |_| {
        Reply::ok(&format!("n={}", count.fetch_add(1, Ordering::SeqCst) + 1))
    });
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    protocol: rest
    stages:
      - name: prod
        cache: {{capacity_bytes: 1000000, require_authorization_for_cache_control: true, unauthorized_cache_control_header_strategy: FAIL_WITH_403}}
    authorizers:
      tok: {{type: token, uri: "http://{a}/", identity_source: [method.request.header.X-Token]}}
    routes:
      - route: GET /x
        authorizer: tok
        integration: {{type: http_proxy, uri: "http://{o}"}}
        cache: {{}}
"#,
        a = auth.addr,
        o = origin.addr
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);
    assert_eq!(
        request(&gw, "GET", "/prod/x", &[("X-Token", "user")]).text(),
        "n=1"
    );
    assert_eq!(
        request(&gw, "GET", "/prod/x", &[("X-Token", "user")]).text(),
        "n=1"
    );
    let r = request(
        &gw,
        "GET",
        "/prod/x",
        &[("X-Token", "user"), ("Cache-Control", "max-age=0")],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = request(
        &gw,
        "GET",
        "/prod/x",
        &[("X-Token", "admin"), ("Cache-Control", "max-age=0")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "n=2", "refreshed from the origin");
    assert_eq!(
        request(&gw, "GET", "/prod/x", &[("X-Token", "user")]).text(),
        "n=2"
    );
}

#[test]
fn cached_results_expire_after_their_ttl_and_per_route_keys() {
    let (auth, _) = authorizer_server(true);
    let yaml = format!(
        r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    authorizers:
      short: {{type: request, uri: "http://{a}/", enable_simple_responses: true, identity_source: ["$request.header.X-Token"], result_ttl_seconds: 1}}
      routed: {{type: request, uri: "http://{a}/", enable_simple_responses: true, identity_source: ["$request.header.X-Token"], cache_by_route: true}}
    routes:
      - {{route: GET /s, authorizer: short, integration: {{type: mock, body: s}}}}
      - {{route: GET /r1, authorizer: routed, integration: {{type: mock, body: r1}}}}
      - {{route: GET /r2, authorizer: routed, integration: {{type: mock, body: r2}}}}
"#,
        a = auth.addr
    );
    let gw = Gateway::start_with(&yaml, &["--workers", "1"]);
    for _ in 0..3 {
        assert_eq!(
            request(&gw, "GET", "/s", &[("X-Token", "allow")]).status,
            200
        );
    }
    assert_eq!(calls(&auth), 1);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        request(&gw, "GET", "/s", &[("X-Token", "allow")]).status,
        200
    );
    assert_eq!(calls(&auth), 2, "the TTL passed: called again");

    // cache_by_route: one call per identity and route.
    for path in ["/r1", "/r2", "/r1", "/r2"] {
        assert_eq!(
            request(&gw, "GET", path, &[("X-Token", "allow")]).status,
            200
        );
    }
    assert_eq!(calls(&auth), 4);
}

#[test]
fn a_reload_loads_the_jwks_of_the_new_configuration() {
    let a = Key::generate(Algorithm::RS256, "a");
    let b = Key::generate(Algorithm::ES256, "b");
    let (file_a, file_b) = (temp_path("json"), temp_path("json"));
    std::fs::write(&file_a, jwks(&[&a])).unwrap();
    std::fs::write(&file_b, jwks(&[&b])).unwrap();
    let yaml = |file: &std::path::Path| {
        format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    authorizers:
      users: {{type: jwt, issuer: "{ISSUER}", audience: [my-api], jwks_file: "{}"}}
    routes:
      - {{route: GET /me, authorizer: users, integration: {{type: mock, body: me}}}}
"#,
            file.display()
        )
    };
    let gw = Gateway::start(&yaml(&file_a));
    let (ta, tb) = (a.sign(&claims(json!({}))), b.sign(&claims(json!({}))));
    let status = |t: &str| request(&gw, "GET", "/me", &[("Authorization", &bearer(t))]).status;
    assert_eq!(status(&ta), 200);
    assert_eq!(status(&tb), 401);
    std::fs::write(&gw.config, yaml(&file_b)).unwrap();
    gw.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&tb) != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status(&tb), 200, "{}", gw.stderr());
    assert_eq!(status(&ta), 401, "the old key set is gone");
    let _ = std::fs::remove_file(&file_a);
    let _ = std::fs::remove_file(&file_b);
}

#[test]
fn jwks_over_https_is_verified_against_its_ca() {
    // The JWKS is served over TLS by a second gateway (a mock route on a TLS
    // listener with a certificate from a test CA).
    let pki = common::tls::Pki::new();
    let (cert, key) = pki.leaf("idp", &["localhost"], false);
    let rsa = Key::generate(Algorithm::RS256, "h1");
    let doc = jwks(&[&rsa]).replace('\'', "''");
    let idp = Gateway::start(&format!(
        r#"
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls: {{cert: {cert}, key: {key}}}
apis:
  - name: idp
    stages: [$default]
    routes:
      - route: GET /.well-known/jwks.json
        integration: {{type: mock, headers: {{content-type: application/json}}, body: '{doc}'}}
"#
    ));
    let port = idp.addr().port();
    let gateway = |ca: &str| {
        Gateway::start(&format!(
            r#"
listeners: [{{name: main, address: 127.0.0.1:0}}]
apis:
  - name: shop
    stages: [$default]
    authorizers:
      users: {{type: jwt, issuer: "{ISSUER}", audience: [my-api], jwks_uri: "https://localhost:{port}/.well-known/jwks.json"{ca}}}
    routes:
      - {{route: GET /me, authorizer: users, integration: {{type: mock, body: me}}}}
"#
        ))
    };
    let t = rsa.sign(&claims(json!({})));
    // Trusting the test CA: the keys load and the token passes.
    let gw = gateway(&format!(", jwks_ca_file: {}", pki.path("ca.pem")));
    let r = request(&gw, "GET", "/me", &[("Authorization", &bearer(&t))]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "me");
    // With the web roots only, the test CA's certificate is refused: no keys,
    // so every token is unauthorized (the gateway still serves).
    let gw = gateway("");
    let r = request(&gw, "GET", "/me", &[("Authorization", &bearer(&t))]);
    assert_eq!(r.status, 401, "{}", r.text());
}
