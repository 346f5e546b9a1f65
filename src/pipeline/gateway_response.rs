//! Errors the gateway itself answers, in API Gateway's shape: the one place
//! where a failure anywhere in the request's way becomes a response (status,
//! `{"message": …}` body, `x-amzn-ErrorType` on REST APIs).
//!
//! Each [`GatewayResponse`] has one of API Gateway's gateway response types
//! ([`ResponseType`], supported-gateway-response-types) with its defaults
//! (status, message, error type) below. An API's `gateway_responses`
//! override them: the type's own override, else the `DEFAULT_4XX` /
//! `DEFAULT_5XX` override of its status class, replaces the status, adds
//! headers and replaces the body template (`{"message":
//! $context.error.messageString}` by default). Rejections before a request
//! reaches an API (malformed HTTP, oversized heads, an unmapped custom
//! domain path) use the defaults, in the shape of the listener's first API.
//!
//! Deliberate differences from API Gateway's table: `INTEGRATION_FAILURE`
//! answers REST 502 `Internal server error` (what clients of a failing
//! Lambda proxy or HTTP integration observe), not the table's 504; HTTP
//! APIs, which have no gateway responses of their own, answer with their
//! observed messages (`Internal Server Error`, `Service Unavailable`, …).

use crate::config::{GatewayResponseOverride, Protocol, ResponseType, TemplatePiece};
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
    /// The integration failed (refused, reset, malformed answer, function error).
    IntegrationFailure,
    /// The integration did not answer in time.
    IntegrationTimeout,
    /// The API's configuration cannot serve the request (no such Lambda
    /// function, no permission to invoke it, no signing credentials).
    ApiConfigurationError,
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
    /// An authorizer denied access: a simple response's `isAuthorized:
    /// false`, a policy without a matching Allow, a JWT without a required scope.
    AccessDenied,
    /// An authorizer's policy explicitly denies the method (REST APIs say
    /// so, with API Gateway's capital-M `{"Message": …}` body).
    ExplicitDeny,
    /// An authorizer could not be reached or answered nonsense (authorizers' issue).
    AuthorizerConfigurationError,
    /// An authorizer failed to authenticate the caller (authorizers' issue).
    AuthorizerFailure,
    /// Required request parameters are missing (request validation).
    BadRequestParameters,
    /// The request body failed validation (request validation).
    BadRequestBody,
    /// An expired AWS token (IAM authorization).
    ExpiredToken,
    /// A missing or unknown API key (API keys' issue).
    InvalidApiKey,
    /// A SigV4 signature that does not match (IAM authorization).
    InvalidSignature,
    /// A usage plan's quota is used up (usage plans' issue).
    QuotaExceeded,
    /// A throttling limit is exceeded (throttling's issue).
    Throttled,
    /// The caller is not authenticated (authorizers' issue).
    Unauthorized,
    /// A payload media type the integration does not take.
    UnsupportedMediaType,
    /// A web application firewall refused the request.
    WafFiltered,
}

/// The default answer of one gateway response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub status: u16,
    /// `None`: the body says `{"message":null}`.
    pub message: Option<&'static str>,
    /// REST APIs' `x-amzn-ErrorType` (empty: none).
    pub error_type: &'static str,
}

const ISE_REST: (u16, &str, &str) = (500, "Internal server error", "InternalServerErrorException");

impl GatewayResponse {
    /// Every gateway response, for tests and documentation.
    pub const ALL: [GatewayResponse; 25] = {
        use GatewayResponse::*;
        [
            ResourceNotFound,
            MissingAuthenticationToken,
            Forbidden,
            IntegrationFailure,
            IntegrationTimeout,
            ApiConfigurationError,
            RequestTooLarge,
            BadRequest,
            RequestTimeout,
            HeaderFieldsTooLarge,
            VersionNotSupported,
            AccessDenied,
            ExplicitDeny,
            AuthorizerConfigurationError,
            AuthorizerFailure,
            BadRequestParameters,
            BadRequestBody,
            ExpiredToken,
            InvalidApiKey,
            InvalidSignature,
            QuotaExceeded,
            Throttled,
            Unauthorized,
            UnsupportedMediaType,
            WafFiltered,
        ]
    };

