//! Writing response heads: the status line, the headers every response of
//! the gateway carries (Date, the request id in the API's shape, connection
//! management) and the framing header. Appends to the caller's buffer; never
//! allocates beyond that buffer's growth.

use crate::config::{GatewayResponseOverride, Protocol};
use crate::observe::request_id::RequestId;
use crate::observe::trace::TraceContext;

/// What every response of one exchange shares.
#[derive(Clone, Copy, Debug)]
pub struct Common<'a> {
    pub protocol: Protocol,
    pub request_id: &'a RequestId,
    /// The client's version is HTTP/1.0 (answer 1.0 framing rules).
    pub http10: bool,
    /// The connection stays open after this response.
    pub keep_alive: bool,
    /// Current date text (IMF-fixdate).
    pub date: &'a [u8],
    /// Sent as `x-tollgate-deployment` when set (the stage's `deployment_header`).
    pub deployment: Option<&'a str>,
    /// REST APIs: the extended request id, sent as `x-amz-apigw-id`.
    pub extended_id: Option<&'a RequestId>,
    /// REST APIs, integrations other than HTTP_PROXY: the trace, sent as
    /// `X-Amzn-Trace-Id: Root=…`.
    pub trace: Option<&'a TraceContext>,
    /// The API's gateway response overrides (empty before a request
    /// reaches an API).
    pub responses: &'a [GatewayResponseOverride],
    /// The request came from an origin the API's CORS settings allow.
    pub cors: Option<crate::pipeline::cors::Allowed<'a>>,
    /// A TLS listener's HSTS max-age: `Strict-Transport-Security` is sent.
    pub hsts: Option<u64>,
}

/// Reason phrase for a status code (RFC 9110 §15).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// `HTTP/1.1 200 OK\r\n`
pub fn status_line(out: &mut Vec<u8>, status: u16, reason_text: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_text);
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`
#[inline]
pub fn header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Date, the request id header (REST: with `x-amz-apigw-id` and, when
/// set, `X-Amzn-Trace-Id`), the deployment header when asked for, and
/// Connection management.
pub fn common_headers(out: &mut Vec<u8>, c: &Common<'_>) {
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(c.date);
    out.extend_from_slice(b"\r\n");
    let name: &[u8] = match c.protocol {
        Protocol::Http => b"apigw-requestid",
        Protocol::Rest => b"x-amzn-RequestId",
    };
    header(out, name, c.request_id.as_bytes());
    if let Some(ext) = c.extended_id {
        header(out, b"x-amz-apigw-id", ext.as_bytes());
    }
    if let Some(t) = c.trace {
        out.extend_from_slice(b"X-Amzn-Trace-Id: ");
        t.write_response_trace_id(out);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(d) = c.deployment {
        header(out, b"x-tollgate-deployment", d.as_bytes());
    }
    if let Some(a) = &c.cors {
        crate::pipeline::cors::write_response_headers(out, a);
    }
    if let Some(age) = c.hsts {
        out.extend_from_slice(b"Strict-Transport-Security: max-age=");
        push_u64(out, age);
        out.extend_from_slice(b"\r\n");
    }
    if !c.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if c.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// `Content-Length: n\r\n`
pub fn content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    push_u64(out, n);
    out.extend_from_slice(b"\r\n");
}

pub use crate::text::push_u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
    }
}
