//! WIT <-> domain: the records a host passes in become typed options for a command, and
//! what the command returns becomes the records the host reads. Each call runs on the
//! network layer's executor, to its end or its deadline.

pub mod dependencies;
mod error;
pub mod promotion;

use crate::bindings::exports::helm_oci::plugin::cache::{
    CacheEntry, ExportOptions, Exported, Pruned, Removed, SaveOptions, Saved,
};
use crate::bindings::exports::helm_oci::plugin::discovery::{
    IndexOptions, Listing as WitListing, PublishedIndex, RepositoryIndex, SearchHit, SearchOptions, SearchResult,
    Skipped, TagEntry, TagList, TagsOptions,
};
use crate::bindings::exports::helm_oci::plugin::registry::{
    PullOptions, PullResult, PushCachedOptions, PushOptions, PushResult,
};
use crate::bindings::exports::helm_oci::plugin::types::{
    ChartLimits, ChartLink, ChartSummary, Credential as WitCredential, Error as WitError, LinkOut, Mirror as WitMirror,
    Reference, RemoteOptions, VersionQuery,
};
use crate::cache::Entry;
use crate::chart::directory::Links;
use crate::chart::load::Limits;
use crate::chart::metadata::Metadata;
use crate::commands::{cache, index, login, pull, push, save, search, tags};
use crate::error::{Error, Kind};
use crate::net::clock;
use crate::net::executor::{self, DEFAULT_CONCURRENCY};
use crate::oci::auth::Credential;
use crate::oci::client::{Connection, MirrorHealth};
use crate::oci::mirrors::Mirror;
use crate::oci::reference::{self, Ref};
use crate::trace::Trace;
use crate::version::Wanted;
use std::future::Future;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, WitError>;

pub fn parse_reference(input: &str) -> Result<Reference> {
    Ok(reference_record(reference::parse(input)?))
}

pub fn parse_destination(input: &str) -> Result<Reference> {
    Ok(reference_record(reference::parse_destination(input)?))
}

pub fn registry_endpoint(registry: &str) -> Result<String> {
    Ok(reference::endpoint(registry)?)
}

pub fn login(registry: &str, connection: RemoteOptions) -> Result<()> {
    let timeout = connection.timeout_ms;
    run(timeout, login::run(registry, &connection_of(connection)))
}

pub fn push(options: PushOptions) -> Result<PushResult> {
    let timeout = options.connection.timeout_ms;
    let push = push::Push {
        chart: PathBuf::from(options.chart),
        remote: destination_of(&options.remote)?,
        connection: connection_of(options.connection),
        limits: limits_of(options.limits),
        source_date_epoch: options.source_date_epoch,
        links: links_of(options.links),
    };
    Ok(push_result(run(timeout, push::run(push))?))
}

pub fn chart_links(chart: String, links: Vec<ChartLink>) -> Result<Vec<LinkOut>> {
    let chart = PathBuf::from(chart);
    if !std::fs::metadata(&chart).map_err(|e| Error::io(&chart, e))?.is_dir() {
        return Ok(Vec::new());
    }
    let found = crate::chart::directory::links_out(&chart, &links_of(links))?;
    Ok(found.into_iter().map(|f| LinkOut { path: f.path, link: f.link, file: f.file, dir: f.dir }).collect())
}

pub fn push_cached(options: PushCachedOptions) -> Result<PushResult> {
    let timeout = options.connection.timeout_ms;
    let cache = PathBuf::from(options.cache);
    let cached = push::run_cached(&cache, reference_of(&options.reference)?, connection_of(options.connection));
    Ok(push_result(run(timeout, cached)?))
}

fn push_result(pushed: push::Pushed) -> PushResult {
    PushResult {
        reference: pushed.reference.to_string(),
        digest: pushed.digest,
        chart: summary(&pushed.meta),
        warnings: pushed.warnings,
    }
}

pub fn pull(options: PullOptions) -> Result<PullResult> {
    let timeout = options.connection.timeout_ms;
    let pull = pull::Pull {
        reference: reference_of(&options.reference)?,
        version: options.version,
        version_is_tag: true,
        devel: options.devel,
        destination: PathBuf::from(options.destination),
        untar: options.untar,
        named_as_asked: options.named_as_asked,
        provenance: options.provenance,
        mirrors: mirrors_of(options.mirrors, &options.connection)?,
        connection: connection_of(options.connection),
        limits: limits_of(options.limits),
        cache: PathBuf::from(options.cache),
        offline: options.offline,
        health: MirrorHealth::default(),
    };
    let pulled = run(timeout, pull::run(pull))?;
    Ok(PullResult {
        reference: pulled.reference.to_string(),
        digest: pulled.digest,
        chart: summary(&pulled.meta),
        path: pulled.path.display().to_string(),
        provenance: pulled.provenance.map(|path| path.display().to_string()),
        warnings: pulled.warnings,
    })
}

