//! Lambda proxy integration (`AWS_PROXY`): the request becomes API Gateway's
//! event (payload format 1.0 or 2.0, [`event`]), sent as
//! `POST /2015-03-31/functions/{function}/invocations` (the Invoke API that
//! Lambda and the Lambda Runtime Interface Emulator serve) over the
//! endpoint upstream's pooled keep-alive connections, SigV4-signed for
//! service `lambda` when the route has credentials; the function's answer
//! ([`response`]) becomes the client's response.
//!
//! * The client's body is read whole first (it goes into the event); a body
//!   already in the read buffer is used in place, others are collected into
//!   the write buffer. Bodies over `max_body_bytes` answer 413.
//! * The Invoke request is replayable, so a stale pooled connection is
//!   retried once, and a refused connect moves to the next target.
//! * Failures, each the API's gateway response: a function error
//!   (`X-Amz-Function-Error`), an Invoke status other than 200, a response
//!   that is not a proxy response, or a broken connection →
//!   `INTEGRATION_FAILURE` (REST 502 `Internal server error`, HTTP API 500);
//!   Invoke 403/404 (no permission, no such function) and missing
//!   credentials → `API_CONFIGURATION_ERROR` (500); the timeout →
//!   `INTEGRATION_TIMEOUT` (REST 504, HTTP API 503).
//! * The response: the function's status, headers (1.0 `multiValueHeaders`
//!   one line per value, 2.0 `cookies` one `Set-Cookie` each; framing and
//!   hop-by-hop fields dropped, REST APIs remap `Date`, `Server`,
//!   `Authorization` and `WWW-Authenticate` to `x-amzn-Remapped-…` as for
//!   HTTP proxies), the gateway's own headers, and the body (base64-decoded
//!   when `isBase64Encoded`). A REST API answer without `Content-Type`
//!   gets `application/json`, as API Gateway's does.
//!
//! * Events name the API by its configured name (`apiId`) and the account
//!   `000000000000` ([`ACCOUNT_ID`]): tollgate has no AWS ids of its own.
//!
//! Per request this allocates the answer's header list (one `Vec`) and the
//! strings serde_json must unescape; the event is written straight into the
//! upstream buffer with per-core scratch space (measured: 1.0 allocation
//! per request for a plain GET, against 0 for mock and proxy routes).

pub mod base64;
pub mod event;
pub mod json;
pub mod response;

use std::cell::RefCell;
use std::sync::OnceLock;
use std::time::Instant;

use crate::tls::Stream;

use crate::auth::sigv4;
use crate::config::{Lambda, LambdaCredentials, LambdaSigning, PayloadFormat, Protocol, Stage};
use crate::pipeline::gateway_response::GatewayResponse;
use crate::pipeline::{Exchange, Request, respond_error, response as resp};
use crate::proto::http1::{Framing, Method};
use crate::route::{Matched, canary_pick, mix64, roll_of, sticky_value};
use crate::server::body::BodyReader;
use crate::server::bufpool::{BUF_SIZE, Bufs};
use crate::server::core::Core;
use crate::server::io::{self, IoFail};
use crate::upstream::exchange::{Fail, Target, client_fail, send};
use event::PayloadVersion;

/// Largest Invoke response read (API Gateway's payload limit is 10 MB).
const MAX_RESPONSE: u64 = 10 * 1024 * 1024;

thread_local! {
    /// Per-core scratch for event writing (decoded query text and indexes).
    static SCRATCH: RefCell<event::Scratch> = RefCell::new(event::Scratch::default());
    /// Per-core cache of SigV4 signing keys.
    static KEYS: RefCell<Vec<CachedKey>> = const { RefCell::new(Vec::new()) };
}

/// A signing key: (access key id, date `YYYYMMDD`, region, key).
type CachedKey = (String, [u8; 8], String, [u8; 32]);

/// Where the client's body ended up.
enum BodyAt {
    /// `rd[start..end]`, the head still at `rd[..head_len]`.
    Read(usize, usize),
    /// All of `wr`; the head copied to `scratch`, both consumed from `rd`.
    Collected,
}

/// The request as an event sees it (Lambda integrations and Lambda-style
/// authorizers): `head` over `buf`, and `body`.
pub(crate) fn event_request<'a>(
    core: &Core,
    ex: &Exchange,
    req: &Request<'_>,
    m: &Matched,
    head: &'a crate::proto::http1::RequestHead,
    buf: &'a [u8],
    body: &'a [u8],
) -> event::Request<'a> {
    event::Request {
        method: std::str::from_utf8(head.method_span.get(buf)).unwrap_or(""),
        path: head.path.get(buf),
        rest_start: m.rest_start,
        query: head.query.get(buf),
        head: buf,
        headers: &head.headers,
        protocol: if req.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
        source_ip: ex.peer.ip(),
        port: core.addrs[ex.listener].port(),
        body,
    }
}

