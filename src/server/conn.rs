//! One client connection: wait for bytes (holding no buffer while idle),
//! read and parse a request head under the header timeout, hand the
//! exchange to the pipeline, and repeat while the connection may be reused.
//! Rejected heads get their 4xx and the connection is closed (RFC 9112 §9.6:
//! after a framing error the rest of the stream cannot be trusted).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use monoio::net::TcpStream;

use crate::tls::{Stream, TlsStream};

use crate::pipeline::gateway_response::GatewayResponse;
use crate::pipeline::response::Common;
use crate::pipeline::{self, Exchange};
use crate::proto::http1::{Framing, Reject, Version, parse_request};
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

/// A new client connection on `listener`: a TLS listener's handshake first
/// (in a pooled block, under the header timeout), then the HTTP/1 loop.
pub async fn accept(core: Rc<Core>, listener: usize, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let active = core.active();
    let l = &active.listeners[listener];
    let stream = match &l.tls {
        None if active.gw().listeners[listener].http2.h2c => {
            drop(active);
            if !core.futures.run(prior_knowledge(&tcp)).await {
                serve(core, listener, Stream::Plain(tcp), peer).await;
            } else if let Ok(io) = monoio::io::IntoPollIo::into_poll_io(tcp) {
                monoio::spawn(crate::server::h2::serve(core, listener, io, peer, None));
            }
            return;
        }
        None => Stream::Plain(tcp),
        Some(Err(_)) => return,
        Some(Ok(cfg)) => {
            let timeout = active.limits.header_read_timeout;
            let cfg = cfg.clone();
            drop(active);
            match core.futures.run(handshake(cfg, tcp, timeout)).await {
                Some(s) if s.conn.alpn_protocol() == Some(b"h2") => {
                    // HTTP/2: the rustls state moves to the poll-style glue
                    // h2 needs; the connection runs as its own task.
                    let subject = client_subject(&s.conn);
                    let (tcp, conn, rest) = s.into_parts();
                    if let Ok(io) = monoio::io::IntoPollIo::into_poll_io(tcp) {
                        let io = crate::tls::poll::PollTls::new(io, conn, rest);
                        monoio::spawn(crate::server::h2::serve(core, listener, io, peer, subject));
                    }
                    return;
                }
                Some(s) => Stream::Server(s),
                None => return,
            }
        }
    };
    serve(core, listener, stream, peer).await
}

/// The verified client certificate's subject of an mTLS connection.
pub fn client_subject(conn: &rustls::ServerConnection) -> Option<Rc<str>> {
    let cert = conn.peer_certificates()?.first()?;
    crate::tls::x509::subject_dn(cert).map(Rc::from)
}

