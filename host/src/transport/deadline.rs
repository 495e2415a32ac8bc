//! When a request has waited too long. Its first-byte timeout counts from the moment the
//! last of its body was handed to the connection (into hyper's, TLS's and the kernel's
//! buffers, a few MiB at most), not from the start: a large chart pushed over a slow uplink
//! may take longer to send than a registry may take to answer. While the body goes out, the
//! connection must keep taking it: a stall longer than the between-bytes timeout fails it,
//! as a quiet response body does. Time the body's own producer takes (the component reading
//! the chart, or a source registry in a copy) is not the destination's stall, and is left
//! to the producer's own timeouts.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// How far a request's body has gone out: shared by the body, which hyper reads as it
/// sends, and the deadline, which the request's sender waits on.
#[derive(Clone)]
pub struct Progress(Arc<watch::Sender<Sent>>);

#[derive(Clone, Copy, PartialEq)]
enum Sent {
    /// Not a byte yet: connecting, or a body that hyper needs not read (an empty one).
    Nothing,
    /// Some of it, the last part at this instant.
    Some(Instant),
    /// The connection asked for more and the body's producer has none yet.
    Producing,
    /// All of it, at this instant.
    All(Instant),
}

impl Default for Progress {
    fn default() -> Progress {
        Progress(Arc::new(watch::channel(Sent::Nothing).0))
    }
}

impl Progress {
    /// Records how far the body has gone. Whoever waits is woken only when that changes in
    /// kind (the body starts, waits on its producer, moves again, ends), which may bring its
    /// deadline closer; another part only puts it off.
    fn set(&self, sent: Sent) {
        self.0.send_if_modified(|was| {
            let started_or_ended = std::mem::discriminant(was) != std::mem::discriminant(&sent);
            *was = sent;
            started_or_ended
        });
    }

    /// The body, reporting here each part hyper takes from it. A body of a declared
    /// `length` (0: undeclared) has all gone out with its last byte: hyper reads no further.
    pub fn watch(&self, body: WasiBody, length: u64) -> WasiBody {
        http_body_util::BodyExt::boxed_unsync(Watched { body, left: length, progress: self.clone() })
    }

    /// Resolves, with what to say, once the request has waited too long: `first_byte` for
    /// an answer (from the start until a byte of its body went out, from its last byte
    /// after), `between_bytes` for the connection to take the next part of its body.
    pub async fn expired(&self, start: Instant, first_byte: Duration, between_bytes: Duration) -> HttpError {
        let mut changes = self.0.subscribe();
        loop {
            let deadline = match *changes.borrow_and_update() {
                Sent::Nothing => Some((start + first_byte, HttpError::ConnectionReadTimeout)),
                Sent::Some(at) => Some((at + between_bytes, HttpError::ConnectionWriteTimeout)),
                Sent::Producing => None,
                Sent::All(at) => Some((at + first_byte, HttpError::ConnectionReadTimeout)),
            };
            let Some((deadline, failure)) = deadline else {
                // The sender holds the channel open, so this waits for the body to move.
                let _ = changes.changed().await;
                continue;
            };
            if Instant::now() >= deadline {
                return failure;
            }
            // Past the deadline, or woken by the body, it is worked out again.
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                _ = changes.changed() => {}
            }
        }
    }
}

/// A request body that reports its progress.
struct Watched {
    body: WasiBody,
    /// What the declared length leaves to send.
    left: u64,
    progress: Progress,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        let sent = match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                let had = self.left;
                self.left = had.saturating_sub(frame.data_ref().map_or(0, |d| d.len() as u64));
                let all = (had > 0 && self.left == 0) || self.body.is_end_stream();
                if all { Sent::All(Instant::now()) } else { Sent::Some(Instant::now()) }
            }
            Poll::Ready(None) => Sent::All(Instant::now()),
            Poll::Pending => Sent::Producing,
            Poll::Ready(Some(Err(_))) => return polled,
        };
        self.progress.set(sent);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
