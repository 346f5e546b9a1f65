//! The HTTP/2 server: h2 over monoio's poll-io (TLS with ALPN `h2`, or h2c
//! with prior knowledge), each stream's request run through the same
//! pipeline as HTTP/1.
//!
//! The adapter: a stream's request becomes an HTTP/1.1 head (`:authority`
//! → `Host`, the body's exact `Content-Length`, connection-specific fields
//! dropped) followed by its body, parsed by the HTTP/1 parser into the
//! request's [`Bufs`], and the pipeline runs against an in-memory stream;
//! the HTTP/1 response it writes is parsed back (Content-Length or chunked)
//! and sent as HEADERS and DATA. So routing, throttles, caches,
//! integrations, gateway responses, access logs and metrics are the HTTP/1
//! ones, by construction.
//!
//! Limits (per listener, `http2:`): concurrent streams, header list size,
//! Rapid Reset (`max_pending_accept_reset_streams`), streams reset for the
//! client's errors (`max_local_error_reset_streams`); past them h2 sends
//! GOAWAY and the connection ends, others are unaffected. CONTINUATION
//! floods end at the header list size; PING and SETTINGS floods at
//! `h2_watch::MAX_PER_SECOND` (see `h2_watch`). Request bodies
//! are bounded by `limits.max_body_bytes` (past it: 413).
//!
//! Does not (yet): stream bodies (both are buffered whole), server push,
//! trailers, extended CONNECT.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use monoio::io::poll_io::{AsyncRead, AsyncWrite};

use crate::pipeline::{self, Exchange};
use crate::proto::http1::{Chunk, response_framing};
use crate::proto::http1::{
    ChunkedDecoder, Framing, HeadLimits, Method, parse_request, parse_response,
};
use crate::server::bufpool::Bufs;
use crate::server::core::Core;
use crate::server::h2_watch::{Verdict, Watched};
use crate::tls::stream::{MemStream, Stream};

/// Request body bytes read and dropped past `max_body_bytes` before the 413.
const DRAIN_AFTER_413: usize = 1024 * 1024;

/// The HTTP/2 connection preface a client with prior knowledge starts with.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Counts the connection while it lives.
struct Open(Rc<Core>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

/// Serve one HTTP/2 connection until the client or the gateway ends it.
pub async fn serve<IO>(
    core: Rc<Core>,
    listener: usize,
    io: IO,
    peer: SocketAddr,
    subject: Option<Rc<str>>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + 'static,
{
    core.connections.set(core.connections.get() + 1);
    let _open = Open(core.clone());
    let active = core.active();
    let h = active.gw().listeners[listener].http2;
    let timeout = active.limits.header_read_timeout;
    drop(active);
    let mut b = h2::server::Builder::new();
    b.max_concurrent_streams(h.max_concurrent_streams)
        .max_header_list_size(h.max_header_list_size)
        .max_pending_accept_reset_streams(h.max_pending_accept_reset_streams as usize)
        .max_local_error_reset_streams(Some(h.max_local_error_reset_streams as usize))
        .initial_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024);
    let verdict = Rc::new(Verdict::default());
    let io = Watched::new(io, verdict.clone());
    let mut conn = match monoio::time::timeout(timeout, b.handshake::<_, Bytes>(io)).await {
        Ok(Ok(c)) => c,
        _ => return,
    };
    let keepalive = core.active().limits.keepalive_timeout;
    let mut deadline = std::time::Instant::now() + keepalive;
    loop {
        let next = monoio::select! {
            biased;
            _ = core.draining.wait() => None,
            _ = core.idle.sleep_until(deadline) => {
                if conn.has_streams() {
                    deadline = std::time::Instant::now() + keepalive;
                    continue;
                }
                // Idle past the keep-alive timeout: GOAWAY and close.
                None
            }
            _ = verdict.notify.wait() => {
                // A PING or SETTINGS flood: GOAWAY, and the connection ends.
                conn.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                let _ = monoio::time::timeout(
                    std::time::Duration::from_secs(1),
                    async { while let Some(Ok(_)) = conn.accept().await {} },
                )
                .await;
                return;
            }
            r = conn.accept() => Some(r),
        };
        match next {
            Some(Some(Ok((req, respond)))) => {
                deadline = core.now.get() + keepalive;
                monoio::spawn(stream(
                    core.clone(),
                    listener,
                    peer,
                    subject.clone(),
                    req,
                    respond,
                ));
            }
            // Closed by the client, or a connection error (h2 sent GOAWAY).
            Some(None) | Some(Some(Err(_))) => return,
            None => {
                // Draining or idle: GOAWAY, then finish the streams already open.
                conn.graceful_shutdown();
                while let Some(r) = conn.accept().await {
                    match r {
                        Ok((req, respond)) => {
                            monoio::spawn(stream(
                                core.clone(),
                                listener,
                                peer,
                                subject.clone(),
                                req,
                                respond,
                            ));
                        }
                        Err(_) => return,
                    }
                }
                return;
            }
        }
    }
}

/// Fields that are about one HTTP/1 connection, never forwarded across versions.
fn connection_specific(name: &[u8]) -> bool {
    [
        &b"connection"[..],
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
        b"te",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n))
}

