//! Cache keys as API Gateway forms them: the request method and the
//! route's resource path (`/pets/{id}`, not the request's path) always,
//! plus each of the route's cache key parameters — a path parameter
//! (decoded), every value of a query parameter (as sent), every value of a
//! header field — and the side of a canary split the request runs on, so a
//! canary's responses and the stage's never answer for each other (API
//! Gateway's default, `useStageCache: false`). The deployment's id is not
//! in the key: a reload that changes other routes keeps the entries.
//!
//! Guarantees: the key is an unambiguous encoding (every part is
//! length-prefixed, an absent parameter differs from an empty one); it is
//! written into a caller's reusable buffer, so building one allocates
//! nothing once the buffer has grown. Without `method.request.path.id`
//! among the key parameters, `/pets/1` and `/pets/2` share one entry of
//! `GET /pets/{id}`: that is API Gateway's rule, kept on purpose. Query
//! parameter names match as sent (not percent-decoded); header names match
//! case-insensitively. Does not: hash (the stage cache hashes the bytes with
//! its own random key) or look anything up.

use crate::config::CacheKeyParameter;
use crate::proto::http1::RequestHead;
use crate::route::Params;

/// The request as a key needs it.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The bytes `head` points into.
    pub rd: &'a [u8],
    pub head: &'a RequestHead,
    /// The matched route's decoded path parameters.
    pub params: &'a Params,
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Write the key of `req` for a route with `resource` (its path as
/// written, or `$default`) and `params` into `out`, replacing its content;
/// `side` names the side of a canary split (`b"stage"`, `b"canary"`).
pub fn build(
    out: &mut Vec<u8>,
    side: &[u8],
    resource: &str,
    params: &[CacheKeyParameter],
    req: View<'_>,
) {
    out.clear();
    field(out, side);
    field(out, req.head.method_span.get(req.rd));
    field(out, resource.as_bytes());
    for p in params {
        match p {
            CacheKeyParameter::Path(name) => {
                out.push(b'p');
                field(out, name.as_bytes());
                if let Some(v) = req.params.get(name) {
                    out.push(1);
                    field(out, v.as_bytes());
                }
            }
            CacheKeyParameter::QueryString(name) => {
                out.push(b'q');
                field(out, name.as_bytes());
                for v in query_values(req.head.query.get(req.rd), name.as_bytes()) {
                    out.push(1);
                    field(out, v);
                }
            }
            CacheKeyParameter::Header(name) => {
                out.push(b'h');
                field(out, name.as_bytes());
                for (n, v) in &req.head.headers {
                    if n.get(req.rd).eq_ignore_ascii_case(name.as_bytes()) {
                        out.push(1);
                        field(out, v.get(req.rd));
                    }
                }
            }
        }
        out.push(0);
    }
}

/// Every value of query parameter `name` in `query` (the text after `?`),
/// in order; `a` and `a=` both give an empty value.
pub fn query_values<'q>(query: &'q [u8], name: &'q [u8]) -> impl Iterator<Item = &'q [u8]> {
    query.split(|&b| b == b'&').filter_map(move |pair| {
        let (n, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (n == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http1::{HeadLimits, parse_request};

    fn key(
        raw: &str,
        resource: &str,
        params: &[CacheKeyParameter],
        path: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut head = RequestHead::default();
        let limits = HeadLimits {
            max_head_bytes: 8192,
            max_headers: 32,
        };
        parse_request(raw.as_bytes(), &limits, &mut head)
            .unwrap()
            .unwrap();
        let mut p = Params::default();
        for (n, v) in path {
            p.push(n, v.as_bytes());
        }
        let mut out = Vec::new();
        build(
            &mut out,
            b"stage",
            resource,
            params,
            View {
                rd: raw.as_bytes(),
                head: &head,
                params: &p,
            },
        );
        out
    }

    fn q(n: &str) -> CacheKeyParameter {
        CacheKeyParameter::QueryString(n.into())
    }

    #[test]
    fn resource_path_not_request_path() {
        let a = key(
            "GET /pets/1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/pets/{id}",
            &[],
            &[("id", "1")],
        );
        let b = key(
            "GET /pets/2 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/pets/{id}",
            &[],
            &[("id", "2")],
        );
        assert_eq!(
            a, b,
            "API Gateway: path parameters are not in the key unless listed"
        );
        let p = [CacheKeyParameter::Path("id".into())];
        let a = key(
            "GET /pets/1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/pets/{id}",
            &p,
            &[("id", "1")],
        );
        let b = key(
            "GET /pets/2 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/pets/{id}",
            &p,
            &[("id", "2")],
        );
        assert_ne!(a, b);
    }

    #[test]
    fn method_is_part_of_the_key() {
        let a = key("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "/x", &[], &[]);
        let b = key(
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            "/x",
            &[],
            &[],
        );
        assert_ne!(a, b);
    }

    #[test]
    fn query_parameters_only_those_listed() {
        let p = [q("q")];
        let a = key(
            "GET /x?q=1&other=9 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/x",
            &p,
            &[],
        );
        let b = key(
            "GET /x?other=8&q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/x",
            &p,
            &[],
        );
        let c = key("GET /x?q=2 HTTP/1.1\r\nHost: a\r\n\r\n", "/x", &p, &[]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Absent, empty and repeated differ.
        let none = key("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", "/x", &p, &[]);
        let empty = key("GET /x?q= HTTP/1.1\r\nHost: a\r\n\r\n", "/x", &p, &[]);
        let twice = key("GET /x?q=1&q=1 HTTP/1.1\r\nHost: a\r\n\r\n", "/x", &p, &[]);
        assert_ne!(none, empty);
        assert_ne!(a, twice);
    }

    #[test]
    fn headers_case_insensitive_names() {
        let p = [CacheKeyParameter::Header("accept".into())];
        let a = key(
            "GET /x HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n",
            "/x",
            &p,
            &[],
        );
        let b = key(
            "GET /x HTTP/1.1\r\nHost: a\r\naccept: text/html\r\n\r\n",
            "/x",
            &p,
            &[],
        );
        let c = key(
            "GET /x HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n",
            "/x",
            &p,
            &[],
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn values_cannot_be_confused_across_parameters() {
        let p = [q("a"), q("b")];
        let x = key("GET /x?a=1&b= HTTP/1.1\r\nHost: h\r\n\r\n", "/x", &p, &[]);
        let y = key("GET /x?a=&b=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/x", &p, &[]);
        assert_ne!(x, y);
    }

    #[test]
    fn query_value_splitting() {
        let v: Vec<&[u8]> = query_values(b"a=1&b&a=&c=3=4&a", b"a").collect();
        assert_eq!(v, [&b"1"[..], b"", b""]);
        let v: Vec<&[u8]> = query_values(b"c=3=4", b"c").collect();
        assert_eq!(v, [&b"3=4"[..]]);
    }
}
