//! An API's authorizers (`authorizers:`), its CORS settings (`cors:`) and
//! the routes' `authorizer` / `authorization_scopes`, from the file as
//! written to the model the server runs.
//!
//! Guarantees: a route's `authorizer` is an index into its API's
//! `authorizers`; scopes appear only on routes of JWT authorizers; every
//! identity source is one the authorizer step can read; TTLs are at most
//! 3600 s; a JWT authorizer has exactly one key source. Does not: fetch
//! keys (see `auth::jwks`) or call anything.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use super::lambda::invoke_path;
use super::model::{RawApi, RawPayloadVersion, RawRoute, S};
use super::resolve::{Errors, UpstreamSet};
use super::routes::{parse_route_key, resolve_uri};
use super::vars::Vars;
use super::{Deployment, PayloadFormat, Protocol, TemplatePart};

/// `authorizers: {NAME: {type: jwt | request | token, ...}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorizer {
    #[serde(rename = "type")]
    pub kind: S<RawAuthorizerType>,
    pub identity_source: Option<S<Vec<S<String>>>>,
    // jwt
    pub issuer: Option<S<String>>,
    pub audience: Option<S<Vec<S<String>>>>,
    pub jwks_uri: Option<S<String>>,
    pub jwks_file: Option<S<String>>,
    /// CA certificates (PEM) that an `https://` `jwks_uri` is verified
    /// against instead of the bundled web roots.
    pub jwks_ca_file: Option<S<String>>,
    /// Keep verified tokens per core until they expire (default true).
    pub token_cache: Option<S<bool>>,
    // request / token
    pub uri: Option<S<String>>,
    pub function: Option<S<String>>,
    pub payload_format_version: Option<S<RawPayloadVersion>>,
    pub enable_simple_responses: Option<S<bool>>,
    pub result_ttl_seconds: Option<S<u64>>,
    /// The result cache's key includes the route (API Gateway's
    /// "authorizer caching per route").
    pub cache_by_route: Option<S<bool>>,
    pub timeout_ms: Option<S<u64>>,
    /// With `function`: sign Invoke requests (as a lambda integration's).
    pub credentials: Option<S<super::model::RawCredentials>>,
    pub region: Option<S<String>>,
    /// TOKEN: a regular expression the whole token must match, else 401
    /// without a call (API Gateway's identityValidationExpression).
    pub identity_validation_expression: Option<S<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawAuthorizerType {
    Jwt,
    Request,
    Token,
}

/// `cors: {allow_origins, allow_methods, allow_headers, expose_headers, max_age, allow_credentials}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCors {
    pub allow_origins: Option<S<Vec<S<String>>>>,
    pub allow_methods: Option<S<Vec<S<String>>>>,
    pub allow_headers: Option<S<Vec<S<String>>>>,
    pub expose_headers: Option<S<Vec<S<String>>>>,
    pub max_age: Option<S<u64>>,
    pub allow_credentials: Option<S<bool>>,
}

/// One authorizer of an API.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Authorizer {
    pub name: String,
    /// Where the caller's identity is read; a request missing one is
    /// answered 401 without running the authorizer.
    pub identity_sources: Vec<IdentitySource>,
    pub kind: AuthorizerKind,
}

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum AuthorizerKind {
    Jwt(JwtAuthorizer),
    Lambda(LambdaAuthorizer),
}

/// A JWT authorizer: a bearer token signed by a key of the issuer's JWKS.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct JwtAuthorizer {
    /// The `iss` a token must carry.
    pub issuer: String,
    /// A token's `aud` (or, without one, `client_id`) must be one of these.
    pub audience: Vec<String>,
    pub jwks: JwksSource,
    /// Verified tokens are kept per core until their `exp`.
    pub token_cache: bool,
}

/// Where a JWT authorizer's keys come from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum JwksSource {
    /// `http://…` or `https://…`: fetched by the control thread; an https
    /// server is verified against the CA file (PEM) when given, else the
    /// bundled web roots.
    Uri(String, Option<String>),
    /// A file (relative to the gateway's working directory), read by the control thread.
    File(String),
}

impl JwksSource {
    /// The key workers and the control thread share the key set under.
    pub fn key(&self) -> &str {
        match self {
            JwksSource::Uri(u, _) => u,
            JwksSource::File(f) => f,
        }
    }
}

