//! `helm oci pull REF`: the destination read-write, and the reference's registry.

use crate::cli::{LimitArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::registry::PullOptions;
use crate::output;
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result};
use clap::Args;
use std::fs;
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

#[derive(Args)]
pub struct PullArgs {
    /// Chart reference: oci://host[:port]/path/name[:tag|@sha256:…]
    chart_ref: String,
    /// Specify a version constraint for the chart version to use. This constraint can be a specific tag (e.g. 1.1.1) or it may reference a valid range (e.g. ^2.0.0). If this is not specified, the latest version is used
    #[arg(long)]
    version: Option<String>,
    /// Use development versions (prereleases), too; with --version, those it admits (Helm ignores --devel there)
    #[arg(long)]
    devel: bool,
    /// Location to write the chart to
    #[arg(short = 'd', long, default_value = ".")]
    destination: PathBuf,
    /// If set to true, will untar the chart after downloading it
    #[arg(long)]
    untar: bool,
    /// If untar is specified, this flag specifies the name of the directory into which the chart is expanded
    #[arg(long, default_value = ".")]
    untardir: PathBuf,
    #[command(flatten)]
    remote_args: RemoteArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

pub async fn run(args: PullArgs, debug: bool) -> Result<()> {
    // As in Helm, a relative --untardir is taken inside --destination.
    let dest = if args.untar { args.destination.join(&args.untardir) } else { args.destination.clone() };
    let dest = super::absolute(&dest)?;
    fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
    writable(&dest)?;
    let mut session = Session::start(Grants { dirs: vec![(dest.clone(), FsPerms::ReadWrite)] }).await?;
    let reference = session.parse_reference(&args.chart_ref).await?;
    // Pull fetches the config and the chart layer at once.
    let connection = super::connect(&mut session, &reference, &args.remote_args, debug, 2)?;
    let options = PullOptions {
        reference,
        version: args.version,
        devel: args.devel,
        destination: super::utf8(&dest)?,
        untar: args.untar,
        connection,
        limits: Some(args.limits.limits()),
    };
    output::pulled(&session.pull(&options).await?);
    Ok(())
}

/// Refuses a destination that cannot be written (a read-only file system, say) before any
/// download, with the system's own words: inside the sandbox such failures lose them.
fn writable(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".helm-oci-probe-{}", std::process::id()));
    fs::File::create(&probe).with_context(|| format!("cannot write into {}", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}
