//! Blobs: whether a repository has one, and downloads that follow redirects to storage
//! hosts, resume with `Range` where the connection broke, and are hashed as they are read.

use super::client::{Client, MAX_REDIRECTS, is_redirect, redirected};
use super::helm::Descriptor;
use crate::cache::Cache;
use crate::digest::{self, Hasher};
use crate::error::{Error, Kind, Result};
use crate::net::wire::Source;
use crate::net::{clock, retry};
use futures::FutureExt;
use futures::future::LocalBoxFuture;

/// How many times an interrupted blob download resumes.
const DOWNLOAD_RESUMES: u32 = 5;

/// How errors name a blob: where it is, as references name manifests, so that a copy
/// between two registries says which one failed.
fn named(client: &Client, repo: &str, digest: &str) -> String {
    format!("blob {}/{repo}@{digest}", client.endpoint())
}

/// Whether the repository already holds a blob, so pushing it can be skipped.
pub async fn exists(client: &Client, repo: &str, digest: &str) -> Result<bool> {
    let url = client.url(&format!("/v2/{repo}/blobs/{digest}"));
    let response = client.following("HEAD", &url, &[], 0).await?;
    match response.status {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(client.refusal(response, &named(client, repo, digest)).await),
    }
}

/// Fetches a blob into memory whole, verified against its descriptor: a config, or a
/// published index (at most `published::INDEX_MAX`).
pub async fn fetch_whole(client: &Client, repo: &str, blob: &Descriptor) -> Result<Vec<u8>> {
    let bytes = download(client, repo, blob).await?.bytes().await?;
    digest::verify(
        &named(client, repo, &blob.digest),
        (&blob.digest, blob.size),
        (&digest::of_bytes(&bytes), bytes.len() as u64),
    )?;
    Ok(bytes)
}

/// A blob read whole (see `fetch_whole`): from the cache if it holds it (verified), else
/// fetched (verified) and kept there. A cache that cannot keep it, or holds it corrupt,
/// costs only the next read a request.
pub async fn fetch_kept(client: &Client, repo: &str, blob: &Descriptor, cache: Option<&Cache>) -> Result<Vec<u8>> {
    if let Some(bytes) = cache.and_then(|cache| cache.read(blob).ok().flatten()) {
        return Ok(bytes);
    }
    let bytes = fetch_whole(client, repo, blob).await?;
    if let Some(cache) = cache {
        let _ = cache.put(blob, &bytes[..]);
    }
    Ok(bytes)
}

/// A blob download of known size. The caller verifies what it reads.
pub struct Download<'c> {
    client: &'c Client,
    repo: String,
    blob: Descriptor,
    /// Bytes handed out so far.
    offset: u64,
    response: crate::net::wire::Response,
    resumes: u32,
}

/// Starts downloading a blob.
pub async fn download<'c>(client: &'c Client, repo: &str, blob: &Descriptor) -> Result<Download<'c>> {
    let (response, _) = open(client, repo, &blob.digest, 0).await?;
    Ok(Download { client, repo: repo.to_string(), blob: blob.clone(), offset: 0, response, resumes: 0 })
}

impl<'c> Download<'c> {
    /// The next piece of the blob, or None at its end; a broken connection is resumed.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            let why = match self.response.chunk().await {
                Ok(Some(piece)) => {
                    self.offset += piece.len() as u64;
                    return Ok(Some(piece));
                }
                Ok(None) if self.offset < self.blob.size => "the connection closed early".to_string(),
                Ok(None) => return Ok(None),
                Err(e) => e.cause,
            };
            if self.resumes >= DOWNLOAD_RESUMES {
                let cause = format!("{why}; gave up after {} resumes", self.resumes);
                let subject = format!("downloading {}", named(self.client, &self.repo, &self.blob.digest));
                return Err(Error::network(subject, cause));
            }
            self.resume(&why).await?;
        }
    }

    /// Reads the blob whole. Reading stops one piece past the announced size, so a
    /// server sending too much costs little memory; the caller's size check refuses it.
    pub async fn bytes(mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(piece) = self.chunk().await? {
            out.extend_from_slice(&piece);
            if out.len() as u64 > self.blob.size {
                break;
            }
        }
        Ok(out)
    }

    /// The download as a request body that hashes what passes through it (`Checked`).
    pub fn checked(self) -> Checked<'c> {
        Checked { download: self, hasher: Hasher::default(), ended: false, beyond: false, failure: None }
    }

    async fn resume(&mut self, why: &str) -> Result<()> {
        self.resumes += 1;
        let (digest, offset) = (&self.blob.digest, self.offset);
        self.client.trace.debug(|| format!("download of blob {digest} broke at byte {offset} ({why}); resuming"));
        // A registry with nothing past what came has a blob shorter than the manifest says
        // (a body that ended where it said it would is seen here as one that broke off).
        let (response, mut skip) = open(self.client, &self.repo, digest, offset).await.map_err(|e| match e.kind {
            Kind::Registry { status: 416, .. } => {
                let subject = named(self.client, &self.repo, digest);
                Error::mismatch(subject, format!("{} bytes", self.blob.size), format!("{offset} bytes"))
            }
            _ => e,
        })?;
        self.response = response;
        // The server ignored Range: discard what was already received.
        while skip > 0 {
            let Some(piece) = self.response.chunk().await? else {
                return Err(Error::network(format!("downloading blob {digest}"), "the resumed download ended early"));
            };
            let n = piece.len() as u64;
            if n > skip {
                // Keep the part past what was already handed out for the next read.
                self.response.unread(piece[skip as usize..].to_vec());
            }
            skip = skip.saturating_sub(n);
        }
        Ok(())
    }
}

