//! Access log lines in Amazon API Gateway's format language: a one-line
//! template with `$context.*` variables, compiled once per configuration and
//! rendered per request into the caller's buffer. Sans-IO and allocation-free
//! per line (only the caller's buffer grows, and it is reused).
//!
//! A format is one of API Gateway's console presets (`clf`, `json`, `xml`,
//! `csv`; the REST or the HTTP API variant, after the API's protocol) or a
//! template of the user's. Its *form* decides how values are escaped so a
//! line stays one well-formed record whatever a client sends: JSON string
//! escapes when the template starts with `{`, XML entities when it starts
//! with `<`, RFC 4180 quoting for CSV (no spaces, commas), else CLF
//! (`"` and `\` backslash-escaped). Control characters never reach the
//! line raw, so one request is always exactly one line.
//!
//! Values that do not exist for a request render `-`, as API Gateway writes
//! them; the one exception is a variable standing bare (outside quotes) in
//! a JSON template, which renders `null` so the line stays valid JSON (API
//! Gateway's documentation is silent on absent values; this is tollgate's
//! choice). `$context.authorizer.principalId`, `.error`, `.claims.NAME`
//! (JWT claims; also `.jwt.claims.NAME`) and `.NAME` (a Lambda authorizer's
//! context property) come from the authorize step. Variables of features
//! tollgate does not have yet (IAM identities, WAF) are accepted and
//! always absent.
//!
//! Does not: write anything anywhere (see `log_writer`).

use std::net::IpAddr;
use std::ops::Range;

use crate::config::Protocol;
use crate::observe::trace::TraceContext;

/// How values are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Clf,
    Json,
    Xml,
    Csv,
}

/// A `$context` variable the renderer knows how to fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Var {
    /// `requestId`: the id sent in `x-amzn-RequestId` / `apigw-requestid`.
    RequestId,
    /// `extendedRequestId`: REST `x-amz-apigw-id`; HTTP APIs: the request id.
    ExtendedRequestId,
    /// `identity.sourceIp`: the TCP peer's address.
    SourceIp,
    /// `identity.userAgent`.
    UserAgent,
    /// `identity.clientCert.subjectDN`: the verified mTLS client
    /// certificate's subject (see `tls::x509`).
    ClientCertSubjectDn,
    /// `httpMethod`.
    HttpMethod,
    /// `resourcePath`: the matched route's path template.
    ResourcePath,
    /// `routeKey`: the matched route key.
    RouteKey,
    /// `path`: the request path as received, stage prefix included, no query.
    Path,
    /// `protocol`: `HTTP/1.1` or `HTTP/1.0`.
    Protocol,
    /// `status`: the response status.
    Status,
    /// `responseLength`: response body bytes.
    ResponseLength,
    /// `requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000`.
    RequestTime,
    /// `requestTimeEpoch`: milliseconds.
    RequestTimeEpoch,
    /// `responseLatency`: ms from request to response.
    ResponseLatency,
    /// `integrationLatency`, `integration.latency`: ms.
    IntegrationLatency,
    /// `integrationStatus`, `integration.status`, `integration.integrationStatus`.
    IntegrationStatus,
    /// `integration.error`, `integrationErrorMessage`.
    IntegrationError,
    /// `error.message`: the gateway response's message.
    ErrorMessage,
    /// `error.messageString`: the same, in double quotes.
    ErrorMessageString,
    /// `error.responseType`: the gateway response type.
    ErrorResponseType,
    /// `apiId`: the API's name.
    ApiId,
    /// `stage`.
    Stage,
    /// `deploymentId`: the deployment that served (the stage's, or its
    /// canary's for a request in the canary's share).
    DeploymentId,
    /// `domainName`: the request's Host.
    DomainName,
    /// `domainPrefix`: the first label of the Host.
    DomainPrefix,
    /// `dataProcessed`: request and response bytes.
    DataProcessed,
    /// `xrayTraceId`: `1-{8 hex}-{24 hex}`.
    XrayTraceId,
    /// `traceparent` (tollgate's): the W3C traceparent sent upstream.
    Traceparent,
    /// `identity.userArn`, `identity.caller`, `identity.user`: the IAM
    /// caller's principal ARN (routes with `aws_iam`).
    UserArn,
    /// `identity.accessKey`: the IAM caller's access key id.
    AccessKey,
    /// `identity.accountId`: the IAM caller's account.
    IdentityAccountId,
    /// A variable of a feature tollgate does not have (authorizers, IAM,
    /// WAF, …): always absent.
    Absent,
}

