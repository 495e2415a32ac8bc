//! `search`: the charts in a registry, or in a namespace of it, with their newest (or every)
//! wanted version. The catalog streams in a page at a time and repositories are searched
//! side by side, each with its own token; only the versions shown have their manifest and
//! config read. A repository that fails is set aside with its reason, unless `fail_fast`.
//! Mirrors of the namespace are read first for each repository; the catalog is the
//! registry's own. Configs are kept in the chart cache, if given, and read from it again.

use crate::cache::Cache;
use crate::cache::listed::Listed;
use crate::error::{Error, Kind, Result};
use crate::net::executor::bounded;
use crate::net::limit::Limit;
use crate::oci::auth::Credential;
use crate::oci::charts::{self, Described, Kept};
use crate::oci::client::{Client, Connection, MirrorHealth};
use crate::oci::lists;
use crate::oci::mirrors::{self, Mirror, Place, Sources};
use crate::oci::reference::{self, is_path_component, validate_repository};
use crate::version::{Version, Wanted};
use futures::stream::{self, LocalBoxStream, StreamExt, TryStreamExt};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::pin;

/// Which repositories a listing reads (those of a registry, or of a namespace of it), and
/// how: what a search and a chart index share.
pub struct Listing {
    /// The registry as the user wrote it.
    pub registry: String,
    /// Only repositories under this path; empty for all.
    pub namespace: String,
    /// These repositories (under the namespace) instead of the catalog.
    pub repositories: Vec<String>,
    pub page_size: Option<u32>,
    pub concurrency: usize,
    pub connection: Connection,
    /// Mirrors of the namespace, each read first for every repository's tags and charts
    /// (the catalog is always the registry's: a mirror may hold part of it).
    pub mirrors: Vec<Mirror>,
    /// The chart cache, where the configs read are kept and found again.
    pub cache: Option<PathBuf>,
}

/// Where to search, and what for.
pub struct Search {
    pub listing: Listing,
    /// Only repository paths containing this, ignoring case.
    pub term: Option<String>,
    pub wanted: Wanted,
    /// Every wanted version, not only the newest.
    pub all_versions: bool,
    pub fail_fast: bool,
    /// The namespace itself too, where the catalog lists it as a repository (a chart's own
    /// path given to search); an index names its charts below the namespace, so lists only those.
    pub itself: bool,
    /// What to do instead when the registry will not list its catalog, for a registry.
    pub unlisted: fn(&str) -> String,
}

/// `helm oci search`'s advice for a registry that will not list its catalog.
pub fn search_instead(registry: &str) -> String {
    format!(
        "search a namespace you may list, name repositories with --repository, or list one chart's versions with `helm oci tags oci://{registry}/REPOSITORY`"
    )
}

/// The namespace without its outer slashes, if it is a repository path (or empty).
pub fn checked_namespace(namespace: &str) -> Result<&str> {
    let namespace = namespace.trim_matches('/');
    if !namespace.is_empty() && !namespace.split('/').all(is_path_component) {
        return Err(Error::invalid_reference(
            format!("namespace {namespace:?}"),
            "it is not a repository path (lower-case letters, digits and separators)",
        ));
    }
    Ok(namespace)
}

/// One chart version found.
pub struct Hit {
    /// `registry/repository`, the reference without its tag.
    pub name: String,
    pub repository: String,
    /// The version for ordering; `chart.meta.version` is shown, as written (`v1.2.3`).
    pub version: Version,
    pub chart: Described,
}

/// What a search found: hits by name and newest version first, the repositories that
/// could not be read and the versions that are no usable chart, with why, and the mirrors
/// passed over.
pub struct Found {
    pub hits: Vec<Hit>,
    pub unread: Vec<(String, Error)>,
    pub unusable: Vec<(String, Error)>,
    pub warnings: Vec<String>,
}

