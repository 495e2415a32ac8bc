//! `helm oci pull REF...`: the destination and the chart cache read-write, and each
//! reference's registry (none with `--offline`).

use super::temp::TempDir;
use crate::cli::{LimitArgs, RemoteArgs};
use crate::component::exports::helm_oci::plugin::registry::{PullOptions, PullResult};
use crate::component::exports::helm_oci::plugin::types::RemoteOptions;
use crate::output;
use crate::output::stream::outln;
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::{fs, io};
use wasmtime_wasi::FsPerms;

#[derive(Args)]
pub struct PullArgs {
    /// Chart references: oci://host[:port]/path/name[:tag|@sha256:…], one or more
    #[arg(required = true, value_name = "CHART_REF")]
    chart_refs: Vec<String>,
    /// Location to write the chart to
    #[arg(short = 'd', long, default_value = ".")]
    destination: PathBuf,
    /// If set to true, will untar the chart after downloading it
    #[arg(long)]
    untar: bool,
    /// If untar is specified, this flag specifies the name of the directory into which the chart is expanded
    #[arg(long, default_value = ".")]
    untardir: PathBuf,
    /// Fetch the provenance file, but don't perform verification
    #[arg(long)]
    prov: bool,
    #[command(flatten)]
    source: ChartSource,
}

/// Which chart version to get and how: the flags of every command that takes a chart from
/// a registry (pull, and the commands that hand it to Helm).
#[derive(Args)]
pub struct ChartSource {
    /// Specify a version constraint for the chart version to use. This constraint can be a specific tag (e.g. 1.1.1) or it may reference a valid range (e.g. ^2.0.0). If this is not specified, the latest version is used
    #[arg(long)]
    pub version: Option<String>,
    /// Use development versions (prereleases), too; with --version, those it admits (Helm ignores --devel there)
    #[arg(long)]
    pub devel: bool,
    /// Use the local chart cache alone, with no request to the registry
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub remote_args: RemoteArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub async fn run(args: PullArgs, debug: bool) -> Result<()> {
    // As in Helm, a relative --untardir is taken inside --destination.
    let dest = if args.untar { args.destination.join(&args.untardir) } else { args.destination.clone() };
    let dest = super::absolute(&dest)?;
    destination(&dest)?;
    // As `helm pull` does with several charts: one after another, stopping at the first
    // that fails, with what was pulled before it kept and reported.
    // As in Helm, the provenance file goes beside an archive only: an unpacked chart has none.
    let provenance = args.prov && !args.untar;
    let written = if args.untar { Written::Unpacked } else { Written::AsAsked { provenance } };
    for chart_ref in &args.chart_refs {
        let pulled = fetch(chart_ref, &args.source, &dest, &written, debug).await?;
        output::pulled(&pulled);
        // As Helm says it: on stdout after what was pulled, of the reference as given.
        if provenance && pulled.provenance.is_none() {
            outln!("WARNING: Verification not found for {chart_ref}: it has no provenance file");
        }
    }
    Ok(())
}

/// How `fetch` writes the chart.
pub enum Written {
    /// An archive named as Helm's pull names it, after the reference as asked, with its
    /// provenance file beside it if asked for and it has one.
    AsAsked {
        provenance: bool,
    },
    /// An archive named `<name>-<version>.tgz`, the name its provenance file signs (what
    /// Helm's `--verify` looks up), with that file beside it if asked for.
    AsSigned {
        provenance: bool,
    },
    Unpacked,
}

/// Pulls a chart through the cache into `dest` (an existing, writable directory), written
/// as `written` says.
pub async fn fetch(
    chart_ref: &str,
    source: &ChartSource,
    dest: &Path,
    written: &Written,
    debug: bool,
) -> Result<PullResult> {
    // Offline, a cache that cannot be written (baked read-only into an image, say) is still
    // read: a chart it holds needs no write there.
    let mut scratch = None;
    let (cache, perms) = if source.offline {
        let cache = super::cache_to_read()?;
        let perms = if writable(&cache).is_ok() { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        (cache, perms)
    } else {
        match super::cache() {
            Ok(cache) => (cache, FsPerms::ReadWrite),
            // Helm's pull writes no cache, so a home that cannot be written (a non-root
            // container's, say) is no stop: the pull goes through a cache of its own,
            // removed after it.
            Err(e) => {
                let Ok(dir) = TempDir::create() else { return Err(e) };
                let cache = dir.path().to_path_buf();
                scratch = Some((dir, format!("{}; this pull keeps nothing there", output::said(&e))));
                (cache, FsPerms::ReadWrite)
            }
        }
    };
    let grants = vec![(dest.to_path_buf(), FsPerms::ReadWrite), (cache.clone(), perms)];
    let mut session = Session::start(Grants { dirs: grants, ..Grants::default() }).await?;
    let reference = session.parse_reference(chart_ref).await?;
    let (connection, mirrors) = if source.offline {
        (RemoteOptions { plain_http: false, credential: None, challenge: None, debug, timeout_ms: None }, Vec::new())
    } else {
        // Pull fetches the config and the chart layer at once.
        super::connect_reading(
            &mut session,
            &reference,
            &source.remote_args,
            source.remote_args.connection.reach(debug, 2),
        )
        .await?
    };
    let options = PullOptions {
        reference,
        version: source.version.clone(),
        devel: source.devel,
        destination: super::utf8(dest)?,
        untar: matches!(written, Written::Unpacked),
        named_as_asked: matches!(written, Written::AsAsked { .. }),
        provenance: matches!(written, Written::AsAsked { provenance: true } | Written::AsSigned { provenance: true }),
        connection,
        limits: Some(source.limits.limits()),
        cache: super::utf8(&cache)?,
        offline: source.offline,
        mirrors,
    };
    let mut pulled = session.pull(&options).await?;
    if let Some((_, unwritable)) = scratch {
        pulled.warnings.insert(0, unwritable);
    }
    Ok(pulled)
}

/// Makes the directory charts are written into, if it is not there, and checks that it
/// can be written.
pub fn destination(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .map_err(|e| match e.kind() {
            // A file in the way: Go's MkdirAll (and so Helm) says what is wrong with it.
            io::ErrorKind::AlreadyExists => io::Error::from_raw_os_error(libc::ENOTDIR),
            _ => e,
        })
        .with_context(|| format!("creating {}", dir.display()))?;
    writable(dir)
}

/// Refuses a directory that cannot be written (a read-only file system, say) before any
/// download, with the system's own words: inside the sandbox such failures lose them.
pub fn writable(dir: &Path) -> Result<()> {
    // An unnamed file (O_TMPFILE) leaves nothing behind, even when a signal ends the
    // process right then; a file system without them gets a named probe.
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match fs::OpenOptions::new().write(true).custom_flags(libc::O_TMPFILE).mode(0o600).open(dir) {
            Ok(_) => return Ok(()),
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL)) => {
                return Err(e).with_context(|| format!("cannot write into {}", dir.display()));
            }
            Err(_) => {}
        }
    }
    // A new file of a name no one can guess: the directory may hold what a component
    // planted there (a symlink named like a probe, say), and nothing there is followed.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let probe = dir.join(format!(".helm-oci-probe-{}-{nanos:x}", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}
