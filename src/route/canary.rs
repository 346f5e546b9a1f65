//! Which deployment serves a request of a stage with a canary: a 64-bit roll
//! per request (a hash of the request id, or of a sticky header's or
//! cookie's value, so one client keeps its side) against the canary's share.
//!
//! Guarantees: pure functions of their inputs, no allocation; the same
//! sticky value always gives the same deployment for the same percent; a
//! roll is mixed (murmur3's finalizer) so close inputs land far apart.
//! Does not: read sockets or keep state between requests.

use crate::config::{Stage, Sticky};

/// Whether a request whose roll is `roll` goes to a canary that takes
/// `percent` (0..=100) of requests: the lowest `percent / 100` of the u64
/// space does. 0 (or NaN) never, 100 always.
pub fn canary_pick(percent: f64, roll: u64) -> bool {
    if percent.is_nan() || percent <= 0.0 {
        return false;
    }
    if percent >= 100.0 {
        return true;
    }
    // 2^64 as f64 is exact; the product is below it, so the cast does not saturate.
    let threshold = (percent / 100.0 * 18_446_744_073_709_551_616.0) as u64;
    roll < threshold
}

/// murmur3's 64-bit finalizer: spreads every input bit over the output.
pub fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The roll of a sticky value: FNV-1a, then [`mix64`].
pub fn roll_of(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix64(h)
}

/// The value of cookie `name` in a `Cookie` field value (`a=1; b="2"`,
/// RFC 6265 §4.2.1), quotes removed. Names match exactly.
pub fn cookie<'a>(field: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    field.split(|&b| b == b';').find_map(|pair| {
        let pair = pair.trim_ascii();
        let eq = memchr::memchr(b'=', pair)?;
        if pair[..eq].trim_ascii() != name {
            return None;
        }
        let value = pair[eq + 1..].trim_ascii();
        Some(
            value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value),
        )
    })
}

/// The sticky value of a request: the first field named by a
/// [`Sticky::Header`], or the cookie named by a [`Sticky::Cookie`] in any
/// `Cookie` field. Empty values count as absent.
pub fn sticky_value<'a>(
    sticky: &Sticky,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Option<&'a [u8]> {
    let mut headers = headers.into_iter();
    let value = match sticky {
        Sticky::Header(name) => headers
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.trim_ascii()),
        Sticky::Cookie(name) => headers
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"cookie"))
            .find_map(|(_, v)| cookie(v, name.as_bytes())),
    };
    value.filter(|v| !v.is_empty())
}

/// The deployment (index into the API's `deployments`) that serves a request
/// of `stage`: the stage's own, or its canary's for the canary's share.
/// `headers` are the request's fields (read only for a sticky canary);
/// `request_hash` is called only when the roll comes from the request id.
pub fn choose_deployment<'a>(
    stage: &Stage,
    headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    request_hash: impl FnOnce() -> u64,
) -> usize {
    let Some(canary) = &stage.canary else {
        return stage.deployment;
    };
    let sticky = canary
        .sticky
        .as_ref()
        .and_then(|s| sticky_value(s, headers));
    let roll = match sticky {
        Some(v) => roll_of(v),
        None => mix64(request_hash()),
    };
    if canary_pick(canary.percent, roll) {
        canary.deployment
    } else {
        stage.deployment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Canary, StageSettings};

    fn stage(percent: f64, sticky: Option<Sticky>) -> Stage {
        Stage {
            name: "prod".into(),
            variables: Vec::new(),
            deployment: 0,
            canary: Some(Canary {
                percent,
                deployment: 1,
                variables: Vec::new(),
                sticky,
            }),
            deployment_header: false,
            settings: StageSettings::default(),
        }
    }

    #[test]
    fn share_of_rolls_matches_percent() {
        // Rolls as the pipeline makes them: mixed sequential hashes.
        for (percent, n) in [
            (10.0, 200_000u64),
            (0.5, 400_000),
            (50.0, 200_000),
            (99.0, 200_000),
        ] {
            let hits = (0..n).filter(|&i| canary_pick(percent, mix64(i))).count();
            let share = hits as f64 * 100.0 / n as f64;
            assert!(
                (share - percent).abs() < 0.5,
                "{percent}%: got {share:.3}% of {n}"
            );
        }
    }

    #[test]
    fn edges_of_the_percent_range() {
        for roll in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            assert!(!canary_pick(0.0, roll));
            assert!(canary_pick(100.0, roll));
            assert!(!canary_pick(f64::NAN, roll));
        }
        // The lowest tenth of the space is the canary's.
        assert!(canary_pick(10.0, u64::MAX / 10 - 1));
        assert!(!canary_pick(10.0, u64::MAX / 10 + 1_000_000));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let f = b"a=1; canary=blue ;other=\"x y\"; canaryx=no";
        assert_eq!(cookie(f, b"canary"), Some(&b"blue"[..]));
        assert_eq!(cookie(f, b"other"), Some(&b"x y"[..]));
        assert_eq!(cookie(f, b"Canary"), None);
        assert_eq!(cookie(f, b"missing"), None);
        assert_eq!(cookie(b"novalue; x=", b"x"), Some(&b""[..]));
    }

    #[test]
    fn sticky_values_come_from_header_or_cookie() {
        let headers: [(&[u8], &[u8]); 3] = [
            (b"Host", b"a"),
            (b"X-Canary", b" user-7 "),
            (b"Cookie", b"a=1; c=user-9"),
        ];
        let h = Sticky::Header("x-canary".into());
        assert_eq!(sticky_value(&h, headers), Some(&b"user-7"[..]));
        let c = Sticky::Cookie("c".into());
        assert_eq!(sticky_value(&c, headers), Some(&b"user-9"[..]));
        let empty: [(&[u8], &[u8]); 1] = [(b"x-canary", b"")];
        assert_eq!(sticky_value(&h, empty), None);
    }

    #[test]
    fn sticky_choice_is_deterministic_and_ignores_the_request_id() {
        let s = stage(50.0, Some(Sticky::Header("x-canary".into())));
        let mut seen = [0usize; 2];
        for user in 0..200 {
            let v = format!("user-{user}");
            let headers = [(&b"x-canary"[..], v.as_bytes())];
            let first = choose_deployment(&s, headers, || 1);
            for id in 0..20u64 {
                assert_eq!(choose_deployment(&s, headers, || id), first, "{v}");
            }
            seen[first] += 1;
        }
        // Both sides get users.
        assert!(seen[0] > 50 && seen[1] > 50, "{seen:?}");
        // Without the header, the request id decides.
        let sides: Vec<usize> = (0..64u64)
            .map(|id| choose_deployment(&s, [], || id))
            .collect();
        assert!(sides.contains(&0) && sides.contains(&1));
    }

    #[test]
    fn no_canary_is_the_stage_deployment() {
        let mut s = stage(100.0, None);
        assert_eq!(choose_deployment(&s, [], || 0), 1);
        s.canary = None;
        s.deployment = 3;
        assert_eq!(choose_deployment(&s, [], || panic!("no roll needed")), 3);
    }
}