/// Serve `req` with the Lambda function of `l` on route `m`. Returns whether
/// the client connection may carry another request.
pub async fn invoke(
    core: &Core,
    ex: &Exchange,
    client: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    l: &Lambda,
    m: Matched,
) -> bool {
    let active = &*ex.active;
    let started = Instant::now();
    let deadline = started + l.timeout;

    let at = match read_body(ex, client, bufs, req).await {
        Ok(at) => at,
        Err(f) => return fail(core, ex, client, bufs, req, f, false).await,
    };
    req.facts.integration_start.set(Some(started));

    // The event, into `ur` (free until the response arrives).
    let Bufs {
        rd,
        wr,
        ur,
        uw,
        head,
        params,
        scratch,
        ..
    } = bufs;
    let (head_buf, body): (&[u8], &[u8]) = match at {
        BodyAt::Read(a, b) => (&rd[..], &rd[a..b]),
        BodyAt::Collected => (&scratch[..], &wr[..]),
    };
    let gw = active.gw();
    let api = &gw.apis[m.api];
    let stage = &api.stages[m.stage];
    let headers = || {
        head.headers
            .iter()
            .map(|(n, v)| (n.get(head_buf), v.get(head_buf)))
    };
    let variables = stage_variables(stage, m.deployment, headers(), req);
    let rest = req.protocol == Protocol::Rest;
    let version = match l.payload {
        PayloadFormat::V1 => PayloadVersion::V1,
        PayloadFormat::V2 => PayloadVersion::V2,
    };
    // The core's wall clock at `started` (read above): no second clock read.
    let now_ms = core.wall.unix_ms(started);
    let ev_req = event_request(core, ex, req, &m, head, head_buf, body);
    let ctx = event::Context {
        version,
        rest,
        route_key: &l.route_key,
        resource: &l.resource,
        params,
        stage: &stage.name,
        stage_variables: variables,
        request_id: req.id.as_str(),
        extended_request_id: req.extended_id.as_str(),
        api_id: &api.name,
        account_id: ACCOUNT_ID,
        time_ms: now_ms,
        binary_media_types: &api.binary_media_types,
        authorizer: req
            .identity
            .as_deref()
            .map_or(event::Authorizer::None, event::Authorizer::Identity),
        identity: req.caller.and_then(|k| {
            let iam = active.gw().iam.as_ref()?;
            let key = iam.access_keys.get(k)?;
            Some(event::Identity {
                access_key: &key.id,
                account_id: &iam.account_id,
                user_arn: &key.principal,
            })
        }),
    };
    ur.clear();
    SCRATCH.with_borrow_mut(|s| event::write(ur, &ev_req, &ctx, s));
    req.facts.request_body.set(body.len() as u64);
    if let BodyAt::Read(_, end) = at {
        rd.drain(..end);
    }

    // The Invoke request: head into `uw`, then the event.
    uw.clear();
    if let Err(gr) = invoke_head(
        uw,
        &l.invoke_path,
        &l.host_header,
        l.signing.as_ref(),
        ur,
        now_ms / 1000,
    ) {
        ur.clear();
        req.facts
            .integration_error
            .set(Some("No credentials to sign the Invoke request"));
        return respond_error(core, ex, client, bufs, req, gr, true).await;
    }
    uw.extend_from_slice(ur);
    ur.clear();

    let to = Target {
        upstream: l.upstream,
        method: Method::Post,
        // Nothing reached the function when a connect is refused.
        idempotent: true,
    };
    let mut no_body = BodyReader::new(Framing::None, 0, false);
    let sent = send(core, active, client, bufs, to, &mut no_body, true, deadline).await;
    let mut conn = match sent {
        Ok(c) => c,
        Err(f) => return fail(core, ex, client, bufs, req, f, true).await,
    };
    req.facts.integration_end.set(Some(Instant::now()));
    req.facts.integration_status.set(Some(bufs.resp.status));
    let status = bufs.resp.status;
    let function_error = bufs.resp.header(&bufs.ur, "x-amz-function-error").is_some();
    let read = read_answer(&mut conn.stream, bufs, deadline).await;
    let reusable = matches!(read, Ok((_, true)));
    active
        .pools
        .release(conn, reusable, core.now.get().max(started));
    let in_ur = match read {
        Ok((in_ur, _)) => in_ur,
        Err(f) => return fail(core, ex, client, bufs, req, f, true).await,
    };
    let gr = match status {
        200 if !function_error => None,
        200 => {
            req.facts
                .integration_error
                .set(Some("The function failed (X-Amz-Function-Error)"));
            Some(GatewayResponse::IntegrationFailure)
        }
        403 | 404 => {
            req.facts.integration_error.set(Some(
                "The Invoke API refused: no such function, or no permission to invoke it",
            ));
            Some(GatewayResponse::ApiConfigurationError)
        }
        _ => {
            req.facts
                .integration_error
                .set(Some("The Invoke API answered with an error status"));
            Some(GatewayResponse::IntegrationFailure)
        }
    };
    if let Some(gr) = gr {
        return respond_error(core, ex, client, bufs, req, gr, true).await;
    }

    let keep = req.keep_alive && !core.draining.is_fired();
    let Bufs { wr, ur, uw, .. } = bufs;
    let answer: &[u8] = if in_ur { ur } else { uw };
    let written = match response::parse(answer, version) {
        Ok(r) => write_response(wr, &r, req, keep),
        Err(e) => Err(e),
    };
    if written.is_err() {
        req.facts
            .integration_error
            .set(Some("The function's answer is not a valid proxy response"));
        ur.clear();
        return respond_error(
            core,
            ex,
            client,
            bufs,
            req,
            GatewayResponse::IntegrationFailure,
            true,
        )
        .await;
    }
    ur.clear();
    uw.clear();
    let ok = io::write_all(client, &mut bufs.wr, active.limits.keepalive_timeout)
        .await
        .is_ok();
    if bufs.wr.capacity() == 0 {
        bufs.wr = Vec::with_capacity(BUF_SIZE);
    }
    ok && keep
}

