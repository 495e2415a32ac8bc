//! The wire: one HTTP request over wasi:http, started at once and awaited without blocking,
//! with bodies streamed both ways.
//!
//! The host decides which hosts a request may reach; a refusal comes back as
//! `http-request-denied`, which is reported as the sandbox's doing.

use super::Url;
use super::clock::SECOND;
use super::executor::wait;
use crate::error::{Error, Result};
use futures::future::LocalBoxFuture;
use futures::{FutureExt, pin_mut, select_biased};
use std::io::Read;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

/// How much of a body moves per read or write.
const PIECE: usize = 64 << 10;
/// Requests are refused beyond these sizes, before the host sees them: a hostile token
/// service can hand out a token, and a registry a location, of any length.
const HEADERS_MAX: usize = 64 << 10;
const PATH_MAX: usize = 16 << 10;
/// How much of an unsuccessful answer's body is read: its words for the user are at its
/// start, and the rest is not worth the memory.
pub const WORDS_MAX: usize = 64 << 10;

/// What to send as the request body.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes read from a reader as they are sent; such a body can go only once.
    Reader(u64, &'a mut dyn Read),
    /// `len` bytes made piece by piece as they are sent (a download passing through); such
    /// a body can go only once.
    Source(u64, &'a mut dyn Source),
}

/// Where the pieces of a `Body::Source` come from, awaited one at a time while sending.
pub trait Source {
    /// The next piece, or None at the end; an error stops the request, saying why.
    fn next_piece(&mut self) -> LocalBoxFuture<'_, std::result::Result<Option<Vec<u8>>, String>>;
}

impl Body<'_> {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Reader(n, _) | Body::Source(n, _) => *n,
        }
    }
}

/// A response whose body is read on demand.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: Incoming,
    /// Bytes read but handed back, returned by the next `chunk`.
    unread: Option<Vec<u8>>,
}

/// The resources behind a response body; they drop in order (stream, body, response), as
/// wasi:http requires of children and parents.
struct Incoming {
    stream: Option<InputStream>,
    body: Option<IncomingBody>,
    response: Option<IncomingResponse>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.stream.take();
        self.body.take();
        self.response.take();
    }
}

impl Response {
    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).next()
    }

    /// Every value of a header, case-insensitively.
    pub fn headers(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The next piece of the body, or None at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if let Some(piece) = self.unread.take() {
            return Ok(Some(piece));
        }
        let Some(stream) = &self.body.stream else { return Ok(None) };
        loop {
            match stream.read(PIECE as u64) {
                Ok(bytes) if bytes.is_empty() => wait(stream.subscribe()).await,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    let why = match wasip2::http::types::http_error_code(&e) {
                        Some(code) => describe(&code).1,
                        None => e.to_debug_string(),
                    };
                    return Err(Error::network("reading a response", why).transient());
                }
            }
        }
    }

    /// Hands a piece back, to be returned by the next `chunk`.
    pub fn unread(&mut self, piece: Vec<u8>) {
        self.unread = Some(piece);
    }

    /// Reads the whole body, refusing more than `limit` bytes so a hostile server cannot
    /// exhaust memory.
    pub async fn bytes(mut self, limit: u64) -> Result<Vec<u8>> {
        self.buffer(limit).await?;
        Ok(self.unread.take().unwrap_or_default())
    }

    /// Reads the whole body now (at most `limit` bytes) and keeps it for `bytes`, so that a
    /// body breaking off shows while the exchange can still be tried again.
    pub async fn buffer(&mut self, limit: u64) -> Result<()> {
        let mut out: Vec<u8> = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(Error::network(
                    "reading a response",
                    format!("it is larger than the {limit} bytes allowed"),
                ));
            }
            out.extend_from_slice(&chunk);
        }
        // The stream is at its end; the next `chunk` returns this, then None.
        self.unread = Some(out);
        Ok(())
    }

    /// The body's first `limit` bytes at most, ignoring the rest and any failure reading it:
    /// for an error answer, whose words help but are not needed.
    pub async fn prefix(mut self, limit: usize) -> Vec<u8> {
        self.keep_prefix(limit).await;
        self.unread.take().unwrap_or_default()
    }

    /// Reads the body's first `limit` bytes at most (ignoring any failure) and keeps them as
    /// the whole body: the rest is never read.
    async fn keep_prefix(&mut self, limit: usize) {
        let mut out = Vec::new();
        while out.len() < limit
            && let Ok(Some(chunk)) = self.chunk().await
        {
            out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]);
        }
        self.body.stream = None;
        self.unread = Some(out);
    }
}

