//! The request's way through the gateway, after its head was parsed:
//! domain or stage → deployment (canary) → route → integrate → respond →
//! access log + metrics. Each step is its own module; this one reads as the
//! list. Every failure becomes an API-Gateway-shaped response through
//! [`gateway_response`], the one place that knows those shapes. The steps
//! note what the log and the metrics need in `Request::facts`; one call at
//! the end of the exchange (`Observer::finish`) records both.

pub mod authorize;
pub mod cache;
pub mod cors;
pub mod gateway_response;
pub mod iam;
pub mod response;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use crate::tls::Stream;

use crate::config::{Authorization, GatewayResponseOverride, Integration, Protocol};
use crate::integration;
use crate::limit::Refusal;
use crate::observe::clock::DATE_LEN;
use crate::observe::exchange::{Capture, Facts, Finished, trace_headers};
use crate::observe::request_id::RequestId;
use crate::observe::trace::TraceContext;
use crate::proto::http1::{Framing, Method, RequestHead, Version};
use crate::route::{Lookup, Matched, Selected, choose_deployment};
use crate::server::body::{BodyError, BodyReader};
use crate::server::bufpool::Bufs;
use crate::server::core::{Active, Core};
use crate::server::io;
use gateway_response::{Detail, GatewayResponse};
use response::Common;

/// Connection facts an exchange needs, and the configuration it runs on.
#[derive(Debug)]
pub struct Exchange {
    pub listener: usize,
    pub peer: SocketAddr,
    pub active: Rc<Active>,
    /// The connection's verified mTLS client certificate subject (TLS
    /// listeners with a `client_ca`).
    pub client_cert_subject: Option<Rc<str>>,
}

/// What the pipeline knows of a request once its head is parsed; it
/// outlives the head's bytes in the read buffer. `facts` collects what the
/// steps report for the access log and metrics.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    pub http10: bool,
    /// The client allows reuse and the worker is not draining.
    pub keep_alive: bool,
    pub framing: Framing,
    pub expect_continue: bool,
    pub head_len: usize,
    pub protocol: Protocol,
    pub id: RequestId,
    pub date: [u8; DATE_LEN],
    /// The name of the deployment that serves the request (the stage's or
    /// its canary's), once a stage matched; for the access log.
    pub deployment: Option<&'a str>,
    /// The stage's `deployment_header`: responses name the deployment.
    pub deployment_header: bool,
    /// The route that matched, if one did.
    pub route: Option<Matched>,
    /// The API's gateway response overrides (empty before an API is known).
    pub responses: &'a [GatewayResponseOverride],
    /// REST APIs' `x-amz-apigw-id` (`$context.extendedRequestId`); for
    /// HTTP APIs the request id again, as API Gateway logs it.
    pub extended_id: RequestId,
    /// The trace context: propagated to integrations, logged, and sent
    /// back by REST APIs. `None` when nothing needs it (an HTTP API route
    /// answered by the gateway, without an access log).
    pub trace: Option<TraceContext>,
    /// REST APIs answer with `X-Amzn-Trace-Id` (not for HTTP_PROXY).
    pub trace_in_response: bool,
    pub facts: Facts,
    /// A throttle refused the request: `Retry-After` seconds.
    pub retry_after: Option<u32>,
    /// The response cache's part (see `cache`).
    pub cache: cache::CacheStep,
    /// A refusal's own words (IAM authorization's; REST APIs), in place of
    /// its gateway response's default message.
    pub detail: Option<Box<Detail>>,
    /// The IAM caller: index into `Gateway::iam.access_keys`.
    pub caller: Option<usize>,
    /// Who the caller is, when the route's authorizer allowed it (see
    /// `authorize`); reaches the integration and the access log.
    pub identity: Option<Rc<crate::auth::Identity>>,
    /// A refusal's `WWW-Authenticate` (JWT authorizers).
    pub www_authenticate: Option<String>,
    /// The request's origin is allowed by the API's CORS settings.
    pub cors: Option<cors::Allowed<'a>>,
    /// A CORS preflight the gateway answers itself.
    pub preflight: bool,
    /// The API has CORS settings: integrations' `Access-Control-*`
    /// headers are dropped (the settings answer instead).
    pub replaces_cors: bool,
    /// The authorizer's policy allows `execute-api:InvalidateCache` on
    /// this method (a `Cache-Control: max-age=0` may refresh the entry).
    pub may_invalidate_cache: std::cell::Cell<bool>,
    /// HSTS max-age on a TLS listener (see `response::Common::hsts`).
    pub hsts: Option<u64>,
}

