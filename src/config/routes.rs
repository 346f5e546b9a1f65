//! One deployment's routes: route keys parsed and checked for conflicts
//! (once per deployment), and integrations resolved with one stage's
//! variables substituted (mock responses, `http_proxy` URIs into upstream
//! indexes and path templates).
//!
//! Guarantees: route keys that reach the [`Route`] list are well formed and
//! pairwise distinct, and no two differ only in parameter names; a template
//! names only parameters of its route; no `${stageVariables.…}` reference is
//! left in a resolved route. Checking is linear in the number of routes.
//! Does not: match requests (see `route`) or choose the variables (see `stages`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use serde_saphyr::Location;

use super::model::{IntegrationType, RawIntegration, RawRoute, S};
use super::resolve::{Errors, UpstreamSet, place};
use super::vars::Vars;
use super::{HttpProxy, Integration, Method, Mock, Route, RouteKey, Template, TemplatePart};
use crate::route::{Segment, check_route_path, is_param_name, param_names, segments};

/// Methods a route key may name, with their [`Method`].
const METHODS: [(&str, Method); 9] = [
    ("GET", Method::Get),
    ("HEAD", Method::Head),
    ("POST", Method::Post),
    ("PUT", Method::Put),
    ("DELETE", Method::Delete),
    ("PATCH", Method::Patch),
    ("OPTIONS", Method::Options),
    ("CONNECT", Method::Connect),
    ("TRACE", Method::Trace),
];

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse `METHOD /path` or `$default`.
pub(crate) fn parse_route_key(text: &str) -> Result<RouteKey, String> {
    if text == "$default" {
        return Ok(RouteKey::Default);
    }
    let mut words = text.split_whitespace();
    let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "route key `{text}` must be `METHOD /path` (like `GET /pets/{{id}}`) or `$default`"
        ));
    };
    if !method.bytes().all(is_tchar) {
        return Err(format!("`{method}` is not an HTTP method"));
    }
    let upper = method.to_ascii_uppercase();
    let known = METHODS.iter().find(|(n, _)| *n == upper);
    if upper != method && (known.is_some() || upper == "ANY") {
        return Err(format!(
            "methods are case-sensitive: write `{upper}`, not `{method}`"
        ));
    }
    check_route_path(path)?;
    Ok(RouteKey::Path {
        method: match known {
            Some((_, m)) => Some(*m),
            None if method == "ANY" => None,
            None => Some(Method::Other),
        },
        method_name: method.to_owned(),
        path: path.to_owned(),
    })
}

/// `/pets/{id}` → `/pets/{}`: the part of a path that decides what it matches.
fn shape(path: &str) -> String {
    let mut out = String::new();
    for seg in segments(path) {
        out.push('/');
        match seg {
            Segment::Literal(l) => out.push_str(l),
            Segment::Param(_) => out.push_str("{}"),
            Segment::Greedy(_) => out.push_str("{+}"),
        }
    }
    out
}

/// The route keys of one deployment, parsed and checked for conflicts (each
/// error reported once, however many stages run the deployment): one entry
/// per raw route, `None` where the key is malformed.
pub(crate) fn route_keys(raws: &[RawRoute], errors: &mut Errors) -> Vec<Option<RouteKey>> {
    // Keys seen so far by shape, with where they were written, for the
    // conflict checks (only keys of one shape can conflict).
    let mut seen: HashMap<String, Vec<(RouteKey, &S<String>)>> = HashMap::new();
    let mut default_at: Option<&S<String>> = None;
    let mut keys = Vec::with_capacity(raws.len());
    for raw in raws {
        let key = match parse_route_key(&raw.route.value) {
            Ok(k) => k,
            Err(e) => {
                errors.at(&raw.route.referenced, e);
                keys.push(None);
                continue;
            }
        };
        match &key {
            RouteKey::Default => match default_at {
                Some(first) => errors.at(
                    &raw.route.referenced,
                    format!(
                        "a second `$default` route; the first is at {}",
                        place(&first.referenced)
                    ),
                ),
                None => default_at = Some(&raw.route),
            },
            RouteKey::Path { path, .. } => {
                let same_shape = seen.entry(shape(path)).or_default();
                if let Some(msg) = conflict(&key, same_shape) {
                    errors.at(&raw.route.referenced, msg);
                }
                same_shape.push((key.clone(), &raw.route));
            }
        }
        keys.push(Some(key));
    }
    keys
}