const VARS: &[(&str, Var)] = &[
    ("requestId", Var::RequestId),
    ("extendedRequestId", Var::ExtendedRequestId),
    ("identity.sourceIp", Var::SourceIp),
    ("identity.userAgent", Var::UserAgent),
    ("identity.userArn", Var::UserArn),
    ("identity.caller", Var::UserArn),
    ("identity.user", Var::UserArn),
    ("identity.accessKey", Var::AccessKey),
    ("identity.accountId", Var::IdentityAccountId),
    ("identity.clientCert.subjectDN", Var::ClientCertSubjectDn),
    ("httpMethod", Var::HttpMethod),
    ("resourcePath", Var::ResourcePath),
    ("routeKey", Var::RouteKey),
    ("path", Var::Path),
    ("protocol", Var::Protocol),
    ("status", Var::Status),
    ("responseLength", Var::ResponseLength),
    ("requestTime", Var::RequestTime),
    ("requestTimeEpoch", Var::RequestTimeEpoch),
    ("responseLatency", Var::ResponseLatency),
    ("integrationLatency", Var::IntegrationLatency),
    ("integration.latency", Var::IntegrationLatency),
    ("integrationStatus", Var::IntegrationStatus),
    ("integration.status", Var::IntegrationStatus),
    ("integration.integrationStatus", Var::IntegrationStatus),
    ("integration.error", Var::IntegrationError),
    ("integrationErrorMessage", Var::IntegrationError),
    ("error.message", Var::ErrorMessage),
    ("error.messageString", Var::ErrorMessageString),
    ("error.responseType", Var::ErrorResponseType),
    ("apiId", Var::ApiId),
    ("stage", Var::Stage),
    ("deploymentId", Var::DeploymentId),
    ("domainName", Var::DomainName),
    ("domainPrefix", Var::DomainPrefix),
    ("dataProcessed", Var::DataProcessed),
    ("xrayTraceId", Var::XrayTraceId),
    ("traceparent", Var::Traceparent),
    // Features tollgate does not have (yet): always absent.
    ("accountId", Var::Absent),
    ("awsEndpointRequestId", Var::Absent),
    ("awsEndpointRequestId2", Var::Absent),
    ("customDomain.basePathMatched", Var::Absent),
    ("error.validationErrorString", Var::Absent),
    ("integration.requestId", Var::Absent),
    ("wafResponseCode", Var::Absent),
    ("webaclArn", Var::Absent),
    ("responseOverride.status", Var::Absent),
];

/// Prefixes whose every variable is absent in tollgate (authorizers, IAM
/// identities, mTLS, …); `authorizer.` covers `authorizer.claims.*`,
/// `authorizer.principalId`, `authorizer.error` and the context properties.
const ABSENT_PREFIXES: &[&str] = &[
    "authorizer.",
    "authorize.",
    "authenticate.",
    "identity.",
    "requestOverride.",
    "responseOverride.",
];

