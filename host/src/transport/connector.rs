//! Opening registry connections for the pool: DNS, TCP with Nagle off, a CONNECT tunnel
//! through an HTTPS proxy (or a connection to a plain-HTTP proxy), then TLS.

use super::proxy::{Proxies, Proxy};
use super::tls::{self, TlsFlags};
use http::Uri;
use http::uri::Scheme;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmtime_wasi_http::Error as HttpError;

/// Connecting (and the TLS handshake) must be quick; a registry that takes longer is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the pool calls to open a connection; cheap to clone, one per command.
#[derive(Clone)]
pub struct Connector {
    shared: Arc<Shared>,
}

struct Shared {
    flags: TlsFlags,
    /// Made on first use: loading the system's CA store costs a few milliseconds that a
    /// plain-HTTP command need not pay.
    tls: OnceLock<tokio_rustls::TlsConnector>,
    proxies: Proxies,
}

impl Connector {
    pub fn new(flags: &TlsFlags) -> Connector {
        Connector {
            shared: Arc::new(Shared { flags: flags.clone(), tls: OnceLock::new(), proxies: Proxies::from_env() }),
        }
    }

    /// The TLS set-up, read from the system's store and the TLS flags.
    pub fn tls(&self) -> anyhow::Result<&tokio_rustls::TlsConnector> {
        if let Some(tls) = self.shared.tls.get() {
            return Ok(tls);
        }
        let made = Arc::new(tls::config(&self.shared.flags)?).into();
        Ok(self.shared.tls.get_or_init(|| made))
    }

    /// The proxy a request to `uri` goes through, if any.
    pub fn proxy_for(&self, uri: &Uri) -> Option<Proxy> {
        let (https, host, port) = target(uri)?;
        self.shared.proxies.for_target(https, &host, port)
    }

    async fn connect(self, uri: Uri) -> Result<Conn, Failure> {
        let (https, host, port) = target(&uri).ok_or(Failure::BadTarget)?;
        let proxy = self.shared.proxies.for_target(https, &host, port);
        let dial = proxy.as_ref().map_or_else(|| authority(&host, port), |p| p.authority.clone());
        let mut tcp = tokio::time::timeout(CONNECT_TIMEOUT, open(&dial)).await.map_err(|_| Failure::TimedOut)??;
        if !https {
            return Ok(Conn { io: TokioIo::new(Box::new(tcp)), proxied: proxy.is_some() });
        }
        if let Some(p) = &proxy {
            tunnel(&mut tcp, &authority(&host, port), p.authorization.as_deref()).await?;
        }
        let name = ServerName::try_from(host.clone()).map_err(|_| Failure::BadTarget)?;
        let connector = self.tls().map_err(|e| Failure::Setup(format!("{e:#}")))?;
        let tls =
            tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await.map_err(|_| Failure::TimedOut)?;
        let tls = tls.map_err(|e| Failure::Tls(tls::explain(&host, &e)))?;
        Ok(Conn { io: TokioIo::new(Box::new(tls)), proxied: false })
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, Failure>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Failure>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// Scheme, host (without IPv6 brackets) and port of a request.
fn target(uri: &Uri) -> Option<(bool, String, u16)> {
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    let host = uri.host()?.trim_matches(['[', ']']).to_string();
    Some((https, host, uri.port_u16().unwrap_or(if https { 443 } else { 80 })))
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Resolves and connects, trying each address in turn.
async fn open(dial: &str) -> Result<TcpStream, Failure> {
    let addresses: Vec<_> = tokio::net::lookup_host(dial).await.map_err(|_| Failure::NotFound)?.collect();
    let mut last = Failure::NotFound;
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(tcp) => {
                // Requests are small writes answered at once; Nagle's algorithm would hold each
                // TLS record back for the peer's delayed ACK (~40 ms a request).
                tcp.set_nodelay(true).map_err(|_| Failure::Unreachable)?;
                return Ok(tcp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => last = Failure::Refused,
            Err(_) => last = Failure::Unreachable,
        }
    }
    Err(last)
}

/// Opens a tunnel through an HTTP proxy with `CONNECT`.
async fn tunnel(tcp: &mut TcpStream, target: &str, authorization: Option<&str>) -> Result<(), Failure> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = authorization {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    let closed = |_| Failure::Proxy("closed the connection during CONNECT".into());
    tcp.write_all(head.as_bytes()).await.map_err(closed)?;
    // Read byte by byte up to the blank line, so nothing of the TLS stream is consumed.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > 16 << 10 {
            return Err(Failure::Proxy("answered CONNECT with an oversized header".into()));
        }
        answer.push(tcp.read_u8().await.map_err(closed)?);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        _ => Err(Failure::Proxy(format!("refused CONNECT to {target}: {status_line}"))),
    }
}

/// Why a connection could not be opened, in the terms the component's errors carry.
#[derive(Debug)]
pub enum Failure {
    BadTarget,
    NotFound,
    Refused,
    TimedOut,
    Unreachable,
    Tls(String),
    Proxy(String),
    Setup(String),
}

impl Failure {
    /// The wasi:http error code the component receives.
    pub fn code(&self) -> HttpError {
        match self {
            Failure::BadTarget => HttpError::HttpRequestUriInvalid,
            Failure::NotFound => HttpError::DnsError { rcode: Some("host not found".into()), info_code: None },
            Failure::Refused => HttpError::ConnectionRefused,
            Failure::TimedOut => HttpError::ConnectionTimeout,
            Failure::Unreachable => HttpError::DestinationUnavailable,
            // The alert message is the one wasi:http error that carries text back to the component.
            Failure::Tls(why) => HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(why.clone()) },
            Failure::Proxy(why) => HttpError::InternalError(Some(format!("the proxy {why}"))),
            Failure::Setup(why) => HttpError::InternalError(Some(why.clone())),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.code())
    }
}

impl std::error::Error for Failure {}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// An open connection, plain or TLS, as the pool holds it.
pub struct Conn {
    io: TokioIo<Box<dyn Stream>>,
    /// Requests on it go to a plain-HTTP proxy, in absolute form.
    proxied: bool,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new().proxy(self.proxied)
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
