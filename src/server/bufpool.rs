//! Per-core pool of per-request working memory. An idle keep-alive
//! connection holds none of it: a connection takes a [`Bufs`] when bytes
//! arrive and gives it back when its request is done (unless pipelined bytes
//! remain). Capacity grown by large messages is trimmed on return so the pool
//! stays small.

use std::cell::RefCell;

use crate::proto::http1::{RequestHead, ResponseHead};
use crate::route::Params;

/// Initial capacity of each buffer.
pub const BUF_SIZE: usize = 16 * 1024;
/// Buffers that grew past this are shrunk back when returned.
const TRIM_ABOVE: usize = 64 * 1024;
/// Most idle sets kept per core.
const MAX_POOLED: usize = 1024;

/// The working memory one request needs.
#[derive(Debug)]
pub struct Bufs {
    /// Bytes read from the client: the head, then body bytes, then pipelined requests.
    pub rd: Vec<u8>,
    /// Bytes to write to the client.
    pub wr: Vec<u8>,
    /// Bytes read from the upstream.
    pub ur: Vec<u8>,
    /// Bytes to write to the upstream.
    pub uw: Vec<u8>,
    pub head: RequestHead,
    pub resp: ResponseHead,
    pub params: Params,
    /// Scratch for building strings (paths).
    pub scratch: Vec<u8>,
    /// The parts of the request an access log line shows, copied before
    /// the head's bytes are dropped (see `observe::exchange::Capture`).
    pub log: Vec<u8>,
}

impl Bufs {
    fn new() -> Box<Bufs> {
        Box::new(Bufs {
            rd: Vec::with_capacity(BUF_SIZE),
            wr: Vec::with_capacity(BUF_SIZE),
            ur: Vec::with_capacity(BUF_SIZE),
            uw: Vec::with_capacity(BUF_SIZE),
            head: RequestHead::default(),
            resp: ResponseHead::default(),
            params: Params::default(),
            scratch: Vec::with_capacity(256),
            log: Vec::with_capacity(512),
        })
    }
}

#[derive(Debug, Default)]
pub struct BufPool {
    // Boxed on purpose: a connection future holds `Option<Box<Bufs>>` across
    // awaits, 8 bytes while idle instead of the whole set inline.
    #[allow(clippy::vec_box)]
    free: RefCell<Vec<Box<Bufs>>>,
}

impl BufPool {
    pub fn take(&self) -> Box<Bufs> {
        self.free.borrow_mut().pop().unwrap_or_else(Bufs::new)
    }

    /// Return a set; `rd` must hold no bytes the connection still needs.
    pub fn give(&self, mut b: Box<Bufs>) {
        for v in [&mut b.rd, &mut b.wr, &mut b.ur, &mut b.uw] {
            v.clear();
            if v.capacity() > TRIM_ABOVE {
                v.shrink_to(BUF_SIZE);
            }
        }
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_POOLED {
            free.push(b);
        }
    }
}
