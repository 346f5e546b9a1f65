//! A per-core cache of memory blocks for per-request futures.
//!
//! A connection task's future is allocated once, at spawn, at the size of
//! its largest state; if request handling lived inline in it, every idle
//! keep-alive connection would carry the proxy path's state machine. The
//! connection loop instead runs each request's future in a block taken from
//! this cache and returns the block when the request is done, so an idle
//! connection holds only its small waiting state, and a busy core reuses
//! the same few blocks (no allocation per request once warm).
//!
//! Futures larger than a block (or more aligned) fall back to `Box`.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// Bytes per block; the request future (proxy path included) fits.
pub const BLOCK: usize = 8192;
/// Some futures hold cache-padded (128-byte aligned) timer state.
const ALIGN: usize = 128;
/// Most idle blocks kept per core.
const MAX_FREE: usize = 1024;

fn layout() -> Layout {
    // BLOCK and ALIGN are constants that form a valid layout.
    Layout::from_size_align(BLOCK, ALIGN).unwrap_or_else(|_| Layout::new::<u8>())
}

#[derive(Debug, Default)]
pub struct FutureSlab {
    free: RefCell<Vec<NonNull<u8>>>,
}

impl FutureSlab {
    fn take(&self) -> NonNull<u8> {
        if let Some(p) = self.free.borrow_mut().pop() {
            return p;
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc(layout()) };
        NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout()))
    }

    fn give(&self, p: NonNull<u8>) {
        let mut free = self.free.borrow_mut();
        if free.len() < MAX_FREE {
            free.push(p);
        } else {
            // SAFETY: `p` came from `alloc(layout())` in `take` and is no longer used.
            unsafe { dealloc(p.as_ptr(), layout()) };
        }
    }

    /// Run `f` from a pooled block (or a `Box` when it does not fit).
    pub fn run<F: Future>(&self, f: F) -> Pooled<'_, F> {
        if size_of::<F>() > BLOCK || align_of::<F>() > ALIGN {
            return Pooled::Boxed(Box::pin(f));
        }
        let block = self.take();
        let ptr = block.cast::<F>();
        // SAFETY: the block is BLOCK bytes aligned to ALIGN, which we just
        // checked hold an F; it is exclusively ours until `give`.
        unsafe { ptr.as_ptr().write(f) };
        Pooled::Slab { slab: self, ptr }
    }
}

impl Drop for FutureSlab {
    fn drop(&mut self) {
        for p in self.free.get_mut().drain(..) {
            // SAFETY: every block in `free` came from `alloc(layout())` and is unused.
            unsafe { dealloc(p.as_ptr(), layout()) };
        }
    }
}

/// A future living in a pooled block; dropping it drops the future and
/// returns the block.
pub enum Pooled<'s, F> {
    Slab {
        slab: &'s FutureSlab,
        ptr: NonNull<F>,
    },
    Boxed(Pin<Box<F>>),
}

impl<F> std::fmt::Debug for Pooled<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pooled")
    }
}

impl<F: Future> Future for Pooled<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: we never move out of `self`; the F inside the block never
        // moves (the block is only freed in Drop, after dropping F in place).
        match unsafe { self.get_unchecked_mut() } {
            Pooled::Slab { ptr, .. } => {
                // SAFETY: `ptr` holds a live F written in `run`, pinned in its block.
                unsafe { Pin::new_unchecked(ptr.as_mut()) }.poll(cx)
            }
            Pooled::Boxed(b) => b.as_mut().poll(cx),
        }
    }
}

impl<F> Drop for Pooled<'_, F> {
    fn drop(&mut self) {
        if let Pooled::Slab { slab, ptr } = self {
            // SAFETY: `ptr` holds the live F written in `run`; it is dropped
            // exactly once, here, and then the block goes back to the slab.
            unsafe { std::ptr::drop_in_place(ptr.as_ptr()) };
            slab.give(ptr.cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn runs_and_drops_in_place_and_reuses_blocks() {
        let slab = FutureSlab::default();
        let dropped = Rc::new(std::cell::Cell::new(0));
        struct Guard(Rc<std::cell::Cell<u32>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        for i in 0..3u64 {
            let g = Guard(dropped.clone());
            let out = rt.block_on(slab.run(async move {
                let _g = g;
                i * 2
            }));
            assert_eq!(out, i * 2);
        }
        assert_eq!(dropped.get(), 3);
        assert_eq!(slab.free.borrow().len(), 1, "one block, reused");
        // A future dropped before completion is dropped too.
        let g = Guard(dropped.clone());
        let f = slab.run(async move {
            let _g = g;
            std::future::pending::<()>().await;
        });
        drop(f);
        assert_eq!(dropped.get(), 4);
        // Too large for a block: boxed.
        let big = [0u8; BLOCK + 1];
        let f = slab.run(async move { big.len() });
        assert!(matches!(f, Pooled::Boxed(_)));
        assert_eq!(rt.block_on(f), BLOCK + 1);
    }
}
