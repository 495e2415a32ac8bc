//! Helm's OCI format: media types, the manifest and its annotations, byte-compatible with
//! what Helm (through oras-go and Go's encoding/json) writes.

use crate::chart::metadata::Metadata;
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

/// What a manifest says of a blob: its type, and the digest and size that name it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An image manifest; field order is Go's, so the bytes match Helm's for the same content.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
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
        Manifest { schema_version: 2, media_type: None, config, layers, annotations }
    }
}

/// The manifest annotations Helm derives from Chart.yaml; `created` is RFC 3339.
pub fn chart_annotations(meta: &Metadata, created: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        if !value.is_empty() {
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

/// Serialises like Go's encoding/json: compact, with `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub fn go_json<T: Serialize>(value: &T) -> Vec<u8> {
    let plain = serde_json::to_string(value).expect("serialising plain data cannot fail");
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::metadata::Maintainer;

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
    fn json_is_escaped_like_go() {
        assert_eq!(go_json(&"a<b>&c"), br#""a\u003cb\u003e\u0026c""#.to_vec());
    }

    #[test]
    fn manifest_layout_matches_helm() {
        let d = |t: &str, dg: &str| Descriptor { media_type: t.into(), digest: dg.into(), size: 1 };
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