/// The routes of one deployment with `vars` substituted: the integrations
/// of the routes whose key (from [`route_keys`]) is good. Routes with a
/// malformed key are still checked, but not kept.
pub(crate) fn resolve_routes(
    raws: &[RawRoute],
    keys: &[Option<RouteKey>],
    vars: &Vars<'_>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Vec<Route> {
    let mut routes = Vec::with_capacity(raws.len());
    for (raw, key) in raws.iter().zip(keys) {
        let integration =
            resolve_integration(&raw.integration, key.as_ref(), vars, upstreams, errors);
        if let (Some(key), Some(integration)) = (key, integration) {
            routes.push(Route {
                key: key.clone(),
                integration,
                api_key_required: raw.api_key_required.as_ref().is_some_and(|r| r.value),
                cache: super::caching::route_cache(raw.cache.as_ref(), Some(key), errors),
                authorization: super::iam::route_authorization(raw),
                // Set by `authorizers::resolve_route_auth` once the API's authorizers are known.
                authorizer: None,
                authorization_scopes: Vec::new(),
            });
        }
    }
    routes
}

/// Whether `key` conflicts with an earlier key of the same shape.
fn conflict(key: &RouteKey, same_shape: &[(RouteKey, &S<String>)]) -> Option<String> {
    for (other, at) in same_shape {
        let (RouteKey::Path { path: a, .. }, RouteKey::Path { path: b, .. }) = (key, other) else {
            continue;
        };
        if key == other {
            return Some(format!(
                "route `{key}` is already defined at {}",
                place(&at.referenced)
            ));
        }
        // Whatever the methods: which name a request's value goes by must not
        // depend on its method.
        if a != b {
            return Some(format!(
                "route `{key}` conflicts with `{other}` at {}: the paths differ only in parameter names; use the same names",
                place(&at.referenced)
            ));
        }
    }
    None
}

/// The integration of a route (`key` is `None` when the route key was bad:
/// the integration is still checked, but not against the key).
fn resolve_integration(
    raw: &S<RawIntegration>,
    key: Option<&RouteKey>,
    vars: &Vars<'_>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Option<Integration> {
    let i = &raw.value;
    let kind = i.kind.value;
    let refuse = |present: Option<&serde_saphyr::Location>, field: &str, errors: &mut Errors| {
        if let Some(loc) = present {
            let kind = match kind {
                IntegrationType::Mock => "a mock",
                IntegrationType::HttpProxy => "an http_proxy",
                IntegrationType::Lambda => "a lambda",
            };
            errors.at(
                loc,
                format!("`{field}` does not apply to {kind} integration"),
            );
        }
    };
    if kind != IntegrationType::Lambda {
        refuse(
            i.function.as_ref().map(|s| &s.referenced),
            "function",
            errors,
        );
        refuse(
            i.payload_format_version.as_ref().map(|s| &s.referenced),
            "payload_format_version",
            errors,
        );
        refuse(
            i.credentials.as_ref().map(|s| &s.referenced),
            "credentials",
            errors,
        );
        refuse(i.region.as_ref().map(|s| &s.referenced), "region", errors);
    }
    match kind {
        IntegrationType::Lambda => {
            refuse(i.status.as_ref().map(|s| &s.referenced), "status", errors);
            refuse(i.headers.as_ref().map(|s| &s.referenced), "headers", errors);
            refuse(i.body.as_ref().map(|s| &s.referenced), "body", errors);
            refuse(
                i.pass_host.as_ref().map(|s| &s.referenced),
                "pass_host",
                errors,
            );
            super::lambda::resolve_lambda(raw, key, vars, upstreams, errors)
                .map(Integration::Lambda)
        }
        IntegrationType::Mock => {
            refuse(i.uri.as_ref().map(|s| &s.referenced), "uri", errors);
            refuse(
                i.timeout_ms.as_ref().map(|s| &s.referenced),
                "timeout_ms",
                errors,
            );
            refuse(
                i.pass_host.as_ref().map(|s| &s.referenced),
                "pass_host",
                errors,
            );
            resolve_mock(i, vars, errors).map(Integration::Mock)
        }
        IntegrationType::HttpProxy => {
            refuse(i.status.as_ref().map(|s| &s.referenced), "status", errors);
            refuse(i.headers.as_ref().map(|s| &s.referenced), "headers", errors);
            refuse(i.body.as_ref().map(|s| &s.referenced), "body", errors);
            let Some(uri) = &i.uri else {
                errors.at(&raw.referenced, "an http_proxy integration needs a `uri`");
                return None;
            };
            let timeout = match &i.timeout_ms {
                None => 29_000,
                Some(t) if (50..=300_000).contains(&t.value) => t.value,
                Some(t) => {
                    errors.at(&t.referenced, "`timeout_ms` must be between 50 and 300000");
                    29_000
                }
            };
            let (upstream, path, host_header) = resolve_uri(uri, key, vars, upstreams, errors)?;
            Some(Integration::HttpProxy(HttpProxy {
                upstream,
                path,
                timeout: Duration::from_millis(timeout),
                pass_host: i.pass_host.as_ref().is_some_and(|p| p.value),
                host_header,
            }))
        }
    }
}

