//! `dependency update|build`: a chart's OCI dependencies pulled through the cache (and the
//! mirrors) into `charts/` as the chart layers' exact bytes, and the lock file that pins each
//! to its version and manifest digest, as Helm's downloader manager does it for its own
//! repositories. `file://` dependencies are packaged from their directories, as Helm does.
//! Nothing lands in `charts/` until every dependency is fetched and verified.

use super::pull::{self, Pull, Pulled};
use crate::chart::archive;
use crate::chart::dependencies::{self, Declared, Repository};
use crate::chart::directory::Links;
use crate::chart::load::{Limits, Loader};
use crate::chart::lock::{self, Lock, Locked, MANIFEST_DIGEST_KEY};
use crate::chart::metadata::Metadata;
use crate::chart::package::{self, Packaged};
use crate::digest;
use crate::error::{Error, Kind, Result};
use crate::fs::granted;
use crate::fs::temp::{self, TempDir};
use crate::net::clock;
use crate::oci::client::{Connection, MirrorHealth};
use crate::oci::location::{Location, locate};
use crate::oci::mirrors::Mirror;
use crate::oci::reference::Ref;
use crate::timestamp;
use crate::version::{Constraint, Version};
use futures::stream::{self, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One dependency, and where it comes from.
pub struct Needed {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub location: Location,
}

/// The chart's dependencies (for the host to grant their registries and directories): those
/// it declares (aliases read through `repositories`) and those its lock names, each
/// located; any in a chart repository that is neither in a registry nor on disk is refused.
pub fn read(chart_dir: &Path, repositories: &[Repository]) -> Result<(&'static str, Vec<Needed>, Vec<Needed>)> {
    let declared = dependencies::read(chart_dir, repositories)?;
    let needed = |name: &str, version: &str, repository: &str| -> Result<Needed> {
        let location = locate(name, repository, chart_dir)?;
        Ok(Needed { name: name.into(), version: version.into(), repository: repository.into(), location })
    };
    let wanted = declared.dependencies.iter().map(|d| needed(&d.name, &d.version, &d.repository));
    let locked = declared.lock.iter().flat_map(|l| &l.dependencies).map(|d| needed(&d.name, &d.version, &d.repository));
    Ok((declared.lock_file(), wanted.collect::<Result<_>>()?, locked.collect::<Result<_>>()?))
}

/// How the host lets the component reach one chart's repository.
pub struct Access {
    /// The chart's repository, as `read` located it.
    pub chart: Ref,
    pub connection: Connection,
    pub mirrors: Vec<Mirror>,
}

/// What to do the work with.
pub struct Options {
    /// The chart directory, granted read-write.
    pub chart_dir: PathBuf,
    /// The chart cache, granted read-write.
    pub cache: PathBuf,
    /// Helm's chart repositories, which aliases name.
    pub repositories: Vec<Repository>,
    pub accesses: Vec<Access>,
    /// The cache alone, with no request.
    pub offline: bool,
    pub limits: Limits,
    /// The time stamped on `file://` charts' archives instead of their newest file's.
    pub source_date_epoch: Option<i64>,
    /// Where the symlinks out of the chart directory and out of each `file://` directory
    /// lead, by directory, as the host resolved them.
    pub links: HashMap<PathBuf, Links>,
    /// For the places no access covers (`offline`), and the trace.
    pub connection: Connection,
}

/// One dependency done, in the order the lock lists them.
pub struct Saved {
    /// The dependency as locked (with the manifest digest of a chart from a registry).
    pub locked: Locked,
    /// The archive now in `charts/`; none for a vendored chart, which is only checked.
    pub archive: Option<Archive>,
    /// For a chart from a registry: the reference pulled.
    pub pulled: Option<Ref>,
}

/// An archive written into `charts/`.
pub struct Archive {
    pub path: PathBuf,
    /// Where it was staged.
    staged: PathBuf,
}

/// What a run did.
pub struct Outcome {
    /// Whether the chart declares dependencies at all (see `Declared::declares`): if not,
    /// nothing was done.
    pub declared: bool,
    pub saved: Vec<Saved>,
    /// Outdated archives removed from `charts/` (see `remove_outdated`).
    pub removed: Vec<PathBuf>,
    /// The lock file written, if one was (update writes it unless it locks the same).
    pub lock_file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// `helm dependency update`: resolves each dependency's constraint against its repository's
/// tags (through the cache and the mirrors), vendors the archives and writes the lock.
pub async fn update(options: Options) -> Result<Outcome> {
    loadable(&options)?;
    resolve(options).await
}

/// `update`, once the chart is known to load.
async fn resolve(options: Options) -> Result<Outcome> {
    let declared = dependencies::read(&options.chart_dir, &options.repositories)?;
    if !declared.declares {
        let (saved, removed, warnings) = (Vec::new(), Vec::new(), Vec::new());
        return Ok(Outcome { declared: false, saved, removed, lock_file: None, warnings });
    }
    for d in &declared.dependencies {
        constraint(&d.name, &d.version)?;
    }
    let asked: Vec<Locked> = declared.dependencies.iter().map(Locked::asked).collect();
    unresolved_locals(&options.chart_dir, &asked)?;
    let mut outcome = fetch(&options, &asked, Versions::Declared).await?;
    let locked: Vec<Locked> = outcome.saved.iter().map(|s| s.locked.clone()).collect();
    let lock = Lock {
        generated: timestamp::rfc3339(clock::wall_seconds()),
        digest: lock_digest(&declared, &locked),
        dependencies: locked,
    };
    // As Helm, a lock that already says the same is left as it is.
    if declared.lock.as_ref().is_none_or(|old| !old.locks_the_same(&lock)) {
        let lock_path = options.chart_dir.join(declared.lock_file());
        not_a_symlink(&lock_path, declared.lock_file())?;
        temp::write_atomically(&options.chart_dir, &lock_path, lock.to_yaml().as_bytes())?;
        outcome.lock_file = Some(lock_path);
    }
    Ok(outcome)
}

/// As Helm, the chart is first loaded whole: one Helm cannot load (a stray file in
/// `charts/`, say) is refused before anything is fetched or written.
fn loadable(options: &Options) -> Result<()> {
    package::loads(&options.chart_dir, &options.limits)
}

/// Helm refuses to write a lock file over a symlink (and only then: a symlinked lock that
/// already locks the same is left alone), once `charts/` is updated, as here.
fn not_a_symlink(path: &Path, name: &str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
            Err(Error::invalid_chart(path.display().to_string(), format!("the {name} file is a symlink to {target:?}")))
        }
        _ => Ok(()),
    }
}

