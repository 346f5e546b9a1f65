//! Lambda proxy events, payload formats 1.0 and 2.0, written as JSON straight
//! into a caller's buffer (API Gateway's developer guide:
//! set-up-lambda-proxy-integrations, http-api-develop-integrations-lambda).
//!
//! Sans-IO: the caller passes the parsed request, the route's facts and the
//! time; [`write`] appends the event. Nothing is allocated but the growth of
//! the output buffer and of the reusable [`Scratch`].
//!
//! What goes where, and the choices where the guide is silent:
//!
//! * **Paths** are percent-decoded (as API Gateway does: `rawPath` of
//!   `/a%20b` is `/a b`; bytes that do not decode to UTF-8 keep the raw
//!   text). 1.0 `path` on REST APIs is the path after the stage; on HTTP APIs
//!   and in `requestContext.path`, `rawPath` and `http.path` it is the whole
//!   request path, stage included.
//! * **Query strings**: `rawQueryString` as sent; parameter names and values
//!   percent-decoded (`+` stays `+`); empty pieces (`a&&b`) are skipped; a
//!   name without `=` has the value `""`. 1.0 `queryStringParameters` keeps
//!   the last value of a repeated name, `multiValueQueryStringParameters`
//!   all; 2.0 joins repeated values with `,`. Names appear in the order of
//!   their first occurrence.
//! * **Headers**: names grouped case-insensitively. 1.0 keeps the spelling
//!   of the first occurrence, `headers` the last value and
//!   `multiValueHeaders` all; 2.0 lower-cases names and joins repeated values
//!   with `,`, and moves `Cookie` into `cookies` (split at `;`). Hop-by-hop
//!   fields (`Connection`, `Keep-Alive`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`, `Expect`) are left
//!   out; `X-Forwarded-For` gets the peer's address appended and
//!   `X-Forwarded-Proto` / `X-Forwarded-Port` are set, as API Gateway adds
//!   them.
//! * **Absent versus null**: 1.0 writes `null` for empty `headers`,
//!   `multiValueHeaders`, query parameters, `pathParameters`,
//!   `stageVariables` and `body`; 2.0 leaves `cookies`,
//!   `queryStringParameters`, `pathParameters`, `stageVariables` and `body`
//!   out when there are none. 1.0 has a `version` field on HTTP APIs only.
//! * **Bodies** are base64 (`isBase64Encoded: true`) when the request's
//!   `Content-Type` matches one of the API's binary media types (`*/*`,
//!   `image/*` and exact types; parameters after `;` ignored) or when the
//!   bytes are not UTF-8 (a JSON string could not carry them); otherwise
//!   text.
//! * **`requestContext`**: `domainName` is the `Host` value as sent,
//!   `domainPrefix` its text before the first `.`; `resourceId` (REST) is a
//!   stable 6-character id derived from the API and resource; 1.0
//!   `identity.userAgent` is `null` without a `User-Agent`, 2.0
//!   `http.userAgent` is `""`. A route key `$default` has the resource
//!   `$default`.
//! * **Authorizer context** comes from the authorizer step (issues to come):
//!   [`Authorizer`] holds pre-encoded JSON values.

use std::net::IpAddr;
use std::ops::Range;

use super::base64;
use super::json::{self, Object};
use crate::auth::IdentityKind;
use crate::proto::http1::Span;
use crate::route::Params;

/// Which event shape to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadVersion {
    V1,
    V2,
}

/// What the authorizer step learned about the caller. Values are JSON text
/// (already encoded: `"\"alice\""`, `42`, `true`).
#[derive(Clone, Copy, Debug, Default)]
pub enum Authorizer<'a> {
    #[default]
    None,
    /// A JWT authorizer (HTTP APIs): claims and scopes.
    Jwt {
        claims: &'a [(&'a str, &'a str)],
        scopes: Option<&'a [&'a str]>,
    },
    /// A Lambda authorizer: its `context` (and, on REST APIs, `principalId`).
    Lambda {
        principal_id: Option<&'a str>,
        context: &'a [(&'a str, &'a str)],
    },
    /// What the pipeline's authorize step established.
    Identity(&'a crate::auth::Identity),
}

