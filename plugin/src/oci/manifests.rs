//! Manifests: fetching one by tag or digest, and putting one under a tag or its digest.

use super::client::Client;
use super::helm;
use crate::digest;
use crate::error::{Error, Kind, Result};

/// Manifests and configs are small; a registry sending more is refused.
pub const MANIFEST_MAX: u64 = 4 << 20;

pub const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The media types of manifests that list other manifests (one per platform), not blobs.
pub const INDEXES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];

/// Indexes under an index are followed no deeper than this.
pub const INDEX_DEPTH: usize = 4;

/// What a client that takes indexes too accepts: a registry answers 404 to a tag naming an
/// index for an `Accept` without them.
fn accept_any() -> String {
    format!("{ACCEPT}, {}", INDEXES.join(", "))
}

/// A fetched manifest, with what the registry said about it.
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// `Docker-Content-Digest`, which the caller must verify if present.
    pub digest_header: Option<String>,
    /// `Content-Type`: the media type the manifest was put with.
    content_type: Option<String>,
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

    /// The media type to put these very bytes back with: the one the manifest states, else
    /// the one the registry served it as, else an OCI image manifest's (Helm states none).
    pub fn media_type(&self) -> String {
        let stated = serde_json::from_slice::<serde_json::Value>(&self.bytes)
            .ok()
            .and_then(|m| m.get("mediaType")?.as_str().map(str::to_string));
        let served = self.content_type.as_deref().map(|t| t.split(';').next().unwrap_or_default().trim());
        stated
            .or_else(|| served.filter(|t| is_media_type(t)).map(str::to_string))
            .unwrap_or_else(|| helm::MANIFEST.to_string())
    }

    /// Whether this is an OCI image index (see `is_oci_index`).
    pub fn is_oci_index(&self) -> bool {
        is_oci_index(&self.bytes, self.content_type.as_deref())
    }

    /// Whether this is an index (a manifest per platform) rather than a manifest of blobs.
    pub fn is_index(&self) -> bool {
        INDEXES.contains(&self.media_type().as_str())
            || serde_json::from_slice::<serde_json::Value>(&self.bytes).is_ok_and(|m| m.get("manifests").is_some())
    }
}

/// Whether a manifest is an OCI image index (the one kind Helm looks into for a chart): it
/// says so; or it says nothing and was served as one (`served`, its `Content-Type`); or,
/// with neither, it lists manifests. A Docker manifest list always says what it is.
pub fn is_oci_index(bytes: &[u8], served: Option<&str>) -> bool {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) else { return false };
    match (json.get("mediaType"), served.map(|t| t.split(';').next().unwrap_or_default().trim())) {
        (Some(stated), _) => stated == INDEXES[0],
        (None, Some(served)) if is_media_type(served) => served == INDEXES[0],
        (None, _) => json.get("manifests").is_some(),
    }
}

/// `type/subtype` as RFC 6838 spells media type names, so that a registry's word can go in
/// a header.
fn is_media_type(text: &str) -> bool {
    let name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b));
    text.split_once('/').is_some_and(|(kind, sub)| name(kind) && name(sub))
}

/// Fetches a manifest by tag or digest; `subject` names it in errors.
pub async fn fetch(client: &Client, repo: &str, reference: &str, subject: &str) -> Result<Fetched> {
    fetch_accepting(client, repo, reference, subject, ACCEPT).await
}

/// Fetches whatever a tag or digest names, indexes included, so that a command can say
/// what it is rather than have the registry refuse it for the `Accept` header.
pub async fn fetch_any(client: &Client, repo: &str, reference: &str, subject: &str) -> Result<Fetched> {
    fetch_accepting(client, repo, reference, subject, &accept_any()).await
}

async fn fetch_accepting(client: &Client, repo: &str, reference: &str, subject: &str, accept: &str) -> Result<Fetched> {
    let url = client.url(&format!("/v2/{repo}/manifests/{reference}"));
    let response = client.following("GET", &url, &[("accept", accept.to_string())], MANIFEST_MAX).await?;
    if response.status != 200 {
        return Err(client.refusal(response, subject).await);
    }
    let digest_header = response.header("docker-content-digest").map(str::to_string);
    let content_type = response.header("content-type").map(str::to_string);
    Ok(Fetched { bytes: response.bytes(MANIFEST_MAX).await?, digest_header, content_type })
}

/// The digest a tag points at (a manifest, or an index: one may wrap a chart), as the
/// registry says with a HEAD (which Docker Hub does not count against its pull limit);
/// None if the tag does not exist or the registry does not say: a registry (or a proxy in
/// front of one: older Nexus, some firewalls) that answers no HEAD says nothing, and the
/// manifest is read with a GET, as Helm reads it.
pub async fn resolve(client: &Client, repo: &str, tag: &str) -> Result<Option<String>> {
    Ok(match head(client, repo, tag, &format!("manifest {repo}:{tag}")).await? {
        Headed::Digest(digest) => Some(digest),
        Headed::Missing | Headed::Unsaid => None,
    })
}

