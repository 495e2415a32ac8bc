//! `save`: a chart into the cache under a reference, with no network, laid out exactly as
//! `push` would push it (so that pushing it later needs no repackaging).

use super::artifact::Artifact;
use crate::cache::{self, Cache, Entry, Shown, TAG_TRIES, Tagged, held};
use crate::chart::directory::Links;
use crate::chart::load::Limits;
use crate::error::{Error, Result};
use crate::net::clock;
use crate::oci::helm::{self, Descriptor};
use crate::oci::upload::Content;
use std::fs::File;
use std::path::PathBuf;

pub struct Save {
    pub cache: PathBuf,
    /// A chart directory (packaged on the way) or a packaged `.tgz`.
    pub chart: PathBuf,
    /// `host/namespace` (saved as `<namespace>/<name>:<version>`), or a reference with a tag.
    pub reference: crate::oci::reference::Ref,
    /// A reference without a tag is the chart's repository, not a namespace.
    pub names_repository: bool,
    pub limits: Limits,
    pub source_date_epoch: Option<i64>,
    /// Where the chart directory's symlinks out of it lead.
    pub links: Links,
}

/// What was saved: the entry, and the artifact (for its digests).
pub struct Saved {
    pub entry: Entry,
    pub artifact: Artifact,
}

pub fn run(save: Save) -> Result<Saved> {
    let artifact = Artifact::build(
        &save.chart,
        &save.reference,
        save.names_repository,
        &save.limits,
        save.source_date_epoch,
        &save.links,
    )?;
    let cache = Cache::create(&save.cache)?;
    let manifest = Descriptor::of(helm::MANIFEST, &artifact.manifest);
    let shown = || Shown {
        name: &artifact.meta.name,
        version: &artifact.meta.version,
        size: artifact.layer.size,
        created: clock::wall_seconds(),
    };
    let blobs = artifact.blobs();
    let mut needed: Vec<&Descriptor> = blobs.iter().map(|(d, _)| *d).collect();
    needed.push(&manifest);
    for _ in 0..TAG_TRIES {
        for (blob, content) in &blobs {
            put(&cache, blob, content)?;
        }
        cache.put(&manifest, &artifact.manifest[..])?;
        let name = held::name_of(&artifact.target);
        let entry = Entry::new(&name, (helm::MANIFEST, &manifest.digest, manifest.size), shown());
        if let Tagged::Done = cache.tag(entry.clone(), &needed)? {
            return Ok(Saved { entry, artifact });
        }
    }
    Err(cache::kept_removing(&save.cache))
}

/// Stores a blob from memory or from its file.
fn put(cache: &Cache, blob: &Descriptor, content: &Content) -> Result<()> {
    match content {
        Content::Bytes(bytes) => cache.put(blob, *bytes),
        Content::File(path) => cache.put(blob, File::open(path).map_err(|e| Error::io(path, e))?),
        Content::Remote { .. } => unreachable!("a chart being saved is all local"),
    }
}