/// The IAM caller of a route with `aws_iam` (1.0: `requestContext.identity`;
/// 2.0: `requestContext.authorizer.iam`).
#[derive(Clone, Copy, Debug)]
pub struct Identity<'a> {
    pub access_key: &'a str,
    pub account_id: &'a str,
    /// The principal's ARN (also `caller` / `user` / `callerId` / `userId`:
    /// tollgate's principals have no separate ids).
    pub user_arn: &'a str,
}

/// The request as it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The method token as sent.
    pub method: &'a str,
    /// The raw request path without the query, stage prefix included.
    pub path: &'a [u8],
    /// Where the path after the stage starts in `path` (0 for `$default`).
    pub rest_start: usize,
    /// The raw query string without `?` (empty when none).
    pub query: &'a [u8],
    /// The buffer `headers` index into.
    pub head: &'a [u8],
    pub headers: &'a [(Span, Span)],
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub protocol: &'a str,
    pub source_ip: IpAddr,
    /// The port the request arrived on (`X-Forwarded-Port`).
    pub port: u16,
    pub body: &'a [u8],
}

/// The route's and API's facts.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub version: PayloadVersion,
    /// A REST API (else an HTTP API).
    pub rest: bool,
    /// `GET /pets/{id}` or `$default`.
    pub route_key: &'a str,
    /// The route's path as configured (`/pets/{id}`), or `$default`.
    pub resource: &'a str,
    pub params: &'a Params,
    pub stage: &'a str,
    pub stage_variables: &'a [(String, String)],
    pub request_id: &'a str,
    /// REST: a second id (`x-amz-apigw-id`); HTTP APIs: the request id.
    pub extended_request_id: &'a str,
    pub api_id: &'a str,
    pub account_id: &'a str,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub binary_media_types: &'a [String],
    pub authorizer: Authorizer<'a>,
    /// The IAM caller, on routes with `aws_iam`.
    pub identity: Option<Identity<'a>>,
}

/// Reusable working memory for [`write`] (decoded query text and indexes).
#[derive(Debug, Default)]
pub struct Scratch {
    text: Vec<u8>,
    /// Decoded (name, value) ranges into `text`, in query order.
    pairs: Vec<(Range<u32>, Range<u32>)>,
    /// Pair indexes sorted by (name, position).
    order: Vec<u32>,
    /// (first position, start in `order`, end in `order`) per distinct name,
    /// sorted by first position.
    groups: Vec<(u32, u32, u32)>,
    /// Decoded path text.
    path: Vec<u8>,
}

const HOP_BY_HOP: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"expect",
];

/// Headers the event writer sets itself.
const FORWARDED: [&[u8]; 3] = [
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-port",
];

fn skipped(name: &[u8]) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || FORWARDED.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Append the event for `req` on the route described by `ctx` to `out`.
pub fn write(out: &mut Vec<u8>, req: &Request<'_>, ctx: &Context<'_>, scratch: &mut Scratch) {
    scratch.parse_query(req.query);
    match ctx.version {
        PayloadVersion::V1 => write_v1(out, req, ctx, scratch),
        PayloadVersion::V2 => write_v2(out, req, ctx, scratch),
    }
}

fn header_value<'b>(req: &Request<'b>, name: &[u8]) -> Option<&'b [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| n.get(req.head).eq_ignore_ascii_case(name))
        .map(|(_, v)| v.get(req.head))
}

/// Whether the body goes base64 (see the module docs).
pub fn is_binary(content_type: Option<&[u8]>, binary_media_types: &[String], body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return true;
    }
    let Some(ct) = content_type else {
        return false;
    };
    let media = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    binary_media_types
        .iter()
        .any(|t| media_matches(t.as_bytes(), media))
}

fn media_matches(pattern: &[u8], media: &[u8]) -> bool {
    if pattern == b"*/*" {
        return true;
    }
    match pattern.strip_suffix(b"/*") {
        Some(ty) => media
            .split(|&b| b == b'/')
            .next()
            .is_some_and(|t| t.eq_ignore_ascii_case(ty) && media.len() > ty.len()),
        None => pattern.eq_ignore_ascii_case(media),
    }
}

fn write_body_v1(o: &mut Object, out: &mut Vec<u8>, req: &Request<'_>, ctx: &Context<'_>) {
    let binary = is_binary(
        header_value(req, b"content-type"),
        ctx.binary_media_types,
        req.body,
    );
    if req.body.is_empty() {
        o.null(out, "body");
    } else if binary {
        o.key(out, "body");
        out.push(b'"');
        base64::encode(out, req.body);
        out.push(b'"');
    } else {
        o.str(out, "body", req.body);
    }
    o.bool(out, "isBase64Encoded", binary && !req.body.is_empty());
}

