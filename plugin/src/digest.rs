//! sha256 digests, computed while content streams past and checked before anything is kept.

use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

/// The `sha256:<hex>` digest of a byte slice.
pub fn of_bytes(bytes: &[u8]) -> String {
    format_digest(&Sha256::digest(bytes))
}

fn format_digest(hash: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Counts and hashes content fed to it piece by piece.
#[derive(Default, Clone)]
pub struct Hasher {
    hasher: Sha256,
    size: u64,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// How many bytes were fed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest and size of everything fed.
    pub fn finish(self) -> (String, u64) {
        (format_digest(&self.hasher.finalize()), self.size)
    }
}

/// A reader that hashes what it reads, so content is checked and hashed in one pass.
pub struct Hashing<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing { inner, hasher: Hasher::default() }
    }

    /// Reads what is left (a reader of an archive may stop at its end marker) and returns
    /// the digest and size of the whole.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.finish())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Checks content against the digest and size that named it.
pub fn verify(subject: &str, expected: (&str, u64), actual: (&str, u64)) -> Result<()> {
    if expected.1 != actual.1 {
        return Err(Error::mismatch(subject, format!("{} bytes", expected.1), format!("{} bytes", actual.1)));
    }
    if expected.0 != actual.0 {
        return Err(Error::mismatch(subject, expected.0, actual.0));
    }
    Ok(())
}

/// What `is_valid` takes, as said to whoever gave something else.
pub const SHAPE: &str = "sha256:<64 lowercase hex digits>";

/// Whether a string is a digest this client can verify: `sha256:` and 64 lowercase hex digits.
pub fn is_valid(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_is_read_through_it_to_the_end() {
        let mut reader = Hashing::new(&b"hello"[..]);
        let mut first = [0; 2];
        reader.read_exact(&mut first).unwrap();
        assert_eq!(reader.finish().unwrap(), (of_bytes(b"hello"), 5));
    }

    #[test]
    fn hashes_what_is_fed_piece_by_piece() {
        let mut h = Hasher::default();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.size(), 5);
        let (digest, size) = h.finish();
        assert_eq!(digest, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(size, 5);
        assert_eq!(of_bytes(b"hello"), digest);
    }

    #[test]
    fn verify_names_size_and_digest_mismatches() {
        use crate::error::Kind;
        assert!(verify("x", ("sha256:a", 1), ("sha256:a", 1)).is_ok());
        let size = verify("x", ("sha256:a", 1), ("sha256:a", 2)).unwrap_err();
        assert_eq!(size.kind, Kind::DigestMismatch { expected: "1 bytes".into(), actual: "2 bytes".into() });
        assert!(matches!(verify("x", ("sha256:a", 1), ("sha256:b", 1)).unwrap_err().kind, Kind::DigestMismatch { .. }));
    }

    #[test]
    fn only_sha256_hex_is_valid() {
        assert!(is_valid(&of_bytes(b"")));
        assert!(!is_valid("sha256:ABC"));
        assert!(!is_valid("sha256:../../x"));
        assert!(!is_valid("md5:00"));
    }
}
