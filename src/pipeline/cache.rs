//! The cache step of the request's way, after routing and before the
//! integration: look the request up in its stage's cache on this worker;
//! on a hit answer from the entry; on a miss let the integration run with a
//! [`Fill`] parked in the request, which [`Capture`] feeds while the
//! response streams to the client.
//!
//! Rules (API Gateway's; README "Response cache"):
//!
//! * A request is cached when its stage has a cache, its route's `cache`
//!   is enabled for the request's method (GET by default) and the TTL (the
//!   route's, else the stage's) is above 0. Only `http_proxy` routes for
//!   now: another integration that wants caching calls [`Capture`] the way
//!   `integration::http` does.
//! * `Cache-Control: max-age=0` from a caller who may invalidate
//!   ([`may_invalidate`]) skips the lookup and replaces the entry; from
//!   anyone else the stage's `unauthorized_cache_control_header_strategy`
//!   applies (403, or the header is ignored with or without a `Warning`).
//! * Concurrent misses of one key on one worker: the first fills, the
//!   others wait for it (at most the stage's `fill_wait`) and answer from
//!   the entry; if there is none by then, they go to the origin themselves.
//! * Stored: statuses RFC 9111 calls heuristically cacheable (200, 203,
//!   300, 301, 308, 404, 405, 410, 414, 501) with a body, unless the origin
//!   says `Cache-Control: no-store | no-cache | private`, sets a cookie or
//!   sends `Vary: *` (all ignored with `origin_cache_control: ignore`), and
//!   bodies up to the stage's `max_entry_bytes`.
//! * Hits carry `Age`, and with `x_cache_header` responses of cached
//!   routes say `X-Cache: Hit` or `Miss`. Hits and misses are noted in
//!   the request's facts (`Facts::cache_hit`), which the observer turns
//!   into the route's CacheHitCount / CacheMissCount.
//!
//! Guarantees: a hit allocates nothing (the key is built into the stage
//! cache's reusable buffer; bodies up to 16 KiB go out with the head in one
//! write, larger ones straight from the entry without a copy); requests of
//! routes without a cache pay one branch.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use crate::tls::Stream;
use monoio::buf::IoBuf;
use monoio::io::AsyncWriteRentExt;

use crate::cache::entry::Entry;
use crate::cache::flush::Board;
use crate::cache::stage::{Fill, StageCache};
use crate::cache::{control, key};
use crate::config::{CacheSettings, Integration, RouteKey, UnauthorizedCacheControl};
use crate::proto::http1::{Framing, Method, ResponseHead};
use crate::server::body::BodyError;
use crate::server::bufpool::{BUF_SIZE, Bufs};
use crate::server::core::Core;
use crate::server::io;

use super::gateway_response::GatewayResponse;
use super::{Exchange, Request, respond_error, response};

/// Bodies up to this size are copied behind the head (one write); larger
/// ones are written from the entry itself.
const INLINE_BODY: usize = BUF_SIZE;

/// The `Warning` an unauthorized `Cache-Control: max-age=0` gets with
/// `SUCCEED_WITH_RESPONSE_HEADER`.
const WARNING: &[u8] = b"Warning: 199 - \"Cache-Control max-age=0 ignored: the caller is not authorized to invalidate the cache\"\r\n";

/// The cache's part of one request.
#[derive(Debug, Default)]
pub struct CacheStep {
    /// The fill this request performs, taken by the integration's [`Capture`].
    fill: RefCell<Option<Fill>>,
    /// `X-Cache` value for the origin's response (`None`: no header).
    x_cache: Cell<Option<&'static [u8]>>,
    /// Send [`WARNING`] with the response.
    warning: Cell<bool>,
}

impl CacheStep {
    /// The per-request header lines this step adds to an origin's response.
    fn write_headers(&self, out: &mut Vec<u8>) {
        if let Some(v) = self.x_cache.get() {
            response::header(out, b"X-Cache", v);
        }
        if self.warning.get() {
            out.extend_from_slice(WARNING);
        }
    }
}

/// What the pipeline does after the lookup.
#[derive(Debug)]
pub enum Step {
    /// Run the integration (a miss with a fill parked, or no caching).
    Integrate,
    /// The request was answered; whether the connection may go on.
    Answered(bool),
}

