//! Kept-alive connections per registry endpoint. A request takes an idle connection, or
//! waits for the first one to come free or to open (so no more connections are opened
//! than requests are in flight at once); a connection goes back to the pool once its
//! response has been read. Connections can be opened ahead of need, while the component
//! is still starting.

use super::connector::{Connector, Failure, Target};
use hyper::client::conn::http1::{self, SendRequest};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiBody;

/// A connection, as hyper lets requests be sent on it.
pub type Connection = SendRequest<WasiBody>;

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
    idle: Vec<Connection>,
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

    /// Starts opening `n` connections to `target`, for requests still to come.
    pub fn open_ahead(&self, target: &Target, n: usize) {
        self.shared.slots.lock().expect("pool lock").entry(target.clone()).or_default().opening += n;
        for _ in 0..n {
            tokio::spawn(self.clone().open(target.clone()));
        }
    }

    /// A connection ready for a request, and whether it served one before.
    pub async fn take(&self, target: &Target) -> Result<(Connection, bool), Failure> {
        let answer = {
            let mut slots = self.shared.slots.lock().expect("pool lock");
            let slot = slots.entry(target.clone()).or_default();
            while let Some(connection) = slot.idle.pop() {
                if connection.is_ready() {
                    return Ok((connection, true));
                }
            }
            let (tx, rx) = oneshot::channel();
            slot.waiting.push_back(tx);
            let open = slot.opening < slot.waiting.len();
            if open {
                slot.opening += 1;
            }
            drop(slots);
            if open {
                tokio::spawn(self.clone().open(target.clone()));
            }
            rx
        };
        let connection = answer.await.map_err(|_| Failure::Setup("the connection pool shut down".into()))??;
        Ok((connection, false))
    }

    /// Hands a connection back once it can take the next request (its response read).
    pub fn give_back(&self, target: &Target, mut connection: Connection) {
        let (pool, target) = (self.clone(), target.clone());
        tokio::spawn(async move {
            if connection.ready().await.is_ok() {
                pool.deliver(&target, Ok(connection));
            }
        });
    }

    async fn open(self, target: Target) {
        let opened = self.shared.connector.open(&target).await;
        let handshake = match opened {
            Ok(io) => http1::handshake(io).await.map_err(|e| Failure::Setup(format!("HTTP handshake: {e}"))),
            Err(e) => Err(e),
        };
        let connection = handshake.map(|(sender, driver)| {
            tokio::spawn(driver);
            let n = self.shared.opened.fetch_add(1, Ordering::Relaxed) + 1;
            if self.shared.debug {
                eprintln!("[debug] opened connection {n} to {}", target.authority());
            }
            sender
        });
        self.shared.slots.lock().expect("pool lock").entry(target.clone()).or_default().opening -= 1;
        self.deliver(&target, connection);
    }

    /// Gives a connection (or why none could be opened) to the first request still
    /// waiting; an unwanted connection goes idle, an unwanted failure is dropped.
    fn deliver(&self, target: &Target, mut connection: Result<Connection, Failure>) {
        let mut slots = self.shared.slots.lock().expect("pool lock");
        let slot = slots.entry(target.clone()).or_default();
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