impl Request<'_> {
    /// The shared parts of this exchange's response.
    pub fn common(&self, keep_alive: bool) -> Common<'_> {
        Common {
            protocol: self.protocol,
            request_id: &self.id,
            http10: self.http10,
            keep_alive,
            date: &self.date,
            deployment: self.deployment.filter(|_| self.deployment_header),
            extended_id: (self.protocol == Protocol::Rest).then_some(&self.extended_id),
            trace: self.trace.as_ref().filter(|_| self.trace_in_response),
            responses: self.responses,
            cors: self.cors,
            hsts: self.hsts,
        }
    }
}

/// Serve one request whose head is parsed in `bufs`. Returns whether the
/// connection may carry another request; `bufs.rd` then holds only bytes
/// that follow this request.
pub async fn run(core: &Core, ex: &Exchange, stream: &mut Stream, bufs: &mut Bufs) -> bool {
    let started = Instant::now();
    let head = &bufs.head;
    let rd = &bufs.rd;
    let table = &ex.active.listeners[ex.listener].table;
    let gw = ex.active.gw();
    let path = head.path.get(rd);
    let selected = table.select(head.host.map(|h| h.get(rd)), path);
    let protocol = match selected {
        Selected::Stage(sm) => gw.apis[sm.api].protocol,
        Selected::NotFound(p) | Selected::Forbidden(p) => p,
    };
    let id = core.request_id(protocol);
    // Stage → deployment (the canary's share picked here) → route.
    let mut matched = None;
    let mut deployment = None;
    let mut deployment_header = false;
    // (api, stage, deployment) once a stage matched: metrics and access log.
    let mut staged = None;
    let refusal = match selected {
        Selected::Stage(sm) => {
            let api = &gw.apis[sm.api];
            let stage = &api.stages[sm.stage];
            let headers = head.headers.iter().map(|(n, v)| (n.get(rd), v.get(rd)));
            let d = choose_deployment(stage, headers, || id.hash64());
            staged = Some((sm.api, sm.stage, d));
            deployment = Some(api.deployments[d].name.as_str());
            deployment_header = stage.deployment_header;
            let method_name = head.method_span.get(rd);
            match table.route(sm, d, head.method, method_name, path, &mut bufs.params) {
                Lookup::Found(m) => {
                    matched = Some(m);
                    None
                }
                Lookup::NotFound(p) => Some(not_found(p)),
            }
        }
        Selected::NotFound(p) => Some(not_found(p)),
        Selected::Forbidden(_) => Some(GatewayResponse::Forbidden),
    };
    // CORS (HTTP APIs with `cors`): a preflight is answered before the
    // route's authorization; allowed origins get their headers everywhere.
    let cors_cfg = staged.and_then(|(a, _, _)| gw.apis[a].cors.as_ref());
    let preflight = cors_cfg.is_some() && cors::is_preflight(head.method, head, rd);
    let cors_allowed = cors_cfg.and_then(|c| cors::allowed(c, head.header(rd, "origin")));
    let refusal = if preflight { None } else { refusal };
    let route_proxied = matched.is_some_and(|m| {
        matches!(
            gw.apis[m.api].deployments[m.deployment].routes[m.route].integration,
            Integration::HttpProxy(_)
        )
    });
    let observer = &ex.active.observer;
    let log = staged.and_then(|(a, s, _)| observer.stage_log(a, s));
    let logged = log.is_some();
    let logs_trace = log.is_some_and(|l| l.format.shows_trace());
    let trace = (route_proxied || logs_trace || protocol == Protocol::Rest).then(|| {
        let (tp, amzn) = trace_headers(rd, head);
        TraceContext::from_headers(tp, amzn, &core.ids, core.wall.unix_ms(started) / 1000)
    });
    let capture = logged.then(|| Capture::take(&mut bufs.log, rd, head));
    let slot = match (staged, matched) {
        (Some((a, s, d)), m) => observer.metrics.layout().slot(a, s, d, m.map(|m| m.route)),
        (None, _) => observer.metrics.layout().unrouted(),
    };
    let mut req = Request {
        method: head.method,
        http10: head.version == Version::Http10,
        keep_alive: head.keep_alive && !core.draining.is_fired(),
        framing: head.framing,
        expect_continue: head.expect_continue && head.version == Version::Http11,
        head_len: head.head_len,
        protocol,
        id,
        date: [0; DATE_LEN],
        deployment,
        deployment_header,
        route: matched,
        responses: staged.map_or(&[][..], |(a, _, _)| &gw.apis[a].gateway_responses),
        extended_id: match protocol {
            Protocol::Rest => core.ids.short(),
            Protocol::Http => id,
        },
        trace,
        trace_in_response: protocol == Protocol::Rest,
        facts: Facts::default(),
        retry_after: None,
        cache: cache::CacheStep::default(),
        detail: None,
        caller: None,
        identity: None,
        www_authenticate: None,
        cors: cors_allowed,
        preflight,
        replaces_cors: cors_cfg.is_some(),
        may_invalidate_cache: std::cell::Cell::new(false),
        hsts: {
            let l = &gw.listeners[ex.listener];
            l.hsts_max_age.filter(|_| l.tls.is_some())
        },
    };
    core.date.copy_to(&mut req.date);
    // Authorize: IAM (routes with `aws_iam`: SigV4, which may read the
    // body; see `iam`), else the route's authorizer (JWT, Lambda-style).
    let mut refusal = refusal;
    let aws_iam = matched.is_some_and(|m| {
        gw.apis[m.api].deployments[m.deployment].routes[m.route].authorization
            == Authorization::AwsIam
    });
    if let (Some(m), None, false, true) = (matched, refusal, preflight, aws_iam) {
        let now = core.wall.unix_ms(started) / 1000;
        let limits = &ex.active.limits;
        let step = iam::authorize(
            &ex.active.iam,
            gw,
            m,
            stream,
            &bufs.head,
            &mut bufs.rd,
            limits.max_body_bytes,
            limits.header_read_timeout,
            now,
        )
        .await;
        match step {
            Ok(c) => {
                req.caller = Some(c.key);
                req.identity = ex.active.iam.identity(c.key);
                req.expect_continue &= !c.continued;
                req.may_invalidate_cache.set(c.may_invalidate_cache);
            }
            Err(iam::Refused::Answer(gr, detail)) => {
                refusal = Some(gr);
                req.detail = detail;
            }
            // Answered when the body is read again to be dropped.
            Err(iam::Refused::Body(BodyError::TooLarge)) => {
                refusal = Some(GatewayResponse::RequestTooLarge)
            }
            Err(iam::Refused::Body(_)) => refusal = Some(GatewayResponse::BadRequest),
        }
    } else if let (Some(m), None, false) = (matched, refusal, preflight) {
        match authorize::authorize(core, ex, stream, bufs, &req, m).await {
            Ok(identity) => req.identity = identity,
            Err(denied) => {
                req.facts.authorizer_error.set(Some(denied.error));
                req.www_authenticate = denied.www_authenticate;
                refusal = Some(denied.response);
            }
        }
    }
    // API key → usage plan quota and throttle → stage or route throttle →
    // account throttle; a refusal answers instead of the integration.
    let limited = matched
        .filter(|_| refusal.is_none() && !preflight)
        .and_then(|m| admit(ex, m, &bufs.head, &bufs.rd, req.identity.as_deref()));
    req.retry_after = limited.and_then(|l| l.1);
    let refusal = limited.map(|l| l.0).or(refusal);
    let integration = matched
        .filter(|_| refusal.is_none() && !preflight)
        .map(|m| &gw.apis[m.api].deployments[m.deployment].routes[m.route].integration);
    let proxied = matches!(integration, Some(Integration::HttpProxy(_)));
    req.trace_in_response = protocol == Protocol::Rest && !proxied;
    let keep = respond(core, ex, stream, bufs, &req, integration, refusal).await;
    observer.finish(&Finished {
        slot,
        stage: staged.map(|(a, s, _)| (a, s)),
        deployment: req.deployment,
        started,
        ended: Instant::now(),
        head_len: req.head_len,
        facts: &req.facts,
        peer: ex.peer.ip(),
        request_id: &req.id,
        extended_id: &req.extended_id,
        trace: req.trace.as_ref(),
        capture: capture.as_ref().map(|c| (c, &bufs.log[..])),
        wall: &core.wall,
        caller: req.caller.and_then(|k| {
            let iam = gw.iam.as_ref()?;
            let key = iam.access_keys.get(k)?;
            Some(crate::observe::access_log::Caller {
                user_arn: &key.principal,
                access_key: &key.id,
                account_id: &iam.account_id,
            })
        }),
        identity: req.identity.as_deref(),
        client_cert_subject: ex.client_cert_subject.as_deref(),
    });
    keep
}

