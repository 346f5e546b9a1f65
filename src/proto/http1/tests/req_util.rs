//! Helpers shared by the request tests.

use super::super::*;

pub(super) fn parse_with(raw: &[u8], limits: &HeadLimits) -> Result<Option<usize>, Reject> {
    let mut head = RequestHead::default();
    parse_request(raw, limits, &mut head)
}

/// Parses a complete request head or panics.
pub(super) fn ok(raw: &str) -> (RequestHead, usize) {
    let mut head = RequestHead::default();
    match parse_request(raw.as_bytes(), &HeadLimits::default(), &mut head) {
        Ok(Some(n)) => (head, n),
        other => panic!("expected a complete head, got {other:?} for {raw:?}"),
    }
}

/// The rejection for `raw`, or a panic if it parsed.
pub(super) fn reject(raw: &str) -> Reject {
    reject_bytes(raw.as_bytes())
}

pub(super) fn reject_bytes(raw: &[u8]) -> Reject {
    match parse_with(raw, &HeadLimits::default()) {
        Err(r) => r,
        Ok(x) => panic!(
            "expected a rejection, got {x:?} for {:?}",
            String::from_utf8_lossy(raw)
        ),
    }
}

pub(super) fn assert_bad_framing(raw: &str) {
    let r = reject(raw);
    assert!(matches!(r, Reject::BadFraming(_)), "{r:?} for {raw:?}");
    assert_eq!(r.status(), 400);
}

pub(super) fn assert_malformed(raw: &[u8]) {
    let r = reject_bytes(raw);
    assert!(
        matches!(r, Reject::Malformed(_)),
        "{r:?} for {:?}",
        String::from_utf8_lossy(raw)
    );
    assert_eq!(r.status(), 400);
}

pub(super) fn assert_bad_host(raw: &str) {
    let r = reject(raw);
    assert!(matches!(r, Reject::BadHost(_)), "{r:?} for {raw:?}");
    assert_eq!(r.status(), 400);
}
