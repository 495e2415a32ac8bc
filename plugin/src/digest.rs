//! sha256 digests computed while content streams past.

use crate::error::Result;
use crate::Error;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read, Write};

/// The `sha256:<hex>` digest of a byte slice.
pub fn of_bytes(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

fn format_digest(hash: &[u8]) -> String {
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Counts and hashes everything written through it.
pub struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing { inner, hasher: Sha256::new(), size: 0 }
    }

    /// The digest and size of what went through, and the inner writer or reader.
    pub fn finish(self) -> (String, u64, W) {
        (format_digest(&self.hasher.finalize()), self.size, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Checks content against the digest and size that named it.
pub fn verify(subject: &str, expected: (&str, u64), actual: (&str, u64)) -> Result<()> {
    if expected.1 != actual.1 {
        return Err(Error::mismatch(
            subject,
            format!("{} bytes", expected.1),
            format!("{} bytes", actual.1),
        ));
    }
    if expected.0 != actual.0 {
        return Err(Error::mismatch(subject, expected.0, actual.0));
    }
    Ok(())
}

/// Whether a string is a digest this client can verify.
pub fn is_valid(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_passes_through() {
        let mut w = Hashing::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (digest, size, inner) = w.finish();
        assert_eq!(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(size, 5);
        assert_eq!(inner, b"hello");
        assert_eq!(of_bytes(b"hello"), digest);
    }

    #[test]
    fn verify_names_size_and_digest_mismatches() {
        assert!(verify("x", ("sha256:a", 1), ("sha256:a", 1)).is_ok());
        assert!(matches!(verify("x", ("sha256:a", 1), ("sha256:a", 2)), Err(Error::DigestMismatch(_))));
        assert!(matches!(verify("x", ("sha256:a", 1), ("sha256:b", 1)), Err(Error::DigestMismatch(_))));
    }

    #[test]
    fn only_sha256_hex_is_valid() {
        assert!(is_valid(&of_bytes(b"")));
        assert!(!is_valid("sha256:ABC"));
        assert!(!is_valid("md5:00"));
    }
}