/// How long a request waits for its answer's first byte, counted from its start when it
/// has no body (so connecting is within it) and from its body's last byte when it has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Patience {
    /// A registry computing a large digest may take a while to answer.
    Registry,
    /// A mirror is read only, and one that does not answer soon is passed over for the
    /// next place: waiting on it as long as on the registry would stall the command.
    Mirror,
}

impl Patience {
    fn first_byte(self) -> u64 {
        match self {
            Patience::Registry => 300 * SECOND,
            Patience::Mirror => 10 * SECOND,
        }
    }
}

/// Sends one request and returns when the response head has arrived; the body is written
/// while the response is awaited, so a server that answers early (say, 401) is heard.
pub async fn send(
    method: &str,
    url: &Url,
    headers: &[(&str, String)],
    body: Body<'_>,
    patience: Patience,
) -> Result<Response> {
    let size: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > HEADERS_MAX || url.path.len() > PATH_MAX {
        let what = if size > HEADERS_MAX {
            format!("headers of {size} bytes")
        } else {
            format!("a path of {} bytes", url.path.len())
        };
        return Err(Error::network(
            format!("a request to {}", url.authority),
            format!("it would carry {what}, more than allowed (a token or location handed out that large is refused)"),
        )
        .request_only());
    }
    let fields: Vec<(String, Vec<u8>)> = headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&fields).map_err(|_| {
        Error::network(url.to_string(), "a request header holds characters HTTP does not allow").request_only()
    })?;
    // An empty DELETE or PUT says so; left unsaid, it would go out chunked, which some
    // proxies cannot read.
    if !matches!(body, Body::Empty) || !matches!(method, "GET" | "HEAD") {
        fields.set("content-length", &[body.len().to_string().into_bytes()]).ok();
    }
    let request = OutgoingRequest::new(fields);
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let unusable = |what: &str| {
        Error::network(url.to_string(), format!("its {what} was rejected by the HTTP layer")).request_only()
    };
    request.set_method(&method).map_err(|_| unusable("method"))?;
    request.set_scheme(Some(if url.https { &Scheme::Https } else { &Scheme::Http })).map_err(|_| unusable("scheme"))?;
    request.set_authority(Some(&url.authority)).map_err(|_| unusable("authority"))?;
    request.set_path_with_query(Some(&url.path)).map_err(|_| unusable("path"))?;

    let options = RequestOptions::new();
    // Connecting must be quick; the answer may take as long as `patience` says; a body,
    // going out or coming back, must keep moving.
    options.set_connect_timeout(Some(30 * SECOND)).ok();
    options.set_first_byte_timeout(Some(patience.first_byte())).ok();
    options.set_between_bytes_timeout(Some(120 * SECOND)).ok();

    let outgoing = request.body().map_err(|_| unusable("body"))?;
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| network_error(url, &e))?;

    let write = write_body(outgoing, body).fuse();
    let answer = answer(&future, url).fuse();
    pin_mut!(write, answer);
    let mut written = None;
    // The write is looked at first, so a body fully sent is known as such when the answer comes.
    let response = loop {
        select_biased! {
            w = write => written = Some(w),
            r = answer => break r?,
        }
    };
    let status = response.status();
    // A server may answer (e.g. 401) before reading the whole body; its answer matters more.
    if status < 400 {
        match written {
            Some(Ok(())) => {}
            Some(Err(why)) => {
                return Err(
                    Error::network(url.to_string(), format!("sending the request body failed: {why}")).transient()
                );
            }
            None => {
                return Err(Error::network(url.to_string(), "answered before the request body was sent").transient());
            }
        }
    }
    let headers =
        response.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let body = response.consume().ok();
    let stream = body.as_ref().and_then(|b| b.stream().ok());
    Ok(Response { status, headers, body: Incoming { stream, body, response: Some(response) }, unread: None })
}