/// The account id events carry (tollgate has no AWS account of its own).
pub const ACCOUNT_ID: &str = "000000000000";

/// Read the client's whole body (see [`BodyAt`]).
async fn read_body(
    ex: &Exchange,
    client: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
) -> Result<BodyAt, Fail> {
    let h = req.head_len;
    match req.framing {
        Framing::None => return Ok(BodyAt::Read(h, h)),
        Framing::Length(n) if (bufs.rd.len() - h) as u64 >= n => {
            return Ok(BodyAt::Read(h, h + n as usize));
        }
        _ => {}
    }
    let limits = &ex.active.limits;
    bufs.scratch.clear();
    bufs.scratch.extend_from_slice(&bufs.rd[..h]);
    bufs.rd.drain(..h);
    bufs.wr.clear();
    let mut body = BodyReader::new(req.framing, limits.max_body_bytes, req.expect_continue);
    loop {
        match body
            .next(client, &mut bufs.rd, limits.header_read_timeout)
            .await
        {
            Ok(Some(r)) => bufs.wr.extend_from_slice(&bufs.rd[r]),
            Ok(None) => break,
            Err(e) => {
                req.facts.request_body.set(body.total);
                return Err(client_fail(e));
            }
        }
    }
    body.settle(&mut bufs.rd);
    Ok(BodyAt::Collected)
}

/// The stage variables of the side (stage or canary) that serves the request.
fn stage_variables<'s, 'h>(
    stage: &'s Stage,
    deployment: usize,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    req: &Request<'_>,
) -> &'s [(String, String)] {
    let Some(c) = &stage.canary else {
        return &stage.variables;
    };
    if c.deployment != stage.deployment {
        return if deployment == c.deployment {
            &c.variables
        } else {
            &stage.variables
        };
    }
    // Both sides run the same routes: decide as `route::choose_deployment` did.
    let roll = match c.sticky.as_ref().and_then(|s| sticky_value(s, headers)) {
        Some(v) => roll_of(v),
        None => mix64(req.id.hash64()),
    };
    if canary_pick(c.percent, roll) {
        &c.variables
    } else {
        &stage.variables
    }
}

/// Credentials from the environment, read once per process.
fn env_credentials() -> Option<&'static (String, String, Option<String>)> {
    static ENV: OnceLock<Option<(String, String, Option<String>)>> = OnceLock::new();
    ENV.get_or_init(|| {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some((
            get("AWS_ACCESS_KEY_ID")?,
            get("AWS_SECRET_ACCESS_KEY")?,
            get("AWS_SESSION_TOKEN"),
        ))
    })
    .as_ref()
}

