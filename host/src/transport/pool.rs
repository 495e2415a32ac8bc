//! Kept-alive connections per registry endpoint. A request takes an idle connection, or
//! waits for the first one to come free or to open (so no more connections are opened
//! than requests are in flight at once); a connection goes back to the pool once its
//! response has been read. Connections can be opened ahead of need, for requests a
//! command will make at once. A registry that chooses HTTP/2 (over TLS) gets one
//! connection that every request shares, all of them in flight on it at once.

use super::connector::{Connector, Failure, Opened, Target, TlsFailure};
use crate::learnt;
use crate::output::stream::errln;
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiBody;

/// A connection, as hyper lets requests be sent on it, and the TLS error it failed on.
pub struct Connection {
    sender: Sender,
    tls_failure: TlsFailure,
}

/// An HTTP/1.1 connection carries one request at a time; an HTTP/2 one is shared.
enum Sender {
    H1(http1::SendRequest<WasiBody>),
    H2(http2::SendRequest<WasiBody>),
}

impl Connection {
    /// Whether requests go on it whole URIs and all (HTTP/2's `:scheme` and `:authority`).
    pub fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    pub fn tls_failure(&self) -> &TlsFailure {
        &self.tls_failure
    }

    pub async fn try_send_request(
        &mut self,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<Incoming>, TrySendError<http::Request<WasiBody>>> {
        match &mut self.sender {
            Sender::H1(c) => c.try_send_request(request).await,
            Sender::H2(c) => c.try_send_request(request).await,
        }
    }

    fn is_ready(&self) -> bool {
        match &self.sender {
            Sender::H1(c) => c.is_ready(),
            Sender::H2(c) => c.is_ready(),
        }
    }

    /// Another handle on an HTTP/2 connection, for another request; None for HTTP/1.1.
    fn share(&self) -> Option<Connection> {
        match &self.sender {
            Sender::H2(c) => Some(Connection { sender: Sender::H2(c.clone()), tls_failure: self.tls_failure.clone() }),
            Sender::H1(_) => None,
        }
    }
}

/// How much of one HTTP/2 response the registry may send ahead of what was read: 8 MiB,
/// 400 MB/s at 20 ms of round trip.
const STREAM_WINDOW: u32 = 8 << 20;

/// A shared HTTP/2 connection quiet this long is pinged, and closed if no answer comes
/// within `KEEP_ALIVE_TIMEOUT`.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Open connections per target, shared by every request of the command.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    slots: Mutex<HashMap<Target, Slot>>,
    opened: AtomicUsize,
    debug: bool,
}

#[derive(Default)]
struct Slot {
    /// HTTP/1.1 connections between requests.
    idle: Vec<Connection>,
    /// The HTTP/2 connection every request shares, once the registry has chosen HTTP/2.
    shared: Option<Connection>,
    /// Whether the registry chose HTTP/2 for this run's first connection.
    h2: Option<bool>,
    /// Connections being opened.
    opening: usize,
    /// Requests waiting for a connection, first come first served.
    waiting: VecDeque<oneshot::Sender<Result<Connection, Failure>>>,
}

impl Pool {
    pub fn new(connector: Connector, debug: bool) -> Pool {
        Pool { shared: Arc::new(Shared { connector, slots: Mutex::default(), opened: AtomicUsize::new(0), debug }) }
    }

    pub fn connector(&self) -> &Connector {
        &self.shared.connector
    }

    /// Starts opening `n` connections to `target`, for requests still to come: if the
    /// registry chose HTTP/2 last time, at most one, and none while one is open or opening,
    /// as they will all share it.
    pub fn open_ahead(&self, target: &Target, n: usize) {
        let mut slots = self.shared.slots.lock().expect("pool lock");
        let slot = slots.entry(target.clone()).or_default();
        let n = if !slot.shares(target) {
            n
        } else if slot.opening > 0 || slot.shared.as_ref().is_some_and(Connection::is_ready) {
            0
        } else {
            n.min(1)
        };
        slot.opening += n;
        drop(slots);
        for _ in 0..n {
            tokio::spawn(self.clone().open(target.clone()));
        }
    }

    /// A connection ready for a request.
    pub async fn take(&self, target: &Target) -> Result<Connection, Failure> {
        let answer = {
            let mut slots = self.shared.slots.lock().expect("pool lock");
            let slot = slots.entry(target.clone()).or_default();
            match slot.shared.as_ref().filter(|c| c.is_ready()).and_then(Connection::share) {
                Some(shared) => return Ok(shared),
                None => slot.shared = None,
            }
            while let Some(connection) = slot.idle.pop() {
                if connection.is_ready() {
                    return Ok(connection);
                }
            }
            let (tx, rx) = oneshot::channel();
            // Requests that gave up waiting (timed out) need no connection.
            slot.waiting.retain(|w| !w.is_closed());
            slot.waiting.push_back(tx);
            // A connection for each request waiting, unless they are to share the one opening.
            let open = slot.opening < slot.waiting.len() && !(slot.opening > 0 && slot.shares(target));
            if open {
                slot.opening += 1;
            }
            drop(slots);
            if open {
                tokio::spawn(self.clone().open(target.clone()));
            }
            rx
        };
        answer.await.map_err(|_| Failure::Setup("the connection pool shut down".into()))?
    }

