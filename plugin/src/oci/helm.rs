//! Helm's OCI format: media types, the manifest and its annotations, byte-compatible with
//! what Helm (through oras-go and Go's encoding/json) writes.

use crate::chart::metadata::Metadata;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The media types of Helm's OCI format: an image manifest, Helm's config (Chart.yaml as
/// JSON), the chart archive and its provenance.
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
pub const CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
pub const PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
/// What Helm 3.0 to 3.6 pushed the chart layer as; still readable, with a warning.
pub const LEGACY_CHART: &str = "application/tar+gzip";
/// The early Helm 3 registry layout: Chart.yaml as JSON less its name and version (the meta
/// layer), and an archive of the chart under a stand-in Chart.yaml (the content layer),
/// whose descriptor carries the name and version as annotations.
pub const LEGACY_META: &str = "application/vnd.cncf.helm.chart.meta.v1+json";
pub const LEGACY_CONTENT: &str = "application/vnd.cncf.helm.chart.content.v1+tar";
pub const LEGACY_NAME: &str = "sh.helm.chart.name";
pub const LEGACY_VERSION: &str = "sh.helm.chart.version";
/// The manifest annotation that says when the chart was packaged (RFC 3339).
pub const CREATED: &str = "org.opencontainers.image.created";
/// The manifest annotation Helm sets to the chart's version.
pub const VERSION: &str = "org.opencontainers.image.version";

/// What a manifest says of a blob: its type, and the digest and size that name it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor { media_type: media_type.to_string(), digest, size, annotations: BTreeMap::new() }
    }

    /// The descriptor of some bytes.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor::new(media_type, crate::digest::of_bytes(bytes), bytes.len() as u64)
    }
}

/// An image manifest; field order is Go's, so the bytes match Helm's for the same content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What an artifact that is no image is (OCI 1.1); Helm's charts state none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Helm's manifest for a chart: layers sorted by digest, no top-level media type.
    pub fn for_chart(config: Descriptor, mut layers: Vec<Descriptor>, annotations: BTreeMap<String, String>) -> Self {
        layers.sort_by(|a, b| a.digest.cmp(&b.digest));
        Manifest { schema_version: 2, media_type: None, artifact_type: None, config, layers, annotations }
    }
}

/// Where a manifest keeps its chart, in the layouts Helm has used.
pub enum ChartLayers<'m> {
    /// Helm's own: the config is Chart.yaml as JSON, a layer the archive (`legacy` if it
    /// has Helm 3.0–3.6's media type), and maybe a provenance file.
    Packaged { config: &'m Descriptor, chart: &'m Descriptor, prov: Option<&'m Descriptor>, legacy: bool },
    /// The early registry work's meta and content layers (see `chart::legacy`), beside a
    /// config of no use to Helm.
    Split { config: &'m Descriptor, meta: &'m Descriptor, content: &'m Descriptor, name: &'m str, version: &'m str },
}

impl ChartLayers<'_> {
    /// Every blob the manifest's chart needs, its archive last.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        match self {
            ChartLayers::Packaged { config, chart, prov, .. } => {
                [Some(*config), *prov, Some(*chart)].into_iter().flatten().collect()
            }
            ChartLayers::Split { config, meta, content, .. } => vec![config, meta, content],
        }
    }

    /// The blob holding the chart's archive.
    pub fn archive(&self) -> &Descriptor {
        match self {
            ChartLayers::Packaged { chart, .. } => chart,
            ChartLayers::Split { content, .. } => content,
        }
    }
}

impl Manifest {
    /// The manifest's own media type: the one it states, else the OCI image manifest's.
    pub fn own_media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(MANIFEST)
    }

    /// The chart version a Helm chart's manifest is annotated with (Helm always sets it, and
    /// Chart.yaml cannot override it); None for anything else.
    pub fn chart_version(&self) -> Option<&str> {
        (self.config.media_type == CONFIG).then(|| self.annotations.get(VERSION)).flatten().map(String::as_str)
    }

    /// The layers that hold the chart; an error says why this manifest is not a chart
    /// (`subject` names it).
    pub fn chart_layers(&self, subject: &str) -> Result<ChartLayers<'_>> {
        let layer = |media_type: &str| self.layers.iter().find(|l| l.media_type == media_type);
        if self.config.media_type == CONFIG {
            let (config, prov) = (&self.config, layer(PROVENANCE));
            return match (layer(CHART), layer(LEGACY_CHART)) {
                (Some(chart), _) => Ok(ChartLayers::Packaged { config, chart, prov, legacy: false }),
                (None, Some(chart)) => Ok(ChartLayers::Packaged { config, chart, prov, legacy: true }),
                (None, None) => Err(Error::invalid_chart(subject, "the manifest has no Helm chart layer")),
            };
        }
        if let (Some(meta), Some(content)) = (layer(LEGACY_META), layer(LEGACY_CONTENT)) {
            let annotation = |key: &str| {
                content.annotations.get(key).map(String::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
                    Error::invalid_chart(subject, format!("its content layer has no {key:?} annotation"))
                })
            };
            return Ok(ChartLayers::Split {
                config: &self.config,
                meta,
                content,
                name: annotation(LEGACY_NAME)?,
                version: annotation(LEGACY_VERSION)?,
            });
        }
        Err(Error::invalid_chart(
            format!("{subject} is not a Helm chart"),
            format!("config media type {:?}", self.config.media_type),
        ))
    }
}

