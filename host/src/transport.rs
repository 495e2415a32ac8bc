//! How the component's requests leave the machine: TCP, TLS and proxies.
//!
//! TLS trusts the system's CA store with bundled roots as a fallback, plus `--ca-file`;
//! `--cert-file`/`--key-file` present a client certificate and
//! `--insecure-skip-tls-verify` skips verification. `HTTPS_PROXY`, `HTTP_PROXY` and
//! `NO_PROXY` are read the way Go's net/http (and so Helm) reads them.

use crate::proxy::Proxies;
use anyhow::{Context, Result};
use bytes::Bytes;
use http::uri::Scheme;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// The TLS flags every registry command takes.
#[derive(Default, Clone)]
pub struct TlsFlags {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure: bool,
}

pub type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

pub struct Transport {
    flags: TlsFlags,
    /// Made on first use: loading the system's CA store costs a few milliseconds that a
    /// plain-HTTP command need not pay.
    tls: OnceLock<tokio_rustls::TlsConnector>,
    proxies: Proxies,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl Transport {
    pub fn new(flags: &TlsFlags) -> Transport {
        Transport { flags: flags.clone(), tls: OnceLock::new(), proxies: Proxies::from_env() }
    }

    /// The TLS set-up, read from the system's store and the TLS flags.
    pub fn tls(&self) -> Result<&tokio_rustls::TlsConnector> {
        if let Some(tls) = self.tls.get() {
            return Ok(tls);
        }
        let made = Arc::new(tls_config(&self.flags)?).into();
        Ok(self.tls.get_or_init(|| made))
    }

    /// Sends one request and returns the response head; the body streams afterwards while
    /// the returned future drives the connection.
    pub async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let uri = request.uri().clone();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().ok_or(HttpError::HttpRequestUriInvalid)?.trim_matches(['[', ']']).to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(Duration::from_secs(600))
        };
        let (connect_timeout, first_byte, between_bytes) = (
            timeout(|o| o.connect_timeout),
            timeout(|o| o.first_byte_timeout),
            timeout(|o| o.between_bytes_timeout),
        );
        let proxy = self.proxies.for_target(https, &host, port);
        let dial = match &proxy {
            Some(p) => p.authority.clone(),
            None => authority(&host, port),
        };
        let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(&dial)).await {
            Err(_) => return Err(HttpError::ConnectionTimeout),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(HttpError::ConnectionRefused),
            Ok(Err(e)) => return Err(HttpError::Connect(e)),
            Ok(Ok(s)) => s,
        };
        // Requests are small writes answered at once; Nagle's algorithm would hold each
        // TLS record back for the peer's delayed ACK (~40 ms a request).
        tcp.set_nodelay(true).map_err(HttpError::Connect)?;
        let stream: Box<dyn Stream> = if https {
            let mut tcp = tcp;
            if let Some(p) = &proxy {
                tunnel(&mut tcp, &authority(&host, port), p.authorization.as_deref()).await?;
            }
            let name = ServerName::try_from(host.clone()).map_err(|_| HttpError::HttpRequestUriInvalid)?;
            let connector = self.tls().map_err(|e| HttpError::InternalError(Some(format!("{e:#}"))))?;
            let tls = tokio::time::timeout(connect_timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| HttpError::ConnectionTimeout)?;
            Box::new(tls.map_err(|e| tls_error(&host, &e))?)
        } else {
            Box::new(tcp)
        };
        match &proxy {
            // A plain-HTTP proxy takes the absolute URI, and its credentials in a header.
            Some(p) if !https => {
                if let Some(auth) = &p.authorization {
                    let value = auth.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
                    request.headers_mut().insert(http::header::PROXY_AUTHORIZATION, value);
                }
            }
            _ => {
                let origin = uri.path_and_query().map_or("/", |p| p.as_str());
                *request.uri_mut() = origin.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
            }
        }
        let failed = |e| hyper_error(&host, e);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(failed)?;
        let conn = tokio::spawn(conn);
        let response = tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(failed)?;
        let response = response.map(|body| {
            Timed { body, between_bytes, deadline: Box::pin(tokio::time::sleep(between_bytes)) }.boxed_unsync()
        });
        let io: IoFuture = Box::new(async move {
            match conn.await {
                Ok(result) => result.map_err(HttpError::from),
                Err(_) => Err(HttpError::ConnectionTerminated),
            }
        });
        Ok((response, io))
    }
}