#[derive(Clone, Debug)]
enum Piece {
    Literal(Range<usize>),
    Var {
        var: Var,
        quoted: bool,
    },
    /// `authorizer.principalId`, `authorizer.error`, `authorizer.claims.NAME`
    /// (JWT) or `authorizer.NAME` (a Lambda authorizer's context property,
    /// also `authorizer.jwt.claims.NAME`); `name` is the range of NAME.
    Authorizer {
        field: AuthField,
        name: Range<usize>,
        quoted: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthField {
    PrincipalId,
    Error,
    /// A claim or context property by name.
    Value,
}

/// A compiled access log format.
#[derive(Clone, Debug)]
pub struct Format {
    text: String,
    pieces: Vec<Piece>,
    form: Form,
}

/// API Gateway console samples for REST APIs.
const REST_CLF: &str = "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] \"$context.httpMethod $context.resourcePath $context.protocol\" $context.status $context.responseLength $context.requestId $context.extendedRequestId";
const REST_JSON: &str = "{ \"requestId\":\"$context.requestId\", \"extendedRequestId\":\"$context.extendedRequestId\", \"ip\": \"$context.identity.sourceIp\", \"caller\":\"$context.identity.caller\", \"user\":\"$context.identity.user\", \"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\", \"resourcePath\":\"$context.resourcePath\", \"status\":\"$context.status\", \"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\" }";
const REST_XML: &str = "<request id=\"$context.requestId\"> <extendedRequestId>$context.extendedRequestId</extendedRequestId> <ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> <user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> <protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> </request>";
const REST_CSV: &str = "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId";
/// API Gateway console samples for HTTP APIs.
const HTTP_CLF: &str = "$context.identity.sourceIp - - [$context.requestTime] \"$context.httpMethod $context.routeKey $context.protocol\" $context.status $context.responseLength $context.requestId";
const HTTP_JSON: &str = "{ \"requestId\":\"$context.requestId\", \"ip\": \"$context.identity.sourceIp\", \"requestTime\":\"$context.requestTime\", \"httpMethod\":\"$context.httpMethod\",\"routeKey\":\"$context.routeKey\", \"status\":\"$context.status\",\"protocol\":\"$context.protocol\", \"responseLength\":\"$context.responseLength\" }";
const HTTP_XML: &str = "<request id=\"$context.requestId\"> <ip>$context.identity.sourceIp</ip> <requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> <routeKey>$context.routeKey</routeKey> <status>$context.status</status> <protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> </request>";
const HTTP_CSV: &str = "$context.identity.sourceIp,$context.requestTime,$context.httpMethod,$context.routeKey,$context.protocol,$context.status,$context.responseLength,$context.requestId";

/// The template a preset name stands for, if `spec` is one.
pub fn preset(spec: &str, protocol: Protocol) -> Option<&'static str> {
    Some(match (spec, protocol) {
        ("clf", Protocol::Rest) => REST_CLF,
        ("json", Protocol::Rest) => REST_JSON,
        ("xml", Protocol::Rest) => REST_XML,
        ("csv", Protocol::Rest) => REST_CSV,
        ("clf", Protocol::Http) => HTTP_CLF,
        ("json", Protocol::Http) => HTTP_JSON,
        ("xml", Protocol::Http) => HTTP_XML,
        ("csv", Protocol::Http) => HTTP_CSV,
        _ => return None,
    })
}

fn detect_form(t: &str) -> Form {
    let t = t.trim_start();
    if t.starts_with('{') {
        Form::Json
    } else if t.starts_with('<') {
        Form::Xml
    } else if !t.contains(' ') && t.contains(',') {
        Form::Csv
    } else {
        Form::Clf
    }
}

impl Format {
    /// Compile `spec`: a preset name (`clf`, `json`, `xml`, `csv`) or a
    /// template. The error is a sentence for a configuration error.
    pub fn compile(spec: &str, protocol: Protocol) -> Result<Format, String> {
        let template = preset(spec, protocol).unwrap_or(spec);
        if template.contains(['\n', '\r']) {
            return Err("an access log format is one line: remove the line breaks".into());
        }
        let form = detect_form(template);
        let mut pieces = Vec::new();
        let mut in_string = false;
        let mut lit_start = 0;
        let bytes = template.as_bytes();
        let mut i = 0;
        let mut has_id = false;
        while i < bytes.len() {
            if template[i..].starts_with("$context.") {
                let start = i + "$context.".len();
                let authorizer = template[start..].starts_with("authorizer.");
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || matches!(bytes[end], b'_' | b'.')
                        || (authorizer && matches!(bytes[end], b':' | b'-')))
                {
                    end += 1;
                }
                while end > start && bytes[end - 1] == b'.' {
                    end -= 1;
                }
                let name = &template[start..end];
                let var = match VARS.iter().find(|(n, _)| *n == name) {
                    Some((_, v)) => *v,
                    None if ABSENT_PREFIXES
                        .iter()
                        .any(|p| name.starts_with(p) && name.len() > p.len()) =>
                    {
                        Var::Absent
                    }
                    None => {
                        return Err(format!(
                            "unknown access log variable `$context.{name}`; see the README's list of $context variables"
                        ));
                    }
                };
                has_id |= matches!(var, Var::RequestId | Var::ExtendedRequestId);
                if lit_start < i {
                    pieces.push(Piece::Literal(lit_start..i));
                }
                match name.strip_prefix("authorizer.") {
                    Some(rest) if !rest.is_empty() => {
                        let (field, sub) = match rest {
                            "principalId" => (AuthField::PrincipalId, ""),
                            "error" => (AuthField::Error, ""),
                            _ => (
                                AuthField::Value,
                                rest.strip_prefix("jwt.claims.")
                                    .or_else(|| rest.strip_prefix("claims."))
                                    .unwrap_or(rest),
                            ),
                        };
                        let name_end = end;
                        let name_start = name_end - sub.len();
                        pieces.push(Piece::Authorizer {
                            field,
                            name: name_start..name_end,
                            quoted: in_string,
                        });
                    }
                    _ => pieces.push(Piece::Var {
                        var,
                        quoted: in_string,
                    }),
                }
                i = end;
                lit_start = end;
                continue;
            }
            if form == Form::Json && bytes[i] == b'"' {
                in_string = !in_string;
            } else if form == Form::Json && in_string && bytes[i] == b'\\' {
                i += 1; // skip the escaped character
            }
            i += 1;
        }
        if lit_start < bytes.len() {
            pieces.push(Piece::Literal(lit_start..bytes.len()));
        }
        if !has_id {
            // API Gateway refuses such formats too.
            return Err(
                "an access log format must include $context.requestId or $context.extendedRequestId"
                    .into(),
            );
        }
        Ok(Format {
            text: template.to_string(),
            pieces,
            form,
        })
    }