/// Sends a request whose body is in memory and reads a successful (2xx) answer whole (at
/// most `limit` bytes): a small exchange, which is tried again as a whole if any part of it
/// fails. Another answer's body is read only as far as its words (`WORDS_MAX`).
pub async fn send_whole(
    method: &str,
    url: &Url,
    headers: &[(&str, String)],
    body: &[u8],
    limit: u64,
    patience: Patience,
) -> Result<Response> {
    let body = if body.is_empty() { Body::Empty } else { Body::Bytes(body) };
    read_whole(send(method, url, headers, body, patience).await?, limit).await
}

/// Reads a successful (2xx) answer's body whole, at most `limit` bytes; another answer's
/// only as far as its words (see `send_whole`).
pub async fn read_whole(mut response: Response, limit: u64) -> Result<Response> {
    if (200..300).contains(&response.status) {
        response.buffer(limit).await?;
    } else {
        // Another answer's body only has words for the user, which start it: an error page
        // larger than `limit` must not hide what was answered.
        response.keep_prefix(WORDS_MAX.min(limit as usize)).await;
    }
    Ok(response)
}

/// Waits for the response head.
async fn answer(future: &FutureIncomingResponse, url: &Url) -> Result<IncomingResponse> {
    wait(future.subscribe()).await;
    match future.get() {
        Some(Ok(Ok(r))) => Ok(r),
        Some(Ok(Err(e))) => Err(network_error(url, &e)),
        Some(Err(())) | None => {
            Err(Error::network(format!("cannot reach {}", url.authority), "no response").transient())
        }
    }
}

async fn write_body(outgoing: OutgoingBody, body: Body<'_>) -> Result<(), String> {
    let stream = outgoing.write().map_err(|_| "the request body is unavailable".to_string())?;
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => write_all(&stream, bytes).await?,
        Body::Reader(_, reader) => {
            let mut piece = vec![0; PIECE];
            loop {
                let n = reader.read(&mut piece).map_err(|e| format!("reading what to send: {e}"))?;
                if n == 0 {
                    break;
                }
                write_all(&stream, &piece[..n]).await?;
            }
        }
        Body::Source(_, source) => {
            while let Some(piece) = source.next_piece().await? {
                write_all(&stream, &piece).await?;
            }
        }
    }
    let flushed = flush(&stream).await;
    drop(stream);
    flushed?;
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))
}

async fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), String> {
    while !bytes.is_empty() {
        match stream.check_write() {
            Ok(0) => wait(stream.subscribe()).await,
            Ok(permit) => {
                let n = bytes.len().min(permit as usize);
                stream.write(&bytes[..n]).map_err(|e| stream_error(&e))?;
                bytes = &bytes[n..];
            }
            Err(e) => return Err(stream_error(&e)),
        }
    }
    Ok(())
}

/// Flushes and waits until the flush is done. The host closes the stream once
/// Content-Length bytes have arrived: that is success too.
async fn flush(stream: &OutputStream) -> Result<(), String> {
    match stream.flush() {
        Ok(()) => {}
        Err(StreamError::Closed) => return Ok(()),
        Err(e) => return Err(stream_error(&e)),
    }
    loop {
        match stream.check_write() {
            Ok(0) => wait(stream.subscribe()).await,
            Ok(_) | Err(StreamError::Closed) => return Ok(()),
            Err(e) => return Err(stream_error(&e)),
        }
    }
}