async fn stream(
    core: Rc<Core>,
    listener: usize,
    peer: SocketAddr,
    subject: Option<Rc<str>>,
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let active = core.active();
    let max_body = active.limits.max_body_bytes;
    let (parts, mut body) = req.into_parts();
    let mut bufs = core.bufs.take();
    bufs.rd.clear();
    if let Some(hp) = h2_upstream(&core, &active, listener, &parts, &mut bufs) {
        core.bufs.give(bufs);
        let ex = Exchange {
            listener,
            peer,
            active: active.clone(),
            client_cert_subject: subject,
        };
        crate::integration::h2_proxy::relay(&core, &ex, hp, parts, body, respond).await;
        return;
    }
    // The body first (bounded), so the head can state its length.
    let mut data = std::mem::take(&mut bufs.scratch);
    data.clear();
    let mut too_large = false;
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            core.bufs.give(bufs);
            return;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if (data.len() + chunk.len()) as u64 > max_body {
            too_large = true;
            break;
        }
        data.extend_from_slice(&chunk);
    }
    if too_large {
        // Read (and drop) a bounded amount more, so a client that is still
        // sending usually gets to the end of its body before the 413: some
        // clients treat the reset that follows an early answer as an error.
        let mut left = DRAIN_AFTER_413;
        while left > 0
            && let Some(Ok(chunk)) = body.data().await
        {
            let _ = body.flow_control().release_capacity(chunk.len());
            left = left.saturating_sub(chunk.len());
        }
    }
    write_head(&parts, &mut bufs.rd, data.len() as u64, too_large, max_body);
    let method = Method::parse(parts.method.as_str().as_bytes());
    let parsed = parse_request(&bufs.rd, &active.head_limits, &mut bufs.head);
    if !too_large {
        bufs.rd.extend_from_slice(&data);
    }
    data.clear();
    bufs.scratch = data;
    let mut mem = Stream::Mem(Box::default());
    match parsed {
        Ok(Some(_)) => {
            let ex = Exchange {
                listener,
                peer,
                active,
                client_cert_subject: subject,
            };
            core.futures
                .run(pipeline::run(&core, &ex, &mut mem, &mut bufs))
                .await;
        }
        Ok(None) | Err(_) => {
            let status = match parsed {
                Err(r) => r.status(),
                _ => 400,
            };
            let mut r = http::Response::new(());
            *r.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
            let _ = respond.send_response(r, true);
            core.bufs.give(bufs);
            return;
        }
    }
    let Stream::Mem(mem) = mem else {
        return;
    };
    send(&mut respond, &mem, method, &mut bufs);
    bufs.rd.clear();
    core.bufs.give(bufs);
}

/// When the request routes to an `http_proxy` integration whose upstream
/// speaks HTTP/2, that integration (the stream is then relayed as a
/// stream, see `integration::h2_proxy`). Only looked up when some upstream
/// speaks HTTP/2.
fn h2_upstream<'a>(
    core: &Core,
    active: &'a crate::server::core::Active,
    listener: usize,
    parts: &http::request::Parts,
    bufs: &mut Bufs,
) -> Option<&'a crate::config::HttpProxy> {
    use crate::config::{Integration, UpstreamProtocol};
    use crate::route::{Lookup, Selected, choose_deployment};
    let gw = active.gw();
    if !gw
        .upstreams
        .iter()
        .any(|u| u.protocol == UpstreamProtocol::H2)
    {
        return None;
    }
    write_head(parts, &mut bufs.rd, 0, false, 0);
    let parsed = parse_request(&bufs.rd, &active.head_limits, &mut bufs.head);
    let found = (|| {
        parsed.ok()??;
        let (rd, head) = (&bufs.rd, &bufs.head);
        let table = &active.listeners[listener].table;
        let path = head.path.get(rd);
        let Selected::Stage(sm) = table.select(head.host.map(|h| h.get(rd)), path) else {
            return None;
        };
        let stage = &gw.apis[sm.api].stages[sm.stage];
        let headers = head.headers.iter().map(|(n, v)| (n.get(rd), v.get(rd)));
        let d = choose_deployment(stage, headers, || core.ids.next_u64());
        let Lookup::Found(m) = table.route(
            sm,
            d,
            head.method,
            head.method_span.get(rd),
            path,
            &mut bufs.params,
        ) else {
            return None;
        };
        match &gw.apis[m.api].deployments[m.deployment].routes[m.route].integration {
            Integration::HttpProxy(hp)
                if gw.upstreams[hp.upstream].protocol == UpstreamProtocol::H2 =>
            {
                Some(hp)
            }
            _ => None,
        }
    })();
    bufs.rd.clear();
    found
}

