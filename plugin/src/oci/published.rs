//! A chart repository index kept in the registry beside the charts it lists, as
//! `helm oci index` publishes it: an artifact at `NAMESPACE/index.yaml:latest`, the path a
//! static chart repository keeps its index at. It is an OCI 1.1 artifact (an artifact type,
//! the empty config, one layer that is the index), the shape registries that take ORAS's
//! artifacts take. The downloader serves a namespace's index with one manifest read (and the
//! blob, unless the chart cache has it) instead of reading every chart. Like a static
//! repository's, it is as current as its last publishing.

use super::helm::{self, Descriptor, Manifest};
use super::mirrors::{self, Place};
use super::{blobs, manifests};
use crate::cache::Cache;
use crate::error::{Error, Kind, Result};
use std::collections::BTreeMap;

/// The repository below the namespace that holds the index, and its tag.
pub const REPOSITORY: &str = "index.yaml";
pub const TAG: &str = "latest";
/// The artifact type that says a manifest is a chart repository index, and its layer's.
pub const ARTIFACT_TYPE: &str = "application/vnd.helm-oci.index.v1+json";
pub const LAYER: &str = "application/vnd.helm-oci.index.content.v1+json";
/// OCI 1.1's empty config, for artifacts that need none.
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// An index larger than this is neither published nor served: it is held in memory whole,
/// as Helm holds it.
pub const INDEX_MAX: u64 = 128 << 20;

/// The index's repository for a namespace (`team/charts/index.yaml`, or `index.yaml` for a
/// whole registry).
pub fn repository(namespace: &str) -> String {
    match namespace.trim_matches('/') {
        "" => REPOSITORY.to_string(),
        namespace => format!("{namespace}/{REPOSITORY}"),
    }
}

/// A published index: its manifest's digest, and the index.
pub struct Published {
    pub digest: String,
    pub json: String,
}