pub fn save(options: SaveOptions) -> Result<Saved> {
    let save = save::Save {
        cache: PathBuf::from(options.cache),
        chart: PathBuf::from(options.chart),
        reference: reference_of(&options.reference)?,
        names_repository: options.names_repository,
        limits: limits_of(options.limits),
        source_date_epoch: options.source_date_epoch,
        links: links_of(options.links),
    };
    let saved = save::run(save)?;
    Ok(Saved {
        entry: cache_entry(&saved.entry),
        config_digest: saved.artifact.config.digest.clone(),
        content_digest: saved.artifact.layer.digest.clone(),
        warnings: saved.artifact.warnings,
    })
}

pub fn list(cache: &str) -> Result<Vec<CacheEntry>> {
    Ok(cache::list(&PathBuf::from(cache))?.iter().map(cache_entry).collect())
}

pub fn export(options: ExportOptions) -> Result<Exported> {
    let export = cache::Export {
        cache: PathBuf::from(options.cache),
        reference: reference_of(&options.reference)?,
        destination: PathBuf::from(options.destination),
        force: options.force,
        limits: limits_of(options.limits),
    };
    let (entry, path) = cache::export(export)?;
    Ok(Exported { entry: cache_entry(&entry), path: path.display().to_string() })
}

pub fn remove(cache: &str, reference: &Reference) -> Result<Removed> {
    let (entries, collected) = cache::remove(&PathBuf::from(cache), &reference_of(reference)?)?;
    let entries = entries.iter().map(cache_entry).collect();
    Ok(Removed { entries, freed: collected.freed, held_back: collected.held_back, cut_short: collected.cut_short })
}

pub fn prune(cache: &str) -> Result<Pruned> {
    let collected = cache::prune(&PathBuf::from(cache))?;
    Ok(Pruned {
        blobs: collected.blobs,
        freed: collected.freed,
        held_back: collected.held_back,
        cut_short: collected.cut_short,
    })
}

fn cache_entry(entry: &Entry) -> CacheEntry {
    let shown = entry.shown();
    CacheEntry {
        reference: entry.reference().unwrap_or_default().to_string(),
        chart: ChartSummary {
            name: shown.name.to_string(),
            version: shown.version.to_string(),
            app_version: None,
            description: None,
        },
        digest: entry.named_digest().to_string(),
        size: shown.size,
        created: shown.created,
    }
}

pub fn tags(options: TagsOptions) -> Result<TagList> {
    let timeout = options.connection.timeout_ms;
    let tags = tags::Tags {
        repository: reference_of(&options.repository)?,
        wanted: wanted(&options.versions)?,
        all: options.all,
        page_size: options.page_size,
        concurrency: concurrency(options.concurrency),
        mirrors: mirrors_of(options.mirrors, &options.connection)?,
        connection: connection_of(options.connection),
    };
    let (entries, warnings) = run(timeout, tags::run(tags))?;
    let entries = entries.into_iter().map(|e| TagEntry { tag: e.tag, version: e.version, digest: e.digest }).collect();
    Ok(TagList { entries, warnings })
}

/// The repositories to read, and how, as search and the chart index both take them.
fn listing_of(listing: WitListing) -> crate::error::Result<search::Listing> {
    Ok(search::Listing {
        registry: listing.registry,
        namespace: listing.namespace,
        repositories: listing.repositories,
        page_size: listing.page_size,
        concurrency: concurrency(listing.concurrency),
        mirrors: mirrors_of(listing.mirrors, &listing.connection)?,
        cache: listing.cache.map(PathBuf::from),
        connection: connection_of(listing.connection),
    })
}

pub fn search(options: SearchOptions) -> Result<SearchResult> {
    let timeout = options.listing.connection.timeout_ms;
    let mut versions = options.versions;
    // As Helm's `search repo`: no constraint is `>0.0.0` (`>0.0.0-0` with --devel), which
    // leaves version 0.0.0 out.
    let unconstrained = versions.constraint.as_deref().is_none_or(str::is_empty);
    if unconstrained && versions.version_from.is_none() && versions.version_to.is_none() {
        versions.constraint = Some(if versions.devel { ">0.0.0-0" } else { ">0.0.0" }.to_string());
    }
    let search = search::Search {
        listing: listing_of(options.listing)?,
        term: options.term,
        wanted: wanted(&versions)?,
        all_versions: options.all_versions,
        fail_fast: options.fail_fast,
        itself: true,
        unlisted: search::search_instead,
    };
    let found = run(timeout, search::run(search))?;
    Ok(SearchResult {
        hits: found
            .hits
            .into_iter()
            .map(|h| SearchHit {
                name: h.name,
                version: h.chart.meta.version,
                app_version: non_empty(h.chart.meta.app_version),
                description: non_empty(h.chart.meta.description),
                digest: h.chart.digest,
            })
            .collect(),
        skipped: skipped(search::set_aside(found.unread, found.unusable)),
        warnings: found.warnings,
    })
}

pub fn chart_index(options: IndexOptions) -> Result<RepositoryIndex> {
    let timeout = options.listing.connection.timeout_ms;
    let index = index::Index { listing: listing_of(options.listing)?, scheme: options.url_scheme };
    let served = run(timeout, index::run(index))?;
    Ok(RepositoryIndex { index: served.json, skipped: skipped(served.skipped), warnings: served.warnings })
}

