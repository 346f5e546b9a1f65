//! Authorizers' parsers on arbitrary bytes; the first byte picks one:
//! a JWT checked against a fixed RSA key set (`auth::jwt::verify`), a
//! Lambda-style authorizer's answer (`auth::lambda_authorizer::parse_answer`,
//! simple or policy), or a JWKS document (`auth::jwt::KeySet::parse`).
//! Checks: no panic, and no input ever verifies (nothing here holds the
//! private key, so an accepted token would be a forgery).

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate::auth::jwt::{KeySet, verify};
use tollgate::auth::lambda_authorizer::parse_answer;
use tollgate::config::{JwksSource, JwtAuthorizer};

const JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"vtuUvFojpSw39efJmBPCFxKJZAJQOqxXPQSsbEUnOrYFFlMn6j2QSSfribR1UTwdrvSbnmqt9rjcKt9-H-Okgrmh6CKoCUGhmMrzt0ZmzPSdNMlairug9Dvhg8YSJYmLYxsgjX-sMM9ZSCRfY3A-U6pg9WdLnOpO_L9NpxT3klH1LYK1lQUJ4jkAwp3v1HZhNua4bW5PjttI_jUTwfhE4QPvgOG1h90hU0a3m5VwOWRjOS0xlLBv46YhDxgIkkDcSV5A6Kj8hdweZE6yg4jaVDwZ9CMx1VZZy7SdcwhRZ_UO7bX7C4uYwgDN3TIUOrwigu0i7sA-I-T6pHP7DW5bzQ","e":"AQAB"},{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

static KEYS: LazyLock<KeySet> = LazyLock::new(|| KeySet::parse(JWKS.as_bytes()).expect("the fixed JWKS"));

static CFG: LazyLock<JwtAuthorizer> = LazyLock::new(|| JwtAuthorizer {
    issuer: "https://issuer.example".into(),
    audience: vec!["api".into()],
    jwks: JwksSource::File(String::new()),
    token_cache: false,
});

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    match first % 3 {
        0 => {
            if let Ok(token) = std::str::from_utf8(input) {
                let r = verify(token, Some(&KEYS), &CFG, 1_700_000_000);
                assert!(r.is_err(), "a token verified without the private key: {token:?}");
            }
        }
        1 => {
            let _ = parse_answer(input, first & 4 != 0);
        }
        _ => {
            let _ = KeySet::parse(input);
        }
    }
});
