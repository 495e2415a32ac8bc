//! Crash-safe writes: everything goes to a hidden temp name beside its destination and is
//! renamed into place only when complete; a failed or killed run leaves no trusted file
//! behind. The rename is what makes this safe against a killed process; there is no fsync,
//! which would only guard against a lost machine and costs milliseconds per file.
//!
//! Temp names carry the run's id (`HELM_OCI_RUN` from the host, else a random one), so a
//! host that stops a run can remove exactly its leftovers; and a run sweeps a directory of
//! leftovers older than `STALE` before it writes there, since a killed run cleans nothing.

use super::granted::{self, Writer};
use crate::error::{Error, Result};
use crate::net::clock;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Prefix of every temporary name, so leftovers are recognisable.
pub const TEMP_PREFIX: &str = ".helm-oci-";
/// A temp file untouched this long belongs to no live run: a live run writes to its
/// files continuously, and gives up on a registry silent for two minutes.
const STALE: Duration = Duration::from_secs(600);

thread_local! {
    static RUN: String = run_id();
    /// The directories this run has swept already.
    static SWEPT: std::cell::RefCell<std::collections::HashSet<PathBuf>> = Default::default();
}

/// This run's id, which its temp files carry.
pub fn run() -> String {
    RUN.with(String::clone)
}

/// The id the host gave this run, if it is a plain hex id, else a random one.
fn run_id() -> String {
    let given = wasip2::cli::environment::get_environment()
        .into_iter()
        .find_map(|(k, v)| (k == "HELM_OCI_RUN").then_some(v))
        .filter(|v| !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    given.unwrap_or_else(|| format!("{:016x}", wasip2::random::random::get_random_u64()))
}

/// A fresh temp name in `dir`, after sweeping the directory of stale ones (once a run: a
/// run writing many blobs into the cache would list its blob directory for each).
fn temp_path(dir: &Path, suffix: &str) -> PathBuf {
    if SWEPT.with(|swept| swept.borrow_mut().insert(dir.to_path_buf())) {
        sweep(dir);
    }
    let id = wasip2::random::random::get_random_u64();
    RUN.with(|run| dir.join(format!("{TEMP_PREFIX}{run}-{id:016x}{suffix}")))
}

/// Whether `name` is one a run makes (see `temp_path`; the cache lock's `.stale-lock` too):
/// the prefix alone would take a user's `.helm-oci-notes`, or a chart named `.helm-oci-x`.
pub fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { return false };
    let Some(rest) = [".tmp", ".d", ".stale-lock"].iter().find_map(|suffix| rest.strip_suffix(suffix)) else {
        return false;
    };
    let hex = |s: &str, most: usize| (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    rest.split_once('-').is_some_and(|(run, id)| hex(run, 32) && id.len() == 16 && hex(id, 16))
}

/// Now, by the clock of the file system `dir` is on, as a file just written there is
/// stamped: a directory on a file server (NFS, SMB) is stamped by the server's clock, which
/// may be far from this machine's. This machine's clock if nothing can be written there.
pub fn file_system_now(dir: &Path) -> SystemTime {
    let stamped = TempFile::create_in(dir).ok().and_then(|probe| fs::metadata(probe.path()).ok()?.modified().ok());
    stamped.unwrap_or_else(|| SystemTime::UNIX_EPOCH + Duration::from_secs(clock::wall_seconds().max(0) as u64))
}

/// Removes what killed runs left in `dir`: temp names untouched for `STALE`, by the file
/// system's clock. Best effort.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    // The clock is read (a file written and removed) only once there is a leftover to age:
    // most runs find none.
    let mut now = None;
    for entry in entries.flatten() {
        if !is_temp_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let now = *now.get_or_insert_with(|| file_system_now(dir));
        let stale = meta.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age > STALE);
        if stale {
            let path = entry.path();
            let _ = if meta.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
        }
    }
}

/// A file being written; removed on drop unless persisted.
pub struct TempFile {
    path: PathBuf,
    file: Option<Writer>,
}

impl TempFile {
    pub fn create_in(dir: &Path) -> Result<TempFile> {
        let path = temp_path(dir, ".tmp");
        let file = granted::create_new(&path).map_err(|e| Error::io(dir, e))?;
        Ok(TempFile { path, file: Some(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&mut self) -> &mut Writer {
        self.file.as_mut().expect("the file is open until persisted")
    }

    /// Closes the file and renames it over `to`.
    pub fn persist(mut self, to: &Path) -> Result<()> {
        drop(self.file.take());
        granted::rename(&self.path, to).map_err(|e| Error::io(to, e))?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` as the file `to` (in the granted `dir`) through a temp file and a rename:
/// readers see the old file or the new one, never part of one.
pub fn write_atomically(dir: &Path, to: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = TempFile::create_in(dir)?;
    file.file().write_all(bytes).map_err(|e| Error::io(to, e))?;
    file.persist(to)
}

/// A directory being filled; removed with its content on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn create_in(dir: &Path) -> Result<TempDir> {
        let path = temp_path(dir, ".d");
        granted::create_dir_all(&path).map_err(|e| Error::io(dir, e))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_a_run_makes_are_temp_names() {
        for ours in [
            ".helm-oci-00002e290f32b50b-3e5553b5e88c379b.tmp",
            ".helm-oci-ab-0123456789abcdef.d",
            ".helm-oci-00002e290f32b50b-81f2d01458fdeb0c.stale-lock",
        ] {
            assert!(is_temp_name(ours), "{ours}");
        }
        for theirs in [
            ".helm-oci-notes",
            ".helm-oci-config.yaml",
            ".helm-oci-x-1.0.0.tgz",
            ".helm-oci-ab-0123456789abcdef.tgz",
            ".helm-oci-ab-0123456789abcdeg.tmp",
            ".helm-oci--0123456789abcdef.tmp",
            "helm-oci-ab-0123456789abcdef.tmp",
        ] {
            assert!(!is_temp_name(theirs), "{theirs}");
        }
    }
}
