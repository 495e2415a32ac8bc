//! The wire: one blocking HTTP request at a time over wasi:http, bodies streamed both ways.
//!
//! The host decides which hosts a request may reach; a refusal comes back as
//! `http-request-denied`, which is reported as the sandbox's doing.

use crate::clock::SECOND;
use crate::error::Result;
use crate::Error;
use std::io::{self, Read, Write};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, StreamError};

/// An absolute http(s) URL, split the way wasi:http wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub authority: String,
    /// Path and query, always starting with `/`.
    pub path: String,
}

impl Url {
    pub fn new(https: bool, authority: &str, path: &str) -> Url {
        Url { https, authority: authority.to_string(), path: path.to_string() }
    }

    /// Resolves a `Location` (absolute, or relative to this URL) the way browsers do.
    pub fn join(&self, location: &str) -> Result<Url> {
        let bad = || Error::Network(format!("the registry sent an unusable location {location:?}"));
        if let Some((scheme, rest)) = location.split_once("://") {
            let https = match scheme.to_ascii_lowercase().as_str() {
                "https" => true,
                "http" => false,
                _ => return Err(bad()),
            };
            let (authority, path) = match rest.find(['/', '?']) {
                Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
                Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
                None => (rest, "/".to_string()),
            };
            if authority.is_empty() {
                return Err(bad());
            }
            return Ok(Url { https, authority: authority.to_string(), path });
        }
        if let Some(rest) = location.strip_prefix("//") {
            return self.join(&format!("{}://{rest}", if self.https { "https" } else { "http" }));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            format!("{}{location}", &base[..base.rfind('/').map_or(0, |i| i + 1)])
        };
        Ok(Url { path, ..self.clone() })
    }

    /// Appends query parameters, keeping any the URL already has.
    pub fn with_query(&self, params: &[(&str, &str)]) -> Url {
        let mut path = self.path.clone();
        for (k, v) in params {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("{k}={}", encode_query(v)));
        }
        Url { path, ..self.clone() }
    }
}

/// Shown without its query, which may carry upload state or signed storage parameters.
impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.path.split_once('?') {
            Some((path, _)) => write!(f, "{scheme}://{}{path}?…", self.authority),
            None => write!(f, "{scheme}://{}{}", self.authority, self.path),
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
fn encode_query(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={}", encode_query(v))).collect::<Vec<_>>().join("&")
}

/// Undoes percent-encoding in a query value (and `+` as space, as forms write it).
pub fn decode_query(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What to send as the request body.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes produced by a writer callback, streamed as they are written.
    Stream(u64, &'a mut dyn FnMut(&mut dyn Write) -> io::Result<()>),
}

impl Body<'_> {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Stream(n, _) => *n,
        }
    }
}

/// A response whose body is read on demand.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    body: BodyReader,
}

/// Streams a response body; fields drop in order (stream, then body, then response).
pub struct BodyReader {
    stream: Option<InputStream>,
    _body: Option<IncomingBody>,
    _response: IncomingResponse,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Some(s) => s.read(buf),
            None => Ok(0),
        }
    }
}

impl Response {
    /// The first value of a header, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, case-insensitively.
    pub fn headers(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn body(&mut self) -> &mut BodyReader {
        &mut self.body
    }

    /// Reads the whole body, refusing more than `limit` bytes so a hostile server cannot exhaust memory.
    pub fn bytes(mut self, limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let read = (&mut self.body).take(limit + 1).read_to_end(&mut out);
        read.map_err(|e| Error::Network(format!("reading a response failed: {e}")))?;
        if out.len() as u64 > limit {
            return Err(Error::Network(format!("response is larger than the {limit} bytes allowed")));
        }
        Ok(out)
    }
}

/// A request that got no response, and whether trying again may help.
#[derive(Debug)]
pub struct Failed {
    pub error: Error,
    /// The network or the server hiccupped (reset, timeout, refused); a retry may succeed.
    pub transient: bool,
}

impl From<Failed> for Error {
    fn from(f: Failed) -> Error {
        f.error
    }
}

impl Failed {
    fn permanent(error: Error) -> Failed {
        Failed { error, transient: false }
    }

    /// The same failure, saying how many tries it took to give up.
    pub fn after(self, tries: u32) -> Failed {
        let error = match self.error {
            Error::Network(m) if tries > 1 => Error::Network(format!("{m} (gave up after {tries} tries)")),
            other => other,
        };
        Failed { error, ..self }
    }
}

/// Sends one request and waits for the response head.
pub fn send(method: &str, url: &Url, headers: &[(&str, String)], body: Body) -> Result<Response, Failed> {
    let fields: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&fields)
        .map_err(|e| Failed::permanent(Error::Network(format!("invalid request header: {e:?}"))))?;
    // An empty DELETE or PUT says so; left unsaid, it would go out chunked, which some
    // proxies cannot read.
    if !matches!(body, Body::Empty) || !matches!(method, "GET" | "HEAD") {
        let len = body.len().to_string();
        fields.set("content-length", &[len.into_bytes()]).ok();
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
    let unusable = |what: &str| Failed::permanent(Error::Network(format!("{url}: {what} was rejected by the HTTP layer")));
    request.set_method(&method).map_err(|_| unusable("method"))?;
    request.set_scheme(Some(if url.https { &Scheme::Https } else { &Scheme::Http })).map_err(|_| unusable("scheme"))?;
    request.set_authority(Some(&url.authority)).map_err(|_| unusable("authority"))?;
    request.set_path_with_query(Some(&url.path)).map_err(|_| unusable("path"))?;

    let options = RequestOptions::new();
    // Connecting must be quick; a registry computing a large digest may take a while to answer.
    options.set_connect_timeout(Some(30 * SECOND)).ok();
    options.set_first_byte_timeout(Some(300 * SECOND)).ok();
    options.set_between_bytes_timeout(Some(120 * SECOND)).ok();

    let outgoing = request.body().map_err(|_| unusable("body"))?;
    let future = outgoing_handler::handle(request, Some(options)).map_err(|e| network_error(url, &e))?;
    let written = write_body(&outgoing, body);
    let finished = OutgoingBody::finish(outgoing, None);

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(network_error(url, &e)),
        Some(Err(())) | None => return Err(Failed { error: Error::Network(format!("{url}: no response")), transient: true }),
    };
    // A server may answer (e.g. 401) before reading the whole body; its answer matters more.
    if let Err(e) = written.and(finished.map_err(|e| io::Error::other(format!("{e:?}")))) {
        if response.status() < 400 {
            let error = Error::Network(format!("{url}: sending the request body failed: {e}"));
            return Err(Failed { error, transient: true });
        }
    }
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = response.consume().ok();
    let stream = body.as_ref().and_then(|b| b.stream().ok());
    Ok(Response { status, headers, body: BodyReader { stream, _body: body, _response: response } })
}

