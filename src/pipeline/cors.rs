//! CORS for HTTP APIs (the API's `cors` settings), as API Gateway applies
//! them: a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered by the gateway itself —
//! before routing's outcome matters and without authorization — with 204
//! and the allowed origin, methods, headers, max age and credentials; every
//! other response to a request from an allowed origin carries
//! `Access-Control-Allow-Origin` (and `-Allow-Credentials`,
//! `-Expose-Headers`). A request from an origin that is not allowed gets no
//! CORS headers (its preflight still gets 204, which the browser refuses).
//!
//! Origins match exactly (ASCII case-insensitively) or by `*`. An exact
//! match answers with the configured origin and `Vary: Origin`. As API
//! Gateway does, `Access-Control-*` headers an integration sends are
//! dropped on an API with `cors`: the settings answer alone.

use crate::config::Cors;
use crate::pipeline::response::header;
use crate::proto::http1::{Method, RequestHead};

/// The CORS part of one response: the request's origin is allowed.
#[derive(Clone, Copy, Debug)]
pub struct Allowed<'a> {
    pub cfg: &'a Cors,
    /// `*`, or the configured origin that matched.
    pub origin: &'a str,
}

/// The allowed origin of a request from `origin`, if it is allowed.
pub fn allowed<'a>(cfg: &'a Cors, origin: Option<&[u8]>) -> Option<Allowed<'a>> {
    let origin = origin?;
    let hit = cfg
        .allow_origins
        .iter()
        .find(|o| *o == "*" || o.as_bytes().eq_ignore_ascii_case(origin))?;
    Some(Allowed {
        cfg,
        origin: hit.as_str(),
    })
}

/// Whether the request is a CORS preflight.
pub fn is_preflight(method: Method, head: &RequestHead, rd: &[u8]) -> bool {
    method == Method::Options
        && head.header(rd, "origin").is_some()
        && head.header(rd, "access-control-request-method").is_some()
}

/// An `Access-Control-*` response header (dropped from integrations' answers
/// on APIs with CORS settings).
pub fn is_cors_header(name: &[u8]) -> bool {
    name.len() > 15 && name[..15].eq_ignore_ascii_case(b"access-control-")
}

/// The headers every response to an allowed origin carries.
pub fn write_response_headers(out: &mut Vec<u8>, a: &Allowed<'_>) {
    header(out, b"Access-Control-Allow-Origin", a.origin.as_bytes());
    if a.origin != "*" {
        out.extend_from_slice(b"Vary: Origin\r\n");
    }
    if a.cfg.allow_credentials {
        out.extend_from_slice(b"Access-Control-Allow-Credentials: true\r\n");
    }
    write_list(out, b"Access-Control-Expose-Headers", &a.cfg.expose_headers);
}

/// The headers a preflight's 204 adds to the response headers.
pub fn write_preflight_headers(out: &mut Vec<u8>, a: &Allowed<'_>) {
    write_list(out, b"Access-Control-Allow-Methods", &a.cfg.allow_methods);
    write_list(out, b"Access-Control-Allow-Headers", &a.cfg.allow_headers);
    if let Some(age) = a.cfg.max_age {
        out.extend_from_slice(b"Access-Control-Max-Age: ");
        crate::pipeline::response::push_u64(out, age);
        out.extend_from_slice(b"\r\n");
    }
}

fn write_list(out: &mut Vec<u8>, name: &[u8], list: &[String]) {
    if list.is_empty() {
        return;
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    for (i, v) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str]) -> Cors {
        Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into()],
            expose_headers: vec!["x-total".into()],
            max_age: Some(600),
            allow_credentials: true,
        }
    }

    #[test]
    fn origins() {
        let c = cfg(&["https://a.example"]);
        assert_eq!(
            allowed(&c, Some(b"https://A.example")).map(|a| a.origin),
            Some("https://a.example")
        );
        assert!(allowed(&c, Some(b"https://b.example")).is_none());
        assert!(allowed(&c, None).is_none());
        let any = cfg(&["*"]);
        assert_eq!(allowed(&any, Some(b"x")).map(|a| a.origin), Some("*"));
    }

    #[test]
    fn headers() {
        let c = cfg(&["https://a.example"]);
        let a = allowed(&c, Some(b"https://a.example")).unwrap();
        let mut out = Vec::new();
        write_response_headers(&mut out, &a);
        write_preflight_headers(&mut out, &a);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Access-Control-Allow-Origin: https://a.example\r\nVary: Origin\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Expose-Headers: x-total\r\nAccess-Control-Allow-Methods: GET,POST\r\nAccess-Control-Allow-Headers: authorization\r\nAccess-Control-Max-Age: 600\r\n"
        );
    }
}
