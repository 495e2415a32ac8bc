//! Manifests: fetching one by tag or digest, and putting one under a tag.

use super::client::Client;
use crate::digest;
use crate::error::{Error, Result};

/// Manifests and configs are small; a registry sending more is refused.
pub const MANIFEST_MAX: u64 = 4 << 20;

pub const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A fetched manifest, with what the registry said about it.
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// `Docker-Content-Digest`, which the caller must verify if present.
    pub digest_header: Option<String>,
}

impl Fetched {
    /// The manifest's digest, checked against the one it was asked for by (`pinned`), else
    /// against the one the registry announced.
    pub fn verified_digest(&self, pinned: Option<&str>, subject: &str) -> Result<String> {
        let actual = digest::of_bytes(&self.bytes);
        let announced = self.digest_header.as_deref().filter(|d| digest::is_valid(d));
        match pinned.or(announced) {
            Some(expected) if expected != actual => {
                Err(Error::mismatch(format!("manifest {subject}"), expected, actual))
            }
            _ => Ok(actual),
        }
    }
}

/// Fetches a manifest by tag or digest; `subject` names it in errors.
pub async fn fetch(client: &Client, repo: &str, reference: &str, subject: &str) -> Result<Fetched> {
    let url = client.url(&format!("/v2/{repo}/manifests/{reference}"));
    let response = client.get_whole(&url, &[("accept", ACCEPT.to_string())], MANIFEST_MAX).await?;
    if response.status != 200 {
        return Err(client.refusal(response, subject).await);
    }
    let digest_header = response.header("docker-content-digest").map(str::to_string);
    Ok(Fetched { bytes: response.bytes(MANIFEST_MAX).await?, digest_header })
}

/// The digest a tag points at, as the registry says with a HEAD (which Docker Hub does not
/// count against its pull limit); None if the tag does not exist or the registry does not say.
pub async fn resolve(client: &Client, repo: &str, tag: &str) -> Result<Option<String>> {
    let url = client.url(&format!("/v2/{repo}/manifests/{tag}"));
    let response = client.send("HEAD", &url, &[("accept", ACCEPT.to_string())], &[]).await?;
    match response.status {
        200 => Ok(response.header("docker-content-digest").filter(|d| digest::is_valid(d)).map(str::to_string)),
        404 => Ok(None),
        _ => Err(client.refusal(response, &format!("manifest {repo}:{tag}")).await),
    }
}

/// Puts a manifest under a tag and returns the digest the registry reports, if any.
pub async fn push(client: &Client, repo: &str, tag: &str, media_type: &str, bytes: &[u8]) -> Result<Option<String>> {
    let url = client.url(&format!("/v2/{repo}/manifests/{tag}"));
    let response = client.send("PUT", &url, &[("content-type", media_type.to_string())], bytes).await?;
    if response.status != 201 {
        return Err(client.refusal(response, &format!("manifest {repo}:{tag}")).await);
    }
    Ok(response.header("docker-content-digest").map(str::to_string))
}
