//! Black-box: `tollgate validate` reports every error with file:line:column.

mod common;

use std::process::Command;

fn validate(yaml: &str) -> (i32, String, String) {
    let path = common::temp_path("yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "CFG"),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn example_configs_are_valid() {
    for file in [
        "config/gateway.yaml",
        "bench/gateway.yaml",
        "config/lambda.yaml",
        "bench/lambda.yaml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("validate")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn reports_every_error_with_its_line() {
    let yaml = "\
listeners:
  - name: main
    address: 127.0.0.1:0
apis:
  - name: shop
    protocol: http
    stages: [prod]
    routes:
      - route: GET pets
        integration: {type: mock}
      - route: GET /a/{proxy+}/b
        integration: {type: mock}
      - route: GET /ok
        integration: {type: http_proxy, uri: \"http://nowhere/{id}\"}
";
    let (code, err, _) = validate(yaml);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CFG:9:"),
        "route without slash at line 9:\n{err}"
    );
    assert!(
        err.contains("CFG:11:"),
        "greedy not last at line 11:\n{err}"
    );
    assert!(
        err.contains("CFG:13:") || err.contains("CFG:14:"),
        "bad uri near line 13:\n{err}"
    );
}

#[test]
fn unknown_field_is_refused_with_location() {
    let yaml = "\
listeners:
  - name: main
    address: 127.0.0.1:0
    colour: blue
apis: []
";
    let (code, err, _) = validate(yaml);
    assert_eq!(code, 2);
    assert!(err.contains("CFG:4:"), "{err}");
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn syntax_error_has_location() {
    let (code, err, _) = validate("listeners:\n  - name: [unclosed\n");
    assert_eq!(code, 2);
    assert!(err.contains("CFG:"), "{err}");
}
