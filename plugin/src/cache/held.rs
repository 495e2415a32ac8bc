//! Charts as the cache holds them: the name a reference is kept under, finding a cached
//! reference, and turning a cached chart's blobs into an archive or a directory, loaded by
//! Helm's rules before anything is written.

use super::{Cache, Entry};
use crate::chart::archive::{self, Unpacking};
use crate::chart::legacy;
use crate::chart::load::{Limits, Loader};
use crate::chart::metadata::Metadata;
use crate::error::{Error, Kind, Result};
use crate::fs::granted;
use crate::fs::temp::{TempDir, TempFile, write_atomically};
use crate::oci::helm::{ChartLayers, Descriptor, Manifest};
use crate::oci::reference::Ref;
use crate::version::Wanted;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read};
use std::path::{Path, PathBuf};

/// The name a reference is cached under: `host/repository@digest` if it pins one, else
/// `host/repository:tag`.
pub fn name_of(r: &Ref) -> String {
    match &r.digest {
        Some(digest) => format!("{}/{}@{digest}", r.registry, r.repository),
        None => r.to_string(),
    }
}

/// The entry a reference names: its own; for a digest, any entry of that manifest in the
/// same repository; with neither tag nor digest, the newest cached version of the
/// repository `wanted` admits. Returns the reference completed with the tag found.
pub fn find(cache: &Cache, r: &Ref, wanted: &Wanted) -> Result<Option<(Ref, Entry)>> {
    let index = cache.index()?;
    if let Some(digest) = &r.digest {
        return Ok(index
            .manifests
            .into_iter()
            .find(|e| e.is_named_by(digest) && in_repository(e, r))
            .map(|e| (r.clone(), e)));
    }
    if r.tag.is_some() {
        let name = name_of(r);
        return Ok(index.manifests.into_iter().find(|e| e.reference() == Some(name.as_str())).map(|e| (r.clone(), e)));
    }
    let prefix = format!("{}/{}:", r.registry, r.repository);
    let tags = index.manifests.iter().filter_map(|e| e.reference()?.strip_prefix(&prefix).map(str::to_string));
    let Some(tag) = wanted.newest(tags.collect()) else { return Ok(None) };
    let r = r.with_tag(&tag);
    let name = name_of(&r);
    Ok(index.manifests.into_iter().find(|e| e.reference() == Some(name.as_str())).map(|e| (r, e)))
}

/// Whether an entry is named for the reference's repository (by any tag or digest).
pub fn in_repository(entry: &Entry, r: &Ref) -> bool {
    let repository = format!("{}/{}", r.registry, r.repository);
    entry.reference().and_then(|name| name.strip_prefix(&repository)).is_some_and(|rest| rest.starts_with([':', '@']))
}

/// The entry a reference names, as `find` finds it, or an error saying it is not cached.
pub fn entry(cache: &Cache, r: &Ref) -> Result<(Ref, Entry)> {
    if let Some(found) = find(cache, r, &Wanted::default())? {
        return Ok(found);
    }
    // Without a tag, the newest stable version is wanted: say which tags are there instead
    // (prereleases, tags that are no version).
    if r.tag.is_some() || r.digest.is_some() {
        return Err(not_cached(&r.to_string()));
    }
    let (index, prefix) = (cache.index()?, format!("{}/{}:", r.registry, r.repository));
    let tags: Vec<&str> = index.manifests.iter().filter_map(|e| e.reference()?.strip_prefix(&prefix)).collect();
    if tags.is_empty() {
        return Err(not_cached(&r.to_string()));
    }
    Err(Error::not_found(
        r.to_string(),
        format!("no stable version of it is in the chart cache; name one of its tags there: {}", tags.join(", ")),
    ))
}

/// Verifies that the cache holds each of these blobs whole; one it lacks is an error.
pub fn require<'d>(cache: &Cache, blobs: impl IntoIterator<Item = &'d Descriptor>, subject: &str) -> Result<()> {
    for blob in blobs {
        if !cache.verify(blob)? {
            return Err(not_cached(&format!("{subject}: blob {}", blob.digest)));
        }
    }
    Ok(())
}

/// A cached manifest, read and verified.
pub fn manifest(cache: &Cache, entry: &Entry, subject: &str) -> Result<(Vec<u8>, Manifest)> {
    let descriptor = Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size);
    let bytes = cache.read(&descriptor)?.ok_or_else(|| not_cached(subject))?;
    let manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid_chart(subject, format!("the manifest is not valid: {e}")))?;
    Ok((bytes, manifest))
}

pub fn not_cached(subject: &str) -> Error {
    Error::not_found(subject, "it is not in the chart cache")
}

/// A chart archive, as the cache holds it or rebuilt from a legacy layout.
pub enum Archive {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Archive {
    fn reader(&self) -> Result<Box<dyn Read + '_>> {
        Ok(match self {
            Archive::File(path) => Box::new(io::BufReader::new(File::open(path).map_err(|e| Error::io(path, e))?)),
            Archive::Bytes(bytes) => Box::new(&bytes[..]),
        })
    }
}

/// The chart's metadata and archive, from its blobs (present and verified in the cache).
pub fn chart(cache: &Cache, layers: &ChartLayers, limits: &Limits, subject: &str) -> Result<(Metadata, Archive)> {
    let read = |blob: &Descriptor| cache.read(blob)?.ok_or_else(|| not_cached(&format!("blob {}", blob.digest)));
    match layers {
        ChartLayers::Packaged { config, chart, .. } => {
            let meta = Metadata::from_config(&read(config)?, subject)?;
            Ok((meta, Archive::File(cache.blob_path(&chart.digest)?)))
        }
        ChartLayers::Split { meta, content, name, version, .. } => {
            let path = cache.blob_path(&content.digest)?;
            let file = io::BufReader::new(File::open(&path).map_err(|e| Error::io(&path, e))?);
            let (meta, tgz) =
                legacy::rebuild(file, &read(meta)?, name, version, *limits).map_err(|why| unloadable(subject, why))?;
            Ok((meta, Archive::Bytes(tgz)))
        }
    }
}