/// Answer a routed (or refused) request: integrate, or answer from the
/// gateway. Returns whether the connection may carry another request.
async fn respond(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    integration: Option<&Integration>,
    refusal: Option<GatewayResponse>,
) -> bool {
    if let Framing::Length(n) = req.framing
        && n > ex.active.limits.max_body_bytes
    {
        // The body is not read: answer and close (RFC 9110 §15.5.14).
        return respond_error(
            core,
            ex,
            stream,
            bufs,
            req,
            GatewayResponse::RequestTooLarge,
            false,
        )
        .await;
    }

    if let Some(Integration::HttpProxy(hp)) = integration {
        // Cache lookup: a hit (or a refused invalidation) is answered here.
        if let cache::Step::Answered(keep) = cache::lookup(core, ex, stream, bufs, req).await {
            return keep;
        }
        return integration::http::proxy(core, ex, stream, bufs, req, hp).await;
    }
    if let (Some(Integration::Lambda(l)), Some(m)) = (integration, req.route) {
        return integration::lambda::invoke(core, ex, stream, bufs, req, l, m).await;
    }

    // Answered by the gateway itself: the request body is read and dropped.
    bufs.rd.drain(..req.head_len);
    let mut keep = req.keep_alive;
    if req.expect_continue && req.framing != Framing::None {
        // Never invite the body we would drop: answer now and close (RFC 9110 §10.1.1).
        keep = false;
    } else {
        match discard_body(ex, stream, bufs, req).await {
            Ok(()) => {}
            Err(BodyError::TooLarge) => {
                return respond_error(
                    core,
                    ex,
                    stream,
                    bufs,
                    req,
                    GatewayResponse::RequestTooLarge,
                    false,
                )
                .await;
            }
            Err(BodyError::Malformed) => {
                return respond_error(
                    core,
                    ex,
                    stream,
                    bufs,
                    req,
                    GatewayResponse::BadRequest,
                    false,
                )
                .await;
            }
            Err(_) => return false,
        }
    }
    bufs.wr.clear();
    let head_only = req.method == Method::Head;
    match integration {
        Some(Integration::Mock(mock)) => {
            integration::mock::write(&mut bufs.wr, mock, &req.common(keep), head_only);
            let body = if head_only { 0 } else { mock.body.len() };
            req.facts
                .responded(mock.status, bufs.wr.len() - body, body as u64);
        }
        _ if req.preflight => {
            let wr = &mut bufs.wr;
            response::status_line(wr, 204, b"No Content");
            response::common_headers(wr, &req.common(keep));
            if let Some(a) = &req.cors {
                cors::write_preflight_headers(wr, a);
            }
            wr.extend_from_slice(b"\r\n");
            req.facts.responded(204, wr.len(), 0);
        }
        _ => {
            let gr = refusal.unwrap_or(GatewayResponse::ResourceNotFound);
            if let Some(d) = &req.detail {
                let start = bufs.wr.len();
                let (status, body) = gr.write_detail(&mut bufs.wr, &req.common(keep), head_only, d);
                let body = if head_only { 0 } else { body };
                let total = bufs.wr.len() - start;
                req.facts.responded(status, total - body, body as u64);
                req.facts.error.set(Some((d.summary, gr.response_type())));
            } else {
                let c = req.common(keep);
                match (req.retry_after, &req.www_authenticate) {
                    (Some(s), _) => gr.write_retry_after(&mut bufs.wr, &c, head_only, s),
                    (None, Some(w)) => gr.write_with_header(
                        &mut bufs.wr,
                        &c,
                        head_only,
                        b"WWW-Authenticate",
                        w.as_bytes(),
                    ),
                    (None, None) => gr.write(&mut bufs.wr, &c, head_only),
                }
                note_gateway_response(req, gr, bufs.wr.len(), head_only);
            }
        }
    }
    io::write_all(stream, &mut bufs.wr, ex.active.limits.keepalive_timeout)
        .await
        .is_ok()
        && keep
}

