//! HTTP proxy integration (`HTTP_PROXY`): forward the request to an upstream
//! target over a pooled keep-alive connection and stream the response back.
//!
//! * The upstream request is rebuilt, not copied: a fresh request line from
//!   the integration URI template, `Host` of the target (or the client's with
//!   `pass_host`), hop-by-hop fields dropped (RFC 9110 §7.6.1),
//!   `X-Forwarded-For` appended to, `X-Forwarded-Proto` / `-Port` set,
//!   `traceparent` and `X-Amzn-Trace-Id` replaced by the request's trace with
//!   this hop's span (see `observe::trace`), and exactly one framing field.
//! * Bodies stream both ways; chunked bodies are decoded and re-encoded, so
//!   what reaches either side is framed by this gateway alone.
//! * Retries: a reused pooled connection that fails before any response byte
//!   is retried once on a new connection when the whole request is still in
//!   memory; a refused connect moves to another target for idempotent
//!   methods. Nothing else is retried.
//! * Failures before the response head reached the client become the API's
//!   gateway response (integration failure / timeout); after that, the client
//!   connection is closed.

use std::time::{Duration, Instant};

use crate::tls::Stream;

use crate::config::{HttpProxy, TemplatePart};
use crate::pipeline::gateway_response::GatewayResponse;
use crate::pipeline::response;
use crate::pipeline::{Exchange, Request, respond_error};
use crate::proto::http1::{Framing, LAST_CHUNK, Method, Span, write_chunk_header};
use crate::server::body::BodyReader;
use crate::server::bufpool::{BUF_SIZE, Bufs};
use crate::server::core::{Active, Core};
use crate::server::io;
use crate::upstream::exchange::{Fail, Target, send};

pub async fn proxy(
    core: &Core,
    ex: &Exchange,
    client: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    hp: &HttpProxy,
) -> bool {
    let active = &*ex.active;
    let started = Instant::now();
    let deadline = started + hp.timeout;
    req.facts.integration_start.set(Some(started));
    build_request_head(core, ex, bufs, req, hp);
    bufs.rd.drain(..req.head_len);

    // A body already wholly in memory goes out with the head in one write,
    // and the request can be replayed on a new connection.
    let mut body = BodyReader::new(
        req.framing,
        active.limits.max_body_bytes,
        req.expect_continue,
    );
    let replayable = match req.framing {
        Framing::None => true,
        Framing::Length(n) => bufs.rd.len() as u64 >= n,
        _ => false,
    };
    if replayable
        && let Ok(Some(r)) = body
            .next(client, &mut bufs.rd, active.limits.header_read_timeout)
            .await
    {
        bufs.uw.extend_from_slice(&bufs.rd[r]);
        body.settle(&mut bufs.rd);
    }

    let to = Target {
        upstream: hp.upstream,
        method: req.method,
        idempotent: matches!(
            req.method,
            Method::Get
                | Method::Head
                | Method::Options
                | Method::Put
                | Method::Delete
                | Method::Trace
        ),
    };
    let sent = send(
        core, active, client, bufs, to, &mut body, replayable, deadline,
    )
    .await;
    let mut conn = match sent {
        Ok(c) => c,
        Err(f) => {
            req.facts.request_body.set(body.total);
            return fail(core, ex, client, bufs, req, &body, f).await;
        }
    };
    req.facts.integration_end.set(Some(Instant::now()));
    req.facts.integration_status.set(Some(bufs.resp.status));
    active.observer.metrics.upstream(hp.upstream, conn.reused);
    let (keep, reusable) = relay_response(
        core,
        active,
        client,
        &mut conn.stream,
        bufs,
        req,
        hp.timeout,
    )
    .await;
    active.pools.release(
        conn,
        reusable && body.is_done(),
        core.now.get().max(started),
    );
    req.facts.request_body.set(body.total);
    keep && body.is_done()
}

