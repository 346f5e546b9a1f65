//! Upstream connection pools and target selection, per core.
//!
//! Each worker owns a [`Pools`]: for every configured upstream and target a
//! LIFO stack of idle keep-alive connections (bounded by `pool_size`, closed
//! after `idle_timeout`) and a count of requests in flight, which the
//! least-request balancer compares. No state is shared between cores, so a
//! pool costs no lock; the price is up to `pool_size × workers` idle
//! connections per target.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;

use crate::tls::{Stream, TlsStream};

use crate::config::{Balance, Gateway, Upstream};
use crate::observe::request_id::IdGen;

pub mod exchange;
pub mod h2;

#[derive(Debug)]
struct Idle {
    stream: Stream,
    since: Instant,
}

#[derive(Debug)]
struct Target {
    addr: SocketAddr,
    idle: RefCell<Vec<Idle>>,
    in_flight: Cell<u32>,
}

#[derive(Debug)]
struct Group {
    balance: Balance,
    pool_size: usize,
    connect_timeout: Duration,
    idle_timeout: Duration,
    targets: Vec<Target>,
    next: Cell<usize>,
    /// TLS to the targets: the client configuration and the SNI name; or
    /// why it could not be built (every connect then fails).
    tls: Option<Result<(Arc<rustls::ClientConfig>, ServerName<'static>), String>>,
}

/// Per-core counters, read by tests and (later) metrics.
#[derive(Debug, Default)]
pub struct Stats {
    pub connects: Cell<u64>,
    pub reuses: Cell<u64>,
}

/// All upstream pools of one worker.
#[derive(Debug)]
pub struct Pools {
    groups: Vec<Group>,
    pub stats: Stats,
    /// HTTP/2 connections to `protocol: h2` upstreams, by (upstream, target).
    h2: h2::H2Conns,
}

/// A connection checked out for one exchange. Dropping it closes the
/// connection; [`Pools::release`] returns it for reuse.
#[derive(Debug)]
pub struct Checkout {
    pub stream: Stream,
    pub upstream: usize,
    pub target: usize,
    /// Came from the idle pool (so the upstream may have closed it meanwhile).
    pub reused: bool,
}

impl Pools {
    pub fn new(gw: &Gateway) -> Pools {
        Pools {
            groups: gw.upstreams.iter().map(group).collect(),
            stats: Stats::default(),
            h2: h2::H2Conns::default(),
        }
    }

    /// Choose a target of `upstream` for the next request.
    pub fn pick(&self, upstream: usize, rng: &IdGen) -> usize {
        let g = &self.groups[upstream];
        let n = g.targets.len();
        if n == 1 {
            return 0;
        }
        match g.balance {
            Balance::RoundRobin => {
                let i = g.next.get();
                g.next.set((i + 1) % n);
                i
            }
            Balance::LeastRequest => {
                let r = rng.next_u64();
                let a = (r % n as u64) as usize;
                let mut b = ((r >> 32) % (n as u64 - 1)) as usize;
                if b >= a {
                    b += 1;
                }
                if g.targets[b].in_flight.get() < g.targets[a].in_flight.get() {
                    b
                } else {
                    a
                }
            }
        }
    }

    pub fn target_count(&self, upstream: usize) -> usize {
        self.groups[upstream].targets.len()
    }

