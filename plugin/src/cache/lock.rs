//! The index's lock: a file created exclusively (git's `index.lock`), since wasi:filesystem
//! has no `flock`. Holders keep it for milliseconds (read, change and rewrite the index),
//! so a waiter polls. The file holds its holder's token: the run's id (`HELM_OCI_RUN`, so
//! that a host stopping a run can remove its lock) and a random part.
//!
//! A lock untouched for `STALE` was left by a killed run, as the file system's clock says:
//! a cache on a file server (NFS, SMB) is stamped by the server's clock, which may be off
//! from this machine's by more than `STALE`, and every live lock would look stale (or
//! never grow old). A waiter learns the offset from a file it writes there, once.
//!
//! A waiter takes a stale lock over under a second lock, the breaker (`index.json.lock.break`,
//! created exclusively too): holding it, it reads the lock again and removes it only if it
//! is still the stale one it saw. Many waiters see a killed run's lock go stale at the same
//! moment; without the breaker, one slowed between its look and its move could remove the
//! fresh lock of another that had taken over first, and two runs would write the index at
//! once. A breaker is held for a moment; one older than `BREAKER_STALE` was left by a
//! waiter killed in that moment, and is removed.

use crate::error::{Error, Kind, Result};
use crate::fs::{granted, temp};
use crate::net::{clock, executor};
use std::cell::RefCell;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const LOCK_FILE: &str = "index.json.lock";
/// Held by whoever removes a stale lock (see the module's comment).
const BREAKER_FILE: &str = "index.json.lock.break";
/// A lock untouched this long belongs to no live run.
const STALE: Duration = Duration::from_secs(30);
/// A breaker this old was left by a killed waiter: a live one holds it for a moment.
const BREAKER_STALE: Duration = Duration::from_secs(5);
/// A lock stamped further ahead of the file system's clock than this was not made there
/// by a live run (copied with its times, say): it would otherwise wait out its lead too.
const AHEAD: Duration = Duration::from_secs(5);
/// How long a run waits for the lock; longer than `STALE`, so a dead run's lock is taken.
const WAIT: u64 = 45 * clock::SECOND;

/// The lock, held until dropped.
pub struct Lock {
    path: PathBuf,
    token: RefCell<String>,
}

