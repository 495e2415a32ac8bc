//! What each tag held when a listing (search, the chart index) last read it: its manifest,
//! by digest and bytes, one file per repository under `<cache>/listed/`. A listing asks
//! with a HEAD (which Docker Hub does not count against its pull limit) whether a tag it
//! remembers still names the same digest, and then reads nothing more; the bytes are
//! checked against the digest before they are used, so the memory is only ever a hint.
//!
//! A repository's file is read when a listing first needs it and rewritten whole (temp
//! file, rename) when the listing ends, if it changed; of two listings at once the later
//! one's is kept, which costs the other's tags a read next time. One file per repository
//! keeps a listing from reading or writing what it does not list, and a cold one from
//! writing a file per manifest.

use super::Cache;
use crate::digest;
use crate::fs::{granted, temp};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

const DIR: &str = "listed";

/// A repository's memory: each tag's manifest.
#[derive(Serialize, Deserialize)]
struct Repository {
    /// The registry endpoint and repository path, as a check on the file's name.
    name: String,
    tags: BTreeMap<String, Manifest>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    digest: String,
    /// The manifest's exact bytes (JSON, so UTF-8).
    bytes: String,
}

/// The memory of one listing: repositories read as it needs them, written back by `save`.
pub struct Listed {
    /// The cache it lives in, whose `incoming/` its files are written in before they are
    /// renamed into place.
    cache: Cache,
    /// Each repository read, by name, and whether this listing changed it.
    repositories: RefCell<HashMap<String, (Repository, bool)>>,
}

/// Forgets every listing's memory (best effort).
pub fn forget(cache: &Cache) {
    let _ = std::fs::remove_dir_all(cache.root().join(DIR));
}

impl Listed {
    pub fn open(cache: &Cache) -> Listed {
        Listed { cache: cache.clone(), repositories: RefCell::default() }
    }

    /// The manifest `tag` named in `repository` at the registry `endpoint` when last listed,
    /// as its digest and bytes, if the bytes are what the digest says.
    pub fn remembered(&self, endpoint: &str, repository: &str, tag: &str) -> Option<(String, Vec<u8>)> {
        self.with(endpoint, repository, |memory, _| {
            let manifest = memory.tags.get(tag)?;
            let bytes = manifest.bytes.as_bytes();
            (digest::of_bytes(bytes) == manifest.digest).then(|| (manifest.digest.clone(), bytes.to_vec()))
        })
    }

    /// Remembers the manifest `tag` names now.
    pub fn found(&self, endpoint: &str, repository: &str, tag: &str, digest: &str, bytes: &[u8]) {
        let Ok(text) = std::str::from_utf8(bytes) else { return };
        self.with(endpoint, repository, |memory, changed| {
            if memory.tags.get(tag).is_none_or(|known| known.digest != digest || known.bytes != text) {
                memory.tags.insert(tag.to_string(), Manifest { digest: digest.to_string(), bytes: text.to_string() });
                *changed = true;
            }
        })
    }

    /// Forgets the tags of `repository` that its tag list no longer has.
    pub fn keep_only(&self, endpoint: &str, repository: &str, listed: &[String]) {
        self.with(endpoint, repository, |memory, changed| {
            let before = memory.tags.len();
            memory.tags.retain(|tag, _| listed.contains(tag));
            *changed |= memory.tags.len() != before;
        })
    }

    /// Writes back each repository this listing changed. A cache that cannot keep one costs
    /// the next listing reads, not this one a failure.
    pub fn save(&self) {
        let repositories = self.repositories.borrow();
        let changed: Vec<&Repository> =
            repositories.values().filter(|(_, changed)| *changed).map(|(memory, _)| memory).collect();
        if changed.is_empty() || granted::create_dir_all(&self.dir()).is_err() {
            return;
        }
        let Ok(incoming) = self.cache.incoming() else { return };
        for memory in changed {
            if let Ok(bytes) = serde_json::to_vec(memory) {
                let _ = temp::write_atomically(&incoming, &self.file(&memory.name), &bytes);
            }
        }
    }

    /// Runs `f` on a repository's memory (read from its file the first time), with the flag
    /// that says it changed.
    fn with<T>(&self, endpoint: &str, repository: &str, f: impl FnOnce(&mut Repository, &mut bool) -> T) -> T {
        let mut repositories = self.repositories.borrow_mut();
        let (memory, changed) = repositories.entry(format!("{endpoint}/{repository}")).or_insert_with_key(|name| {
            let read = std::fs::read(self.file(name)).ok();
            let memory = read.and_then(|bytes| serde_json::from_slice::<Repository>(&bytes).ok());
            let empty = || Repository { name: name.clone(), tags: BTreeMap::new() };
            (memory.filter(|m| m.name == *name).unwrap_or_else(empty), false)
        });
        f(memory, changed)
    }