    /// The default status, message and error type for an API of `protocol`.
    pub fn defaults(self, protocol: Protocol) -> Defaults {
        use GatewayResponse::*;
        use Protocol::*;
        let (status, message, error_type) = match (self, protocol) {
            (ResourceNotFound, _) => (404, Some("Not Found"), "NotFoundException"),
            (MissingAuthenticationToken, _) => (
                403,
                Some("Missing Authentication Token"),
                "MissingAuthenticationTokenException",
            ),
            (Forbidden, _) => (403, Some("Forbidden"), "ForbiddenException"),
            (IntegrationFailure, Http) => (500, Some("Internal Server Error"), ""),
            (IntegrationFailure, Rest) => (
                502,
                Some("Internal server error"),
                "InternalServerErrorException",
            ),
            (IntegrationTimeout, Http) => (503, Some("Service Unavailable"), ""),
            (IntegrationTimeout, Rest) => (
                504,
                Some("Endpoint request timed out"),
                "InternalServerErrorException",
            ),
            (ApiConfigurationError | AuthorizerConfigurationError | AuthorizerFailure, Http) => {
                (500, Some("Internal Server Error"), "")
            }
            (ApiConfigurationError, Rest) => (ISE_REST.0, Some(ISE_REST.1), ISE_REST.2),
            (AuthorizerConfigurationError, Rest) => (500, None, "AuthorizerConfigurationException"),
            (AuthorizerFailure, Rest) => (500, None, "AuthorizerFailureException"),
            (RequestTooLarge, _) => (413, Some("Request Too Long"), "RequestTooLongException"),
            (BadRequest, _) => (400, Some("Bad Request"), "BadRequestException"),
            (RequestTimeout, _) => (408, Some("Request Timeout"), "RequestTimeoutException"),
            (HeaderFieldsTooLarge, _) => (
                431,
                Some("Request Header Fields Too Large"),
                "RequestHeaderFieldsTooLargeException",
            ),
            (VersionNotSupported, _) => (
                505,
                Some("HTTP Version Not Supported"),
                "HttpVersionNotSupportedException",
            ),
            (AccessDenied | ExplicitDeny, Http) => (403, Some("Forbidden"), ""),
            (ExplicitDeny, Rest) => (
                403,
                Some("User is not authorized to access this resource with an explicit deny"),
                "AccessDeniedException",
            ),
            (AccessDenied, Rest) => (
                403,
                Some("User is not authorized to access this resource"),
                "AccessDeniedException",
            ),
            (BadRequestParameters, Http) | (BadRequestBody, Http) => (400, Some("Bad Request"), ""),
            (BadRequestParameters, Rest) => (
                400,
                Some("Missing required request parameters"),
                "BadRequestException",
            ),
            (BadRequestBody, Rest) => (400, Some("Invalid request body"), "BadRequestException"),
            (ExpiredToken, Http) => (403, Some("Forbidden"), ""),
            (ExpiredToken, Rest) => (
                403,
                Some("The security token included in the request is expired"),
                "ExpiredTokenException",
            ),
            (InvalidApiKey, _) => (403, Some("Forbidden"), "ForbiddenException"),
            (InvalidSignature, Http) => (403, Some("Forbidden"), ""),
            (InvalidSignature, Rest) => (
                403,
                Some(
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
                ),
                "InvalidSignatureException",
            ),
            (QuotaExceeded, _) => (429, Some("Limit Exceeded"), "LimitExceededException"),
            (Throttled, _) => (429, Some("Too Many Requests"), "TooManyRequestsException"),
            (Unauthorized, _) => (401, Some("Unauthorized"), "UnauthorizedException"),
            (UnsupportedMediaType, _) => (
                415,
                Some("Unsupported Media Type"),
                "UnsupportedMediaTypeException",
            ),
            (WafFiltered, _) => (403, Some("Forbidden"), "ForbiddenException"),
        };
        let error_type = if protocol == Http { "" } else { error_type };
        Defaults {
            status,
            message,
            error_type,
        }
    }

    /// (status, message, REST `x-amzn-ErrorType`) of the defaults for an API
    /// of `protocol` (a `null` message is `""` here).
    pub fn parts(self, protocol: Protocol) -> (u16, &'static str, &'static str) {
        let d = self.defaults(protocol);
        (d.status, d.message.unwrap_or(""), d.error_type)
    }