/// A Lambda-style authorizer (REQUEST or TOKEN): an HTTP endpoint or a
/// function behind the Lambda Invoke API receives API Gateway's authorizer
/// event and answers a policy or a simple response.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct LambdaAuthorizer {
    /// TOKEN (`{type, authorizationToken, methodArn}`) rather than REQUEST.
    pub token: bool,
    /// Index into `Gateway::upstreams`.
    pub upstream: usize,
    /// The `Host` value to send.
    pub host_header: String,
    /// The request path: the uri's own, or the Invoke API's for a function.
    pub path: String,
    /// A function behind the Lambda Invoke API (its errors come as
    /// `X-Amz-Function-Error`), rather than a plain HTTP endpoint.
    pub function: bool,
    pub payload: PayloadFormat,
    /// 2.0 `{"isAuthorized": bool, "context": {...}}` answers.
    pub simple_responses: bool,
    /// How long a result is cached per core (0: not cached).
    pub ttl: Duration,
    /// The cache key includes the route.
    pub cache_by_route: bool,
    /// Default 10 s (API Gateway's); beyond → 500.
    pub timeout: Duration,
    /// A function's Invoke requests are SigV4-signed (service `lambda`).
    pub signing: Option<super::LambdaSigning>,
    /// TOKEN: the token must match this whole (checked at load; compiled
    /// per worker, see `auth::CoreAuth`).
    pub identity_validation_expression: Option<String>,
}

/// Where an identity value is read.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum IdentitySource {
    /// A request header (name lower-case).
    Header(String),
    /// A query string parameter.
    Query(String),
    /// A stage variable.
    StageVariable(String),
    /// A `$context` variable (`stage`, `httpMethod`, `routeKey`, `path`,
    /// `sourceIp`, `requestId`…).
    Context(String),
}

impl IdentitySource {
    /// `$request.header.X` / `method.request.header.X`, `…querystring.X`,
    /// `$stageVariables.X` / `stageVariables.X`, `$context.X` / `context.X`.
    pub fn parse(text: &str) -> Result<IdentitySource, String> {
        let t = text.trim();
        let t = t.strip_prefix('$').unwrap_or(t);
        let t = t.strip_prefix("method.").unwrap_or(t);
        let bad = || {
            format!(
                "`{text}` is not an identity source: use $request.header.NAME, $request.querystring.NAME, $stageVariables.NAME or $context.NAME (REST: method.request.header.NAME …)"
            )
        };
        let (kind, name) = if let Some(n) = t.strip_prefix("request.header.") {
            ("h", n)
        } else if let Some(n) = t.strip_prefix("request.querystring.") {
            ("q", n)
        } else if let Some(n) = t.strip_prefix("stageVariables.") {
            ("s", n)
        } else if let Some(n) = t.strip_prefix("context.") {
            ("c", n)
        } else {
            return Err(bad());
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad());
        }
        Ok(match kind {
            "h" => {
                if !name.bytes().all(super::routes::is_tchar) {
                    return Err(format!("`{name}` is not a header name"));
                }
                IdentitySource::Header(name.to_ascii_lowercase())
            }
            "q" => IdentitySource::Query(name.to_owned()),
            "s" => IdentitySource::StageVariable(name.to_owned()),
            _ => {
                if !CONTEXT_SOURCES.contains(&name) {
                    return Err(format!(
                        "`$context.{name}` is not an identity source tollgate reads; use one of {}",
                        CONTEXT_SOURCES.join(", ")
                    ));
                }
                IdentitySource::Context(name.to_owned())
            }
        })
    }
}

/// `$context` variables an identity source may name.
pub const CONTEXT_SOURCES: &[&str] = &[
    "httpMethod",
    "path",
    "routeKey",
    "stage",
    "sourceIp",
    "identity.sourceIp",
    "requestId",
    "domainName",
];

/// An HTTP API's CORS configuration.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Cors {
    /// Origins as written (`*` allows any).
    pub allow_origins: Vec<String>,
    /// Upper-case method names, or `*`.
    pub allow_methods: Vec<String>,
    /// Lower-case header names, or `*`.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    /// Seconds; `None`: no `Access-Control-Max-Age`.
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