impl Lock {
    pub fn acquire(root: &Path) -> Result<Lock> {
        let path = root.join(LOCK_FILE);
        let token = token();
        let start = clock::now();
        let mut offset = None;
        loop {
            match granted::create_new(&path) {
                Ok(mut file) => {
                    if let Err(e) = file.write_all(token.as_bytes()) {
                        // A lock that does not say whose it is would only wait out `STALE`.
                        let _ = fs::remove_file(&path);
                        return Err(Error::io(&path, e));
                    }
                    return Ok(Lock { path, token: RefCell::new(token) });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
            let offset = *offset.get_or_insert_with(|| file_clock_offset(root));
            let meta = fs::symlink_metadata(&path);
            // No run makes anything else there, nor would one ever remove it: waiting is
            // pointless.
            if meta.as_ref().is_ok_and(|m| !m.is_file()) {
                return Err(Error::new(
                    Kind::Io,
                    path.display().to_string(),
                    "the chart cache's lock is not a file (no helm-oci made it): remove it",
                ));
            }
            // A stale lock that cannot be removed (a directory this run cannot write), or
            // that another waiter is removing, is waited on like a live one, not tried
            // again at once.
            if let Ok(meta) = meta
                && let Some(seen) = stale(&path, &meta, offset, STALE)
                && take_over(root, &seen, &token, offset)
            {
                continue;
            }
            let now = clock::now();
            if now.saturating_sub(start) > WAIT {
                return Err(Error::new(
                    Kind::Io,
                    path.display().to_string(),
                    "the chart cache stayed locked by another helm-oci; if none is running, remove this file",
                ));
            }
            // The wait polls the file system, out of the executor's sight: it keeps to the
            // command's deadline itself.
            if executor::deadline().is_some_and(|deadline| now >= deadline) {
                return Err(Error::new(
                    Kind::TimedOut,
                    path.display().to_string(),
                    "the chart cache stayed locked by another helm-oci until the deadline (see --timeout); if none is running, remove this file",
                ));
            }
            // 5 to 20 ms, at random, so that waiters do not all retry at once.
            clock::pause((5 + wasip2::random::random::get_random_u64() % 16) * clock::MILLISECOND);
        }
    }

    /// Whether this holder still holds the lock: one paused for longer than `STALE` may
    /// have lost it to a waiter, and must not write then.
    pub fn held(&self) -> bool {
        fs::read(&self.path).is_ok_and(|held| held == self.token.borrow().as_bytes())
    }

    /// Keeps a lock held through long work fresh, so that waiters do not take it for a
    /// killed run's: a new token is written over this holder's, which stamps the file by
    /// the file system's clock. False, and nothing written, if it is no longer this
    /// holder's. A waiter that took it for stale just before finds another token than the
    /// one it saw, and puts it back (see `take_over`).
    pub fn keep(&self) -> bool {
        let next = token();
        let swapped = granted::swap(&self.path, self.token.borrow().as_bytes(), next.as_bytes()).unwrap_or(false);
        if swapped {
            *self.token.borrow_mut() = next;
        }
        // A waiter that moved the lock away between the read and the write has it now.
        swapped && self.held()
    }
}

/// A holder's token: the run's id and a random part, always of one length.
fn token() -> String {
    format!("{}-{:016x}", temp::run(), wasip2::random::random::get_random_u64())
}

impl Drop for Lock {
    fn drop(&mut self) {
        // A lock taken over as stale is the successor's now: leave it.
        if self.held() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// How many seconds the file system's clock under `root` is ahead of this run's.
fn file_clock_offset(root: &Path) -> i64 {
    let since_epoch = temp::file_system_now(root).duration_since(SystemTime::UNIX_EPOCH).ok();
    since_epoch.map_or(0, |d| d.as_secs() as i64 - clock::wall_seconds())
}

/// The content of the file at `path`, whose metadata is `meta`, if it is untouched for
/// `older_than` by the file system's clock (this run's, `offset` seconds ahead), or stamped
/// more than `AHEAD` ahead of it.
fn stale(path: &Path, meta: &fs::Metadata, offset: i64, older_than: Duration) -> Option<Vec<u8>> {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs((clock::wall_seconds() + offset).max(0) as u64);
    let old = meta.modified().is_ok_and(|modified| match now.duration_since(modified) {
        Ok(age) => age > older_than,
        Err(ahead) => ahead.duration() > AHEAD,
    });
    if !old {
        return None;
    }
    fs::read(path).ok()
}

/// Removes the lock under `root` if it is still the stale one `seen`, holding the breaker
/// meanwhile. False if it was not removed: another waiter holds the breaker (a killed
/// one's, once stale, is removed for the next try), or the breaker cannot be made here.
fn take_over(root: &Path, seen: &[u8], token: &str, offset: i64) -> bool {
    let breaker = root.join(BREAKER_FILE);
    match granted::create_new(&breaker) {
        // The token tells whose it is (see `clean_up` in the host), as a lock's does.
        Ok(mut file) => {
            let _ = file.write_all(token.as_bytes());
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            if let Ok(meta) = fs::symlink_metadata(&breaker)
                && meta.is_file()
                && stale(&breaker, &meta, offset, BREAKER_STALE).is_some()
            {
                let _ = fs::remove_file(&breaker);
            }
            return false;
        }
        Err(_) => return false,
    }
    // No other run removes a lock while this one holds the breaker; the lock's holder may
    // still (it swaps its token in place to keep it), so the content is read again.
    let path = root.join(LOCK_FILE);
    let removed = fs::read(&path).is_ok_and(|now| now == seen) && fs::remove_file(&path).is_ok();
    let _ = fs::remove_file(&breaker);
    removed
}
