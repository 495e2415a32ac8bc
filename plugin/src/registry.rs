//! The OCI distribution API, as far as charts need it: requests that authenticate on
//! challenge and retry what failed transiently, blobs (HEAD, resumable streamed GET,
//! monolithic or chunked upload), manifests and tag lists.

use crate::error::Result;
use crate::auth::Auth;
use crate::http::{self, Body, Response, Url};
use crate::reference::Ref;
use crate::{clock, retry, trace, Error, RegistryError, RemoteOptions};
use std::io::{self, Read, Write};

/// Blobs up to this size go up in one PUT; larger ones in PATCH chunks of `CHUNK_SIZE`.
const MONOLITHIC_MAX: u64 = 8 << 20;
const CHUNK_SIZE: usize = 8 << 20;
/// Manifests and configs are small; a registry sending more is refused.
pub const MANIFEST_MAX: u64 = 4 << 20;
/// How many redirects a blob download may follow.
const MAX_REDIRECTS: usize = 5;

pub const MANIFEST_ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// How many times a blob upload starts over with a new session after a transient failure.
const UPLOAD_TRIES: u32 = 3;
/// How many 401 challenges one request answers: the first may only say which scheme and
/// scope to use; the second may say that the token just fetched was already expired.
const CHALLENGE_ANSWERS: u32 = 2;
/// How many times an interrupted blob download resumes.
const DOWNLOAD_RESUMES: u32 = 5;

/// A session with one registry endpoint.
pub struct Client {
    https: bool,
    endpoint: String,
    auth: Auth,
    /// Whether the last request failed in a way a new attempt may not (network trouble).
    last_failure_transient: bool,
}

/// A fetched manifest, with what the registry said about it.
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// `Docker-Content-Digest`, which the caller must verify if present.
    pub digest_header: Option<String>,
}

impl Client {
    pub fn new(reference: &Ref, options: &RemoteOptions) -> Client {
        Client::for_endpoint(&reference.endpoint, options)
    }

    pub fn for_endpoint(endpoint: &str, options: &RemoteOptions) -> Client {
        trace::enable(options.debug);
        Client {
            https: !options.plain_http,
            endpoint: endpoint.to_string(),
            auth: Auth::new(options.credential.clone()),
            last_failure_transient: false,
        }
    }

    fn url(&self, path: &str) -> Url {
        Url::new(self.https, &self.endpoint, path)
    }

