//! A chart wrapped in an OCI image index: some publishers push one beside a platform image,
//! or alone, with Helm's config type as the entry's `artifactType`. Helm 4 pulls it, taking
//! the manifest under the index whose config is Helm's; so does this. Each manifest read
//! is a request, so the likeliest go first: entries that say they are Helm's, then those
//! that name no platform (an image names one), then the rest, each group in the index's
//! order. As in Helm, entries are OCI image manifests or nested OCI indexes; a Docker
//! manifest list is no wrapper.

use super::client::Client;
use super::helm::{self, Descriptor};
use super::manifests::{self, INDEX_DEPTH, INDEXES, MANIFEST_MAX};
use crate::cache::Cache;
use crate::digest;
use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::VecDeque;

/// No more manifests than this are read looking for the chart.
const MAX_READ: usize = 16;

/// The OCI image index's media type, the one wrapper Helm reads.
const INDEX: &str = INDEXES[0];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    platform: Option<serde_json::Value>,
}

impl Entry {
    /// Where it goes in the order of reading: Helm's first, images last.
    fn rank(&self) -> u8 {
        match (&self.artifact_type, &self.platform) {
            (Some(t), _) if t == helm::CONFIG => 0,
            (_, None) => 1,
            _ => 2,
        }
    }
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Entry>,
}

/// A chart's manifest found under an index: its bytes and its descriptor.
pub struct Unwrapped {
    pub bytes: Vec<u8>,
    pub descriptor: Descriptor,
}

/// Where to look for the chart under an index.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Everywhere Helm looks, as a pull of this one reference does.
    Everywhere,
    /// Not in entries that name a platform: a listing meets many multi-platform images,
    /// and reading each of their manifests would cost a request apiece.
    PastImages,
}

/// Finds the chart's manifest under an OCI image index (the index's bytes, verified by the
/// caller), reading the manifests it names from `cache` when it holds them, else from the
/// registry (kept in `cache` then); None if no manifest read is a chart's. `subject` names
/// the reference.
pub async fn chart_under(
    index: &[u8],
    (client, repo): (&Client, &str),
    cache: Option<&Cache>,
    look: Look,
    subject: &str,
) -> Result<Option<Unwrapped>> {
    let mut pending: VecDeque<(Entry, usize)> = VecDeque::new();
    push_front(&mut pending, entries(index, look, subject)?, 1);
    for _ in 0..MAX_READ {
        let Some((entry, depth)) = pending.pop_front() else { break };
        let descriptor = Descriptor::new(&entry.media_type, entry.digest, entry.size);
        let bytes = manifest(client, repo, &descriptor, cache, subject).await?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid_chart(
                subject,
                format!("manifest {} under its index is not valid JSON: {e}", descriptor.digest),
            )
        })?;
        if json.get("manifests").is_some() {
            if depth < INDEX_DEPTH {
                push_front(&mut pending, entries(&bytes, look, subject)?, depth + 1);
            }
        } else if json.pointer("/config/mediaType").and_then(|t| t.as_str()) == Some(helm::CONFIG) {
            return Ok(Some(Unwrapped { bytes, descriptor }));
        }
    }
    Ok(None)
}

/// Whether the cache holds the image index `named` and it names the manifest `digest`
/// (under nested indexes too): what shows that a cached chart is the one that index wraps.
pub fn names_in_cache(cache: &Cache, named: &str, digest: &str) -> bool {
    let mut pending = vec![(named.to_string(), 1)];
    while let Some((index, depth)) = pending.pop() {
        let Ok(Some(bytes)) = cache.manifest(&index) else { continue };
        let Ok(listing) = serde_json::from_slice::<Index>(&bytes) else { continue };
        for entry in listing.manifests {
            if entry.digest == digest {
                return true;
            }
            if entry.media_type == INDEX && depth < INDEX_DEPTH {
                pending.push((entry.digest, depth + 1));
            }
        }
    }
    false
}

