//! Snapshot tests: round trip and determinism, and every way a snapshot file
//! is refused, each from crafted bytes.

use std::path::PathBuf;

use super::*;
use crate::config::{Integration, load_str};

/// Every variant of the model: both protocols, mock and proxy integrations,
/// templates, a literal upstream, `ANY`, an extension method, `$default`,
/// IPv6, two listeners.
const SAMPLE: &str = r#"
listeners:
  - {name: main, address: 127.0.0.1:8080}
  - {name: v6, address: "[::1]:0"}
limits: {max_headers: 50, drain_timeout_ms: 1500}
upstreams:
  backend:
    targets: [127.0.0.1:9000, 127.0.0.1:9001]
    balance: least_request
    pool_size: 8
apis:
  - name: shop
    protocol: http
    listeners: [main]
    stages: [prod, $default]
    routes:
      - route: GET /pets/{id}
        integration:
          type: mock
          status: 201
          headers: {content-type: application/json, x-a: b}
          body: '{"id": 7}'
      - route: ANY /files/{proxy+}
        integration: {type: http_proxy, uri: "http://backend/f/{proxy}?x=1", timeout_ms: 900, pass_host: true}
      - route: PURGE /cache
        integration: {type: http_proxy, uri: "http://127.0.0.1:7000"}
      - route: $default
        integration: {type: mock, status: 404}
  - name: legacy
    protocol: rest
    stages: [v1]
    routes:
      - route: POST /orders/{id}/items
        integration: {type: http_proxy, uri: "http://backend/o/{id}"}
"#;

fn sample() -> Gateway {
    load_str("sample.yaml", SAMPLE).unwrap()
}

fn example() -> Gateway {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate::config::load(&root.join("config/gateway.yaml")).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tollgate-snapshot-unit-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn refused(bytes: &[u8]) -> SnapshotError {
    match decode(bytes) {
        Ok(_) => panic!("snapshot accepted"),
        Err(e) => e,
    }
}

#[test]
fn round_trip_equals_the_compiled_config() {
    for gw in [sample(), example()] {
        assert_eq!(decode(&encode(&gw)).unwrap(), gw);
    }
}

#[test]
fn encoding_is_deterministic() {
    let gw = sample();
    let bytes = encode(&gw);
    assert_eq!(encode(&gw.clone()), bytes);
    assert_eq!(encode(&sample()), bytes, "a second load compiles the same");
    assert_eq!(encode(&decode(&bytes).unwrap()), bytes);
    assert_eq!(id_of(&encode(&sample())), id_of(&bytes));
    assert_ne!(id_of(&encode(&example())), id_of(&bytes));
}

#[test]
fn id_is_32_lowercase_hex_digits() {
    let id = id_of(&encode(&sample()));
    assert!(is_id(&id), "{id}");
    assert!(!is_id(&id.to_uppercase()));
    assert!(!is_id("../../etc/passwd"));
}

#[test]
fn header_layout() {
    let bytes = encode(&sample());
    assert_eq!(&bytes[..8], b"TGSNAP\0\0");
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(bytes[12..16], [0; 4]);
    let len = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    assert_eq!(len as usize, bytes.len() - HEADER_LEN);
    assert_eq!(bytes[56..64], [0; 8]);
}

#[test]
fn decodes_from_an_unaligned_buffer() {
    let bytes = encode(&sample());
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    assert_eq!(decode(&shifted[1..]).unwrap(), sample());
}

#[test]
fn bad_magic_is_refused() {
    let mut bytes = encode(&sample());
    bytes[0] = b'X';
    let e = refused(&bytes);
    assert_eq!(e, SnapshotError::BadMagic);
    assert_eq!(e.to_string(), "not a tollgate snapshot (bad magic)");
    assert_eq!(refused(b"tollgate: yaml"), SnapshotError::BadMagic);
}

#[test]
fn newer_format_is_refused() {
    let mut bytes = encode(&sample());
    bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
    let e = refused(&bytes);
    assert_eq!(e, SnapshotError::NewerVersion { version: 7 });
    assert_eq!(
        e.to_string(),
        "snapshot format version 7 is newer than this tollgate understands (6)"
    );
    bytes[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(refused(&bytes), SnapshotError::OlderVersion { version: 0 });
}

#[test]
fn truncated_payload_is_refused() {
    let bytes = encode(&sample());
    let cut = &bytes[..bytes.len() - 10];
    let n = (bytes.len() - HEADER_LEN) as u64;
    let e = refused(cut);
    assert_eq!(
        e,
        SnapshotError::Truncated {
            expected: n,
            found: n - 10
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "snapshot is truncated: header says {n} payload bytes, file has {}",
            n - 10
        )
    );
    assert!(matches!(
        refused(&bytes[..HEADER_LEN]),
        SnapshotError::Truncated { found: 0, .. }
    ));
}

#[test]
fn truncated_header_is_refused() {
    let bytes = encode(&sample());
    for len in [0, 5, 8, 30, HEADER_LEN - 1] {
        let e = refused(&bytes[..len]);
        assert_eq!(e, SnapshotError::TruncatedHeader { len });
        assert!(e.to_string().starts_with("snapshot is truncated:"), "{e}");
    }
}

#[test]
fn flipped_payload_byte_is_a_hash_mismatch() {
    let bytes = encode(&sample());
    for at in [HEADER_LEN, HEADER_LEN + 100, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        let e = refused(&bad);
        assert_eq!(e, SnapshotError::HashMismatch);
        assert_eq!(
            e.to_string(),
            "snapshot is corrupted: payload hash does not match"
        );
    }
    let mut bad = bytes.clone();
    bad[30] ^= 1; // in the header's hash
    assert_eq!(refused(&bad), SnapshotError::HashMismatch);
}

#[test]
fn unknown_header_bits_and_extra_bytes_are_refused() {
    let bytes = encode(&sample());
    let mut flags = bytes.clone();
    flags[12] = 4;
    assert_eq!(refused(&flags), SnapshotError::UnknownFlags { flags: 4 });
    let mut reserved = bytes.clone();
    reserved[60] = 1;
    assert_eq!(refused(&reserved), SnapshotError::BadHeader);
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        refused(&longer),
        SnapshotError::TrailingBytes { .. }
    ));
}

