//! Packaging a chart directory the way `helm package` does, but reproducibly: the same
//! directory always gives the same bytes, so the same digest. The archive is made once,
//! in memory, where it is hashed and from where it is uploaded.

use super::ignore::Rules;
use super::metadata::Metadata;
use crate::error::{Error, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Symlinked directories could loop; no real chart nests this deep.
const MAX_DEPTH: usize = 32;

/// A validated chart directory and the files that go into its archive.
pub struct ChartDir {
    pub meta: Metadata,
    /// Newest modification time of the packaged files: the archive's time and `created`.
    pub mtime: i64,
    /// (path inside the chart, path on disk), Chart.yaml first, then sorted.
    files: Vec<(String, PathBuf)>,
}

impl ChartDir {
    pub fn load(root: &Path) -> Result<ChartDir> {
        let chart_yaml = root.join("Chart.yaml");
        let yaml = match fs::read(&chart_yaml) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::invalid_chart(
                    root.display().to_string(),
                    "Chart.yaml file is missing; not a chart directory",
                ));
            }
            Err(e) => return Err(Error::io(&chart_yaml, e)),
        };
        let meta = Metadata::from_yaml(&yaml, &chart_yaml.display().to_string())?;
        let rules = match fs::read_to_string(root.join(".helmignore")) {
            Ok(text) => Rules::with_defaults(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Rules::with_defaults(""),
            Err(e) => return Err(Error::io(&root.join(".helmignore"), e)),
        };
        let mut walk = Walk { root, rules, files: Vec::new(), mtime: 0 };
        walk.dir(root, "", 0)?;
        let Walk { mut files, mtime, .. } = walk;
        files.sort_by(|a, b| (a.0 != "Chart.yaml", &a.0).cmp(&(b.0 != "Chart.yaml", &b.0)));
        Ok(ChartDir { meta, mtime, files })
    }

    /// The `.tgz`: `<name>/…` entries, mode 0644, owner 0, one fixed timestamp.
    pub fn archive(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_archive(&mut out)
            .map_err(|e| Error::new(crate::error::Kind::Io, format!("packaging {}", self.meta.name), e.to_string()))?;
        Ok(out)
    }

    fn write_archive(&self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
        for (name, path) in &self.files {
            let file = File::open(path)?;
            let len = file.metadata()?.len();
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(len);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(self.mtime.max(0) as u64);
            tar.append_data(&mut header, format!("{}/{name}", self.meta.name), file.take(len))?;
        }
        tar.into_inner()?.finish()?;
        Ok(())
    }
}

struct Walk<'a> {
    root: &'a Path,
    rules: Rules,
    files: Vec<(String, PathBuf)>,
    mtime: i64,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, prefix: &str, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::invalid_chart(dir.display().to_string(), "directories nest too deep (a symlink loop?)"));
        }
        let entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            names.push(entry.map_err(|e| Error::io(dir, e))?.file_name());
        }
        names.sort();
        for name in names {
            let name = name
                .to_str()
                .ok_or_else(|| Error::invalid_chart(dir.display().to_string(), "a file name is not valid UTF-8"))?;
            let rel = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            let path = dir.join(name);
            let link = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            // Symlinks inside the chart are followed, as Helm does; the sandbox stops any that leave it.
            let meta = match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) if link.file_type().is_symlink() => return Err(self.bad_link(&rel, &path, e)),
                Err(e) => return Err(Error::io(&path, e)),
            };
            if meta.is_dir() {
                if !self.rules.ignored(&rel, true) {
                    self.dir(&path, &rel, depth + 1)?;
                }
            } else if meta.is_file() && !self.rules.ignored(&rel, false) {
                let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
                self.mtime = self.mtime.max(modified.map_or(0, |d| d.as_secs() as i64));
                self.files.push((rel, path));
            }
        }
        Ok(())
    }

    fn bad_link(&self, rel: &str, path: &Path, err: io::Error) -> Error {
        let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        let why = match err.kind() {
            io::ErrorKind::NotFound => "its target does not exist".to_string(),
            _ => "it points outside the chart directory, which helm-oci does not follow".to_string(),
        };
        Error::invalid_chart(self.root.display().to_string(), format!("symlink {rel} -> {target}: {why}"))
    }
}
