//! `helm oci dependency update|build CHART_DIR`: the chart directory and the chart cache
//! read-write, the directory of every `file://` dependency read-only, and the registry of
//! every chart repository the chart's dependencies (and its lock) name, each with its
//! mirrors, and read-only where the symlinks out of the chart and those directories lead.
//! The component first reads the chart (the host does not parse charts) and names those
//! links, with nothing writable; the work is done on a new instance.

use super::links;
use crate::cli::{LimitArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::dependencies::{
    ChartRepository, Declared, DependenciesResult, Dependency, DependencyOptions, DirectoryLinks, Source,
};
use crate::output::stream::{errln, outln};
use crate::repositories::Repository;
use crate::sandbox::{Grants, Reach, Session};
use crate::{output, repositories};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::fs;
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

#[derive(Subcommand)]
pub enum DependencyCommand {
    /// Update charts/ from the dependencies in Chart.yaml (requirements.yaml for apiVersion v1) and write the lock file
    #[command(alias = "up")]
    Update(DependencyArgs),
    /// Rebuild charts/ from the lock file (Chart.lock, or requirements.lock), each chart verified against its locked digest
    Build(DependencyArgs),
}

#[derive(Args)]
#[command(after_help = "Dependencies come from OCI registries: repository oci://HOST/PATH (the chart is \
                  HOST/PATH/NAME),\nocirepo://HOST/NS or ocirepo+http://HOST/NS; file://PATH is a chart directory, \
                  packaged into charts/;\na dependency with no repository is vendored under charts/NAME; \
                  @NAME (or alias:NAME) stands for the URL `helm repo add NAME` gave.\nFor https:// chart \
                  repositories use Helm's own `helm dependency update`.\n\
                  --username/--password are used for every dependency's registry (not for mirrors), as Helm's \
                  registry client uses them;\na repository `helm repo add` set up gets its own username, password and \
                  TLS files, where no flag gives them.")]
