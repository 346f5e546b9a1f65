//! One request–response exchange with an upstream, up to the response head:
//! a pooled connection checked out, the request written (and the client's
//! body streamed after it when it is not wholly in memory), the response
//! head read into `bufs.ur` / `bufs.resp`. Shared by the integrations that
//! speak HTTP/1.1 to an upstream (`http_proxy`, `lambda`).
//!
//! Retries: a reused pooled connection that fails before any response byte
//! is retried once on a new connection when the whole request is still in
//! memory (`replayable`); a refused connect moves to another target when the
//! request is `idempotent`. Nothing else is retried.

use std::time::{Duration, Instant};

use crate::tls::Stream;

use crate::proto::http1::{Framing, LAST_CHUNK, Method, parse_response, write_chunk_header};
use crate::server::body::{BodyError, BodyReader};
use crate::server::bufpool::{BUF_SIZE, Bufs};
use crate::server::core::{Active, Core};
use crate::server::io::{self, IoFail};
use crate::upstream::Checkout;

/// How the upstream leg failed.
#[derive(Debug)]
pub enum Fail {
    /// Refused, reset, closed early, malformed response.
    Upstream,
    /// The integration timeout passed.
    Timeout,
    /// The client's body was larger than allowed (answer 413 and close).
    ClientTooLarge,
    /// The client's body was malformed (answer 400 and close).
    ClientMalformed,
    /// The client went away; nothing to answer.
    ClientGone,
}

/// Where a request goes, and what may be retried.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Index into the configuration's upstreams.
    pub upstream: usize,
    /// The request's method (a HEAD response has no body).
    pub method: Method,
    /// A refused connect may move to another target.
    pub idempotent: bool,
}

/// Get a connection, write `bufs.uw` (and stream `body` from the client
/// after it unless `replayable`), and read the response head into
/// `bufs.ur` / `bufs.resp`.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    core: &Core,
    active: &Active,
    client: &mut Stream,
    bufs: &mut Bufs,
    to: Target,
    body: &mut BodyReader,
    replayable: bool,
    deadline: Instant,
) -> Result<Checkout, Fail> {
    let up = to.upstream;
    let mut target = active.pools.pick(up, &core.ids);
    let mut retried = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut conn = match monoio::time::timeout(
            left,
            active.pools.checkout(up, target, core.now.get(), !retried),
        )
        .await
        {
            Err(_) => return Err(Fail::Timeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Fail::Timeout),
            Ok(Err(_)) => {
                let n = active.pools.target_count(up);
                if to.idempotent && replayable && !retried && n > 1 {
                    retried = true;
                    target = (target + 1) % n;
                    continue;
                }
                return Err(Fail::Upstream);
            }
            Ok(Ok(c)) => c,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let wrote = io::write_all(&mut conn.stream, &mut bufs.uw, left).await;
        if bufs.uw.capacity() == 0 {
            bufs.uw = Vec::with_capacity(BUF_SIZE);
        }
        let stale = |c: &Checkout| c.reused && replayable && !retried;
        match wrote {
            Ok(()) => {}
            Err(IoFail::Timeout) => return Err(Fail::Timeout),
            Err(_) if stale(&conn) => {
                retried = true;
                continue;
            }
            Err(_) => return Err(Fail::Upstream),
        }
        if !replayable {
            stream_body(active, client, &mut conn.stream, bufs, body, deadline).await?;
        }
        match read_response_head(active, &mut conn.stream, bufs, to.method, deadline).await {
            Ok(()) => return Ok(conn),
            Err(ReadFail::Timeout) => return Err(Fail::Timeout),
            Err(ReadFail::ClosedEmpty) if stale(&conn) => {
                retried = true;
                continue;
            }
            Err(_) => return Err(Fail::Upstream),
        }
    }
}

