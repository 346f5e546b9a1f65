//! A one-shot, single-thread broadcast: the worker fires it when draining
//! starts, and every idle connection and accept loop waiting on it wakes.
//! Waiters park their wakers in a slot table that reuses freed slots, so
//! waiting allocates nothing once the table has grown to the peak number of
//! concurrent waiters.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Inner {
    fired: Cell<bool>,
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

/// Cloneable handle; all clones share one state.
#[derive(Clone, Debug, Default)]
pub struct Notify {
    inner: Rc<Inner>,
}

impl Notify {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fire once: every current and future waiter completes.
    pub fn fire(&self) {
        self.inner.fired.set(true);
        let wakers: Vec<Waker> = self
            .inner
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.inner.fired.get()
    }

    /// A future that completes when `fire` has been called.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            inner: &self.inner,
            slot: None,
        }
    }
}

/// See [`Notify::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    inner: &'a Inner,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.fired.get() {
            return Poll::Ready(());
        }
        let mut slots = self.inner.slots.borrow_mut();
        match self.slot {
            Some(i) => match &mut slots[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                s => *s = Some(cx.waker().clone()),
            },
            None => {
                let i = match self.inner.free.borrow_mut().pop() {
                    Some(i) => {
                        slots[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        slots.push(Some(cx.waker().clone()));
                        slots.len() - 1
                    }
                };
                drop(slots);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.inner.slots.borrow_mut()[i] = None;
            self.inner.free.borrow_mut().push(i);
        }
    }
}