    /// API Gateway's gateway response type of this error: its own, or
    /// `DEFAULT_4XX` / `DEFAULT_5XX` for errors API Gateway has no type for.
    pub fn kind(self) -> ResponseType {
        use GatewayResponse::*;
        match self {
            ResourceNotFound => ResponseType::ResourceNotFound,
            MissingAuthenticationToken => ResponseType::MissingAuthenticationToken,
            Forbidden | BadRequest | RequestTimeout | HeaderFieldsTooLarge => {
                ResponseType::Default4xx
            }
            VersionNotSupported => ResponseType::Default5xx,
            IntegrationFailure => ResponseType::IntegrationFailure,
            IntegrationTimeout => ResponseType::IntegrationTimeout,
            ApiConfigurationError => ResponseType::ApiConfigurationError,
            RequestTooLarge => ResponseType::RequestTooLarge,
            AccessDenied | ExplicitDeny => ResponseType::AccessDenied,
            AuthorizerConfigurationError => ResponseType::AuthorizerConfigurationError,
            AuthorizerFailure => ResponseType::AuthorizerFailure,
            BadRequestParameters => ResponseType::BadRequestParameters,
            BadRequestBody => ResponseType::BadRequestBody,
            ExpiredToken => ResponseType::ExpiredToken,
            InvalidApiKey => ResponseType::InvalidApiKey,
            InvalidSignature => ResponseType::InvalidSignature,
            QuotaExceeded => ResponseType::QuotaExceeded,
            Throttled => ResponseType::Throttled,
            Unauthorized => ResponseType::Unauthorized,
            UnsupportedMediaType => ResponseType::UnsupportedMediaType,
            WafFiltered => ResponseType::WafFiltered,
        }
    }