/// Write the Invoke request head for an event of `event.len()` bytes.
/// (A function authorizer's Invoke requests are written here too.)
pub(crate) fn invoke_head(
    uw: &mut Vec<u8>,
    invoke_path: &str,
    host_header: &str,
    signing: Option<&LambdaSigning>,
    event: &[u8],
    now_secs: u64,
) -> Result<(), GatewayResponse> {
    uw.extend_from_slice(b"POST ");
    uw.extend_from_slice(invoke_path.as_bytes());
    uw.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    uw.extend_from_slice(host_header.as_bytes());
    uw.extend_from_slice(b"\r\nContent-Type: application/json\r\n");
    if let Some(signing) = signing {
        let (key_id, secret, token) = match &signing.credentials {
            LambdaCredentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => (
                access_key_id.as_str(),
                secret_access_key.as_str(),
                session_token.as_deref(),
            ),
            LambdaCredentials::Env => match env_credentials() {
                Some((k, s, t)) => (k.as_str(), s.as_str(), t.as_deref()),
                None => {
                    static WARNED: OnceLock<()> = OnceLock::new();
                    WARNED.get_or_init(|| {
                        eprintln!(
                            "tollgate: lambda credentials: env, but AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set"
                        );
                    });
                    return Err(GatewayResponse::ApiConfigurationError);
                }
            },
        };
        let date = sigv4::AmzDate::from_unix(now_secs);
        let hash = sigv4::payload_hash(event);
        let host: (&str, &str) = ("host", host_header);
        let amz_date: (&str, &str) = ("x-amz-date", date.as_str());
        let with_token;
        let without_token;
        let signed: &[(&str, &str)] = match token {
            Some(t) => {
                with_token = [host, amz_date, ("x-amz-security-token", t)];
                &with_token
            }
            None => {
                without_token = [host, amz_date];
                &without_token
            }
        };
        let sreq = sigv4::Request {
            method: "POST",
            path: invoke_path.as_bytes(),
            query: b"",
            headers: signed,
            payload_sha256: hash.as_str(),
        };
        let key = signing_key(key_id, secret, &date, &signing.region);
        uw.extend_from_slice(b"X-Amz-Date: ");
        uw.extend_from_slice(date.as_str().as_bytes());
        uw.extend_from_slice(b"\r\n");
        if let Some(t) = token {
            resp::header(uw, b"X-Amz-Security-Token", t.as_bytes());
        }
        uw.extend_from_slice(b"Authorization: ");
        sigv4::authorization(&sreq, key_id, &key, &date, &signing.region, "lambda", uw)
            .map_err(|_| GatewayResponse::ApiConfigurationError)?;
        uw.extend_from_slice(b"\r\n");
    }
    resp::content_length(uw, event.len() as u64);
    uw.extend_from_slice(b"\r\n");
    Ok(())
}

/// The signing key for today, from the per-core cache.
fn signing_key(key_id: &str, secret: &str, date: &sigv4::AmzDate, region: &str) -> [u8; 32] {
    let mut day = [0u8; 8];
    day.copy_from_slice(date.date().as_bytes());
    KEYS.with_borrow_mut(|keys| {
        if let Some((_, _, _, k)) = keys
            .iter()
            .find(|(id, d, r, _)| id == key_id && *d == day && r == region)
        {
            return *k;
        }
        let k = sigv4::signing_key(secret, date.date(), region, "lambda");
        keys.retain(|(_, d, _, _)| *d == day);
        keys.push((key_id.to_owned(), day, region.to_owned(), k));
        k
    })
}

