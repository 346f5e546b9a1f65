//! The authorize step: after route matching, before throttling, API keys
//! and the cache. A route without an authorizer passes with no identity;
//! otherwise the route's authorizer runs and either yields an
//! [`Identity`] (which then reaches the integration and the access log) or
//! refuses with a gateway response.
//!
//! * **JWT** (`auth::jwt`): the bearer token from the identity source,
//!   verified against the JWKS the control thread published (an unknown
//!   `kid` answers 401 and asks for a refetch); with `token_cache` (the
//!   default) a verified token is kept per core until its `exp`, so a
//!   repeated token costs one hash lookup. Failure: 401 `Unauthorized` with
//!   `WWW-Authenticate: Bearer scope="" error="invalid_token"
//!   error_description="…"`; a route scope the token lacks: 403 `Forbidden`
//!   with `error="insufficient_scope"`.
//! * **REQUEST / TOKEN** (`auth::lambda_authorizer`): the identity sources
//!   are read (one missing: 401 without calling); the per-core result cache
//!   is keyed by the API, the authorizer, the values (and the route with
//!   `cache_by_route`); a miss calls the authorizer over the upstream
//!   pool (HTTP endpoint or Lambda Invoke API) within its timeout (10 s).
//!   A policy is evaluated against the method ARN per request. Refusals:
//!   explicit deny → REST 403 `{"Message":"User is not authorized to access
//!   this resource with an explicit deny"}`, HTTP 403 `Forbidden`; no
//!   matching Allow or `isAuthorized: false` → 403; an authorizer that
//!   fails, times out or answers nonsense → 500; a function error
//!   `Unauthorized` → 401.
//!
//! IAM (SigV4) authorization runs in its place on routes with `aws_iam`
//! (`pipeline::iam`, called from `pipeline::run`: it needs the request mutably).

use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::tls::Stream;

use crate::auth::jwt::{self, JwtError};
use crate::auth::lambda_authorizer::{self, Outcome};
use crate::auth::policy::{Decision, method_arn};
use crate::auth::{Identity, IdentityKind};
use crate::config::{
    Authorizer, AuthorizerKind, IdentitySource, JwtAuthorizer, LambdaAuthorizer, PayloadFormat,
    Protocol, Route,
};
use crate::integration::lambda::{ACCOUNT_ID, event, event_request, invoke_head, read_answer};
use crate::pipeline::gateway_response::GatewayResponse;
use crate::pipeline::{Exchange, Request};
use crate::proto::http1::{Framing, Method};
use crate::route::Matched;
use crate::server::body::BodyReader;
use crate::server::bufpool::Bufs;
use crate::server::core::Core;
use crate::upstream::exchange::{Fail, Target, send};

/// A refusal: the gateway response, and what else the answer and the log carry.
#[derive(Debug)]
pub struct Denied {
    pub response: GatewayResponse,
    /// `WWW-Authenticate` (JWT authorizers).
    pub www_authenticate: Option<String>,
    /// `$context.authorizer.error`.
    pub error: &'static str,
}

impl Denied {
    fn new(response: GatewayResponse, error: &'static str) -> Denied {
        Denied {
            response,
            www_authenticate: None,
            error,
        }
    }
}

/// What the authorize step decided.
pub type Authorized = Result<Option<Rc<Identity>>, Denied>;

thread_local! {
    static SCRATCH: std::cell::RefCell<event::Scratch> =
        std::cell::RefCell::new(event::Scratch::default());
}

/// Authorize `req` on route `m`: `Ok(None)` for a route without
/// authorization, `Ok(Some(identity))` when its authorizer allows.
pub async fn authorize(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    m: Matched,
) -> Authorized {
    let gw = ex.active.gw();
    let api = &gw.apis[m.api];
    let route = &api.deployments[m.deployment].routes[m.route];
    // IAM (`aws_iam`) routes are decided before this step, in `pipeline::run` (see `iam`).
    let Some(ai) = route.authorizer else {
        return Ok(None);
    };
    let authorizer = &api.authorizers[ai];
    match &authorizer.kind {
        AuthorizerKind::Jwt(j) => authorize_jwt(core, ex, bufs, req, m, ai, authorizer, j, route),
        AuthorizerKind::Lambda(l) => {
            authorize_lambda(core, ex, stream, bufs, req, m, ai, authorizer, l, route).await
        }
    }
}

