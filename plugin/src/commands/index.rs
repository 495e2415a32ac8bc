//! `chart-index`: a Helm chart repository's index for a registry, or a namespace of it,
//! made from what `search` reads (every version tag of every chart, and each version's
//! manifest and config). Helm's downloader plugins serve it, so that `helm repo add`,
//! `helm search repo` and `helm install REPO/CHART` work over a registry. `publish-index`
//! keeps one in the registry (see `oci::published`), which is then served instead: one
//! read instead of every chart's, as current as its last publishing.
//!
//! The index is written as JSON, which every Helm reads as its index.yaml: digests stay
//! strings, and no chart text needs YAML quoting. Each entry is the chart's config (Helm's
//! own Chart.yaml fields only, so that Helm's strict parsers take it) plus `urls`, `digest`
//! and `created`.

use super::push;
use super::search::{self, Hit, Listing, Search};
use crate::cache::Cache;
use crate::error::{Error, Kind, Result};
use crate::net::{clock, retry};
use crate::oci::errcode;
use crate::oci::mirrors::Sources;
use crate::oci::published;
use crate::oci::reference;
use crate::oci::upload::Content;
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

/// An index to serve, and what it left out.
pub struct Served {
    pub json: String,
    /// Repositories refused for good, and versions that are no usable chart, with why.
    pub skipped: Vec<(String, Error)>,
    /// Mirrors passed over, and an index of nothing.
    pub warnings: Vec<String>,
}

/// An index put in the registry.
pub struct Published {
    /// Where: `registry/namespace/index.yaml:latest`.
    pub reference: String,
    pub digest: String,
    pub charts: usize,
    pub versions: usize,
    /// Versions left out, as no usable chart, and why.
    pub skipped: Vec<(String, Error)>,
    /// The registry's index already listed the same: nothing was put.
    pub unchanged: bool,
}

/// The namespace's index: the one published in the registry if there is one (or a mirror
/// has one), else one made from the charts now.
pub async fn run(index: Index) -> Result<Served> {
    let namespace = search::checked_namespace(&index.listing.namespace)?;
    let cache = index.listing.cache.as_deref().map(Cache::create).transpose()?;
    let sources = search::sources(&index.listing)?;
    let places = sources.places(&published::repository(namespace), published::REPOSITORY);
    let (found, passed_over) = published::fetch(&places, cache.as_ref()).await?;
    if let Some(found) = found {
        return Ok(Served { json: found.json, skipped: Vec::new(), warnings: passed_over });
    }
    // The same sessions: a mirror that did not answer is not waited on again.
    let registry = index.listing.registry.clone();
    let place = format!("{registry}/{namespace}");
    let urls = Urls::Absolute { scheme: &index.scheme, registry: &registry };
    let made = make(index.listing, urls, &sources).await?;
    // A repository the registry failed to serve for now (throttled, in trouble, silent,
    // past every retry) fails the index: Helm then keeps the index it has, where one
    // cached without that repository would have Helm say its charts do not exist until
    // the next update. One refused for good (denied, gone) is left out, and said.
    let (for_now, for_good): (Vec<_>, Vec<_>) = made.unread.into_iter().partition(|(_, e)| failed_for_now(e));
    if let Some(e) = first_of(for_now) {
        return Err(failing(&format!("cannot index {}", place.trim_end_matches('/')), e));
    }
    let warnings = passed_over.into_iter().chain(made.warnings).collect();
    Ok(Served { json: made.json, skipped: search::set_aside(for_good, made.unusable), warnings })
}

/// The error, said as what it stopped: `what: subject: cause`.
fn failing(what: &str, e: Error) -> Error {
    let subject = [what, e.subject.as_str()].join(": ");
    Error { subject: subject.trim_end_matches(": ").to_string(), ..e }
}

/// Whether a repository could not be read only for now: the registry throttled it, failed
/// on it, or gave no answer, where a later try may work.
fn failed_for_now(e: &Error) -> bool {
    match &e.kind {
        Kind::Network | Kind::TimedOut => true,
        Kind::Registry { status, .. } => retry::transient_status(*status),
        _ => false,
    }
}