/// What a listing set aside, unread repositories and unusable versions alike, by repository.
pub fn set_aside(unread: Vec<(String, Error)>, unusable: Vec<(String, Error)>) -> Vec<(String, Error)> {
    let mut all: Vec<_> = unread.into_iter().chain(unusable).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// How many mirrors passed over a search reports; the rest are counted (`--debug` has each).
const PASSED_OVER_SHOWN: usize = 3;

/// The sessions a listing reads through, the registry's and its mirrors', all within the
/// listing's concurrency.
pub fn sources(listing: &Listing) -> Result<Sources> {
    let endpoint = reference::endpoint(&listing.registry)?;
    let limit = Limit::new(listing.concurrency);
    let client = Client::new(&endpoint, &listing.connection).limited(limit.clone());
    Ok(Sources::new(client, &listing.mirrors, Some(&limit), &MirrorHealth::default()))
}

pub async fn run(search: Search) -> Result<Found> {
    let sources = sources(&search.listing)?;
    run_through(search, &sources).await
}

/// `run` through sessions the caller made with `sources` (and may have used already: a
/// mirror found unreachable then is not waited on again).
pub async fn run_through(search: Search, sources: &Sources) -> Result<Found> {
    let namespace = checked_namespace(&search.listing.namespace)?;
    let cache = search.listing.cache.as_deref().map(Cache::create).transpose()?;
    let memory = cache.as_ref().map(Listed::open);
    let kept = cache.as_ref().zip(memory.as_ref()).map(|(cache, listed)| Kept { cache, listed });
    let prefix = if namespace.is_empty() { String::new() } else { format!("{namespace}/") };
    let term = search.term.as_deref().map(str::to_lowercase).filter(|t| !t.is_empty());
    let under = |repo: &str| repo.starts_with(&prefix) || (search.itself && !namespace.is_empty() && repo == namespace);
    let wanted_repo = |repo: &str| under(repo) && term.as_ref().is_none_or(|t| repo.contains(t.as_str()));

    // Entries and pages of the catalog read so far: an empty catalog, and one refused from
    // its first page, each get their own advice.
    let (listed, pages) = (Cell::new(0usize), Cell::new(0usize));
    let repositories: LocalBoxStream<Result<String>> = if search.listing.repositories.is_empty() {
        lists::catalog(sources.origin(), search.listing.page_size)
            .inspect_ok(|page| {
                listed.set(listed.get() + page.len());
                pages.set(pages.get() + 1);
            })
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
            .boxed_local()
    } else {
        let named: Vec<String> =
            search.listing.repositories.iter().map(|r| format!("{prefix}{}", r.trim_matches('/'))).collect();
        for repo in &named {
            // Named as given: from --repository or from the registries configuration.
            validate_repository(repo).map_err(|why| Error::invalid_reference(format!("repository {repo:?}"), why))?;
        }
        stream::iter(named.into_iter().map(Ok)).boxed_local()
    };

    let (search, prefix, kept) = (&search, prefix.as_str(), kept.as_ref());
    let mut outcomes = repositories
        .try_filter(|repo| std::future::ready(wanted_repo(repo)))
        .map(move |item| async move {
            let repo = item?;
            // A mirror of the namespace holds the namespace's own repository at its own path.
            let below = if repo == namespace { "" } else { repo.strip_prefix(prefix).unwrap_or(&repo) };
            let places = sources.places(&repo, below);
            let versions = mirrors::first(&places, async |place| versions_of(place, search, &repo, kept).await).await;
            Ok((repo, versions))
        })
        .buffer_unordered(search.listing.concurrency.max(1));

    let mut found = Found { hits: Vec::new(), unread: Vec::new(), unusable: Vec::new(), warnings: Vec::new() };
    while let Some(outcome) = outcomes.next().await {
        let (repo, versions) = match outcome {
            Ok(searched) => searched,
            Err(e) if pages.get() == 0 => {
                let credentials = search.listing.connection.credential.as_ref().is_some_and(Credential::is_given);
                return Err(catalog_refused(e, credentials, (search.unlisted)(&search.listing.registry)));
            }
            Err(e) => return Err(e),
        };
        match versions {
            Ok(((hits, unusable), passed_over)) => {
                found.hits.extend(hits);
                found.unusable.extend(unusable);
                found.warnings.extend(passed_over);
            }
            Err(e) if search.fail_fast => return Err(e),
            Err(e) => found.unread.push((repo, e)),
        }
    }
    drop(outcomes);
    if let Some(memory) = &memory {
        memory.save();
    }
    if search.listing.repositories.is_empty() && listed.get() == 0 {
        return Err(Error::not_found(
            format!("the catalog of {}", search.listing.registry),
            format!(
                "the registry lists no repositories; name them with --repository, or list one chart's versions with `helm oci tags oci://{}/REPOSITORY`",
                search.listing.registry
            ),
        ));
    }
    found.hits.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.version.cmp(&a.version)));
    found.unread.sort_by(|a, b| a.0.cmp(&b.0));
    found.unusable.sort_by(|a, b| a.0.cmp(&b.0));
    found.warnings.sort();
    let more = found.warnings.len().saturating_sub(PASSED_OVER_SHOWN);
    if more > 0 {
        found.warnings.truncate(PASSED_OVER_SHOWN);
        found.warnings.push(format!("{more} more repositories passed over a mirror (--debug shows each)"));
    }
    Ok(found)
}