    /// Sends a request: credentials go only to the registry endpoint; transient failures
    /// are retried when the body can be sent again; 401 challenges are answered.
    fn send(&mut self, method: &str, url: &Url, headers: &[(&str, String)], mut body: Body) -> Result<Response> {
        let own = url.authority.eq_ignore_ascii_case(&self.endpoint);
        let mut challenges = 0;
        loop {
            let mut all: Vec<(&str, String)> = headers.to_vec();
            if own {
                if let Some(auth) = self.auth.header(method, url)? {
                    all.push(("authorization", auth));
                }
            }
            // A chunk PATCH moves the upload's offset, so it is never sent twice; a failed
            // one restarts the whole session instead, as a failed streamed PUT does. A
            // storage host's URL may be used once, so its failures go back to the registry.
            let sent = match &mut body {
                Body::Stream(n, produce) => http::send(method, url, &all, Body::Stream(*n, &mut **produce)),
                Body::Empty | Body::Bytes(_) => {
                    let bytes = match body {
                        Body::Bytes(b) => Some(b),
                        _ => None,
                    };
                    let attempt = || http::send(method, url, &all, bytes.map_or(Body::Empty, Body::Bytes));
                    if own && method != "PATCH" { retry::run(&format!("{method} {url}"), attempt) } else { attempt() }
                }
            };
            let response = sent.map_err(|failed| {
                self.last_failure_transient = failed.transient;
                Error::from(failed)
            })?;
            self.last_failure_transient = retry::transient_status(response.status);
            trace::debug(|| format!("{method} {url} -> {}", response.status));
            let replayable = !matches!(body, Body::Stream(..));
            if response.status == 401 && own && replayable && challenges < CHALLENGE_ANSWERS {
                let registry = self.url("/v2/");
                if self.auth.challenged(&response, &registry) {
                    challenges += 1;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// Checks that the registry accepts this client: `GET /v2/` through whatever auth flow
    /// it asks for.
    pub fn ping(&mut self) -> Result<()> {
        let url = self.url("/v2/");
        let response = self.send("GET", &url, &[], Body::Empty)?;
        match response.status {
            200 => Ok(()),
            401 => Err(Error::Unauthorized(format!("{}: the registry rejected the username or password", self.endpoint))),
            _ => Err(error_from(response, &self.endpoint)),
        }
    }

    /// Whether the repository already holds a blob, so pushing it can be skipped.
    pub fn blob_exists(&mut self, repo: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let response = self.send("HEAD", &url, &[], Body::Empty)?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(error_from(response, &format!("blob {digest}"))),
        }
    }

    /// Fetches a manifest by tag or digest.
    pub fn fetch_manifest(&mut self, repo: &str, reference: &str, subject: &str) -> Result<FetchedManifest> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let response = self.send("GET", &url, &[("accept", MANIFEST_ACCEPT.to_string())], Body::Empty)?;
        if response.status != 200 {
            return Err(error_from(response, subject));
        }
        let digest_header = response.header("docker-content-digest").map(str::to_string);
        Ok(FetchedManifest { bytes: response.bytes(MANIFEST_MAX)?, digest_header })
    }

    /// Downloads a blob of known size; an interrupted download resumes where it stopped.
    /// The caller verifies the content.
    pub fn fetch_blob(&mut self, repo: &str, digest: &str, size: u64) -> Result<BlobReader<'_>> {
        let (response, _) = self.open_blob(repo, digest, 0)?;
        Ok(BlobReader { client: self, repo: repo.to_string(), digest: digest.to_string(), size, offset: 0, response, resumes: 0 })
    }

    /// GETs a blob from byte `from` on, following redirects to storage hosts. Returns the
    /// response and how many leading bytes of it to skip: a server that ignores `Range`
    /// sends everything again. A storage host that fails transiently is not asked again
    /// directly (its URL was granted for one request): the registry is, for a fresh redirect.
    fn open_blob(&mut self, repo: &str, digest: &str, from: u64) -> Result<(Response, u64)> {
        let mut tries = 1;
        loop {
            self.last_failure_transient = false;
            match self.follow_blob(repo, digest, from) {
                Err(e) if self.last_failure_transient && tries < retry::MAX_TRIES => {
                    let pause = retry::pause(tries, None).unwrap_or(0);
                    trace::debug(|| format!("blob {digest}: {}; asking the registry again in {} ms", e.text(), pause / clock::MILLISECOND));
                    clock::sleep(pause);
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    fn follow_blob(&mut self, repo: &str, digest: &str, from: u64) -> Result<(Response, u64)> {
        let mut url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let range: Vec<(&str, String)> = if from > 0 { vec![("range", format!("bytes={from}-"))] } else { vec![] };
        for _ in 0..=MAX_REDIRECTS {
            let response = self.send("GET", &url, &range, Body::Empty)?;
            match response.status {
                200 => return Ok((response, from)),
                206 if response.header("content-range").is_some_and(|r| r.starts_with(&format!("bytes {from}-"))) => {
                    return Ok((response, 0))
                }
                301 | 302 | 303 | 307 | 308 => {
                    let location = response
                        .header("location")
                        .ok_or_else(|| Error::Network(format!("{url}: redirect without a location")))?;
                    url = url.join(location)?;
                }
                _ => return Err(error_from(response, &format!("blob {digest}"))),
            }
        }
        Err(Error::Network(format!("blob {digest}: more than {MAX_REDIRECTS} redirects")))
    }

    /// Uploads a blob whose digest and size are known, producing its bytes on demand. A
    /// session that fails for a transient reason is cancelled and the upload starts over.
    pub fn push_blob(
        &mut self,
        repo: &str,
        digest: &str,
        size: u64,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        let mut tries = 1;
        loop {
            self.last_failure_transient = false;
            match self.upload_session(repo, digest, size, produce) {
                Err(e) if self.last_failure_transient && tries < UPLOAD_TRIES => {
                    trace::debug(|| format!("upload of {digest} failed ({}); starting a new upload session", e.text()));
                    tries += 1;
                }
                result => return result,
            }
        }
    }

    fn upload_session(
        &mut self,
        repo: &str,
        digest: &str,
        size: u64,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        let start = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let response = self.send("POST", &start, &[], Body::Bytes(&[]))?;
        if response.status != 202 {
            return Err(error_from(response, &format!("starting the upload of {digest}")));
        }
        let location = upload_location(&start, &response)?;
        let min_chunk = response.header("oci-chunk-min-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        let result = if size <= MONOLITHIC_MAX {
            self.put_monolithic(&location, digest, size, produce)
        } else {
            self.put_chunked(location.clone(), digest, CHUNK_SIZE.max(min_chunk), produce)
        };
        if result.is_err() {
            // Best effort, and without disturbing the verdict on the failure: do not leave a
            // dangling upload session on the registry.
            let transient = self.last_failure_transient;
            let _ = self.send("DELETE", &location, &[], Body::Empty);
            self.last_failure_transient = transient;
        }
        result
    }

    fn put_monolithic(
        &mut self,
        location: &Url,
        digest: &str,
        size: u64,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        let url = location.with_query(&[("digest", digest)]);
        let headers = [("content-type", "application/octet-stream".to_string())];
        let response = self.send("PUT", &url, &headers, Body::Stream(size, produce))?;
        expect_created(response, digest)
    }

    fn put_chunked(
        &mut self,
        location: Url,
        digest: &str,
        chunk: usize,
        produce: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<()> {
        let mut writer = ChunkWriter { client: self, location, buf: Vec::with_capacity(chunk), chunk, offset: 0, failed: None };
        let produced = produce(&mut writer).and_then(|()| writer.send_chunk());
        if let Some(e) = writer.failed.take() {
            return Err(e);
        }
        produced.map_err(|e| Error::Io(format!("reading {digest} for upload: {e}")))?;
        let url = writer.location.with_query(&[("digest", digest)]);
        let response = self.send("PUT", &url, &[], Body::Empty)?;
        expect_created(response, digest)
    }

    /// Puts a manifest under a tag and returns the digest the registry reports, if any.
    pub fn push_manifest(&mut self, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) -> Result<Option<String>> {
        let url = self.url(&format!("/v2/{repo}/manifests/{tag}"));
        let response = self.send("PUT", &url, &[("content-type", media_type.to_string())], Body::Bytes(bytes))?;
        if response.status != 201 {
            return Err(error_from(response, &format!("manifest {repo}:{tag}")));
        }
        Ok(response.header("docker-content-digest").map(str::to_string))
    }

    /// Lists every tag of a repository, following `Link` pagination.
    pub fn tags(&mut self, repo: &str, subject: &str) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut url = self.url(&format!("/v2/{repo}/tags/list"));
        let mut tags = Vec::new();
        loop {
            let response = self.send("GET", &url, &[], Body::Empty)?;
            if response.status != 200 {
                return Err(error_from(response, subject));
            }
            let next = response.headers("link").find_map(next_link).map(str::to_string);
            let bytes = response.bytes(MANIFEST_MAX)?;
            let list: TagList = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Network(format!("{subject}: unreadable tag list: {e}")))?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(link) => url = url.join(&link)?,
                None => return Ok(tags),
            }
        }
    }
}

/// A blob download that resumes with `Range` when the connection breaks mid-body.
pub struct BlobReader<'c> {
    client: &'c mut Client,
    repo: String,
    digest: String,
    size: u64,
    /// Bytes handed to the reader so far.
    offset: u64,
    response: Response,
    resumes: u32,
}

impl BlobReader<'_> {
    /// Reads a small blob whole, refusing more than its announced size.
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let limit = self.size + 1;
        let read = (&mut self).take(limit).read_to_end(&mut out);
        read.map_err(|e| Error::Network(format!("downloading blob {}: {e}", self.digest)))?;
        Ok(out)
    }