/// Helm's resolver's check, before anything is fetched: each `file://` chart's version must
/// meet its constraint, and all that do not are named at once.
fn unresolved_locals(chart_dir: &Path, asked: &[Locked]) -> Result<()> {
    let mut missing = Vec::new();
    for d in asked {
        if let Location::Local(dir) = locate(&d.name, &d.repository, chart_dir)?
            && !admits(d, &local_version(&dir)?)?
        {
            missing.push(format!("{:?} (repository {:?}, version {:?})", d.name, d.repository, d.version));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_chart(
        "",
        format!(
            "can't get a valid version for {} subchart(s): {}. Make sure a matching chart version exists in the repo, \
             or change the version constraint in Chart.yaml",
            missing.len(),
            missing.join(", ")
        ),
    ))
}

/// `helm dependency build`: vendors exactly what the lock names, each at its locked version
/// and, where the lock records one, its manifest digest. Without a lock, an update (as Helm).
pub async fn build(options: Options) -> Result<Outcome> {
    loadable(&options)?;
    let declared = dependencies::read(&options.chart_dir, &options.repositories)?;
    let Some(lock) = &declared.lock else { return resolve(options).await };
    in_sync(&declared, lock)?;
    // A digest goes into a URL only once it is known to be one.
    let lock_file = declared.lock_file();
    if let Some((name, digest)) = lock
        .dependencies
        .iter()
        .find_map(|d| d.manifest_digest.as_deref().filter(|m| !digest::is_valid(m)).map(|m| (&d.name, m)))
    {
        return Err(Error::invalid_chart(
            options.chart_dir.join(lock_file).display().to_string(),
            format!(
                "the {MANIFEST_DIGEST_KEY} of dependency {name:?}, {digest:?}, is not {}; run 'helm oci dependency update' to lock it again",
                digest::SHAPE
            ),
        ));
    }
    let mut outcome = fetch(&options, &lock.dependencies, Versions::Locked).await?;
    let from_a_registry =
        |d: &Locked| matches!(locate(&d.name, &d.repository, &options.chart_dir), Ok(Location::Registry { .. }));
    let taken_from = if options.offline { "the chart cache" } else { "the registry" };
    for d in lock.dependencies.iter().filter(|d| d.manifest_digest.is_none() && from_a_registry(d)) {
        outcome.warnings.push(format!(
            "{lock_file} records no manifest digest for {:?}: its version tag was taken as {taken_from} has it now",
            d.name
        ));
    }
    Ok(outcome)
}

/// The lock's digest for this chart: Helm 3's for Chart.lock; for requirements.lock, Helm
/// 2's, which Helm 2 requires and Helm 3 and 4 accept when theirs does not match. Helm 3's
/// covers the dependencies with their aliases replaced, Helm 2's as written.
fn lock_digest(declared: &Declared, locked: &[Locked]) -> String {
    if declared.is_v1() {
        lock::hash_v2(Some(&declared.written))
    } else {
        lock::hash(Some(&declared.dependencies), locked)
    }
}

/// Refuses a lock whose digest does not cover the declared dependencies, in Helm's words.
fn in_sync(declared: &Declared, lock: &Lock) -> Result<()> {
    // A chart that declares no list at all hashes as Go's nil slice does: as null.
    let reqs = declared.declares.then_some(declared.dependencies.as_slice());
    let written = declared.declares.then_some(declared.written.as_slice());
    if lock::hash(reqs, &lock.dependencies) == lock.digest {
        return Ok(());
    }
    let why = if !declared.is_v1() {
        "the lock file (Chart.lock) is out of sync with the dependencies file (Chart.yaml). Please update the dependencies with 'helm dependency update'"
    } else if lock::hash_v2(written) == lock.digest {
        return Ok(());
    } else {
        "the lock file (requirements.lock) is out of sync with the dependencies file (requirements.yaml). Please update the dependencies"
    };
    Err(Error::invalid_chart("", why))
}

/// Helm's check of a dependency's version: a constraint (an exact version is one too).
fn constraint(name: &str, version: &str) -> Result<Constraint> {
    let bad = |why: String| {
        Error::invalid_chart("", format!("dependency {name:?} has an invalid version/constraint format: {why}"))
    };
    if version.trim().is_empty() {
        return Err(bad(format!("improper constraint: {version:?}")));
    }
    Constraint::parse(version).map_err(bad)
}

/// What the versions given to `fetch` are.
#[derive(Clone, Copy)]
enum Versions {
    /// Constraints as declared, resolved as Helm resolves them for `update`.
    Declared,
    /// Versions a lock names, each fetched as it is, for `build`.
    Locked,
}

/// How many dependencies are fetched at once (Helm fetches one at a time); a pull has up
/// to two requests in flight.
const AT_ONCE: usize = 8;

/// Fetches each of `wanted` (a version or constraint each) into a staging directory in
/// `charts/`, several at once, checks the vendored ones, and only then moves the archives
/// into place and removes the outdated ones. A `charts/` this made is removed again if the
/// work fails. A `charts` that links to a directory elsewhere in the chart is written
/// through, as Helm writes; one that leads out of the chart is refused (saying where it
/// leads), as only the chart directory is writable.
async fn fetch(options: &Options, wanted: &[Locked], versions: Versions) -> Result<Outcome> {
    let charts = options.chart_dir.join("charts");
    let linked_inside = |m: &std::fs::Metadata| -> Result<bool> {
        Ok(m.file_type().is_symlink()
            && dependencies::exists(&options.chart_dir, "charts")?
            && std::fs::metadata(&charts).is_ok_and(|m| m.is_dir()))
    };
    let made = match std::fs::symlink_metadata(&charts) {
        Ok(m) if m.is_dir() || linked_inside(&m)? => false,
        Ok(_) => return Err(Error::invalid_chart(charts.display().to_string(), "it is not a directory")),
        Err(_) => {
            granted::create_dir_all(&charts).map_err(|e| Error::io(&charts, e))?;
            true
        }
    };
    let outcome = staged(options, (wanted, versions), &charts).await;
    if outcome.is_err() && made {
        let _ = std::fs::remove_dir(&charts);
    }
    outcome
}

/// `fetch` once `charts/` is there: each dependency is staged in a directory of its own, so
/// that two that give the same archive name end as in Helm, the one declared last in place.
async fn staged(options: &Options, (wanted, versions): (&[Locked], Versions), charts: &Path) -> Result<Outcome> {
    let staging = TempDir::create_in(charts)?;
    // A hung mirror costs the call one wait, not one per `AT_ONCE` dependencies: the pulls
    // that start after one gave up on it pass it over.
    let health = MirrorHealth::default();
    let done: Vec<(Saved, Vec<String>)> = stream::iter(wanted.iter().enumerate())
        .map(|(i, d)| fetched(options, (d, versions), charts, staging.path().join(i.to_string()), &health))
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let (saved, warnings): (Vec<Saved>, Vec<Vec<String>>) = done.into_iter().unzip();
    let archives: Vec<&Archive> = saved.iter().filter_map(|s| s.archive.as_ref()).collect();
    // What an archive cannot replace is found before any is moved, so that charts/ is left
    // as it was, not half updated.
    for archive in &archives {
        if std::fs::symlink_metadata(&archive.path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::io(&archive.path, std::io::Error::from(std::io::ErrorKind::IsADirectory)));
        }
    }
    for archive in archives {
        granted::rename(&archive.staged, &archive.path).map_err(|e| Error::io(&archive.path, e))?;
    }
    let links = options.links.get(&options.chart_dir).cloned().unwrap_or_default();
    let removed = remove_outdated(charts, &saved, &options.limits, &links);
    Ok(Outcome { declared: true, saved, removed, lock_file: None, warnings: warnings.concat() })
}