    /// Whether a line shows the trace (`xrayTraceId`, `traceparent`), so
    /// the request needs its trace context even where nothing else does.
    pub fn shows_trace(&self) -> bool {
        self.pieces.iter().any(|p| {
            matches!(
                p,
                Piece::Var {
                    var: Var::XrayTraceId | Var::Traceparent,
                    ..
                }
            )
        })
    }

    pub fn form(&self) -> Form {
        self.form
    }

    /// Append one line (with its `\n`) for `r` to `out`.
    pub fn render(&self, out: &mut Vec<u8>, r: &Record<'_>) {
        for p in &self.pieces {
            match p {
                Piece::Literal(range) => {
                    out.extend_from_slice(&self.text.as_bytes()[range.clone()])
                }
                Piece::Var { var, quoted } => self.value(out, *var, *quoted, r),
                Piece::Authorizer {
                    field,
                    name,
                    quoted,
                } => self.authorizer(out, *field, &self.text[name.clone()], *quoted, r),
            }
        }
        out.push(b'\n');
    }

    fn authorizer(
        &self,
        out: &mut Vec<u8>,
        field: AuthField,
        name: &str,
        quoted: bool,
        r: &Record<'_>,
    ) {
        let value: Option<&str> = match field {
            AuthField::Error => r.authorizer_error,
            AuthField::PrincipalId => r.authorizer.and_then(|a| a.principal_id.as_deref()),
            AuthField::Value => r.authorizer.and_then(|a| a.value(name)).map(|json| {
                // JSON strings show their text; numbers and the rest as written.
                json.strip_prefix('"')
                    .and_then(|j| j.strip_suffix('"'))
                    .unwrap_or(json)
            }),
        };
        match value {
            Some(v) => escape(out, self.form, v.as_bytes()),
            None => absent(out, self.form, quoted),
        }
    }