/// A blob download sent on as a request body (`Body::Source`), hashed on the way: never more
/// than the announced size goes out, nor its last byte unless the whole is the blob, and
/// `verdict` says whether what went out is the blob, before anything that received it is
/// told to keep it.
pub struct Checked<'c> {
    download: Download<'c>,
    hasher: Hasher,
    /// The download was read to its end.
    ended: bool,
    /// The source sent more than the announced size; the excess was not passed on.
    beyond: bool,
    /// Why the download failed, kept whole: the request it fed only hears a sentence.
    failure: Option<Error>,
}

impl Checked<'_> {
    /// True if exactly the blob went through; false if it was not read to its end (the
    /// request stopped first, and says why); an error if the download failed or the source
    /// sent other bytes than the digest names.
    pub fn verdict(mut self) -> Result<bool> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        if self.beyond {
            let size = self.download.blob.size;
            let (expected, actual) = (format!("{size} bytes"), format!("more than {size} bytes"));
            return Err(Error::mismatch(self.subject(), expected, actual));
        }
        if !self.ended {
            return Ok(false);
        }
        let hasher = std::mem::take(&mut self.hasher);
        self.matches(hasher).map(|()| true)
    }

    /// The blob, as what is said of it names it.
    fn subject(&self) -> String {
        let Download { client, repo, blob, .. } = &self.download;
        named(client, repo, &blob.digest)
    }

    /// Whether what `hasher` took in is the blob.
    fn matches(&self, hasher: Hasher) -> Result<()> {
        let (actual, size) = hasher.finish();
        let blob = &self.download.blob;
        digest::verify(&self.subject(), (&blob.digest, blob.size), (&actual, size))
    }
}

impl Source for Checked<'_> {
    fn next_piece(&mut self) -> LocalBoxFuture<'_, std::result::Result<Option<Vec<u8>>, String>> {
        async move {
            let mut piece = match self.download.chunk().await {
                Ok(Some(piece)) => piece,
                Ok(None) => Vec::new(),
                Err(e) => {
                    let said = e.to_string();
                    self.failure = Some(e);
                    return Err(said);
                }
            };
            let room = self.download.blob.size - self.hasher.size();
            if piece.len() as u64 > room {
                piece.truncate(room as usize);
                self.beyond = true;
            }
            if piece.is_empty() {
                self.ended = true;
                return Ok(None);
            }
            self.hasher.update(&piece);
            // The last piece goes out only once the whole has matched its digest: a request
            // that commits as its body ends (`PUT ?digest=`) never carries other bytes to
            // their end, whether or not the registry checks them.
            if self.hasher.size() == self.download.blob.size
                && let Err(e) = self.matches(self.hasher.clone())
            {
                let said = e.to_string();
                self.failure = Some(e);
                return Err(said);
            }
            Ok(Some(piece))
        }
        .boxed_local()
    }
}

/// GETs a blob from byte `from` on, following redirects to storage hosts. Returns the
/// response and how many leading bytes of it to skip: a server that ignores `Range` sends
/// everything again. A storage host that fails for a moment is not asked again directly
/// (its URL was granted for one request): the registry is, for a fresh redirect.
async fn open(client: &Client, repo: &str, digest: &str, from: u64) -> Result<(crate::net::wire::Response, u64)> {
    let (mut tries, mut waited) = (1, 0);
    loop {
        match follow(client, repo, digest, from).await {
            Err(e) if e.transient && tries < retry::MAX_TRIES => {
                // A storage host asking for a longer pause than retry allows has the last word.
                let Some(pause) = retry::pause(tries, e.retry_after) else { return Err(e) };
                waited += pause;
                if waited > retry::MOST_WAITING {
                    return Err(e);
                }
                client.trace.debug(|| {
                    format!(
                        "blob {digest}: {}; asking the registry again in {} ms",
                        e.cause,
                        pause / clock::MILLISECOND
                    )
                });
                clock::sleep(pause).await;
                tries += 1;
            }
            result => return result,
        }
    }
}

async fn follow(client: &Client, repo: &str, digest: &str, from: u64) -> Result<(crate::net::wire::Response, u64)> {
    let mut url = client.url(&format!("/v2/{repo}/blobs/{digest}"));
    let range: Vec<(&str, String)> = if from > 0 { vec![("range", format!("bytes={from}-"))] } else { vec![] };
    let subject = named(client, repo, digest);
    for _ in 0..=MAX_REDIRECTS {
        let response = client.send("GET", &url, &range, &[]).await?;
        match response.status {
            200 => return Ok((response, from)),
            206 if response.header("content-range").is_some_and(|r| r.starts_with(&format!("bytes {from}-"))) => {
                return Ok((response, 0));
            }
            status if is_redirect(status) => url = redirected(&url, &response)?,
            // A request to the registry was retried already; one to a storage host was not.
            _ if url.is_on(client.endpoint()) => return Err(client.refusal(response, &subject).await),
            _ => return Err(client.refusal_once(response, &subject).await),
        }
    }
    Err(Error::network(subject, format!("more than {MAX_REDIRECTS} redirects")))
}
