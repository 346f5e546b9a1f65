//! The response cache's settings, as written and resolved: a stage's
//! `cache` (capacity, default TTL, per-entry maximum, the cache-control
//! rules) and a route's `cache` (on or off, TTL override, the methods that
//! use the cache, the cache key parameters).
//!
//! Guarantees: a resolved TTL is 0..=3600 seconds (API Gateway's range; 0
//! disables); capacity and per-entry maximum are > 0; a
//! `method.request.path.NAME` key parameter names a parameter of its route;
//! header key parameters are stored lower-case. Does not: cache anything
//! (see `crate::cache` and `pipeline::cache`).

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Location;

use super::model::S;
use super::resolve::Errors;
use super::routes::is_tchar;
use super::{Method, RouteKey};

/// API Gateway's default TTL.
pub const DEFAULT_TTL_SECONDS: u32 = 300;
/// API Gateway's largest TTL.
pub const MAX_TTL_SECONDS: u32 = 3600;
/// Largest response cached by default (API Gateway's 1 MB limit).
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 1_048_576;
/// How long a request waits for another request's fill of the same key.
pub const DEFAULT_FILL_WAIT_MS: u64 = 5_000;

/// `cache:` of a stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStageCache {
    pub capacity_bytes: S<u64>,
    pub enabled: Option<S<bool>>,
    pub ttl_seconds: Option<S<u64>>,
    pub max_entry_bytes: Option<S<u64>>,
    pub require_authorization_for_cache_control: Option<S<bool>>,
    pub unauthorized_cache_control_header_strategy: Option<S<RawStrategy>>,
    pub origin_cache_control: Option<S<RawOriginCacheControl>>,
    pub x_cache_header: Option<S<bool>>,
    pub fill_wait_ms: Option<S<u64>>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub(crate) enum RawStrategy {
    #[serde(rename = "FAIL_WITH_403")]
    FailWith403,
    #[serde(rename = "SUCCEED_WITH_RESPONSE_HEADER")]
    SucceedWithResponseHeader,
    #[serde(rename = "SUCCEED_WITHOUT_RESPONSE_HEADER")]
    SucceedWithoutResponseHeader,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawOriginCacheControl {
    Respect,
    Ignore,
}

/// `cache:` of a route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRouteCache {
    pub enabled: Option<S<bool>>,
    pub ttl_seconds: Option<S<u64>>,
    pub methods: Option<S<Vec<S<String>>>>,
    pub key_parameters: Option<S<Vec<S<String>>>>,
}

/// A stage's response cache. Two stages' caches with equal settings are
/// interchangeable: a reload that keeps a stage's settings keeps its
/// entries.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct CacheSettings {
    /// Bytes for the whole stage; each worker holds an equal share.
    pub capacity_bytes: u64,
    /// Default time to live of an entry, 0..=3600 s; 0: routes without
    /// their own TTL are not cached.
    pub ttl_seconds: u32,
    /// Responses larger than this (head and body) are not cached.
    pub max_entry_bytes: u64,
    /// A client's `Cache-Control: max-age=0` refreshes an entry only when
    /// the caller is authorized (`execute-api:InvalidateCache`).
    pub require_authorization_for_cache_control: bool,
    /// What an unauthorized `Cache-Control: max-age=0` gets.
    pub unauthorized_strategy: UnauthorizedCacheControl,
    /// Cache responses whose `Cache-Control` says `no-store`, `no-cache`
    /// or `private` (or that set cookies) anyway.
    pub ignore_origin_cache_control: bool,
    /// Responses of cached routes say `X-Cache: Hit` or `X-Cache: Miss`.
    pub x_cache_header: bool,
    /// How long a request waits for a fill of its key already running on
    /// its worker before it goes to the origin itself.
    pub fill_wait: Duration,
}

/// API Gateway's `unauthorizedCacheControlHeaderStrategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum UnauthorizedCacheControl {
    /// Answer 403.
    FailWith403,
    /// Ignore the header (serve from the cache) and say so in a `Warning`
    /// response header. API Gateway's default.
    SucceedWithResponseHeader,
    /// Ignore the header silently.
    SucceedWithoutResponseHeader,
}

/// A route's cache settings; they apply when its stage has a cache.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct RouteCache {
    pub enabled: bool,
    /// Replaces the stage's TTL on this route (0 disables it here).
    pub ttl_seconds: Option<u32>,
    /// Request methods answered from the cache; `GET` by default.
    pub methods: Vec<Method>,
    /// Besides method and resource path, what tells entries apart.
    pub key_parameters: Vec<CacheKeyParameter>,
}

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache {
            enabled: true,
            ttl_seconds: None,
            methods: vec![Method::Get],
            key_parameters: Vec::new(),
        }
    }
}

