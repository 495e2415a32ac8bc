//! `index.json`: an OCI image index whose entries are the cached references. Each entry is
//! the manifest's descriptor, annotated with the reference's full name and what `list`
//! shows, so that listing reads this one file. Entries and fields other tools wrote are
//! kept as they are.

use crate::error::{Error, Result};
use crate::fs::temp;
use crate::timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

const INDEX_FILE: &str = "index.json";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// The image-spec's name for a reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const TITLE: &str = "org.opencontainers.image.title";
const VERSION: &str = "org.opencontainers.image.version";
/// When the reference entered the cache (RFC 3339).
const CREATED: &str = "org.opencontainers.image.created";
/// The chart layer's size in bytes, for `list`.
const CHART_SIZE: &str = "io.helm-oci.chart.size";
/// The digest of the image index the reference names, when it wraps the chart's manifest
/// (see `oci::wrapped`): the entry is the manifest, which is what holds the chart.
const WRAPPER: &str = "io.helm-oci.wrapper.digest";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Entry>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(INDEX_MEDIA_TYPE.to_string()),
            manifests: Vec::new(),
            other: Default::default(),
        }
    }
}

/// A manifest's descriptor in the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// What `list` shows of a chart, kept on its entry.
pub struct Shown<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// The chart layer's size.
    pub size: u64,
    /// When it entered the cache, seconds since the epoch.
    pub created: i64,
}

impl Entry {
    /// An entry for a chart's manifest under a reference's full name.
    pub fn new(reference: &str, manifest: (&str, &str, u64), shown: Shown) -> Entry {
        let (media_type, digest, size) = manifest;
        let annotations = BTreeMap::from([
            (REF_NAME.to_string(), reference.to_string()),
            (TITLE.to_string(), shown.name.to_string()),
            (VERSION.to_string(), shown.version.to_string()),
            (CREATED.to_string(), timestamp::rfc3339(shown.created)),
            (CHART_SIZE.to_string(), shown.size.to_string()),
        ]);
        Entry {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            annotations,
            other: Default::default(),
        }
    }

    /// The entry of a chart whose manifest the reference names through the image index
    /// `named` (unchanged if `named` is the manifest's own digest).
    pub fn wrapped_in(mut self, named: &str) -> Entry {
        if named != self.digest {
            self.annotations.insert(WRAPPER.to_string(), named.to_string());
        }
        self
    }

    /// The digest the reference names: the image index wrapping the manifest, if one does,
    /// else the manifest's own.
    pub fn named_digest(&self) -> &str {
        self.annotations.get(WRAPPER).unwrap_or(&self.digest)
    }

    /// Whether `digest` names this entry's chart: its manifest's, or the index's around it.
    pub fn is_named_by(&self, digest: &str) -> bool {
        self.digest == digest || self.named_digest() == digest
    }

    /// Whether this entry says all that `other` says, but when it entered the cache: the
    /// same reference, content and annotations.
    pub fn says_as(&self, other: &Entry) -> bool {
        let without_created = |e: &Entry| {
            let mut a = e.annotations.clone();
            a.remove(CREATED);
            a
        };
        self.digest == other.digest
            && self.reference() == other.reference()
            && without_created(self) == without_created(other)
    }

    /// The reference's full name, `host/repository:tag` (or `@digest`); None for an entry
    /// another tool wrote without one.
    pub fn reference(&self) -> Option<&str> {
        self.annotations.get(REF_NAME).map(String::as_str)
    }

    pub fn shown(&self) -> Shown<'_> {
        let get = |key: &str| self.annotations.get(key).map_or("", String::as_str);
        Shown {
            name: get(TITLE),
            version: get(VERSION),
            size: get(CHART_SIZE).parse().unwrap_or(0),
            created: timestamp::parse_rfc3339(get(CREATED)).unwrap_or(0),
        }
    }
}

impl Index {
    /// Reads `<root>/index.json`; none yet is an empty index.
    pub fn read(root: &Path) -> Result<Index> {
        let path = root.join(INDEX_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                crate::error::Kind::Io,
                path.display().to_string(),
                format!("the cache's index is not valid ({e}); move it away, and the next command that keeps a chart starts a new one"),
            )
        })
    }

    /// Replaces `<root>/index.json` whole; readers see the old index or the new one.
    pub fn write(&self, root: &Path) -> Result<()> {
        let path = root.join(INDEX_FILE);
        let bytes = serde_json::to_vec_pretty(self).expect("an index serialises");
        temp::write_atomically(root, &path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_what_list_shows_and_what_others_wrote() {
        let json = r#"{"schemaVersion":2,"manifests":[
            {"mediaType":"m","digest":"sha256:1","size":3,"platform":{"os":"linux"},
             "annotations":{"org.opencontainers.image.ref.name":"latest"}}],"annotations":{"x":"y"}}"#;
        let mut index: Index = serde_json::from_str(json).unwrap();
        let shown = Shown { name: "app", version: "1.0.0", size: 42, created: 1_700_000_000 };
        index.manifests.push(Entry::new("reg/app:1.0.0", ("m", "sha256:2", 5), shown));
        let again: Index = serde_json::from_slice(&serde_json::to_vec(&index).unwrap()).unwrap();
        let text = serde_json::to_string(&again).unwrap();
        assert!(text.contains(r#""platform":{"os":"linux"}"#) && text.contains(r#""annotations":{"x":"y"}"#));
        let ours = &again.manifests[1];
        assert_eq!(ours.reference(), Some("reg/app:1.0.0"));
        let shown = ours.shown();
        assert_eq!((shown.name, shown.version, shown.size, shown.created), ("app", "1.0.0", 42, 1_700_000_000));
    }
}
