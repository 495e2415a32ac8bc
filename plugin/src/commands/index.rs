//! `chart-index`: a Helm chart repository's index for a registry, or a namespace of it,
//! made from what `search` reads (every version tag of every chart, and each version's
//! manifest and config). Helm's downloader plugins serve it, so that `helm repo add`,
//! `helm search repo` and `helm install REPO/CHART` work over a registry.
//!
//! The index is written as JSON, which every Helm reads as its index.yaml: digests stay
//! strings, and no chart text needs YAML quoting. Each entry is the chart's config (Helm's
//! own Chart.yaml fields only, so that Helm's strict parsers take it) plus `urls`, `digest`
//! and `created`.

use super::search::{self, Hit, Listing, Search};
use crate::error::{Error, Result};
use crate::net::clock;
use crate::timestamp;
use crate::version::Wanted;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Which registry namespace to index, and how its entries point back at it.
pub struct Index {
    pub listing: Listing,
    /// The URL scheme of the entries' `urls`: the downloader's (`ocirepo`, `ocirepo+http`).
    pub scheme: String,
}

/// An index, and what it left out.
pub struct Built {
    pub json: String,
    pub charts: usize,
    pub versions: usize,
    /// Repositories that could not be read, and why.
    pub skipped: Vec<(String, Error)>,
    /// Mirrors passed over.
    pub warnings: Vec<String>,
}

pub async fn run(index: Index) -> Result<Built> {
    let every_version = Wanted::from_flags(None, None, None, true).map_err(|why| Error::invalid_reference("", why))?;
    let (registry, namespace) = (index.listing.registry.clone(), index.listing.namespace.clone());
    let found = search::run(Search {
        listing: index.listing,
        term: None,
        wanted: every_version,
        all_versions: true,
        fail_fast: false,
        itself: false,
        unlisted: |registry| format!("add a namespace you may list as the repository ({registry}/NAMESPACE)"),
    })
    .await?;
    let namespace = namespace.trim_matches('/');
    let mut entries: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for hit in &found.hits {
        entries.entry(chart_key(namespace, &hit.repository)).or_default().push(entry(&index.scheme, &registry, hit));
    }
    let versions = found.hits.len();
    let document = json!({
        "apiVersion": "v1",
        "entries": entries,
        "generated": timestamp::rfc3339(clock::wall_seconds()),
    });
    let (charts, skipped, mut warnings) = (entries.len(), found.skipped, found.warnings);
    // Helm takes an empty index (`helm repo add` succeeds): a mistyped namespace, or a chart's
    // own repository given for its namespace, would pass unnoticed.
    if charts == 0 && skipped.is_empty() {
        let place = [registry.as_str(), namespace].join("/");
        warnings.push(format!(
            "no charts under {}: is that the namespace the charts are in (not a chart's own repository)?",
            place.trim_end_matches('/')
        ));
    }
    Ok(Built { json: format!("{document}\n"), charts, versions, skipped, warnings })
}

/// A chart's name in the index: its repository's path below the namespace, which is the
/// chart's own name wherever Helm pushed it (`NAMESPACE/NAME`).
fn chart_key<'r>(namespace: &str, repository: &'r str) -> &'r str {
    match repository.strip_prefix(namespace) {
        Some(rest) if !namespace.is_empty() => rest.trim_start_matches('/'),
        _ => repository,
    }
}

/// One version's entry: its Chart.yaml fields, the archive's URL pinned to the manifest's
/// digest (what the index lists is what is fetched, even if the tag moves later), the
/// archive's digest as Helm writes it (hex, no algorithm), and when it was packaged.
fn entry(scheme: &str, registry: &str, hit: &Hit) -> Value {
    let chart = &hit.chart;
    // Metadata is a struct of strings, lists and maps: it always serialises to an object.
    let mut fields = match serde_json::to_value(&chart.meta) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    let file = format!("{}-{}.tgz", chart.meta.name, chart.meta.version);
    fields.insert("urls".into(), json!([format!("{scheme}://{registry}/{}@{}/{file}", hit.repository, chart.digest)]));
    let hex = chart.archive.strip_prefix("sha256:").unwrap_or(&chart.archive);
    fields.insert("digest".into(), hex.into());
    if let Some(created) = &chart.created {
        fields.insert("created".into(), created.as_str().into());
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::metadata::Metadata;
    use crate::oci::charts::Described;
    use crate::version::Version;

    fn hit(repository: &str, chart_yaml: &str, created: Option<&str>) -> Hit {
        let meta = Metadata::from_config(
            &serde_json::to_vec(&yaml_serde::from_str::<Value>(chart_yaml).unwrap()).unwrap(),
            "t",
        )
        .unwrap();
        Hit {
            name: format!("r.example/{repository}"),
            repository: repository.into(),
            version: Version::parse(&meta.version).unwrap(),
            chart: Described {
                digest: format!("sha256:{}", "a".repeat(64)),
                meta,
                archive: format!("sha256:{}", "1".repeat(64)),
                created: created.map(String::from),
            },
        }
    }

    #[test]
    fn an_entry_is_the_config_plus_where_and_what_the_archive_is() {
        let h = hit(
            "team/charts/web",
            "name: web\nversion: v1.2.0\napiVersion: v2\nappVersion: '7'\n",
            Some("2026-01-02T03:04:05Z"),
        );
        let e = entry("ocirepo+http", "r.example:5000", &h);
        assert_eq!(e["name"], "web");
        assert_eq!(e["version"], "v1.2.0", "the version as Chart.yaml writes it");
        assert_eq!(e["appVersion"], "7");
        assert_eq!(e["digest"], "1".repeat(64), "an all-digit digest stays a string");
        assert_eq!(e["created"], "2026-01-02T03:04:05Z");
        assert_eq!(
            e["urls"][0],
            format!("ocirepo+http://r.example:5000/team/charts/web@sha256:{}/web-v1.2.0.tgz", "a".repeat(64))
        );
    }

    #[test]
    fn no_created_annotation_leaves_created_out() {
        let e = entry("ocirepo", "r.example", &hit("web", "name: web\nversion: 1.0.0\napiVersion: v1\n", None));
        assert_eq!(e["apiVersion"], "v1");
        assert!(e.get("created").is_none());
    }

    #[test]
    fn charts_are_named_below_the_namespace() {
        assert_eq!(chart_key("team/charts", "team/charts/web"), "web");
        assert_eq!(chart_key("team", "team/sub/web"), "sub/web");
        assert_eq!(chart_key("", "team/web"), "team/web");
    }
}
