//! The cache's own commands: `list`, `export`, `remove` and `prune`. None makes a request.

use crate::cache::held::{self, Existing};
use crate::cache::{Cache, Collected, Entry};
use crate::chart::load::Limits;
use crate::error::{Error, Result};
use crate::oci::reference::Ref;
use std::path::{Path, PathBuf};

/// Every cached reference (entries other tools wrote without a name are not).
pub fn list(cache: &Path) -> Result<Vec<Entry>> {
    Ok(Cache::open(cache).index()?.manifests.into_iter().filter(|e| e.reference().is_some()).collect())
}

pub struct Export {
    pub cache: PathBuf,
    /// Without tag or digest, the newest cached stable version.
    pub reference: Ref,
    pub destination: PathBuf,
    pub force: bool,
    pub limits: Limits,
}

/// Writes a cached chart out as `<destination>/<name>/`, verified and loaded first.
pub fn export(export: Export) -> Result<(Entry, PathBuf)> {
    let cache = Cache::open(&export.cache);
    let (r, entry) = held::entry(&cache, &export.reference)?;
    let subject = r.to_string();
    let (_, manifest) = held::manifest(&cache, &entry, &subject)?;
    let layers = manifest.chart_layers(&subject)?;
    held::require(&cache, layers.blobs(), &subject)?;
    let (meta, archive) = held::chart(&cache, &layers, &export.limits, &subject)?;
    let existing = if export.force { Existing::Replace } else { Existing::ReplaceEmpty };
    let path = held::unpack(&archive, &export.destination, &meta, &export.limits, &subject, existing)?;
    Ok((entry, path))
}

/// Removes a cached reference (named by its tag or digest) and the blobs nothing else
/// uses; the bytes freed.
pub fn remove(cache: &Path, reference: &Ref) -> Result<(Entry, u64)> {
    let cache = Cache::open(cache);
    let subject = reference.to_string();
    if reference.tag.is_none() && reference.digest.is_none() {
        return Err(Error::invalid_reference(format!("cannot remove {subject}"), "give its tag or digest"));
    }
    let (_, entry) = held::entry(&cache, reference)?;
    // Gone meanwhile (another process removed it) reads as not cached, too.
    let removed = match entry.reference() {
        Some(name) => cache.remove(name)?,
        None => None,
    };
    removed.ok_or_else(|| held::not_cached(&subject))
}

pub fn prune(cache: &Path) -> Result<Collected> {
    Cache::open(cache).prune()
}
