//! Route-key paths as the user writes them (`/pets/{id}`, `/files/{proxy+}`):
//! the rules a path must follow, and its split into [`Segment`]s.
//!
//! Guarantees: a path accepted by [`check`] splits into non-empty segments
//! (none for the root `/`), each a literal of RFC 3986 `pchar`s, a whole
//! `{name}` parameter, or a `{name+}` greedy parameter that is the last
//! segment; parameter names are distinct. Does not: look at methods or stages.

/// One segment of a checked route path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Matched byte for byte against the raw request path.
    Literal(&'a str),
    /// `{name}`: any one non-empty segment.
    Param(&'a str),
    /// `{name+}`: everything after this point, at least one byte.
    Greedy(&'a str),
}

/// The segments of a path accepted by [`check`] (none for `/`).
pub(crate) fn segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    let body = path.strip_prefix('/').unwrap_or(path);
    body.split('/').filter(|s| !s.is_empty()).map(|s| {
        match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) => match inner.strip_suffix('+') {
                Some(name) => Segment::Greedy(name),
                None => Segment::Param(inner),
            },
            None => Segment::Literal(s),
        }
    })
}

/// The names of a checked path's parameters, in path order, with whether each
/// is greedy.
pub(crate) fn param_names(path: &str) -> impl Iterator<Item = (&str, bool)> {
    segments(path).filter_map(|s| match s {
        Segment::Literal(_) => None,
        Segment::Param(n) => Some((n, false)),
        Segment::Greedy(n) => Some((n, true)),
    })
}

/// A parameter name: `[A-Za-z0-9._-]+`.
pub(crate) fn is_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// RFC 3986 `pchar` minus `%` (checked separately): unreserved, sub-delims, `:`, `@`.
pub(crate) fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// See [`crate::route::check_route_path`].
pub(crate) fn check(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the route path is empty; it must start with `/`".into());
    }
    if !path.starts_with('/') {
        return Err(format!("route path `{path}` must start with `/`"));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(format!("route path `{path}` must not end with `/`"));
    }
    if let Some(c) = path.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(format!(
            "route path `{path}` must not contain `{c}` (query strings are not part of a route)"
        ));
    }
    let raw: Vec<&str> = path[1..].split('/').collect();
    let mut names: Vec<&str> = Vec::new();
    for (i, seg) in raw.iter().enumerate() {
        if seg.is_empty() {
            return Err(format!("route path `{path}` has an empty segment (`//`)"));
        }
        if let Some(inner) = seg.strip_prefix('{') {
            let Some(inner) = inner.strip_suffix('}') else {
                return Err(format!(
                    "segment `{seg}` of `{path}`: a parameter must be a whole segment, `{{name}}`"
                ));
            };
            let (name, greedy) = match inner.strip_suffix('+') {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !is_param_name(name) {
                return Err(format!(
                    "segment `{seg}` of `{path}`: a parameter name is made of letters, digits, `.`, `_` and `-`"
                ));
            }
            if greedy && i + 1 != raw.len() {
                return Err(format!(
                    "`{seg}` in `{path}`: a greedy parameter must be the last segment"
                ));
            }
            if names.contains(&name) {
                return Err(format!(
                    "route path `{path}` uses the parameter name `{name}` twice"
                ));
            }
            names.push(name);
            continue;
        }
        if *seg == "." || *seg == ".." {
            return Err(format!(
                "route path `{path}` has a `{seg}` segment, which clients resolve away"
            ));
        }
        check_literal(path, seg)?;
    }
    Ok(())
}

fn check_literal(path: &str, seg: &str) -> Result<(), String> {
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'}' => {
                return Err(format!(
                    "segment `{seg}` of `{path}`: a parameter must be a whole segment, `{{name}}`"
                ));
            }
            b'%' => {
                let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return Err(format!(
                        "segment `{seg}` of `{path}`: `%` must start a percent-encoded byte like `%20`"
                    ));
                }
                i += 3;
                continue;
            }
            c if is_pchar(c) => {}
            _ => {
                let ch = seg[i..].chars().next().unwrap_or('?');
                return Err(format!(
                    "segment `{seg}` of `{path}`: `{}` is not allowed in a path; percent-encode it",
                    ch.escape_debug()
                ));
            }
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_paths() {
        for p in [
            "/",
            "/pets",
            "/pets/{id}",
            "/pets/{id}/toys/{toy-id}",
            "/files/{proxy+}",
            "/{proxy+}",
            "/a:b/@c/%20d/x.y_z~",
            "/v1.2/{a.b_c-d}",
        ] {
            assert_eq!(check(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn refuses_malformed_paths() {
        for (p, want) in [
            ("", "empty"),
            ("pets", "start with `/`"),
            ("/pets/", "end with `/`"),
            ("/pets//x", "empty segment"),
            ("/pets?x=1", "`?`"),
            ("/pets#x", "`#`"),
            ("/pets/{id", "whole segment"),
            ("/pets/x{id}", "whole segment"),
            ("/pets/{id}x", "whole segment"),
            ("/pets/{}", "parameter name"),
            ("/pets/{a b}", "parameter name"),
            ("/pets/{a/b}", "whole segment"),
            ("/{proxy+}/x", "last segment"),
            ("/{a}/{a}", "twice"),
            ("/{a}/{a+}", "twice"),
            ("/a b", "percent-encode"),
            ("/caf\u{e9}", "percent-encode"),
            ("/a%2", "percent-encoded byte"),
            ("/a/../b", "`..`"),
        ] {
            let err = check(p).expect_err(p);
            assert!(err.contains(want), "{p}: {err}");
        }
    }

    #[test]
    fn splits_into_segments() {
        let segs: Vec<_> = segments("/pets/{id}/files/{proxy+}").collect();
        assert_eq!(
            segs,
            [
                Segment::Literal("pets"),
                Segment::Param("id"),
                Segment::Literal("files"),
                Segment::Greedy("proxy"),
            ]
        );
        assert_eq!(segments("/").count(), 0);
        let names: Vec<_> = param_names("/a/{x}/{y+}").collect();
        assert_eq!(names, [("x", false), ("y", true)]);
    }
}
