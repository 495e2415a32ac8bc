//! Blob uploads: a session (POST, or a cross-repository mount that needs none), then one PUT
//! for a blob up to `MONOLITHIC_MAX`, or PATCH and a closing PUT for a larger one (one PUT
//! after all where the registry refuses chunks that large). A
//! session that fails for a moment is cancelled and the upload starts over, after the
//! back-off a retried request gets (the registry's `Retry-After`, if it gave one); a PUT or
//! PATCH is never sent twice in a session, and the closing PUT never commits bytes from
//! another repository that have not been verified on the way.

use super::blobs;
use super::client::Client;
use super::helm::Descriptor;
use crate::error::{Error, Result};
use crate::net::clock::{self, MILLISECOND};
use crate::net::wire::{Body, Response};
use crate::net::{Url, retry};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Blobs up to this size go up in one PUT; larger ones in PATCH chunks.
const MONOLITHIC_MAX: u64 = 8 << 20;
const CHUNK_SIZE: u64 = 8 << 20;
/// A registry asking for larger chunks than this (`OCI-Chunk-Min-Length`) is refused:
/// each chunk is held in memory.
const CHUNK_MAX: u64 = 256 << 20;
/// How many sessions one upload may start.
const UPLOAD_TRIES: u32 = 3;

/// Where a blob's bytes come from; every session reads them afresh.
pub enum Content<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
    /// The same blob in another repository, on this registry or another one. Within one
    /// registry it is mounted from there if the registry agrees; else it is downloaded as it
    /// is uploaded and verified before the upload is committed.
    Remote {
        client: &'a Client,
        repository: &'a str,
    },
}

impl Content<'_> {
    /// The repository to ask `client`'s registry to mount the blob from, if it holds it.
    fn mountable_to(&self, client: &Client) -> Option<&str> {
        match self {
            Content::Remote { client: source, repository } if source.same_registry(client) => Some(repository),
            _ => None,
        }
    }
}

/// Uploads a blob whose digest and size are known.
pub async fn push(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    let mut tries = 1;
    loop {
        match session(client, repo, blob, content).await {
            Err(e) if e.transient && tries < UPLOAD_TRIES => {
                // A registry asking for a longer pause than retry allows has the last word.
                let Some(pause) = retry::pause(tries, e.retry_after) else { return Err(e) };
                client.trace.debug(|| {
                    format!(
                        "upload of {} failed ({e}); starting a new upload session in {} ms",
                        blob.digest,
                        pause / MILLISECOND
                    )
                });
                clock::sleep(pause).await;
                tries += 1;
            }
            result => return result,
        }
    }
}

