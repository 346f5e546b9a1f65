//! Black-box: `tollgate compile` writes a content-addressed snapshot
//! directory that `tollgate run DIR` serves exactly as the configuration;
//! damaged snapshots are refused with a sentence that says what is wrong.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn config(backend: std::net::SocketAddr) -> String {
    format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: shop
    protocol: http
    stages: [prod]
    routes:
      - route: GET /pets/{{id}}
        integration: {{type: mock, status: 201, headers: {{x-kind: pet}}, body: "pet"}}
      - route: ANY /files/{{proxy+}}
        integration: {{type: http_proxy, uri: "http://{backend}/store/{{proxy}}"}}
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - route: GET /orders
        integration: {{type: mock, body: "orders"}}
"#
    )
}

/// Run `tollgate ARGS` to its end (killed after 20 s).
fn tollgate(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A fresh directory for one test.
fn temp_dir() -> PathBuf {
    let dir = temp_path("snapshots");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `tollgate compile CONFIG -o DIR`; the id it printed.
fn compile(config: &Path, dir: &Path) -> String {
    let out = tollgate(&[&"compile", &config, &"-o", &dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "compiled <id> (<n> bytes) in <ms> ms", then the snapshot's path.
    let mut lines = stdout.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(first[0], "compiled", "{stdout}");
    let id = first[1].to_owned();
    assert_eq!(id.len(), 32, "{stdout}");
    let len: usize = first[2].trim_start_matches('(').parse().unwrap();
    let snap = dir.join(format!("{id}.snap"));
    assert_eq!(lines.next(), Some(&*snap.display().to_string()));
    assert_eq!(std::fs::metadata(&snap).unwrap().len() as usize, len);
    assert_eq!(
        std::fs::read_to_string(dir.join("current")).unwrap(),
        format!("{id}.snap\n")
    );
    id
}

fn write_config(yaml: &str) -> PathBuf {
    let path = temp_path("yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// What a client of the gateway on `port` sees of a response, less the
/// per-request headers and the gateway's own port.
fn seen(r: &Response, port: u16) -> (u16, Vec<(String, String)>, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| {
            ![
                "date",
                "apigw-requestid",
                "x-amzn-requestid",
                "x-amz-apigw-id",
                "x-amzn-trace-id",
            ]
            .contains(&&*n.to_ascii_lowercase())
        })
        .cloned()
        .collect();
    headers.sort();
    (
        r.status,
        headers,
        // Trace headers the gateway sends upstream are new per request.
        r.text()
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                !l.starts_with("traceparent:") && !l.starts_with("x-amzn-trace-id:")
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace(&port.to_string(), "PORT"),
    )
}

#[test]
fn snapshot_serves_the_same_as_its_config() {
    let backend = Backend::echo();
    let yaml = config(backend.addr);
    let path = write_config(&yaml);
    let dir = temp_dir();
    compile(&path, &dir);

    let from_config = Gateway::start(&yaml);
    let from_snapshot = Gateway::start_path(dir.clone(), 1, &["--workers", "2"]);
    for target in [
        "/prod/pets/7",
        "/prod/files/a/b?x=1",
        "/prod/nothing",
        "/v1/orders",
        "/v1/missing",
        "/nostage",
    ] {
        let a = get(from_config.addr(), target);
        let b = get(from_snapshot.addr(), target);
        assert_eq!(
            seen(&a, from_config.addr().port()),
            seen(&b, from_snapshot.addr().port()),
            "{target}"
        );
    }
    assert_eq!(get(from_snapshot.addr(), "/prod/pets/7").text(), "pet");
    assert_eq!(backend.last().target, "/store/a/b?x=1");
    drop(from_snapshot);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn compiling_twice_gives_the_same_id() {
    let path = write_config(&config("127.0.0.1:9".parse().unwrap()));
    let (a, b) = (temp_dir(), temp_dir());
    let id = compile(&path, &a);
    assert_eq!(compile(&path, &a), id, "same directory");
    assert_eq!(compile(&path, &b), id, "another directory");
    let snap = format!("{id}.snap");
    assert_eq!(
        std::fs::read(a.join(&snap)).unwrap(),
        std::fs::read(b.join(&snap)).unwrap()
    );
    // A different configuration gets another id, and `current` moves to it.
    let other = write_config(&config("127.0.0.1:10".parse().unwrap()));
    let id2 = compile(&other, &a);
    assert_ne!(id2, id);
    assert!(a.join(&snap).exists(), "old snapshots stay");
    for p in [&a, &b] {
        let _ = std::fs::remove_dir_all(p);
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&other);
}

/// Compile, damage `DIR/<id>.snap` with `damage`, and return what `run DIR` said.
fn run_damaged(damage: impl FnOnce(&mut Vec<u8>)) -> (Option<i32>, String) {
    let path = write_config(&config("127.0.0.1:9".parse().unwrap()));
    let dir = temp_dir();
    let id = compile(&path, &dir);
    let snap = dir.join(format!("{id}.snap"));
    let mut bytes = std::fs::read(&snap).unwrap();
    damage(&mut bytes);
    std::fs::write(&snap, &bytes).unwrap();
    let out = tollgate(&[&"run", &dir, &"--workers", &"1"]);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&path);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(code: Option<i32>, stderr: &str, sentence: &str) {
    assert!(
        code.is_some_and(|c| c != 0),
        "exit {code:?}, stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(sentence),
        "wanted {sentence:?} in:\n{stderr}"
    );
}

#[test]
fn corrupted_snapshot_is_refused() {
    let (code, err) = run_damaged(|b| {
        let at = b.len() - 3;
        b[at] ^= 0x40;
    });
    assert_refused(
        code,
        &err,
        "snapshot is corrupted: payload hash does not match",
    );
}

#[test]
fn truncated_snapshot_is_refused() {
    let (code, err) = run_damaged(|b| b.truncate(b.len() - 100));
    assert_refused(code, &err, "snapshot is truncated: header says ");
    let (code, err) = run_damaged(|b| b.truncate(20));
    assert_refused(
        code,
        &err,
        "snapshot is truncated: the header needs 64 bytes, file has 20",
    );
}

#[test]
fn newer_format_is_refused() {
    let (code, err) = run_damaged(|b| b[8] = 7);
    assert_refused(
        code,
        &err,
        "snapshot format version 7 is newer than this tollgate understands (6)",
    );
}

#[test]
fn missing_current_is_refused() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let out = tollgate(&[&"run", &dir]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_refused(out.status.code(), &err, "current: cannot read");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compile_refuses_a_broken_config_with_every_error() {
    let path = write_config(
        "listeners: [{name: main, address: 127.0.0.1:0}]
apis:
  - name: shop
    stages: [prod]
    routes:
      - {route: GET pets, integration: {type: mock}}
      - {route: GET /ok, integration: {type: mock, status: 700}}
",
    );
    let dir = temp_dir();
    let out = tollgate(&[&"compile", &path, &"-o", &dir]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let file = path.display().to_string();
    assert!(err.contains(&format!("{file}:6:")), "{err}");
    assert!(err.contains(&format!("{file}:7:")), "{err}");
    assert!(err.contains("2 errors"), "{err}");
    assert!(!dir.exists(), "nothing written");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn validate_accepts_a_snapshot_directory() {
    let path = write_config(&config("127.0.0.1:9".parse().unwrap()));
    let dir = temp_dir();
    let id = compile(&path, &dir);
    let out = tollgate(&[&"validate", &dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{id}.snap: ok (1 listeners, 2 apis, 3 routes")),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&path);
}