/// The authorizers and CORS settings of `raw` (an API of `protocol`).
pub(crate) fn resolve_api_auth(
    raw: &RawApi,
    protocol: Protocol,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> (Vec<Authorizer>, Option<Cors>) {
    let mut authorizers = Vec::new();
    for (name, a) in raw.authorizers.iter().flat_map(|m| &m.value.0) {
        if !super::resolve::is_simple_name(&name.value) {
            errors.at(
                &name.referenced,
                format!(
                    "authorizer name `{}` may use only letters, digits, `.`, `_` and `-`",
                    name.value
                ),
            );
        }
        if let Some(kind) = resolve_authorizer(&name.value, a, protocol, upstreams, errors) {
            authorizers.push(kind);
        } else {
            // Keep the name, so routes naming it get no second error.
            authorizers.push(Authorizer {
                name: name.value.clone(),
                identity_sources: Vec::new(),
                kind: AuthorizerKind::Jwt(JwtAuthorizer {
                    issuer: String::new(),
                    audience: Vec::new(),
                    jwks: JwksSource::File(String::new()),
                    token_cache: false,
                }),
            });
        }
    }
    let cors = raw.cors.as_ref().map(|c| resolve_cors(c, protocol, errors));
    (authorizers, cors)
}

/// Set each route's `authorizer` and `authorization_scopes` from the raw
/// routes of its deployment (errors reported once per raw route).
pub(crate) fn resolve_route_auth(
    raw: &RawApi,
    authorizers: &[Authorizer],
    deployments: &mut [Deployment],
    errors: &mut Errors,
) {
    let mut per_deployment: HashMap<&str, HashMap<String, RouteAuth>> = HashMap::new();
    let sets = std::iter::once(("current", &raw.routes[..])).chain(
        raw.deployments
            .0
            .iter()
            .map(|(n, d)| (n.value.as_str(), &d.routes[..])),
    );
    for (name, routes) in sets {
        let mut map = HashMap::new();
        for r in routes {
            let auth = route_auth(r, authorizers, errors);
            if let Ok(key) = parse_route_key(&r.route.value) {
                map.insert(key.to_string(), auth);
            }
        }
        per_deployment.insert(name, map);
    }
    for d in deployments {
        let Some(map) = per_deployment.get(d.name.as_str()) else {
            continue;
        };
        for route in &mut d.routes {
            if let Some((a, scopes)) = map.get(&route.key.to_string()) {
                route.authorizer = *a;
                route.authorization_scopes = scopes.clone();
            }
        }
    }
}

/// A route's authorizer index and scopes.
type RouteAuth = (Option<usize>, Vec<String>);

fn route_auth(r: &RawRoute, authorizers: &[Authorizer], errors: &mut Errors) -> RouteAuth {
    let index = r.authorizer.as_ref().and_then(|n| {
        let i = authorizers.iter().position(|a| a.name == n.value);
        if i.is_none() {
            let known: Vec<&str> = authorizers.iter().map(|a| a.name.as_str()).collect();
            errors.at(
                &n.referenced,
                format!(
                    "unknown authorizer `{}`; this API has {}",
                    n.value,
                    if known.is_empty() {
                        "none (add it under the API's `authorizers`)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        i
    });
    let mut scopes = Vec::new();
    if let Some(s) = &r.authorization_scopes {
        let jwt = index.is_some_and(|i| matches!(authorizers[i].kind, AuthorizerKind::Jwt(_)));
        if !jwt && index.is_some() {
            errors.at(
                &s.referenced,
                "`authorization_scopes` apply to routes with a JWT authorizer only",
            );
        } else if r.authorizer.is_none() {
            errors.at(
                &s.referenced,
                "`authorization_scopes` need an `authorizer` (of type jwt) on the route",
            );
        }
        for scope in &s.value {
            if scope.value.is_empty() || scope.value.bytes().any(|b| b <= b' ' || b == b'"') {
                errors.at(&scope.referenced, "a scope is a non-empty word");
            }
            scopes.push(scope.value.clone());
        }
    }
    (index, scopes)
}

fn resolve_authorizer(
    name: &str,
    a: &S<RawAuthorizer>,
    protocol: Protocol,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Option<Authorizer> {
    let raw = &a.value;
    let kind = raw.kind.value;
    let refuse = |present: Option<&serde_saphyr::Location>, field: &str, errors: &mut Errors| {
        if let Some(loc) = present {
            let what = match kind {
                RawAuthorizerType::Jwt => "a jwt",
                RawAuthorizerType::Request => "a request",
                RawAuthorizerType::Token => "a token",
            };
            errors.at(
                loc,
                format!("`{field}` does not apply to {what} authorizer"),
            );
        }
    };
    let mut sources = Vec::new();
    for s in raw.identity_source.iter().flat_map(|s| &s.value) {
        match IdentitySource::parse(&s.value) {
            Ok(src) => sources.push(src),
            Err(e) => errors.at(&s.referenced, e),
        }
    }
    if kind == RawAuthorizerType::Jwt {
        for (f, at) in [
            ("uri", raw.uri.as_ref().map(|s| &s.referenced)),
            ("function", raw.function.as_ref().map(|s| &s.referenced)),
            (
                "payload_format_version",
                raw.payload_format_version.as_ref().map(|s| &s.referenced),
            ),
            (
                "enable_simple_responses",
                raw.enable_simple_responses.as_ref().map(|s| &s.referenced),
            ),
            (
                "result_ttl_seconds",
                raw.result_ttl_seconds.as_ref().map(|s| &s.referenced),
            ),
            (
                "cache_by_route",
                raw.cache_by_route.as_ref().map(|s| &s.referenced),
            ),
            ("timeout_ms", raw.timeout_ms.as_ref().map(|s| &s.referenced)),
            (
                "credentials",
                raw.credentials.as_ref().map(|s| &s.referenced),
            ),
            ("region", raw.region.as_ref().map(|s| &s.referenced)),
            (
                "identity_validation_expression",
                raw.identity_validation_expression
                    .as_ref()
                    .map(|s| &s.referenced),
            ),
        ] {
            refuse(at, f, errors);
        }
        if raw.identity_source.is_none() {
            sources.push(IdentitySource::Header("authorization".into()));
        }
        if sources.len() != 1 {
            if let Some(s) = &raw.identity_source {
                errors.at(
                    &s.referenced,
                    "a jwt authorizer reads one identity source (the bearer token)",
                );
            }
            return None;
        }
        let Some(issuer) = &raw.issuer else {
            errors.at(&a.referenced, "a jwt authorizer needs an `issuer`");
            return None;
        };
        let audience: Vec<String> = raw
            .audience
            .iter()
            .flat_map(|a| &a.value)
            .map(|s| s.value.clone())
            .collect();
        if audience.is_empty() {
            errors.at(
                raw.audience
                    .as_ref()
                    .map_or(&a.referenced, |a| &a.referenced),
                "a jwt authorizer needs an `audience` list with at least one entry",
            );
        }
        let jwks = match (&raw.jwks_uri, &raw.jwks_file) {
            (Some(u), None) => {
                let lower = u.value.to_ascii_lowercase();
                let https = lower.starts_with("https://");
                if !(https && u.value.len() > 8
                    || lower.starts_with("http://") && u.value.len() > 7)
                {
                    errors.at(
                        &u.referenced,
                        "`jwks_uri` must be an http:// or https:// URL",
                    );
                }
                let ca = raw.jwks_ca_file.as_ref().map(|c| {
                    if !https {
                        errors.at(
                            &c.referenced,
                            "`jwks_ca_file` goes with an https:// `jwks_uri`",
                        );
                    } else if let Err(e) = std::fs::read(&c.value) {
                        errors.at(&c.referenced, format!("cannot read `{}`: {e}", c.value));
                    }
                    c.value.clone()
                });
                JwksSource::Uri(u.value.clone(), ca)
            }
            (None, Some(f)) => {
                if let Some(c) = &raw.jwks_ca_file {
                    errors.at(
                        &c.referenced,
                        "`jwks_ca_file` goes with an https:// `jwks_uri`",
                    );
                }
                if f.value.is_empty() {
                    errors.at(&f.referenced, "`jwks_file` is empty");
                }
                JwksSource::File(f.value.clone())
            }
            (Some(u), Some(_)) => {
                errors.at(&u.referenced, "give `jwks_uri` or `jwks_file`, not both");
                return None;
            }
            (None, None) => {
                errors.at(
                    &a.referenced,
                    "a jwt authorizer needs `jwks_uri` (http:// or https://) or `jwks_file`",
                );
                return None;
            }
        };
        return Some(Authorizer {
            name: name.to_owned(),
            identity_sources: sources,
            kind: AuthorizerKind::Jwt(JwtAuthorizer {
                issuer: issuer.value.clone(),
                audience,
                jwks,
                token_cache: raw.token_cache.as_ref().is_none_or(|t| t.value),
            }),
        });
    }

    // request / token
    for (f, at) in [
        ("issuer", raw.issuer.as_ref().map(|s| &s.referenced)),
        ("audience", raw.audience.as_ref().map(|s| &s.referenced)),
        ("jwks_uri", raw.jwks_uri.as_ref().map(|s| &s.referenced)),
        ("jwks_file", raw.jwks_file.as_ref().map(|s| &s.referenced)),
        (
            "jwks_ca_file",
            raw.jwks_ca_file.as_ref().map(|s| &s.referenced),
        ),
        (
            "token_cache",
            raw.token_cache.as_ref().map(|s| &s.referenced),
        ),
    ] {
        refuse(at, f, errors);
    }
    let token = kind == RawAuthorizerType::Token;
    if !token {
        refuse(
            raw.identity_validation_expression
                .as_ref()
                .map(|s| &s.referenced),
            "identity_validation_expression",
            errors,
        );
    }
    let validation =
        raw.identity_validation_expression.as_ref().and_then(|e| {
            match validation_regex(&e.value) {
                Ok(_) => Some(e.value.clone()),
                Err(m) => {
                    errors.at(&e.referenced, m);
                    None
                }
            }
        });
    if token {
        if raw.identity_source.is_none() {
            sources.push(IdentitySource::Header("authorization".into()));
        }
        if sources.len() != 1 || !matches!(sources[0], IdentitySource::Header(_)) {
            errors.at(
                raw.identity_source
                    .as_ref()
                    .map_or(&a.referenced, |s| &s.referenced),
                "a token authorizer reads one header (default method.request.header.Authorization)",
            );
        }
        refuse(
            raw.enable_simple_responses.as_ref().map(|s| &s.referenced),
            "enable_simple_responses",
            errors,
        );
        refuse(
            raw.payload_format_version.as_ref().map(|s| &s.referenced),
            "payload_format_version",
            errors,
        );
    }
    let payload = match &raw.payload_format_version {
        None if protocol == Protocol::Http && !token => PayloadFormat::V2,
        None => PayloadFormat::V1,
        Some(v) => match v.value.0.as_str() {
            "1.0" => PayloadFormat::V1,
            "2.0" if protocol == Protocol::Rest => {
                errors.at(
                    &v.referenced,
                    "REST APIs send authorizer payload format 1.0 only",
                );
                PayloadFormat::V1
            }
            "2.0" => PayloadFormat::V2,
            other => {
                errors.at(
                    &v.referenced,
                    format!("`payload_format_version` is \"1.0\" or \"2.0\", not `{other}`"),
                );
                PayloadFormat::V2
            }
        },
    };
    let simple = raw
        .enable_simple_responses
        .as_ref()
        .is_some_and(|s| s.value);
    if simple && payload != PayloadFormat::V2 {
        errors.at(
            &raw.enable_simple_responses.as_ref().unwrap().referenced,
            "simple responses need payload_format_version \"2.0\"",
        );
    }
    let ttl = match &raw.result_ttl_seconds {
        None => 300,
        Some(t) if t.value <= 3600 => t.value,
        Some(t) => {
            errors.at(&t.referenced, "`result_ttl_seconds` is 0..=3600");
            300
        }
    };
    if ttl > 0 && sources.is_empty() {
        errors.at(
            &a.referenced,
            "caching a result needs an `identity_source` to key it by; add one, or set `result_ttl_seconds: 0`",
        );
    }
    let timeout = match &raw.timeout_ms {
        None => 10_000,
        Some(t) if (50..=30_000).contains(&t.value) => t.value,
        Some(t) => {
            errors.at(&t.referenced, "`timeout_ms` must be between 50 and 30000");
            10_000
        }
    };
    let vars_owner = format!("authorizer `{name}`");
    let vars = Vars {
        values: Some(&[]),
        owner: &vars_owner,
    };
    let Some(uri) = &raw.uri else {
        errors.at(
            &a.referenced,
            "a request or token authorizer needs a `uri`: an HTTP endpoint (http://host:port/path), or with `function`, the Lambda Invoke API's endpoint",
        );
        return None;
    };
    let (upstream, template, host_header) = resolve_uri(uri, None, &vars, upstreams, errors)?;
    let literal = |t: &super::Template| {
        t.parts
            .iter()
            .map(|p| match p {
                TemplatePart::Literal(l) => Some(l.as_str()),
                TemplatePart::Param(_) => None,
            })
            .collect::<Option<String>>()
    };
    if raw.function.is_none() {
        for (f, at) in [
            (
                "credentials",
                raw.credentials.as_ref().map(|s| &s.referenced),
            ),
            ("region", raw.region.as_ref().map(|s| &s.referenced)),
        ] {
            if let Some(at) = at {
                errors.at(
                    at,
                    format!("`{f}` signs Invoke requests: it needs `function`"),
                );
            }
        }
    }
    let signing =
        super::lambda::resolve_signing(raw.credentials.as_ref(), raw.region.as_ref(), errors);
    let (path, function) = match &raw.function {
        Some(f) => {
            if template.is_some() {
                errors.at(
                    &uri.referenced,
                    "with `function`, the `uri` is the Invoke API's endpoint only (scheme, host and port)",
                );
            }
            if f.value.is_empty()
                || !f
                    .value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:.$".contains(&b))
            {
                errors.at(&f.referenced, "not a function name, name:alias or ARN");
            }
            (invoke_path(&f.value), true)
        }
        None => match template.as_ref().map(literal) {
            None => ("/".to_owned(), false),
            Some(Some(p)) => (p, false),
            Some(None) => {
                errors.at(&uri.referenced, "an authorizer uri has no `{parameters}`");
                return None;
            }
        },
    };
    Some(Authorizer {
        name: name.to_owned(),
        identity_sources: sources,
        kind: AuthorizerKind::Lambda(LambdaAuthorizer {
            token,
            upstream,
            host_header,
            path,
            function,
            payload,
            simple_responses: simple,
            ttl: Duration::from_secs(ttl),
            cache_by_route: raw.cache_by_route.as_ref().is_some_and(|c| c.value),
            timeout: Duration::from_millis(timeout),
            signing,
            identity_validation_expression: validation,
        }),
    })
}

/// The regular expression a TOKEN authorizer's token must match whole.
pub fn validation_regex(expr: &str) -> Result<regex_lite::Regex, String> {
    regex_lite::Regex::new(&format!("^(?:{expr})$"))
        .map_err(|e| format!("`identity_validation_expression` is not a regular expression: {e}"))
}

fn resolve_cors(raw: &S<RawCors>, protocol: Protocol, errors: &mut Errors) -> Cors {
    if protocol == Protocol::Rest {
        errors.at(
            &raw.referenced,
            "`cors` configures HTTP APIs; a REST API answers CORS with OPTIONS routes (mock integrations)",
        );
    }
    let c = &raw.value;
    let list = |l: &Option<S<Vec<S<String>>>>| -> Vec<String> {
        l.iter()
            .flat_map(|l| &l.value)
            .map(|s| s.value.trim().to_owned())
            .collect()
    };
    let allow_origins = list(&c.allow_origins);
    let allow_methods: Vec<String> = list(&c.allow_methods)
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    let allow_headers: Vec<String> = list(&c.allow_headers)
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let expose_headers = list(&c.expose_headers);
    for l in [
        &c.allow_origins,
        &c.allow_methods,
        &c.allow_headers,
        &c.expose_headers,
    ]
    .into_iter()
    .flatten()
    {
        for v in &l.value {
            if v.value.is_empty() || v.value.bytes().any(|b| b < 0x20 || b == 0x7f || b == b',') {
                errors.at(
                    &v.referenced,
                    "a non-empty value without commas or control characters",
                );
            }
        }
    }
    let allow_credentials = c.allow_credentials.as_ref().is_some_and(|b| b.value);
    if allow_credentials && allow_origins.iter().any(|o| o == "*") {
        errors.at(
            &c.allow_credentials.as_ref().unwrap().referenced,
            "`allow_credentials: true` needs explicit origins, not `*`",
        );
    }
    let max_age = match &c.max_age {
        Some(m) if m.value > 86_400 => {
            errors.at(&m.referenced, "`max_age` is 0..=86400 seconds");
            None
        }
        Some(m) => Some(m.value),
        None => None,
    };
    Cors {
        allow_origins,
        allow_methods,
        allow_headers,
        expose_headers,
        max_age,
        allow_credentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(apis: &str) -> Result<crate::config::Gateway, Vec<crate::config::ConfigError>> {
        crate::config::load_str(
            "t.yaml",
            &format!("listeners: [{{name: m, address: 127.0.0.1:0}}]\napis:\n{apis}"),
        )
    }

    #[test]
    fn defaults_and_route_links() {
        let gw = load(
            r#"  - name: a
    stages: [s]
    authorizers:
      j: {type: jwt, issuer: i, audience: [x], jwks_file: k.json}
      r: {type: request, uri: "http://127.0.0.1:9/auth", identity_source: ["$request.header.X"]}
    routes:
      - {route: GET /a, authorizer: r, integration: {type: mock}}
      - {route: GET /b, authorizer: j, authorization_scopes: [s1, s2], integration: {type: mock}}
      - {route: GET /c, integration: {type: mock}}
"#,
        )
        .unwrap();
        let api = &gw.apis[0];
        let AuthorizerKind::Jwt(j) = &api.authorizers[0].kind else {
            panic!()
        };
        assert_eq!(
            api.authorizers[0].identity_sources,
            vec![IdentitySource::Header("authorization".into())]
        );
        assert!(j.token_cache);
        let AuthorizerKind::Lambda(l) = &api.authorizers[1].kind else {
            panic!()
        };
        assert_eq!(l.ttl, Duration::from_secs(300));
        assert_eq!(l.timeout, Duration::from_secs(10));
        assert_eq!(l.payload, PayloadFormat::V2);
        assert_eq!(l.path, "/auth");
        assert!(!l.function && !l.token && !l.simple_responses);
        let routes = &api.deployments[0].routes;
        assert_eq!(routes[0].authorizer, Some(1));
        assert_eq!(routes[1].authorizer, Some(0));
        assert_eq!(routes[1].authorization_scopes, vec!["s1", "s2"]);
        assert_eq!(routes[2].authorizer, None);
    }

    #[test]
    fn refusals() {
        let e = load(
            r#"  - name: a
    protocol: rest
    stages: [s]
    cors: {allow_origins: ["*"], allow_credentials: true}
    authorizers:
      r: {type: request, uri: "http://127.0.0.1:9/", payload_format_version: "2.0", identity_source: []}
      t: {type: token, uri: "http://127.0.0.1:9/", identity_source: ["$request.querystring.q"]}
      j: {type: jwt, issuer: i, audience: [x], jwks_uri: "ftp://idp.example/jwks"}
      t2: {type: token, uri: "http://127.0.0.1:9/", identity_validation_expression: "("}
    routes: []
"#,
        )
        .unwrap_err();
        let text: Vec<String> = e.iter().map(|e| e.message.clone()).collect();
        for want in [
            "`cors` configures HTTP APIs",
            "needs explicit origins",
            "REST APIs send authorizer payload format 1.0 only",
            "caching a result needs an `identity_source`",
            "a token authorizer reads one header",
            "`jwks_uri` must be an http:// or https:// URL",
            "`identity_validation_expression` is not a regular expression",
        ] {
            assert!(text.iter().any(|t| t.contains(want)), "{want}: {text:?}");
        }
    }

    #[test]
    fn identity_sources_parse_both_spellings() {
        assert_eq!(
            IdentitySource::parse("$request.header.Authorization"),
            Ok(IdentitySource::Header("authorization".into()))
        );
        assert_eq!(
            IdentitySource::parse("method.request.header.X-Token"),
            Ok(IdentitySource::Header("x-token".into()))
        );
        assert_eq!(
            IdentitySource::parse("$request.querystring.user"),
            Ok(IdentitySource::Query("user".into()))
        );
        assert_eq!(
            IdentitySource::parse("stageVariables.v"),
            Ok(IdentitySource::StageVariable("v".into()))
        );
        assert_eq!(
            IdentitySource::parse("$context.routeKey"),
            Ok(IdentitySource::Context("routeKey".into()))
        );
        assert!(IdentitySource::parse("$request.body.x").is_err());
        assert!(IdentitySource::parse("$context.nope").is_err());
    }
}
