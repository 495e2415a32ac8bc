//! Garbage collection, run under the index's lock: a blob no entry uses is deleted. One
//! written in the last `GRACE` is spared, since another process may have written it for an
//! entry it is about to add; the blobs of an entry just removed are not, since they were in
//! use until now (a process that was about to reuse one finds it gone when it adds its
//! entry, and writes it again). What an entry uses is read from its manifest, or from an
//! image index and the manifests it names (other tools keep those): while one of them
//! cannot be read, what an entry uses is unknown, and nothing is deleted.

use super::lock::Lock;
use super::{Cache, Entry, Index};
use crate::error::{Error, Result};
use crate::fs::temp;
use crate::net::clock;
use crate::oci::helm::Descriptor;
use crate::oci::manifests::INDEX_DEPTH;
use std::collections::HashSet;
use std::fs;
use std::time::Duration;

const GRACE: Duration = Duration::from_secs(3600);
/// How often a collection keeps its lock fresh: well within the lock's 30 s.
const KEEP_EVERY: u64 = 5 * clock::SECOND;

/// What a collection deleted.
#[derive(Default)]
pub struct Collected {
    pub blobs: u32,
    pub freed: u64,
    /// The entry (its reference, else its digest) whose manifest could not be read, which
    /// held the collection back.
    pub held_back: Option<String>,
    /// The lock was lost while blobs were deleted: the rest were left.
    pub cut_short: bool,
}

/// Deletes the blobs `index` does not use: those of `removed` (entries just taken out of
/// it) at once, any other once older than `GRACE`. Leftovers of killed runs go too. `lock`
/// is the index's, held by the caller.
pub fn collect(cache: &Cache, lock: &Lock, index: &Index, removed: &[Entry]) -> Result<Collected> {
    let mut used = HashSet::new();
    for entry in &index.manifests {
        // The image index a chart's manifest was pulled through is kept with it, to show
        // that the index names that manifest (see `oci::wrapped`).
        used.insert(hex(entry.named_digest()));
        if !uses(cache, &descriptor(entry), &mut used, 0) {
            let named = entry.reference().unwrap_or(&entry.digest).to_string();
            return Ok(Collected { held_back: Some(named), ..Collected::default() });
        }
    }
    let mut released = HashSet::new();
    for entry in removed {
        released.insert(hex(entry.named_digest()));
        uses(cache, &descriptor(entry), &mut released, 0);
    }
    temp::sweep(&cache.incoming_dir());
    // Runs before the cache kept its temp files in incoming/ left theirs among the blobs.
    let dir = cache.blob_dir();
    temp::sweep(&dir);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Collected::default()),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    // Blobs are aged by the file system's clock: a shared cache on a file server is
    // stamped by the server's, which may be off from this machine's by more than `GRACE`.
    let now = temp::file_system_now(&dir);
    let mut collected = Collected::default();
    let mut kept_at = None;
    for entry in entries.flatten() {
        // The lock is checked before the first deletion, and a long collection keeps it
        // fresh, so that no waiter takes it for a killed run's. One that lost it anyway
        // (paused for longer than the lock's 30 s) deletes no more: another run may be
        // adding entries that use these blobs. What is left is unused, for the next one.
        // Both clocks count: the monotonic one stands still while a machine sleeps.
        let clocks = (clock::now(), clock::wall_seconds());
        let due = |(at, wall_at): (u64, i64)| {
            clocks.0.saturating_sub(at) > KEEP_EVERY || clocks.1.abs_diff(wall_at) > KEEP_EVERY / clock::SECOND
        };
        if kept_at.is_none_or(due) {
            if !lock.keep() {
                collected.cut_short = true;
                break;
            }
            kept_at = Some(clocks);
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if temp::is_temp_name(&name) || used.contains(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age > GRACE);
        if (released.contains(&name) || old) && fs::remove_file(entry.path()).is_ok() {
            collected.blobs += 1;
            collected.freed += meta.len();
        }
    }
    Ok(collected)
}

fn descriptor(entry: &Entry) -> Descriptor {
    Descriptor::new(&entry.media_type, entry.digest.clone(), entry.size)
}

/// Adds the hex digests of a manifest (or image index) and of everything it names to
/// `used`; false if it, or an index's manifest, cannot be read.
fn uses(cache: &Cache, manifest: &Descriptor, used: &mut HashSet<String>, depth: usize) -> bool {
    used.insert(hex(&manifest.digest));
    let Ok(Some(bytes)) = cache.read(manifest) else { return false };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { return false };
    let named = |key: &str| json.get(key).and_then(|v| serde_json::from_value::<Descriptor>(v.clone()).ok());
    let listed = |key: &str| {
        json.get(key).and_then(|v| serde_json::from_value::<Vec<Descriptor>>(v.clone()).ok()).unwrap_or_default()
    };
    for blob in named("config").into_iter().chain(named("subject")).chain(listed("layers")) {
        used.insert(hex(&blob.digest));
    }
    listed("manifests").iter().all(|m| depth < INDEX_DEPTH && uses(cache, m, used, depth + 1))
}

fn hex(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_string()
}