/// One dependency checked (vendored), pulled or packaged into `staging`, with its warnings.
async fn fetched(
    options: &Options,
    (d, versions): (&Locked, Versions),
    charts: &Path,
    staging: PathBuf,
    health: &MirrorHealth,
) -> Result<(Saved, Vec<String>)> {
    let root = &options.chart_dir;
    let links_of = |dir: &Path| options.links.get(dir).cloned().unwrap_or_default();
    let stage = || granted::create_dir_all(&staging).map_err(|e| Error::io(&staging, e));
    let archive = |file: String| Archive { path: charts.join(&file), staged: staging.join(file) };
    Ok(match locate(&d.name, &d.repository, root)? {
        Location::Vendored => {
            vendored(root, &links_of(root), d)?;
            let locked = Locked { manifest_digest: None, ..d.clone() };
            (Saved { locked, archive: None, pulled: None }, Vec::new())
        }
        Location::Registry { chart, listed, .. } => {
            stage()?;
            // A locked version is the chart's own, and its tag, wherever it was resolved.
            let version_is_tag = !listed || matches!(versions, Versions::Locked);
            let pulled = pulled(options, (&chart, version_is_tag), d, &staging, health).await?;
            let archive = archive(file_name(&pulled.path));
            let locked = Locked { version: pulled.meta.version, manifest_digest: Some(pulled.digest), ..d.clone() };
            (Saved { locked, archive: Some(archive), pulled: Some(pulled.reference) }, pulled.warnings)
        }
        Location::Local(dir) => {
            stage()?;
            let meta = packaged((&dir, &links_of(&dir)), d, &staging, &options.limits, options.source_date_epoch)?;
            let archive = archive(meta.archive_name());
            let locked = Locked { version: meta.version, manifest_digest: None, ..d.clone() };
            (Saved { locked, archive: Some(archive), pulled: None }, Vec::new())
        }
    })
}

