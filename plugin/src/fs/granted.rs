//! Writing through the directories the host granted, with wasi:filesystem itself rather
//! than wasi-libc: a file is opened relative to its granted directory with only the rights
//! the write needs (no `mutate-directory`, which some hosts, jco's among them, refuse), and
//! a failure keeps its cause (no space left on device, read-only file system).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags};

thread_local! {
    /// The granted directories, asked of the host once.
    static GRANTED: Vec<(Descriptor, PathBuf)> =
        get_directories().into_iter().map(|(d, path)| (d, PathBuf::from(path))).collect();
}

/// Runs `f` with the granted directory holding `path` and the path relative to it.
fn within<T>(path: &Path, f: impl FnOnce(&Descriptor, &str) -> io::Result<T>) -> io::Result<T> {
    GRANTED.with(|granted| {
        let (dir, rel) = granted
            .iter()
            .filter_map(|(d, root)| path.strip_prefix(root).ok().map(|rel| (d, rel)))
            .max_by_key(|(_, rel)| std::cmp::Reverse(rel.components().count()))
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::PermissionDenied, "not in a directory this command may write")
            })?;
        let rel = rel.to_str().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a UTF-8 path"))?;
        f(dir, rel)
    })
}

/// A file being written from its start.
pub struct Writer {
    file: Descriptor,
    offset: u64,
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf, self.offset).map_err(error)?;
        self.offset += n;
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Creates a file that must not exist yet.
pub fn create_new(path: &Path) -> io::Result<Writer> {
    within(path, |dir, rel| {
        let file = dir
            .open_at(PathFlags::empty(), rel, OpenFlags::CREATE | OpenFlags::EXCLUSIVE, DescriptorFlags::WRITE)
            .map_err(error)?;
        Ok(Writer { file, offset: 0 })
    })
}

/// Opens a file this run wrote before, to write it again from its start.
pub fn rewrite(path: &Path) -> io::Result<Writer> {
    within(path, |dir, rel| {
        let file = dir.open_at(PathFlags::empty(), rel, OpenFlags::TRUNCATE, DescriptorFlags::WRITE).map_err(error)?;
        Ok(Writer { file, offset: 0 })
    })
}

/// Replaces a file's content, `expected`, with `new` of the same length, through one handle,
/// so that what was checked is what is written over; false, and nothing written, if the
/// file holds anything else.
pub fn swap(path: &Path, expected: &[u8], new: &[u8]) -> io::Result<bool> {
    if expected.len() != new.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a swap keeps the file's length"));
    }
    within(path, |dir, rel| {
        let file = dir
            .open_at(PathFlags::empty(), rel, OpenFlags::empty(), DescriptorFlags::READ | DescriptorFlags::WRITE)
            .map_err(error)?;
        let (held, _) = file.read(expected.len() as u64 + 1, 0).map_err(error)?;
        if held != expected {
            return Ok(false);
        }
        Writer { file, offset: 0 }.write_all(new)?;
        Ok(true)
    })
}

/// Creates a directory and the missing ones above it, within a granted directory.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    within(path, |dir, rel| {
        let mut made = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            made = if made.is_empty() { part.to_string() } else { format!("{made}/{part}") };
            match dir.create_directory_at(&made) {
                Ok(()) | Err(ErrorCode::Exist) => {}
                Err(e) => return Err(error(e)),
            }
        }
        Ok(())
    })
}

/// Renames, each path taken relative to its own granted directory.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    within(from, |from_dir, from| within(to, |to_dir, to| from_dir.rename_at(from, to_dir, to).map_err(error)))
}

/// A wasi:filesystem failure as an I/O error that says what happened.
fn error(code: ErrorCode) -> io::Error {
    use io::ErrorKind as K;
    let (kind, why) = match code {
        ErrorCode::InsufficientSpace => (K::Other, "no space left on device"),
        ErrorCode::ReadOnly => (K::Other, "read-only file system"),
        ErrorCode::Quota => (K::Other, "disk quota exceeded"),
        ErrorCode::Exist => (K::AlreadyExists, "it already exists"),
        ErrorCode::NoEntry => (K::NotFound, "no such file or directory"),
        ErrorCode::Access | ErrorCode::NotPermitted => (K::PermissionDenied, "permission denied"),
        ErrorCode::NotDirectory => (K::NotADirectory, "not a directory"),
        ErrorCode::IsDirectory => (K::IsADirectory, "is a directory"),
        ErrorCode::NameTooLong => (K::Other, "file name too long"),
        ErrorCode::Loop => (K::Other, "too many levels of symbolic links"),
        ErrorCode::FileTooLarge => (K::Other, "file too large"),
        ErrorCode::NotEmpty => (K::DirectoryNotEmpty, "directory not empty"),
        ErrorCode::Busy => (K::Other, "device or resource busy"),
        ErrorCode::TextFileBusy => (K::Other, "text file busy"),
        ErrorCode::Io => (K::Other, "input/output error"),
        ErrorCode::CrossDevice => (K::Other, "invalid cross-device link"),
        // The rest by their WASI names (`would-block` as "would block"), never as a struct.
        other => return io::Error::other(other.name().replace('-', " ")),
    };
    io::Error::new(kind, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_reads_as_words() {
        assert_eq!(error(ErrorCode::NotEmpty).to_string(), "directory not empty");
        assert_eq!(error(ErrorCode::WouldBlock).to_string(), "would block");
        assert_eq!(error(ErrorCode::NoEntry).kind(), io::ErrorKind::NotFound);
    }
}