/// Forward the client's body as it arrives.
async fn stream_body(
    active: &Active,
    client: &mut Stream,
    upstream: &mut Stream,
    bufs: &mut Bufs,
    body: &mut BodyReader,
    deadline: Instant,
) -> Result<(), Fail> {
    let chunked = body.framing() == Framing::Chunked;
    loop {
        let piece = body
            .next(client, &mut bufs.rd, active.limits.header_read_timeout)
            .await;
        let left = deadline.saturating_duration_since(Instant::now());
        match piece {
            Ok(Some(r)) => {
                bufs.uw.clear();
                if chunked {
                    write_chunk_header(&mut bufs.uw, r.len());
                    bufs.uw.extend_from_slice(&bufs.rd[r]);
                    bufs.uw.extend_from_slice(b"\r\n");
                    write_up(upstream, &mut bufs.uw, left).await?;
                } else {
                    write_range_up(upstream, &mut bufs.rd, r.start, r.end, left).await?;
                }
            }
            Ok(None) => {
                if chunked {
                    bufs.uw.clear();
                    bufs.uw.extend_from_slice(LAST_CHUNK);
                    write_up(upstream, &mut bufs.uw, left).await?;
                }
                body.settle(&mut bufs.rd);
                return Ok(());
            }
            Err(e) => return Err(client_fail(e)),
        }
    }
}

/// What a failure to read the client's body means for the exchange.
pub fn client_fail(e: BodyError) -> Fail {
    match e {
        BodyError::TooLarge => Fail::ClientTooLarge,
        BodyError::Malformed => Fail::ClientMalformed,
        _ => Fail::ClientGone,
    }
}

async fn write_up(up: &mut Stream, buf: &mut Vec<u8>, left: Duration) -> Result<(), Fail> {
    let r = io::write_all(up, buf, left).await;
    if buf.capacity() == 0 {
        *buf = Vec::with_capacity(BUF_SIZE);
    }
    r.map_err(|e| match e {
        IoFail::Timeout => Fail::Timeout,
        _ => Fail::Upstream,
    })
}

async fn write_range_up(
    up: &mut Stream,
    buf: &mut Vec<u8>,
    start: usize,
    end: usize,
    left: Duration,
) -> Result<(), Fail> {
    let r = io::write_range(up, buf, start, end, left).await;
    if buf.capacity() == 0 {
        *buf = Vec::with_capacity(BUF_SIZE);
    }
    r.map_err(|e| match e {
        IoFail::Timeout => Fail::Timeout,
        _ => Fail::Upstream,
    })
}

enum ReadFail {
    Timeout,
    /// Closed before any response byte (a stale pooled connection looks so).
    ClosedEmpty,
    Broken,
}

async fn read_response_head(
    active: &Active,
    up: &mut Stream,
    bufs: &mut Bufs,
    method: Method,
    deadline: Instant,
) -> Result<(), ReadFail> {
    bufs.ur.clear();
    loop {
        if !bufs.ur.is_empty() {
            match parse_response(&bufs.ur, method, &active.head_limits, &mut bufs.resp) {
                Ok(Some(n)) => {
                    if (100..200).contains(&bufs.resp.status) && bufs.resp.status != 101 {
                        bufs.ur.drain(..n);
                        continue;
                    }
                    return Ok(());
                }
                Ok(None) => {}
                Err(_) => return Err(ReadFail::Broken),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let was_empty = bufs.ur.is_empty();
        match io::read_more(up, &mut bufs.ur, BUF_SIZE, left).await {
            Ok(_) => {}
            Err(IoFail::Timeout) => {
                bufs.ur = Vec::with_capacity(BUF_SIZE);
                return Err(ReadFail::Timeout);
            }
            Err(IoFail::Closed) if was_empty => return Err(ReadFail::ClosedEmpty),
            Err(IoFail::Io(e)) if was_empty && e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(ReadFail::ClosedEmpty);
            }
            Err(_) => return Err(ReadFail::Broken),
        }
    }
}
