//! `helm oci index oci://HOST[/NAMESPACE]`: what `helm repo index` is to a static chart
//! repository. The index of the namespace's charts is made from the registry and put there
//! beside them (`NAMESPACE/index.yaml:latest`), and the ocirepo:// downloader serves it from
//! then on with one read, instead of reading every chart on each `helm repo add|update`.

use super::search;
use crate::cli::{ReadingArgs, RemoteArgs};
use crate::output;
use crate::sandbox::Session;
use anyhow::Result;
use clap::Args;

#[derive(Args)]
#[command(after_help = "The index is read from the registry itself (never from a mirror), and lists what is there \
now: run this again after pushing, as `helm repo index` is run after adding charts. Repositories are read from \
the catalog unless --repository names them. Nothing is published if a repository cannot be read, nor if there \
are no charts.")]
pub struct IndexArgs {
    /// The registry, and optionally a namespace in it: oci://host[:port][/namespace]
    registry: String,
    /// Index this repository (under the namespace) instead of reading the catalog; repeatable
    #[arg(long = "repository", value_name = "NAME")]
    repositories: Vec<String>,
    #[command(flatten)]
    reading: ReadingArgs,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

pub async fn run(args: IndexArgs, debug: bool) -> Result<()> {
    let (registry, namespace) = search::registry_and_namespace(&args.registry);
    // The configs read are kept in the chart cache, as search keeps them.
    let (cache, grants) = super::cache_to_keep();
    let mut session = Session::start(grants).await?;
    let endpoint = session.registry_endpoint(registry).await?;
    let reach = args.remote_args.connection.reach(debug, args.reading.concurrency as usize);
    let connection = super::connect_to(&mut session, registry, &endpoint, &args.remote_args, &reach)?;
    let place = (registry, endpoint.as_str(), namespace);
    let listing = search::listing(place, args.repositories, &args.reading, (connection, Vec::new()), cache.as_deref())?;
    let published = session.publish_index(&listing).await?;
    output::skipped(&published.skipped);
    output::published(&published);
    Ok(())
}
