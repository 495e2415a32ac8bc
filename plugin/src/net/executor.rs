//! A single-threaded executor over `wasi:io/poll`.
//!
//! Futures that wait for the outside world (a response, body bytes, room to write, a timer)
//! register a pollable here and return `Pending`; `block_on` then sleeps in one `poll` call
//! until any registered pollable is ready, wakes the futures that waited on it, and polls
//! again. So requests started together are in flight together, and a retry's back-off
//! holds up nothing else.

use futures::stream::{self, StreamExt};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use wasip2::io::poll::{Pollable, poll};

/// What runs at once when a command does bulk work and the user did not say.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// A future's wait for a pollable, until the executor sees it ready.
struct Waiting {
    pollable: Pollable,
    waker: Waker,
    ready: bool,
}

/// Every pollable some future is waiting on, by slot.
#[derive(Default)]
struct Reactor {
    slots: Vec<Option<Waiting>>,
    free: Vec<usize>,
}

thread_local! {
    static REACTOR: RefCell<Reactor> = RefCell::default();
    static DEADLINE: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The deadline of the `block_on` running, for waits that cannot yield to it (the cache
/// lock's, which polls the file system).
pub fn deadline() -> Option<u64> {
    DEADLINE.get()
}

/// Runs a future to completion, waiting on the pollables its parts register; None if the
/// `deadline` (monotonic nanoseconds) passes first. The future is then dropped here, so
/// whatever it holds (temp files among them) is cleaned up as usual.
pub fn block_on<F: Future>(future: F, deadline: Option<u64>) -> Option<F::Output> {
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let outer = DEADLINE.replace(deadline);
    let deadline = deadline.map(wasip2::clocks::monotonic_clock::subscribe_instant);
    let outcome = loop {
        woken.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            break Some(out);
        }
        if !woken.0.load(Ordering::Relaxed) && !wait_for_any(deadline.as_ref()) {
            break None;
        }
    };
    DEADLINE.set(outer);
    outcome
}

/// Runs the futures with at most `limit` of them in flight, and collects every output in
/// the order given. None is cancelled when another fails: each finishes what it started
/// (an upload cancels its own session), and the caller decides what a failure means.
pub async fn bounded<T>(limit: usize, futures: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
    stream::iter(futures).buffered(limit.max(1)).collect().await
}

/// Blocks in one `poll` over every registered pollable (and the deadline's), then wakes
/// those that are ready. False if the deadline is what became ready.
fn wait_for_any(deadline: Option<&Pollable>) -> bool {
    let wakers = REACTOR.with(|reactor| {
        let mut reactor = reactor.borrow_mut();
        let waiting: Vec<usize> =
            (0..reactor.slots.len()).filter(|&i| reactor.slots[i].as_ref().is_some_and(|w| !w.ready)).collect();
        // Nothing to wait for while the future is pending would be a bug in a future that
        // returned Pending without registering; panicking beats sleeping forever.
        assert!(!waiting.is_empty(), "the executor has nothing to wait for");
        let ready = {
            let mut pollables: Vec<&Pollable> =
                waiting.iter().map(|&i| &reactor.slots[i].as_ref().expect("listed above").pollable).collect();
            pollables.extend(deadline);
            poll(&pollables)
        };
        if ready.iter().any(|&i| i as usize == waiting.len()) {
            return None;
        }
        let mut wakers = Vec::with_capacity(ready.len());
        for index in ready {
            let slot = reactor.slots[waiting[index as usize]].as_mut().expect("listed above");
            slot.ready = true;
            wakers.push(slot.waker.clone());
        }
        Some(wakers)
    });
    let Some(wakers) = wakers else { return false };
    for waker in wakers {
        waker.wake();
    }
    true
}

/// Waits until the pollable is ready.
pub fn wait(pollable: Pollable) -> Wait {
    Wait { pollable: Some(pollable), slot: None }
}

/// The future `wait` returns. Dropping it stops the wait (and drops the pollable).
pub struct Wait {
    pollable: Option<Pollable>,
    slot: Option<usize>,
}

impl Future for Wait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match this.slot {
            None => {
                // Always through the executor's `poll`, never a `ready()` first: a host may
                // say a stream with nothing to read is ready (jco's preview2-shim does), and
                // a read, wait, read loop would then spin without the executor, so without
                // its deadline. `poll` asks the host afresh.
                let pollable = this.pollable.take().expect("a finished wait is not polled again");
                let waiting = Waiting { pollable, waker: cx.waker().clone(), ready: false };
                this.slot = Some(REACTOR.with(|r| r.borrow_mut().insert(waiting)));
                Poll::Pending
            }
            Some(slot) => REACTOR.with(|r| {
                let mut reactor = r.borrow_mut();
                let waiting = reactor.slots[slot].as_mut().expect("a registered wait has its slot");
                if waiting.ready {
                    reactor.remove(slot);
                    this.slot = None;
                    Poll::Ready(())
                } else {
                    waiting.waker = cx.waker().clone();
                    Poll::Pending
                }
            }),
        }
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            REACTOR.with(|r| r.borrow_mut().remove(slot));
        }
    }
}

impl Reactor {
    fn insert(&mut self, waiting: Waiting) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(waiting);
                i
            }
            None => {
                self.slots.push(Some(waiting));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.free.push(slot);
    }
}

/// The top-level waker: it only notes that something asked for another poll.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}
