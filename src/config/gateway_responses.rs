//! An API's `gateway_responses` (overrides of API Gateway's gateway
//! responses: status, headers, body template) and `binary_media_types`,
//! checked and resolved. The type names are API Gateway's
//! (supported-gateway-response-types); the defaults of each type live in
//! `pipeline::gateway_response`, which applies these overrides.
//!
//! Guarantees: every override names a known type, a status 200–599, header
//! names that are tokens (and none the gateway frames or identifies responses
//! with) with values free of control characters, and a template whose
//! `$context` variables are all supported. Does not: render anything.

use super::model::{OrderedMap, RawGatewayResponse, S};
use super::resolve::Errors;

/// API Gateway's gateway response types.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub enum ResponseType {
    AccessDenied,
    ApiConfigurationError,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    BadRequestParameters,
    BadRequestBody,
    Default4xx,
    Default5xx,
    ExpiredToken,
    IntegrationFailure,
    IntegrationTimeout,
    InvalidApiKey,
    InvalidSignature,
    MissingAuthenticationToken,
    QuotaExceeded,
    RequestTooLarge,
    ResourceNotFound,
    Throttled,
    Unauthorized,
    UnsupportedMediaType,
    WafFiltered,
}

impl ResponseType {
    /// Every type, in API Gateway's (alphabetical) order.
    pub const ALL: [ResponseType; 21] = [
        ResponseType::AccessDenied,
        ResponseType::ApiConfigurationError,
        ResponseType::AuthorizerConfigurationError,
        ResponseType::AuthorizerFailure,
        ResponseType::BadRequestParameters,
        ResponseType::BadRequestBody,
        ResponseType::Default4xx,
        ResponseType::Default5xx,
        ResponseType::ExpiredToken,
        ResponseType::IntegrationFailure,
        ResponseType::IntegrationTimeout,
        ResponseType::InvalidApiKey,
        ResponseType::InvalidSignature,
        ResponseType::MissingAuthenticationToken,
        ResponseType::QuotaExceeded,
        ResponseType::RequestTooLarge,
        ResponseType::ResourceNotFound,
        ResponseType::Throttled,
        ResponseType::Unauthorized,
        ResponseType::UnsupportedMediaType,
        ResponseType::WafFiltered,
    ];

    /// The name API Gateway uses (`RESOURCE_NOT_FOUND`), also
    /// `$context.error.responseType`.
    pub fn name(self) -> &'static str {
        use ResponseType::*;
        match self {
            AccessDenied => "ACCESS_DENIED",
            ApiConfigurationError => "API_CONFIGURATION_ERROR",
            AuthorizerConfigurationError => "AUTHORIZER_CONFIGURATION_ERROR",
            AuthorizerFailure => "AUTHORIZER_FAILURE",
            BadRequestParameters => "BAD_REQUEST_PARAMETERS",
            BadRequestBody => "BAD_REQUEST_BODY",
            Default4xx => "DEFAULT_4XX",
            Default5xx => "DEFAULT_5XX",
            ExpiredToken => "EXPIRED_TOKEN",
            IntegrationFailure => "INTEGRATION_FAILURE",
            IntegrationTimeout => "INTEGRATION_TIMEOUT",
            InvalidApiKey => "INVALID_API_KEY",
            InvalidSignature => "INVALID_SIGNATURE",
            MissingAuthenticationToken => "MISSING_AUTHENTICATION_TOKEN",
            QuotaExceeded => "QUOTA_EXCEEDED",
            RequestTooLarge => "REQUEST_TOO_LARGE",
            ResourceNotFound => "RESOURCE_NOT_FOUND",
            Throttled => "THROTTLED",
            Unauthorized => "UNAUTHORIZED",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            WafFiltered => "WAF_FILTERED",
        }
    }

    /// The type named `name` (exactly as API Gateway spells it).
    pub fn parse(name: &str) -> Option<ResponseType> {
        ResponseType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One API's override of a gateway response type. Fields left out keep the
/// type's defaults.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct GatewayResponseOverride {
    pub response_type: ResponseType,
    pub status: Option<u16>,
    /// Sent after the gateway's own headers, in file order.
    pub headers: Vec<(String, String)>,
    /// The body; `None` keeps `{"message":$context.error.messageString}`.
    pub template: Option<Vec<TemplatePiece>>,
}

/// A piece of a gateway response body template.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum TemplatePiece {
    Literal(String),
    /// `$context.error.messageString`: the message as a JSON string (or `null`).
    MessageString,
    /// `$context.error.message`: the message's text.
    Message,
    /// `$context.error.responseType`.
    ResponseType,
    /// `$context.requestId`.
    RequestId,
}

/// Template variables, longest first (so `messageString` wins over `message`).
const VARIABLES: [(&str, TemplatePiece); 4] = [
    ("$context.error.messageString", TemplatePiece::MessageString),
    ("$context.error.responseType", TemplatePiece::ResponseType),
    ("$context.error.message", TemplatePiece::Message),
    ("$context.requestId", TemplatePiece::RequestId),
];

