//! `Cache-Control` as the cache reads it (RFC 9111 §5.2): a request's
//! `max-age=0` asks for a refresh (API Gateway's per-key invalidation); a
//! response's `no-store`, `no-cache` or `private` keeps it out of a shared
//! cache.
//!
//! Guarantees: directive names match case-insensitively, values may be
//! quoted, several fields and comma-separated lists are read alike, and
//! nothing allocates. Does not: honour `max-age` / `s-maxage` of responses
//! (entries live for the configured TTL, as on API Gateway), or revalidate.

/// Directives of one field value: (name, value without quotes).
fn directives(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    value.split(|&b| b == b',').filter_map(|d| {
        let d = d.trim_ascii();
        if d.is_empty() {
            return None;
        }
        Some(match d.iter().position(|&b| b == b'=') {
            Some(i) => {
                let v = d[i + 1..].trim_ascii();
                let v = v
                    .strip_prefix(b"\"")
                    .and_then(|v| v.strip_suffix(b"\""))
                    .unwrap_or(v);
                (d[..i].trim_ascii(), v)
            }
            None => (d, &d[d.len()..]),
        })
    })
}

/// A request's `Cache-Control` field values ask for a fresh response
/// (`max-age=0`).
pub fn wants_refresh<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    values.into_iter().any(|v| {
        directives(v).any(|(n, v)| {
            n.eq_ignore_ascii_case(b"max-age") && !v.is_empty() && v.iter().all(|&b| b == b'0')
        })
    })
}

/// A response's `Cache-Control` field values let a shared cache store it.
pub fn storable<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> bool {
    !values.into_iter().any(|v| {
        directives(v).any(|(n, _)| {
            n.eq_ignore_ascii_case(b"no-store")
                || n.eq_ignore_ascii_case(b"private")
                || n.eq_ignore_ascii_case(b"no-cache")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_requests() {
        assert!(wants_refresh([&b"max-age=0"[..]]));
        assert!(wants_refresh([&b"no-transform, MAX-AGE = \"0\""[..]]));
        assert!(wants_refresh([&b"foo"[..], b"max-age=00"]));
        assert!(!wants_refresh([&b"max-age=10"[..]]));
        assert!(!wants_refresh([&b"max-age="[..]]));
        assert!(!wants_refresh([&b"no-cache"[..]]));
        assert!(!wants_refresh(std::iter::empty::<&[u8]>()));
    }

    #[test]
    fn storable_responses() {
        assert!(storable([&b"public, max-age=60"[..]]));
        assert!(storable(std::iter::empty::<&[u8]>()));
        assert!(!storable([&b"max-age=60, No-Store"[..]]));
        assert!(!storable([&b"private=\"set-cookie\""[..]]));
        assert!(!storable([&b"public"[..], b"no-cache"]));
    }
}
