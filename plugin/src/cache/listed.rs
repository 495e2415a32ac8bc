//! Which manifest each tag named when a listing (search, the chart index) last read it:
//! `<cache>/listed.json`, `{"ENDPOINT/REPOSITORY": {"TAG": "sha256:…"}}`. It is only a
//! hint: a tag found here whose manifest the cache holds is checked with a HEAD, which
//! Docker Hub does not count against its pull limit, instead of being read again; anything
//! else is read. The file is rewritten whole when a listing ends (temp file, rename); of two
//! listings at once the later one's is kept, which costs the other's tags a read next time.

use super::Cache;
use crate::fs::temp;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FILE: &str = "listed.json";

type Memory = BTreeMap<String, BTreeMap<String, String>>;

/// The memory, read when a listing starts and written back by `save`.
pub struct Listed {
    path: PathBuf,
    memory: RefCell<Memory>,
    changed: Cell<bool>,
}

impl Listed {
    /// The memory kept in `cache`; a file that is missing or unreadable remembers nothing.
    pub fn open(cache: &Cache) -> Listed {
        let path = cache.root().join(FILE);
        let memory =
            std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
        Listed { path, memory: RefCell::new(memory), changed: Cell::new(false) }
    }

    /// The manifest `tag` named in `repository` at the registry `endpoint` when last listed.
    pub fn remembered(&self, endpoint: &str, repository: &str, tag: &str) -> Option<String> {
        self.memory.borrow().get(&key(endpoint, repository))?.get(tag).cloned()
    }

    /// Remembers the manifest `tag` names now.
    pub fn found(&self, endpoint: &str, repository: &str, tag: &str, digest: &str) {
        let mut memory = self.memory.borrow_mut();
        let tags = memory.entry(key(endpoint, repository)).or_default();
        if tags.get(tag).is_none_or(|known| known != digest) {
            tags.insert(tag.to_string(), digest.to_string());
            self.changed.set(true);
        }
    }

    /// Forgets the tags of `repository` that its tag list no longer has.
    pub fn keep_only(&self, endpoint: &str, repository: &str, listed: &[String]) {
        let mut memory = self.memory.borrow_mut();
        let Some(tags) = memory.get_mut(&key(endpoint, repository)) else { return };
        let before = tags.len();
        tags.retain(|tag, _| listed.contains(tag));
        if tags.len() != before {
            self.changed.set(true);
        }
    }

    /// Writes the memory back if it changed. A cache that cannot keep it costs the next
    /// listing reads, not this one a failure.
    pub fn save(&self) {
        if !self.changed.get() {
            return;
        }
        if let (Some(bytes), Some(dir)) = (self.bytes(), self.path.parent()) {
            let _ = temp::write_atomically(dir, &self.path, &bytes);
        }
    }

    /// The memory as the file holds it.
    fn bytes(&self) -> Option<Vec<u8>> {
        serde_json::to_vec(&*self.memory.borrow()).ok()
    }
}

fn key(endpoint: &str, repository: &str) -> String {
    format!("{endpoint}/{repository}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::scratch;

    /// What the next listing finds, once `listed` is saved (written here as `save` would,
    /// since native tests have no wasi:random for its temp name).
    fn next(dir: &scratch::Dir, listed: &Listed) -> Listed {
        std::fs::write(dir.0.join(FILE), listed.bytes().unwrap()).unwrap();
        Listed::open(&Cache::open(&dir.0))
    }

    #[test]
    fn what_is_found_is_remembered_by_the_next_listing() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        assert_eq!(listed.remembered("r.example", "charts/db", "1.0.0"), None);
        listed.found("r.example", "charts/db", "1.0.0", "sha256:aa");
        listed.found("r.example", "charts/db", "1.1.0", "sha256:bb");
        listed.found("r.example", "charts/web", "1.0.0", "sha256:cc");
        assert!(listed.changed.get());
        let next = next(&dir, &listed);
        assert_eq!(next.remembered("r.example", "charts/db", "1.0.0").as_deref(), Some("sha256:aa"));
        assert_eq!(next.remembered("r.example", "charts/web", "1.0.0").as_deref(), Some("sha256:cc"));
        assert_eq!(next.remembered("other.example", "charts/db", "1.0.0"), None);
        next.found("r.example", "charts/db", "1.0.0", "sha256:aa");
        assert!(!next.changed.get(), "nothing new to write");
    }

    #[test]
    fn tags_gone_from_the_list_are_forgotten() {
        let dir = scratch::Dir::new();
        let listed = Listed::open(&Cache::open(&dir.0));
        listed.found("r", "db", "1.0.0", "sha256:aa");
        listed.found("r", "db", "1.1.0", "sha256:bb");
        let listed = next(&dir, &listed);
        listed.keep_only("r", "db", &["1.1.0".to_string(), "2.0.0".to_string()]);
        assert!(listed.changed.get());
        let next = next(&dir, &listed);
        assert_eq!(next.remembered("r", "db", "1.0.0"), None);
        assert_eq!(next.remembered("r", "db", "1.1.0").as_deref(), Some("sha256:bb"));
    }

    #[test]
    fn a_damaged_file_remembers_nothing() {
        let dir = scratch::Dir::new();
        std::fs::write(dir.0.join(FILE), b"{\"r/db\": [").unwrap();
        let listed = Listed::open(&Cache::open(&dir.0));
        assert_eq!(listed.remembered("r", "db", "1.0.0"), None);
    }
}