/// The value of one identity source, if the request has it (non-empty).
fn source_value<'b>(
    src: &'b IdentitySource,
    ex: &'b Exchange,
    bufs: &'b Bufs,
    req: &'b Request<'_>,
    m: Matched,
    route: &'b Route,
    ip: &'b mut [u8; 48],
) -> Option<&'b [u8]> {
    let rd = &bufs.rd[..];
    let head = &bufs.head;
    let api = &ex.active.gw().apis[m.api];
    let stage = &api.stages[m.stage];
    let v: &[u8] = match src {
        IdentitySource::Header(name) => head.header(rd, name.as_bytes())?,
        IdentitySource::Query(name) => query_value(head.query.get(rd), name.as_bytes())?,
        IdentitySource::StageVariable(name) => {
            let vars = match &stage.canary {
                Some(c) if c.deployment == m.deployment && c.deployment != stage.deployment => {
                    &c.variables
                }
                _ => &stage.variables,
            };
            vars.iter().find(|(n, _)| n == name)?.1.as_bytes()
        }
        IdentitySource::Context(name) => match name.as_str() {
            "httpMethod" => head.method_span.get(rd),
            "path" => head.path.get(rd),
            "routeKey" => route_key_bytes(route),
            "stage" => stage.name.as_bytes(),
            "requestId" => req.id.as_bytes(),
            "domainName" => head.host.map(|h| h.get(rd))?,
            "sourceIp" | "identity.sourceIp" => {
                use std::io::Write as _;
                let mut w = &mut ip[..];
                let _ = write!(w, "{}", ex.peer.ip());
                let n = 48 - w.len();
                &ip[..n]
            }
            _ => return None,
        },
    };
    (!v.is_empty()).then_some(v)
}

/// A route key's text without allocating: `$default` or as configured.
fn route_key_bytes(route: &Route) -> &[u8] {
    match &route.key {
        crate::config::RouteKey::Default => b"$default",
        crate::config::RouteKey::Path { path, .. } => path.as_bytes(),
    }
}

/// The raw value of query parameter `name` (first occurrence).
fn query_value<'q>(query: &'q [u8], name: &[u8]) -> Option<&'q [u8]> {
    query.split(|&b| b == b'&').find_map(|pair| {
        let (n, v) = match memchr::memchr(b'=', pair) {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        (n == name).then_some(v)
    })
}

/// `Bearer xyz` → `xyz` (the prefix is optional).
fn bearer(v: &[u8]) -> &[u8] {
    if v.len() > 7 && v[..7].eq_ignore_ascii_case(b"bearer ") {
        v[7..].trim_ascii_start()
    } else {
        v
    }
}

fn unauthorized_bearer(e: JwtError) -> Denied {
    Denied {
        response: GatewayResponse::Unauthorized,
        www_authenticate: Some(format!(
            "Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"",
            e.description()
        )),
        error: e.description(),
    }
}

/// Unix seconds now, from the core's wall clock.
fn unix_now(core: &Core) -> u64 {
    core.wall.unix_ms(Instant::now()) / 1000
}

/// Write the cache key prefix (API, authorizer) into `key`.
fn key_prefix(key: &mut Vec<u8>, m: Matched, ai: usize) {
    key.clear();
    key.extend_from_slice(&(m.api as u32).to_le_bytes());
    key.extend_from_slice(&(ai as u32).to_le_bytes());
}

