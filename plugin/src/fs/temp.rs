//! Crash-safe writes: everything goes to a hidden temp name beside its destination and is
//! renamed into place only when complete; a failed or killed run leaves no trusted file behind.
//! The rename is what makes this safe against a killed process; there is no fsync, which
//! would only guard against a lost machine and costs milliseconds per file.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

/// Prefix of every temporary name, so leftovers of a killed run are recognisable.
pub const TEMP_PREFIX: &str = ".helm-oci-";

fn temp_path(dir: &Path, suffix: &str) -> PathBuf {
    let id = wasip2::random::random::get_random_u64();
    dir.join(format!("{TEMP_PREFIX}{id:016x}{suffix}"))
}

/// A file being written; removed on drop unless persisted.
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    pub fn create_in(dir: &Path) -> Result<TempFile> {
        let path = temp_path(dir, ".tmp");
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TempFile { path, file: Some(file) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("the file is open until persisted")
    }

    /// Closes the file and renames it over `to`.
    pub fn persist(mut self, to: &Path) -> Result<()> {
        drop(self.file.take());
        fs::rename(&self.path, to).map_err(|e| Error::io(to, e))?;
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

/// A directory being filled; removed with its content on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn create_in(dir: &Path) -> Result<TempDir> {
        let path = temp_path(dir, ".d");
        fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
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