/// Send the response head and stream its body to the client. Returns
/// (client connection reusable, upstream connection reusable).
async fn relay_response(
    core: &Core,
    active: &Active,
    client: &mut Stream,
    up: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    timeout: Duration,
) -> (bool, bool) {
    let resp = &bufs.resp;
    let framing = resp.framing;
    // HTTP/1.0 clients cannot take chunked: they get a close-delimited body.
    let rechunk = matches!(framing, Framing::Chunked | Framing::Close) && !req.http10;
    // Decided now, not at request start: draining may have begun meanwhile.
    let keep = req.keep_alive
        && !core.draining.is_fired()
        && !(req.http10 && matches!(framing, Framing::Chunked | Framing::Close));
    let head_len = resp.head_len;
    let up_keep = resp.keep_alive;

    let wr = &mut bufs.wr;
    wr.clear();
    response::status_line(wr, resp.status, resp.reason.get(&bufs.ur));
    copy_response_headers(
        wr,
        &bufs.ur,
        &resp.headers,
        framing == Framing::None,
        req.protocol,
        req.replaces_cors,
    );
    // The response cache takes the head so far (a miss being filled).
    let mut capture = crate::pipeline::cache::Capture::begin(req, resp, &bufs.ur, wr);
    response::common_headers(wr, &req.common(keep));
    match framing {
        Framing::Length(n) => response::content_length(wr, n),
        Framing::Chunked | Framing::Close if rechunk => {
            wr.extend_from_slice(b"Transfer-Encoding: chunked\r\n")
        }
        _ => {}
    }
    wr.extend_from_slice(b"\r\n");
    bufs.ur.drain(..head_len);
    let status = bufs.resp.status;
    let head_bytes = bufs.wr.len();

    let write_timeout = active.limits.keepalive_timeout;
    let mut body = BodyReader::new(framing, u64::MAX, false);
    // A small complete body rides with the head in one write.
    if let Framing::Length(n) = framing
        && bufs.ur.len() as u64 >= n
    {
        let n = n as usize;
        bufs.wr.extend_from_slice(&bufs.ur[..n]);
        capture.body(&bufs.ur[..n]);
        capture.finish();
        bufs.ur.clear();
        let ok = io::write_all(client, &mut bufs.wr, write_timeout)
            .await
            .is_ok();
        req.facts.responded(status, head_bytes, n as u64);
        return (ok && keep, ok && up_keep);
    }
    // Counted as sent once the head is written: status and body bytes so far.
    req.facts.responded(status, head_bytes, 0);
    if io::write_all(client, &mut bufs.wr, write_timeout)
        .await
        .is_err()
    {
        return (false, false);
    }
    loop {
        match body.next(up, &mut bufs.ur, timeout).await {
            Ok(Some(r)) => {
                capture.body(&bufs.ur[r.clone()]);
                req.facts
                    .response_length
                    .set(req.facts.response_length.get() + r.len() as u64);
                let ok = if rechunk {
                    bufs.wr.clear();
                    write_chunk_header(&mut bufs.wr, r.len());
                    bufs.wr.extend_from_slice(&bufs.ur[r]);
                    bufs.wr.extend_from_slice(b"\r\n");
                    io::write_all(client, &mut bufs.wr, write_timeout).await
                } else {
                    io::write_range(client, &mut bufs.ur, r.start, r.end, write_timeout).await
                };
                if ok.is_err() {
                    return (false, false);
                }
            }
            Ok(None) => {
                capture.finish();
                break;
            }
            Err(_) => return (false, false),
        }
    }
    if rechunk {
        bufs.wr.clear();
        bufs.wr.extend_from_slice(LAST_CHUNK);
        if io::write_all(client, &mut bufs.wr, write_timeout)
            .await
            .is_err()
        {
            return (false, false);
        }
    }
    body.settle(&mut bufs.ur);
    let up_reusable = up_keep && framing != Framing::Close && bufs.ur.is_empty();
    (keep, up_reusable)
}

async fn fail(
    core: &Core,
    ex: &Exchange,
    client: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    body: &BodyReader,
    f: Fail,
) -> bool {
    if bufs.wr.capacity() == 0 {
        bufs.wr = Vec::with_capacity(BUF_SIZE);
    }
    let gr = match f {
        Fail::Upstream => {
            req.facts.integration_error.set(Some(
                "The upstream refused or reset the connection, or sent a malformed response",
            ));
            GatewayResponse::IntegrationFailure
        }
        Fail::Timeout => {
            req.facts.integration_error.set(Some(
                "The upstream did not answer within the integration timeout",
            ));
            GatewayResponse::IntegrationTimeout
        }
        Fail::ClientTooLarge => GatewayResponse::RequestTooLarge,
        Fail::ClientMalformed => GatewayResponse::BadRequest,
        Fail::ClientGone => return false,
    };
    // The connection continues only if the client's request was read whole.
    let keep = body.is_done();
    respond_error(core, ex, client, bufs, req, gr, keep).await
}