#[allow(clippy::too_many_arguments)]
fn authorize_jwt(
    core: &Core,
    ex: &Exchange,
    bufs: &Bufs,
    req: &Request<'_>,
    m: Matched,
    ai: usize,
    authorizer: &Authorizer,
    cfg: &JwtAuthorizer,
    route: &Route,
) -> Authorized {
    let auth = &ex.active.auth;
    let mut ip = [0u8; 48];
    let token = source_value(
        &authorizer.identity_sources[0],
        ex,
        bufs,
        req,
        m,
        route,
        &mut ip,
    )
    .map(bearer)
    .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Denied {
            response: GatewayResponse::Unauthorized,
            www_authenticate: Some("Bearer".to_owned()),
            error: "no token in the identity source",
        });
    };
    // Cache lookups use the worker's tick clock (updated every 100 ms): an
    // entry may outlive its expiry by that much, and a hit reads no clock.
    let now = core.now.get();
    let mut key = auth.key.borrow_mut();
    let identity = if cfg.token_cache {
        key_prefix(&mut key, m, ai);
        key.extend_from_slice(token);
        auth.tokens.borrow_mut().get(&key, now)
    } else {
        None
    };
    let identity = match identity {
        Some(i) => i,
        None => {
            let token =
                std::str::from_utf8(token).map_err(|_| unauthorized_bearer(JwtError::Malformed))?;
            let unix = unix_now(core);
            let source = cfg.jwks.key();
            let verified = auth
                .jwks
                .with(source, |keys| jwt::verify(token, keys, cfg, unix));
            let v = match verified {
                Ok(v) => v,
                Err(e) => {
                    if matches!(e, JwtError::UnknownKid | JwtError::NoKeys) {
                        auth.jwks.want(source);
                    }
                    return Err(unauthorized_bearer(e));
                }
            };
            let lifetime = (v.exp + jwt::LEEWAY).saturating_sub(unix);
            let identity = Rc::new(Identity {
                kind: IdentityKind::Jwt,
                principal_id: v.sub,
                claims: v.claims,
                scopes: v.scopes,
                ..Identity::default()
            });
            if cfg.token_cache {
                let now = Instant::now();
                auth.tokens.borrow_mut().insert(
                    &key,
                    identity.clone(),
                    now + Duration::from_secs(lifetime),
                    now,
                );
            }
            identity
        }
    };
    if !jwt::has_scope(identity.scopes.as_deref(), &route.authorization_scopes) {
        return Err(Denied {
            response: GatewayResponse::AccessDenied,
            www_authenticate: Some(format!(
                "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token lacks the route's scopes\"",
                route.authorization_scopes.join(" ")
            )),
            error: "the token lacks the route's scopes",
        });
    }
    Ok(Some(identity))
}

#[allow(clippy::too_many_arguments)]
async fn authorize_lambda(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    m: Matched,
    ai: usize,
    authorizer: &Authorizer,
    cfg: &LambdaAuthorizer,
    route: &Route,
) -> Authorized {
    let auth = &ex.active.auth;
    let gw = ex.active.gw();
    let api = &gw.apis[m.api];
    let stage = &api.stages[m.stage];
    // The cache key: API, authorizer, (route,) each value length-prefixed.
    let mut ip = [0u8; 48];
    let mut ranges = [(0usize, 0usize); 8];
    {
        let mut key = auth.key.borrow_mut();
        key_prefix(&mut key, m, ai);
        if cfg.cache_by_route {
            key.extend_from_slice(&(m.deployment as u32).to_le_bytes());
            key.extend_from_slice(&(m.route as u32).to_le_bytes());
        }
        for (i, src) in authorizer.identity_sources.iter().enumerate() {
            let Some(v) = source_value(src, ex, bufs, req, m, route, &mut ip) else {
                return Err(Denied::new(
                    GatewayResponse::Unauthorized,
                    "an identity source is missing",
                ));
            };
            if cfg.token
                && let Some(Some(re)) = auth.validations.get(m.api).and_then(|a| a.get(ai))
                && !std::str::from_utf8(v).is_ok_and(|t| re.is_match(t))
            {
                return Err(Denied::new(
                    GatewayResponse::Unauthorized,
                    "the token does not match the identity validation expression",
                ));
            }
            key.extend_from_slice(&(v.len() as u32).to_le_bytes());
            let start = key.len();
            key.extend_from_slice(v);
            if i < ranges.len() {
                ranges[i] = (start, key.len());
            }
        }
    }
    // The method ARN: …/{stage}/{METHOD}/{path below the stage}.
    let path = bufs.head.path.get(&bufs.rd);
    let below = std::str::from_utf8(&path[m.rest_start.min(path.len())..]).unwrap_or("");
    let method = std::str::from_utf8(bufs.head.method_span.get(&bufs.rd)).unwrap_or("");
    // The gateway's `iam` region and account when configured (so IAM keys'
    // and authorizers' policies name the same ARNs), else the defaults.
    let (region, account) = match &ex.active.gw().iam {
        Some(iam) => (iam.region.as_str(), iam.account_id.as_str()),
        None => (crate::auth::region(), ACCOUNT_ID),
    };
    method_arn(
        &mut auth.arn.borrow_mut(),
        region,
        account,
        &api.name,
        &stage.name,
        method,
        below,
    );

    // The tick clock, as for tokens above: a hit reads no clock.
    let now = core.now.get();
    let cached = if cfg.ttl.is_zero() {
        None
    } else {
        auth.results.borrow_mut().get(&auth.key.borrow(), now)
    };
    if let Some(o) = cached {
        return apply(&o, &auth.arn.borrow(), req);
    }
    // Other requests of this core reuse the scratch while the call is out.
    let key = auth.key.borrow().clone();
    let arn = auth.arn.borrow().clone();
    let o = Rc::new(
        call(
            core, ex, stream, bufs, req, m, authorizer, cfg, route, &ranges,
        )
        .await?,
    );
    if !cfg.ttl.is_zero() {
        let now = Instant::now();
        auth.results
            .borrow_mut()
            .insert(&key, o.clone(), now + cfg.ttl, now);
    }
    apply(&o, &arn, req)
}