/// A server that hangs up before answering is a terminated connection (worth a retry).
/// Under TLS 1.3 a server's refusal (say, of a missing client certificate) arrives only
/// with the first response, so TLS failures are looked for here too.
fn hyper_error(host: &str, e: hyper::Error) -> HttpError {
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                return tls_error(host, io);
            }
        }
        cause = c.source();
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        HttpError::ConnectionTerminated
    } else {
        HttpError::Hyper(e)
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Opens a tunnel through an HTTP proxy with `CONNECT`.
async fn tunnel(tcp: &mut TcpStream, target: &str, authorization: Option<&str>) -> Result<(), HttpError> {
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = authorization {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.map_err(HttpError::Connect)?;
    // Read byte by byte up to the blank line, so nothing of the TLS stream is consumed.
    let mut answer = Vec::new();
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > 16 << 10 {
            return Err(proxy_error("answered CONNECT with an oversized header"));
        }
        let byte = tcp.read_u8().await.map_err(|_| proxy_error("closed the connection during CONNECT"))?;
        answer.push(byte);
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        _ => Err(proxy_error(&format!("refused CONNECT to {target}: {status_line}"))),
    }
}

fn proxy_error(what: &str) -> HttpError {
    HttpError::InternalError(Some(format!("the proxy {what}")))
}

/// A TLS failure, said the way a user can act on it.
fn tls_error(host: &str, e: &std::io::Error) -> HttpError {
    use rustls::{CertificateError, Error as Tls};
    let why = match e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>()) {
        Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "certificate signed by unknown authority (trust its CA with --ca-file, or skip verification with --insecure-skip-tls-verify)".to_string()
        }
        Some(Tls::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
            format!("certificate is not valid for {host}")
        }
        Some(Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })) => {
            "certificate has expired".to_string()
        }
        Some(Tls::InvalidMessage(_)) => {
            "handshake failed: the server does not speak TLS (use --plain-http for an HTTP registry)".to_string()
        }
        Some(Tls::AlertReceived(alert)) => {
            format!("refused by the server ({alert:?}; does it need a client certificate? use --cert-file and --key-file)")
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    };
    // The alert message is the one wasi:http error that carries text back to the component.
    HttpError::TlsAlertReceived { alert_id: None, alert_message: Some(format!("TLS: {why}")) }
}

fn tls_config(flags: &TlsFlags) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let builder = if flags.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(flags.ca_file.as_ref())?)
    };
    match (&flags.cert_file, &flags.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("reading --cert-file {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading --key-file {}", key.display()))?;
            builder.with_client_auth_cert(chain, key).context("--cert-file and --key-file do not form a client certificate")
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => anyhow::bail!("--cert-file and --key-file go together"),
    }
}

/// The system's CA store, the bundled Mozilla roots, and the `--ca-file` bundle.
fn roots(ca_file: Option<&PathBuf>) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // Unreadable system certificates are skipped: the bundled roots still stand.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading --ca-file {}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("--ca-file {} holds no PEM certificate", path.display());
        }
        for cert in certs {
            roots.add(cert).with_context(|| format!("--ca-file {}: unusable certificate", path.display()))?;
        }
    }
    Ok(roots)
}

/// `--insecure-skip-tls-verify`: any certificate is accepted, but the handshake itself is
/// still checked, so the connection is encrypted if not authenticated.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
