//! How the component's requests leave the machine: one pooled client per command, so
//! connections (plain, TLS, mTLS, through proxies) are kept alive and reused per registry.
//! Opening them is `connector`'s job; TLS is `tls`'s; proxy rules are `proxy`'s.

mod connector;
mod proxy;
pub mod tls;

use bytes::Bytes;
use connector::{Connector, Failure};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
pub use tls::TlsFlags;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

pub type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// The command's pooled HTTP client.
pub struct Transport {
    client: Client<Connector, WasiBody>,
    connector: Connector,
}

impl Transport {
    pub fn new(flags: &TlsFlags) -> Transport {
        let connector = Connector::new(flags);
        let client = Client::builder(TokioExecutor::new()).pool_timer(TokioTimer::new()).build(connector.clone());
        Transport { client, connector }
    }

    /// Sets up TLS now, so that unusable TLS flags are reported before any work starts.
    pub fn check_tls(&self) -> anyhow::Result<()> {
        self.connector.tls().map(drop)
    }

    /// Sends one request on a pooled connection and returns the response head; the body
    /// streams afterwards, and the connection goes back to the pool when it is done.
    pub async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let host = request.uri().host().unwrap_or_default().to_string();
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(Duration::from_secs(600))
        };
        let (first_byte, between_bytes) = (timeout(|o| o.first_byte_timeout), timeout(|o| o.between_bytes_timeout));
        // A plain-HTTP proxy takes its credentials in a header; a tunnel takes them at CONNECT.
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTP)
            && let Some(auth) = self.connector.proxy_for(request.uri()).and_then(|p| p.authorization)
        {
            let value = auth.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
            request.headers_mut().insert(http::header::PROXY_AUTHORIZATION, value);
        }
        let response = tokio::time::timeout(first_byte, self.client.request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(|e| failure(&host, &e))?;
        let response = response.map(|body| {
            Timed { body, between_bytes, deadline: Box::pin(tokio::time::sleep(between_bytes)) }.boxed_unsync()
        });
        // The pool drives the connection; there is nothing else to keep alive.
        Ok((response, Box::new(async { Ok(()) })))
    }
}

/// What a failed request means for the component. A connection that could not be opened
/// says why; a server that hangs up or resets the connection has terminated it (worth a
/// retry). Under TLS 1.3 a server's refusal (say, of a missing client certificate) arrives
/// only with the first response, so TLS failures are looked for here too.
fn failure(host: &str, e: &hyper_util::client::legacy::Error) -> HttpError {
    use std::io::ErrorKind;
    let mut protocol = false;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(connect) = c.downcast_ref::<Failure>() {
            return connect.code();
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if tls::is_tls(io) {
                return HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(tls::explain(host, io)) };
            }
            if matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            ) {
                return HttpError::ConnectionTerminated;
            }
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return HttpError::ConnectionTerminated;
            }
            protocol = true;
        }
        cause = c.source();
    }
    if protocol { HttpError::HttpProtocolError } else { HttpError::InternalError(Some(format!("{host}: {e}"))) }
}

/// A response body that fails if the server goes quiet for longer than the component allows.
struct Timed {
    body: hyper::body::Incoming,
    between_bytes: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Timed {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