    fn resume(&mut self, why: &str) -> io::Result<()> {
        self.resumes += 1;
        trace::debug(|| format!("download of blob {} broke at byte {} ({why}); resuming", self.digest, self.offset));
        let (response, mut skip) =
            self.client.open_blob(&self.repo, &self.digest, self.offset).map_err(|e| io::Error::other(e.text()))?;
        self.response = response;
        // The server ignored Range: discard what was already received.
        let mut scratch = [0u8; 8192];
        while skip > 0 {
            let n = self.response.body().read(&mut scratch[..skip.min(8192) as usize])?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the resumed download ended early"));
            }
            skip -= n as u64;
        }
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let why = match self.response.body().read(buf) {
                Ok(0) if self.offset < self.size => "the connection closed early".to_string(),
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) => e.to_string(),
            };
            if self.resumes >= DOWNLOAD_RESUMES {
                return Err(io::Error::other(format!("{why}; gave up after {} resumes", self.resumes)));
            }
            self.resume(&why)?;
        }
    }
}

/// Buffers one chunk at a time and PATCHes it, so memory stays bounded by the chunk size.
struct ChunkWriter<'c> {
    client: &'c mut Client,
    location: Url,
    buf: Vec<u8>,
    chunk: usize,
    offset: u64,
    /// The typed error behind an io::Error returned from `write`.
    failed: Option<Error>,
}