    /// `$context.error.responseType`: the name of [`kind`](Self::kind).
    pub fn response_type(self) -> &'static str {
        self.kind().name()
    }

    /// The override that applies among an API's `overrides`, if any.
    pub fn override_in(
        self,
        overrides: &[GatewayResponseOverride],
        default_status: u16,
    ) -> Option<&GatewayResponseOverride> {
        let own = self.kind();
        overrides
            .iter()
            .find(|o| o.response_type == own)
            .or_else(|| {
                let class = if default_status >= 500 {
                    ResponseType::Default5xx
                } else {
                    ResponseType::Default4xx
                };
                overrides.iter().find(|o| o.response_type == class)
            })
    }

    /// Bytes of the default body (for a request other than HEAD).
    pub fn body_len(self, protocol: Protocol) -> usize {
        // {"message":"…"} or {"message":null}
        match self.defaults(protocol).message {
            Some(m) => m.len() + 14,
            None => 16,
        }
    }

    /// The status and body length [`write`](Self::write) sends with `c`
    /// (overrides applied).
    pub fn sent(self, c: &Common<'_>) -> (u16, usize) {
        let d = self.defaults(c.protocol);
        let o = self.override_in(c.responses, d.status);
        let status = o.and_then(|o| o.status).unwrap_or(d.status);
        let len = match o.and_then(|o| o.template.as_deref()) {
            Some(t) => {
                let mut n = 0;
                render(t, self, d.message, c, &mut |b| n += b.len());
                n
            }
            None => self.body_len(c.protocol),
        };
        (status, len)
    }

    /// Append the whole response (head and body) to `out`. `head_only` for
    /// HEAD requests.
    pub fn write(self, out: &mut Vec<u8>, c: &Common<'_>, head_only: bool) {
        let d = self.defaults(c.protocol);
        let o = self.override_in(c.responses, d.status);
        let status = o.and_then(|o| o.status).unwrap_or(d.status);
        response::status_line(out, status, response::reason(status).as_bytes());
        response::common_headers(out, c);
        let mut has_type = false;
        for (n, v) in o.iter().flat_map(|o| &o.headers) {
            has_type |= n.eq_ignore_ascii_case("content-type");
            response::header(out, n.as_bytes(), v.as_bytes());
        }
        if !has_type {
            out.extend_from_slice(b"Content-Type: application/json\r\n");
        }
        if !d.error_type.is_empty() {
            response::header(out, b"x-amzn-ErrorType", d.error_type.as_bytes());
        }
        match o.and_then(|o| o.template.as_deref()) {
            Some(t) => {
                let mut n = 0;
                render(t, self, d.message, c, &mut |b| n += b.len());
                response::content_length(out, n as u64);
                out.extend_from_slice(b"\r\n");
                if !head_only {
                    render(t, self, d.message, c, &mut |b| out.extend_from_slice(b));
                }
            }
            None => {
                // {"message":"…"}: default messages are fixed ASCII without
                // quotes or backslashes.
                response::content_length(out, self.body_len(c.protocol) as u64);
                out.extend_from_slice(b"\r\n");
                if !head_only {
                    match d.message {
                        Some(m) => {
                            out.extend_from_slice(if self.capital_message(c.protocol) {
                                b"{\"Message\":\""
                            } else {
                                b"{\"message\":\""
                            });
                            out.extend_from_slice(m.as_bytes());
                            out.extend_from_slice(b"\"}");
                        }
                        None => out.extend_from_slice(b"{\"message\":null}"),
                    }
                }
            }
        }
    }

    /// REST APIs' explicit deny says `{"Message": …}`, as API Gateway does.
    fn capital_message(self, protocol: Protocol) -> bool {
        self == GatewayResponse::ExplicitDeny && protocol == Protocol::Rest
    }

    /// [`write`](Self::write) with the header `name: value` right after
    /// the status line (a JWT authorizer's `WWW-Authenticate`).
    pub fn write_with_header(
        self,
        out: &mut Vec<u8>,
        c: &Common<'_>,
        head_only: bool,
        name: &[u8],
        value: &[u8],
    ) {
        let start = out.len();
        self.write(out, c, head_only);
        let Some(line) = memchr::memmem::find(&out[start..], b"\r\n") else {
            return;
        };
        let at = start + line + 2;
        let mut field = Vec::with_capacity(name.len() + value.len() + 4);
        response::header(&mut field, name, value);
        out.splice(at..at, field);
    }

    /// [`write`](Self::write) with `Retry-After: secs` right after the status
    /// line (a 429 from a throttle says when to try again).
    pub fn write_retry_after(self, out: &mut Vec<u8>, c: &Common<'_>, head_only: bool, secs: u32) {
        let start = out.len();
        self.write(out, c, head_only);
        let Some(line) = memchr::memmem::find(&out[start..], b"\r\n") else {
            return;
        };
        let mut field = [0u8; 32];
        let mut f = &mut field[..];
        let _ = std::io::Write::write_fmt(&mut f, format_args!("Retry-After: {secs}\r\n"));
        let n = 32 - f.len();
        let at = start + line + 2;
        out.splice(at..at, field[..n].iter().copied());
    }
}

/// `s` with JSON string escapes (`"`, `\\`, control characters), in runs.
fn json_escaped(s: &str, put: &mut dyn FnMut(&[u8])) {
    let b = s.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                put(&b[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 15) as usize],
                ]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        put(&b[start..i]);
        put(esc);
        start = i + 1;
    }
    put(&b[start..]);
}

/// What the step that refused a request tells in place of its type's
/// default message and error type (IAM authorization's words: the
/// canonical request of a bad signature, the principal a policy denies).
/// REST APIs only; HTTP APIs answer their type's default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub message: String,
    /// `x-amzn-ErrorType`.
    pub error_type: &'static str,
    /// The body's key is `Message` (as IAM's denials write it), not `message`.
    pub capital: bool,
    /// What `$context.error.message` logs (the message without the
    /// request's particulars).
    pub summary: &'static str,
}