/// `{"name":"value",…}` of the path parameters.
fn write_params(out: &mut Vec<u8>, params: &Params) {
    let mut o = Object::open(out);
    for (n, v) in params.iter() {
        o.key_bytes(out, n.as_bytes());
        json::string(out, v.as_bytes());
    }
    o.close(out);
}

fn write_stage_variables(out: &mut Vec<u8>, vars: &[(String, String)]) {
    let mut o = Object::open(out);
    for (n, v) in vars {
        o.key_bytes(out, n.as_bytes());
        json::string(out, v.as_bytes());
    }
    o.close(out);
}

/// `X-Forwarded-For`'s value: the client's list, then the peer.
fn write_forwarded_for(out: &mut Vec<u8>, req: &Request<'_>) {
    out.push(b'"');
    for (n, v) in req.headers {
        if n.get(req.head).eq_ignore_ascii_case(b"x-forwarded-for") {
            json::escaped(out, v.get(req.head));
            out.extend_from_slice(b", ");
        }
    }
    push_ip(out, req.source_ip);
    out.push(b'"');
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                json::push_u64(out, u64::from(*o));
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    out.push(b'"');
    push_ip(out, ip);
    out.push(b'"');
}

/// Indexes of headers that start a group (first of their name, not skipped).
fn leaders<'r>(req: &'r Request<'_>) -> impl Iterator<Item = usize> + 'r {
    let h = req.headers;
    let buf = req.head;
    (0..h.len()).filter(move |&i| {
        let name = h[i].0.get(buf);
        !skipped(name)
            && !h[..i]
                .iter()
                .any(|(o, _)| o.get(buf).eq_ignore_ascii_case(name))
    })
}

fn same_name<'r>(req: &'r Request<'_>, name: &'r [u8]) -> impl Iterator<Item = &'r [u8]> + 'r {
    req.headers
        .iter()
        .filter(move |(n, _)| n.get(req.head).eq_ignore_ascii_case(name))
        .map(|(_, v)| v.get(req.head))
}

fn write_port(out: &mut Vec<u8>, port: u16) {
    out.push(b'"');
    json::push_u64(out, u64::from(port));
    out.push(b'"');
}

