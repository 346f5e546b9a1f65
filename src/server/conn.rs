//! One client connection: wait for bytes (holding no buffer while idle),
//! read and parse a request head under the header timeout, hand the
//! exchange to the pipeline, and repeat while the connection may be reused.
//! Rejected heads get their 4xx and the connection is closed (RFC 9112 §9.6:
//! after a framing error the rest of the stream cannot be trusted).

use std::net::SocketAddr;
use std::rc::Rc;

use monoio::net::TcpStream;

use crate::pipeline::gateway_response::GatewayResponse;
use crate::pipeline::response::Common;
use crate::pipeline::{self, Exchange};
use crate::proto::http1::{Reject, Version, parse_request};
use crate::server::bufpool::{BUF_SIZE, Bufs};
use crate::server::core::{Active, Core};
use crate::server::io::{self, IoFail};

/// Counts the connection while it lives.
struct Open<'a>(&'a Core);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

enum Head {
    Ready,
    /// The client went away (or was idle past a timeout before sending anything).
    Gone,
    Reject(GatewayResponse),
}

pub async fn serve(core: Rc<Core>, listener: usize, mut stream: TcpStream, peer: SocketAddr) {
    core.connections.set(core.connections.get() + 1);
    let _open = Open(&core);
    let _ = stream.set_nodelay(true);
    let mut held: Option<Box<Bufs>> = None;
    loop {
        let mut bufs = match held.take() {
            Some(b) => b,
            None => {
                if core.draining.is_fired() {
                    return;
                }
                let keepalive = core.active().limits.keepalive_timeout;
                let ready = monoio::select! {
                    biased;
                    _ = core.draining.wait() => false,
                    r = monoio::time::timeout(keepalive, stream.readable(true)) => matches!(r, Ok(Ok(()))),
                };
                if !ready {
                    return;
                }
                core.bufs.take()
            }
        };
        // The configuration this request runs on, start to end.
        let active = core.active();
        match read_head(&active, &mut stream, &mut bufs).await {
            Head::Ready => {}
            Head::Gone => {
                core.bufs.give(bufs);
                return;
            }
            Head::Reject(gr) => {
                let protocol = active.listeners[listener].protocol;
                let id = core.request_id(protocol);
                bufs.wr.clear();
                let mut date = [0u8; crate::observe::clock::DATE_LEN];
                core.date.copy_to(&mut date);
                let common = Common {
                    protocol,
                    request_id: &id,
                    http10: false,
                    keep_alive: false,
                    date: &date,
                };
                gr.write(&mut bufs.wr, &common, false);
                let _ = io::write_all(&mut stream, &mut bufs.wr, active.limits.header_read_timeout)
                    .await;
                core.bufs.give(bufs);
                return;
            }
        }
        let ex = Exchange {
            listener,
            peer,
            active,
        };
        let keep = pipeline::run(&core, &ex, &mut stream, &mut bufs).await;
        if !keep {
            bufs.rd.clear();
            core.bufs.give(bufs);
            return;
        }
        if bufs.rd.is_empty() {
            core.bufs.give(bufs);
        } else {
            held = Some(bufs);
        }
    }
}

/// Read until a whole head is in `bufs.rd` and parsed into `bufs.head`.
async fn read_head(active: &Active, stream: &mut TcpStream, bufs: &mut Bufs) -> Head {
    let deadline = monoio::time::Instant::now() + active.limits.header_read_timeout;
    loop {
        if !bufs.rd.is_empty() {
            match parse_request(&bufs.rd, &active.head_limits, &mut bufs.head) {
                Ok(Some(_)) => return Head::Ready,
                Ok(None) => {}
                Err(r) => return Head::Reject(reject_response(r)),
            }
        }
        let left = deadline.saturating_duration_since(monoio::time::Instant::now());
        match io::read_more(stream, &mut bufs.rd, BUF_SIZE, left).await {
            Ok(_) => {}
            Err(IoFail::Timeout) => {
                // The buffer went with the cancelled read.
                bufs.rd = Vec::with_capacity(BUF_SIZE);
                return Head::Reject(GatewayResponse::RequestTimeout);
            }
            Err(IoFail::Closed | IoFail::Io(_)) => return Head::Gone,
        }
    }
}

fn reject_response(r: Reject) -> GatewayResponse {
    match r.status() {
        431 => GatewayResponse::HeaderFieldsTooLarge,
        505 => GatewayResponse::VersionNotSupported,
        _ => GatewayResponse::BadRequest,
    }
}

/// Whether the client speaks HTTP/1.0.
pub fn is_http10(v: Version) -> bool {
    v == Version::Http10
}
