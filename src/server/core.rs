//! A worker's state: everything a request touches lives here, owned by one
//! thread (`Rc`, `Cell`, `RefCell`), so the request path takes no lock.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{Gateway, Limits, Protocol};
use crate::observe::clock::DateCache;
use crate::observe::request_id::{IdGen, RequestId};
use crate::proto::http1::HeadLimits;
use crate::route::Table;
use crate::server::bufpool::BufPool;
use crate::server::notify::Notify;
use crate::upstream::Pools;

/// One listener as a worker sees it.
#[derive(Debug)]
pub struct ListenerState {
    pub addr: SocketAddr,
    pub table: Table,
    /// Answer shape for errors before a request is routed (that of the
    /// listener's first API).
    pub protocol: Protocol,
}

#[derive(Debug)]
pub struct Core {
    pub worker: usize,
    pub gw: Arc<Gateway>,
    pub listeners: Vec<ListenerState>,
    pub limits: Limits,
    pub head_limits: HeadLimits,
    pub pools: Pools,
    pub bufs: BufPool,
    pub date: DateCache,
    pub ids: IdGen,
    /// Coarse monotonic clock, refreshed by the housekeeping tick and at
    /// request start where precision matters.
    pub now: Cell<Instant>,
    /// Fired when the worker starts draining (graceful shutdown).
    pub draining: Notify,
    /// Open client connections on this worker.
    pub connections: Cell<usize>,
}

impl Core {
    pub fn new(worker: usize, gw: Arc<Gateway>, addrs: &[SocketAddr]) -> Core {
        let listeners = addrs
            .iter()
            .enumerate()
            .map(|(i, &addr)| ListenerState {
                addr,
                table: Table::build(&gw, i),
                protocol: gw
                    .apis
                    .iter()
                    .find(|a| a.listeners.contains(&i))
                    .map(|a| a.protocol)
                    .unwrap_or(Protocol::Http),
            })
            .collect();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((worker as u64 + 1) << 48);
        Core {
            worker,
            limits: gw.limits,
            head_limits: HeadLimits {
                max_head_bytes: gw.limits.max_header_bytes,
                max_headers: gw.limits.max_headers,
            },
            pools: Pools::new(&gw),
            listeners,
            gw,
            bufs: BufPool::default(),
            date: DateCache::default(),
            ids: IdGen::new(seed),
            now: Cell::new(Instant::now()),
            draining: Notify::new(),
            connections: Cell::new(0),
        }
    }

    /// A new request id in the shape of `protocol`.
    pub fn request_id(&self, protocol: Protocol) -> RequestId {
        match protocol {
            Protocol::Http => self.ids.short(),
            Protocol::Rest => self.ids.uuid(),
        }
    }
}
