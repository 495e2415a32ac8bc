//! The command line, with Helm's flag names, and what each command is granted.

use crate::component::exports::helm_oci::plugin::registry::{PullOptions, PushOptions};
use crate::component::exports::helm_oci::plugin::types::RemoteOptions;
use crate::sandbox::{Grants, Session};
use crate::{output, paths};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::fs;
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

#[derive(Parser)]
#[command(name = "helm oci", about = "Keep Helm charts in OCI registries", disable_version_flag = true)]
pub struct Cli {
    /// Enable verbose output (Helm passes it as HELM_DEBUG)
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a chart directory (packaged on the way) or a packaged .tgz to a registry
    Push(PushArgs),
    /// Download a chart from a registry
    Pull(PullArgs),
    /// Print the version of helm-oci and of its component
    Version,
}

#[derive(Args)]
struct RemoteArgs {
    /// Use insecure HTTP connections for the chart upload or download
    #[arg(long)]
    plain_http: bool,
}

#[derive(Args)]
#[command(after_help = "REMOTE is oci://host/namespace (pushed as <namespace>/<name>:<version>) or a reference with a tag.")]
struct PushArgs {
    /// Chart directory or packaged chart (.tgz)
    chart: PathBuf,
    /// Where to push: oci://host[:port]/namespace
    remote: String,
    #[command(flatten)]
    remote_args: RemoteArgs,
}

#[derive(Args)]
struct PullArgs {
    /// Chart reference: oci://host[:port]/path/name[:tag|@sha256:…]
    chart_ref: String,
    /// Chart version to pull (the tag, with '+' stored as '_'); the newest stable version if omitted
    #[arg(long)]
    version: Option<String>,
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
}

pub async fn run(cli: Cli) -> Result<()> {
    let debug = cli.debug || paths::helm_debug();
    match cli.command {
        Command::Version => {
            let mut session = Session::start(Grants::default()).await?;
            output::version(env!("CARGO_PKG_VERSION"), &session.version().await?);
        }
        Command::Push(args) => {
            let chart = absolute(&args.chart)?;
            let meta = fs::metadata(&chart).with_context(|| format!("stat {}", args.chart.display()))?;
            // A packaged chart is read with its directory, where Helm also looks for its .prov.
            let readable = if meta.is_dir() { chart.clone() } else { parent(&chart) };
            let mut session = Session::start(Grants { dirs: vec![(readable, FsPerms::ReadOnly)] }).await?;
            let reference = session.parse_reference(&args.remote).await?;
            session.allow_registry(&reference.endpoint, args.remote_args.plain_http);
            let options = PushOptions {
                chart: utf8(&chart)?,
                remote: args.remote,
                connection: remote(&args.remote_args, debug),
            };
            output::pushed(&session.push(&options).await?);
        }
        Command::Pull(args) => {
            // As in Helm, a relative --untardir is taken inside --destination.
            let dest = if args.untar { args.destination.join(&args.untardir) } else { args.destination.clone() };
            let dest = absolute(&dest)?;
            fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
            let mut session = Session::start(Grants { dirs: vec![(dest.clone(), FsPerms::ReadWrite)] }).await?;
            let reference = session.parse_reference(&args.chart_ref).await?;
            session.allow_registry(&reference.endpoint, args.remote_args.plain_http);
            let options = PullOptions {
                reference: args.chart_ref,
                version: args.version,
                destination: utf8(&dest)?,
                untar: args.untar,
                connection: remote(&args.remote_args, debug),
            };
            output::pulled(&session.pull(&options).await?);
        }
    }
    Ok(())
}

fn remote(args: &RemoteArgs, debug: bool) -> RemoteOptions {
    RemoteOptions { plain_http: args.plain_http, credential: None, debug }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

fn utf8(path: &Path) -> Result<String> {
    match path.to_str() {
        Some(s) => Ok(s.to_string()),
        None => bail!("{} is not a UTF-8 path", path.display()),
    }
}
