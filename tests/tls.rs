//! Black-box: TLS termination (SNI, versions, ALPN, reload), HTTPS
//! upstreams (verification → 502), with certificates made at test time by
//! the `openssl` command (no key material is checked in).

mod common;

use common::tls::*;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn tls_config(pki: &Pki, extra_listener: &str, routes: &str, protocol: &str) -> String {
    let (dc, dk) = pki.leaf("default", &["default.test"], false);
    let (ac, ak) = pki.leaf("api", &["api.example.com"], false);
    let (wc, wk) = pki.leaf("wild", &["*.wild.test"], false);
    format!(
        r#"
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls:
      cert: {dc}
      key: {dk}
      certificates:
        - {{names: [api.example.com], cert: {ac}, key: {ak}}}
        - {{names: ["*.wild.test"], cert: {wc}, key: {wk}}}
{extra_listener}
apis:
  - name: a
    protocol: {protocol}
    stages: [$default]
    routes:
      - {{route: GET /hello, integration: {{type: mock, status: 200, body: hello}}}}
{routes}
"#
    )
}

#[test]
fn curl_http11_over_tls_runs_the_pipeline() {
    let pki = Pki::new();
    let backend = Backend::echo();
    let routes = format!(
        "      - {{route: GET /up, integration: {{type: http_proxy, uri: 'http://{}/echo'}}}}",
        backend.addr
    );
    let gw = Gateway::start(&tls_config(&pki, "", &routes, "http"));
    let (status, version, body) = curl(&pki, &gw, "api.example.com", "/hello", &["--http1.1"]);
    assert_eq!(
        (status, version.as_str(), body.as_str()),
        (200, "1.1", "hello")
    );
    // Keep-alive over TLS: two requests on one connection.
    let url = format!("https://api.example.com:{}/hello", gw.addr().port());
    let (status, _, body) = curl(&pki, &gw, "api.example.com", "/hello", &["--http1.1", &url]);
    assert_eq!((status, body.as_str()), (200, "hello\n200 1.1hello"));
    let (status, _, body) = curl(&pki, &gw, "api.example.com", "/up", &["--http1.1"]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(backend.last().header("x-forwarded-proto"), Some("https"));
    let (status, _, _) = curl(&pki, &gw, "api.example.com", "/nope", &["--http1.1"]);
    assert_eq!(status, 404);
}

#[test]
fn sni_selects_exact_wildcard_and_default_certificates() {
    let pki = Pki::new();
    let gw = Gateway::start(&tls_config(&pki, "", "", "http"));
    for (sni, cn) in [
        ("api.example.com", "api.example.com"),
        ("API.Example.com", "api.example.com"),
        ("x.wild.test", "*.wild.test"),
        ("a.b.wild.test", "default.test"),
        ("unknown.test", "default.test"),
    ] {
        let out = s_client(gw.addr(), &["-servername", sni]);
        assert!(
            out.contains(&format!("subject=CN = {cn}")),
            "SNI {sni}: expected CN {cn}:\n{out}"
        );
    }
    // No SNI at all: the default certificate.
    let out = s_client(gw.addr(), &["-noservername"]);
    assert!(out.contains("subject=CN = default.test"), "{out}");
    // The client verifies the chain to the test CA and the name.
    let (status, _, _) = curl(&pki, &gw, "x.wild.test", "/hello", &["--http1.1"]);
    assert_eq!(status, 200);
}

#[test]
fn only_tls12_and_tls13_with_aead_suites() {
    let pki = Pki::new();
    let gw = Gateway::start(&tls_config(&pki, "", "", "http"));
    for old in ["-tls1", "-tls1_1"] {
        let out = s_client(gw.addr(), &[old, "-servername", "api.example.com"]);
        assert!(!out.contains("subject=CN"), "{old} must be refused:\n{out}");
    }
    let out = s_client(gw.addr(), &["-tls1_2", "-servername", "api.example.com"]);
    assert!(out.contains("Protocol  : TLSv1.2"), "{out}");
    let out = s_client(gw.addr(), &["-tls1_3", "-servername", "api.example.com"]);
    assert!(out.contains("TLSv1.3"), "{out}");
    // CBC suites and RSA key exchange are not offered.
    for weak in [
        "ECDHE-ECDSA-AES128-SHA",
        "AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-SHA384",
    ] {
        let out = s_client(
            gw.addr(),
            &["-tls1_2", "-cipher", weak, "-servername", "api.example.com"],
        );
        assert!(
            !out.contains("subject=CN"),
            "{weak} must be refused:\n{out}"
        );
    }
}

#[test]
fn alpn_offers_http11_and_h2_and_sessions_resume() {
    let pki = Pki::new();
    let gw = Gateway::start(&tls_config(&pki, "", "", "http"));
    let out = s_client(
        gw.addr(),
        &["-alpn", "http/1.1", "-servername", "api.example.com"],
    );
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    let out = s_client(
        gw.addr(),
        &["-alpn", "h2", "-servername", "api.example.com"],
    );
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    // TLS 1.2 resumption: save the session, then reuse it.
    let sess = temp_path("sess");
    let sess = sess.display().to_string();
    let out = s_client(
        gw.addr(),
        &[
            "-tls1_2",
            "-sess_out",
            &sess,
            "-servername",
            "api.example.com",
        ],
    );
    assert!(out.contains("New, TLSv1.2"), "{out}");
    let out = s_client(
        gw.addr(),
        &[
            "-tls1_2",
            "-sess_in",
            &sess,
            "-servername",
            "api.example.com",
        ],
    );
    let _ = std::fs::remove_file(&sess);
    assert!(out.contains("Reused, TLSv1.2"), "{out}");
}

#[test]
fn certificates_reload_with_the_configuration() {
    let pki = Pki::new();
    let yaml = tls_config(&pki, "", "", "http");
    let gw = Gateway::start(&yaml);
    let out = s_client(gw.addr(), &["-servername", "api.example.com"]);
    assert!(out.contains("subject=CN = api.example.com"), "{out}");
    // The same files, new contents: a reload (the config text is unchanged)
    // serves the new certificate.
    pki.leaf("api", &["api.example.com", "v2.example.com"], false);
    gw.signal(libc::SIGHUP);
    let mut served = false;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let out = s_client(gw.addr(), &["-servername", "api.example.com", "-showcerts"]);
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl x509 -noout -ext subjectAltName 2>/dev/null <<'EOF'\n{out}\nEOF"
            ))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&ok.stdout).contains("v2.example.com") {
            served = true;
            break;
        }
    }
    assert!(
        served,
        "new certificate not served; stderr:\n{}",
        gw.stderr()
    );
}

