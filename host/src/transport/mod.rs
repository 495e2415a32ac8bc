//! How the component's requests leave the machine: one pooled client per command, so
//! connections (plain, TLS, mTLS, through proxies; HTTP/1.1, or HTTP/2 where the registry
//! chooses it) are kept alive and reused per registry. Opening them is `connector`'s job;
//! TLS is `tls`'s; proxy rules are `proxy`'s.

mod connector;
mod deadline;
mod pool;
mod proxy;
pub mod tls;

use bytes::Bytes;
use connector::{Connector, Target, TlsFailure};
use deadline::Progress;
use http_body_util::BodyExt;
use pool::Pool;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
pub use tls::{Advice, TlsFlags};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The work of moving a response body, which wasi:http drives beside the response.
pub type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// The command's HTTP client: its connections and how they are opened.
pub struct Transport {
    pool: Pool,
}

impl Transport {
    /// `debug` reports each connection opened; `advice` is what a failed handshake tells
    /// the user to do.
    pub fn new(flags: &TlsFlags, debug: bool, advice: Advice) -> Transport {
        Transport { pool: Pool::new(Connector::new(flags, advice), debug) }
    }

    /// Connections to a registry endpoint (`host[:port]`) over HTTPS use these TLS flags,
    /// set up now (with the command's own), so that unusable ones are reported before any
    /// work starts.
    pub fn grant_tls(&self, endpoint: &str, flags: &TlsFlags) -> anyhow::Result<()> {
        let target =
            Target::at(true, endpoint).ok_or_else(|| anyhow::anyhow!("{endpoint:?} is not a registry host"))?;
        let connector = self.pool.connector();
        connector.grant_tls(&target, flags)?;
        connector.tls(&target)?;
        self.check_tls()
    }

    /// The command's own TLS settings, set up now, so that unusable ones are reported
    /// before any work starts.
    pub fn check_tls(&self) -> anyhow::Result<()> {
        self.pool.connector().command_tls().map(drop)
    }

    /// Connections to a host that the answer to a request named (its registry's token
    /// service, a storage host it redirects to) use the TLS settings that request's host
    /// was granted, unless the host has its own.
    pub fn share_tls(&self, from: &http::Uri, https: bool, authority: &str) {
        if let (true, Some(from), Some(to)) = (https, Target::of(from), Target::at(https, authority)) {
            self.pool.connector().share_tls(&from, &to);
        }
    }

    /// Opens `n` connections to a registry endpoint (`host[:port]`) ahead of the component's
    /// requests, so that those it makes at once find one each. (The runtime has one thread:
    /// they start opening when the component first waits, for its first request.)
    pub fn open_ahead(&self, endpoint: &str, https: bool, n: usize) {
        if let Some(target) = Target::at(https, endpoint) {
            self.pool.open_ahead(&target, n);
        }
    }

