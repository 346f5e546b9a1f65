//! A worker's state: everything a request touches lives here, owned by one
//! thread (`Rc`, `Cell`, `RefCell`), so the request path takes no lock.
//!
//! [`Core`] lives as long as the worker. [`Active`] is what one deployed
//! configuration derives on this worker (route tables, limits, upstream
//! pools); a reload builds a new one and swaps it in between requests. A
//! request takes an `Rc<Active>` when it starts and finishes on it, so an
//! old configuration is freed when its last request ends.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Gateway, Limits, Protocol};
use crate::observe::clock::DateCache;
use crate::observe::exchange::{Observer, WallClock};
use crate::observe::log_writer::Sinks;
use crate::observe::request_id::{IdGen, RequestId};
use crate::proto::http1::HeadLimits;
use crate::route::Table;
use crate::server::Deployed;
use crate::server::bufpool::BufPool;
use crate::server::idle::IdleTimers;
use crate::server::notify::Notify;
use crate::server::slab::FutureSlab;
use crate::upstream::Pools;

/// One listener as a worker sees it.
#[derive(Debug)]
pub struct ListenerState {
    pub addr: SocketAddr,
    pub table: Table,
    /// Answer shape for errors before a request is routed (that of the
    /// listener's first API).
    pub protocol: Protocol,
    /// TLS termination: the rustls configuration, or why it could not be
    /// built (connections are then refused); `None` for plain TCP.
    pub tls: Option<Result<Arc<crate::tls::server::ListenerConfigs>, String>>,
}

/// What one deployed configuration derives on one worker.
#[derive(Debug)]
pub struct Active {
    /// Which publication of the control thread this is.
    pub generation: u64,
    pub deployed: Arc<Deployed>,
    pub listeners: Vec<ListenerState>,
    pub limits: Limits,
    pub head_limits: HeadLimits,
    pub pools: Pools,
    /// This configuration's metrics and access logs on this worker.
    pub observer: Observer,
    /// API keys, usage plans, quotas and throttles on this worker (set by
    /// the worker from the process's limiter, see `limit::plan`).
    pub limiting: crate::limit::CoreLimits,
    /// The stages' response caches on this worker; those whose settings a
    /// reload keeps are handed over from `previous` (see `cache::stage`).
    pub caches: crate::cache::stage::StageCaches,
    /// IAM authorization's access keys on this worker.
    pub iam: crate::pipeline::iam::IamKeys,
    /// Authorizers on this worker: the JWKS store (set by the worker from
    /// the shared state), verified tokens and Lambda-style results cached
    /// per core for this configuration.
    pub auth: crate::auth::CoreAuth,
}

impl Active {
    /// Build this worker's derived state for `deployed`; `previous` hands
    /// over its idle upstream connections where targets stay the same;
    /// access logs write to destinations of `logs`.
    pub fn build(
        generation: u64,
        deployed: Arc<Deployed>,
        addrs: &[SocketAddr],
        previous: Option<&Active>,
        logs: &Sinks,
    ) -> Active {
        let gw = &deployed.gateway;
        let listeners = addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| ListenerState {
                addr,
                table: Table::build(gw, i),
                protocol: gw
                    .apis
                    .iter()
                    .find(|a| a.listeners.contains(&i))
                    .map(|a| a.protocol)
                    .unwrap_or(Protocol::Http),
                tls: gw.listeners.get(i).and_then(|l| {
                    let t = l.tls.as_ref()?;
                    let built = crate::tls::server::listener_configs(t, &l.http2);
                    Some(match (built, previous) {
                        (Ok(c), _) => Ok(c),
                        // The files changed under the reload: keep serving the
                        // certificates that were loaded before.
                        (Err(e), Some(p)) => match p.listeners.get(i).and_then(|p| p.tls.clone()) {
                            Some(Ok(c)) => {
                                eprintln!("tollgate: listener `{}`: {e}; keeping the previous certificates", l.name);
                                Ok(c)
                            }
                            _ => Err(e),
                        },
                        (Err(e), None) => {
                            eprintln!("tollgate: listener `{}`: {e}", l.name);
                            Err(e)
                        }
                    })
                }),
            })
            .collect();
        let pools = Pools::new(gw);
        if let Some(prev) = previous {
            pools.adopt_idle(&prev.pools);
        }
        Active {
            generation,
            limits: gw.limits,
            head_limits: HeadLimits {
                max_head_bytes: gw.limits.max_header_bytes,
                max_headers: gw.limits.max_headers,
            },
            pools,
            listeners,
            observer: Observer::build(gw, logs),
            limiting: crate::limit::CoreLimits::none(),
            caches: crate::cache::stage::StageCaches::build(gw, previous.map(|p| &p.caches)),
            iam: crate::pipeline::iam::IamKeys::build(gw),
            auth: crate::auth::CoreAuth::build(
                gw,
                previous.map(|p| p.auth.jwks.clone()).unwrap_or_default(),
            ),
            deployed,
        }
    }

    pub fn gw(&self) -> &Gateway {
        &self.deployed.gateway
    }
}

#[derive(Debug)]
pub struct Core {
    pub worker: usize,
    /// Bound address per listener (fixed for the process's life).
    pub addrs: Vec<SocketAddr>,
    active: RefCell<Rc<Active>>,
    /// Configurations switched away from, kept until their last request
    /// ended and their metrics and log lines were handed on (see `worker`).
    pub retired: RefCell<Vec<Rc<Active>>>,
    pub bufs: BufPool,
    /// Blocks for per-request futures (see `slab`).
    pub futures: FutureSlab,
    pub date: DateCache,
    /// Unix time for access logs, anchored by the housekeeping tick.
    pub wall: WallClock,
    pub ids: IdGen,
    /// Coarse monotonic clock, refreshed by the housekeeping tick.
    pub now: Cell<Instant>,
    /// Keep-alive deadlines of idle connections, expired by the tick.
    pub idle: IdleTimers,
    /// Fired when the worker starts draining (graceful shutdown).
    pub draining: Notify,
    /// Open client connections on this worker.
    pub connections: Cell<usize>,
}

impl Core {
    pub fn new(worker: usize, active: Active, addrs: Vec<SocketAddr>) -> Core {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((worker as u64 + 1) << 48);
        Core {
            worker,
            addrs,
            active: RefCell::new(Rc::new(active)),
            retired: RefCell::new(Vec::new()),
            bufs: BufPool::default(),
            futures: FutureSlab::default(),
            date: DateCache::default(),
            wall: WallClock::default(),
            ids: IdGen::new(seed),
            now: Cell::new(Instant::now()),
            idle: IdleTimers::default(),
            draining: Notify::new(),
            connections: Cell::new(0),
        }
    }

    /// The configuration new requests run on.
    pub fn active(&self) -> Rc<Active> {
        self.active.borrow().clone()
    }

    /// Switch new requests to `next`; requests in flight keep the old one.
    pub fn switch(&self, next: Active) {
        let old = std::mem::replace(&mut *self.active.borrow_mut(), Rc::new(next));
        self.retired.borrow_mut().push(old);
    }

    /// A new request id in the shape of `protocol`.
    pub fn request_id(&self, protocol: Protocol) -> RequestId {
        match protocol {
            Protocol::Http => self.ids.short(),
            Protocol::Rest => self.ids.uuid(),
        }
    }
}