    fn value(&self, out: &mut Vec<u8>, var: Var, quoted: bool, r: &Record<'_>) {
        let text = |out: &mut Vec<u8>, s: &[u8]| escape(out, self.form, s);
        let opt_text = |out: &mut Vec<u8>, s: Option<&[u8]>| match s {
            Some(s) => escape(out, self.form, s),
            None => absent(out, self.form, quoted),
        };
        let opt_num = |out: &mut Vec<u8>, n: Option<u64>| match n {
            Some(n) => push_u64(out, n),
            None => absent(out, self.form, quoted),
        };
        match var {
            Var::RequestId => text(out, r.request_id),
            Var::ExtendedRequestId => text(out, r.extended_request_id),
            Var::SourceIp => push_ip(out, r.source_ip),
            Var::UserAgent => opt_text(out, r.user_agent),
            Var::ClientCertSubjectDn => opt_text(out, r.client_cert_subject.map(str::as_bytes)),
            Var::HttpMethod => text(out, r.http_method),
            Var::ResourcePath => opt_text(out, r.resource_path.map(str::as_bytes)),
            Var::RouteKey => opt_text(out, r.route_key.map(str::as_bytes)),
            Var::Path => text(out, r.path),
            Var::Protocol => text(out, r.protocol.as_bytes()),
            Var::Status => opt_num(out, (r.status != 0).then_some(u64::from(r.status))),
            Var::ResponseLength => push_u64(out, r.response_length),
            Var::RequestTime => push_clf_time(out, r.request_time_ms / 1000),
            Var::RequestTimeEpoch => push_u64(out, r.request_time_ms),
            Var::ResponseLatency => push_u64(out, r.response_latency_ms),
            Var::IntegrationLatency => opt_num(out, r.integration_latency_ms),
            Var::IntegrationStatus => opt_num(out, r.integration_status.map(u64::from)),
            Var::IntegrationError => opt_text(out, r.integration_error.map(str::as_bytes)),
            Var::ErrorMessage => opt_text(out, r.error_message.map(str::as_bytes)),
            Var::ErrorMessageString => match r.error_message {
                Some(m) => {
                    // The message as a JSON string, then escaped for the form.
                    let mut quoted_msg = [0u8; 256];
                    let n = json_quote_into(&mut quoted_msg, m.as_bytes());
                    if self.form == Form::Json && !quoted {
                        out.extend_from_slice(&quoted_msg[..n]);
                    } else {
                        escape(out, self.form, &quoted_msg[..n]);
                    }
                }
                None => absent(out, self.form, quoted),
            },
            Var::ErrorResponseType => opt_text(out, r.error_response_type.map(str::as_bytes)),
            Var::ApiId => text(out, r.api_id.as_bytes()),
            Var::UserArn => opt_text(out, r.caller.map(|c| c.user_arn.as_bytes())),
            Var::AccessKey => opt_text(out, r.caller.map(|c| c.access_key.as_bytes())),
            Var::IdentityAccountId => opt_text(out, r.caller.map(|c| c.account_id.as_bytes())),
            Var::Stage => opt_text(out, r.stage.map(str::as_bytes)),
            Var::DeploymentId => opt_text(out, r.deployment.map(str::as_bytes)),
            Var::DomainName => opt_text(out, r.domain_name),
            Var::DomainPrefix => opt_text(
                out,
                r.domain_name
                    .map(|d| d.split(|&b| b == b'.' || b == b':').next().unwrap_or(d)),
            ),
            Var::DataProcessed => push_u64(out, r.data_processed),
            Var::XrayTraceId => match r.trace {
                Some(t) => t.write_xray_trace_id(out),
                None => absent(out, self.form, quoted),
            },
            Var::Traceparent => match r.trace {
                Some(t) => t.write_traceparent(out),
                None => absent(out, self.form, quoted),
            },
            Var::Absent => absent(out, self.form, quoted),
        }
    }
}

/// Everything a line may show about one exchange; borrowed, on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub request_id: &'a [u8],
    pub extended_request_id: &'a [u8],
    pub source_ip: IpAddr,
    pub user_agent: Option<&'a [u8]>,
    /// The verified mTLS client certificate's subject DN.
    pub client_cert_subject: Option<&'a str>,
    pub http_method: &'a [u8],
    /// The matched route's path template (`/pets/{id}`); `None` for
    /// `$default` and when no route matched.
    pub resource_path: Option<&'a str>,
    /// The matched route key; `None` when no route matched.
    pub route_key: Option<&'a str>,
    pub path: &'a [u8],
    pub protocol: &'a str,
    /// 0 when no response was sent.
    pub status: u16,
    pub response_length: u64,
    pub data_processed: u64,
    /// Unix time of the request's arrival, ms.
    pub request_time_ms: u64,
    pub response_latency_ms: u64,
    pub integration_latency_ms: Option<u64>,
    pub integration_status: Option<u16>,
    pub integration_error: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub error_response_type: Option<&'a str>,
    pub api_id: &'a str,
    pub stage: Option<&'a str>,
    /// The deployment that served; `None` when no stage matched.
    pub deployment: Option<&'a str>,
    pub domain_name: Option<&'a [u8]>,
    pub trace: Option<&'a TraceContext>,
    /// The IAM caller, on routes with `aws_iam`.
    pub caller: Option<Caller<'a>>,
    /// Who the route's authorizer said the caller is.
    pub authorizer: Option<&'a crate::auth::Identity>,
    /// Why the authorizer refused.
    pub authorizer_error: Option<&'a str>,
}

/// An IAM caller, as `$context.identity.*` shows it.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub user_arn: &'a str,
    pub access_key: &'a str,
    pub account_id: &'a str,
}