/// The manifest annotations Helm derives from Chart.yaml; `created` is RFC 3339.
pub fn chart_annotations(meta: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // Helm leaves out a value that is only white space (Go's TrimSpace, which trims what
    // Unicode calls white space, as `trim` does), and keeps one that is not as it is.
    let mut put = |key: &str, value: &str| {
        if !value.trim().is_empty() {
            out.insert(format!("org.opencontainers.image.{key}"), value.to_string());
        }
    };
    put("description", &meta.description);
    put("title", &meta.name);
    put("version", &meta.version);
    put("url", &meta.home);
    put("created", created);
    put("source", meta.sources.first().map_or("", String::as_str));
    let authors: Vec<String> = meta
        .maintainers
        .iter()
        .flatten()
        .map(|m| if m.email.is_empty() { m.name.clone() } else { format!("{} ({})", m.name, m.email) })
        .collect();
    put("authors", &authors.join(", "));
    // Chart.yaml's own annotations win over everything but the title and version, as in Helm.
    for (k, v) in &meta.annotations {
        if k != "org.opencontainers.image.title" && k != "org.opencontainers.image.version" {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::metadata::Maintainer;
    use crate::gojson::go_json;

    #[test]
    fn values_of_white_space_alone_are_left_out_as_helm_leaves_them() {
        let mut meta = Metadata { name: "app".into(), version: "1.0.0".into(), ..Default::default() };
        meta.description = "\t\u{a0}\u{85}\u{3000} ".into();
        meta.home = " ".into();
        meta.sources = vec![" ".into()];
        meta.maintainers = vec![Some(Maintainer { name: " ".into(), ..Default::default() })];
        let a = chart_annotations(&meta, "2025-01-01T00:00:00Z");
        let keys: Vec<&str> = a.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["org.opencontainers.image.created", "org.opencontainers.image.title", "org.opencontainers.image.version"]
        );
        meta.description = " padded ".into();
        assert_eq!(chart_annotations(&meta, "")["org.opencontainers.image.description"], " padded ");
    }

    #[test]
    fn annotations_follow_helm() {
        let mut meta = Metadata { name: "app".into(), version: "1.0.0".into(), ..Default::default() };
        meta.home = "https://h".into();
        meta.sources = vec!["https://s1".into(), "https://s2".into()];
        meta.maintainers = vec![
            Some(Maintainer { name: "A".into(), email: "a@x".into(), url: String::new() }),
            Some(Maintainer { name: "B".into(), ..Default::default() }),
        ];
        meta.annotations.insert("org.opencontainers.image.title".into(), "evil".into());
        meta.annotations.insert("team".into(), "core".into());
        let a = chart_annotations(&meta, "2025-01-01T00:00:00Z");
        assert_eq!(a["org.opencontainers.image.title"], "app");
        assert_eq!(a["org.opencontainers.image.version"], "1.0.0");
        assert_eq!(a["org.opencontainers.image.url"], "https://h");
        assert_eq!(a["org.opencontainers.image.source"], "https://s1");
        assert_eq!(a["org.opencontainers.image.authors"], "A (a@x), B");
        assert_eq!(a["team"], "core");
        assert!(!a.contains_key("org.opencontainers.image.description"));
    }

    #[test]
    fn manifest_layout_matches_helm() {
        let d = |t: &str, dg: &str| Descriptor::new(t, dg.into(), 1);
        let m = Manifest::for_chart(
            d(CONFIG, "sha256:c"),
            vec![d(PROVENANCE, "sha256:b"), d(CHART, "sha256:a")],
            BTreeMap::new(),
        );
        let json = String::from_utf8(go_json(&m)).unwrap();
        assert!(
            json.starts_with(r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json""#)
        );
        assert!(json.find("sha256:a").unwrap() < json.find("sha256:b").unwrap());
        assert!(!json.contains("annotations"));
    }
}