    /// Sends one request on a pooled connection and returns the response head; the body
    /// streams afterwards, and the connection goes back to the pool when it is read.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let start = tokio::time::Instant::now();
        let progress = Progress::default();
        let length = content_length(&request);
        let mut request = request.map(|body| progress.watch(body, length));
        let mut target = Target::of(request.uri()).ok_or(HttpError::HttpRequestUriInvalid)?;
        target.http1_only = target.https && length > LARGE_UPLOAD;
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(Duration::from_secs(600))
        };
        let (first_byte, between_bytes) = (timeout(|o| o.first_byte_timeout), timeout(|o| o.between_bytes_timeout));
        let absolute = request.uri().clone();
        let origin: http::Uri = absolute
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        // A plain-HTTP proxy takes the absolute URI, and its credentials in a header.
        let mut proxied = false;
        if let Some(proxy) = self.pool.connector().proxy_for(&target).map_err(|f| f.code())?
            && !target.https
        {
            proxied = true;
            if let Some(auth) = proxy.authorization {
                let value = auth.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
                request.headers_mut().insert(http::header::PROXY_AUTHORIZATION, value);
            }
        }
        let exchange = async {
            let mut unsent_tries = 0;
            loop {
                let mut connection = self.pool.take(&target).await.map_err(|f| f.code())?;
                // HTTP/1.1 to the registry itself takes the path alone; HTTP/2 and a proxy, all of it.
                *request.uri_mut() = if proxied || connection.is_h2() { absolute.clone() } else { origin.clone() };
                let tls_failure = connection.tls_failure().clone();
                match connection.try_send_request(request).await {
                    Ok(response) => {
                        self.pool.give_back(&target, connection);
                        return Ok((response, tls_failure));
                    }
                    Err(mut e) => match e.take_message() {
                        // A connection that closed before the request left it (a kept-alive one
                        // the server had closed, say): whatever its method, it goes on another.
                        Some(unsent) if unsent_tries < UNSENT_TRIES => {
                            unsent_tries += 1;
                            request = unsent;
                        }
                        _ => {
                            let advice = self.pool.connector().advice();
                            return Err(failure(&target.host, &e.into_error(), &tls_failure, advice));
                        }
                    },
                }
            }
        };
        let (response, tls_failure) = tokio::select! {
            exchanged = exchange => exchanged?,
            failure = progress.expired(start, first_byte, between_bytes) => return Err(failure),
        };
        let response = response.map(|body| {
            let (host, deadline) = (target.host.clone(), Box::pin(tokio::time::sleep(between_bytes)));
            let advice = self.pool.connector().advice();
            Timed { body, host, tls_failure, advice, between_bytes, deadline }.boxed_unsync()
        });
        // The pool drives the connection; there is nothing else to keep alive.
        Ok((response, Box::new(async { Ok(()) })))
    }
}

/// How many connections a request that never left one is tried on after the first.
const UNSENT_TRIES: usize = 3;

/// A request body larger than this goes over HTTP/1.1 (see `Target::http1_only`): the
/// window distribution gives an HTTP/2 upload.
const LARGE_UPLOAD: u64 = 1 << 20;

/// The size a request says its body has; 0 if it does not say.
fn content_length(request: &http::Request<WasiBody>) -> u64 {
    let length = request.headers().get(http::header::CONTENT_LENGTH);
    length.and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0)
}

/// What a failed request means for the component: a TLS failure (under TLS 1.3 a server's
/// refusal, say of a missing client certificate, arrives only with the first response) is
/// said as such; an answer that is not HTTP (another service on the port) is a protocol
/// error, and one whose head is too large says so; anything else that ends an exchange (a
/// server that hangs up or resets the connection, an HTTP/2 stream reset) has terminated
/// it, which is worth a retry.
fn failure(host: &str, e: &hyper::Error, tls_failure: &TlsFailure, advice: Advice) -> HttpError {
    if let Some(tls) = tls_failure.get() {
        let why = tls::explain_error(host, tls, advice);
        return HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(why) };
    }
    if e.is_parse_too_large() {
        return HttpError::HttpResponseHeaderSectionSize(None);
    }
    if e.is_parse() {
        return HttpError::HttpProtocolError;
    }
    HttpError::ConnectionTerminated
}

