//! Directories of a run's own, for what the component writes before the host hands it on.

use anyhow::{Context, Result, bail};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A directory of this run's own in the system's temp directory (mode 0700), removed with
/// what is in it when dropped, however the command ends. The run holds a lock on a file in
/// it while it lives, which tells a later run's sweep that it is in use.
pub struct TempDir {
    path: PathBuf,
    _held: fs::File,
}

/// The file in a run's temp directory that the run holds locked.
const HELD: &str = ".held";

impl TempDir {
    pub fn create() -> Result<TempDir> {
        let parent = super::absolute(&std::env::temp_dir())?;
        sweep(&parent);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        for attempt in 0.. {
            let dir = parent.join(format!("helm-oci-{}-{nanos:x}-{attempt}", std::process::id()));
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => continue,
                made => {
                    made.with_context(|| format!("cannot create a temp directory in {}", parent.display()))?;
                    let held = fs::File::create(dir.join(HELD)).and_then(|held| held.lock().map(|()| held));
                    let held = held.with_context(|| format!("cannot create a temp directory in {}", parent.display()));
                    if held.is_err() {
                        let _ = fs::remove_dir_all(&dir);
                    }
                    return Ok(TempDir { path: dir, _held: held? });
                }
            }
        }
        unreachable!("the loop returns by its 100th attempt")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file the component says it wrote, which must be directly in this directory.
    pub fn file(&self, written: &str) -> Result<PathBuf> {
        let path = PathBuf::from(written);
        // Its own metadata, not a link's target's: a symlink is refused.
        let is_file = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
        if path.parent() != Some(self.path()) || !is_file {
            bail!("the pulled chart {written:?} is not a file in {}", self.path.display());
        }
        Ok(path)
    }
}

/// Removes the directories of runs that were killed (SIGKILL, a machine that went down)
/// before they could: this user's `helm-oci-PID-…` directories over an hour old whose lock
/// no run holds (the system lets go of a killed run's).
fn sweep(parent: &Path) {
    use std::os::unix::fs::MetadataExt;
    const STALE: std::time::Duration = std::time::Duration::from_secs(3600);
    // SAFETY: getuid(2) has no failure modes and no memory effects.
    let uid = unsafe { libc::getuid() };
    let ours = |name: &str| {
        let parts: Vec<&str> = name.strip_prefix("helm-oci-").map(|rest| rest.split('-').collect()).unwrap_or_default();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
        let stale = entry.metadata().is_ok_and(|m| {
            m.is_dir() && m.uid() == uid && m.modified().is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE))
        });
        let unheld = || match fs::File::open(entry.path().join(HELD)) {
            Ok(held) => held.try_lock().is_ok(),
            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        };
        if stale && ours(&entry.file_name().to_string_lossy()) && unheld() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