/// The entries of an index Helm would follow (and `look` allows), likeliest first.
fn entries(index: &[u8], look: Look, subject: &str) -> Result<Vec<Entry>> {
    let index: Index = serde_json::from_slice(index)
        .map_err(|e| Error::invalid_chart(subject, format!("its image index is not valid: {e}")))?;
    let followed = |e: &Entry| {
        [helm::MANIFEST, INDEX].contains(&e.media_type.as_str()) && (look == Look::Everywhere || e.rank() < 2)
    };
    let mut followed: Vec<Entry> = index.manifests.into_iter().filter(followed).collect();
    followed.sort_by_key(Entry::rank);
    Ok(followed)
}

/// Puts a nested index's entries before what is left, so the walk goes depth first.
fn push_front(pending: &mut VecDeque<(Entry, usize)>, entries: Vec<Entry>, depth: usize) {
    for entry in entries.into_iter().rev() {
        pending.push_front((entry, depth));
    }
}

/// A manifest an index names, verified against its descriptor: from the cache if it holds
/// it, else from the registry by digest, and kept. What the index says is checked before it
/// goes into a path or a URL.
pub async fn manifest(
    client: &Client,
    repo: &str,
    descriptor: &Descriptor,
    cache: Option<&Cache>,
    subject: &str,
) -> Result<Vec<u8>> {
    if !digest::is_valid(&descriptor.digest) || descriptor.size > MANIFEST_MAX {
        let (digest, size) = (&descriptor.digest, descriptor.size);
        let why = format!("its image index names a manifest by {digest:?} of {size} bytes, which no manifest can be");
        return Err(Error::invalid_chart(subject, why));
    }
    if let Some(bytes) = cache.and_then(|cache| cache.read(descriptor).ok().flatten()) {
        return Ok(bytes);
    }
    let fetched = manifests::fetch_any(client, repo, &descriptor.digest, subject).await?;
    fetched.verified_digest(Some(&descriptor.digest), subject)?;
    let size = fetched.bytes.len() as u64;
    if size != descriptor.size {
        let what = format!("manifest {} under {subject}", descriptor.digest);
        return Err(Error::mismatch(what, format!("{} bytes", descriptor.size), format!("{size} bytes")));
    }
    if let Some(cache) = cache {
        let _ = cache.put(descriptor, &fetched.bytes[..]);
    }
    Ok(fetched.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: serde_json::Value) -> Entry {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn entries_that_say_they_are_helms_go_first_and_platform_images_last_if_at_all() {
        let index = serde_json::json!({"manifests": [
            {"mediaType": helm::MANIFEST, "digest": "image", "size": 1, "platform": {"os": "linux"}},
            {"mediaType": helm::MANIFEST, "digest": "plain", "size": 1},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": "docker", "size": 1},
            {"mediaType": INDEX, "digest": "nested", "size": 1},
            {"mediaType": helm::MANIFEST, "digest": "helm", "size": 1, "artifactType": helm::CONFIG},
        ]});
        let order = |look| -> Vec<String> {
            entries(index.to_string().as_bytes(), look, "s").unwrap().into_iter().map(|e| e.digest).collect()
        };
        assert_eq!(order(Look::Everywhere), ["helm", "plain", "nested", "image"]);
        assert_eq!(order(Look::PastImages), ["helm", "plain", "nested"]);
        assert_eq!(entry(serde_json::json!({"digest": "d", "size": 1})).rank(), 1);
    }

    #[test]
    fn a_nested_index_is_read_before_what_follows_it() {
        let mut pending = VecDeque::new();
        push_front(&mut pending, vec![entry(serde_json::json!({"digest": "later", "size": 1}))], 1);
        push_front(&mut pending, vec![entry(serde_json::json!({"digest": "inner", "size": 1}))], 2);
        let order: Vec<(String, usize)> = pending.into_iter().map(|(e, depth)| (e.digest, depth)).collect();
        assert_eq!(order, [("inner".to_string(), 2), ("later".to_string(), 1)]);
    }
}