/// One of API Gateway's `cacheKeyParameters`.
#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum CacheKeyParameter {
    /// `method.request.path.NAME`: the decoded path parameter.
    Path(String),
    /// `method.request.querystring.NAME`: every value of the query
    /// parameter, as sent.
    QueryString(String),
    /// `method.request.header.NAME` (stored lower-case): every value of
    /// the header field.
    Header(String),
}

impl std::fmt::Display for CacheKeyParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheKeyParameter::Path(n) => write!(f, "method.request.path.{n}"),
            CacheKeyParameter::QueryString(n) => write!(f, "method.request.querystring.{n}"),
            CacheKeyParameter::Header(n) => write!(f, "method.request.header.{n}"),
        }
    }
}

fn ttl(v: &S<u64>, errors: &mut Errors) -> u32 {
    if v.value > u64::from(MAX_TTL_SECONDS) {
        errors.at(
            &v.referenced,
            format!("`ttl_seconds` must be between 0 and {MAX_TTL_SECONDS} (0 disables caching)"),
        );
        return MAX_TTL_SECONDS;
    }
    v.value as u32
}

fn positive(v: &S<u64>, field: &str, errors: &mut Errors) -> u64 {
    if v.value == 0 {
        errors.at(&v.referenced, format!("`{field}` must be > 0"));
        return 1;
    }
    v.value
}

/// A stage's `cache`; `None` when written with `enabled: false`.
pub(crate) fn stage_cache(raw: &RawStageCache, errors: &mut Errors) -> Option<CacheSettings> {
    let settings = CacheSettings {
        capacity_bytes: positive(&raw.capacity_bytes, "capacity_bytes", errors),
        ttl_seconds: raw
            .ttl_seconds
            .as_ref()
            .map_or(DEFAULT_TTL_SECONDS, |t| ttl(t, errors)),
        max_entry_bytes: raw
            .max_entry_bytes
            .as_ref()
            .map_or(DEFAULT_MAX_ENTRY_BYTES, |m| {
                positive(m, "max_entry_bytes", errors)
            }),
        require_authorization_for_cache_control: raw
            .require_authorization_for_cache_control
            .as_ref()
            .is_none_or(|r| r.value),
        unauthorized_strategy: match raw
            .unauthorized_cache_control_header_strategy
            .as_ref()
            .map(|s| s.value)
        {
            Some(RawStrategy::FailWith403) => UnauthorizedCacheControl::FailWith403,
            Some(RawStrategy::SucceedWithResponseHeader) | None => {
                UnauthorizedCacheControl::SucceedWithResponseHeader
            }
            Some(RawStrategy::SucceedWithoutResponseHeader) => {
                UnauthorizedCacheControl::SucceedWithoutResponseHeader
            }
        },
        ignore_origin_cache_control: matches!(
            raw.origin_cache_control.as_ref().map(|o| o.value),
            Some(RawOriginCacheControl::Ignore)
        ),
        x_cache_header: raw.x_cache_header.as_ref().is_some_and(|x| x.value),
        fill_wait: Duration::from_millis(
            raw.fill_wait_ms.as_ref().map_or(DEFAULT_FILL_WAIT_MS, |w| {
                positive(w, "fill_wait_ms", errors)
            }),
        ),
    };
    if raw.enabled.as_ref().is_some_and(|e| !e.value) {
        return None;
    }
    Some(settings)
}

/// A route's `cache` (defaults when absent). `key` is `None` when the
/// route key was malformed: path parameters are then not checked.
pub(crate) fn route_cache(
    raw: Option<&S<RawRouteCache>>,
    key: Option<&RouteKey>,
    errors: &mut Errors,
) -> RouteCache {
    let mut out = RouteCache::default();
    let Some(raw) = raw else { return out };
    let raw = &raw.value;
    out.enabled = raw.enabled.as_ref().is_none_or(|e| e.value);
    out.ttl_seconds = raw.ttl_seconds.as_ref().map(|t| ttl(t, errors));
    if let Some(methods) = &raw.methods {
        out.methods.clear();
        for m in &methods.value {
            match Method::parse(m.value.as_bytes()) {
                Method::Other => errors.at(
                    &m.referenced,
                    format!(
                        "`{}` is not a method the cache can serve: one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS",
                        m.value
                    ),
                ),
                Method::Connect | Method::Trace => errors.at(
                    &m.referenced,
                    format!("{} responses are not cached", m.value),
                ),
                method if out.methods.contains(&method) => {
                    errors.at(&m.referenced, format!("`{}` is listed twice", m.value));
                }
                method => out.methods.push(method),
            }
        }
    }
    for p in raw.key_parameters.iter().flat_map(|k| &k.value) {
        if let Some(param) = key_parameter(&p.value, &p.referenced, key, errors) {
            if out.key_parameters.contains(&param) {
                errors.at(&p.referenced, format!("`{}` is listed twice", p.value));
            } else {
                out.key_parameters.push(param);
            }
        }
    }
    out
}