/// The stream's request as an HTTP/1.1 head.
fn write_head(
    parts: &http::request::Parts,
    out: &mut Vec<u8>,
    len: u64,
    too_large: bool,
    max_body: u64,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let authority = parts.uri.authority();
    if let Some(a) = authority {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(a.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut cookies = 0;
    for (n, v) in &parts.headers {
        let name = n.as_str().as_bytes();
        if connection_specific(name)
            || n == http::header::CONTENT_LENGTH
            || n == http::header::EXPECT
            || (authority.is_some() && n == http::header::HOST)
        {
            continue;
        }
        if n == http::header::COOKIE {
            cookies += 1;
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if cookies > 0 {
        // RFC 9113 §8.2.3: split cookie fields are joined for HTTP/1.
        out.extend_from_slice(b"cookie: ");
        for (i, v) in parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .enumerate()
        {
            if i > 0 {
                out.extend_from_slice(b"; ");
            }
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    let len = if too_large { max_body + 1 } else { len };
    if len > 0
        || !matches!(
            parts.method,
            http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::OPTIONS
        )
    {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A response field's name; the gateway's own names without an allocation.
fn header_name(name: &[u8]) -> Option<http::HeaderName> {
    for known in [
        "apigw-requestid",
        "x-amzn-requestid",
        "x-amz-apigw-id",
        "x-amzn-errortype",
    ] {
        if name.eq_ignore_ascii_case(known.as_bytes()) {
            return Some(http::HeaderName::from_static(known));
        }
    }
    http::HeaderName::from_bytes(name).ok()
}

/// Parse the pipeline's HTTP/1 response and send it on the stream.
fn send(respond: &mut SendResponse<Bytes>, mem: &MemStream, method: Method, bufs: &mut Bufs) {
    let out = &mem.output;
    let limits = HeadLimits {
        max_head_bytes: out.len().max(1),
        max_headers: crate::proto::http1::MAX_HEADERS_CAP,
    };
    let head_len = match parse_response(out, method, &limits, &mut bufs.resp) {
        Ok(Some(n)) => n,
        _ => {
            respond.send_reset(h2::Reason::INTERNAL_ERROR);
            return;
        }
    };
    let framing = response_framing(out, method, &bufs.resp).unwrap_or(Framing::Close);
    let rest = &out[head_len..];
    let body: Vec<u8> = match framing {
        Framing::None => Vec::new(),
        Framing::Length(n) => rest[..(n as usize).min(rest.len())].to_vec(),
        Framing::Close => rest.to_vec(),
        Framing::Chunked => {
            let mut dec = ChunkedDecoder::new();
            let mut body = Vec::new();
            let mut at = 0;
            while let Ok((used, Chunk::Data(r))) = dec.decode(&rest[at..]) {
                body.extend_from_slice(&rest[at + r.start..at + r.end]);
                at += used;
            }
            body
        }
    };
    let mut resp = http::Response::new(());
    *resp.status_mut() =
        http::StatusCode::from_u16(bufs.resp.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let headers = resp.headers_mut();
    for (n, v) in &bufs.resp.headers {
        let name = n.get(out);
        if connection_specific(name)
            || (framing == Framing::Chunked && name.eq_ignore_ascii_case(b"content-length"))
        {
            continue;
        }
        if let (Some(n), Ok(v)) = (header_name(name), http::HeaderValue::from_bytes(v.get(out))) {
            headers.append(n, v);
        }
    }
    let end = body.is_empty();
    if let Ok(mut s) = respond.send_response(resp, end)
        && !end
    {
        let _ = s.send_data(Bytes::from(body), true);
    }
}