/// The digest a tag points at, read with a GET where a HEAD does not say; None only if the
/// tag does not exist. `subject` names it in errors.
pub async fn digest_of_tag(client: &Client, repo: &str, tag: &str, subject: &str) -> Result<Option<String>> {
    match head(client, repo, tag, subject).await? {
        Headed::Digest(digest) => Ok(Some(digest)),
        Headed::Missing => Ok(None),
        Headed::Unsaid => match fetch_any(client, repo, tag, subject).await {
            Ok(fetched) => fetched.verified_digest(None, subject).map(Some),
            Err(e) if e.kind == Kind::NotFound => Ok(None),
            Err(e) => Err(e),
        },
    }
}

/// What a HEAD of a tag says.
enum Headed {
    Digest(String),
    /// No such tag.
    Missing,
    /// No HEAD there, or no digest in its answer.
    Unsaid,
}

async fn head(client: &Client, repo: &str, tag: &str, subject: &str) -> Result<Headed> {
    let url = client.url(&format!("/v2/{repo}/manifests/{tag}"));
    let response = client.following("HEAD", &url, &[("accept", accept_any())], 0).await?;
    match response.status {
        200 => Ok(response
            .header("docker-content-digest")
            .filter(|d| digest::is_valid(d))
            .map_or(Headed::Unsaid, |d| Headed::Digest(d.to_string()))),
        404 => Ok(Headed::Missing),
        405 | 501 => Ok(Headed::Unsaid),
        _ => Err(client.refusal(response, subject).await),
    }
}

/// Puts a manifest under a tag (or its digest), and checks that the digest the registry
/// reports, if it reports one, is that of the bytes sent; `subject` names it in errors.
pub async fn push(
    client: &Client,
    repo: &str,
    reference: &str,
    (media_type, bytes): (&str, &[u8]),
    subject: &str,
) -> Result<()> {
    let url = client.url(&format!("/v2/{repo}/manifests/{reference}"));
    let response = client.send("PUT", &url, &[("content-type", media_type.to_string())], bytes).await?;
    if response.status != 201 {
        return Err(client.refusal(response, subject).await);
    }
    let sent = digest::of_bytes(bytes);
    match response.header("docker-content-digest").filter(|d| digest::is_valid(d)) {
        Some(reported) if reported != sent => Err(Error::mismatch(subject, sent, reported)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(json: &str, content_type: Option<&str>) -> Fetched {
        Fetched { bytes: json.as_bytes().to_vec(), digest_header: None, content_type: content_type.map(str::to_string) }
    }

    #[test]
    fn a_manifest_goes_back_with_the_media_type_it_states_else_the_one_it_was_served_as() {
        let docker = "application/vnd.docker.distribution.manifest.v2+json";
        let stated = format!(r#"{{"schemaVersion":2,"mediaType":"{docker}"}}"#);
        assert_eq!(fetched(&stated, Some(helm::MANIFEST)).media_type(), docker);
        assert_eq!(fetched(r#"{"schemaVersion":2}"#, Some(&format!("{docker}; charset=utf-8"))).media_type(), docker);
        // Helm's manifests state none, and a registry's odd word is not taken.
        assert_eq!(fetched(r#"{"schemaVersion":2}"#, None).media_type(), helm::MANIFEST);
        assert_eq!(fetched(r#"{"schemaVersion":2}"#, Some("text/plain\r\nx: y")).media_type(), helm::MANIFEST);
    }

    #[test]
    fn an_oci_index_says_so_or_is_served_as_one_or_lists_manifests_saying_nothing() {
        let docker_list = INDEXES[1];
        assert!(is_oci_index(format!(r#"{{"mediaType":"{}","manifests":[]}}"#, INDEXES[0]).as_bytes(), None));
        assert!(is_oci_index(br#"{"schemaVersion":2,"manifests":[]}"#, Some(INDEXES[0])));
        assert!(is_oci_index(br#"{"schemaVersion":2,"manifests":[]}"#, None));
        assert!(!is_oci_index(br#"{"schemaVersion":2,"manifests":[]}"#, Some(docker_list)));
        assert!(!is_oci_index(format!(r#"{{"mediaType":"{docker_list}","manifests":[]}}"#).as_bytes(), None));
        assert!(!is_oci_index(br#"{"schemaVersion":2,"config":{}}"#, None));
    }

    #[test]
    fn indexes_are_known_by_their_media_type_or_their_list_of_manifests() {
        assert!(fetched("{}", Some(INDEXES[0])).is_index());
        assert!(fetched(r#"{"schemaVersion":2,"manifests":[]}"#, None).is_index());
        assert!(!fetched(r#"{"schemaVersion":2,"config":{}}"#, Some(helm::MANIFEST)).is_index());
    }
}