/// Whether the caller may invalidate a cache entry with `Cache-Control:
/// max-age=0` (API Gateway's `execute-api:InvalidateCache` on the method).
/// With `require_authorization_for_cache_control: false` anybody may.
pub fn may_invalidate(req: &Request<'_>, settings: &CacheSettings) -> bool {
    !settings.require_authorization_for_cache_control || authorized_to_invalidate(req)
}

/// The authorization hook: whether the request's authorizer granted
/// `execute-api:InvalidateCache` on the method (a Lambda authorizer's
/// policy, evaluated by the authorize step).
pub fn authorized_to_invalidate(req: &Request<'_>) -> bool {
    req.may_invalidate_cache.get()
}

/// Look the request up; answer hits (and refused invalidations) here.
pub async fn lookup(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
) -> Step {
    let Some(m) = req.route else {
        return Step::Integrate;
    };
    let Some(cache) = ex.active.caches.get(m.api, m.stage) else {
        return Step::Integrate;
    };
    let api = &ex.active.gw().apis[m.api];
    let route = &api.deployments[m.deployment].routes[m.route];
    let side: &[u8] = if m.deployment == api.stages[m.stage].deployment {
        b"stage"
    } else {
        b"canary"
    };
    let rc = &route.cache;
    if !matches!(route.integration, Integration::HttpProxy(_))
        || !rc.enabled
        || !rc.methods.contains(&req.method)
    {
        return Step::Integrate;
    }
    let settings = &cache.settings;
    let ttl = rc.ttl_seconds.unwrap_or(settings.ttl_seconds);
    if ttl == 0 {
        return Step::Integrate;
    }
    let resource = match &route.key {
        RouteKey::Path { path, .. } => path.as_str(),
        RouteKey::Default => "$default",
    };
    let make_key = |bufs: &Bufs| {
        let mut k = cache.key_buf();
        key::build(
            &mut k,
            side,
            resource,
            &rc.key_parameters,
            key::View {
                rd: &bufs.rd,
                head: &bufs.head,
                params: &bufs.params,
            },
        );
        cache.hash(&k)
    };
    let mut hash = make_key(bufs);

    let refresh = {
        let head = &bufs.head;
        let values = head
            .headers
            .iter()
            .filter(|(n, _)| n.get(&bufs.rd).eq_ignore_ascii_case(b"cache-control"))
            .map(|(_, v)| v.get(&bufs.rd));
        control::wants_refresh(values)
    };
    let mut skip_lookup = false;
    if refresh {
        if may_invalidate(req, settings) {
            skip_lookup = true;
            cache.count(|t| t.invalidations += 1);
        } else {
            cache.count(|t| t.unauthorized += 1);
            match settings.unauthorized_strategy {
                UnauthorizedCacheControl::FailWith403 => {
                    bufs.rd.drain(..req.head_len);
                    let keep = req.framing == Framing::None;
                    let gr = GatewayResponse::AccessDenied;
                    return Step::Answered(
                        respond_error(core, ex, stream, bufs, req, gr, keep).await,
                    );
                }
                UnauthorizedCacheControl::SucceedWithResponseHeader => req.cache.warning.set(true),
                UnauthorizedCacheControl::SucceedWithoutResponseHeader => {}
            }
        }
    }

    let mut coalesce = true;
    if !skip_lookup {
        let started = Instant::now();
        let found = cache.lookup(hash, &cache.key_buf(), cache.now_ms(started));
        if let Some(entry) = found {
            return Step::Answered(hit(core, ex, stream, bufs, req, cache, entry, started).await);
        }
        if let Some(p) = cache.pending(hash) {
            // Another request fills this key: wait for it, then look again
            // (the key buffer served other requests meanwhile).
            cache.count(|t| t.coalesced += 1);
            let _ = monoio::time::timeout(settings.fill_wait, p.done.wait()).await;
            drop(p);
            let now = Instant::now();
            hash = make_key(bufs);
            let found = cache.lookup(hash, &cache.key_buf(), cache.now_ms(now));
            if let Some(entry) = found {
                return Step::Answered(hit(core, ex, stream, bufs, req, cache, entry, now).await);
            }
            coalesce = false;
        }
    }

    req.facts.cache_hit.set(Some(false));
    cache.count(|t| t.misses += 1);
    if settings.x_cache_header {
        req.cache.x_cache.set(Some(b"Miss"));
    }
    let fill = cache.fill(hash, &cache.key_buf(), u64::from(ttl) * 1000, coalesce);
    *req.cache.fill.borrow_mut() = Some(fill);
    Step::Integrate
}