#[test]
fn pem_errors_are_config_errors_naming_the_file() {
    let pki = Pki::new();
    let (c, _) = pki.leaf("good", &["good.test"], false);
    let (_, other_key) = pki.leaf("other", &["other.test"], false);
    let junk = pki.path("junk.pem");
    std::fs::write(&junk, "not a pem file\n").unwrap();
    let cases = [
        (junk.clone(), other_key.clone(), "holds no certificate"),
        (c.clone(), pki.path("missing.key"), "cannot read"),
        (c.clone(), junk.clone(), "no PEM private key"),
        (c.clone(), other_key.clone(), "does not fit the certificate"),
    ];
    for (cert, key, what) in cases {
        let yaml = format!(
            "listeners:\n  - name: tls\n    address: 127.0.0.1:0\n    tls:\n      cert: {cert}\n      key: {key}\napis: []\n"
        );
        let path = temp_path("yaml");
        std::fs::write(&path, &yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        let err = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{what}: {err}");
        assert!(err.contains(what), "expected `{what}` in:\n{err}");
        // file:line:column, and the PEM file named.
        let line = if what == "holds no certificate" {
            ":5:"
        } else {
            ":6:"
        };
        assert!(err.contains(line), "expected the field's line in:\n{err}");
        assert!(
            err.contains("junk.pem") || err.contains(".key"),
            "expected the PEM file named in:\n{err}"
        );
    }
}

/// A Python HTTPS server (the standard library's) answering `tls-ok`;
/// killed on drop.
struct TlsBackend {
    child: Child,
    port: u16,
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PY_BACKEND: &str = r#"
import ssl, sys, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        b = b'tls-ok'
        self.send_response(200)
        self.send_header('Content-Length', str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

impl TlsBackend {
    fn start(cert: &str, key: &str) -> TlsBackend {
        let mut child = Command::new("python3")
            .args(["-c", PY_BACKEND, cert, key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let port = line.trim().parse().expect("backend port");
        TlsBackend { child, port }
    }
}

#[test]
fn https_upstreams_are_verified_bad_certificates_502() {
    let pki = Pki::new();
    let (gc, gk) = pki.leaf("up-good", &["localhost"], false);
    let (mc, mk) = pki.leaf("up-mismatch", &["elsewhere.test"], false);
    let (ec, ek) = pki.leaf("up-expired", &["localhost"], true);
    let good = TlsBackend::start(&gc, &gk);
    let mismatch = TlsBackend::start(&mc, &mk);
    let expired = TlsBackend::start(&ec, &ek);
    let ca = pki.path("ca.pem");
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
upstreams:
  good: {{targets: ["localhost:{g}"], tls: {{ca_file: {ca}}}}}
  mismatch: {{targets: ["localhost:{m}"], tls: {{ca_file: {ca}}}}}
  expired: {{targets: ["localhost:{e}"], tls: {{ca_file: {ca}}}}}
  skipped: {{targets: ["localhost:{e}"], tls: {{skip_verify: true}}}}
  webroots: {{targets: ["localhost:{g}"], tls: {{}}}}
apis:
  - name: a
    protocol: rest
    stages: [$default]
    routes:
      - {{route: GET /good, integration: {{type: http_proxy, uri: 'https://good/x'}}}}
      - {{route: GET /mismatch, integration: {{type: http_proxy, uri: 'https://mismatch/x'}}}}
      - {{route: GET /expired, integration: {{type: http_proxy, uri: 'https://expired/x'}}}}
      - {{route: GET /skipped, integration: {{type: http_proxy, uri: 'https://skipped/x'}}}}
      - {{route: GET /webroots, integration: {{type: http_proxy, uri: 'https://webroots/x'}}}}
"#,
        g = good.port,
        m = mismatch.port,
        e = expired.port,
    );
    let gw = Gateway::start(&yaml);
    let r = get(gw.addr(), "/good");
    assert_eq!((r.status, r.text().as_str()), (200, "tls-ok"));
    // Pooled: a second request reuses the TLS connection.
    let r = get(gw.addr(), "/good");
    assert_eq!(r.status, 200);
    for path in ["/mismatch", "/expired", "/webroots"] {
        let r = get(gw.addr(), path);
        assert_eq!(r.status, 502, "{path}: {}", r.text());
    }
    let r = get(gw.addr(), "/skipped");
    assert_eq!((r.status, r.text().as_str()), (200, "tls-ok"));
}

#[test]
fn https_scheme_must_match_the_upstream() {
    let yaml = "listeners: [{name: m, address: 127.0.0.1:0}]\nupstreams:\n  plain: {targets: ['127.0.0.1:1']}\napis:\n  - name: a\n    stages: [$default]\n    routes:\n      - {route: GET /x, integration: {type: http_proxy, uri: 'https://plain/x'}}\n";
    let path = temp_path("yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success());
    assert!(err.contains("has no `tls:` block"), "{err}");
}

#[test]
fn plain_listener_redirects_to_https_and_tls_answers_carry_hsts() {
    let pki = Pki::new();
    // The TLS listener's port must be known to the redirect: take a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = tls_config(
        &pki,
        "    hsts_max_age: 31536000\n  - name: plain\n    address: 127.0.0.1:0\n    redirect_https: PORT",
        "",
        "rest",
    )
    .replace("address: 127.0.0.1:0\n    tls:", &format!("address: 127.0.0.1:{port}\n    tls:"))
    .replace("PORT", &port.to_string());
    let gw = Gateway::start(&yaml);
    let plain = gw.listeners[1].1;
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ])
        .arg(format!("http://{plain}/hello?x=1"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("308 https://127.0.0.1:{port}/hello?x=1")
    );
    // Following it lands on the TLS listener, whose answers carry HSTS
    // (HTTP/1.1 and HTTP/2 alike).
    for v in ["--http1.1", "--http2"] {
        let (status, _, text) = curl(&pki, &gw, "api.example.com", "/hello", &[v, "-i"]);
        assert_eq!(status, 200);
        assert!(
            text.to_ascii_lowercase()
                .contains("strict-transport-security: max-age=31536000"),
            "{v}: {text}"
        );
    }
    // Gateway responses too (a REST API's 403 for an unknown route).
    let (status, _, text) = curl(&pki, &gw, "api.example.com", "/nope", &["--http1.1", "-i"]);
    assert_eq!(status, 403);
    assert!(
        text.contains("Strict-Transport-Security: max-age=31536000"),
        "{text}"
    );
}

#[test]
fn sslyze_scan_finds_no_old_protocols_and_no_weak_suites() {
    let pki = Pki::new();
    let gw = Gateway::start(&tls_config(&pki, "", "", "http"));
    let json = temp_path("json");
    let out = Command::new("python3")
        .args(["-m", "sslyze", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1"])
        .args([
            "--tlsv1_2",
            "--tlsv1_3",
            "--heartbleed",
            "--robot",
            "--compression",
        ])
        .arg("--json_out")
        .arg(&json)
        .arg(gw.addr().to_string())
        .output()
        .expect("python3 -m sslyze (pip install sslyze; test.sh does)");
    let text = std::fs::read_to_string(&json).unwrap_or_else(|_| {
        panic!(
            "sslyze wrote no report (pip install sslyze): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_file(&json);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let scan = &report["server_scan_results"][0]["scan_result"];
    let accepted = |kind: &str| -> Vec<String> {
        let list = &scan[kind]["result"]["accepted_cipher_suites"];
        assert!(list.is_array(), "{kind} missing in the report");
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["cipher_suite"]["name"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    };
    for old in [
        "ssl_2_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
    ] {
        assert_eq!(accepted(old), Vec::<String>::new(), "{old} accepted");
    }
    let tls12 = accepted("tls_1_2_cipher_suites");
    assert!(!tls12.is_empty());
    for suite in &tls12 {
        assert!(
            suite.starts_with("TLS_ECDHE_")
                && (suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305")),
            "weak TLS 1.2 suite accepted: {suite}"
        );
    }
    assert!(!accepted("tls_1_3_cipher_suites").is_empty());
    let vulnerable = |kind: &str, field: &str| scan[kind]["result"][field].as_bool();
    assert_eq!(
        vulnerable("heartbleed", "is_vulnerable_to_heartbleed"),
        Some(false)
    );
    assert_eq!(
        vulnerable("tls_compression", "supports_compression"),
        Some(false)
    );
}

#[test]
fn mtls_per_domain_requires_a_client_certificate_and_logs_its_subject() {
    let pki = Pki::new();
    let (dc, dk) = pki.leaf("default", &["default.test"], false);
    let (ac, ak) = pki.leaf("api", &["api.example.com"], false);
    let (cc, ck) = pki.leaf("client", &["client.test"], false);
    let ca = pki.path("ca.pem");
    let log = temp_path("log");
    let yaml = format!(
        r#"
listeners:
  - name: tls
    address: 127.0.0.1:0
    tls:
      cert: {dc}
      key: {dk}
      certificates:
        - {{names: [api.example.com], cert: {ac}, key: {ak}, client_ca: {ca}}}
apis:
  - name: a
    stages:
      - name: $default
        access_log: {{destination: {log}, format: "$context.identity.clientCert.subjectDN $context.status $context.requestId"}}
    routes:
      - {{route: GET /hello, integration: {{type: mock, status: 200, body: hello}}}}
"#,
        log = log.display()
    );
    let gw = Gateway::start(&yaml);
    for v in ["--http1.1", "--http2"] {
        let (status, _, body) = curl(
            &pki,
            &gw,
            "api.example.com",
            "/hello",
            &[v, "--cert", &cc, "--key", &ck],
        );
        assert_eq!((status, body.as_str()), (200, "hello"), "{v}");
    }
    // Without a client certificate the mTLS domain's handshake fails…
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &ca,
        ])
        .arg("--resolve")
        .arg(format!("api.example.com:{}:127.0.0.1", gw.addr().port()))
        .arg(format!(
            "https://api.example.com:{}/hello",
            gw.addr().port()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000");
    assert!(!out.status.success());
    // …while other names on the listener need none.
    let (status, _, _) = curl(&pki, &gw, "default.test", "/hello", &["--http1.1"]);
    assert_eq!(status, 200);
    // The verified subject reaches the access log.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&log);
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.rsplit_once(' ').map_or(l, |(a, _)| a).to_string())
        .collect();
    assert_eq!(
        lines,
        ["CN=client.test 200", "CN=client.test 200", "- 200"],
        "{text}"
    );
}