/// A response body that fails if the server goes quiet for longer than the component allows,
/// and whose failures are said as a request's are.
struct Timed {
    body: hyper::body::Incoming,
    host: String,
    tls_failure: TlsFailure,
    advice: Advice,
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
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(failure(&self.host, &e, &self.tls_failure, self.advice))))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A request body that yields `parts` parts of `size` bytes, one per `every`, then, if
    /// `stall`, has nothing more for ever (its producer stalls).
    struct Drip {
        parts: usize,
        size: usize,
        every: Duration,
        stall: bool,
        next: Pin<Box<tokio::time::Sleep>>,
    }

    impl http_body::Body for Drip {
        type Data = Bytes;
        type Error = HttpError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
            if self.parts == 0 {
                return if self.stall { Poll::Pending } else { Poll::Ready(None) };
            }
            std::task::ready!(self.next.as_mut().poll(cx));
            let every = self.every;
            self.next.as_mut().reset(tokio::time::Instant::now() + every);
            self.parts -= 1;
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![b'x'; self.size])))))
        }
    }

    fn drip(parts: usize, size: usize, every_ms: u64, stall: bool) -> Drip {
        let every = Duration::from_millis(every_ms);
        Drip { parts, size, every, stall, next: Box::pin(tokio::time::sleep(every)) }
    }

    /// What the test server does once it has the request's head.
    #[derive(Clone, Copy, PartialEq)]
    enum Then {
        /// Reads the body whole and answers 200.
        Answer,
        /// Reads the body whole and says nothing.
        Hang,
        /// Reads no more of the body.
        StopReading,
    }

    /// A server for one request; it holds the connection open until the client lets go.
    async fn server(then: Then) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let Ok((mut tcp, _)) = listener.accept().await else { return };
            let mut read = Vec::new();
            let mut buf = vec![0; 64 << 10];
            let (end, length) = loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&read).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length =
                        text.split("content-length: ").nth(1).and_then(|l| l.split("\r\n").next()?.parse().ok());
                    break (end + 4, length.unwrap_or(0));
                }
            };
            if then == Then::StopReading {
                std::future::pending::<()>().await;
            }
            let mut left = (end + length).saturating_sub(read.len());
            while left > 0 {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => left = left.saturating_sub(n),
                }
            }
            if then == Then::Answer {
                let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            }
            let _ = tcp.read(&mut buf).await;
        });
        addr
    }

    async fn put(
        addr: std::net::SocketAddr,
        body: Drip,
        first_byte_ms: u64,
        between_bytes_ms: u64,
    ) -> Result<u16, HttpError> {
        // A body whose producer stalls says it has a part more than it sends.
        let length = (body.parts + usize::from(body.stall)) * body.size;
        let request = http::Request::put(format!("http://{addr}/upload"))
            .header(http::header::CONTENT_LENGTH, length)
            .body(body.boxed_unsync())
            .unwrap();
        let options = RequestOptions {
            connect_timeout: None,
            first_byte_timeout: Some(Duration::from_millis(first_byte_ms)),
            between_bytes_timeout: Some(Duration::from_millis(between_bytes_ms)),
        };
        let transport = Transport::new(&TlsFlags::default(), false, Advice::Flags);
        let (response, _) = transport.send(request, Some(options)).await?;
        Ok(response.status().as_u16())
    }

    #[tokio::test]
    async fn an_upload_longer_than_the_first_byte_timeout_is_not_cut_short() {
        let addr = server(Then::Answer).await;
        // 8 parts 100 ms apart: 800 ms to send, against 300 ms for the answer.
        assert_eq!(put(addr, drip(8, 1024, 100, false), 300, 400).await.unwrap(), 200);
    }

    #[tokio::test]
    async fn a_registry_that_stops_taking_the_body_fails_after_the_between_bytes_timeout() {
        let addr = server(Then::StopReading).await;
        // 64 MiB, always ready: more than the connection's buffers can hold.
        let started = std::time::Instant::now();
        let failure = put(addr, drip(64, 1 << 20, 0, false), 10_000, 300).await.unwrap_err();
        assert!(matches!(failure, HttpError::ConnectionWriteTimeout), "{failure:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "the stall went unnoticed for {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_body_waiting_on_its_producer_is_not_the_registrys_stall() {
        let addr = server(Then::Answer).await;
        // The producer (a source registry in a copy, say) has its own timeouts.
        let waiting = tokio::time::timeout(Duration::from_secs(1), put(addr, drip(2, 1024, 50, true), 300, 200)).await;
        assert!(waiting.is_err(), "a producer's pause failed the upload: {waiting:?}");
    }

    #[tokio::test]
    async fn a_registry_that_takes_the_body_but_never_answers_times_out_after_the_body() {
        let addr = server(Then::Hang).await;
        let started = std::time::Instant::now();
        // 600 ms of body, then 300 ms for the answer.
        let failure = put(addr, drip(6, 1024, 100, false), 300, 10_000).await.unwrap_err();
        assert!(matches!(failure, HttpError::ConnectionReadTimeout), "{failure:?}");
        assert!(started.elapsed() >= Duration::from_millis(850), "timed out after {:?}", started.elapsed());
    }
}
