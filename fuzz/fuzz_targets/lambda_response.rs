//! The Lambda proxy response parser on arbitrary bytes, payload format 1.0
//! and 2.0 (chosen by the first byte). Checks: no panic; an accepted answer
//! has a status API Gateway can relay (200-599), header names that are
//! tokens and values without CR, LF or NUL (so a function cannot split the
//! response), and a body whose announced length is what it writes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::integration::lambda::event::PayloadVersion;
use tollgate::integration::lambda::response::parse;

fn token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let version = if first & 1 == 0 {
        PayloadVersion::V1
    } else {
        PayloadVersion::V2
    };
    let Ok(r) = parse(input, version) else { return };
    assert!((200..=599).contains(&r.status), "status {}", r.status);
    for (n, v) in &r.headers {
        assert!(token(n), "header name {n:?}");
        assert!(
            !v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "value {v:?}"
        );
    }
    for c in &r.cookies {
        assert!(
            !c.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "cookie {c:?}"
        );
    }
    let mut out = Vec::new();
    match (r.body.len(), r.body.write(&mut out)) {
        (Ok(n), Ok(())) => assert_eq!(n, out.len()),
        (Err(_), Err(_)) => {}
        (len, wrote) => panic!("len {len:?} but write {wrote:?}"),
    }
});
