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

/// Removes what a reference names from the cache, and the blobs nothing else uses: by tag,
/// that entry (with a digest too, only if it holds that manifest); by digest alone, every
/// entry of that manifest in the repository, so that it is gone however it was cached.
/// Returns the entries removed and what was collected.
pub fn remove(cache: &Path, reference: &Ref) -> Result<(Vec<Entry>, Collected)> {
    let cache = Cache::open(cache);
    let subject = reference.to_string();
    let (removed, collected) = match (&reference.tag, &reference.digest) {
        (Some(_), digest) => {
            let name = Ref { digest: None, ..reference.clone() }.to_string();
            cache
                .remove(|e| e.reference() == Some(name.as_str()) && digest.as_ref().is_none_or(|d| e.is_named_by(d)))?
        }
        (None, Some(digest)) => cache.remove(|e| e.is_named_by(digest) && held::in_repository(e, reference))?,
        (None, None) => {
            return Err(Error::invalid_reference(format!("cannot remove {subject}"), "give its tag or digest"));
        }
    };
    if removed.is_empty() {
        return Err(held::not_cached(&subject));
    }
    Ok((removed, collected))
}

pub fn prune(cache: &Path) -> Result<Collected> {
    Cache::open(cache).prune()
}