/// A file around `payload` with a correct header.
fn with_header(payload: &[u8]) -> Vec<u8> {
    let mut file = format::header(payload).to_vec();
    file.extend_from_slice(payload);
    file
}

#[test]
fn garbage_with_a_valid_hash_fails_validation() {
    for payload in [vec![0xff; 256], vec![1, 2, 3], Vec::new()] {
        let e = refused(&with_header(&payload));
        assert!(matches!(e, SnapshotError::Invalid(_)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("snapshot payload failed validation: "),
            "{e}"
        );
    }
    // A valid archive with one byte changed inside a string's length: the
    // hash is recomputed, so only bytecheck can notice.
    let good = encode(&sample());
    let mut payload = good[HEADER_LEN..].to_vec();
    let n = payload.len();
    payload[n - 8..].fill(0xee);
    assert!(matches!(
        refused(&with_header(&payload)),
        SnapshotError::Invalid(_)
    ));
}

#[test]
fn out_of_range_indexes_are_inconsistent() {
    let mut gw = sample();
    gw.apis[0].listeners = vec![0, 5];
    let e = refused(&encode(&gw));
    assert_eq!(
        e.to_string(),
        "snapshot is inconsistent: api `shop`: listener index 5 is out of range (there are 2)"
    );

    let mut gw = sample();
    let Integration::HttpProxy(p) = &mut gw.apis[1].deployments[0].routes[0].integration else {
        panic!("legacy's route proxies");
    };
    p.upstream = 9;
    assert!(matches!(
        refused(&encode(&gw)),
        SnapshotError::Inconsistent(m) if m.contains("upstream index 9")
    ));

    let mut gw = sample();
    gw.upstreams[0].targets.clear();
    assert!(matches!(
        refused(&encode(&gw)),
        SnapshotError::Inconsistent(_)
    ));

    let mut gw = sample();
    gw.listeners.clear();
    gw.apis.clear();
    assert!(matches!(
        refused(&encode(&gw)),
        SnapshotError::Inconsistent(_)
    ));
}

#[test]
fn a_bad_route_path_is_inconsistent() {
    let mut gw = sample();
    let key = &mut gw.apis[0].deployments[0].routes[0].key;
    if let crate::config::RouteKey::Path { path, .. } = key {
        *path = "/a/{proxy+}/b".to_owned();
    }
    assert!(matches!(
        refused(&encode(&gw)),
        SnapshotError::Inconsistent(_)
    ));
}

#[test]
fn directory_round_trip() {
    let dir = temp_dir("round");
    let bytes = encode(&sample());
    let id = write_dir(&dir, &bytes).unwrap();
    assert_eq!(id, id_of(&bytes));
    assert_eq!(
        std::fs::read_to_string(dir.join("current")).unwrap(),
        format!("{id}.snap\n")
    );
    assert_eq!(
        std::fs::read(dir.join(format!("{id}.snap"))).unwrap(),
        bytes
    );
    let (read_id, gw) = read_current(&dir).unwrap();
    assert_eq!((read_id.as_str(), &gw), (id.as_str(), &sample()));
    // Writing again keeps the id; a second snapshot moves `current` only.
    assert_eq!(write_dir(&dir, &bytes).unwrap(), id);
    let other = write_dir(&dir, &encode(&example())).unwrap();
    assert_ne!(other, id);
    assert_eq!(read_current(&dir).unwrap().0, other);
    assert!(dir.join(format!("{id}.snap")).exists());
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_refusals_name_the_file() {
    let dir = temp_dir("refuse");
    let bytes = encode(&sample());
    let id = write_dir(&dir, &bytes).unwrap();
    let snap = dir.join(format!("{id}.snap"));

    // Truncated in place.
    std::fs::write(&snap, &bytes[..bytes.len() / 2]).unwrap();
    let e = read_current(&dir).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: snapshot is truncated:", snap.display())),
        "{e}"
    );

    // A valid snapshot under another snapshot's name.
    std::fs::write(&snap, encode(&example())).unwrap();
    let e = read_current(&dir).unwrap_err();
    assert!(matches!(e, LoadError::IdMismatch { .. }), "{e}");

    // `current` that names something else.
    for content in ["../../etc/passwd\n", "", "current\n"] {
        std::fs::write(dir.join("current"), content).unwrap();
        let e = read_current(&dir).unwrap_err();
        assert!(matches!(e, LoadError::BadCurrent { .. }), "{e}");
    }

    // A damaged snapshot is replaced by writing it again.
    assert_eq!(write_dir(&dir, &bytes).unwrap(), id);
    assert_eq!(read_current(&dir).unwrap().1, sample());

    std::fs::remove_dir_all(&dir).unwrap();
    let e = read_current(&dir).unwrap_err();
    assert!(matches!(e, LoadError::Io { .. }), "{e}");
}

#[test]
fn source_loads_configs_and_snapshot_directories_alike() {
    let dir = temp_dir("source");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.yaml");
    std::fs::write(&config, SAMPLE).unwrap();
    let snaps = dir.join("snapshots");
    let id = write_dir(&snaps, &encode(&sample())).unwrap();

    let from_config = Source::from_arg(&config);
    assert_eq!(from_config, Source::Config(config.clone()));
    assert_eq!(from_config.watched_file(), config);
    let a = from_config.load().unwrap();
    assert_eq!(
        (a.id.as_str(), a.origin.as_str()),
        (id.as_str(), &*config.display().to_string())
    );

    let from_dir = Source::from_arg(&snaps);
    assert_eq!(from_dir, Source::Snapshots(snaps.clone()));
    assert_eq!(from_dir.watched_file(), snaps.join("current"));
    let b = from_dir.load().unwrap();
    assert_eq!(b.id, id);
    assert_eq!(
        b.origin,
        snaps.join(format!("{id}.snap")).display().to_string()
    );
    assert_eq!(a.gateway, b.gateway);

    std::fs::write(&config, "listeners: []\napis: [}\n").unwrap();
    let errors = from_config.load().unwrap_err();
    assert!(
        errors[0].starts_with(&format!("{}:2:", config.display())),
        "{errors:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Random byte damage behind a recomputed hash (what only bytecheck and the
/// invariant checks can catch) never panics; whatever decodes builds routes.
#[test]
fn damaged_payloads_with_valid_hashes_never_panic() {
    let good = encode(&sample());
    let payload = &good[HEADER_LEN..];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        let mut p = payload.to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % p.len() as u64) as usize;
            p[at] = next() as u8;
        }
        match decode(&with_header(&p)) {
            Ok(gw) => {
                accepted += 1;
                for l in 0..gw.listeners.len() {
                    crate::route::Table::build(&gw, l);
                }
            }
            Err(SnapshotError::Invalid(_) | SnapshotError::Inconsistent(_)) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(
        refused > 0 && accepted > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn wire_text_that_would_break_framing_is_inconsistent() {
    let mock = |gw: &mut Gateway| match &mut gw.apis[0].deployments[0].routes[0].integration {
        Integration::Mock(m) => m.clone(),
        _ => panic!("shop's first route is a mock"),
    };
    let set = |gw: &mut Gateway, m| {
        gw.apis[0].deployments[0].routes[0].integration = Integration::Mock(m)
    };
    let damaged: [&dyn Fn(&mut crate::config::Mock); 3] = [
        &|m| m.status = 1000,
        &|m| m.headers.push(("x".into(), "a\r\nset-cookie: b".into())),
        &|m| m.headers.push(("bad name".into(), "v".into())),
    ];
    for damage in damaged {
        let mut gw = sample();
        let mut m = mock(&mut gw);
        damage(&mut m);
        set(&mut gw, m);
        let e = refused(&encode(&gw));
        assert!(
            e.to_string()
                .starts_with("snapshot is inconsistent: api `shop`: route `GET /pets/{id}`: "),
            "{e}"
        );
    }
    let mut gw = sample();
    if let Integration::HttpProxy(p) = &mut gw.apis[0].deployments[0].routes[1].integration {
        p.host_header = "a\nb".into();
    }
    assert!(matches!(
        refused(&encode(&gw)),
        SnapshotError::Inconsistent(_)
    ));
}

/// The rest of the model: stages with variables, canaries, deployments,
/// custom domains, caches, throttles, API keys and usage plans, access logs,
/// gateway responses, a Lambda integration.
const FEATURES: &str = r#"
listeners: [{name: main, address: 127.0.0.1:8080}]
throttling: {rate: 100, burst: 50}
api_keys:
  - {name: alice, value: alice-0123456789abcdefghij, usage_plans: [basic]}
  - {name: bob, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, enabled: false}
iam:
  region: eu-west-1
  account_id: "111122223333"
  access_keys:
    - id: AKIAALICE0EXAMPLE0
      secret: s3cr3t
      policy: {Statement: [{Effect: Allow, Action: execute-api:Invoke, NotResource: "arn:aws:execute-api:*:*:shop/*/DELETE/*", Condition: {Bool: {x: "1"}}}]}
usage_plans:
  - name: basic
    throttle: {rate: 10, burst: 20}
    quota: {limit: 5000, period: WEEK, offset: 1}
    api_stages:
      - {api: shop, stage: prod, throttle: {"GET /pets/{id}": {rate: 5, burst: 10}}}
apis:
  - name: shop
    protocol: rest
    binary_media_types: ["image/*"]
    stages:
      - name: prod
        variables: {up: "127.0.0.1:9000", who: prod}
        deployment_header: true
        throttling: {rate: 50, burst: 25}
        route_settings:
          "GET /pets": {throttling: {rate: 1, burst: 1}}
        canary: {percent: 10, deployment: next, stage_variables: {who: canary}, sticky: {header: x-user}}
        cache: {capacity_bytes: 1000000, ttl_seconds: 60, x_cache_header: true}
        access_log: {destination: stdout, format: json}
    gateway_responses:
      DEFAULT_4XX:
        headers: {access-control-allow-origin: "*"}
    routes:
      - route: GET /pets/{id}
        api_key_required: true
        integration: {type: http_proxy, uri: "http://${stageVariables.up}/p/{id}"}
        cache: {key_parameters: [method.request.path.id, method.request.querystring.q]}
      - route: GET /pets
        integration: {type: mock, body: "${stageVariables.who}"}
      - route: POST /fn
        integration: {type: lambda, uri: "http://127.0.0.1:9001", function: shop-fn, timeout_ms: 500}
      - route: GET /signed
        authorization: aws_iam
        integration: {type: mock}
    deployments:
      next:
        routes:
          - route: GET /pets
            integration: {type: mock, body: next}
  - name: auth
    stages: [a]
    cors: {allow_origins: ["https://x.example"], allow_methods: [GET], expose_headers: [x-n], max_age: 60, allow_credentials: true}
    authorizers:
      users: {type: jwt, issuer: "https://i", audience: [x], jwks_uri: "http://127.0.0.1:9000/jwks"}
      gate: {type: request, uri: "http://127.0.0.1:9002", function: gate, credentials: env, region: us-west-2, identity_source: ["$request.header.X-Token", "$context.stage"], result_ttl_seconds: 60, cache_by_route: true}
      tok: {type: token, uri: "http://127.0.0.1:9002/t", timeout_ms: 2000, identity_validation_expression: "Bearer .+"}
    routes:
      - {route: GET /me, authorizer: users, authorization_scopes: [read], integration: {type: mock}}
      - {route: GET /g, authorizer: gate, integration: {type: mock}}
      - {route: GET /t, authorizer: tok, integration: {type: mock}}
domains:
  - name: "*.example.com"
    mappings: {"": shop/prod, v2: shop/prod}
"#;

/// The archived model's layout, pinned: the id of two configurations that
/// use every part of it, encoded by this build. When a change to the model
/// (a field, a variant, a type) fails this test, older snapshots no longer
/// read as they were written: bump `FORMAT_VERSION` (so they are refused
/// with a sentence instead of being misread) and pin the new ids here.
const PINNED: (u32, &str, &str) = (
    6,
    "93dee26aa56602a85abb8ea22d982d78",
    "ac3673ea05e7c660faa5345c675c22e5",
);

#[test]
fn format_version_follows_the_model() {
    let ids = (
        FORMAT_VERSION,
        id_of(&encode(&sample())),
        id_of(&encode(&load_str("features.yaml", FEATURES).unwrap())),
    );
    assert_eq!(
        (ids.0, ids.1.as_str(), ids.2.as_str()),
        PINNED,
        "the archived model changed: bump FORMAT_VERSION and pin the new ids"
    );
}