/// One repository's wanted versions that are charts, as one place has them: its tags (of
/// which only the wanted ones are kept), then the manifest and config of each kept, all of
/// them with `all_versions`, else one after another, newest first, past floating tags and
/// unusable charts, until one is a chart. A repository whose newest wanted version is no
/// chart (an image) gives none, read no further. A version that is no usable chart (a broken
/// config, a tag whose chart is another version) is given apart, with why (which names its
/// tag), so that it hides no other version; from a mirror it fails the mirror instead.
async fn versions_of(
    place: &Place<'_>,
    search: &Search,
    repo: &str,
    kept: Option<&Kept<'_>>,
) -> Result<(Vec<Hit>, Vec<(String, Error)>)> {
    let (client, at) = (place.client, place.repository.as_str());
    let name = format!("{}/{repo}", search.listing.registry);
    let said = place.called(name.clone());
    let mut all_tags = Vec::new();
    // Only a repository the registry's own catalog listed is known to be there: one named
    // (--repository, the registries configuration) may not be, and a mirror may lack one.
    let catalogued = search.listing.repositories.is_empty() && !place.is_mirror();
    let mut pages = pin!(lists::tag_pages(client, at, search.listing.page_size, &said, catalogued));
    while let Some(page) = pages.try_next().await? {
        all_tags.extend(page);
    }
    let all_tags = lists::unique(all_tags);
    if let Some(kept) = kept {
        kept.listed.keep_only(client.endpoint(), at, &all_tags);
    }
    // Every wanted version is a candidate: without `all_versions`, the next is read only
    // when the newer one is no usable chart.
    let mut candidates = search.wanted.pick(all_tags).into_iter();
    let batch = if search.all_versions { usize::MAX } else { 1 };
    let (mut hits, mut unusable) = (Vec::new(), Vec::new());
    // Each chart version once: the hit's place in `hits`, and whether its tag is the version's own.
    let mut shown: HashMap<String, (usize, bool)> = HashMap::new();
    let mut not_charts = false;
    while (hits.is_empty() && !not_charts) || search.all_versions {
        let versions: Vec<(Version, String)> = candidates.by_ref().take(batch).collect();
        if versions.is_empty() {
            break;
        }
        let described = bounded(
            search.listing.concurrency,
            versions.iter().map(|(_, tag)| {
                let subject = format!("{said}:{tag}");
                async move { charts::describe(client, at, tag, &subject, kept).await }
            }),
        )
        .await;
        for ((version, tag), chart) in versions.into_iter().zip(described) {
            match chart {
                Ok(Some(chart)) => {
                    // A floating tag (`1.2` on 1.2.3) or another spelling (`v1.2.3`) stands for
                    // the chart's own version, which is what is wanted (or not) and shown,
                    // once, under its own tag if that is among them.
                    let own = reference::normalise_tag(&chart.meta.version) == tag;
                    let version = match Version::parse(&chart.meta.version) {
                        Ok(v) if !own && !search.wanted.admits(&v) => continue,
                        Ok(v) => v,
                        Err(_) => version,
                    };
                    let hit = Hit { name: name.clone(), repository: repo.to_string(), version, chart };
                    match shown.get(&hit.chart.meta.version) {
                        Some(&(at, false)) if own => {
                            shown.insert(hit.chart.meta.version.clone(), (at, true));
                            hits[at] = hit;
                        }
                        Some(_) => {}
                        None => {
                            shown.insert(hit.chart.meta.version.clone(), (hits.len(), own));
                            hits.push(hit);
                        }
                    }
                }
                Ok(None) => not_charts = true,
                // A mirror's unusable version fails the mirror, so that the registry is read;
                // a tag gone since the listing, and one whose config is not what its manifest
                // says, are passed over too.
                Err(e)
                    if matches!(e.kind, Kind::InvalidChart | Kind::NotFound | Kind::DigestMismatch { .. })
                        && !search.fail_fast
                        && !place.is_mirror() =>
                {
                    unusable.push((repo.to_string(), e))
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok((hits, unusable))
}

/// A catalog the registry will not list (its first page refused), said with what to do
/// instead. Credentials that were rejected are all there is to say: other ones may list it.
fn catalog_refused(e: Error, credentials: bool, instead: String) -> Error {
    if e.kind == Kind::Unauthorized && credentials {
        return e;
    }
    let refused = matches!(e.kind, Kind::Unauthorized | Kind::Denied | Kind::NotFound)
        || matches!(&e.kind, Kind::Registry { status, code } if matches!(status, 404 | 405) || code == "UNSUPPORTED");
    if !refused {
        return e;
    }
    let advice = format!(
        "{}; this registry does not list its repositories to you (GHCR, Docker Hub and Harbor for non-admins never do): {instead}",
        e.cause
    );
    Error { cause: advice, ..e }
}
