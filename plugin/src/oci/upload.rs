//! Blob uploads: a session (POST), then one PUT for a blob up to `MONOLITHIC_MAX`, or PATCH
//! chunks and a closing PUT for a larger one. A session that fails for a moment is
//! cancelled and the upload starts over; a PUT or PATCH is never sent twice in a session.

use super::client::Client;
use super::helm::Descriptor;
use crate::error::{Error, Result};
use crate::net::Url;
use crate::net::wire::{Body, Response};
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
}

/// Uploads a blob whose digest and size are known.
pub async fn push(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    let mut tries = 1;
    loop {
        match session(client, repo, blob, content).await {
            Err(e) if e.transient && tries < UPLOAD_TRIES => {
                client.trace.debug(|| format!("upload of {} failed ({e}); starting a new upload session", blob.digest));
                tries += 1;
            }
            result => return result,
        }
    }
}

async fn session(client: &Client, repo: &str, blob: &Descriptor, content: &Content<'_>) -> Result<()> {
    let start = client.url(&format!("/v2/{repo}/blobs/uploads/"));
    let response = client.send("POST", &start, &[], &[]).await?;
    if response.status != 202 {
        return Err(client.refusal(response, &format!("starting the upload of {}", blob.digest)).await);
    }
    let mut location = next_location(&start, &response)?;
    let min_chunk = response.header("oci-chunk-min-length").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    let result = if blob.size <= MONOLITHIC_MAX {
        put_whole(client, &location, blob, content).await
    } else if min_chunk > CHUNK_MAX {
        Err(Error::network(
            format!("uploading {}", blob.digest),
            format!("the registry wants chunks of at least {min_chunk} bytes, more than the {CHUNK_MAX} allowed"),
        ))
    } else {
        put_chunked(client, &mut location, blob, content, CHUNK_SIZE.max(min_chunk)).await
    };
    if result.is_err() {
        // `location` is the session's latest: each chunk may move it.
        // Best effort, and the failure's verdict stands: leave no dangling session behind.
        let _ = client.send("DELETE", &location, &[], &[]).await;
    }
    result
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
    };
    created(client, response, blob).await
}

async fn put_chunked(
    client: &Client,
    location: &mut Url,
    blob: &Descriptor,
    content: &Content<'_>,
    chunk: u64,
) -> Result<()> {
    let mut file = match content {
        Content::File(path) => Some((File::open(path).map_err(|e| Error::io(path, e))?, *path)),
        Content::Bytes(_) => None,
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
            (Content::File(_), None) => unreachable!("a file content is opened above"),
        };
        let end = offset + len - 1;
        let headers =
            [("content-type", "application/octet-stream".to_string()), ("content-range", format!("{offset}-{end}"))];
        let response = client.send_once("PATCH", location, &headers, Body::Bytes(piece)).await?;
        if response.status != 202 {
            return Err(client.refusal_once(response, &format!("uploading a chunk of {}", blob.digest)).await);
        }
        *location = next_location(location, &response)?;
        offset = end + 1;
    }
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