fn key_parameter(
    text: &str,
    at: &Location,
    key: Option<&RouteKey>,
    errors: &mut Errors,
) -> Option<CacheKeyParameter> {
    let parsed = if let Some(name) = text.strip_prefix("method.request.path.") {
        Some(CacheKeyParameter::Path(name.to_owned()))
    } else if let Some(name) = text.strip_prefix("method.request.querystring.") {
        Some(CacheKeyParameter::QueryString(name.to_owned()))
    } else {
        text.strip_prefix("method.request.header.")
            .map(|name| CacheKeyParameter::Header(name.to_ascii_lowercase()))
    };
    let Some(param) = parsed else {
        errors.at(
            at,
            format!(
                "cache key parameter `{text}` must be `method.request.path.NAME`, `method.request.querystring.NAME` or `method.request.header.NAME`"
            ),
        );
        return None;
    };
    match &param {
        CacheKeyParameter::Path(name) => {
            let known = match key {
                Some(RouteKey::Path { path, .. }) => {
                    crate::route::param_names(path).any(|(n, _)| n == name)
                }
                Some(RouteKey::Default) => false,
                None => return Some(param),
            };
            if !known {
                errors.at(
                    at,
                    format!("`{text}`: the route has no path parameter `{name}`"),
                );
                return None;
            }
        }
        CacheKeyParameter::QueryString(name) => {
            if name.is_empty() || name.contains(['&', '=', '#', ' ']) {
                errors.at(at, format!("`{text}`: not a query parameter name"));
                return None;
            }
        }
        CacheKeyParameter::Header(name) => {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                errors.at(at, format!("`{text}`: not a header name"));
                return None;
            }
        }
    }
    Some(param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const HEAD: &str = "listeners: [{name: m, address: 127.0.0.1:0}]\n";

    #[test]
    fn defaults_as_api_gateway() {
        let yaml = format!(
            "{HEAD}apis:\n  - name: a\n    protocol: rest\n    stages: [{{name: s, cache: {{capacity_bytes: 1000}}}}, t]\n    routes:\n      - {{route: GET /x, integration: {{type: mock}}}}\n"
        );
        let gw = load_str("c.yaml", &yaml).unwrap();
        let c = gw.apis[0].stages[0].settings.cache.as_ref().unwrap();
        assert_eq!(c.capacity_bytes, 1000);
        assert_eq!(c.ttl_seconds, 300);
        assert_eq!(c.max_entry_bytes, 1_048_576);
        assert!(c.require_authorization_for_cache_control);
        assert_eq!(
            c.unauthorized_strategy,
            UnauthorizedCacheControl::SucceedWithResponseHeader
        );
        assert!(!c.ignore_origin_cache_control && !c.x_cache_header);
        assert_eq!(c.fill_wait, Duration::from_millis(5000));
        assert!(gw.apis[0].stages[1].settings.cache.is_none());
        assert_eq!(
            gw.apis[0].deployments[0].routes[0].cache,
            RouteCache::default()
        );
    }

    #[test]
    fn route_settings_resolve() {
        let yaml = format!(
            "{HEAD}apis:\n  - name: a\n    stages: [{{name: s, cache: {{capacity_bytes: 1, enabled: false}}}}]\n    routes:\n      - route: ANY /x/{{id}}\n        integration: {{type: mock}}\n        cache: {{ttl_seconds: 0, methods: [GET, POST], key_parameters: [method.request.path.id, method.request.querystring.q, method.request.header.X-Tenant]}}\n"
        );
        let gw = load_str("c.yaml", &yaml).unwrap();
        assert!(
            gw.apis[0].stages[0].settings.cache.is_none(),
            "enabled: false"
        );
        let r = &gw.apis[0].deployments[0].routes[0].cache;
        assert_eq!(r.ttl_seconds, Some(0));
        assert_eq!(r.methods, [Method::Get, Method::Post]);
        assert_eq!(
            r.key_parameters,
            [
                CacheKeyParameter::Path("id".into()),
                CacheKeyParameter::QueryString("q".into()),
                CacheKeyParameter::Header("x-tenant".into()),
            ]
        );
        assert!(crate::cache::check_route(r).is_ok());
    }

    #[test]
    fn unknown_strategy_is_refused() {
        let yaml = format!(
            "{HEAD}apis:\n  - name: a\n    stages: [{{name: s, cache: {{capacity_bytes: 1, unauthorized_cache_control_header_strategy: IGNORE}}}}]\n    routes: []\n"
        );
        let errors = load_str("c.yaml", &yaml).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 4, "{errors:?}");
        assert!(errors[0].message.contains("IGNORE"), "{errors:?}");
    }
}