/// Makes the namespace's index from its charts, as the registry itself has them (never from
/// a mirror, nor from the index published before), and puts it in the registry, where `run`
/// finds it. Its URLs are relative to the repository's URL, so that it serves whatever
/// scheme and host name Helm added it by. A repository that cannot be read stops it: the
/// index would leave its charts out until the next publishing. (A version that is no usable
/// chart is left out, and said, as every index leaves it out.)
pub async fn publish(listing: Listing) -> Result<Published> {
    let listing = Listing { mirrors: Vec::new(), ..listing };
    let namespace = search::checked_namespace(&listing.namespace)?.to_string();
    let target =
        reference::parse(&format!("{}/{}:{}", listing.registry, published::repository(&namespace), published::TAG))?;
    let cannot = |e: Error| failing(&format!("cannot publish {target}"), e);
    let sources = search::sources(&listing)?;
    let made = make(listing, Urls::Relative, &sources).await.map_err(cannot)?;
    if let Some(e) = first_of(made.unread) {
        return Err(cannot(e));
    }
    let places = sources.places(&target.repository, published::REPOSITORY);
    let current = published::fetch(&places, None).await.ok().and_then(|(current, _)| current);
    if made.charts == 0 {
        let place = format!("{}/{namespace}", target.registry);
        let place = place.trim_end_matches('/');
        let e = match first_of(made.unusable) {
            Some(e) => Error { subject: place.to_string(), cause: format!("none of its charts is usable: {e}"), ..e },
            None => Error::not_found(place, format!("no charts under it: {NOT_THE_NAMESPACE}")),
        };
        // One published before is still served, listing charts that are gone.
        return Err(cannot(match current {
            Some(_) => {
                e.because(format!("the index published there before is still served; delete {target} to stop it"))
            }
            None => e,
        }));
    }
    published::within_limit(made.json.len() as u64, "").map_err(cannot)?;
    // An index that lists the same is not put again: a new manifest at each run of a CI job
    // would leave the registry one more untagged manifest each time. (One that cannot be
    // read is simply replaced.)
    if let Some(current) = current
        && published::lists_the_same(&current.json, &made.json)
    {
        return Ok(Published {
            reference: target.to_string(),
            digest: current.digest,
            charts: made.charts,
            versions: made.versions,
            skipped: made.unusable,
            unchanged: true,
        });
    }
    let (config, layer, manifest) = published::artifact(&made.json, &timestamp::rfc3339(clock::wall_seconds()));
    let blobs = [(&config, Content::Bytes(published::EMPTY_CONFIG)), (&layer, Content::Bytes(made.json.as_bytes()))];
    push::upload(sources.origin(), &target, &blobs, (crate::oci::helm::MANIFEST, &manifest))
        .await
        .map_err(|e| cannot(refused_name(e, &target.repository)))?;
    Ok(Published {
        reference: target.to_string(),
        digest: crate::digest::of_bytes(&manifest),
        charts: made.charts,
        versions: made.versions,
        skipped: made.unusable,
        unchanged: false,
    })
}

/// A registry that will not take a repository named `index.yaml` (stricter names than
/// OCI's) answers 400, with NAME_INVALID or with no word at all (a HEAD's answer has no
/// body): said as that, not as the trouble a bare 400 usually means. A 400 that says
/// something else keeps its word.
fn refused_name(e: Error, repository: &str) -> Error {
    let unsaid = [errcode::MAYBE_HTTPS_ONLY, errcode::UNSAID].contains(&e.cause.as_str());
    match &e.kind {
        Kind::Registry { status: 400, code } if code == "NAME_INVALID" || (code.is_empty() && unsaid) => Error {
            cause: format!(
                "the registry refuses the repository name {repository}, so it cannot hold a published index \
                 (the ocirepo:// downloader makes this namespace's index from its charts)"
            ),
            ..e
        },
        _ => e,
    }
}

/// The first of what was set aside, saying how many more there are.
fn first_of(set_aside: Vec<(String, Error)>) -> Option<Error> {
    let more = set_aside.len().saturating_sub(1);
    let (_, e) = set_aside.into_iter().next()?;
    Some(match more {
        0 => e,
        n => Error { cause: format!("{} (and {n} more)", e.cause), ..e },
    })
}