impl GatewayResponse {
    /// [`write`](Self::write) with `detail`'s message and error type (REST
    /// APIs; HTTP APIs get the plain [`write`](Self::write)). Returns the
    /// status and body length sent (for the facts).
    pub fn write_detail(
        self,
        out: &mut Vec<u8>,
        c: &Common<'_>,
        head_only: bool,
        detail: &Detail,
    ) -> (u16, usize) {
        if c.protocol == Protocol::Http {
            self.write(out, c, head_only);
            return self.sent(c);
        }
        let d = self.defaults(c.protocol);
        let o = self.override_in(c.responses, d.status);
        let status = o.and_then(|o| o.status).unwrap_or(d.status);
        let mut body = Vec::new();
        match o.and_then(|o| o.template.as_deref()) {
            Some(t) => render(t, self, Some(&detail.message), c, &mut |b| {
                body.extend_from_slice(b)
            }),
            None => {
                body.extend_from_slice(if detail.capital {
                    b"{\"Message\":\""
                } else {
                    b"{\"message\":\""
                });
                json_escaped(&detail.message, &mut |b| body.extend_from_slice(b));
                body.extend_from_slice(b"\"}");
            }
        }
        response::status_line(out, status, response::reason(status).as_bytes());
        response::common_headers(out, c);
        let mut has_type = false;
        for (n, v) in o.iter().flat_map(|o| &o.headers) {
            has_type |= n.eq_ignore_ascii_case("content-type");
            response::header(out, n.as_bytes(), v.as_bytes());
        }
        if !has_type {
            out.extend_from_slice(b"Content-Type: application/json\r\n");
        }
        response::header(out, b"x-amzn-ErrorType", detail.error_type.as_bytes());
        response::content_length(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&body);
        }
        (status, body.len())
    }
}