/// One dependency pulled through the cache into `staging`: the newest version its
/// constraint admits, or its locked version by its locked manifest's digest.
async fn pulled(
    options: &Options,
    (chart, version_is_tag): (&Ref, bool),
    d: &Locked,
    staging: &Path,
    health: &MirrorHealth,
) -> Result<Pulled> {
    let access =
        options.accesses.iter().find(|a| a.chart.registry == chart.registry && a.chart.repository == chart.repository);
    let (connection, mirrors) = match access {
        Some(a) => (a.connection.clone(), a.mirrors.clone()),
        None if options.offline => (options.connection.clone(), Vec::new()),
        None => {
            return Err(Error::invalid_reference(chart.to_string(), "the host granted no access to this repository"));
        }
    };
    // A locked chart is pulled by its manifest's digest: a mirror serves it only with that
    // digest, and a tag moved since fails at the registry.
    let pull = Pull {
        reference: Ref { digest: d.manifest_digest.clone(), ..chart.clone() },
        version: Some(d.version.clone()),
        version_is_tag,
        devel: false,
        destination: staging.to_path_buf(),
        untar: false,
        named_as_asked: false,
        provenance: false,
        connection,
        limits: options.limits,
        cache: options.cache.clone(),
        offline: options.offline,
        mirrors,
        health: health.clone(),
    };
    let mut pulled = pull::run(pull).await.map_err(|e| match e.kind {
        Kind::DigestMismatch { .. } => {
            Error { subject: format!("{} (dependency {:?}, as locked)", e.subject, d.name), ..e }
        }
        _ => e,
    })?;
    // Said as Helm says it, by tag; the lock holds the digest.
    pulled.reference.digest = None;
    if pulled.meta.name != d.name {
        return Err(Error::invalid_chart(
            pulled.reference.to_string(),
            format!("the chart is named {:?}, not {:?} as the dependency says", pulled.meta.name, d.name),
        ));
    }
    Ok(pulled)
}