/// What an empty index asks: a mistyped namespace, or a chart's own repository given for
/// its namespace, lists nothing.
const NOT_THE_NAMESPACE: &str = "is that the namespace the charts are in (not a chart's own repository)?";

/// How an index's entries point at their archives.
enum Urls<'a> {
    /// `SCHEME://REGISTRY/REPOSITORY@DIGEST/FILE`.
    Absolute { scheme: &'a str, registry: &'a str },
    /// `./PATH@DIGEST/FILE`, PATH below the namespace: Helm resolves it against the URL the
    /// repository was added by. (`./`, because Go's URL parser refuses a relative URL whose
    /// first segment has a colon, as `name@sha256:…` has.)
    Relative,
}

/// An index made from the charts.
struct Made {
    json: String,
    charts: usize,
    versions: usize,
    /// Repositories that could not be read, left out, with why.
    unread: Vec<(String, Error)>,
    /// Versions that are no usable chart, left out, with why.
    unusable: Vec<(String, Error)>,
    warnings: Vec<String>,
}

/// The index of the listing's charts.
async fn make(listing: Listing, urls: Urls<'_>, sources: &Sources) -> Result<Made> {
    let every_version = Wanted::from_flags(None, None, None, true).map_err(|why| Error::invalid_reference("", why))?;
    let (registry, namespace) = (listing.registry.clone(), listing.namespace.clone());
    let search = Search {
        listing,
        term: None,
        wanted: every_version,
        all_versions: true,
        fail_fast: false,
        itself: false,
        unlisted: |registry| {
            format!(
                "name the namespace's repositories: with --repository to `helm oci index`, or under `repositories` \
                 for {registry} in the registries configuration (oci/registries.yaml in Helm's config home) for \
                 the ocirepo:// downloader"
            )
        },
    };
    let found = search::run_through(search, sources).await?;
    let namespace = namespace.trim_matches('/');
    let mut entries: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for hit in &found.hits {
        let key = chart_key(namespace, &hit.repository);
        let url = match &urls {
            Urls::Absolute { scheme, registry } => format!("{scheme}://{registry}/{}", hit.repository),
            Urls::Relative => format!("./{key}"),
        };
        entries.entry(key).or_default().push(entry(&url, hit));
    }
    let versions = found.hits.len();
    let document = json!({
        "apiVersion": "v1",
        "entries": entries,
        "generated": timestamp::rfc3339(clock::wall_seconds()),
    });
    let (charts, unread, unusable, mut warnings) = (entries.len(), found.unread, found.unusable, found.warnings);
    // Helm takes an empty index (`helm repo add` succeeds): a mistyped namespace, or a chart's
    // own repository given for its namespace, would pass unnoticed.
    if charts == 0 && unread.is_empty() && unusable.is_empty() {
        let place = [registry.as_str(), namespace].join("/");
        warnings.push(format!("no charts under {}: {NOT_THE_NAMESPACE}", place.trim_end_matches('/')));
    }
    Ok(Made { json: format!("{document}\n"), charts, versions, unread, unusable, warnings })
}

/// A chart's name in the index: its repository's path below the namespace, which is the
/// chart's own name wherever Helm pushed it (`NAMESPACE/NAME`).
fn chart_key<'r>(namespace: &str, repository: &'r str) -> &'r str {
    match repository.strip_prefix(namespace) {
        Some(rest) if !namespace.is_empty() => rest.trim_start_matches('/'),
        _ => repository,
    }
}

/// One version's entry: its Chart.yaml fields, the archive's URL (`repository_url` with the
/// manifest's digest: what the index lists is what is fetched, even if the tag moves later),
/// the archive's digest as Helm writes it (hex, no algorithm), and when it was packaged.
fn entry(repository_url: &str, hit: &Hit) -> Value {
    let chart = &hit.chart;
    // Metadata is a struct of strings, lists and maps: it always serialises to an object.
    let mut fields = match serde_json::to_value(&chart.meta) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    let file = chart.meta.archive_name();
    fields.insert("urls".into(), json!([format!("{repository_url}@{}/{file}", chart.digest)]));
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
        let e = entry("ocirepo+http://r.example:5000/team/charts/web", &h);
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
        let e = entry("ocirepo://r.example/web", &hit("web", "name: web\nversion: 1.0.0\napiVersion: v1\n", None));
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