fn write_v1(out: &mut Vec<u8>, req: &Request<'_>, ctx: &Context<'_>, scratch: &mut Scratch) {
    let mut o = Object::open(out);
    if !ctx.rest {
        o.str(out, "version", b"1.0");
    }
    o.str(out, "resource", ctx.resource.as_bytes());
    let event_path = if ctx.rest { after_stage(req) } else { req.path };
    o.key(out, "path");
    scratch.write_decoded_path(out, event_path);
    o.str(out, "httpMethod", req.method.as_bytes());

    // headers: last value per name.
    o.key(out, "headers");
    let mut h = Object::open(out);
    for i in leaders(req) {
        let name = req.headers[i].0.get(req.head);
        h.key_bytes(out, name);
        let last = same_name(req, name).last().unwrap_or(b"");
        json::string(out, last);
    }
    h.key(out, "X-Forwarded-For");
    write_forwarded_for(out, req);
    h.key(out, "X-Forwarded-Port");
    write_port(out, req.port);
    h.str(out, "X-Forwarded-Proto", b"http");
    h.close(out);

    o.key(out, "multiValueHeaders");
    let mut h = Object::open(out);
    for i in leaders(req) {
        let name = req.headers[i].0.get(req.head);
        h.key_bytes(out, name);
        out.push(b'[');
        for (k, v) in same_name(req, name).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            json::string(out, v);
        }
        out.push(b']');
    }
    h.key(out, "X-Forwarded-For");
    out.push(b'[');
    write_forwarded_for(out, req);
    out.push(b']');
    h.key(out, "X-Forwarded-Port");
    out.push(b'[');
    write_port(out, req.port);
    out.push(b']');
    h.key(out, "X-Forwarded-Proto");
    out.extend_from_slice(b"[\"http\"]");
    h.close(out);

    if scratch.groups.is_empty() {
        o.null(out, "queryStringParameters");
        o.null(out, "multiValueQueryStringParameters");
    } else {
        o.key(out, "queryStringParameters");
        scratch.write_query(out, QueryShape::Last);
        o.key(out, "multiValueQueryStringParameters");
        scratch.write_query(out, QueryShape::List);
    }
    if ctx.params.is_empty() {
        o.null(out, "pathParameters");
    } else {
        o.key(out, "pathParameters");
        write_params(out, ctx.params);
    }
    if ctx.stage_variables.is_empty() {
        o.null(out, "stageVariables");
    } else {
        o.key(out, "stageVariables");
        write_stage_variables(out, ctx.stage_variables);
    }

    o.key(out, "requestContext");
    let mut c = Object::open(out);
    c.str(out, "accountId", ctx.account_id.as_bytes());
    c.str(out, "apiId", ctx.api_id.as_bytes());
    write_authorizer_v1(&mut c, out, ctx);
    let host = header_value(req, b"host").unwrap_or(b"");
    c.str(out, "domainName", host);
    c.str(out, "domainPrefix", domain_prefix(host));
    c.str(out, "extendedRequestId", ctx.extended_request_id.as_bytes());
    c.str(out, "httpMethod", req.method.as_bytes());
    c.key(out, "identity");
    let mut id = Object::open(out);
    let iam = ctx.identity;
    match iam {
        Some(i) => {
            id.str(out, "accessKey", i.access_key.as_bytes());
            id.str(out, "accountId", i.account_id.as_bytes());
        }
        None => {
            id.null(out, "accessKey");
            id.null(out, "accountId");
        }
    }
    if ctx.rest {
        id.null(out, "apiKey");
        id.null(out, "apiKeyId");
    }
    match iam {
        Some(i) => id.str(out, "caller", i.user_arn.as_bytes()),
        None => id.null(out, "caller"),
    }
    id.null(out, "cognitoAuthenticationProvider");
    id.null(out, "cognitoAuthenticationType");
    id.null(out, "cognitoIdentityId");
    id.null(out, "cognitoIdentityPoolId");
    id.null(out, "principalOrgId");
    id.key(out, "sourceIp");
    write_ip(out, req.source_ip);
    match iam {
        Some(i) => id.str(out, "user", i.user_arn.as_bytes()),
        None => id.null(out, "user"),
    }
    match header_value(req, b"user-agent") {
        Some(ua) => id.str(out, "userAgent", ua),
        None => id.null(out, "userAgent"),
    }
    match iam {
        Some(i) => id.str(out, "userArn", i.user_arn.as_bytes()),
        None => id.null(out, "userArn"),
    }
    id.close(out);
    c.key(out, "path");
    scratch.write_decoded_path(out, req.path);
    c.str(out, "protocol", req.protocol.as_bytes());
    c.str(out, "requestId", ctx.request_id.as_bytes());
    c.key(out, "requestTime");
    write_clf_time(out, ctx.time_ms);
    c.num(out, "requestTimeEpoch", ctx.time_ms);
    if ctx.rest {
        c.key(out, "resourceId");
        write_resource_id(out, ctx.api_id, ctx.resource);
    } else {
        c.null(out, "resourceId");
    }
    c.str(out, "resourcePath", ctx.resource.as_bytes());
    c.str(out, "stage", ctx.stage.as_bytes());
    c.close(out);

    write_body_v1(&mut o, out, req, ctx);
    o.close(out);
}

fn write_authorizer_v1(c: &mut Object, out: &mut Vec<u8>, ctx: &Context<'_>) {
    match ctx.authorizer {
        // HTTP APIs send an empty JWT shape; REST APIs leave it out.
        Authorizer::None if ctx.rest => {}
        Authorizer::None => {
            c.key(out, "authorizer");
            out.extend_from_slice(b"{\"claims\":null,\"scopes\":null}");
        }
        Authorizer::Jwt { claims, scopes } => jwt_v1(c, out, claims, scopes),
        Authorizer::Lambda {
            principal_id,
            context,
        } => lambda_v1(c, out, principal_id, context),
        Authorizer::Identity(id) => match id.kind {
            IdentityKind::Jwt => jwt_v1(c, out, &id.claims, id.scopes.as_deref()),
            _ => lambda_v1(c, out, id.principal_id.as_deref(), &id.context),
        },
    }
}