/// A `file://` dependency: its chart directory packaged into `staging` as Helm packages it
/// (its symlinks out of it followed where `links` says they lead), if its version satisfies
/// the constraint (for `build`, the locked version). As Helm, the archive is named for the
/// chart, whatever the dependency calls it, and the directory's own dependencies are not
/// checked.
fn packaged(
    (dir, links): (&Path, &Links),
    d: &Locked,
    staging: &Path,
    limits: &Limits,
    epoch: Option<i64>,
) -> Result<Metadata> {
    present(dir)?;
    let Packaged { chart, archive, .. } = package::directory(dir, limits, epoch, links)?;
    if !admits(d, &chart.meta.version)? {
        return Err(Error::invalid_chart("", format!("can't get a valid version for dependency {}", d.name)));
    }
    let file = staging.join(chart.meta.archive_name());
    temp::write_atomically(staging, &file, &archive)?;
    Ok(chart.meta)
}

/// The version in a `file://` dependency's Chart.yaml, failing as Helm's resolver does for a
/// directory that is not there.
fn local_version(dir: &Path) -> Result<String> {
    present(dir)?;
    let subject = dir.display().to_string();
    let chart_yaml = match std::fs::read(dir.join("Chart.yaml")) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_chart(subject, "Chart.yaml file is missing"));
        }
        Err(e) => return Err(Error::io(&dir.join("Chart.yaml"), e)),
    };
    Ok(Metadata::from_yaml(&chart_yaml, None, &subject)?.version)
}

/// A `file://` dependency's directory must be there, as Helm's resolver says.
fn present(dir: &Path) -> Result<()> {
    if std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    Err(Error::not_found("", format!("directory {} not found", dir.display())))
}