async fn session(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    let mount = content.mountable_to(client);
    let Some((mut location, min_chunk)) = start(client, repo, blob, mount).await? else { return Ok(()) };
    let sent = match content {
        Content::Remote { client: source, repository } if blob.size <= MONOLITHIC_MAX => {
            put_fetched(client, &location, blob, (source, repository)).await.map(|()| Chunks::Taken)
        }
        Content::Remote { client: source, repository } => {
            put_streamed(client, &mut location, blob, (source, repository)).await
        }
        _ if blob.size <= MONOLITHIC_MAX => put_whole(client, &location, blob, content).await.map(|()| Chunks::Taken),
        _ if min_chunk > CHUNK_MAX => Err(Error::network(
            format!("uploading {}", blob.digest),
            format!("the registry wants chunks of at least {min_chunk} bytes, more than the {CHUNK_MAX} allowed"),
        )),
        _ => put_chunked(client, &mut location, blob, content, CHUNK_SIZE.max(min_chunk)).await,
    };
    let result = match sent {
        Ok(Chunks::Taken) => Ok(()),
        Ok(Chunks::TooLarge) => {
            client
                .trace
                .debug(|| format!("the registry takes no chunks that large; {} goes up in one PUT", blob.digest));
            // A new session: the refused one may hold part of the blob.
            let _ = client.send("DELETE", &location, &[], &[]).await;
            let Some((fresh, _)) = start(client, repo, blob, None).await? else { return Ok(()) };
            location = fresh;
            put_whole(client, &location, blob, content).await
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        // `location` is the session's latest: each chunk may move it.
        // Best effort, and the failure's verdict stands: leave no dangling session behind.
        let _ = client.send("DELETE", &location, &[], &[]).await;
    }
    result
}

/// Starts an upload session: its location, and the smallest chunk it takes. None if the
/// registry mounted the blob from `mount` instead.
async fn start(client: &Client, repo: &str, blob: &Descriptor, mount: Option<&str>) -> Result<Option<(Url, u64)>> {
    let start = start_url(client, repo, &blob.digest, mount);
    let response = client.send("POST", &start, &[], &[]).await?;
    match (response.status, mount) {
        (201, Some(from)) => {
            client.trace.debug(|| format!("{} mounted from {from}", blob.digest));
            return Ok(None);
        }
        (202, Some(from)) => {
            client.trace.debug(|| format!("the registry did not mount {} from {from}; uploading it", blob.digest));
        }
        (202, None) => {}
        _ => return Err(client.refusal(response, &format!("starting the upload of {}", blob.digest)).await),
    }
    let location = next_location(&start, &response)?;
    let min_chunk = response.header("oci-chunk-min-length").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    Ok(Some((location, min_chunk)))
}

/// How a blob sent in PATCHes went: taken, or refused as too large a chunk (GHCR takes at
/// most 4 MiB in one, and answers 416), for the blob to go in one PUT instead, as Helm
/// always sends it.
enum Chunks {
    Taken,
    TooLarge,
}

fn too_large(status: u16) -> bool {
    matches!(status, 413 | 416)
}

/// Where an upload starts: `…/blobs/uploads/`, asking to mount the blob from `mount` if given.
fn start_url(client: &Client, repo: &str, digest: &str, mount: Option<&str>) -> Url {
    let start = client.url(&format!("/v2/{repo}/blobs/uploads/"));
    match mount {
        Some(from) => start.with_query(&[("mount", digest), ("from", from)]),
        None => start,
    }
}

async fn put_whole(client: &Client, location: &Url, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    let url = location.with_query(&[("digest", &blob.digest)]);
    let headers = [("content-type", "application/octet-stream".to_string())];
    let response = match content {
        Content::Bytes(bytes) => client.send_once("PUT", &url, &headers, Body::Bytes(bytes)).await?,
        Content::File(path) => {
            let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
            client.send_once("PUT", &url, &headers, Body::Reader(blob.size, &mut file)).await?
        }
        // Streamed, when the registry took no chunk of it: the body's last byte goes out
        // only once the whole has matched the digest (see `blobs::Checked`), so a PUT
        // that commits as it ends never commits other bytes.
        Content::Remote { client: source, repository } => {
            let mut body = blobs::download(source, repository, blob).await?.checked();
            let sent = client.send_once("PUT", &url, &headers, Body::Source(blob.size, &mut body)).await;
            // What the source did explains a failed PUT best.
            body.verdict()?;
            sent?
        }
    };
    created(client, response, blob).await
}

/// Puts a small blob from another repository in one PUT, once it has been read whole and
/// verified.
async fn put_fetched(
    client: &Client,
    location: &Url,
    blob: &Descriptor,
    (source, repository): (&Client, &str),
) -> Result<()> {
    let bytes = blobs::fetch_whole(source, repository, blob).await?;
    put_whole(client, location, blob, &Content::Bytes(&bytes)).await
}

async fn put_chunked(
    client: &Client,
    location: &mut Url,
    blob: &Descriptor,
    content: &Content<'_>,
    chunk: u64,
) -> Result<Chunks> {
    let mut file = match content {
        Content::File(path) => Some((File::open(path).map_err(|e| Error::io(path, e))?, *path)),
        Content::Bytes(_) | Content::Remote { .. } => None,
    };
    let mut buffer = Vec::new();
    let mut offset = 0;
    while offset < blob.size {
        let len = chunk.min(blob.size - offset);
        let piece: &[u8] = match (content, &mut file) {
            (Content::Bytes(bytes), _) => &bytes[offset as usize..(offset + len) as usize],
            (_, Some((file, path))) => {
                buffer.resize(len as usize, 0);
                file.read_exact(&mut buffer).map_err(|e| Error::io(path, e))?;
                &buffer
            }
            _ => unreachable!("a file content is opened above, and a remote one is streamed"),
        };
        let end = offset + len - 1;
        let response = client.send_once("PATCH", location, &chunk_headers(offset, end), Body::Bytes(piece)).await?;
        if too_large(response.status) {
            return Ok(Chunks::TooLarge);
        }
        if response.status != 202 {
            return Err(client.refusal_once(response, &format!("uploading a chunk of {}", blob.digest)).await);
        }
        *location = next_location(location, &response)?;
        offset = end + 1;
    }
    commit(client, location, blob).await.map(|()| Chunks::Taken)
}

/// Streams a blob from another registry (or repository) into the session in one PATCH,
/// hashing it on the way, and commits it only if it is the blob the digest names: a source
/// serving other bytes leaves nothing behind but a cancelled session.
async fn put_streamed(
    client: &Client,
    location: &mut Url,
    blob: &Descriptor,
    (source, repository): (&Client, &str),
) -> Result<Chunks> {
    let mut body = blobs::download(source, repository, blob).await?.checked();
    let headers = chunk_headers(0, blob.size - 1);
    let sent = client.send_once("PATCH", location, &headers, Body::Source(blob.size, &mut body)).await;
    // The session moved with the PATCH, whatever is decided next: cancelling it takes its
    // latest location.
    let moved = match &sent {
        Ok(response) if response.status == 202 => next_location(location, response).map(|next| *location = next),
        _ => Ok(()),
    };
    // What the source did explains a failed PATCH best; and it decides whether to commit.
    let whole = body.verdict()?;
    let response = sent?;
    if too_large(response.status) {
        return Ok(Chunks::TooLarge);
    }
    if response.status != 202 {
        return Err(client.refusal_once(response, &format!("uploading {}", blob.digest)).await);
    }
    if !whole {
        let why = "the registry took the PATCH before the whole blob was sent";
        return Err(Error::network(format!("uploading {}", blob.digest), why));
    }
    moved?;
    commit(client, location, blob).await.map(|()| Chunks::Taken)
}

/// The headers of a PATCH carrying bytes `start` to `end` (inclusive) of a blob.
fn chunk_headers(start: u64, end: u64) -> [(&'static str, String); 2] {
    [("content-type", "application/octet-stream".to_string()), ("content-range", format!("{start}-{end}"))]
}

/// Closes a session whose bytes were all sent: the registry checks them against the digest.
async fn commit(client: &Client, location: &Url, blob: &Descriptor) -> Result<()> {
    let url = location.with_query(&[("digest", &blob.digest)]);
    let response = client.send_once("PUT", &url, &[], Body::Empty).await?;
    created(client, response, blob).await
}

/// The upload's next location; it may be relative, and its query must be kept.
fn next_location(base: &Url, response: &Response) -> Result<Url> {
    let location = response
        .header("location")
        .ok_or_else(|| Error::network(base.to_string(), "the upload answer has no Location"))?;
    base.join(location)
        .ok_or_else(|| Error::network(base.to_string(), format!("the registry sent an unusable location {location:?}")))
}

async fn created(client: &Client, response: Response, blob: &Descriptor) -> Result<()> {
    match response.status {
        201 => Ok(()),
        _ => Err(client.refusal_once(response, &format!("upload of {}", blob.digest)).await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::client::Connection;

    const D: &str = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn a_mount_is_asked_for_in_the_query_of_the_upload_start() {
        let client = Client::new("reg:5000", &Connection::default());
        let url = start_url(&client, "prod/app", D, Some("staging/app"));
        assert_eq!(url.path, format!("/v2/prod/app/blobs/uploads/?mount=sha256%3A{}&from=staging%2Fapp", &D[7..]));
        assert_eq!(start_url(&client, "prod/app", D, None).path, "/v2/prod/app/blobs/uploads/");
    }

    #[test]
    fn only_a_blob_on_the_same_registry_is_mounted() {
        let connection = Connection::default();
        let (here, there) = (Client::new("reg:5000", &connection), Client::new("other:5000", &connection));
        let same = Content::Remote { client: &here, repository: "staging/app" };
        assert_eq!(same.mountable_to(&Client::new("REG:5000", &connection)), Some("staging/app"));
        assert_eq!(Content::Remote { client: &there, repository: "staging/app" }.mountable_to(&here), None);
        assert_eq!(Content::Bytes(b"").mountable_to(&here), None);
        let plain = Client::new("reg:5000", &Connection { plain_http: true, ..Connection::default() });
        assert_eq!(same.mountable_to(&plain), None, "another scheme is another endpoint");
    }
}