fn jwt_v1<K: AsRef<str>, V: AsRef<str>, S: AsRef<str>>(
    c: &mut Object,
    out: &mut Vec<u8>,
    claims: &[(K, V)],
    scopes: Option<&[S]>,
) {
    c.key(out, "authorizer");
    let mut a = Object::open(out);
    a.key(out, "claims");
    write_raw_map(out, claims);
    a.key(out, "scopes");
    write_scopes(out, scopes);
    a.close(out);
}

fn lambda_v1<K: AsRef<str>, V: AsRef<str>>(
    c: &mut Object,
    out: &mut Vec<u8>,
    principal_id: Option<&str>,
    context: &[(K, V)],
) {
    c.key(out, "authorizer");
    let mut a = Object::open(out);
    for (k, v) in context {
        a.key_bytes(out, k.as_ref().as_bytes());
        out.extend_from_slice(v.as_ref().as_bytes());
    }
    if let Some(p) = principal_id {
        a.str(out, "principalId", p.as_bytes());
    }
    a.close(out);
}

fn jwt_v2<K: AsRef<str>, V: AsRef<str>, S: AsRef<str>>(
    c: &mut Object,
    out: &mut Vec<u8>,
    claims: &[(K, V)],
    scopes: Option<&[S]>,
) {
    c.key(out, "authorizer");
    out.extend_from_slice(b"{\"jwt\":{\"claims\":");
    write_raw_map(out, claims);
    out.extend_from_slice(b",\"scopes\":");
    write_scopes(out, scopes);
    out.extend_from_slice(b"}}");
}

fn lambda_v2<K: AsRef<str>, V: AsRef<str>>(c: &mut Object, out: &mut Vec<u8>, context: &[(K, V)]) {
    c.key(out, "authorizer");
    out.extend_from_slice(b"{\"lambda\":");
    write_raw_map(out, context);
    out.push(b'}');
}

fn write_raw_map<K: AsRef<str>, V: AsRef<str>>(out: &mut Vec<u8>, pairs: &[(K, V)]) {
    let mut m = Object::open(out);
    for (k, v) in pairs {
        m.key_bytes(out, k.as_ref().as_bytes());
        out.extend_from_slice(v.as_ref().as_bytes());
    }
    m.close(out);
}

fn write_scopes<S: AsRef<str>>(out: &mut Vec<u8>, scopes: Option<&[S]>) {
    match scopes {
        None => out.extend_from_slice(b"null"),
        Some(list) => {
            out.push(b'[');
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::string(out, s.as_ref().as_bytes());
            }
            out.push(b']');
        }
    }
}

/// 2.0 `requestContext.authorizer.iam` of an IAM caller.
fn iam_v2(c: &mut Object, out: &mut Vec<u8>, ctx: &Context<'_>) {
    let Some(i) = ctx.identity else { return };
    c.key(out, "authorizer");
    let mut a = Object::open(out);
    a.key(out, "iam");
    let mut m = Object::open(out);
    m.str(out, "accessKey", i.access_key.as_bytes());
    m.str(out, "accountId", i.account_id.as_bytes());
    m.str(out, "callerId", i.user_arn.as_bytes());
    m.null(out, "cognitoIdentity");
    m.null(out, "principalOrgId");
    m.str(out, "userArn", i.user_arn.as_bytes());
    m.str(out, "userId", i.user_arn.as_bytes());
    m.close(out);
    a.close(out);
}

