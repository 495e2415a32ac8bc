//! `helm oci push CHART REMOTE`: the chart directory (or the archive's directory, where a
//! `.prov` may sit) read-only, with what its symlinks out of it lead to (see `links`), and
//! the remote's registry. `helm oci push REF`: the chart cache read-only, and the
//! reference's registry.

use crate::cli::{LimitArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::registry::{PushCachedOptions, PushOptions};
use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::fs;
use std::path::Path;
use wasmtime_wasi::FsPerms;

#[derive(Args)]
#[command(
    after_help = "REMOTE is oci://host/namespace (pushed as <namespace>/<name>:<version>) or a reference with a tag.\n\
                  With one argument, REF, the chart saved in the cache under REF is pushed there as it is."
)]
pub struct PushArgs {
    /// Chart directory or packaged chart (.tgz); or, alone, a reference saved in the cache
    chart: String,
    /// Where to push: oci://host[:port]/namespace
    remote: Option<String>,
    #[command(flatten)]
    remote_args: RemoteArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

pub async fn run(args: PushArgs, debug: bool) -> Result<()> {
    let Some(remote) = &args.remote else {
        // A chart here with no REMOTE is a forgotten argument, not a cached reference.
        if Path::new(&args.chart).exists() {
            bail!(
                "\"helm oci push\" requires 2 arguments for a chart directory or archive: CHART and REMOTE (oci://host/namespace)"
            );
        }
        return push_cached(&args, debug).await;
    };
    let chart = super::absolute(Path::new(&args.chart))?;
    let meta = fs::metadata(&chart).with_context(|| format!("stat {}", args.chart))?;
    let chart = super::links::chart_path(&chart, &meta)?;
    let limits = args.limits.limits();
    let (mut session, links, _copies) = super::links::chart_session(&chart, &meta, Grants::default(), &limits).await?;
    let remote = session.parse_destination(super::namespace(remote)).await?;
    // Push asks what the tag points at while it checks its blobs: three requests at once.
    let connection = super::connect(&mut session, &remote, &args.remote_args, debug, 3)?;
    let options = PushOptions {
        chart: super::utf8(&chart)?,
        remote,
        connection,
        limits: Some(limits),
        source_date_epoch: source_date_epoch()?,
        links,
    };
    output::pushed(&session.push(&options).await?);
    Ok(())
}

/// Pushes the chart saved in the cache under a reference to that reference.
async fn push_cached(args: &PushArgs, debug: bool) -> Result<()> {
    let cache = super::cache_to_read()?;
    let mut session =
        Session::start(Grants { dirs: vec![(cache.clone(), FsPerms::ReadOnly)], ..Grants::default() }).await?;
    let reference = session.parse_reference(&args.chart).await?;
    let connection = super::connect(&mut session, &reference, &args.remote_args, debug, 3)?;
    let options = PushCachedOptions { cache: super::utf8(&cache)?, reference, connection };
    output::pushed(&session.push_cached(&options).await?);
    Ok(())
}

/// `SOURCE_DATE_EPOCH`, which reproducible builds set to stamp archives with.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) if !value.is_empty() => match value.trim().parse::<i64>() {
            Ok(seconds) => Ok(Some(seconds)),
            Err(_) => bail!("SOURCE_DATE_EPOCH {value:?} is not a number of seconds"),
        },
        _ => Ok(None),
    }
}