/// Writes the archive into `dest` as the file `name`, once it has loaded as the chart the
/// config describes.
pub fn write_archive(
    archive: &Archive,
    (dest, name): (&Path, &str),
    meta: &Metadata,
    limits: &Limits,
    subject: &str,
) -> Result<PathBuf> {
    let mut tgz = TempFile::create_in(dest)?;
    let temp = tgz.path().to_path_buf();
    io::copy(&mut archive.reader()?, tgz.file()).map_err(|e| Error::io(&temp, e))?;
    let reader = io::BufReader::new(File::open(&temp).map_err(|e| Error::io(&temp, e))?);
    let chart = archive::load(reader, &Loader::new(*limits, false), 0).map_err(|why| unloadable(subject, why))?;
    same_chart(&chart.meta, meta, subject)?;
    let path = dest.join(name);
    tgz.persist(&path)?;
    Ok(path)
}

/// Writes the chart's provenance file, verified, beside its archive as `<archive>.prov`
/// (where Helm's `--verify` looks for it); None if the chart has none.
pub fn write_provenance(cache: &Cache, layers: &ChartLayers, archive: &Path, subject: &str) -> Result<Option<PathBuf>> {
    let ChartLayers::Packaged { prov: Some(prov), .. } = layers else { return Ok(None) };
    let bytes = cache.read(prov)?.ok_or_else(|| not_cached(subject))?;
    let path = PathBuf::from(format!("{}.prov", archive.display()));
    write_atomically(archive.parent().unwrap_or(Path::new(".")), &path, &bytes)?;
    Ok(Some(path))
}

/// What unpacking may do with a `<dest>/<name>` already there.
#[derive(Clone, Copy, PartialEq)]
pub enum Existing {
    /// Refuse it, whatever it is (`pull --untar`, as Helm does).
    Refuse,
    /// Replace it if it is an empty directory.
    ReplaceEmpty,
    /// Replace it (`export --force`).
    Replace,
}

/// Unpacks the archive as `<dest>/<chart name>/`, checked on the way and moved into place
/// only once complete.
pub fn unpack(
    archive: &Archive,
    dest: &Path,
    meta: &Metadata,
    limits: &Limits,
    subject: &str,
    existing: Existing,
) -> Result<PathBuf> {
    let target = dest.join(&meta.name);
    occupied(&target, existing)?;
    let staging = TempDir::create_in(dest)?;
    let (chart, unpacked) =
        archive::unpack(archive.reader()?, staging.path(), &Loader::new(*limits, false)).map_err(|e| match e {
            Unpacking::Chart(why) => unloadable(subject, why),
            Unpacking::Write(why) => Error::new(Kind::Io, "failed to untar", why),
        })?;
    same_chart(&chart.meta, meta, subject)?;
    place(&unpacked, &target, staging.path(), existing)?;
    Ok(target)
}

/// Whether `target` is there to be replaced; an error if `existing` does not allow it.
fn occupied(target: &Path, existing: Existing) -> Result<bool> {
    match fs::symlink_metadata(target) {
        Err(_) => Ok(false),
        Ok(m) if existing == Existing::Replace && m.is_dir() => Ok(true),
        Ok(m) if existing == Existing::ReplaceEmpty && m.is_dir() && is_empty(target) => Ok(true),
        Ok(_) if existing == Existing::Refuse => Err(Error::new(
            Kind::Io,
            "failed to untar",
            format!("a file or directory with the name {} already exists", target.display()),
        )),
        Ok(m) => {
            let why =
                if m.is_dir() { "it is not an empty directory (--force replaces it)" } else { "it is not a directory" };
            Err(Error::new(Kind::Io, target.display().to_string(), why))
        }
    }
}

/// Moves the unpacked chart to `target`. The old directory goes only once the new one is
/// complete, by way of the staging directory, and comes back if the new one cannot take its
/// place. Another run may be placing a chart there at the same time (parallel exports into
/// one directory): when `target` comes or goes between the look and the move, it is looked
/// at again, so that the run either replaces it or refuses it as `existing` says, never
/// failing on the race itself.
fn place(unpacked: &Path, target: &Path, staging: &Path, existing: Existing) -> Result<()> {
    const LOOKS: usize = 8;
    let mut look = 0;
    loop {
        look += 1;
        let last = look == LOOKS;
        let was_there = occupied(target, existing)?;
        let old = staging.join(format!("replaced-{look}"));
        if was_there {
            match granted::rename(target, &old) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound && !last => continue,
                Err(e) => return Err(Error::io(target, e)),
            }
        }
        let Err(e) = granted::rename(unpacked, target) else { return Ok(()) };
        if was_there {
            let _ = granted::rename(&old, target);
        }
        let another_came =
            matches!(e.kind(), ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists | ErrorKind::NotADirectory);
        if !another_came || last {
            return Err(Error::io(target, e));
        }
    }
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// What the archive holds must be the chart the config describes.
fn same_chart(loaded: &Metadata, config: &Metadata, subject: &str) -> Result<()> {
    if loaded.name != config.name || loaded.version != config.version {
        return Err(Error::invalid_chart(
            subject,
            format!(
                "the chart layer holds {} {} where the config says {} {}",
                loaded.name, loaded.version, config.name, config.version
            ),
        ));
    }
    Ok(())
}

pub fn unloadable(subject: &str, why: String) -> Error {
    Error::invalid_chart(format!("{subject}: the chart layer is not a chart Helm can load"), why)
}