fn write_v2(out: &mut Vec<u8>, req: &Request<'_>, ctx: &Context<'_>, scratch: &mut Scratch) {
    let mut o = Object::open(out);
    o.str(out, "version", b"2.0");
    o.str(out, "routeKey", ctx.route_key.as_bytes());
    o.key(out, "rawPath");
    scratch.write_decoded_path(out, req.path);
    o.str(out, "rawQueryString", req.query);

    // cookies: every Cookie field, split at `;`.
    let mut any_cookie = false;
    for v in same_name(req, b"cookie") {
        for c in v.split(|&b| b == b';').map(<[u8]>::trim_ascii) {
            if c.is_empty() {
                continue;
            }
            if !any_cookie {
                o.key(out, "cookies");
                out.push(b'[');
                any_cookie = true;
            } else {
                out.push(b',');
            }
            json::string(out, c);
        }
    }
    if any_cookie {
        out.push(b']');
    }

    o.key(out, "headers");
    let mut h = Object::open(out);
    for i in leaders(req) {
        let name = req.headers[i].0.get(req.head);
        if name.eq_ignore_ascii_case(b"cookie") {
            continue;
        }
        h.key_lower(out, name);
        out.push(b'"');
        for (k, v) in same_name(req, name).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            json::escaped(out, v);
        }
        out.push(b'"');
    }
    h.key(out, "x-forwarded-for");
    write_forwarded_for(out, req);
    h.key(out, "x-forwarded-port");
    write_port(out, req.port);
    h.str(out, "x-forwarded-proto", b"http");
    h.close(out);

    if !scratch.groups.is_empty() {
        o.key(out, "queryStringParameters");
        scratch.write_query(out, QueryShape::Joined);
    }

    o.key(out, "requestContext");
    let mut c = Object::open(out);
    c.str(out, "accountId", ctx.account_id.as_bytes());
    c.str(out, "apiId", ctx.api_id.as_bytes());
    match ctx.authorizer {
        Authorizer::None if ctx.identity.is_some() => iam_v2(&mut c, out, ctx),
        Authorizer::None => {}
        Authorizer::Jwt { claims, scopes } => jwt_v2(&mut c, out, claims, scopes),
        Authorizer::Lambda { context, .. } => lambda_v2(&mut c, out, context),
        Authorizer::Identity(id) => match id.kind {
            IdentityKind::Jwt => jwt_v2(&mut c, out, &id.claims, id.scopes.as_deref()),
            IdentityKind::Lambda => lambda_v2(&mut c, out, &id.context),
            IdentityKind::Iam if ctx.identity.is_some() => iam_v2(&mut c, out, ctx),
            IdentityKind::Iam => {
                c.key(out, "authorizer");
                out.extend_from_slice(b"{\"iam\":{");
                if let Some(p) = &id.principal_id {
                    out.extend_from_slice(b"\"userId\":");
                    json::string(out, p.as_bytes());
                }
                out.extend_from_slice(b"}}");
            }
        },
    }
    let host = header_value(req, b"host").unwrap_or(b"");
    c.str(out, "domainName", host);
    c.str(out, "domainPrefix", domain_prefix(host));
    c.key(out, "http");
    let mut http = Object::open(out);
    http.str(out, "method", req.method.as_bytes());
    http.key(out, "path");
    scratch.write_decoded_path(out, req.path);
    http.str(out, "protocol", req.protocol.as_bytes());
    http.key(out, "sourceIp");
    write_ip(out, req.source_ip);
    http.str(
        out,
        "userAgent",
        header_value(req, b"user-agent").unwrap_or(b""),
    );
    http.close(out);
    c.str(out, "requestId", ctx.request_id.as_bytes());
    c.str(out, "routeKey", ctx.route_key.as_bytes());
    c.str(out, "stage", ctx.stage.as_bytes());
    c.key(out, "time");
    write_clf_time(out, ctx.time_ms);
    c.num(out, "timeEpoch", ctx.time_ms);
    c.close(out);

    write_body_v2(&mut o, out, req, ctx);
    o.close(out);
}

fn write_body_v2(o: &mut Object, out: &mut Vec<u8>, req: &Request<'_>, ctx: &Context<'_>) {
    let binary = is_binary(
        header_value(req, b"content-type"),
        ctx.binary_media_types,
        req.body,
    );
    if !req.body.is_empty() {
        if binary {
            o.key(out, "body");
            out.push(b'"');
            base64::encode(out, req.body);
            out.push(b'"');
        } else {
            o.str(out, "body", req.body);
        }
    }
    if !ctx.params.is_empty() {
        o.key(out, "pathParameters");
        write_params(out, ctx.params);
    }
    o.bool(out, "isBase64Encoded", binary && !req.body.is_empty());
    if !ctx.stage_variables.is_empty() {
        o.key(out, "stageVariables");
        write_stage_variables(out, ctx.stage_variables);
    }
}

fn after_stage<'b>(req: &Request<'b>) -> &'b [u8] {
    match req.path.get(req.rest_start..) {
        Some(b"") | None => b"/",
        Some(rest) => rest,
    }
}

fn domain_prefix(host: &[u8]) -> &[u8] {
    host.split(|&b| b == b'.').next().unwrap_or(host)
}

/// A stable 6-character id for a REST resource (API Gateway's are random;
/// functions only compare them).
fn write_resource_id(out: &mut Vec<u8>, api_id: &str, resource: &str) {
    const CHARS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in api_id
        .as_bytes()
        .iter()
        .chain(b"\0")
        .chain(resource.as_bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
    }
    out.push(b'"');
    for _ in 0..6 {
        out.push(CHARS[(h % 36) as usize]);
        h /= 36;
    }
    out.push(b'"');
}