/// Feed a template's text to `put`, variables substituted (`message`
/// JSON-escaped: default messages have nothing to escape, a [`Detail`]'s may).
fn render(
    pieces: &[TemplatePiece],
    gr: GatewayResponse,
    message: Option<&str>,
    c: &Common<'_>,
    put: &mut dyn FnMut(&[u8]),
) {
    for p in pieces {
        match p {
            TemplatePiece::Literal(l) => put(l.as_bytes()),
            TemplatePiece::MessageString => match message {
                Some(m) => {
                    put(b"\"");
                    json_escaped(m, put);
                    put(b"\"");
                }
                None => put(b"null"),
            },
            TemplatePiece::Message => json_escaped(message.unwrap_or(""), put),
            TemplatePiece::ResponseType => put(gr.response_type().as_bytes()),
            TemplatePiece::RequestId => put(c.request_id.as_bytes()),
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
            extended_id: None,
            trace: None,
            responses: &[],
            cors: None,
            hsts: None,
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
            extended_id: None,
            trace: None,
            responses: &[],
            cors: None,
            hsts: None,
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
            extended_id: None,
            trace: None,
            responses: &[],
            cors: None,
            hsts: None,
        };
        let mut out = Vec::new();
        GatewayResponse::Forbidden.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(text.contains("x-amzn-ErrorType: ForbiddenException\r\n"));
        assert!(text.contains("x-tollgate-deployment: v2\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"message\":\"Forbidden\"}"));
    }

    /// API Gateway's table (supported-gateway-response-types): each type's
    /// default status on REST APIs. INTEGRATION_FAILURE is the deliberate
    /// exception (502, see the module docs).
    #[test]
    fn rest_defaults_follow_api_gateways_table() {
        let table = [
            (ResponseType::AccessDenied, 403),
            (ResponseType::ApiConfigurationError, 500),
            (ResponseType::AuthorizerConfigurationError, 500),
            (ResponseType::AuthorizerFailure, 500),
            (ResponseType::BadRequestParameters, 400),
            (ResponseType::BadRequestBody, 400),
            (ResponseType::ExpiredToken, 403),
            (ResponseType::IntegrationFailure, 502),
            (ResponseType::IntegrationTimeout, 504),
            (ResponseType::InvalidApiKey, 403),
            (ResponseType::InvalidSignature, 403),
            (ResponseType::MissingAuthenticationToken, 403),
            (ResponseType::QuotaExceeded, 429),
            (ResponseType::RequestTooLarge, 413),
            (ResponseType::ResourceNotFound, 404),
            (ResponseType::Throttled, 429),
            (ResponseType::Unauthorized, 401),
            (ResponseType::UnsupportedMediaType, 415),
            (ResponseType::WafFiltered, 403),
        ];
        for (t, status) in table {
            let gr = GatewayResponse::ALL
                .into_iter()
                .find(|g| g.kind() == t)
                .unwrap_or_else(|| panic!("no gateway response of type {}", t.name()));
            let d = gr.defaults(Protocol::Rest);
            assert_eq!(d.status, status, "{}", t.name());
            assert!(d.error_type.ends_with("Exception"), "{}", t.name());
        }
        // Every type has a place: its own response, or the DEFAULT_ ones.
        for t in ResponseType::ALL {
            assert!(
                GatewayResponse::ALL.iter().any(|g| g.kind() == t),
                "{} has no gateway response",
                t.name()
            );
        }
        // DEFAULT_4XX / DEFAULT_5XX stand for their status class.
        for g in GatewayResponse::ALL {
            let status = g.defaults(Protocol::Rest).status;
            match g.kind() {
                ResponseType::Default4xx => assert!((400..500).contains(&status), "{g:?}"),
                ResponseType::Default5xx => assert!(status >= 500, "{g:?}"),
                _ => {}
            }
        }
    }

    #[test]
    fn defaults_of_types_for_later_issues() {
        use GatewayResponse::*;
        let rest = |g: GatewayResponse| {
            let d = g.defaults(Protocol::Rest);
            (d.status, d.message, d.error_type)
        };
        assert_eq!(
            rest(AccessDenied),
            (
                403,
                Some("User is not authorized to access this resource"),
                "AccessDeniedException"
            )
        );
        assert_eq!(
            rest(AuthorizerConfigurationError),
            (500, None, "AuthorizerConfigurationException")
        );
        assert_eq!(
            rest(InvalidApiKey),
            (403, Some("Forbidden"), "ForbiddenException")
        );
        assert_eq!(
            rest(QuotaExceeded),
            (429, Some("Limit Exceeded"), "LimitExceededException")
        );
        assert_eq!(
            rest(Throttled),
            (429, Some("Too Many Requests"), "TooManyRequestsException")
        );
        assert_eq!(
            rest(Unauthorized),
            (401, Some("Unauthorized"), "UnauthorizedException")
        );
        assert!(
            rest(InvalidSignature)
                .1
                .unwrap()
                .starts_with("The request signature we calculated does not match")
        );
        // HTTP APIs: no error type header, their own messages.
        for g in GatewayResponse::ALL {
            assert_eq!(g.defaults(Protocol::Http).error_type, "", "{g:?}");
        }
        assert_eq!(Unauthorized.defaults(Protocol::Http).status, 401);
        assert_eq!(Throttled.defaults(Protocol::Http).status, 429);
    }

    #[test]
    fn null_messages_render_as_json_null() {
        let id = IdGen::new(1).uuid();
        let c = Common {
            protocol: Protocol::Rest,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
            extended_id: None,
            trace: None,
            responses: &[],
            cors: None,
            hsts: None,
        };
        let mut out = Vec::new();
        GatewayResponse::AuthorizerFailure.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(text.contains("Content-Length: 16\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"message\":null}"));
        assert_eq!(GatewayResponse::AuthorizerFailure.sent(&c), (500, 16));
    }

    fn override_of(
        t: ResponseType,
        status: Option<u16>,
        template: Option<&str>,
    ) -> GatewayResponseOverride {
        GatewayResponseOverride {
            response_type: t,
            status,
            headers: vec![("x-o".into(), t.name().into())],
            template: template.map(|t| crate::config::parse_response_template(t).unwrap()),
        }
    }

    #[test]
    fn overrides_resolve_own_type_then_status_class() {
        let list = [
            override_of(ResponseType::Default4xx, Some(418), None),
            override_of(ResponseType::Default5xx, None, Some("5xx")),
            override_of(ResponseType::Throttled, None, None),
        ];
        use GatewayResponse::*;
        let pick = |g: GatewayResponse| {
            g.override_in(&list, g.defaults(Protocol::Rest).status)
                .map(|o| o.response_type)
        };
        assert_eq!(pick(Throttled), Some(ResponseType::Throttled));
        assert_eq!(pick(QuotaExceeded), Some(ResponseType::Default4xx));
        assert_eq!(pick(BadRequest), Some(ResponseType::Default4xx));
        assert_eq!(pick(IntegrationTimeout), Some(ResponseType::Default5xx));
        assert_eq!(pick(VersionNotSupported), Some(ResponseType::Default5xx));
        assert_eq!(ResourceNotFound.override_in(&[], 404), None);

        let id = IdGen::new(1).uuid();
        let c = Common {
            protocol: Protocol::Rest,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
            extended_id: None,
            trace: None,
            responses: &list,
            cors: None,
            hsts: None,
        };
        // DEFAULT_4XX's status replaces a 4xx type's; its header is added.
        let mut out = Vec::new();
        QuotaExceeded.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 418 "), "{text}");
        assert!(text.contains("x-o: DEFAULT_4XX\r\n"));
        assert!(text.ends_with("{\"message\":\"Limit Exceeded\"}"));
        assert_eq!(QuotaExceeded.sent(&c), (418, 28));
        // The own override without a status keeps the type's.
        assert_eq!(Throttled.sent(&c).0, 429);
        // DEFAULT_5XX's template.
        let mut out = Vec::new();
        IntegrationFailure.write(&mut out, &c, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 502 "));
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\n"), "HEAD: no body");
    }

    #[test]
    fn templates_render_every_variable() {
        let list = [override_of(
            ResponseType::ResourceNotFound,
            None,
            Some(
                r#"{"m":$context.error.messageString,"raw":"$context.error.message","t":"$context.error.responseType","id":"$context.requestId"}"#,
            ),
        )];
        let id = IdGen::new(7).short();
        let c = Common {
            protocol: Protocol::Http,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
            extended_id: None,
            trace: None,
            responses: &list,
            cors: None,
            hsts: None,
        };
        let mut out = Vec::new();
        GatewayResponse::ResourceNotFound.write(&mut out, &c, false);
        let text = String::from_utf8(out).unwrap();
        let body = format!(
            r#"{{"m":"Not Found","raw":"Not Found","t":"RESOURCE_NOT_FOUND","id":"{}"}}"#,
            id.as_str()
        );
        assert!(text.ends_with(&format!("\r\n\r\n{body}")), "{text}");
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn details_replace_message_and_error_type_on_rest_apis() {
        let list = [override_of(
            ResponseType::AccessDenied,
            Some(401),
            Some(r#"{"why":$context.error.messageString}"#),
        )];
        let id = IdGen::new(3).uuid();
        let mut c = Common {
            protocol: Protocol::Rest,
            request_id: &id,
            http10: false,
            keep_alive: true,
            date: b"Sun, 06 Nov 1994 08:49:37 GMT",
            deployment: None,
            extended_id: None,
            trace: None,
            responses: &[],
            cors: None,
            hsts: None,
        };
        let d = Detail {
            message: "line one\n'quoted' \"x\"".into(),
            error_type: "InvalidSignatureException",
            capital: false,
            summary: "bad signature",
        };
        let mut out = Vec::new();
        let (status, len) = GatewayResponse::InvalidSignature.write_detail(&mut out, &c, false, &d);
        let text = String::from_utf8(out).unwrap();
        let body = r#"{"message":"line one\n'quoted' \"x\""}"#;
        assert_eq!((status, len), (403, body.len()));
        assert!(
            text.contains("x-amzn-ErrorType: InvalidSignatureException\r\n"),
            "{text}"
        );
        assert!(text.ends_with(&format!("\r\n\r\n{body}")), "{text}");
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
        // `Message` with a capital M; an override's status and template apply.
        let d = Detail {
            message: "User: x is not authorized".into(),
            error_type: "AccessDeniedException",
            capital: true,
            summary: "denied",
        };
        let mut out = Vec::new();
        GatewayResponse::AccessDenied.write_detail(&mut out, &c, false, &d);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with(r#"{"Message":"User: x is not authorized"}"#)
        );
        c.responses = &list;
        let mut out = Vec::new();
        let (status, _) = GatewayResponse::AccessDenied.write_detail(&mut out, &c, false, &d);
        assert_eq!(status, 401);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with(r#"{"why":"User: x is not authorized"}"#)
        );
        // HTTP APIs answer their default.
        c.protocol = Protocol::Http;
        c.responses = &[];
        let mut out = Vec::new();
        GatewayResponse::AccessDenied.write_detail(&mut out, &c, false, &d);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(r#"{"message":"Forbidden"}"#), "{text}");
        assert!(!text.contains("x-amzn-ErrorType"));
    }
}