impl ChunkWriter<'_> {
    fn send_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let end = self.offset + self.buf.len() as u64 - 1;
        let headers = [
            ("content-type", "application/octet-stream".to_string()),
            ("content-range", format!("{}-{end}", self.offset)),
        ];
        let sent = self.client.send("PATCH", &self.location, &headers, Body::Bytes(&self.buf)).and_then(|r| {
            if r.status != 202 {
                return Err(error_from(r, "uploading a chunk"));
            }
            upload_location(&self.location, &r)
        });
        match sent {
            Ok(next) => {
                self.location = next;
                self.offset = end + 1;
                self.buf.clear();
                Ok(())
            }
            Err(e) => {
                self.failed = Some(e);
                Err(io::Error::other("chunk upload failed"))
            }
        }
    }
}

impl Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.chunk {
            self.send_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn upload_location(base: &Url, response: &Response) -> Result<Url> {
    let location = response
        .header("location")
        .ok_or_else(|| Error::Network(format!("{base}: upload answer has no Location")))?;
    base.join(location)
}

fn expect_created(response: Response, digest: &str) -> Result<()> {
    match response.status {
        201 => Ok(()),
        _ => Err(error_from(response, &format!("upload of {digest}"))),
    }
}

/// The target of a `Link: <url>; rel="next"` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        (params.contains("rel=\"next\"") || params.contains("rel=next")).then_some(target)
    })
}

/// Turns an error response into the matching error case, keeping the registry's own words.
pub fn error_from(response: Response, subject: &str) -> Error {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let status = response.status;
    let body = response.bytes(64 << 10).unwrap_or_default();
    let (code, message) = match serde_json::from_slice::<Errors>(&body).ok().and_then(|e| e.errors.into_iter().next()) {
        Some(entry) => (entry.code.unwrap_or_default(), entry.message.unwrap_or_default()),
        None => (String::new(), String::from_utf8_lossy(&body).trim().chars().take(200).collect()),
    };
    let detail = if message.is_empty() { String::new() } else { format!(" ({message})") };
    match status {
        // distribution's own words for a 401 say nothing more.
        401 if message.eq_ignore_ascii_case("authentication required") => {
            Error::Unauthorized(format!("{subject}: authentication required"))
        }
        401 => Error::Unauthorized(format!("{subject}: authentication required{detail}")),
        403 => Error::Denied(format!("{subject}: access denied{detail}")),
        404 => Error::NotFound(format!("{subject}: not found")),
        _ => Error::Registry(RegistryError { status, code, message: format!("{subject}: {}", if message.is_empty() { "request failed" } else { &message }) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_link() {
        assert_eq!(next_link("</v2/a/tags/list?last=b&n=2>; rel=\"next\""), Some("/v2/a/tags/list?last=b&n=2"));
        assert_eq!(next_link("<http://x/y>; rel=\"prev\""), None);
    }
}