/// The entry's bytes as an owned buffer for a zero-copy write.
struct EntryBuf(Rc<Entry>);

// SAFETY: an `Entry`'s bytes are a boxed slice that is never changed after
// it is built; the `Rc` keeps them alive (and at one address) for as long as
// the write operation owns this value.
unsafe impl IoBuf for EntryBuf {
    fn read_ptr(&self) -> *const u8 {
        self.0.bytes().as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.0.bytes().len()
    }
}

/// Answer from `entry`: the request's body is read and dropped, then the
/// stored head with this request's own lines, then the body.
#[allow(clippy::too_many_arguments)]
async fn hit(
    core: &Core,
    ex: &Exchange,
    stream: &mut Stream,
    bufs: &mut Bufs,
    req: &Request<'_>,
    cache: &StageCache,
    entry: Rc<Entry>,
    now: Instant,
) -> bool {
    req.facts.cache_hit.set(Some(true));
    cache.count(|t| t.hits += 1);
    bufs.rd.drain(..req.head_len);
    let mut keep = req.keep_alive;
    if req.expect_continue && req.framing != Framing::None {
        // Never invite a body that would be dropped (RFC 9110 §10.1.1).
        keep = false;
    } else {
        match super::discard_body(ex, stream, bufs, req).await {
            Ok(()) => {}
            Err(BodyError::TooLarge) => {
                let gr = GatewayResponse::RequestTooLarge;
                return respond_error(core, ex, stream, bufs, req, gr, false).await;
            }
            Err(BodyError::Malformed) => {
                let gr = GatewayResponse::BadRequest;
                return respond_error(core, ex, stream, bufs, req, gr, false).await;
            }
            Err(_) => return false,
        }
    }
    let keep = keep && !core.draining.is_fired();
    let wr = &mut bufs.wr;
    wr.clear();
    wr.extend_from_slice(entry.status_line());
    wr.extend_from_slice(entry.headers());
    response::common_headers(wr, &req.common(keep));
    let age = cache.now_ms(now).saturating_sub(entry.stored_at) / 1000;
    wr.extend_from_slice(b"Age: ");
    response::push_u64(wr, age);
    wr.extend_from_slice(b"\r\n");
    if cache.settings.x_cache_header {
        wr.extend_from_slice(b"X-Cache: Hit\r\n");
    }
    if req.cache.warning.get() {
        wr.extend_from_slice(WARNING);
    }
    let body = entry.body();
    response::content_length(wr, body.len() as u64);
    wr.extend_from_slice(b"\r\n");
    let head_len = wr.len();
    let send_body = req.method != Method::Head;
    let body_len = if send_body { body.len() } else { 0 };
    req.facts.responded(entry.status, head_len, body_len as u64);
    let timeout = ex.active.limits.keepalive_timeout;
    if body_len <= INLINE_BODY {
        if send_body {
            wr.extend_from_slice(body);
        }
        return io::write_all(stream, wr, timeout).await.is_ok() && keep;
    }
    if io::write_all(stream, wr, timeout).await.is_err() {
        return false;
    }
    let range = entry.body_range();
    let buf = EntryBuf(entry).slice(range);
    matches!(
        monoio::time::timeout(timeout, stream.write_all(buf)).await,
        Ok((Ok(_), _))
    ) && keep
}

/// Feeds a request's fill (if it has one) from the origin's response as
/// the integration relays it. Dropping it before [`finish`](Self::finish)
/// stores nothing.
#[derive(Debug)]
pub struct Capture {
    fill: Option<Fill>,
}

