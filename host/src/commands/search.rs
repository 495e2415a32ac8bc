//! `helm oci search HOST[/NAMESPACE] [TERM]`: the charts in a registry, searched on the
//! registry's side (its catalog, tags and configs), as the Helm 3 registry proposals put it.

use crate::cli::{BulkArgs, ReadingArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::discovery::{Listing, SearchOptions};
use crate::component::exports::helm_oci::plugin::types::{Mirror, RemoteOptions, VersionQuery};
use crate::sandbox::Session;
use crate::{output, registries};
use anyhow::Result;
use clap::Args;
use std::path::Path;

#[derive(Args)]
#[command(after_help = "Repositories are read from the registry's catalog (GET /v2/_catalog) unless --repository \
names them. Registries that do not serve the catalog (GHCR, Docker Hub) need --repository, or `helm oci tags`.")]
pub struct SearchArgs {
    /// The registry, and optionally a namespace in it: host[:port][/namespace]
    registry: String,
    /// Only repositories whose path contains this (ignoring case)
    term: Option<String>,
    /// Show all versions of each chart, not only the newest
    #[arg(short = 'l', long)]
    versions: bool,
    /// Search using semantic versioning constraints (e.g. "^1.2", ">=1.0 <2.0")
    #[arg(long)]
    version: Option<String>,
    /// Only versions from this one on (inclusive)
    #[arg(long, alias = "versionFrom", value_name = "VERSION")]
    version_from: Option<String>,
    /// Only versions up to this one (inclusive; 2.1 includes 2.1.x)
    #[arg(long, alias = "versionTo", value_name = "VERSION")]
    version_to: Option<String>,
    /// Use development versions (prereleases), too; with --version, those it admits (Helm ignores --devel there)
    #[arg(long)]
    devel: bool,
    /// Search this repository (under the namespace) instead of reading the catalog; repeatable
    #[arg(long = "repository", value_name = "NAME")]
    repositories: Vec<String>,
    /// Stop at the first repository that cannot be searched, instead of skipping it
    #[arg(long)]
    fail_fast: bool,
    /// Fail if no results are found
    #[arg(long)]
    fail_on_no_result: bool,
    /// Maximum column width for output table
    #[arg(long, default_value_t = 50)]
    max_col_width: usize,
    #[command(flatten)]
    bulk: BulkArgs,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(args: SearchArgs, debug: bool) -> Result<()> {
    let (registry, namespace) = registry_and_namespace(&args.registry);
    // The configs read are kept in the chart cache.
    let (cache, grants) = super::cache_to_keep();
    let mut session = Session::start(grants).await?;
    let endpoint = session.registry_endpoint(registry).await?;
    let ahead = args.bulk.reading.concurrency as usize;
    let reach = args.remote_args.connection.reach(debug, ahead);
    let (connection, mirrors) =
        super::with_mirrors(&mut session, (registry, &endpoint, namespace), reach, |session, reach| {
            super::connect_to(session, registry, &endpoint, &args.remote_args, reach)
        })
        .await?;
    let options = SearchOptions {
        listing: listing(
            (registry, &endpoint, namespace),
            args.repositories,
            &args.bulk.reading,
            (connection, mirrors),
            cache.as_deref(),
        )?,
        term: args.term,
        versions: VersionQuery {
            constraint: args.version,
            version_from: args.version_from,
            version_to: args.version_to,
            devel: args.devel,
        },
        all_versions: args.versions,
        fail_fast: args.fail_fast,
    };
    let found = session.search(&options).await?;
    output::warnings(&found.warnings);
    // As Helm's search: the error instead of an empty listing, so stdout holds nothing.
    if found.hits.is_empty() && args.fail_on_no_result {
        output::skipped(&found.skipped);
        anyhow::bail!("no results found");
    }
    output::search(&found, args.bulk.output, args.max_col_width)
}

/// `host[:port][/namespace]`, with or without `oci://`: the registry, and the namespace
/// without its outer slashes.
pub fn registry_and_namespace(target: &str) -> (&str, &str) {
    let target = target.strip_prefix("oci://").unwrap_or(target);
    let (registry, namespace) = target.split_once('/').unwrap_or((target, ""));
    (registry, namespace.trim_matches('/'))
}

/// What the component reads of a namespace: the `named` repositories, else those the
/// registries configuration lists for it, else (none) its catalog, with the chart cache
/// that keeps the configs read.
pub fn listing(
    (registry, endpoint, namespace): (&str, &str, &str),
    named: Vec<String>,
    reading: &ReadingArgs,
    (connection, mirrors): (RemoteOptions, Vec<Mirror>),
    cache: Option<&Path>,
) -> Result<Listing> {
    Ok(Listing {
        registry: registry.to_string(),
        namespace: namespace.to_string(),
        repositories: if named.is_empty() { registries::repositories(registry, endpoint, namespace)? } else { named },
        page_size: reading.page_size,
        concurrency: reading.concurrency,
        connection,
        mirrors,
        cache: cache.map(super::utf8).transpose()?,
    })
}
