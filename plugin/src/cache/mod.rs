//! The local chart cache: an OCI image layout (image-spec `image-layout.md`), the format
//! Helm 3.0–3.6's cache used and that oras, crane and regctl read:
//!
//! ```text
//! <cache>/oci-layout            {"imageLayoutVersion":"1.0.0"}
//! <cache>/index.json            one entry per reference, annotated with its full name
//! <cache>/index.json.lock       held while index.json is rewritten
//! <cache>/blobs/sha256/<hex>    manifests, configs and chart layers, each kept once
//! <cache>/incoming/             blobs and listings being written
//! <cache>/listed/<hash>.json    each repository's tags and manifests, as last listed
//! ```
//!
//! Blobs are named by their content, so writing one needs no lock: it is written under a
//! temp name in `incoming/`, verified, and renamed into place. Not beside the blobs: a run
//! sweeps the directory it writes temp files in of what killed runs left there, and listing
//! tens of thousands of blobs would cost more than the pull it precedes. Only `index.json`
//! is shared mutable state; it is rewritten whole (temp file, rename) under a lock file
//! created exclusively (there is no `flock` in wasi:filesystem). Every read of a blob
//! verifies its digest.

mod blobs;
mod gc;
pub mod held;
mod index;
pub mod listed;
mod lock;

pub use gc::Collected;
pub use index::{Entry, Index, Shown};

use crate::error::{Error, Result};
use crate::fs::granted;
use crate::fs::temp;
use crate::oci::helm::Descriptor;
use std::path::{Path, PathBuf};

const LAYOUT_FILE: &str = "oci-layout";
/// Where blobs and listing memories are written before they are renamed into place. The
/// host knows the name too: it removes a stopped run's temp files from there.
const INCOMING: &str = "incoming";
const LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// A cache directory, granted by the host.
#[derive(Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens a cache for reading; a directory that is not one yet reads as empty.
    pub fn open(root: &Path) -> Cache {
        Cache { root: root.to_path_buf() }
    }

    /// Opens a cache for writing, laying it out if it is new.
    pub fn create(root: &Path) -> Result<Cache> {
        let cache = Cache::open(root);
        let blobs = cache.blob_dir();
        // Made only if missing: a cache laid out already may be mounted read-only, and an
        // offline pull of what it holds writes nothing there.
        if !blobs.is_dir() {
            granted::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        }
        let layout = root.join(LAYOUT_FILE);
        if !layout.is_file() {
            temp::write_atomically(root, &layout, LAYOUT.as_bytes())?;
        }
        Ok(cache)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn incoming_dir(&self) -> PathBuf {
        self.root.join(INCOMING)
    }

    /// `incoming/`, made on the first write: a cache laid out before it existed may be
    /// mounted read-only, and must still serve reads.
    fn incoming(&self) -> Result<PathBuf> {
        let dir = self.incoming_dir();
        if !dir.is_dir() {
            granted::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        Ok(dir)
    }

    /// The index as it stands; entries may change as soon as it is read.
    pub fn index(&self) -> Result<Index> {
        Index::read(&self.root)
    }

    /// Puts `entry` in the index in place of any entry of the same name, once every blob
    /// it needs is present: another process's garbage collection may have removed one
    /// since it was written, and then the caller must write it again (`Missing`).
    pub fn tag(&self, entry: Entry, blobs: &[&Descriptor]) -> Result<Tagged> {
        // An entry already saying this stays as it is, unlocked and unwritten: its `created`
        // says when the content entered the cache.
        if self.index()?.manifests.iter().any(|e| e.says_as(&entry)) && blobs.iter().all(|b| self.has(b)) {
            return Ok(Tagged::Done);
        }
        let (lock, mut index) = self.locked()?;
        let missing: Vec<String> = blobs.iter().filter(|b| !self.has(b)).map(|b| b.digest.clone()).collect();
        if !missing.is_empty() {
            return Ok(Tagged::Missing(missing));
        }
        let name = entry.reference().map(str::to_string);
        index.manifests.retain(|e| e.reference().map(str::to_string) != name);
        index.manifests.push(entry);
        index.manifests.sort_by(|a, b| a.reference().cmp(&b.reference()));
        self.commit(&lock, &index)?;
        Ok(Tagged::Done)
    }

    /// Removes the entries `named` picks (as the index stands under the lock), then the
    /// blobs nothing else uses (the index is written first: a failure between the two
    /// leaves unused blobs, never an entry without its blobs). Returns the entries and what
    /// was collected.
    pub fn remove(&self, named: impl Fn(&Entry) -> bool) -> Result<(Vec<Entry>, Collected)> {
        let (lock, mut index) = self.locked()?;
        let (removed, kept) = index.manifests.into_iter().partition(|e| named(e));
        index.manifests = kept;
        if removed.is_empty() {
            return Ok((removed, Collected::default()));
        }
        self.commit(&lock, &index)?;
        let collected = gc::collect(self, &lock, &index, &removed)?;
        Ok((removed, collected))
    }

    /// Deletes every blob no entry uses (but recent ones) and leftovers of killed runs.
    pub fn prune(&self) -> Result<Collected> {
        let (lock, index) = self.locked()?;
        // What listings remember is only a hint, and grows with every repository listed.
        listed::forget(self);
        gc::collect(self, &lock, &index, &[])
    }

    /// The lock, and the index as it stands under it.
    fn locked(&self) -> Result<(lock::Lock, Index)> {
        let lock = lock::Lock::acquire(&self.root)?;
        let index = Index::read(&self.root)?;
        Ok((lock, index))
    }

    /// Writes the index back, if the lock is still this run's.
    fn commit(&self, lock: &lock::Lock, index: &Index) -> Result<()> {
        if !lock.held() {
            return Err(Error::new(
                crate::error::Kind::Io,
                self.root.display().to_string(),
                "this run was too slow to keep the chart cache's lock (another took it over); try again",
            ));
        }
        index.write(&self.root)
    }
}

/// Whether an entry went into the index.
#[must_use]
pub enum Tagged {
    Done,
    /// These blobs were gone when the entry was to be added.
    Missing(Vec<String>),
}

/// How many times a writer puts its blobs back when another process's garbage collection
/// removed one before its entry went into the index.
pub const TAG_TRIES: usize = 3;

/// The blobs went each time they were put back (something is pruning in a loop).
pub fn kept_removing(cache: &Path) -> Error {
    Error::new(
        crate::error::Kind::Io,
        cache.display().to_string(),
        "another helm-oci kept removing this chart's blobs from the cache",
    )
}