/// Split a template into literal text and variables; `$context.*` names
/// other than the supported ones are an error (`$` otherwise is text).
pub(crate) fn parse_template(text: &str) -> Result<Vec<TemplatePiece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("$context.") {
        literal.push_str(&rest[..i]);
        let at = &rest[i..];
        // A variable name runs over letters, digits, `.` and `_`; braces
        // (`${context.x}`) are not VTL's syntax here.
        let end = at
            .char_indices()
            .skip(1)
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
            .map_or(at.len(), |(j, _)| j);
        let name = at[..end].trim_end_matches('.');
        let Some((_, piece)) = VARIABLES.iter().find(|(v, _)| *v == name) else {
            let known: Vec<&str> = VARIABLES.iter().map(|(v, _)| *v).collect();
            return Err(format!(
                "`{name}` is not a variable gateway response templates support; use {}",
                known.join(", ")
            ));
        };
        if !literal.is_empty() {
            pieces.push(TemplatePiece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(piece.clone());
        rest = &at[name.len()..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(TemplatePiece::Literal(literal));
    }
    Ok(pieces)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Headers the gateway writes itself on every response.
const RESERVED: [&str; 11] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "date",
    "apigw-requestid",
    "x-amzn-requestid",
    "x-amzn-errortype",
];

/// The overrides of one API.
pub(crate) fn resolve_gateway_responses(
    raw: Option<&S<OrderedMap<S<RawGatewayResponse>>>>,
    errors: &mut Errors,
) -> Vec<GatewayResponseOverride> {
    let mut out = Vec::new();
    for (name, r) in raw.iter().flat_map(|m| &m.value.0) {
        let Some(response_type) = ResponseType::parse(&name.value) else {
            let known: Vec<&str> = ResponseType::ALL.iter().map(|t| t.name()).collect();
            errors.at(
                &name.referenced,
                format!(
                    "`{}` is not a gateway response type; one of {}",
                    name.value,
                    known.join(", ")
                ),
            );
            continue;
        };
        let r = &r.value;
        let status = r
            .status
            .as_ref()
            .and_then(|s| match u16::try_from(s.value) {
                Ok(v) if (200..=599).contains(&v) => Some(v),
                _ => {
                    errors.at(&s.referenced, "`status` must be between 200 and 599");
                    None
                }
            });
        let mut headers = Vec::new();
        for (n, v) in r.headers.iter().flat_map(|h| &h.value.0) {
            if n.value.is_empty() || !n.value.bytes().all(is_tchar) {
                errors.at(
                    &n.referenced,
                    format!("`{}` is not a valid header name", n.value),
                );
                continue;
            }
            if RESERVED.iter().any(|h| h.eq_ignore_ascii_case(&n.value)) {
                errors.at(
                    &n.referenced,
                    format!("`{}` is set by the gateway itself", n.value),
                );
                continue;
            }
            if v.value
                .bytes()
                .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                errors.at(
                    &v.referenced,
                    "a header value may not contain control characters (line breaks included)",
                );
                continue;
            }
            headers.push((n.value.clone(), v.value.clone()));
        }
        let template = r
            .template
            .as_ref()
            .and_then(|t| match parse_template(&t.value) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.at(&t.referenced, e);
                    None
                }
            });
        out.push(GatewayResponseOverride {
            response_type,
            status,
            headers,
            template,
        });
    }
    out
}

/// `binary_media_types`: `type/subtype`, `type/*` or `*/*`, kept lower-case.
pub(crate) fn resolve_binary_media_types(
    raw: Option<&S<Vec<S<String>>>>,
    errors: &mut Errors,
) -> Vec<String> {
    let mut out = Vec::new();
    for t in raw.iter().flat_map(|l| &l.value) {
        let ok = t.value.split_once('/').is_some_and(|(a, b)| {
            let token = |s: &str| !s.is_empty() && s.bytes().all(is_tchar);
            match (a, b) {
                ("*", sub) => sub == "*",
                (ty, "*") => token(ty),
                (ty, sub) => token(ty) && token(sub),
            }
        });
        if ok {
            out.push(t.value.to_ascii_lowercase());
        } else {
            errors.at(
                &t.referenced,
                format!(
                    "`{}` is not a media type: type/subtype, type/* or */*",
                    t.value
                ),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ResponseType::ALL {
            assert_eq!(ResponseType::parse(t.name()), Some(t));
        }
        assert_eq!(ResponseType::parse("resource_not_found"), None);
    }

    #[test]
    fn templates_split_into_variables() {
        assert_eq!(
            parse_template(
                r#"{"message":$context.error.messageString,"t":"$context.error.responseType"}"#
            )
            .unwrap(),
            [
                TemplatePiece::Literal("{\"message\":".into()),
                TemplatePiece::MessageString,
                TemplatePiece::Literal(",\"t\":\"".into()),
                TemplatePiece::ResponseType,
                TemplatePiece::Literal("\"}".into()),
            ]
        );
        assert_eq!(
            parse_template("id $context.requestId. cost $5").unwrap(),
            [
                TemplatePiece::Literal("id ".into()),
                TemplatePiece::RequestId,
                TemplatePiece::Literal(". cost $5".into()),
            ]
        );
        assert_eq!(
            parse_template("$context.error.message").unwrap(),
            [TemplatePiece::Message]
        );
        assert!(
            parse_template("$context.identity.sourceIp")
                .unwrap_err()
                .contains("`$context.identity.sourceIp` is not a variable")
        );
    }
}
