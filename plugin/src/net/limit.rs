//! A cap on how many requests are in flight at once (`--concurrency`), shared by every task
//! of a command however they are nested: a search runs repositories side by side, and each
//! repository may fetch several versions side by side, and still at most N go out.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Permits for requests in flight; clones share the same permits.
#[derive(Clone)]
pub struct Limit(Rc<Shared>);

struct Shared {
    free: Cell<usize>,
    /// Tasks waiting for a permit, woken in turn as permits come back.
    waiting: RefCell<VecDeque<Waker>>,
}

/// A request's permit, given back when dropped.
pub struct Permit(Rc<Shared>);

impl Limit {
    pub fn new(permits: usize) -> Limit {
        Limit(Rc::new(Shared { free: Cell::new(permits.max(1)), waiting: RefCell::default() }))
    }

    /// Waits for a permit.
    pub async fn acquire(&self) -> Permit {
        let shared = &self.0;
        poll_fn(|cx| {
            let free = shared.free.get();
            if free > 0 {
                shared.free.set(free - 1);
                return Poll::Ready(Permit(shared.clone()));
            }
            // A task polled again while it waits is queued once.
            let mut waiting = shared.waiting.borrow_mut();
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push_back(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        // Every waiter is woken: one takes the permit and the others queue again. Waking
        // only the first could wake a task that has stopped waiting (it was dropped, or got
        // a permit another way) and leave the rest asleep with permits free.
        let waiting = std::mem::take(&mut *self.0.waiting.borrow_mut());
        for waker in waiting {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Wake};

    /// A waker that counts how often it was woken.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_released_permit_reaches_a_waiter() {
        let limit = Limit::new(1);
        let held = block_on(limit.acquire());
        let (_, waker_a) = counting();
        let (woken_b, waker_b) = counting();
        let (mut cx_a, mut cx_b) = (Context::from_waker(&waker_a), Context::from_waker(&waker_b));
        let (mut a, mut b) = (pin!(limit.acquire()), pin!(limit.acquire()));
        // A is polled twice while it waits (any wake-up of its task does that), B once.
        assert!(a.as_mut().poll(&mut cx_a).is_pending() && a.as_mut().poll(&mut cx_a).is_pending());
        assert!(b.as_mut().poll(&mut cx_b).is_pending());
        drop(held);
        let Poll::Ready(permit_a) = a.as_mut().poll(&mut cx_a) else { panic!("A gets the permit") };
        assert!(b.as_mut().poll(&mut cx_b).is_pending(), "one permit, one holder");
        let before = woken_b.0.load(Ordering::SeqCst);
        drop(permit_a);
        assert!(woken_b.0.load(Ordering::SeqCst) > before, "B is woken when A's permit comes back");
        assert!(b.as_mut().poll(&mut cx_b).is_ready());
    }

    #[test]
    fn at_most_n_hold_a_permit() {
        let limit = Limit::new(2);
        let held: Vec<Permit> = (0..2).map(|_| block_on(limit.acquire())).collect();
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut third = pin!(limit.acquire());
        assert!(third.as_mut().poll(&mut cx).is_pending(), "a third waits while two are held");
        drop(held);
        let Poll::Ready(_permit) = third.as_mut().poll(&mut cx) else { panic!("a permit came back") };
        assert_eq!(limit.0.free.get(), 1, "the other permit is free");
    }
}
