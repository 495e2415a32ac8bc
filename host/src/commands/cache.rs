//! The chart cache's commands: `save`, `list`, `export`, `remove` and `prune`. Each is
//! granted the cache (read-only to read it) and the chart or destination it names; none
//! reaches the network.

use crate::cli::{Format, LimitArgs};
use crate::component::exports::helm_oci::plugin::cache::{ExportOptions, SaveOptions};
use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result};
use clap::Args;
use std::fs;
use std::path::PathBuf;
use wasmtime_wasi::FsPerms;

#[derive(Args)]
#[command(after_help = "REF is host/namespace (saved as <namespace>/<name>:<version>) or a reference with a tag.")]
pub struct SaveArgs {
    /// Chart directory or packaged chart (.tgz)
    chart: PathBuf,
    /// The reference to save it under: oci://host[:port]/namespace[/name:tag]
    reference: String,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args)]
pub struct ListArgs {
    /// Prints the output in the specified format
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A cached reference; without a tag, the newest cached version
    reference: String,
    /// Location to write the chart directory to (as <destination>/<name>)
    #[arg(short, long, default_value = ".")]
    destination: PathBuf,
    /// Replace <destination>/<name> even if it is not empty
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// A cached reference: host/ns/name:tag, or …@sha256:… for every tag of that manifest
    reference: String,
}

/// Saves a chart; `names_repository` reads a REF without a tag as the chart's repository
/// (as Helm 3.0-3.6's `helm chart save` did), not a namespace.
pub async fn save(args: SaveArgs, names_repository: bool) -> Result<()> {
    let chart = super::absolute(&args.chart)?;
    let meta = fs::metadata(&chart).with_context(|| format!("stat {}", args.chart.display()))?;
    let chart = super::links::chart_path(&chart, &meta)?;
    let cache = super::cache()?;
    let grants = Grants { dirs: vec![(cache.clone(), FsPerms::ReadWrite)], ..Grants::default() };
    let limits = args.limits.limits();
    let (mut session, links, _copies) = super::links::chart_session(&chart, &meta, grants, &limits).await?;
    let reference = session.parse_reference(super::namespace(&args.reference)).await?;
    let options = SaveOptions {
        cache: super::utf8(&cache)?,
        chart: super::utf8(&chart)?,
        reference,
        names_repository,
        limits: Some(limits),
        source_date_epoch: super::push::source_date_epoch()?,
        links,
    };
    output::saved(&session.save(&options).await?);
    Ok(())
}

pub async fn list(args: ListArgs) -> Result<()> {
    let (mut session, cache) = cached(FsPerms::ReadOnly, vec![]).await?;
    output::cache_list(&session.list(&cache).await?, args.output)
}

pub async fn export(args: ExportArgs) -> Result<()> {
    let dest = super::absolute(&args.destination)?;
    super::pull::destination(&dest)?;
    let (mut session, cache) = cached(FsPerms::ReadOnly, vec![(dest.clone(), FsPerms::ReadWrite)]).await?;
    let reference = session.parse_reference(&args.reference).await?;
    let options = ExportOptions {
        cache,
        reference,
        destination: super::utf8(&dest)?,
        force: args.force,
        limits: Some(args.limits.limits()),
    };
    output::exported(&session.export(&options).await?);
    Ok(())
}

pub async fn remove(args: RemoveArgs) -> Result<()> {
    let (mut session, cache) = cached(FsPerms::ReadWrite, vec![]).await?;
    let reference = session.parse_reference(&args.reference).await?;
    output::removed(&session.remove(&cache, &reference).await?);
    Ok(())
}

pub async fn prune() -> Result<()> {
    let (mut session, cache) = cached(FsPerms::ReadWrite, vec![]).await?;
    output::pruned(&session.prune(&cache).await?);
    Ok(())
}

/// A session granted the cache (and `more`), with the cache's path as the component takes it.
async fn cached(perms: FsPerms, mut more: Vec<(PathBuf, FsPerms)>) -> Result<(Session, String)> {
    let cache = if perms == FsPerms::ReadWrite { super::cache()? } else { super::cache_to_read()? };
    let path = super::utf8(&cache)?;
    more.push((cache, perms));
    Ok((Session::start(Grants { dirs: more, ..Grants::default() }).await?, path))
}