fn absent(out: &mut Vec<u8>, form: Form, quoted: bool) {
    if form == Form::Json && !quoted {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'-');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex_escape(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
}

/// Escape `s` for `form` (without adding quotes, except CSV's own quoting).
pub fn escape(out: &mut Vec<u8>, form: Form, s: &[u8]) {
    // The common case — printable ASCII with nothing to escape — is one copy.
    let special = |b: u8| {
        !(0x20..0x7f).contains(&b)
            || match form {
                Form::Json | Form::Clf => b == b'"' || b == b'\\',
                Form::Xml => matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''),
                Form::Csv => b == b',' || b == b'"',
            }
    };
    if !s.iter().any(|&b| special(b))
        && (form != Form::Csv || (s.first() != Some(&b' ') && s.last() != Some(&b' ')))
    {
        out.extend_from_slice(s);
        return;
    }
    match form {
        Form::Json => {
            let utf8 = std::str::from_utf8(s).is_ok();
            for &b in s {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    // Control characters, and bytes of invalid UTF-8 read as Latin-1.
                    0..=0x1f | 0x7f => json_u(out, b),
                    0x80.. if !utf8 => json_u(out, b),
                    _ => out.push(b),
                }
            }
        }
        Form::Xml => {
            let utf8 = std::str::from_utf8(s).is_ok();
            for &b in s {
                match b {
                    b'&' => out.extend_from_slice(b"&amp;"),
                    b'<' => out.extend_from_slice(b"&lt;"),
                    b'>' => out.extend_from_slice(b"&gt;"),
                    b'"' => out.extend_from_slice(b"&quot;"),
                    b'\'' => out.extend_from_slice(b"&apos;"),
                    // Not allowed in XML 1.0 at all (or not UTF-8): written as text.
                    0..=0x1f | 0x7f => push_hex_escape(out, b),
                    0x80.. if !utf8 => push_hex_escape(out, b),
                    _ => out.push(b),
                }
            }
        }
        Form::Csv => {
            let utf8 = std::str::from_utf8(s).is_ok();
            let quote = s
                .iter()
                .any(|&b| matches!(b, b',' | b'"') || b < 0x20 || b == 0x7f)
                || s.first() == Some(&b' ')
                || s.last() == Some(&b' ');
            if quote {
                out.push(b'"');
            }
            for &b in s {
                match b {
                    b'"' => out.extend_from_slice(b"\"\""),
                    0..=0x1f | 0x7f => push_hex_escape(out, b),
                    0x80.. if !utf8 => push_hex_escape(out, b),
                    _ => out.push(b),
                }
            }
            if quote {
                out.push(b'"');
            }
        }
        Form::Clf => {
            for &b in s {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    0..=0x1f | 0x7f.. => push_hex_escape(out, b),
                    _ => out.push(b),
                }
            }
        }
    }
}

fn json_u(out: &mut Vec<u8>, b: u8) {
    out.extend_from_slice(b"\\u00");
    out.push(HEX[(b >> 4) as usize]);
    out.push(HEX[(b & 15) as usize]);
}

/// `"` + `s` JSON-escaped + `"` into a fixed buffer (messages are short
/// fixed texts); returns the length written, truncating what does not fit.
fn json_quote_into(buf: &mut [u8; 256], s: &[u8]) -> usize {
    let mut n = 0;
    let mut put = |b: u8, n: &mut usize| {
        if *n < buf.len() - 1 {
            buf[*n] = b;
            *n += 1;
        }
    };
    put(b'"', &mut n);
    for &b in s {
        if matches!(b, b'"' | b'\\') {
            put(b'\\', &mut n);
        }
        if b >= 0x20 {
            put(b, &mut n);
        }
    }
    buf[n] = b'"';
    n + 1
}

pub use crate::text::push_u64;

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, u64::from(*o));
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `dd/MMM/yyyy:HH:mm:ss +0000` (UTC), API Gateway's `requestTime`.
pub fn push_clf_time(out: &mut Vec<u8>, secs: u64) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let two = |out: &mut Vec<u8>, v: u64| {
        out.extend_from_slice(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8])
    };
    two(out, u64::from(d));
    out.push(b'/');
    out.extend_from_slice(MONTHS[(m - 1) as usize]);
    out.push(b'/');
    push_u64(out, y as u64);
    out.push(b':');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.extend_from_slice(b" +0000");
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests;
