//! Errors the gateway itself answers, in API Gateway's shape: the one place
//! where a failure anywhere in the request's way becomes a response (status,
//! `{"message": …}` body, `x-amzn-ErrorType` on REST APIs).
//!
//! The types are API Gateway's gateway response types
//! (supported-gateway-response-types); per-API overrides come with the
//! gateway responses issue. Protocol-level rejections that happen before a
//! request is routed (malformed HTTP, oversized heads) use [`Protocol`]-free
//! defaults of the listener's first API.

use crate::config::Protocol;
use crate::pipeline::response::{self, Common};

/// A response the gateway produces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayResponse {
    /// No route (HTTP APIs): 404 Not Found.
    ResourceNotFound,
    /// No resource or method (REST APIs): 403 Missing Authentication Token.
    MissingAuthenticationToken,
    /// A custom domain has no mapping for the base path: 403 Forbidden.
    Forbidden,
    /// The integration failed (refused, reset, malformed answer).
    IntegrationFailure,
    /// The integration did not answer in time.
    IntegrationTimeout,
    /// Request body over the limit: 413.
    RequestTooLarge,
    /// The request could not be parsed as HTTP (framing, syntax): 400, then close.
    BadRequest,
    /// The request head did not arrive in time: 408, then close.
    RequestTimeout,
    /// The request head is too large: 431, then close.
    HeaderFieldsTooLarge,
    /// Neither HTTP/1.0 nor HTTP/1.1: 505, then close.
    VersionNotSupported,
}

impl GatewayResponse {
    /// (status, message, REST `x-amzn-ErrorType`) for an API of `protocol`.
    pub fn parts(self, protocol: Protocol) -> (u16, &'static str, &'static str) {
        use GatewayResponse::*;
        use Protocol::*;
        match (self, protocol) {
            (ResourceNotFound, _) => (404, "Not Found", "NotFoundException"),
            (MissingAuthenticationToken, _) => (
                403,
                "Missing Authentication Token",
                "MissingAuthenticationTokenException",
            ),
            (Forbidden, _) => (403, "Forbidden", "ForbiddenException"),
            (IntegrationFailure, Http) => (500, "Internal Server Error", ""),
            (IntegrationFailure, Rest) => {
                (502, "Internal server error", "InternalServerErrorException")
            }
            (IntegrationTimeout, Http) => (503, "Service Unavailable", ""),
            (IntegrationTimeout, Rest) => (
                504,
                "Endpoint request timed out",
                "InternalServerErrorException",
            ),
            (RequestTooLarge, _) => (413, "Request Too Long", "RequestTooLongException"),
            (BadRequest, _) => (400, "Bad Request", "BadRequestException"),
            (RequestTimeout, _) => (408, "Request Timeout", "RequestTimeoutException"),
            (HeaderFieldsTooLarge, _) => (
                431,
                "Request Header Fields Too Large",
                "RequestHeaderFieldsTooLargeException",
            ),
            (VersionNotSupported, _) => (
                505,
                "HTTP Version Not Supported",
                "HttpVersionNotSupportedException",
            ),
        }
    }

    /// Append the whole response (head and body) to `out`. `head_only` for HEAD requests.
    pub fn write(self, out: &mut Vec<u8>, c: &Common<'_>, head_only: bool) {
        let (status, message, error_type) = self.parts(c.protocol);
        response::status_line(out, status, response::reason(status).as_bytes());
        response::common_headers(out, c);
        out.extend_from_slice(b"Content-Type: application/json\r\n");
        if c.protocol == Protocol::Rest && !error_type.is_empty() {
            response::header(out, b"x-amzn-ErrorType", error_type.as_bytes());
        }
        // {"message":"…"}: messages are fixed ASCII without quotes or backslashes.
        let body_len = message.len() + 14;
        response::content_length(out, body_len as u64);
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(b"{\"message\":\"");
            out.extend_from_slice(message.as_bytes());
            out.extend_from_slice(b"\"}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::request_id::IdGen;

    #[test]
    fn rest_missing_token_shape() {
        let id = IdGen::new(1).uuid();
        let c = Common {
            protocol: Protocol::Rest,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
        };
        let mut out = Vec::new();
        GatewayResponse::MissingAuthenticationToken.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(text.contains("x-amzn-ErrorType: MissingAuthenticationTokenException\r\n"));
        assert!(text.contains(&format!("x-amzn-RequestId: {}\r\n", id.as_str())));
        assert!(text.ends_with("\r\n\r\n{\"message\":\"Missing Authentication Token\"}"));
        let body = "{\"message\":\"Missing Authentication Token\"}";
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn http_api_not_found_has_no_error_type() {
        let id = IdGen::new(1).short();
        let c = Common {
            protocol: Protocol::Http,
            request_id: &id,
            http10: false,
            keep_alive: false,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
        };
        let mut out = Vec::new();
        GatewayResponse::ResourceNotFound.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(!text.contains("x-amzn-ErrorType"));
        assert!(text.contains("apigw-requestid: "));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("{\"message\":\"Not Found\"}"));
    }

    #[test]
    fn forbidden_shape_and_deployment_header() {
        let id = IdGen::new(1).uuid();
        let c = Common {
            protocol: Protocol::Rest,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: Some("v2"),
        };
        let mut out = Vec::new();
        GatewayResponse::Forbidden.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(text.contains("x-amzn-ErrorType: ForbiddenException\r\n"));
        assert!(text.contains("x-tollgate-deployment: v2\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"message\":\"Forbidden\"}"));
    }
}