pub fn publish_index(listing: WitListing) -> Result<PublishedIndex> {
    let timeout = listing.connection.timeout_ms;
    let published = run(timeout, index::publish(listing_of(listing)?))?;
    Ok(PublishedIndex {
        reference: published.reference,
        digest: published.digest,
        charts: published.charts as u32,
        versions: published.versions as u32,
        skipped: skipped(published.skipped),
        unchanged: published.unchanged,
    })
}

fn skipped(skipped: Vec<(String, Error)>) -> Vec<Skipped> {
    skipped.into_iter().map(|(repository, e)| Skipped { repository, reason: e.into() }).collect()
}

fn wanted(q: &VersionQuery) -> crate::error::Result<Wanted> {
    Wanted::from_flags(q.constraint.as_deref(), q.version_from.as_deref(), q.version_to.as_deref(), q.devel)
        .map_err(|why| Error::invalid_reference("", why))
}

fn concurrency(asked: u32) -> usize {
    if asked == 0 { DEFAULT_CONCURRENCY } else { asked as usize }
}

/// Runs a command to its end, or until `timeout_ms` has passed.
fn run<T>(timeout_ms: Option<u64>, command: impl Future<Output = crate::error::Result<T>>) -> Result<T> {
    let deadline = timeout_ms.map(|ms| clock::now().saturating_add(ms.saturating_mul(clock::MILLISECOND)));
    match executor::block_on(command, deadline) {
        Some(outcome) => Ok(outcome?),
        None => {
            let waited = duration(timeout_ms.unwrap_or_default());
            Err(Error::new(Kind::TimedOut, "", format!("the command did not finish within {waited} (see --timeout)"))
                .into())
        }
    }
}

/// A duration as Go (and so Helm's --timeout) writes it: `5m0s`, `1h0m0s`, `1.5s`.
fn duration(ms: u64) -> String {
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let seconds =
        if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

fn limits_of(limits: Option<ChartLimits>) -> Limits {
    limits.map_or_else(Limits::default, |l| Limits { chart_size: l.chart_size, file_size: l.file_size, flags: true })
}

fn links_of(links: Vec<ChartLink>) -> Links {
    links.into_iter().map(|l| (l.path, l.target)).collect()
}

fn reference_record(r: Ref) -> Reference {
    Reference { registry: r.registry, endpoint: r.endpoint, repository: r.repository, tag: r.tag, digest: r.digest }
}

/// A reference record from the host, held to the rules a parsed one meets.
fn reference_of(r: &Reference) -> crate::error::Result<Ref> {
    Ref::from_parts(&r.registry, &r.repository, r.tag.as_deref(), r.digest.as_deref())
}

/// A push's destination: a reference, or a registry's root (an empty repository).
fn destination_of(r: &Reference) -> crate::error::Result<Ref> {
    match (r.repository.as_str(), &r.tag, &r.digest) {
        ("", None, None) => Ref::root(&r.registry),
        _ => reference_of(r),
    }
}

fn connection_of(options: RemoteOptions) -> Connection {
    let credential = options.credential.map(|c| match c {
        WitCredential::Basic(b) => Credential::Basic { username: b.username, password: b.password },
        WitCredential::IdentityToken(t) => Credential::IdentityToken(t),
        WitCredential::Unavailable(why) => Credential::Unavailable(why),
        WitCredential::Missing(hint) => Credential::Missing(hint),
    });
    Connection {
        plain_http: options.plain_http,
        credential,
        challenge: options.challenge,
        trace: Trace::new(options.debug),
    }
}

/// The host's mirrors, each held to the rules a parsed reference meets, and traced when the
/// registry's connection is.
fn mirrors_of(mirrors: Vec<WitMirror>, registry: &RemoteOptions) -> crate::error::Result<Vec<Mirror>> {
    mirrors
        .into_iter()
        .map(|m| {
            let (credential, challenge) = (m.credential, m.challenge);
            let connection = RemoteOptions { plain_http: m.plain_http, credential, challenge, ..registry.clone() };
            Ok(Mirror { repository: reference_of(&m.repository)?, connection: connection_of(connection) })
        })
        .collect()
}

fn summary(meta: &Metadata) -> ChartSummary {
    ChartSummary {
        name: meta.name.clone(),
        version: meta.version.clone(),
        app_version: non_empty(meta.app_version.clone()),
        description: non_empty(meta.description.clone()),
    }
}

/// An optional Chart.yaml field, which Helm leaves empty when absent.
fn non_empty(field: String) -> Option<String> {
    (!field.is_empty()).then_some(field)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_like_go() {
        assert_eq!(super::duration(300_000), "5m0s");
        assert_eq!(super::duration(1_500), "1.5s");
        assert_eq!(super::duration(3_600_000), "1h0m0s");
        assert_eq!(super::duration(90_250), "1m30.25s");
    }
}