/// Note a gateway response of `total` bytes (head and body) in the facts.
fn note_gateway_response(req: &Request<'_>, gr: GatewayResponse, total: usize, head_only: bool) {
    let (status, body_len) = gr.sent(&req.common(false));
    let message = gr.parts(req.protocol).1;
    let body = if head_only { 0 } else { body_len };
    req.facts.responded(status, total - body, body as u64);
    req.facts.error.set(Some((message, gr.response_type())));
    // tollgate_throttled_requests counts rate-limit refusals (not quotas).
    req.facts
        .throttled
        .set(matches!(gr, GatewayResponse::Throttled));
}

/// The limits of a routed request (see `limit::plan`): `None` to go on, or
/// the gateway response and, for a throttle, its `Retry-After` seconds.
/// The API key is `X-API-Key`, else the `usageIdentifierKey` the route's
/// Lambda authorizer returned (API Gateway's AUTHORIZER key source).
fn admit(
    ex: &Exchange,
    m: Matched,
    head: &RequestHead,
    rd: &[u8],
    identity: Option<&crate::auth::Identity>,
) -> Option<(GatewayResponse, Option<u32>)> {
    let route = &ex.active.gw().apis[m.api].deployments[m.deployment].routes[m.route];
    let api_key = || {
        head.headers
            .iter()
            .find(|(n, _)| n.get(rd).eq_ignore_ascii_case(b"x-api-key"))
            .map(|(_, v)| v.get(rd))
            .or_else(|| {
                identity
                    .and_then(|i| i.usage_identifier_key.as_deref())
                    .map(str::as_bytes)
            })
    };
    let limiting = &ex.active.limiting;
    match limiting.check(&m, route.api_key_required, api_key, crate::limit::now_ns) {
        Ok(()) => None,
        Err(Refusal::InvalidKey) => Some((GatewayResponse::InvalidApiKey, None)),
        Err(Refusal::QuotaExceeded) => Some((GatewayResponse::QuotaExceeded, None)),
        Err(Refusal::Throttled { retry_after }) => {
            Some((GatewayResponse::Throttled, Some(retry_after)))
        }
    }
}

fn not_found(protocol: Protocol) -> GatewayResponse {
    match protocol {
        Protocol::Http => GatewayResponse::ResourceNotFound,
        Protocol::Rest => GatewayResponse::MissingAuthenticationToken,
    }
}

async fn discard_body(
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
) -> Result<(), BodyError> {
    let mut body = BodyReader::new(req.framing, ex.active.limits.max_body_bytes, false);
    while body
        .next(stream, &mut bufs.rd, ex.active.limits.header_read_timeout)
        .await?
        .is_some()
    {}
    body.settle(&mut bufs.rd);
    req.facts.request_body.set(body.total);
    Ok(())
}

/// Answer with a gateway response; `keep` says whether the connection may
/// continue (only when the request was consumed whole).
pub async fn respond_error(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    gr: GatewayResponse,
    keep: bool,
) -> bool {
    let keep = keep && req.keep_alive && !core.draining.is_fired();
    bufs.wr.clear();
    let head_only = req.method == Method::Head;
    gr.write(&mut bufs.wr, &req.common(keep), head_only);
    note_gateway_response(req, gr, bufs.wr.len(), head_only);
    io::write_all(stream, &mut bufs.wr, ex.active.limits.keepalive_timeout)
        .await
        .is_ok()
        && keep
}