/// The namespace's published index, from the first of `places` that has it, and the mirrors
/// passed over on the way. None if the registry shows none: it has none, or does not let
/// this client see one, or refuses the name (a registry with stricter names than OCI's).
/// The index is then made from the charts, which says so if they cannot be seen either. Any
/// other failure is an error, and so is whatever is wrong once a manifest is found: a
/// published index is never silently replaced by another. (A mirror's failures pass it over
/// to the next place, as for any read.) The blob is kept in the chart cache.
pub async fn fetch(places: &[Place<'_>], cache: Option<&Cache>) -> Result<(Option<Published>, Vec<String>)> {
    mirrors::first(places, async |place| read(place, cache).await).await
}

async fn read(place: &Place<'_>, cache: Option<&Cache>) -> Result<Option<Published>> {
    let subject = format!("chart repository index {}/{}:{TAG}", place.client.endpoint(), place.repository);
    let fetched = match manifests::fetch(place.client, &place.repository, TAG, &subject).await {
        Ok(fetched) => fetched,
        // A mirror that shows none simply lacks it, as mirrors lack what they do not hold:
        // said in the trace, not warned of at every `helm repo update`.
        Err(e) if shows_none(&e) && place.is_mirror() => return Err(Error::not_found(e.subject, e.cause)),
        Err(e) if shows_none(&e) => {
            place.client.trace.debug(|| format!("no published index to serve ({e}); reading the charts"));
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let digest = fetched.verified_digest(None, &subject)?;
    let layer = index_layer(&fetched.bytes, &subject)?;
    let bytes = blobs::fetch_kept(place.client, &place.repository, &layer, cache).await?;
    let json = String::from_utf8(bytes).map_err(|_| Error::invalid_chart(&subject, "it is not UTF-8 text"))?;
    place.client.trace.debug(|| format!("the published index is {digest}"));
    Ok(Some(Published { digest, json }))
}

/// Whether a registry's answer to the index's manifest says it shows none: not found, not
/// for this client, or a name it will not take (distribution's `NAME_INVALID` is a 400).
fn shows_none(e: &Error) -> bool {
    matches!(e.kind, Kind::NotFound | Kind::Denied | Kind::Unauthorized | Kind::Registry { status: 400 | 404, .. })
}

/// The index's one layer, from a manifest that must be a published index's.
fn index_layer(manifest: &[u8], subject: &str) -> Result<Descriptor> {
    let manifest: Manifest = serde_json::from_slice(manifest)
        .map_err(|e| Error::invalid_chart(subject, format!("its manifest cannot be read: {e}")))?;
    if manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        let what = manifest.artifact_type.unwrap_or(manifest.config.media_type);
        return Err(Error::invalid_chart(subject, format!("it is not a chart repository index, but {what}")));
    }
    match <[Descriptor; 1]>::try_from(manifest.layers) {
        Ok([layer]) if layer.media_type == LAYER => {
            within_limit(layer.size, subject)?;
            Ok(layer)
        }
        _ => Err(Error::invalid_chart(subject, format!("it must have one layer, of type {LAYER}"))),
    }
}

/// Refuses an index larger than `INDEX_MAX`.
pub fn within_limit(size: u64, subject: &str) -> Result<()> {
    if size > INDEX_MAX {
        return Err(Error::invalid_chart(subject, format!("it is {size} bytes, more than the {INDEX_MAX} allowed")));
    }
    Ok(())
}

/// Whether two indexes list the same: the same entries, whenever each was generated.
pub fn lists_the_same(a: &str, b: &str) -> bool {
    let entries = |json: &str| {
        let mut index = serde_json::from_str::<serde_json::Value>(json).ok()?;
        index.as_object_mut()?.remove("entries")
    };
    matches!((entries(a), entries(b)), (Some(a), Some(b)) if a == b)
}

/// The artifact that publishes `json`: its config (`{}`) and layer, and its manifest.
pub fn artifact(json: &str, created: &str) -> (Descriptor, Descriptor, Vec<u8>) {
    let (config, layer) = (Descriptor::of(EMPTY_TYPE, EMPTY_CONFIG), Descriptor::of(LAYER, json.as_bytes()));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(helm::MANIFEST.to_string()),
        artifact_type: Some(ARTIFACT_TYPE.to_string()),
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

    /// A manifest of `artifact_type` (none if empty) whose config is `config`.
    fn manifest(artifact_type: &str, config: &str, layers: serde_json::Value) -> Vec<u8> {
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut m = json!({
            "schemaVersion": 2,
            "config": {"mediaType": config, "digest": digest, "size": 2},
            "layers": layers,
        });
        if !artifact_type.is_empty() {
            m["artifactType"] = artifact_type.into();
        }
        serde_json::to_vec(&m).unwrap()
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
    fn only_answers_that_show_no_index_have_it_made_from_the_charts() {
        let registry = |status| Error::new(Kind::Registry { status, code: String::new() }, "i", "x");
        for shown_none in [Error::not_found("i", "x"), Error::new(Kind::Denied, "i", "x"), registry(400)] {
            assert!(shows_none(&shown_none), "{shown_none}");
        }
        for failed in [registry(429), registry(503), Error::network("i", "x"), Error::new(Kind::TimedOut, "i", "x")] {
            assert!(!shows_none(&failed), "{failed}");
        }
    }

    #[test]
    fn indexes_list_the_same_whenever_generated() {
        let index = |entries: &str, generated: &str| {
            format!(r#"{{"apiVersion":"v1","entries":{entries},"generated":"{generated}"}}"#)
        };
        let web = r#"{"web":[{"name":"web","version":"1.0.0"}]}"#;
        assert!(lists_the_same(&index(web, "2026-01-01T00:00:00Z"), &index(web, "2026-02-01T00:00:00Z")));
        assert!(!lists_the_same(&index(web, "x"), &index(r#"{"web":[]}"#, "x")));
        for odd in ["not json", "[1]", "5", "{}"] {
            assert!(!lists_the_same(odd, odd), "{odd}");
        }
    }

    #[test]
    fn what_is_published_is_served() {
        let (config, layer, bytes) = artifact("{}", "2026-01-01T00:00:00Z");
        assert_eq!(index_layer(&bytes, "i").unwrap(), layer);
        assert_eq!((config.media_type.as_str(), config.size), (EMPTY_TYPE, 2));
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(&format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"{ARTIFACT_TYPE}","#,
                helm::MANIFEST
            )),
            "{text}"
        );
    }

    #[test]
    fn only_an_index_artifact_with_one_index_layer_is_served() {
        let layer_of = |bytes: Vec<u8>| index_layer(&bytes, "i").map(|l| l.size).map_err(|e| e.cause);
        assert_eq!(layer_of(manifest(ARTIFACT_TYPE, EMPTY_TYPE, json!([layer(LAYER, 10)]))), Ok(10));
        let chart = layer_of(manifest("", helm::CONFIG, json!([layer(helm::CHART, 10)]))).unwrap_err();
        assert!(chart.ends_with(&format!("not a chart repository index, but {}", helm::CONFIG)), "{chart}");
        for layers in [json!([]), json!([layer(LAYER, 1), layer(LAYER, 2)]), json!([layer(helm::CHART, 1)])] {
            assert!(layer_of(manifest(ARTIFACT_TYPE, EMPTY_TYPE, layers)).unwrap_err().contains("one layer"));
        }
        let large = manifest(ARTIFACT_TYPE, EMPTY_TYPE, json!([layer(LAYER, INDEX_MAX + 1)]));
        assert!(layer_of(large).unwrap_err().contains("bytes, more than"));
    }
}