fn resolve_mock(i: &RawIntegration, vars: &Vars<'_>, errors: &mut Errors) -> Option<Mock> {
    let status = match &i.status {
        None => 200,
        Some(s) => match u16::try_from(s.value) {
            Ok(v) if (100..=599).contains(&v) => v,
            _ => {
                errors.at(&s.referenced, "`status` must be between 100 and 599");
                200
            }
        },
    };
    let mut headers = Vec::new();
    for (name, value) in i.headers.iter().flat_map(|h| &h.value.0) {
        if name.value.is_empty() || !name.value.bytes().all(is_tchar) {
            errors.at(
                &name.referenced,
                format!("`{}` is not a valid header name", name.value),
            );
        }
        let text = match vars.apply(&value.value) {
            Ok(Some(t)) => t,
            Ok(None) => Cow::Borrowed(value.value.as_str()),
            Err(e) => {
                errors.at(&value.referenced, e);
                continue;
            }
        };
        if text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            errors.at(
                &value.referenced,
                "a header value may not contain control characters (line breaks included)",
            );
        }
        headers.push((name.value.clone(), text.into_owned()));
    }
    let body = match &i.body {
        None => Vec::new(),
        Some(b) => match vars.apply(&b.value) {
            Ok(Some(t)) => t.into_owned().into_bytes(),
            Ok(None) => b.value.clone().into_bytes(),
            Err(e) => {
                errors.at(&b.referenced, e);
                Vec::new()
            }
        },
    };
    Some(Mock {
        status,
        headers,
        body,
    })
}

/// An `http_proxy` URI into (upstream index, path template, Host header).
pub(crate) fn resolve_uri(
    uri: &S<String>,
    key: Option<&RouteKey>,
    vars: &Vars<'_>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Option<(usize, Option<Template>, String)> {
    let at = &uri.referenced;
    let text = match vars.apply(&uri.value) {
        Ok(Some(t)) => t,
        // A deployment no stage runs: its host may be a variable; nothing more to check.
        Ok(None) => return None,
        Err(e) => {
            errors.at(at, e);
            return None;
        }
    };
    let before = errors.list.len();
    let resolved = resolve_uri_text(&text, at, key, upstreams, errors);
    if let Cow::Owned(text) = &text {
        // Say what the substituted uri reads: the error may lie in a value.
        for e in &mut errors.list[before..] {
            e.message.push_str(&format!(
                " (with the variables of {}: `{text}`)",
                vars.owner
            ));
        }
    }
    resolved
}

