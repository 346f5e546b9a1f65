//! API keys against the built binary: `X-API-Key` on routes with
//! `api_key_required`, keys written as values, as SHA-256 hashes and
//! imported from API Gateway's CSV format, disabled keys, keys outside the
//! stage's usage plans, snapshots that hold only hashes, and keys added or
//! disabled through the admin API, kept across reloads and restarts.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Gateway, Response, send_raw, temp_path};
use sha2::{Digest, Sha256};

const TOKEN: &str = "keys-admin-token";
const ALICE: &str = "alice-0123456789abcdefghij";
const BOB: &str = "bob-0123456789abcdefghijkl";
const CAROL: &str = "carol-0123456789abcdefghij";
const DAVE: &str = "dave-0123456789abcdefghijk";

fn hex_sha256(v: &str) -> String {
    Sha256::digest(v.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(protocol: &str, state: &Path, csv: &Path) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
state_dir: {state}
api_keys_csv: {csv}
api_keys:
  - name: alice
    value: {ALICE}
    usage_plans: [basic]
  - name: bob
    sha256: {bob}
    usage_plans: [basic]
  - name: off
    value: off-0123456789abcdefghijkl
    enabled: false
    usage_plans: [basic]
  - name: elsewhere
    value: elsewhere-0123456789abcdef
    usage_plans: [other]
usage_plans:
  - name: basic
    id: c7y23b
    api_stages: [{{api: shop, stage: prod}}]
  - name: other
    id: glvrsr
    api_stages: [{{api: shop, stage: beta}}]
apis:
  - name: shop
    protocol: {protocol}
    stages: [prod, beta]
    routes:
      - route: GET /open
        integration: {{type: mock, body: open}}
      - route: GET /secret
        api_key_required: true
        integration: {{type: mock, body: secret}}
"#,
        state = state.display(),
        csv = csv.display(),
        bob = hex_sha256(BOB),
    )
}

fn csv_file() -> PathBuf {
    let p = temp_path("csv");
    std::fs::write(
        &p,
        format!(
            "Enabled,Name,key,UsageplanIds,Description\n\
             true,carol,{CAROL},\"c7y23b,glvrsr\",both plans? no: one per stage\n\
             FALSE,dave,{DAVE},c7y23b,\n"
        ),
    )
    .unwrap();
    p
}

fn with_key(gw: &Gateway, path: &str, key: Option<&str>) -> Response {
    let field = key
        .map(|k| format!("X-API-Key: {k}\r\n"))
        .unwrap_or_default();
    send_raw(
        gw.addr(),
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n{field}Connection: close\r\n\r\n").as_bytes(),
    )
}

fn admin(gw: &Gateway, method: &str, path: &str, body: &str) -> Response {
    send_raw(
        gw.admin.unwrap(),
        format!(
            "{method} {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn start(yaml: &str) -> Gateway {
    // SAFETY: set before the gateway starts; read only by the child.
    unsafe { std::env::set_var("TOLLGATE_ADMIN_TOKEN", TOKEN) };
    Gateway::start(yaml)
}

#[test]
fn keys_in_config_csv_and_hashes() {
    let state = temp_path("state");
    let csv = csv_file();
    let gw = start(&config("rest", &state, &csv));
    assert_eq!(
        with_key(&gw, "/prod/open", None).status,
        200,
        "no key needed"
    );
    let missing = with_key(&gw, "/prod/secret", None);
    assert_eq!(missing.status, 403);
    assert_eq!(missing.text(), r#"{"message":"Forbidden"}"#);
    assert_eq!(
        missing.header("x-amzn-ErrorType"),
        Some("ForbiddenException")
    );
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("nope-0123456789abcdefghij")).status,
        403
    );
    assert_eq!(with_key(&gw, "/prod/secret", Some(ALICE)).text(), "secret");
    assert_eq!(
        with_key(&gw, "/prod/secret", Some(BOB)).status,
        200,
        "sha256 in config"
    );
    assert_eq!(
        with_key(&gw, "/prod/secret", Some(CAROL)).status,
        200,
        "CSV import"
    );
    assert_eq!(
        with_key(&gw, "/prod/secret", Some(DAVE)).status,
        403,
        "disabled in CSV"
    );
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("off-0123456789abcdefghijkl")).status,
        403
    );
    // A key whose plans do not cover the stage.
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("elsewhere-0123456789abcdef")).status,
        403
    );
    assert_eq!(
        with_key(&gw, "/beta/secret", Some("elsewhere-0123456789abcdef")).status,
        200
    );
    // The header name is case-insensitive.
    let r = send_raw(
        gw.addr(),
        format!("GET /prod/secret HTTP/1.1\r\nHost: t\r\nx-api-KEY: {ALICE}\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn http_api_forbidden_has_no_error_type() {
    let state = temp_path("state");
    let csv = csv_file();
    let gw = start(&config("http", &state, &csv));
    let r = with_key(&gw, "/prod/secret", None);
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"message":"Forbidden"}"#);
    assert_eq!(r.header("x-amzn-ErrorType"), None);
    let _ = std::fs::remove_file(&csv);
}