/// Allow or refuse by an outcome for the request's method ARN.
fn apply(outcome: &Outcome, arn: &str, req: &Request<'_>) -> Authorized {
    let protocol = req.protocol;
    match outcome.decide(arn) {
        Decision::Allow => {
            if let lambda_authorizer::Verdict::Policy(p) = &outcome.verdict {
                req.may_invalidate_cache
                    .set(p.evaluate("execute-api:InvalidateCache", arn) == Decision::Allow);
            }
            Ok(Some(outcome.identity.clone()))
        }
        Decision::ExplicitDeny => Err(Denied::new(
            match protocol {
                Protocol::Rest => GatewayResponse::ExplicitDeny,
                Protocol::Http => GatewayResponse::AccessDenied,
            },
            "the authorizer's policy denies the method",
        )),
        Decision::ImplicitDeny => Err(Denied::new(
            GatewayResponse::AccessDenied,
            "the authorizer did not allow the method",
        )),
    }
}

/// Call a Lambda-style authorizer and read its answer.
#[allow(clippy::too_many_arguments)]
async fn call(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    m: Matched,
    authorizer: &Authorizer,
    cfg: &LambdaAuthorizer,
    route: &Route,
    ranges: &[(usize, usize); 8],
) -> Result<Outcome, Denied> {
    let active = &*ex.active;
    let auth = &active.auth;
    let started = Instant::now();
    let deadline = started + cfg.timeout;
    let failure = |e: &'static str| Denied::new(GatewayResponse::AuthorizerFailure, e);
    // The event, into `ur`.
    {
        let Bufs {
            rd,
            ur,
            head,
            params,
            ..
        } = &mut *bufs;
        ur.clear();
        let arn = auth.arn.borrow();
        let key = auth.key.borrow();
        if cfg.token {
            let (a, b) = ranges[0];
            lambda_authorizer::write_token_event(ur, &key[a..b], &arn);
        } else {
            let gw = active.gw();
            let api = &gw.apis[m.api];
            let stage = &api.stages[m.stage];
            let route_key = route.key.to_string();
            let resource = match &route.key {
                crate::config::RouteKey::Default => "$default",
                crate::config::RouteKey::Path { path, .. } => path.as_str(),
            };
            let v2 = cfg.payload == PayloadFormat::V2;
            let ev_req = event_request(core, ex, req, &m, head, rd, b"");
            let ctx = event::Context {
                version: if v2 {
                    event::PayloadVersion::V2
                } else {
                    event::PayloadVersion::V1
                },
                rest: req.protocol == Protocol::Rest,
                route_key: &route_key,
                resource,
                params,
                stage: &stage.name,
                stage_variables: &stage.variables,
                request_id: req.id.as_str(),
                extended_request_id: req.extended_id.as_str(),
                api_id: &api.name,
                account_id: ACCOUNT_ID,
                time_ms: core.wall.unix_ms(started),
                binary_media_types: &api.binary_media_types,
                authorizer: event::Authorizer::None,
                identity: None,
            };
            SCRATCH.with_borrow_mut(|s| event::write(ur, &ev_req, &ctx, s));
            let n = authorizer.identity_sources.len().min(ranges.len());
            let mut values: [&[u8]; 8] = [b""; 8];
            for (i, (a, b)) in ranges.iter().take(n).enumerate() {
                values[i] = &key[*a..*b];
            }
            let http_api = req.protocol == Protocol::Http;
            lambda_authorizer::make_request_event(ur, 0, v2, http_api, &arn, &values[..n]);
        }
    }
    // The request: head into `uw` (signed for a function with
    // credentials, as the lambda integration signs), then the event.
    let uw = &mut bufs.uw;
    uw.clear();
    let now_secs = core.wall.unix_ms(started) / 1000;
    if invoke_head(
        uw,
        &cfg.path,
        &cfg.host_header,
        cfg.signing.as_ref(),
        &bufs.ur,
        now_secs,
    )
    .is_err()
    {
        bufs.ur.clear();
        uw.clear();
        return Err(Denied::new(
            GatewayResponse::AuthorizerConfigurationError,
            "no credentials to sign the authorizer's Invoke request",
        ));
    }
    uw.extend_from_slice(&bufs.ur);
    bufs.ur.clear();

    let to = Target {
        upstream: cfg.upstream,
        method: Method::Post,
        idempotent: true,
    };
    let mut no_body = BodyReader::new(Framing::None, 0, false);
    let sent = send(core, active, stream, bufs, to, &mut no_body, true, deadline).await;
    let mut conn = match sent {
        Ok(c) => c,
        Err(Fail::Timeout) => return Err(failure("the authorizer timed out")),
        Err(_) => return Err(failure("the authorizer could not be reached")),
    };
    let status = bufs.resp.status;
    let function_error =
        cfg.function && bufs.resp.header(&bufs.ur, "x-amz-function-error").is_some();
    let read = read_answer(&mut conn.stream, bufs, deadline).await;
    let reusable = matches!(read, Ok((_, true)));
    active
        .pools
        .release(conn, reusable, core.now.get().max(started));
    let in_ur = match read {
        Ok((in_ur, _)) => in_ur,
        Err(Fail::Timeout) => return Err(failure("the authorizer timed out")),
        Err(_) => return Err(failure("the authorizer's answer broke off")),
    };
    let body: &[u8] = if in_ur { &bufs.ur } else { &bufs.uw };
    let result = if function_error {
        // `callback("Unauthorized")` / `raise Exception("Unauthorized")`: 401.
        let unauthorized = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("errorMessage")
                    .and_then(|m| m.as_str())
                    .map(|m| m == "Unauthorized")
            })
            .unwrap_or(false);
        Err(if unauthorized {
            Denied::new(
                GatewayResponse::Unauthorized,
                "the authorizer said Unauthorized",
            )
        } else {
            failure("the authorizer function failed")
        })
    } else if status != 200 {
        Err(if status == 401 {
            Denied::new(GatewayResponse::Unauthorized, "the authorizer answered 401")
        } else {
            failure("the authorizer answered an error status")
        })
    } else {
        lambda_authorizer::parse_answer(body, cfg.simple_responses).map_err(|_| {
            Denied::new(
                GatewayResponse::AuthorizerConfigurationError,
                "the authorizer's answer is not a valid response",
            )
        })
    };
    bufs.ur.clear();
    bufs.uw.clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(query_value(b"a=1&user=bob&c", b"user"), Some(&b"bob"[..]));
        assert_eq!(query_value(b"a=1&c", b"c"), Some(&b""[..]));
        assert_eq!(query_value(b"a=1", b"user"), None);
    }

    #[test]
    fn bearer_prefix() {
        assert_eq!(bearer(b"Bearer abc"), b"abc");
        assert_eq!(bearer(b"bearer  abc"), b"abc");
        assert_eq!(bearer(b"abc"), b"abc");
    }
}