    /// An idle pooled connection to that target, or a new one.
    pub async fn checkout(
        &self,
        upstream: usize,
        target: usize,
        now: Instant,
        allow_idle: bool,
    ) -> io::Result<Checkout> {
        let g = &self.groups[upstream];
        let t = &g.targets[target];
        if allow_idle {
            let mut idle = t.idle.borrow_mut();
            while let Some(c) = idle.pop() {
                if now.saturating_duration_since(c.since) < g.idle_timeout {
                    drop(idle);
                    self.stats.reuses.set(self.stats.reuses.get() + 1);
                    t.in_flight.set(t.in_flight.get() + 1);
                    return Ok(Checkout {
                        stream: c.stream,
                        upstream,
                        target,
                        reused: true,
                    });
                }
            }
        }
        let stream =
            match monoio::time::timeout(g.connect_timeout, TcpStream::connect_addr(t.addr)).await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            };
        let _ = stream.set_nodelay(true);
        let stream = match &g.tls {
            None => Stream::Plain(stream),
            Some(Err(e)) => return Err(io::Error::other(e.clone())),
            Some(Ok((cfg, name))) => {
                let conn = rustls::ClientConnection::new(cfg.clone(), name.clone())
                    .map_err(io::Error::other)?;
                let mut tls = Box::new(TlsStream::new(stream, conn));
                match monoio::time::timeout(g.connect_timeout, tls.handshake()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "TLS handshake timed out",
                        ));
                    }
                }
                Stream::Client(tls)
            }
        };
        self.stats.connects.set(self.stats.connects.get() + 1);
        t.in_flight.set(t.in_flight.get() + 1);
        Ok(Checkout {
            stream,
            upstream,
            target,
            reused: false,
        })
    }

    /// The exchange is over. `reusable`: the response was read to its end and
    /// the upstream agreed to keep the connection open.
    pub fn release(&self, c: Checkout, reusable: bool, now: Instant) {
        let g = &self.groups[c.upstream];
        let t = &g.targets[c.target];
        t.in_flight.set(t.in_flight.get().saturating_sub(1));
        if reusable {
            let mut idle = t.idle.borrow_mut();
            if idle.len() < g.pool_size {
                idle.push(Idle {
                    stream: c.stream,
                    since: now,
                });
            }
        }
    }

    /// Close idle connections past their idle timeout (housekeeping tick).
    pub fn evict_idle(&self, now: Instant) {
        for g in &self.groups {
            for t in &g.targets {
                t.idle
                    .borrow_mut()
                    .retain(|c| now.saturating_duration_since(c.since) < g.idle_timeout);
            }
        }
    }

    /// Take over `old`'s idle connections to targets this pool also has (a
    /// reload keeps warm connections when the target address stays).
    pub fn adopt_idle(&self, old: &Pools) {
        for g in &self.groups {
            for t in &g.targets {
                let mut idle = t.idle.borrow_mut();
                for og in &old.groups {
                    // Only between groups that speak the same (TLS or not).
                    if og.tls.is_some() != g.tls.is_some() {
                        continue;
                    }
                    for ot in og.targets.iter().filter(|ot| ot.addr == t.addr) {
                        let mut from = ot.idle.borrow_mut();
                        while idle.len() < g.pool_size {
                            match from.pop() {
                                Some(c) => idle.push(c),
                                None => break,
                            }
                        }
                    }
                }
            }
        }
    }

    /// Drop every idle connection (shutdown).
    pub fn clear(&self) {
        for g in &self.groups {
            for t in &g.targets {
                t.idle.borrow_mut().clear();
            }
        }
    }
}

fn group(u: &Upstream) -> Group {
    Group {
        balance: u.balance,
        pool_size: u.pool_size,
        connect_timeout: u.connect_timeout,
        idle_timeout: u.idle_timeout,
        targets: u
            .targets
            .iter()
            .map(|&addr| Target {
                addr,
                idle: RefCell::new(Vec::with_capacity(u.pool_size.min(64))),
                in_flight: Cell::new(0),
            })
            .collect(),
        next: Cell::new(0),
        tls: u.tls.as_ref().map(|t| {
            let name = t.server_name.clone().unwrap_or_else(|| {
                u.targets
                    .first()
                    .map_or(String::new(), |a| a.ip().to_string())
            });
            let name = ServerName::try_from(name)
                .map_err(|e| format!("upstream `{}`: server name: {e}", u.name))?;
            let alpn: &[u8] = match u.protocol {
                crate::config::UpstreamProtocol::H2 => b"h2",
                crate::config::UpstreamProtocol::Http1 => b"http/1.1",
            };
            let cfg = crate::tls::client::client_config(t, alpn)
                .map_err(|e| format!("upstream `{}`: {e}", u.name))?;
            Ok((cfg, name))
        }),
    }
}