#[test]
fn snapshots_hold_hashes_not_values() {
    let state = temp_path("state");
    let csv = csv_file();
    let conf = temp_path("yaml");
    std::fs::write(&conf, config("rest", &state, &csv)).unwrap();
    let dir = temp_path("snaps");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["compile"])
        .arg(&conf)
        .arg("-o")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .unwrap();
    let bytes = std::fs::read(&snap).unwrap();
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for value in [ALICE, CAROL, DAVE] {
        assert!(!has(value.as_bytes()), "{value} is in the snapshot");
    }
    assert!(has(&Sha256::digest(ALICE.as_bytes())), "alice's hash is");
    assert!(
        has(&Sha256::digest(CAROL.as_bytes())),
        "carol's (CSV) hash is"
    );
    // And the snapshot serves the keys.
    let gw = {
        // SAFETY: as in `start`.
        unsafe { std::env::set_var("TOLLGATE_ADMIN_TOKEN", TOKEN) };
        Gateway::start_path(dir.clone(), 1, &["--workers", "2"])
    };
    assert_eq!(with_key(&gw, "/prod/secret", Some(CAROL)).status, 200);
    assert_eq!(with_key(&gw, "/prod/secret", Some(DAVE)).status, 403);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&conf);
}

fn wait_ready(gw: &Gateway) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.admin_get("/readyz").status != 200 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn runtime_keys_are_kept_across_reloads_and_restarts() {
    let state = temp_path("state");
    let csv = csv_file();
    let yaml = config("rest", &state, &csv);
    let gw = start(&yaml);
    // Without the token: refused.
    let r = send_raw(
        gw.admin.unwrap(),
        b"POST /admin/apikeys HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(r.status, 401);
    // Add one with a value, one the gateway makes up.
    let r = admin(
        &gw,
        "POST",
        "/admin/apikeys",
        r#"{"name":"erin","value":"erin-0123456789abcdefghijk","usage_plans":["basic"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let made: serde_json::Value = serde_json::from_str(
        &admin(
            &gw,
            "POST",
            "/admin/apikeys",
            r#"{"name":"frank","usage_plans":["c7y23b"]}"#,
        )
        .text(),
    )
    .unwrap();
    let frank = made["value"].as_str().unwrap().to_owned();
    assert_eq!(frank.len(), 40);
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("erin-0123456789abcdefghijk")).status,
        200
    );
    assert_eq!(with_key(&gw, "/prod/secret", Some(&frank)).status, 200);
    // Bad requests.
    assert_eq!(
        admin(
            &gw,
            "POST",
            "/admin/apikeys",
            r#"{"name":"x","value":"short"}"#
        )
        .status,
        400
    );
    assert_eq!(
        admin(
            &gw,
            "POST",
            "/admin/apikeys",
            r#"{"name":"x","usage_plans":["nope"]}"#
        )
        .status,
        400
    );
    // Disable a configured key and a runtime one.
    assert_eq!(
        admin(&gw, "DELETE", "/admin/apikeys?key=alice", "").status,
        200
    );
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        admin(&gw, "DELETE", &format!("/admin/apikeys?key={id}"), "").status,
        200
    );
    assert_eq!(
        admin(&gw, "DELETE", "/admin/apikeys?key=nobody", "").status,
        404
    );
    assert_eq!(with_key(&gw, "/prod/secret", Some(ALICE)).status, 403);
    assert_eq!(with_key(&gw, "/prod/secret", Some(&frank)).status, 403);
    let listed = gw.admin_get("/admin/apikeys").text();
    assert!(listed.contains(r#""name":"erin""#), "{listed}");
    assert!(!listed.contains(ALICE), "values are never shown");
    // A reload keeps the runtime changes.
    std::fs::write(&gw.config, yaml.replace("GET /open", "GET /open2")).unwrap();
    assert_eq!(gw.admin_post("/admin/reload", Some(TOKEN)).status, 200);
    wait_ready(&gw);
    assert_eq!(with_key(&gw, "/prod/open2", None).status, 200, "reloaded");
    assert_eq!(with_key(&gw, "/prod/secret", Some(ALICE)).status, 403);
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("erin-0123456789abcdefghijk")).status,
        200
    );
    drop(gw);
    // So does a restart (even after kill: the file is written at once).
    let gw = start(&yaml);
    assert_eq!(with_key(&gw, "/prod/secret", Some(ALICE)).status, 403);
    assert_eq!(with_key(&gw, "/prod/secret", Some(&frank)).status, 403);
    assert_eq!(
        with_key(&gw, "/prod/secret", Some("erin-0123456789abcdefghijk")).status,
        200
    );
    assert_eq!(with_key(&gw, "/prod/secret", Some(BOB)).status, 200);
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn a_key_in_two_plans_of_one_stage_is_refused_at_load() {
    let state = temp_path("state");
    let csv = temp_path("csv");
    std::fs::write(
        &csv,
        format!("Name,Key,UsagePlanIds\ncarol,{CAROL},\"c7y23b,both\"\n"),
    )
    .unwrap();
    let yaml = config("rest", &state, &csv).replace(
        "  - name: other\n    id: glvrsr\n    api_stages: [{api: shop, stage: beta}]",
        "  - name: other\n    id: both\n    api_stages: [{api: shop, stage: prod}]",
    );
    let conf = temp_path("yaml");
    std::fs::write(&conf, &yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("validate")
        .arg(&conf)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("{}:2:1:", csv.display())), "{text}");
    assert!(text.contains("one plan per API stage"), "{text}");
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_file(&conf);
}