pub struct DependencyArgs {
    /// The chart directory
    #[arg(default_value = ".")]
    chart: PathBuf,
    /// Use the local chart cache alone, with no request to a registry
    #[arg(long)]
    offline: bool,
    /// Accepted for Helm's sake and ignored: OCI dependencies need no repository index to refresh
    #[arg(long)]
    skip_refresh: bool,
    /// Refused: helm-oci does not check provenance files yet
    #[arg(long)]
    verify: bool,
    /// Accepted for Helm's sake and ignored (it only serves --verify)
    #[arg(long, value_name = "FILE")]
    keyring: Option<PathBuf>,
    #[command(flatten)]
    remote_args: RemoteArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

/// How many dependencies the component pulls at once.
const PULLS_AT_ONCE: usize = 8;

/// Which of the two.
#[derive(Clone, Copy, PartialEq)]
enum Verb {
    Update,
    Build,
}

pub async fn run(command: DependencyCommand, debug: bool) -> Result<()> {
    let (verb, args) = match command {
        DependencyCommand::Update(args) => (Verb::Update, args),
        DependencyCommand::Build(args) => (Verb::Build, args),
    };
    if args.verify {
        bail!("--verify is not supported: helm-oci does not check a chart's provenance file (its .prov layer) yet");
    }
    let chart = super::absolute(&args.chart)?;
    if !chart.join("Chart.yaml").is_file() {
        if !chart.is_dir() {
            bail!("could not find {}: not a chart directory", args.chart.display());
        }
        bail!("{}: Chart.yaml file is missing; only unpacked charts can be updated", args.chart.display());
    }
    super::pull::writable(&chart)?;
    let cache = super::cache()?;
    // The chart is read, and the links out of it and its `file://` dependencies resolved,
    // with nothing writable: the host never follows a link the component could have made.
    let mut reading = Grants { dirs: vec![(chart.clone(), FsPerms::ReadOnly)], ..Grants::default() };
    let mut session = Session::start(reading.clone()).await?;
    // `repository: "@NAME"` names one of Helm's repositories.
    let repositories = repositories::known()?;
    let known: Vec<_> =
        repositories.iter().map(|r| ChartRepository { name: r.name.clone(), url: r.url.clone() }).collect();
    let declared = session.read_dependencies(&super::utf8(&chart)?, &known).await?;
    let locals = local_dirs(&declared, verb, &chart, &cache)?;
    let outside = locals.iter().filter(|dir| !within(&chart, dir));
    reading.dirs.extend(outside.map(|dir| (dir.clone(), FsPerms::ReadOnly)));
    // Helm follows every symlink: a vendored `charts/common -> ../../common`, a template a
    // `file://` chart shares with others.
    let dirs: Vec<PathBuf> = [chart.clone()].into_iter().chain(locals).collect();
    let limits = args.limits.limits();
    let written = [chart.clone(), cache.clone()];
    let (_, linked, read) = links::linked_session(&dirs, reading, &written, &limits).await?;
    // The work: the chart and the cache writable, the rest read-only, and dependencies
    // staged in charts/ until every one is verified.
    let mut grants = vec![(chart.clone(), FsPerms::ReadWrite), (cache.clone(), FsPerms::ReadWrite)];
    grants.extend(read.dirs.into_iter().filter(|(dir, _)| *dir != chart));
    let temp_dirs = vec![chart.join("charts")];
    let mut session = Session::start(Grants { dirs: grants, temp_dirs }).await?;
    let links = dirs
        .iter()
        .zip(&linked)
        .map(|(dir, linked)| Ok(DirectoryLinks { dir: super::utf8(dir)?, links: linked.links.clone() }))
        .collect::<Result<_>>()?;
    let sources = if args.offline {
        Vec::new()
    } else {
        grant(&mut session, (&declared, &repositories), verb, &args, debug).await?
    };
    let options = DependencyOptions {
        chart_dir: super::utf8(&chart)?,
        cache: super::utf8(&cache)?,
        repositories: known,
        sources,
        offline: args.offline,
        limits: Some(limits),
        source_date_epoch: super::push::source_date_epoch()?,
        debug,
        timeout_ms: args.remote_args.connection.timeout_ms(),
        links,
    };
    let done = match verb {
        Verb::Update => session.update_dependencies(&options).await?,
        Verb::Build => session.build_dependencies(&options).await?,
    };
    print(&done, args.offline, debug);
    Ok(())
}

/// The `file://` directories to read (declared; for a build, also locked), each once. Only
/// chart directories are read, and none that holds the chart or the cache, whatever
/// Chart.yaml names. A declared one that is missing fails here, with Helm's message; one the
/// lock alone names is left to the component, which first checks the lock is in sync.
fn local_dirs(declared: &Declared, verb: Verb, chart: &Path, cache: &Path) -> Result<Vec<PathBuf>> {
    let locked = if verb == Verb::Build { declared.locked.as_slice() } else { &[] };
    let (chart_real, cache_real) = (fs::canonicalize(chart).ok(), fs::canonicalize(cache).ok());
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (dependency, is_declared) in
        declared.dependencies.iter().map(|d| (d, true)).chain(locked.iter().map(|d| (d, false)))
    {
        let Some(dir) = &dependency.local else { continue };
        let dir = PathBuf::from(dir);
        let real = match fs::canonicalize(&dir) {
            Ok(real) if real.is_dir() => real,
            _ if !is_declared => continue,
            _ => bail!("directory {} not found", dir.display()),
        };
        for (held, what) in [(&chart_real, "the chart"), (&cache_real, "the chart cache")] {
            if held.as_ref().is_some_and(|held| held.starts_with(&real)) {
                bail!(
                    "dependency {:?}: repository {:?} names {}, which holds {what}",
                    dependency.name,
                    dependency.repository,
                    dir.display()
                );
            }
        }
        if !real.join("Chart.yaml").is_file() {
            if !is_declared {
                continue;
            }
            bail!("{}: Chart.yaml file is missing", dir.display());
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}

/// Whether a directory is inside the chart, and so readable already: by its path and by
/// where it really is.
fn within(chart: &Path, dir: &Path) -> bool {
    dir.starts_with(chart)
        && matches!((fs::canonicalize(chart), fs::canonicalize(dir)), (Ok(chart), Ok(dir)) if dir.starts_with(&chart))
}

/// Grants each chart repository the work may read (the declared ones; for a build with a
/// lock, also the locked ones), once each, with its mirrors and credential. A repository
/// `helm repo add` set up is reached as Helm's downloader manager reaches it: with the
/// username, password and TLS files it was added with, where the command gives none.
async fn grant(
    session: &mut Session,
    (declared, repositories): (&Declared, &[Repository]),
    verb: Verb,
    args: &DependencyArgs,
    debug: bool,
) -> Result<Vec<Source>> {
    let locked = if verb == Verb::Build { declared.locked.as_slice() } else { &[] };
    let mut sources: Vec<Source> = Vec::new();
    for dependency in declared.dependencies.iter().chain(locked) {
        let Dependency { chart: Some(chart), plain_http, .. } = dependency else { continue };
        let known = |s: &Source| s.chart.registry == chart.registry && s.chart.repository == chart.repository;
        if sources.iter().any(known) {
            continue;
        }
        // A pull fetches the config and the chart layer at once, and the component pulls up
        // to 8 dependencies at once: connections beyond those for 8 pulls would go unused.
        let pulls_before = sources.iter().filter(|s| s.chart.registry == chart.registry).count();
        let ahead = if pulls_before < PULLS_AT_ONCE { 2 } else { 0 };
        let mut reach = args.remote_args.connection.reach(debug, ahead);
        reach.plain_http |= *plain_http;
        let added = repositories.iter().find(|r| r.is_at(&dependency.repository));
        let remote = &args.remote_args;
        let given = remote.login().or_else(|| added.and_then(|added| added.login.clone()));
        let (registry, endpoint) = (&chart.registry, &chart.endpoint);
        let (connection, mirrors) =
            super::with_mirrors(session, (registry, endpoint, &chart.repository), reach, |session, reach| {
                let own_tls = added.map(|added| added.tls_under(&reach.tls));
                let reach = Reach { own_tls, ..reach.clone() };
                let given = (given, super::missing_hint(remote));
                let connected = super::connect_as(session, (registry, endpoint), given, &reach);
                match added {
                    Some(added) => {
                        connected.with_context(|| format!("repository {:?} as `helm repo add` set it up", added.name))
                    }
                    None => connected,
                }
            })
            .await
            .with_context(|| format!("dependency {:?}", dependency.name))?;
        sources.push(Source {
            chart: chart.clone(),
            plain_http: connection.plain_http,
            credential: connection.credential,
            challenge: connection.challenge,
            mirrors,
        });
    }
    Ok(sources)
}

/// What Helm's downloader manager prints for the same work, then the lock file written;
/// `--offline`, which Helm lacks, takes from the cache what it would download.
fn print(done: &DependenciesResult, offline: bool, debug: bool) {
    output::warnings(&done.warnings);
    if !done.declared {
        return;
    }
    outln!("Saving {} charts", done.saved.len());
    for saved in &done.saved {
        match (&saved.pulled, &saved.packaged) {
            (Some(pulled), _) => {
                if offline {
                    outln!("Taking {} from the chart cache (repo {})", saved.name, saved.repository);
                } else {
                    outln!("Downloading {} from repo {}", saved.name, saved.repository);
                }
                outln!("Pulled: {}", pulled.reference);
                outln!("Digest: {}", pulled.digest);
            }
            // Helm says nothing of these unless asked to.
            (None, Some(archive)) => {
                if debug {
                    errln!("[debug] archived {} from repo {} into {archive}", saved.name, saved.repository);
                }
            }
            (None, None) => outln!(
                "Dependency {} did not declare a repository. Assuming it exists in the charts directory",
                saved.name
            ),
        }
    }
    outln!("Deleting outdated charts");
    if debug {
        for removed in &done.removed {
            errln!("[debug] removed {removed}");
        }
        if let Some(lock) = &done.lock_file {
            errln!("[debug] wrote {lock}");
        }
    }
}
