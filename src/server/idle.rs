//! Coarse per-core deadlines for idle keep-alive connections. A monoio
//! timer costs ~640 bytes in every waiting future; an idle connection
//! instead parks its deadline and waker here, and the worker's
//! housekeeping tick wakes the expired ones. Resolution: one tick (100 ms),
//! plenty for keep-alive timeouts measured in seconds. Waiting allocates
//! nothing once the slot table has grown to the peak number of idle
//! connections.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct IdleTimers {
    slots: RefCell<Vec<Option<(Instant, Waker)>>>,
    free: RefCell<Vec<usize>>,
}

impl IdleTimers {
    /// Completes once `deadline` has passed (noticed by `expire`).
    pub fn sleep_until(&self, deadline: Instant) -> IdleSleep<'_> {
        IdleSleep {
            timers: self,
            deadline,
            slot: None,
        }
    }

    /// Wake every sleeper whose deadline is at or before `now`.
    pub fn expire(&self, now: Instant) {
        let mut due = Vec::new();
        for slot in self.slots.borrow_mut().iter_mut() {
            if slot.as_ref().is_some_and(|(d, _)| *d <= now)
                && let Some((_, w)) = slot.take()
            {
                due.push(w);
            }
        }
        for w in due {
            w.wake();
        }
    }

    /// Sleepers parked now.
    pub fn len(&self) -> usize {
        self.slots.borrow().iter().filter(|s| s.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// See [`IdleTimers::sleep_until`].
#[derive(Debug)]
pub struct IdleSleep<'a> {
    timers: &'a IdleTimers,
    deadline: Instant,
    slot: Option<usize>,
}

impl Future for IdleSleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let entry = Some((self.deadline, cx.waker().clone()));
        let mut slots = self.timers.slots.borrow_mut();
        match self.slot {
            Some(i) => slots[i] = entry,
            None => {
                let i = match self.timers.free.borrow_mut().pop() {
                    Some(i) => {
                        slots[i] = entry;
                        i
                    }
                    None => {
                        slots.push(entry);
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

impl Drop for IdleSleep<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.timers.slots.borrow_mut()[i] = None;
            self.timers.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_sleepers_wake_and_slots_are_reused() {
        let timers = IdleTimers::default();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        rt.block_on(async {
            let t = &timers;
            let start = Instant::now();
            let ticker = async {
                loop {
                    monoio::time::sleep(Duration::from_millis(5)).await;
                    t.expire(Instant::now());
                }
            };
            monoio::select! {
                _ = t.sleep_until(start + Duration::from_millis(30)) => {}
                _ = ticker => unreachable!(),
            }
            assert!(start.elapsed() >= Duration::from_millis(30));
        });
        assert!(timers.is_empty());
        assert_eq!(timers.free.borrow().len(), 1);
    }
}
