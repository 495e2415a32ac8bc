//! Opening registry connections for the pool: DNS, TCP with Nagle off, a CONNECT tunnel
//! through an HTTPS proxy (or a connection to a plain-HTTP proxy), then TLS, offering
//! HTTP/2 by ALPN (except for a large upload's connection).

use super::proxy::{Proxies, Proxy};
use super::tls::{self, Advice, TlsFlags};
use http::Uri;
use http::uri::Scheme;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use wasmtime_wasi_http::Error as HttpError;

/// Connecting must be quick; a registry that takes longer is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A TLS handshake that has not ended by then never will (Go's and so Helm's limit): a
/// listener that takes the connection and says nothing would otherwise hold each of a
/// request's tries for `CONNECT_TIMEOUT`.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a connection goes: what the pool keys its connections by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub https: bool,
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Over HTTP/1.1 even if the server offers HTTP/2: for large uploads, which HTTP/2 holds
    /// to the server's window a round trip (distribution's is 1 MiB), where TCP's grows.
    pub http1_only: bool,
}

impl Target {
    pub fn of(uri: &Uri) -> Option<Target> {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        // Host names are case-insensitive: one pool slot, and one TLS name, whatever the case.
        let host = uri.host()?.trim_matches(['[', ']']).to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Target { https, host, port, http1_only: false })
    }

    /// The target of `http[s]://AUTHORITY/`.
    pub fn at(https: bool, authority: &str) -> Option<Target> {
        Target::of(&format!("{}://{authority}/", if https { "https" } else { "http" }).parse().ok()?)
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An open connection, plain or TLS.
pub type Conn = TokioIo<Box<dyn Stream>>;

/// A connection just opened, whether the server chose HTTP/2 for it (by ALPN, so only
/// over TLS), and where the TLS error it fails on will be.
pub struct Opened {
    pub io: Conn,
    pub h2: bool,
    pub tls_failure: TlsFailure,
}

/// The TLS error a connection failed on. HTTP/2 passes on only the text of the I/O errors
/// it meets, so the stream keeps rustls's own error here, where it can still be explained
/// (under TLS 1.3 a refused client certificate, say, arrives only with the first response).
#[derive(Clone, Default)]
pub struct TlsFailure(Arc<OnceLock<rustls::Error>>);

impl TlsFailure {
    pub fn get(&self) -> Option<&rustls::Error> {
        self.0.get()
    }

    fn keep<T>(&self, polled: &Poll<io::Result<T>>) {
        if let Poll::Ready(Err(e)) = polled
            && let Some(tls) = tls::rustls_error(e)
        {
            let _ = self.0.set(tls.clone());
        }
    }
}

/// A TLS stream that keeps the TLS error it fails on.
struct Watched<S> {
    stream: S,
    failure: TlsFailure,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.failure.keep(&polled);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.failure.keep(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.failure.keep(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.failure.keep(&polled);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// What a connection runs over: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Opens connections for one command, with its TLS flags (or those a registry was granted
/// with) and the environment's proxies.
pub struct Connector {
    /// The command's: for hosts granted none of their own.
    tls: Arc<TlsSetup>,
    /// What each registry was granted (the command's, or a chart repository's from `helm
    /// repo add`), and each host a registry's answer named, by `host:port`.
    granted: Mutex<HashMap<String, Arc<TlsSetup>>>,
    proxies: Proxies,
    /// What a failed handshake tells the user to do.
    advice: Advice,
}

/// TLS flags and the set-up made from them on first use: loading the system's CA store
/// costs a few milliseconds that a plain-HTTP command need not pay.
struct TlsSetup {
    flags: TlsFlags,
    made: OnceLock<Tls>,
}

impl TlsSetup {
    fn new(flags: &TlsFlags) -> TlsSetup {
        TlsSetup { flags: flags.clone(), made: OnceLock::new() }
    }

    /// The set-up, read from the system's store and the flags.
    fn tls(&self) -> anyhow::Result<&Tls> {
        if let Some(tls) = self.made.get() {
            return Ok(tls);
        }
        let any = tls::config(&self.flags)?;
        let mut http1 = any.clone();
        http1.alpn_protocols.retain(|p| p.as_slice() != b"h2");
        let made = Tls { any: Arc::new(any).into(), http1: Arc::new(http1).into() };
        Ok(self.made.get_or_init(|| made))
    }
}

/// The TLS set-up, offering HTTP/2 and HTTP/1.1, or HTTP/1.1 alone.
#[derive(Clone)]
pub struct Tls {
    any: tokio_rustls::TlsConnector,
    http1: tokio_rustls::TlsConnector,
}

impl Connector {
    pub fn new(flags: &TlsFlags, advice: Advice) -> Connector {
        let tls = Arc::new(TlsSetup::new(flags));
        Connector { tls, granted: Mutex::default(), proxies: Proxies::from_env(), advice }
    }

    pub fn advice(&self) -> Advice {
        self.advice
    }

    /// Connections to `target` use these TLS flags. One registry has one set of them in a
    /// command: a second, different set is refused rather than one of them ignored.
    pub fn grant_tls(&self, target: &Target, flags: &TlsFlags) -> anyhow::Result<()> {
        let mut granted = self.granted.lock().expect("TLS grants lock");
        match granted.get(&target.authority()) {
            Some(setup) if setup.flags == *flags => {}
            Some(_) => anyhow::bail!(
                "{} is already reached with other TLS settings in this command (by another dependency \
                 or a mirror); give the command --ca-file, --cert-file/--key-file or \
                 --insecure-skip-tls-verify so that they agree",
                target.authority()
            ),
            None => {
                // Registries granted the same settings share one set-up, made once.
                let same = granted.values().chain([&self.tls]).find(|setup| setup.flags == *flags).cloned();
                granted.insert(target.authority(), same.unwrap_or_else(|| Arc::new(TlsSetup::new(flags))));
            }
        }
        Ok(())
    }

    /// Connections to `to` use the TLS settings `from` was granted, unless `to` has some.
    pub fn share_tls(&self, from: &Target, to: &Target) {
        let mut granted = self.granted.lock().expect("TLS grants lock");
        if let Some(setup) = granted.get(&from.authority()).cloned() {
            granted.entry(to.authority()).or_insert(setup);
        }
    }

    /// The TLS set-up for `target` (made now if it was not yet): the one it was granted,
    /// else the command's.
    pub fn tls(&self, target: &Target) -> anyhow::Result<Tls> {
        let granted = self.granted.lock().expect("TLS grants lock").get(&target.authority()).cloned();
        Ok(granted.as_ref().unwrap_or(&self.tls).tls()?.clone())
    }

    /// The command's own TLS set-up, made now if it was not yet.
    pub fn command_tls(&self) -> anyhow::Result<Tls> {
        Ok(self.tls.tls()?.clone())
    }

    /// The proxy requests to `target` go through, if any.
    pub fn proxy_for(&self, target: &Target) -> Result<Option<Proxy>, Failure> {
        self.proxies.for_target(target.https, &target.host, target.port).map_err(Failure::Setup)
    }

    pub async fn open(&self, target: &Target) -> Result<Opened, Failure> {
        let proxy = self.proxy_for(target)?;
        let dial = proxy.as_ref().map_or_else(|| target.authority(), |p| p.authority.clone());
        let dialled = tokio::time::timeout(CONNECT_TIMEOUT, open(&dial)).await.unwrap_or(Err(Failure::TimedOut));
        // A proxy that cannot be reached is said as such, not as the registry.
        let mut tcp = dialled.map_err(|failure| match &proxy {
            Some(p) => Failure::Proxy(format!("{} cannot be reached ({})", p.authority, failure.dialling())),
            None => failure,
        })?;
        if !target.https {
            return Ok(Opened { io: TokioIo::new(Box::new(tcp)), h2: false, tls_failure: TlsFailure::default() });
        }
        if let Some(p) = &proxy {
            let authority = target.authority();
            let tunnelled = tunnel(&mut tcp, &authority, p.authorization.as_deref());
            tokio::time::timeout(CONNECT_TIMEOUT, tunnelled).await.map_err(|_| {
                Failure::Proxy(format!("did not answer CONNECT within {}s", CONNECT_TIMEOUT.as_secs()))
            })??;
        }
        let name = ServerName::try_from(target.host.clone()).map_err(|_| Failure::BadTarget)?;
        let tls = self.tls(target).map_err(|e| Failure::Setup(format!("{e:#}")))?;
        let connector = if target.http1_only { &tls.http1 } else { &tls.any };
        let tls = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| Failure::TimedOut)?;
        let tls = tls.map_err(|e| Failure::Tls(tls::explain(&target.host, &e, self.advice)))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let tls_failure = TlsFailure::default();
        let watched = Watched { stream: tls, failure: tls_failure.clone() };
        Ok(Opened { io: TokioIo::new(Box::new(watched)), h2, tls_failure })
    }
}

/// How long an address has to connect before the next one is tried beside it: Go's
/// fallback delay, RFC 8305's connection attempt delay.
const NEXT_ADDRESS_AFTER: Duration = Duration::from_millis(300);

/// Resolves and connects to the first address that answers.
async fn open(dial: &str) -> Result<TcpStream, Failure> {
    let resolved = tokio::net::lookup_host(dial).await;
    let addresses: Vec<_> =
        resolved.map_err(|e| if resolver_busy(&e) { Failure::ResolverBusy } else { Failure::NotFound })?.collect();
    let tcp = first_to_answer(interleaved(addresses)).await?;
    // Requests are small writes answered at once; Nagle's algorithm would hold each TLS
    // record back for the peer's delayed ACK (~40 ms a request).
    tcp.set_nodelay(true).map_err(|_| Failure::Unreachable)?;
    Ok(tcp)
}

/// Whether a failed lookup is the resolver's "try again" (EAI_AGAIN: no answer from the DNS
/// server for now, common on a busy CI runner), not an unknown host. The standard library
/// keeps the code to itself and says it only as the C library's text for it.
fn resolver_busy(e: &io::Error) -> bool {
    // SAFETY: gai_strerror returns a static, NUL-terminated string for any code.
    let again = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(libc::EAI_AGAIN)) };
    again.to_str().is_ok_and(|again| e.to_string().ends_with(again))
}

/// Tries `addresses` in turn, each one that has not connected within `NEXT_ADDRESS_AFTER`
/// (or has failed) still trying while the next starts, as Go and RFC 8305's "happy
/// eyeballs" do: an address that swallows packets (a broken IPv6 route, say) then costs
/// that delay, not the whole connect timeout.
async fn first_to_answer(addresses: Vec<SocketAddr>) -> Result<TcpStream, Failure> {
    let mut waiting = addresses.into_iter();
    let mut attempts = JoinSet::new();
    let mut last = Failure::NotFound;
    loop {
        if let Some(address) = waiting.next() {
            attempts.spawn(TcpStream::connect(address));
        }
        if attempts.is_empty() {
            return Err(last);
        }
        let next_turn = tokio::time::sleep(NEXT_ADDRESS_AFTER);
        tokio::pin!(next_turn);
        // Until one connects, all under way fail, or the next address's turn comes.
        loop {
            tokio::select! {
                done = attempts.join_next() => match done {
                    Some(Ok(Ok(tcp))) => return Ok(tcp),
                    Some(Ok(Err(e))) if e.kind() == io::ErrorKind::ConnectionRefused => last = Failure::Refused,
                    Some(Ok(Err(_))) => last = Failure::Unreachable,
                    Some(Err(_)) => {}
                    None => break,
                },
                () = &mut next_turn, if waiting.len() > 0 => break,
            }
        }
    }
}

/// Addresses with their families taken in turn, the resolver's first family first, each in
/// the resolver's order (RFC 8305 §4): a host with several IPv6 addresses that do not work
/// gets to its IPv4 ones after one delay, not after one per IPv6 address.
fn interleaved(addresses: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addresses.first().map(SocketAddr::is_ipv6) else { return addresses };
    let (mut same, mut other): (VecDeque<_>, VecDeque<_>) = addresses.into_iter().partition(|a| a.is_ipv6() == first);
    let mut out = Vec::with_capacity(same.len() + other.len());
    while let Some(a) = same.pop_front() {
        out.push(a);
        out.extend(other.pop_front());
    }
    out.extend(other);
    out
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
    /// The resolver had no answer for now (worth a retry).
    ResolverBusy,
    Refused,
    TimedOut,
    Unreachable,
    Tls(String),
    Proxy(String),
    Setup(String),
}

impl Failure {
    /// What went wrong in dialling an address, in words.
    fn dialling(&self) -> &'static str {
        match self {
            Failure::NotFound => "host not found",
            Failure::ResolverBusy => "the DNS resolver did not answer",
            Failure::Refused => "connection refused",
            Failure::TimedOut => "connection timed out",
            _ => "unreachable",
        }
    }

    /// The wasi:http error code the component receives.
    pub fn code(&self) -> HttpError {
        match self {
            Failure::BadTarget => HttpError::HttpRequestUriInvalid,
            Failure::NotFound => HttpError::DnsError { rcode: Some("host not found".into()), info_code: None },
            Failure::ResolverBusy => HttpError::DnsTimeout,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_families_take_turns_from_the_resolvers_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let (v6a, v6b, v6c, v4a, v4b) = (a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("127.0.0.1:1"), a("127.0.0.2:1"));
        assert_eq!(interleaved(vec![v6a, v6b, v6c, v4a, v4b]), vec![v6a, v4a, v6b, v4b, v6c]);
        assert_eq!(interleaved(vec![v4a, v6a, v6b]), vec![v4a, v6a, v6b]);
        assert_eq!(interleaved(vec![v4b, v4a]), vec![v4b, v4a]);
        assert_eq!(interleaved(vec![]), vec![]);
    }

    /// An address whose listener's queue is full swallows SYNs, as a broken route does.
    async fn swallowing() -> (tokio::net::TcpListener, SocketAddr, Vec<TcpStream>) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let address = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        while let Ok(Ok(tcp)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(address)).await {
            queued.push(tcp);
            assert!(queued.len() < 64, "the listener's queue never filled");
        }
        (listener, address, queued)
    }

    #[tokio::test]
    async fn an_address_that_swallows_packets_gives_way_to_the_next() {
        let (_full, swallows, _queued) = swallowing().await;
        let answers = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let good = answers.local_addr().unwrap();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, first_to_answer(vec![swallows, good])).await;
        assert_eq!(tcp.expect("connected before the timeout").unwrap().peer_addr().unwrap(), good);
    }

    #[tokio::test]
    async fn a_tls_handshake_that_never_ends_is_given_up_after_go_s_ten_seconds() {
        // The kernel takes the connection into the listener's queue; nothing ever answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let connector = Connector::new(&TlsFlags::default(), Advice::Flags);
        let target = Target { https: true, host: "127.0.0.1".into(), port, http1_only: false };
        let started = std::time::Instant::now();
        assert!(matches!(connector.open(&target).await.err(), Some(Failure::TimedOut)));
        let took = started.elapsed();
        assert!(took >= TLS_HANDSHAKE_TIMEOUT && took < CONNECT_TIMEOUT, "gave up after {took:?}");
    }

    #[tokio::test]
    async fn when_every_address_fails_the_last_failure_is_said() {
        let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(matches!(first_to_answer(vec![refusing]).await, Err(Failure::Refused)));
        assert!(matches!(first_to_answer(vec![]).await, Err(Failure::NotFound)));
    }

    #[test]
    fn only_the_resolvers_try_again_is_taken_for_a_busy_resolver() {
        // As the standard library says a failed getaddrinfo.
        let said = |code| {
            let text = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(code)) }.to_str().unwrap();
            io::Error::other(format!("failed to lookup address information: {text}"))
        };
        assert!(resolver_busy(&said(libc::EAI_AGAIN)));
        assert!(!resolver_busy(&said(libc::EAI_NONAME)));
        assert!(!resolver_busy(&said(libc::EAI_FAIL)));
        assert!(!resolver_busy(&io::Error::from(io::ErrorKind::InvalidInput)));
    }

    #[test]
    fn each_registry_keeps_the_tls_settings_it_was_granted() {
        let target = |uri: &str| Target::of(&uri.parse().unwrap()).unwrap();
        let (own, plain, tokens, elsewhere) = (
            target("https://one.example:5000/"),
            target("https://two.example/"),
            target("https://auth.example/"),
            target("https://s3.example/"),
        );
        let unreadable = |ca: &str| TlsFlags { ca_file: Some(ca.into()), ..TlsFlags::default() };
        let connector = Connector::new(&unreadable("/nonexistent/command-ca.pem"), Advice::Flags);
        let said = |target: &Target| connector.tls(target).err().expect("a missing CA file").to_string();
        // A registry granted its own settings first: the command's stay the default.
        connector.grant_tls(&own, &unreadable("/nonexistent/own-ca.pem")).unwrap();
        connector.grant_tls(&own, &unreadable("/nonexistent/own-ca.pem")).unwrap();
        assert!(said(&own).contains("own-ca.pem"), "{}", said(&own));
        assert!(said(&elsewhere).contains("command-ca.pem"), "{}", said(&elsewhere));
        connector.grant_tls(&plain, &unreadable("/nonexistent/command-ca.pem")).unwrap();
        assert!(said(&plain).contains("command-ca.pem"));
        // A host a registry's answer names is reached as that registry is.
        connector.share_tls(&own, &tokens);
        assert!(said(&tokens).contains("own-ca.pem"));
        connector.share_tls(&plain, &tokens);
        assert!(said(&tokens).contains("own-ca.pem"), "a host keeps the settings it has");
        // One registry, two sets of settings: refused, whichever came first.
        assert!(connector.grant_tls(&own, &TlsFlags::default()).is_err());
        assert!(connector.grant_tls(&plain, &unreadable("/nonexistent/own-ca.pem")).is_err());
    }

    #[test]
    fn a_target_is_named_in_lower_case_with_its_port() {
        let target = |uri: &str| Target::of(&uri.parse().unwrap()).unwrap();
        assert_eq!(target("https://Registry.Example/v2/"), target("https://registry.example:443/v2/"));
        assert_eq!(target("http://[::1]:5000/v2/").authority(), "[::1]:5000");
        assert!(!target("http://reg/v2/").https);
    }
}
