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
                Poll::Ready(Permit(shared.clone()))
            } else {
                shared.waiting.borrow_mut().push_back(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.free.set(self.0.free.get() + 1);
        // A woken task that finds the permit taken queues itself again.
        if let Some(next) = self.0.waiting.borrow_mut().pop_front() {
            next.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::future::join_all;

    #[test]
    fn at_most_n_hold_a_permit() {
        let limit = Limit::new(2);
        let (inside, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let tasks = (0..6).map(|_| {
            let (limit, inside, most) = (limit.clone(), inside.clone(), most.clone());
            async move {
                let _permit = limit.acquire().await;
                inside.set(inside.get() + 1);
                most.set(most.get().max(inside.get()));
                // Give the others a chance to run while this one holds its permit.
                futures::pending!();
                inside.set(inside.get() - 1);
            }
        });
        block_on(join_all(tasks.map(|t| Box::pin(yield_once(t)))));
        assert_eq!(most.get(), 2);
        assert_eq!(limit.0.free.get(), 2, "every permit came back");
    }

    /// Wakes itself on every poll, so `pending!` inside `task` is resumed.
    async fn yield_once(task: impl std::future::Future<Output = ()>) {
        let mut task = Box::pin(task);
        poll_fn(|cx| {
            cx.waker().wake_by_ref();
            task.as_mut().poll(cx)
        })
        .await
    }
}