/// Read the Invoke response's body whole. Returns (the body is `ur` (else
/// `uw`), the connection may be reused).
pub(crate) async fn read_answer(
    up: &mut Stream,
    bufs: &mut Bufs,
    deadline: Instant,
) -> Result<(bool, bool), Fail> {
    let framing = bufs.resp.framing;
    let up_keep = bufs.resp.keep_alive;
    bufs.ur.drain(..bufs.resp.head_len);
    let left = || deadline.saturating_duration_since(Instant::now());
    match framing {
        Framing::None => {
            bufs.ur.clear();
            Ok((true, up_keep))
        }
        Framing::Length(n) => {
            if n > MAX_RESPONSE {
                return Err(Fail::Upstream);
            }
            let n = n as usize;
            while bufs.ur.len() < n {
                match io::read_more(up, &mut bufs.ur, BUF_SIZE, left()).await {
                    Ok(_) => {}
                    Err(IoFail::Timeout) => {
                        bufs.ur = Vec::with_capacity(BUF_SIZE);
                        return Err(Fail::Timeout);
                    }
                    Err(_) => return Err(Fail::Upstream),
                }
            }
            let exact = bufs.ur.len() == n;
            bufs.ur.truncate(n);
            Ok((true, up_keep && exact))
        }
        Framing::Chunked | Framing::Close => {
            bufs.uw.clear();
            let mut body = BodyReader::new(framing, MAX_RESPONSE, false);
            loop {
                match body.next(up, &mut bufs.ur, left()).await {
                    Ok(Some(r)) => bufs.uw.extend_from_slice(&bufs.ur[r]),
                    Ok(None) => break,
                    Err(crate::server::body::BodyError::Timeout) => {
                        if bufs.ur.capacity() == 0 {
                            bufs.ur = Vec::with_capacity(BUF_SIZE);
                        }
                        return Err(Fail::Timeout);
                    }
                    Err(_) => return Err(Fail::Upstream),
                }
            }
            body.settle(&mut bufs.ur);
            let reusable = up_keep && framing == Framing::Chunked && bufs.ur.is_empty();
            bufs.ur.clear();
            Ok((false, reusable))
        }
    }
}

/// Headers a function may not set: framing and connection management are
/// the gateway's.
fn dropped(name: &str) -> bool {
    const DROP: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ];
    DROP.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// REST APIs pass these as `x-amzn-Remapped-<name>` (the gateway sets its own).
fn remapped(name: &str) -> bool {
    ["date", "server", "authorization", "www-authenticate"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
}

/// Write the client's response for the function's answer into `wr`.
fn write_response(
    wr: &mut Vec<u8>,
    r: &response::FunctionResponse<'_>,
    req: &Request<'_>,
    keep: bool,
) -> Result<(), response::Malformed> {
    let body_len = r.body.len()?;
    let head_only = req.method == Method::Head;
    let no_body = matches!(r.status, 204 | 304) || (100..200).contains(&r.status);
    wr.clear();
    resp::status_line(wr, r.status, resp::reason(r.status).as_bytes());
    let rest = req.protocol == Protocol::Rest;
    let mut has_type = false;
    for (n, v) in &r.headers {
        if dropped(n) || (req.replaces_cors && crate::pipeline::cors::is_cors_header(n.as_bytes()))
        {
            continue;
        }
        if !rest && n.eq_ignore_ascii_case("date") {
            continue; // the gateway's own Date is added below
        }
        has_type |= n.eq_ignore_ascii_case("content-type");
        if rest && remapped(n) {
            wr.extend_from_slice(b"x-amzn-Remapped-");
        }
        resp::header(wr, n.as_bytes(), v.as_bytes());
    }
    for c in &r.cookies {
        resp::header(wr, b"Set-Cookie", c.as_bytes());
    }
    if rest && !has_type {
        wr.extend_from_slice(b"Content-Type: application/json\r\n");
    }
    resp::common_headers(wr, &req.common(keep));
    if !no_body {
        resp::content_length(wr, body_len as u64);
    }
    wr.extend_from_slice(b"\r\n");
    let head_bytes = wr.len();
    let sent = if head_only || no_body {
        0
    } else {
        r.body.write(wr)?;
        body_len
    };
    req.facts.responded(r.status, head_bytes, sent as u64);
    Ok(())
}

/// Answer a failed exchange; `consumed`: the client's request was read whole.
async fn fail(
    core: &Core,
    ex: &Exchange,
    client: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    f: Fail,
    consumed: bool,
) -> bool {
    for v in [&mut bufs.wr, &mut bufs.ur, &mut bufs.uw] {
        if v.capacity() == 0 {
            *v = Vec::with_capacity(BUF_SIZE);
        }
    }
    bufs.ur.clear();
    bufs.uw.clear();
    let (gr, keep) = match f {
        Fail::Upstream => {
            req.facts.integration_error.set(Some(
                "The Invoke API refused or reset the connection, or sent a malformed response",
            ));
            (GatewayResponse::IntegrationFailure, consumed)
        }
        Fail::Timeout => {
            req.facts.integration_error.set(Some(
                "The function did not answer within the integration timeout",
            ));
            (GatewayResponse::IntegrationTimeout, consumed)
        }
        Fail::ClientTooLarge => (GatewayResponse::RequestTooLarge, false),
        Fail::ClientMalformed => (GatewayResponse::BadRequest, false),
        Fail::ClientGone => return false,
    };
    respond_error(core, ex, client, bufs, req, gr, keep).await
}