/// A chart vendored as `charts/NAME` must be there, and its version must satisfy the
/// constraint, as Helm checks it. A `charts/NAME` that links out of the chart (a monorepo's
/// shared chart) is read where `links`, the chart's, says it leads.
fn vendored(root: &Path, links: &Links, d: &Locked) -> Result<()> {
    let rel = format!("charts/{}", d.name);
    let subject = root.join(&rel).display().to_string();
    let chart_yaml = match links.get(&rel) {
        Some(Some(target)) => {
            let file = Path::new(target).join("Chart.yaml");
            match std::fs::read(&file) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(&file, e)),
            }
        }
        _ if !dependencies::exists(root, &rel)? => {
            return Err(Error::not_found(
                subject,
                "directory not found (a dependency with no repository is vendored there)",
            ));
        }
        _ => dependencies::file(root, &format!("{rel}/Chart.yaml"))?,
    };
    let chart_yaml = chart_yaml.ok_or_else(|| {
        Error::invalid_chart(format!("unable to load chart '{subject}'"), "Chart.yaml file is missing")
    })?;
    let meta = Metadata::from_yaml(&chart_yaml, None, &subject)?;
    if !admits(d, &meta.version)? {
        return Err(Error::invalid_chart(
            "",
            format!("dependency {} at version {} does not satisfy the constraint {}", d.name, meta.version, d.version),
        ));
    }
    Ok(())
}

/// Whether the dependency's constraint admits a chart of `version`, as Helm checks it.
fn admits(d: &Locked, version: &str) -> Result<bool> {
    let constraint = constraint(&d.name, &d.version)?;
    Ok(Version::parse(version).is_ok_and(|v| constraint.matches(&v, false)))
}

/// Removes from `charts/`, as Helm's `safeMoveDeps` does, every file (or symlink to one: the
/// link goes) other than the archives just written that loads as a chart, unless that chart
/// has the name of a dependency vendored in `charts/` (no repository): older archives, and
/// archives of dependencies no longer declared. What does not load as a chart (notes, junk)
/// stays. A link out of the chart is read where `links`, the chart's, says it leads. Best
/// effort: a file that cannot be removed stays.
fn remove_outdated(charts: &Path, saved: &[Saved], limits: &Limits, links: &Links) -> Vec<PathBuf> {
    let written: Vec<&Path> = saved.iter().filter_map(|s| s.archive.as_ref()).map(|a| a.path.as_path()).collect();
    let vendored: Vec<&str> = saved.iter().filter(|s| s.archive.is_none()).map(|s| s.locked.name.as_str()).collect();
    let Ok(entries) = std::fs::read_dir(charts) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = format!("charts/{}", entry.file_name().to_string_lossy());
        let read = match links.get(&rel) {
            Some(Some(target)) => PathBuf::from(target),
            _ => path.clone(),
        };
        let linked_file = |t: std::fs::FileType| t.is_symlink() && std::fs::metadata(&read).is_ok_and(|m| m.is_file());
        if written.contains(&path.as_path()) || !entry.file_type().is_ok_and(|t| t.is_file() || linked_file(t)) {
            continue;
        }
        let outdated = chart_in(&read, limits).is_some_and(|name| !vendored.contains(&name.as_str()));
        if outdated && std::fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    removed.sort();
    removed
}

/// The name of the chart in an archive, if it loads as one.
fn chart_in(path: &Path, limits: &Limits) -> Option<String> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    archive::load(&mut reader, &Loader::new(*limits, false), 0).ok().map(|chart| chart.meta.name)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_helms_constraints() {
        assert!(constraint("db", "^1.0.0").is_ok());
        assert!(constraint("db", "1.2.3").is_ok());
        // Helm quotes what it could not read, blank or not.
        let e = constraint("db", "").unwrap_err().to_string();
        assert_eq!(e, r#"dependency "db" has an invalid version/constraint format: improper constraint: """#);
        let e = constraint("db", " \t").unwrap_err().to_string();
        assert!(e.ends_with(r#"improper constraint: " \t""#), "{e}");
        assert!(constraint("db", "^^1").is_err());
    }
}
