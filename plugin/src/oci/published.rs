//! A chart repository index kept in the registry beside the charts it lists, as
//! `helm oci index` publishes it: an artifact at `NAMESPACE/index.yaml:latest`, the path a
//! static chart repository keeps its index at. Its one layer is the index itself, so the
//! downloader serves a namespace's index with one manifest read (and the blob, unless the
//! chart cache has it) instead of reading every chart. Like a static repository's, it is
//! as current as its last publishing.

use super::helm::{self, Descriptor, Manifest};
use super::mirrors::{self, Place};
use super::{blobs, manifests};
use crate::cache::Cache;
use crate::error::{Error, Kind, Result};
use std::collections::BTreeMap;

/// The repository below the namespace that holds the index, and its tag.
pub const REPOSITORY: &str = "index.yaml";
pub const TAG: &str = "latest";
/// The media types that say an artifact is a chart repository index (the config is `{}`).
pub const CONFIG: &str = "application/vnd.helm-oci.index.config.v1+json";
pub const LAYER: &str = "application/vnd.helm-oci.index.v1+json";
/// An index larger than this is refused: it is held in memory whole, as Helm holds it.
const INDEX_MAX: u64 = 128 << 20;
/// The config's content.
pub const EMPTY_CONFIG: &[u8] = b"{}";

/// The index's repository for a namespace (`team/charts/index.yaml`, or `index.yaml` for a
/// whole registry).
pub fn repository(namespace: &str) -> String {
    match namespace.trim_matches('/') {
        "" => REPOSITORY.to_string(),
        namespace => format!("{namespace}/{REPOSITORY}"),
    }
}

/// An index read from the registry (or a mirror): its text, and the mirrors passed over.
pub struct Found {
    pub json: String,
    pub warnings: Vec<String>,
}

/// The namespace's published index, from the first of `places` that has it; None if none
/// does, or none lets this client see it (then the index is made from the charts, which
/// would say so if they cannot be seen either). The index blob is kept in the chart cache
/// and read from there again.
pub async fn fetch(places: &[Place<'_>], cache: Option<&Cache>) -> Result<Option<Found>> {
    match mirrors::first(places, async |place| read(place, cache).await).await {
        Ok((json, warnings)) => Ok(Some(Found { json, warnings })),
        Err(e) if matches!(e.kind, Kind::NotFound | Kind::Denied | Kind::Unauthorized) => {
            places[0].client.trace.debug(|| format!("no published index to serve ({e}); reading the charts"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

async fn read(place: &Place<'_>, cache: Option<&Cache>) -> Result<String> {
    let subject = format!("chart repository index {}/{}:{TAG}", place.client.endpoint(), place.repository);
    let fetched = manifests::fetch(place.client, &place.repository, TAG, &subject).await?;
    let digest = fetched.verified_digest(None, &subject)?;
    let layer = index_layer(&fetched.bytes, &subject)?;
    let bytes = match cache.map(|cache| cache.read(&layer)).transpose()?.flatten() {
        Some(bytes) => bytes,
        None => {
            let bytes = blobs::fetch_small(place.client, &place.repository, &layer).await?;
            if let Some(cache) = cache {
                cache.put(&layer, bytes.as_slice())?;
            }
            bytes
        }
    };
    let json = String::from_utf8(bytes).map_err(|_| Error::invalid_chart(&subject, "it is not UTF-8 text"))?;
    place.client.trace.debug(|| format!("serving the published index {digest}"));
    Ok(json)
}

/// The index's one layer, from a manifest that must be a published index's.
fn index_layer(manifest: &[u8], subject: &str) -> Result<Descriptor> {
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| Error::invalid_chart(subject, format!("its manifest cannot be read: {e}")))?;
    if manifest.config.media_type != CONFIG {
        let what = &manifest.config.media_type;
        return Err(Error::invalid_chart(
            subject,
            format!("it is not a chart repository index (its config is {what})"),
        ));
    }
    match <[Descriptor; 1]>::try_from(manifest.layers) {
        Ok([layer]) if layer.media_type == LAYER && layer.size <= INDEX_MAX => Ok(layer),
        Ok([layer]) if layer.media_type == LAYER => {
            Err(Error::invalid_chart(subject, format!("it is {} bytes, more than the {INDEX_MAX} allowed", layer.size)))
        }
        _ => Err(Error::invalid_chart(subject, format!("it must have one layer, of type {LAYER}"))),
    }
}

/// The artifact that publishes `json`: its config (`{}`) and layer, and its manifest.
pub fn artifact(json: &str, created: &str) -> (Descriptor, Descriptor, Vec<u8>) {
    let (config, layer) = (Descriptor::of(CONFIG, EMPTY_CONFIG), Descriptor::of(LAYER, json.as_bytes()));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(helm::MANIFEST.to_string()),
        config: config.clone(),
        layers: vec![layer.clone()],
        annotations: BTreeMap::from([(helm::CREATED.to_string(), created.to_string())]),
    };
    (config, layer, serde_json::to_vec(&manifest).expect("a manifest serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(config: &str, layers: serde_json::Value) -> Vec<u8> {
        let digest = format!("sha256:{}", "a".repeat(64));
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "config": {"mediaType": config, "digest": digest, "size": 2},
            "layers": layers,
        }))
        .unwrap()
    }

    fn layer(media_type: &str, size: u64) -> serde_json::Value {
        json!({"mediaType": media_type, "digest": format!("sha256:{}", "b".repeat(64)), "size": size})
    }

    #[test]
    fn the_index_lives_below_the_namespace_it_lists() {
        assert_eq!(repository("team/charts/"), "team/charts/index.yaml");
        assert_eq!(repository(""), "index.yaml");
    }

    #[test]
    fn only_an_index_artifact_with_one_index_layer_is_served() {
        let layer_of = |bytes: Vec<u8>| index_layer(&bytes, "i").map(|l| l.size).map_err(|e| e.cause);
        assert_eq!(layer_of(manifest(CONFIG, json!([layer(LAYER, 10)]))), Ok(10));
        let chart = layer_of(manifest(helm::CONFIG, json!([layer(helm::CHART, 10)]))).unwrap_err();
        assert!(chart.contains("not a chart repository index"), "{chart}");
        for layers in [json!([]), json!([layer(LAYER, 1), layer(LAYER, 2)]), json!([layer(helm::CHART, 1)])] {
            assert!(layer_of(manifest(CONFIG, layers)).unwrap_err().contains("one layer"));
        }
        assert!(layer_of(manifest(CONFIG, json!([layer(LAYER, INDEX_MAX + 1)]))).unwrap_err().contains("bytes"));
    }
}