impl Capture {
    /// Call when `wr` holds the status line and the response's header lines
    /// as the client gets them, and nothing else yet: takes those as the
    /// entry's head when the response may be stored, then appends this
    /// step's own header lines (`X-Cache`, `Warning`).
    pub fn begin(req: &Request<'_>, resp: &ResponseHead, ur: &[u8], wr: &mut Vec<u8>) -> Capture {
        let fill = req.cache.fill.borrow_mut().take().and_then(|mut f| {
            if !storable(resp, ur, f.settings()) {
                f.skip();
                return None;
            }
            let len = match resp.framing {
                Framing::Length(n) => Some(n),
                _ => None,
            };
            f.start(wr, resp.status, len).then_some(f)
        });
        req.cache.write_headers(wr);
        Capture { fill }
    }

    /// Body bytes, decoded, as they go to the client.
    pub fn body(&mut self, piece: &[u8]) {
        if let Some(f) = &mut self.fill {
            f.body(piece);
        }
    }

    /// The whole body arrived: store the entry.
    pub fn finish(&mut self) {
        if let Some(f) = self.fill.take() {
            f.finish(Instant::now());
        }
    }
}

/// The worker's housekeeping tick: apply the admin's flushes posted after
/// `seen` (acknowledging them) and post this worker's cache numbers.
/// Returns the last flush applied.
pub fn housekeeping(core: &Core, board: &Board, seen: u64) -> u64 {
    let active = core.active();
    let mut seen = seen;
    if let Some((last, flushes)) = board.since(seen) {
        for f in &flushes {
            active.caches.flush(f.api.as_deref(), &f.stage);
        }
        board.ack(core.worker, last);
        seen = last;
    }
    board.publish(
        core.worker,
        active.caches.iter().map(|c| c.stats()).collect(),
    );
    seen
}

/// Whether a response may be stored (see the module docs).
fn storable(resp: &ResponseHead, ur: &[u8], settings: &CacheSettings) -> bool {
    let status_ok = matches!(
        resp.status,
        200 | 203 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    );
    if !status_ok || resp.framing == Framing::None {
        return false;
    }
    if settings.ignore_origin_cache_control {
        return true;
    }
    let named = |name: &'static [u8]| {
        resp.headers
            .iter()
            .filter(move |(n, _)| n.get(ur).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.get(ur))
    };
    control::storable(named(b"cache-control"))
        && named(b"set-cookie").next().is_none()
        && !named(b"vary").any(|v| v.split(|&b| b == b',').any(|t| t.trim_ascii() == b"*"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http1::{HeadLimits, parse_response};
    use std::time::Duration;

    fn settings(ignore: bool) -> CacheSettings {
        CacheSettings {
            capacity_bytes: 1 << 20,
            ttl_seconds: 300,
            max_entry_bytes: 1 << 20,
            require_authorization_for_cache_control: true,
            unauthorized_strategy: UnauthorizedCacheControl::SucceedWithResponseHeader,
            ignore_origin_cache_control: ignore,
            x_cache_header: false,
            fill_wait: Duration::from_secs(1),
        }
    }

    fn check(raw: &str, ignore: bool) -> bool {
        let mut head = ResponseHead::default();
        let limits = HeadLimits {
            max_head_bytes: 8192,
            max_headers: 32,
        };
        parse_response(raw.as_bytes(), Method::Get, &limits, &mut head)
            .unwrap()
            .unwrap();
        storable(&head, raw.as_bytes(), &settings(ignore))
    }

    #[test]
    fn what_is_stored() {
        assert!(check("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", false));
        assert!(check(
            "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ));
        assert!(!check(
            "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(!check(
            "HTTP/1.1 206 Partial\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(!check("HTTP/1.1 204 No Content\r\n\r\n", false));
        assert!(!check(
            "HTTP/1.1 200 OK\r\nCache-Control: private\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(!check(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=5, no-store\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(!check(
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=b\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(!check(
            "HTTP/1.1 200 OK\r\nVary: Accept, *\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        assert!(check(
            "HTTP/1.1 200 OK\r\nVary: Accept\r\nContent-Length: 1\r\n\r\n",
            false
        ));
        // `origin_cache_control: ignore`
        assert!(check(
            "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 1\r\n\r\n",
            true
        ));
    }
}