/// Headers a proxy must not forward (RFC 9110 §7.6.1), plus the framing
/// fields this gateway sets itself.
fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"proxy-authenticate",
    ];
    // Most fields are none of these: their length alone says so.
    if !matches!(name.len(), 2 | 7 | 10 | 14 | 16 | 17 | 18) {
        return false;
    }
    HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Whether a `Connection` field of this message names a field to drop (a
/// token other than `close` / `keep-alive`); the common case answers no
/// after one pass, so the per-field check below runs only when needed.
fn connection_nominates(buf: &[u8], headers: &[(Span, Span)]) -> bool {
    headers.iter().any(|(n, v)| {
        n.get(buf).eq_ignore_ascii_case(b"connection")
            && v.get(buf).split(|&b| b == b',').any(|t| {
                let t = t.trim_ascii();
                !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"keep-alive")
            })
    })
}

/// Whether `name` is listed in a `Connection` field of this message.
fn nominated_by_connection(buf: &[u8], headers: &[(Span, Span)], name: &[u8]) -> bool {
    headers.iter().any(|(n, v)| {
        n.get(buf).eq_ignore_ascii_case(b"connection")
            && v.get(buf)
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(name))
    })
}

/// Response headers the REST API remaps to `x-amzn-Remapped-<name>` because
/// the gateway sets its own.
fn rest_remapped(name: &[u8]) -> bool {
    [
        &b"date"[..],
        b"server",
        b"authorization",
        b"www-authenticate",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

fn copy_response_headers(
    wr: &mut Vec<u8>,
    buf: &[u8],
    headers: &[(Span, Span)],
    keep_length: bool,
    protocol: crate::config::Protocol,
    replaces_cors: bool,
) {
    let has_connection = connection_nominates(buf, headers);
    for (n, v) in headers {
        let name = n.get(buf);
        if replaces_cors && crate::pipeline::cors::is_cors_header(name) {
            continue; // the API's CORS settings answer instead
        }
        if name.eq_ignore_ascii_case(b"content-length") && keep_length {
            // HEAD and 304 answers keep the length of the representation.
            response::header(wr, name, v.get(buf));
            continue;
        }
        if is_hop_by_hop(name) || (has_connection && nominated_by_connection(buf, headers, name)) {
            continue;
        }
        if name.eq_ignore_ascii_case(b"date") && protocol == crate::config::Protocol::Http {
            continue; // the gateway's own Date is added below
        }
        if protocol == crate::config::Protocol::Rest && rest_remapped(name) {
            wr.extend_from_slice(b"x-amzn-Remapped-");
        }
        response::header(wr, name, v.get(buf));
    }
}

fn build_request_head(
    core: &Core,
    ex: &Exchange,
    bufs: &mut Bufs,
    req: &Request<'_>,
    hp: &HttpProxy,
) {
    let rd = &bufs.rd;
    let head = &bufs.head;
    let uw = &mut bufs.uw;
    uw.clear();
    uw.extend_from_slice(head.method_span.get(rd));
    uw.push(b' ');
    let mut has_query = false;
    match &hp.path {
        None => {
            let p = head.path.get(rd);
            uw.extend_from_slice(if p.is_empty() { b"/" } else { p });
        }
        Some(t) => {
            for part in &t.parts {
                match part {
                    TemplatePart::Literal(s) => {
                        has_query |= s.contains('?');
                        uw.extend_from_slice(s.as_bytes());
                    }
                    TemplatePart::Param(name) => {
                        let value = bufs.params.get(name).unwrap_or("");
                        push_encoded(uw, value.as_bytes(), name == "proxy" && !has_query);
                    }
                }
            }
        }
    }
    if !head.query.is_empty() {
        uw.push(if has_query { b'&' } else { b'?' });
        uw.extend_from_slice(head.query.get(rd));
    }
    uw.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    match head.host {
        Some(h) if hp.pass_host => uw.extend_from_slice(h.get(rd)),
        _ => uw.extend_from_slice(hp.host_header.as_bytes()),
    }
    uw.extend_from_slice(b"\r\n");
    let has_connection = connection_nominates(rd, &head.headers);
    for (n, v) in &head.headers {
        let name = n.get(rd);
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"host")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"x-forwarded-for")
            || name.eq_ignore_ascii_case(b"x-forwarded-proto")
            || name.eq_ignore_ascii_case(b"x-forwarded-port")
            || name.eq_ignore_ascii_case(b"traceparent")
            || name.eq_ignore_ascii_case(b"x-amzn-trace-id")
            || (has_connection && nominated_by_connection(rd, &head.headers, name))
        {
            continue;
        }
        response::header(uw, name, v.get(rd));
    }
    // The trace, with this hop's span id (see `observe::trace`).
    if let Some(t) = &req.trace {
        uw.extend_from_slice(b"traceparent: ");
        t.write_traceparent(uw);
        uw.extend_from_slice(b"\r\nX-Amzn-Trace-Id: ");
        t.write_amzn_trace_id(uw, head.header(rd, "x-amzn-trace-id"));
        uw.extend_from_slice(b"\r\n");
    }
    // X-Forwarded-For: the client's list, then the address this gateway saw.
    uw.extend_from_slice(b"X-Forwarded-For: ");
    for (n, v) in &head.headers {
        if n.get(rd).eq_ignore_ascii_case(b"x-forwarded-for") {
            uw.extend_from_slice(v.get(rd));
            uw.extend_from_slice(b", ");
        }
    }
    push_ip(uw, ex.peer.ip());
    uw.extend_from_slice(if ex.active.listeners[ex.listener].tls.is_some() {
        b"\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: "
    } else {
        b"\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: "
    });
    response::push_u64(uw, u64::from(core.addrs[ex.listener].port()));
    uw.extend_from_slice(b"\r\n");
    match req.framing {
        Framing::Length(n) => response::content_length(uw, n),
        Framing::Chunked => uw.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    uw.extend_from_slice(b"\r\n");
}

/// The textual form of `ip`; IPv4 without `core::fmt` (it runs per request).
fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                response::push_u64(out, u64::from(*o));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// Percent-encode a decoded path parameter for a URI path (RFC 3986 §3.3);
/// `keep_slash` for greedy `{proxy+}` values, whose `/` separate segments.
fn push_encoded(out: &mut Vec<u8>, s: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        // RFC 3986 pchar (unreserved, sub-delims, `:`, `@`); `/` only for greedy values.
        let plain = crate::route::is_pchar(b) || (keep_slash && b == b'/');
        if plain {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_params() {
        let mut out = Vec::new();
        push_encoded(&mut out, b"a b/c", false);
        assert_eq!(out, b"a%20b%2Fc");
        out.clear();
        push_encoded(&mut out, b"a b/c", true);
        assert_eq!(out, b"a%20b/c");
    }

    #[test]
    fn formats_addresses() {
        let mut out = Vec::new();
        push_ip(&mut out, "10.0.255.1".parse().unwrap());
        assert_eq!(out, b"10.0.255.1");
        out.clear();
        push_ip(&mut out, "::1".parse().unwrap());
        assert_eq!(out, b"::1");
    }

    #[test]
    fn connection_tokens_that_nominate_fields() {
        let buf = b"connectionkeep-alive, Closex-secret";
        let h =
            |a: u32, b: u32, c: u32, d: u32| (Span { start: a, end: b }, Span { start: c, end: d });
        assert!(!connection_nominates(buf, &[h(0, 10, 10, 27)]));
        assert!(connection_nominates(buf, &[h(0, 10, 10, 35)]));
    }

    #[test]
    fn hop_by_hop_is_case_insensitive() {
        assert!(is_hop_by_hop(b"Transfer-Encoding"));
        assert!(is_hop_by_hop(b"KEEP-ALIVE"));
        assert!(!is_hop_by_hop(b"x-api-key"));
        for name in [
            "Connection",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Content-Length",
            "Proxy-Authenticate",
        ] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
        }
        assert!(!is_hop_by_hop(b"tea"));
        assert!(!is_hop_by_hop(b"content-lengths"));
    }
}
