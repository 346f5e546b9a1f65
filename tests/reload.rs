//! Black-box: live reload under load (SIGHUP, file change, admin API), a
//! refused bad configuration, and the admin endpoints.

mod common;

use common::*;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-admin-token";

fn config(version: &str, backend: std::net::SocketAddr) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
# Load well past the account default (10,000 requests per second).
throttling: unlimited
apis:
  - name: shop
    protocol: http
    stages: ["$default"]
    routes:
      - route: GET /v
        integration:
          type: mock
          headers: {{x-version: {version}}}
          body: {version}
      - route: GET /p
        integration: {{type: http_proxy, uri: "http://{backend}/{version}"}}
"#
    )
}

/// Replace the file the way editors and deploy tools do: write aside, rename.
fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn start(yaml: &str) -> Gateway {
    // The token reaches the gateway through the environment.
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("TOLLGATE_ADMIN_TOKEN", TOKEN) };
    Gateway::start_with(yaml, &["--workers", "2", "--watch"])
}

#[test]
fn fifty_reloads_under_load_lose_nothing() {
    let backend = Backend::start(|r| Reply::ok(&r.target));
    let gw = start(&config("v1", backend.addr));
    let addr = gw.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, ok, failures, seen) = (stop.clone(), ok.clone(), failures.clone(), seen.clone());
        clients.push(std::thread::spawn(move || {
            let mut s = connect(addr);
            let mut buf = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = if (i + c).is_multiple_of(3) {
                    "/p"
                } else {
                    "/v"
                };
                i += 1;
                if s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                    .is_err()
                {
                    failures.lock().unwrap().push("write failed".into());
                    s = connect(addr);
                    continue;
                }
                match read_response(&mut s, &mut buf, false) {
                    None => {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("no response to {path}"));
                        s = connect(addr);
                        buf.clear();
                    }
                    Some(r) => {
                        let body = r.text();
                        let whole = match path {
                            "/v" => r.status == 200 && r.header("x-version") == Some(body.as_str()),
                            _ => r.status == 200 && (body == "/v1" || body == "/v2"),
                        };
                        if whole {
                            ok.fetch_add(1, Ordering::Relaxed);
                            seen.lock()
                                .unwrap()
                                .insert(body.trim_start_matches('/').to_string());
                        } else {
                            failures
                                .lock()
                                .unwrap()
                                .push(format!("{path}: {} {:?} {body}", r.status, r.headers));
                        }
                    }
                }
            }
        }));
    }
    let triggers = ["sighup", "file", "admin"];
    for i in 0..50 {
        let version = if i % 2 == 0 { "v2" } else { "v1" };
        let before = gw.admin_get("/admin/status").text();
        replace_file(&gw.config, &config(version, backend.addr));
        match triggers[i % 3] {
            "sighup" => gw.signal(libc::SIGHUP),
            "admin" => {
                let r = gw.admin_post("/admin/reload", Some(TOKEN));
                assert_eq!(r.status, 200, "{}", r.text());
            }
            _ => {} // the file watcher sees the rename
        }
        // Wait until the new deployment is published and every worker serves it.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = gw.admin_get("/admin/status").text();
            let ready = gw.admin_get("/readyz").status == 200;
            if status != before && ready && status.contains("\"ready\":true") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "reload {i} ({}) not applied: {status}",
                triggers[i % 3]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        if i == 25 {
            // A broken configuration mid-load is refused; serving goes on.
            std::fs::write(&gw.config, "listeners: [oops").unwrap();
            let r = gw.admin_post("/admin/reload", Some(TOKEN));
            assert_eq!(r.status, 400, "{}", r.text());
            assert!(r.text().contains("\"reloaded\":false"), "{}", r.text());
            assert!(
                gw.admin_get("/admin/status")
                    .text()
                    .contains("\"ok\":false")
            );
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        ok.load(Ordering::Relaxed) > 1000,
        "only {} requests",
        ok.load(Ordering::Relaxed)
    );
    let seen = seen.lock().unwrap();
    assert!(seen.contains("v1") && seen.contains("v2"), "{seen:?}");
    assert!(gw.stderr().contains("reload (SIGHUP)"), "{}", gw.stderr());
    assert!(
        gw.stderr().contains("reload (file change)"),
        "{}",
        gw.stderr()
    );
    assert!(gw.stderr().contains("refused"), "{}", gw.stderr());
}

#[test]
fn admin_endpoints() {
    let backend = Backend::echo();
    let gw = start(&config("v1", backend.addr));
    assert_eq!(gw.admin_get("/healthz").status, 200);
    assert_eq!(gw.admin_get("/readyz").status, 200);
    let status = gw.admin_get("/admin/status");
    assert_eq!(status.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(json["workers"].as_array().unwrap().len(), 2);
    assert!(json["workers"][0]["driver"].is_string(), "{json}");
    assert!(
        json["deployment"]["id"].as_str().unwrap().len() >= 16,
        "{json}"
    );
    assert_eq!(json["stages"][0]["stage"], "$default");
    // Mutating endpoints need the bearer token.
    assert_eq!(gw.admin_post("/admin/reload", None).status, 401);
    assert_eq!(gw.admin_post("/admin/reload", Some("wrong")).status, 401);
    let r = gw.admin_post("/admin/reload", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(gw.admin_get("/nope").status, 404);
}

#[test]
fn changed_listeners_are_refused_on_reload() {
    let backend = Backend::echo();
    let gw = start(&config("v1", backend.addr));
    let changed = config("v2", backend.addr).replace("name: main", "name: other");
    replace_file(&gw.config, &changed);
    let r = gw.admin_post("/admin/reload", Some(TOKEN));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("listeners differ"), "{}", r.text());
    assert_eq!(get(gw.addr(), "/v").text(), "v1");
}