/// `"12/Mar/2020:19:03:58 +0000"` (API Gateway's `requestTime`).
fn write_clf_time(out: &mut Vec<u8>, ms: u64) {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let secs = ms / 1000;
    let (y, m, d) = crate::auth::sigv4::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let two = |out: &mut Vec<u8>, v: u64| {
        out.extend_from_slice(&[b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8])
    };
    out.push(b'"');
    two(out, u64::from(d));
    out.push(b'/');
    out.extend_from_slice(MONTHS[(m - 1) as usize]);
    out.push(b'/');
    json::push_u64(out, y as u64);
    out.push(b':');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.extend_from_slice(b" +0000\"");
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QueryShape {
    /// 1.0 `queryStringParameters`: the last value.
    Last,
    /// 1.0 `multiValueQueryStringParameters`: every value.
    List,
    /// 2.0: values joined with `,`.
    Joined,
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode `raw` onto the end of `out`.
fn decode_into(out: &mut Vec<u8>, raw: &[u8]) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(unhex),
                raw.get(i + 2).copied().and_then(unhex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
}

/// Decode `raw` after `from` in `text`; if the result is not UTF-8, keep the
/// raw bytes instead. Returns the range written.
fn decode_component(text: &mut Vec<u8>, raw: &[u8]) -> Range<u32> {
    let start = text.len();
    decode_into(text, raw);
    if std::str::from_utf8(&text[start..]).is_err() {
        text.truncate(start);
        text.extend_from_slice(raw);
    }
    start as u32..text.len() as u32
}

impl Scratch {
    fn parse_query(&mut self, query: &[u8]) {
        self.text.clear();
        self.pairs.clear();
        self.order.clear();
        self.groups.clear();
        if query.is_empty() {
            return;
        }
        for part in query.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let n = decode_component(&mut self.text, name);
            let v = decode_component(&mut self.text, value);
            self.pairs.push((n, v));
        }
        let text = &self.text;
        let pairs = &self.pairs;
        let key = |i: u32| {
            let r = &pairs[i as usize].0;
            &text[r.start as usize..r.end as usize]
        };
        self.order.extend(0..pairs.len() as u32);
        self.order
            .sort_unstable_by(|&a, &b| key(a).cmp(key(b)).then(a.cmp(&b)));
        let mut start = 0;
        while start < self.order.len() {
            let first = self.order[start];
            let mut end = start + 1;
            while end < self.order.len() && key(self.order[end]) == key(first) {
                end += 1;
            }
            self.groups.push((first, start as u32, end as u32));
            start = end;
        }
        self.groups.sort_unstable_by_key(|g| g.0);
    }

    fn slice(&self, r: &Range<u32>) -> &[u8] {
        &self.text[r.start as usize..r.end as usize]
    }

    fn write_query(&self, out: &mut Vec<u8>, shape: QueryShape) {
        let mut o = Object::open(out);
        for &(first, start, end) in &self.groups {
            let name = self.slice(&self.pairs[first as usize].0);
            o.key_bytes(out, name);
            let members = &self.order[start as usize..end as usize];
            let value = |i: &u32| self.slice(&self.pairs[*i as usize].1);
            match shape {
                QueryShape::Last => {
                    json::string(out, members.last().map(value).unwrap_or(b""));
                }
                QueryShape::List => {
                    out.push(b'[');
                    for (k, i) in members.iter().enumerate() {
                        if k > 0 {
                            out.push(b',');
                        }
                        json::string(out, value(i));
                    }
                    out.push(b']');
                }
                QueryShape::Joined => {
                    out.push(b'"');
                    for (k, i) in members.iter().enumerate() {
                        if k > 0 {
                            out.push(b',');
                        }
                        json::escaped(out, value(i));
                    }
                    out.push(b'"');
                }
            }
        }
        o.close(out);
    }

    /// The percent-decoded path as a JSON string.
    fn write_decoded_path(&mut self, out: &mut Vec<u8>, raw: &[u8]) {
        if memchr::memchr(b'%', raw).is_none() {
            json::string(out, raw);
            return;
        }
        self.path.clear();
        decode_component(&mut self.path, raw);
        json::string(out, &self.path);
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