/// On an h2c listener: whether the client opens with the HTTP/2 preface
/// (peeked, so an HTTP/1 request's bytes stay in the socket).
async fn prior_knowledge(tcp: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let pre = crate::server::h2::PREFACE;
    for _ in 0..50 {
        if tcp.readable(true).await.is_err() {
            return false;
        }
        let mut buf = [0u8; 24];
        // SAFETY: recv(2) writes at most buf.len() bytes into buf; MSG_PEEK
        // leaves them in the socket.
        let n = unsafe {
            libc::recv(
                tcp.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n <= 0 {
            // Closed, or a spurious wake-up: let the HTTP/1 path decide.
            return false;
        }
        let n = n as usize;
        if buf[..n] != pre[..n] {
            return false;
        }
        if n == pre.len() {
            return true;
        }
        // A prefix of the preface so far: wait for more.
        monoio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    false
}

/// The server side of a TLS handshake; `None` when it failed or timed out.
async fn handshake(
    cfgs: std::sync::Arc<crate::tls::server::ListenerConfigs>,
    tcp: TcpStream,
    timeout: std::time::Duration,
) -> Option<Box<TlsStream<rustls::ServerConnection>>> {
    monoio::time::timeout(timeout, async move {
        let (tcp, conn) = match &cfgs.per_domain {
            None => (
                tcp,
                rustls::ServerConnection::new(cfgs.default.clone()).ok()?,
            ),
            // Some domain has its own client CA: read the ClientHello
            // first, then go on with that domain's configuration.
            Some(_) => client_hello(&cfgs, tcp).await?,
        };
        let mut tls = Box::new(TlsStream::new(tcp, conn));
        tls.handshake().await.ok()?;
        Some(tls)
    })
    .await
    .ok()
    .flatten()
}

/// Read the ClientHello (rustls' `Acceptor`) and start the connection with
/// the configuration of the name it asks for.
async fn client_hello(
    cfgs: &crate::tls::server::ListenerConfigs,
    mut tcp: TcpStream,
) -> Option<(TcpStream, rustls::ServerConnection)> {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = Vec::with_capacity(4096);
    let accepted = loop {
        buf.clear();
        let (r, b) = tcp.read(buf).await;
        buf = b;
        if r.ok()? == 0 {
            return None;
        }
        let mut rest = &buf[..];
        while !rest.is_empty() {
            if acceptor.read_tls(&mut rest).ok()? == 0 {
                return None;
            }
        }
        match acceptor.accept() {
            Ok(Some(a)) => break a,
            Ok(None) => {}
            Err((_, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = tcp.write_all(out).await;
                return None;
            }
        }
    };
    let cfg = cfgs.pick(accepted.client_hello().server_name());
    match accepted.into_connection(cfg) {
        Ok(conn) => Some((tcp, conn)),
        Err((_, mut alert)) => {
            let mut out = Vec::new();
            let _ = alert.write_all(&mut out);
            let _ = tcp.write_all(out).await;
            None
        }
    }
}

pub async fn serve(core: Rc<Core>, listener: usize, mut stream: Stream, peer: SocketAddr) {
    core.connections.set(core.connections.get() + 1);
    let _open = Open(&core);
    let subject = stream.server_tls().and_then(client_subject);
    let mut held: Option<Box<Bufs>> = None;
    loop {
        let mut bufs = match held.take() {
            Some(b) => b,
            None => {
                if core.draining.is_fired() {
                    return;
                }
                // Idle: wait for bytes, draining, or the keep-alive deadline
                // (checked by the housekeeping tick: no timer per connection).
                let deadline = Instant::now() + core.active().limits.keepalive_timeout;
                let ready = monoio::select! {
                    biased;
                    _ = core.draining.wait() => false,
                    _ = core.idle.sleep_until(deadline) => false,
                    r = stream.readable() => r.is_ok(),
                };
                if !ready {
                    return;
                }
                core.bufs.take()
            }
        };
        // The request runs in a pooled block, so this task's own future
        // stays small while the connection idles.
        let keep = core
            .futures
            .run(request(
                &core,
                listener,
                &mut stream,
                &mut bufs,
                peer,
                &subject,
            ))
            .await;
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

/// One request: read its head, then run the pipeline. Returns whether the
/// connection may carry another request.
async fn request(
    core: &Core,
    listener: usize,
    stream: &mut Stream,
    bufs: &mut Bufs,
    peer: SocketAddr,
    subject: &Option<Rc<str>>,
) -> bool {
    // The configuration this request runs on, start to end.
    let active = core.active();
    // Coarse (the tick's clock): only a rejected head uses it, and a
    // clock read per request costs more than it is worth here.
    let started = core.now.get();
    match read_head(&active, stream, bufs).await {
        Head::Ready => {}
        Head::Gone => return false,
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
                deployment: None,
                extended_id: None,
                trace: None,
                responses: &[],
                cors: None,
                hsts: None,
            };
            gr.write(&mut bufs.wr, &common, false);
            let bytes = bufs.wr.len() as u64;
            let _ = io::write_all(stream, &mut bufs.wr, active.limits.header_read_timeout).await;
            // Counted in the unrouted series; no stage, so no access log line.
            active.observer.unrouted(&crate::observe::metrics::Outcome {
                status: gr.parts(protocol).0,
                latency_us: Instant::now()
                    .saturating_duration_since(started)
                    .as_micros() as u64,
                integration_latency_us: None,
                bytes,
            });
            return false;
        }
    }
    if let Some(port) = active.gw().listeners[listener].redirect_https {
        return redirect(core, &active, listener, stream, bufs, port).await;
    }
    let ex = Exchange {
        listener,
        peer,
        active,
        client_cert_subject: subject.clone(),
    };
    pipeline::run(core, &ex, stream, bufs).await
}

/// Read until a whole head is in `bufs.rd` and parsed into `bufs.head`.
async fn read_head(active: &Active, stream: &mut Stream, bufs: &mut Bufs) -> Head {
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

/// Answer with the listener's redirect to https; the request's body (if
/// any) is not read, so the connection then closes.
async fn redirect(
    core: &Core,
    active: &Active,
    listener: usize,
    stream: &mut Stream,
    bufs: &mut Bufs,
    port: u16,
) -> bool {
    let head = &bufs.head;
    let keep = head.keep_alive
        && matches!(head.framing, Framing::None | Framing::Length(0))
        && !core.draining.is_fired();
    let mut date = [0u8; crate::observe::clock::DATE_LEN];
    core.date.copy_to(&mut date);
    let ip = active.listeners[listener].addr.ip().to_string();
    bufs.wr.clear();
    crate::server::redirect::write(
        &mut bufs.wr,
        &bufs.rd,
        head,
        port,
        ip.as_bytes(),
        &date,
        keep,
    );
    let head_len = head.head_len;
    bufs.rd.drain(..head_len);
    io::write_all(stream, &mut bufs.wr, active.limits.keepalive_timeout)
        .await
        .is_ok()
        && keep
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Deployed;
    use std::sync::Arc;

    /// Every connection task holds its whole future while idle: its size is
    /// most of what an idle keep-alive connection costs (bench/idle.sh).
    #[test]
    fn connection_future_size() {
        let yaml = "listeners: [{name: main, address: 127.0.0.1:0}]\napis: [{name: a, stages: [$default], routes: [{route: GET /x, integration: {type: mock}}]}]\n";
        let gw = crate::config::load_str("t.yaml", yaml).unwrap();
        let deployed = Arc::new(Deployed {
            gateway: gw,
            id: "t".into(),
            origin: "t".into(),
            loaded_at: std::time::SystemTime::now(),
        });
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async move {
            let sinks = crate::observe::log_writer::Sinks::default();
            let active = Active::build(1, deployed, &[addr], None, &sinks);
            let core = Rc::new(Core::new(0, active, vec![addr]));
            let stream = TcpStream::connect_addr(addr).await.unwrap();
            let fut = accept(core, 0, stream, addr);
            let size = std::mem::size_of_val(&fut);
            println!("connection future: {size} bytes");
            assert!(size <= 1024, "connection future grew to {size} bytes");
        });
    }
}