fn resolve_uri_text(
    text: &str,
    at: &Location,
    key: Option<&RouteKey>,
    upstreams: &mut UpstreamSet,
    errors: &mut Errors,
) -> Option<(usize, Option<Template>, String)> {
    let scheme_end = text.find("://").map(|i| i + 3).unwrap_or(0);
    let scheme = text[..scheme_end].to_ascii_lowercase();
    let https = scheme == "https://";
    if scheme != "http://" && !https {
        errors.at(
            at,
            format!("integration uri `{text}` must start with http:// or https://"),
        );
        return None;
    }
    let rest = &text[scheme_end..];
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let mut ok = true;
    if path.contains('#') {
        errors.at(at, "an integration uri may not have a fragment (`#`)");
        ok = false;
    }
    let upstream = if authority.is_empty() {
        errors.at(at, format!("integration uri `{text}` has no host"));
        None
    } else if authority.contains('@') {
        errors.at(at, "an integration uri may not carry user info (`user@`)");
        None
    } else if authority.contains(':') {
        let literal = if https {
            upstreams.literal_tls(authority)
        } else {
            upstreams.literal(authority)
        };
        match literal {
            Ok(i) => Some(i),
            Err(e) => {
                errors.at(at, format!("integration uri host {e}"));
                None
            }
        }
    } else {
        let found = upstreams.find(authority);
        if found.is_none() {
            errors.at(
                at,
                format!(
                    "unknown upstream `{authority}`: name one under `upstreams`, or write host:port"
                ),
            );
        }
        if let Some(i) = found {
            let tls = upstreams.list[i].tls.is_some();
            if tls != https {
                errors.at(
                    at,
                    if https {
                        format!("upstream `{authority}` has no `tls:` block; add one (`tls: {{}}` for the defaults) or use http://")
                    } else {
                        format!("upstream `{authority}` speaks TLS (`tls:`); write https://{authority}")
                    },
                );
            }
        }
        found
    };
    let template = if path.is_empty() || path == "/" {
        None
    } else {
        let full = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_owned()
        };
        match parse_template(&full) {
            Ok(t) => {
                ok &= check_template_params(&t, key, at, errors);
                Some(t)
            }
            Err(e) => {
                errors.at(at, e);
                ok = false;
                None
            }
        }
    };
    if !ok {
        return None;
    }
    Some((upstream?, template, authority.to_owned()))
}

/// `/files/{proxy}?v=1` into literals and parameters.
pub(crate) fn parse_template(text: &str) -> Result<Template, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['{', '}']) {
        literal.push_str(&rest[..i]);
        if rest.as_bytes()[i] == b'}' {
            return Err(format!("unmatched `}}` in integration uri path `{text}`"));
        }
        let after = &rest[i + 1..];
        let Some(end) = after.find('}') else {
            return Err(format!("unmatched `{{` in integration uri path `{text}`"));
        };
        let name = &after[..end];
        if let Some(base) = name.strip_suffix('+') {
            return Err(format!(
                "write `{{{base}}}` in the integration uri; the `+` belongs only in the route key"
            ));
        }
        if !is_param_name(name) {
            return Err(format!(
                "`{{{name}}}` in the integration uri: a parameter name is made of letters, digits, `.`, `_` and `-`"
            ));
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(TemplatePart::Param(name.to_owned()));
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "integration uri path `{text}` contains {:?}; percent-encode it",
            c
        ));
    }
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    Ok(Template { parts })
}

/// Every parameter of the template must be one of the route's.
fn check_template_params(
    t: &Template,
    key: Option<&RouteKey>,
    at: &Location,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    for part in &t.parts {
        let TemplatePart::Param(name) = part else {
            continue;
        };
        let known = match key {
            None => continue,
            Some(RouteKey::Default) => {
                errors.at(
                    at,
                    format!("`{{{name}}}`: a `$default` route has no path parameters"),
                );
                ok = false;
                continue;
            }
            Some(RouteKey::Path { path, .. }) => param_names(path).any(|(n, _)| n == name),
        };
        if !known {
            errors.at(
                at,
                format!(
                    "`{{{name}}}` is not a parameter of route `{}`",
                    key.map(|k| k.to_string()).unwrap_or_default()
                ),
            );
            ok = false;
        }
    }
    ok
}