    fn dir(&self) -> PathBuf {
        self.cache.root().join(DIR)
    }

    /// A repository's file, named by a digest of its name, which may hold any character a
    /// path may not.
    fn file(&self, name: &str) -> PathBuf {
        self.dir().join(format!("{}.json", digest::of_bytes(name.as_bytes()).trim_start_matches("sha256:")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::scratch;

    const MANIFEST: &[u8] = br#"{"schemaVersion":2,"config":{}}"#;

    /// What the next listing finds once `listed` is saved (written here as `save` would,
    /// since native tests have no wasi:random for its temp names).
    fn next(dir: &scratch::Dir, listed: &Listed) -> Listed {
        std::fs::create_dir_all(listed.dir()).unwrap();
        for (name, (memory, _)) in listed.repositories.borrow().iter() {
            std::fs::write(listed.file(name), serde_json::to_vec(memory).unwrap()).unwrap();
        }
        Listed::open(&Cache::open(&dir.0))
    }

    fn changed(listed: &Listed) -> bool {
        listed.repositories.borrow().values().any(|(_, changed)| *changed)
    }

    #[test]
    fn what_is_found_is_remembered_by_the_next_listing() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        let d = digest::of_bytes(MANIFEST);
        assert_eq!(listed.remembered("r.example", "charts/db", "1.0.0"), None);
        listed.found("r.example", "charts/db", "1.0.0", &d, MANIFEST);
        listed.found("r.example", "charts/web", "1.0.0", &d, MANIFEST);
        assert!(changed(&listed));
        let next = next(&dir, &listed);
        assert_eq!(next.remembered("r.example", "charts/db", "1.0.0"), Some((d.clone(), MANIFEST.to_vec())));
        assert_eq!(next.remembered("r.example", "charts/web", "1.0.0"), Some((d.clone(), MANIFEST.to_vec())));
        assert_eq!(next.remembered("r.example", "charts/db", "1.1.0"), None);
        assert_eq!(next.remembered("other.example", "charts/db", "1.0.0"), None);
        next.found("r.example", "charts/db", "1.0.0", &d, MANIFEST);
        assert!(!changed(&next), "nothing new to write");
    }

    #[test]
    fn tags_gone_from_the_list_are_forgotten() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        let d = digest::of_bytes(MANIFEST);
        listed.found("r", "db", "1.0.0", &d, MANIFEST);
        listed.found("r", "db", "1.1.0", &d, MANIFEST);
        let listed = next(&dir, &listed);
        listed.keep_only("r", "db", &["1.1.0".to_string(), "2.0.0".to_string()]);
        assert!(changed(&listed));
        let next = next(&dir, &listed);
        assert_eq!(next.remembered("r", "db", "1.0.0"), None);
        assert!(next.remembered("r", "db", "1.1.0").is_some());
    }

    #[test]
    fn bytes_that_are_not_what_their_digest_says_are_not_used_and_are_replaced() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        let d = digest::of_bytes(MANIFEST);
        listed.found("r", "db", "1.0.0", &d, b"damaged bytes");
        let listed = next(&dir, &listed);
        assert_eq!(listed.remembered("r", "db", "1.0.0"), None);
        listed.found("r", "db", "1.0.0", &d, MANIFEST);
        assert!(changed(&listed));
        assert_eq!(next(&dir, &listed).remembered("r", "db", "1.0.0"), Some((d, MANIFEST.to_vec())));
    }

    #[test]
    fn a_damaged_or_misplaced_file_remembers_nothing() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        listed.found("r", "db", "1.0.0", &digest::of_bytes(MANIFEST), MANIFEST);
        let listed = next(&dir, &listed);
        let files: Vec<_> = std::fs::read_dir(listed.dir()).unwrap().map(|e| e.unwrap().path()).collect();
        let [file] = &files[..] else { panic!("{files:?}") };
        // Another repository's memory under this one's name.
        let moved = std::fs::read_to_string(file).unwrap().replace("\"r/db\"", "\"r/web\"");
        std::fs::write(file, moved).unwrap();
        assert_eq!(Listed::open(&Cache::open(&dir.0)).remembered("r", "db", "1.0.0"), None);
        std::fs::write(file, b"{\"name\": [").unwrap();
        assert_eq!(Listed::open(&Cache::open(&dir.0)).remembered("r", "db", "1.0.0"), None);
    }
}
