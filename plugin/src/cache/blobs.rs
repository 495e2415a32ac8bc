//! Blobs in the cache, named by their sha256. One is written under a temp name in the
//! cache's `incoming/`, verified, and renamed into place; writing the same blob twice at
//! once is harmless. Reads verify the digest: a corrupt blob is deleted and reported as such.

use super::Cache;
use crate::digest::{self, Hasher};
use crate::error::{Error, Result};
use crate::fs::temp::TempFile;
use crate::oci::helm::Descriptor;
use crate::oci::manifests::MANIFEST_MAX;
use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::path::PathBuf;

impl Cache {
    /// Where a blob lives. Digests come from manifests and from `index.json`, which other
    /// programs may have written: only `sha256:` and 64 hex digits ever becomes a path.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        match digest.strip_prefix("sha256:") {
            Some(hex) if digest::is_valid(digest) => Ok(self.blob_dir().join(hex)),
            _ => Err(Error::invalid_chart(format!("blob {digest:?}"), "it is not named by a sha256 digest")),
        }
    }

    /// Whether the blob is present with its size (not yet whether its content is right).
    pub fn has(&self, blob: &Descriptor) -> bool {
        self.blob_path(&blob.digest)
            .is_ok_and(|path| fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == blob.size))
    }

    /// Reads a small blob whole and verifies it; None if it is not cached.
    pub fn read(&self, blob: &Descriptor) -> Result<Option<Vec<u8>>> {
        let path = self.blob_path(&blob.digest)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        self.verified(blob, (&digest::of_bytes(&bytes), bytes.len() as u64))?;
        Ok(Some(bytes))
    }

    /// A manifest blob, verified; None if it is not cached. Its size is unknown until read:
    /// at most what a manifest may be.
    pub fn manifest(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        // A digest in index.json that names no blob (another tool's doing) is no manifest.
        let Ok(path) = self.blob_path(digest) else { return Ok(None) };
        let size = fs::metadata(path).map_or(0, |m| m.len());
        if size == 0 || size > MANIFEST_MAX {
            return Ok(None);
        }
        self.read(&Descriptor::new("", digest.to_string(), size))
    }

    /// Reads a blob through and verifies it; false if it is not cached.
    pub fn verify(&self, blob: &Descriptor) -> Result<bool> {
        let path = self.blob_path(&blob.digest)?;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut hasher = Hasher::default();
        let mut buf = vec![0; 256 << 10];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        let (actual, size) = hasher.finish();
        self.verified(blob, (&actual, size))?;
        Ok(true)
    }

    /// A corrupt blob (its content is not what its name says) is deleted, so that the next
    /// fetch writes it again. A descriptor of the wrong size for a sound blob is only
    /// refused: the blob may be another entry's.
    fn verified(&self, blob: &Descriptor, (actual, size): (&str, u64)) -> Result<()> {
        let subject = format!("cached blob {}", blob.digest);
        if actual != blob.digest
            && let Ok(path) = self.blob_path(&blob.digest)
        {
            let _ = fs::remove_file(path);
        }
        digest::verify(&subject, (&blob.digest, blob.size), (actual, size))
    }

    /// Stores content (bytes, or a file) as a blob, verified against its descriptor. One
    /// already there is kept only if it verifies: a crash can leave a blob of the right size
    /// with the wrong bytes (zeros), and an entry must not be recorded over it.
    pub fn put(&self, blob: &Descriptor, mut content: impl Read) -> Result<()> {
        if self.has(blob) && self.verify(blob).is_ok_and(|sound| sound) {
            return Ok(());
        }
        let mut writer = self.writer(blob)?;
        io::copy(&mut content, &mut writer).map_err(|e| Error::io(&writer.path, e))?;
        writer.finish()
    }

    /// A blob being written: it is kept only if what was written is what it names.
    pub fn writer(&self, blob: &Descriptor) -> Result<BlobWriter> {
        let path = self.blob_path(&blob.digest)?;
        let file = TempFile::create_in(&self.incoming()?)?;
        Ok(BlobWriter { file, hasher: Hasher::default(), blob: blob.clone(), path })
    }
}

pub struct BlobWriter {
    file: TempFile,
    hasher: Hasher,
    blob: Descriptor,
    path: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.hasher.size()
    }

    /// Verifies what was written and puts it in place.
    pub fn finish(self) -> Result<()> {
        let (actual, size) = self.hasher.finish();
        digest::verify(&format!("blob {}", self.blob.digest), (&self.blob.digest, self.blob.size), (&actual, size))?;
        self.file.persist(&self.path)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.file().write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_digests_become_paths() {
        let cache = Cache::open(std::path::Path::new("/cache"));
        let hex = "a".repeat(64);
        assert_eq!(
            cache.blob_path(&format!("sha256:{hex}")).unwrap(),
            PathBuf::from(format!("/cache/blobs/sha256/{hex}"))
        );
        for bad in ["sha256:../../index.json", "sha512:aa", &hex, "sha256:ABC", ""] {
            assert!(cache.blob_path(bad).is_err(), "{bad}");
        }
    }
}