fn stream_error(e: &StreamError) -> String {
    match e {
        StreamError::Closed => "the connection closed".to_string(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

/// A request that failed before any response, said so the user can act on it.
fn network_error(url: &Url, code: &ErrorCode) -> Error {
    let host = &url.authority;
    if matches!(code, ErrorCode::HttpRequestDenied) {
        // A registry reached over HTTPS that points at itself over plain HTTP is refused
        // too: say so, as "only the registry it names" would read as a contradiction.
        let why = if url.https {
            "this command may reach only the registry it names"
        } else {
            "this command may reach only the registry it names, and over plain HTTP only with --plain-http"
        };
        return Error::network(format!("request to {host} was refused by the sandbox"), why);
    }
    let (transient, why) = describe(code);
    let error = match code {
        ErrorCode::HttpProtocolError | ErrorCode::HttpResponseHeaderSectionSize(_) => {
            Error::network(format!("invalid HTTP response from {host}"), why).request_only()
        }
        _ => Error::network(format!("cannot reach {host}"), why),
    };
    if transient { error.transient() } else { error }
}

/// Whether a wasi:http failure may pass, and what it means.
fn describe(code: &ErrorCode) -> (bool, String) {
    let transient = matches!(
        code,
        ErrorCode::ConnectionRefused
            | ErrorCode::DnsTimeout
            | ErrorCode::ConnectionTerminated
            | ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::ConnectionLimitReached
            | ErrorCode::DestinationUnavailable
            | ErrorCode::HttpResponseIncomplete
            | ErrorCode::HttpResponseTimeout
    );
    let why = match code {
        ErrorCode::ConnectionRefused => "connection refused".to_string(),
        ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => "host not found".to_string(),
        ErrorCode::DestinationUnavailable => "host unreachable".to_string(),
        ErrorCode::DnsTimeout => "the DNS resolver did not answer (temporary failure in name resolution)".to_string(),
        ErrorCode::ConnectionTimeout => "connection timed out".to_string(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            "timed out waiting for the registry".to_string()
        }
        ErrorCode::ConnectionWriteTimeout => "the upload stalled: the registry stopped taking data".to_string(),
        ErrorCode::ConnectionTerminated | ErrorCode::HttpResponseIncomplete => {
            "connection closed unexpectedly".to_string()
        }
        ErrorCode::TlsCertificateError => "TLS certificate verification failed".to_string(),
        ErrorCode::TlsProtocolError => {
            "TLS handshake failed (is the registry serving plain HTTP? try --plain-http)".to_string()
        }
        // The host puts what went wrong with TLS (and what to do about it) in the message.
        ErrorCode::TlsAlertReceived(a) => {
            a.alert_message.clone().unwrap_or_else(|| "TLS alert from the server".to_string())
        }
        ErrorCode::HttpProtocolError => {
            "the answer is malformed (is something other than a registry listening there?)".to_string()
        }
        ErrorCode::HttpResponseHeaderSectionSize(_) => "its headers are too large".to_string(),
        ErrorCode::InternalError(Some(m)) => m.clone(),
        other => format!("{other:?}"),
    };
    (transient, why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasip2::http::types::DnsErrorPayload;

    #[test]
    fn a_busy_resolver_is_worth_a_retry_and_an_unknown_host_is_not() {
        let (transient, why) = describe(&ErrorCode::DnsTimeout);
        assert!(transient);
        assert!(why.contains("name resolution"), "{why}");
        let (transient, why) = describe(&ErrorCode::DnsError(DnsErrorPayload { rcode: None, info_code: None }));
        assert!(!transient);
        assert_eq!(why, "host not found");
    }

    #[test]
    fn a_refused_plain_http_request_says_the_scheme_is_why() {
        let refused = |https| network_error(&Url::new(https, "r:5000", "/v2/"), &ErrorCode::HttpRequestDenied);
        assert_eq!(
            refused(false).to_string(),
            "request to r:5000 was refused by the sandbox: this command may reach only the registry it names, \
             and over plain HTTP only with --plain-http"
        );
        assert_eq!(
            refused(true).to_string(),
            "request to r:5000 was refused by the sandbox: this command may reach only the registry it names"
        );
    }

    #[test]
    fn only_what_fails_one_request_alone_is_marked_as_its_own() {
        let url = Url::new(true, "m:5000", "/v2/");
        let unreadable = network_error(&url, &ErrorCode::HttpProtocolError);
        assert!(unreadable.request_only && unreadable.subject.starts_with("invalid HTTP response"));
        let unknown = ErrorCode::DnsError(DnsErrorPayload { rcode: None, info_code: None });
        for host_failing in [ErrorCode::ConnectionRefused, ErrorCode::TlsCertificateError, unknown] {
            assert!(!network_error(&url, &host_failing).request_only, "{host_failing:?}");
        }
    }

    #[test]
    fn a_stalled_upload_is_said_as_such_and_retried() {
        let (transient, why) = describe(&ErrorCode::ConnectionWriteTimeout);
        assert!(transient);
        assert!(why.contains("upload stalled"), "{why}");
    }
}