    /// Hands a connection back once it can take the next request (its response read). A
    /// shared HTTP/2 connection never left the pool.
    pub fn give_back(&self, target: &Target, connection: Connection) {
        let Connection { sender: Sender::H1(mut sender), tls_failure } = connection else { return };
        let (pool, target) = (self.clone(), target.clone());
        tokio::spawn(async move {
            if sender.ready().await.is_ok() {
                pool.deliver(&target, Ok(Connection { sender: Sender::H1(sender), tls_failure }));
            }
        });
    }

    async fn open(self, target: Target) {
        let handshake = |e: hyper::Error| Failure::Setup(format!("HTTP handshake: {e}"));
        let connection = match self.shared.connector.open(&target).await {
            Ok(Opened { io, h2: true, tls_failure }) => {
                // Windows as large as a fast link a few tens of milliseconds away needs, so that
                // a large chart does not come at hyper's default 2 MiB a round trip. The
                // connection's bounds all its responses together: twice a stream's is still
                // 800 MB/s at 20 ms, more than the link, however many pulls share it.
                let mut builder = http2::Builder::new(TokioExecutor::new());
                builder.initial_stream_window_size(STREAM_WINDOW).initial_connection_window_size(2 * STREAM_WINDOW);
                // Every request shares this one connection, so one that went dead without a
                // word (a NAT or load balancer dropping it) must be found out and replaced,
                // not waited on until each request's own timeout.
                builder
                    .timer(TokioTimer::new())
                    .keep_alive_interval(KEEP_ALIVE_INTERVAL)
                    .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
                builder.handshake(io).await.map_err(handshake).map(|(sender, driver)| {
                    tokio::spawn(driver);
                    Connection { sender: Sender::H2(sender), tls_failure }
                })
            }
            Ok(Opened { io, h2: false, tls_failure }) => {
                http1::handshake(io).await.map_err(handshake).map(|(sender, driver)| {
                    tokio::spawn(driver);
                    Connection { sender: Sender::H1(sender), tls_failure }
                })
            }
            Err(e) => Err(e),
        };
        if let Ok(connection) = &connection {
            if target.https && !target.http1_only {
                learnt::learn_http2(&target.authority(), connection.is_h2());
            }
            let n = self.shared.opened.fetch_add(1, Ordering::Relaxed) + 1;
            if self.shared.debug {
                let protocol = if connection.is_h2() { "HTTP/2" } else { "HTTP/1.1" };
                errln!("[debug] opened connection {n} to {} ({protocol})", target.authority());
            }
        }
        {
            let mut slots = self.shared.slots.lock().expect("pool lock");
            let slot = slots.entry(target.clone()).or_default();
            slot.opening -= 1;
            if let Ok(connection) = &connection {
                slot.h2 = Some(connection.is_h2());
            }
        }
        self.deliver(&target, connection);
        self.open_for_the_waiting(&target);
    }

    /// Requests that waited to share an HTTP/2 connection, and found HTTP/1.1 (or none),
    /// get one connection each.
    fn open_for_the_waiting(&self, target: &Target) {
        let missing = {
            let mut slots = self.shared.slots.lock().expect("pool lock");
            let slot = slots.entry(target.clone()).or_default();
            if slot.opening > 0 && slot.shares(target) {
                return;
            }
            slot.waiting.retain(|w| !w.is_closed());
            let missing = slot.waiting.len().saturating_sub(slot.opening);
            slot.opening += missing;
            missing
        };
        for _ in 0..missing {
            tokio::spawn(self.clone().open(target.clone()));
        }
    }

    /// Gives a connection (or why none could be opened) to the first request still
    /// waiting; an unwanted connection goes idle, an unwanted failure is dropped. An HTTP/2
    /// connection goes to every request waiting, and stays for those to come (one opened
    /// ahead beside it is not needed and closes).
    fn deliver(&self, target: &Target, mut connection: Result<Connection, Failure>) {
        let mut slots = self.shared.slots.lock().expect("pool lock");
        let slot = slots.entry(target.clone()).or_default();
        if let Some(opened) = connection.as_ref().ok().and_then(Connection::share) {
            // One opened alongside stays shared only while it works.
            if slot.shared.as_ref().is_none_or(|c| !c.is_ready()) {
                slot.shared = Some(opened);
            }
            let shared = slot.shared.as_ref().expect("just set");
            for waiter in slot.waiting.drain(..) {
                let _ = waiter.send(Ok(shared.share().expect("an HTTP/2 connection")));
            }
            return;
        }
        while let Some(waiter) = slot.waiting.pop_front() {
            match waiter.send(connection) {
                Ok(()) => return,
                Err(unwanted) => connection = unwanted,
            }
        }
        if let Ok(connection) = connection {
            slot.idle.push(connection);
        }
    }
}

impl Slot {
    /// Whether requests to `target` are to share one HTTP/2 connection: the registry chose
    /// HTTP/2 in this run, or if nothing is open yet, on an earlier one.
    fn shares(&self, target: &Target) -> bool {
        self.h2.unwrap_or_else(|| target.https && !target.http1_only && learnt::http2(&target.authority()))
    }
}