fn write_body(outgoing: &OutgoingBody, body: Body) -> io::Result<()> {
    if matches!(body, Body::Empty) {
        return Ok(());
    }
    let mut stream = outgoing.write().map_err(|_| io::Error::other("request body unavailable"))?;
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => stream.write_all(bytes)?,
        Body::Stream(_, produce) => produce(&mut stream)?,
    }
    match stream.blocking_flush() {
        // The host closes the stream once Content-Length bytes have arrived: that is success.
        Ok(()) | Err(StreamError::Closed) => Ok(()),
        Err(StreamError::LastOperationFailed(e)) => Err(io::Error::other(e.to_debug_string())),
    }
}

fn network_error(url: &Url, code: &ErrorCode) -> Failed {
    let host = &url.authority;
    let transient = matches!(
        code,
        ErrorCode::ConnectionRefused
            | ErrorCode::ConnectionTerminated
            | ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::ConnectionLimitReached
            | ErrorCode::DestinationUnavailable
            | ErrorCode::HttpResponseIncomplete
            | ErrorCode::HttpResponseTimeout
            | ErrorCode::HttpProtocolError
    );
    let why = match code {
        ErrorCode::HttpRequestDenied => {
            return Failed::permanent(Error::Network(format!(
                "request to {host} was refused by the sandbox: this command may reach only the registry it names"
            )))
        }
        ErrorCode::ConnectionRefused => "connection refused".to_string(),
        ErrorCode::DnsError(_) | ErrorCode::DestinationNotFound => "host not found".to_string(),
        ErrorCode::DnsTimeout | ErrorCode::ConnectionTimeout => "connection timed out".to_string(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => "timed out waiting for the registry".to_string(),
        ErrorCode::ConnectionTerminated | ErrorCode::HttpResponseIncomplete => "connection closed unexpectedly".to_string(),
        ErrorCode::TlsCertificateError => "TLS certificate verification failed".to_string(),
        ErrorCode::TlsProtocolError => "TLS handshake failed (is the registry serving plain HTTP? try --plain-http)".to_string(),
        // The host puts what went wrong with TLS (and what to do about it) in the message.
        ErrorCode::TlsAlertReceived(a) => a.alert_message.clone().unwrap_or_else(|| "TLS alert from the server".to_string()),
        ErrorCode::HttpProtocolError => "the connection failed mid-request".to_string(),
        ErrorCode::InternalError(Some(m)) => m.clone(),
        other => format!("{other:?}"),
    };
    Failed { error: Error::Network(format!("cannot reach {host}: {why}")), transient }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_locations() {
        let base = Url::new(false, "reg:5000", "/v2/a/blobs/uploads/");
        assert_eq!(base.join("/v2/a/blobs/uploads/x?_state=1").unwrap(), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/x?_state=1"));
        assert_eq!(base.join("https://cdn.io/b?sig=1").unwrap(), Url::new(true, "cdn.io", "/b?sig=1"));
        assert_eq!(base.join("http://cdn.io?x").unwrap(), Url::new(false, "cdn.io", "/?x"));
        assert_eq!(base.join("//other:1/p").unwrap(), Url::new(false, "other:1", "/p"));
        assert_eq!(base.join("x").unwrap(), Url::new(false, "reg:5000", "/v2/a/blobs/uploads/x"));
        assert!(base.join("ftp://x/y").is_err());
    }

    #[test]
    fn display_hides_the_query() {
        assert_eq!(Url::new(true, "h", "/b?sig=secret").to_string(), "https://h/b?…");
        assert_eq!(Url::new(false, "h:1", "/b").to_string(), "http://h:1/b");
    }

    #[test]
    fn query_values_round_trip() {
        assert_eq!(decode_query(&encode_query("lib/b c:1")), "lib/b c:1");
        assert_eq!(form(&[("a", "x y"), ("b", "1")]), "a=x%20y&b=1");
    }

    #[test]
    fn adds_query_parameters() {
        let u = Url::new(true, "h", "/up?_state=a").with_query(&[("digest", "sha256:ab")]);
        assert_eq!(u.path, "/up?_state=a&digest=sha256%3Aab");
        assert_eq!(Url::new(true, "h", "/t").with_query(&[("n", "5")]).path, "/t?n=5");
    }
}
