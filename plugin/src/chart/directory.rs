//! A chart directory as Helm's directory loader sees it: `.helmignore` (with Helm's
//! defaults) applied, symlinks followed only inside the chart, regular files only, and
//! each file within Helm's size limit. Contents stay on disk until the archive is written.

use super::ignore::Rules;
use super::load::{Content, File, Limits};
use crate::error::{Error, Result};
use crate::fs::inside::{self, Refusal};
use std::fs;
use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Symlinked directories could loop: no chart follows this many on one path.
const MAX_LINKS: usize = 16;

/// Directories nested this deep are beyond any chart (and would take the walk's stack);
/// Helm's walk has no bound but the system's longest path.
const MAX_DEPTH: usize = 256;

/// The chart's files, and the newest modification time among them.
pub fn files(root: &Path, limits: &Limits) -> Result<(Vec<File>, i64)> {
    walk(root, limits, false)
}

/// The files of the chart that can be seen here, for a check of what Helm's loader would
/// refuse: as `files`, but a symlink out of the chart (which Helm follows, and the sandbox
/// cannot) is passed over, and only each file's size is capped, as in Helm's loader.
pub fn seen(root: &Path, limits: &Limits) -> Result<Vec<File>> {
    Ok(walk(root, limits, true)?.0)
}

fn walk(root: &Path, limits: &Limits, lenient: bool) -> Result<(Vec<File>, i64)> {
    match fs::metadata(root.join("Chart.yaml")) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::invalid_chart(
                root.display().to_string(),
                "Chart.yaml file is missing; not a chart directory",
            ));
        }
        Err(e) => return Err(Error::io(&root.join("Chart.yaml"), e)),
    }
    let text = match fs::read(root.join(".helmignore")) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&root.join(".helmignore"), e)),
    };
    let rules = Rules::with_defaults(&text)
        .map_err(|why| Error::invalid_chart(root.display().to_string(), format!(".helmignore: {why}")))?;
    let mut walk = Walk { root, rules, limits, lenient, files: Vec::new(), mtime: 0, total: 0 };
    walk.dir("", "", Depth::default())?;
    Ok((walk.files, walk.mtime))
}

/// How deep a walk is: directories, and of those the symlinked ones.
#[derive(Clone, Copy, Default)]
struct Depth {
    dirs: usize,
    links: usize,
}

struct Walk<'a> {
    root: &'a Path,
    rules: Rules,
    limits: &'a Limits,
    /// See `seen`.
    lenient: bool,
    files: Vec<File>,
    mtime: i64,
    total: u64,
}

impl Walk<'_> {
    /// Walks the directory at `real` (relative to the root), naming what it finds under
    /// `logical` (as a symlinked directory lends its name to what it holds).
    fn dir(&mut self, real: &str, logical: &str, depth: Depth) -> Result<()> {
        let dir = self.root.join(real);
        if depth.links > MAX_LINKS {
            return Err(
                self.bad(logical, &format!("more than {MAX_LINKS} symlinked directories deep (a symlink loop?)"))
            );
        }
        if depth.dirs > MAX_DEPTH {
            return Err(self.bad(logical, &format!("directories nest more than {MAX_DEPTH} deep")));
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let symlink = entry.file_type().map_err(|e| Error::io(&dir, e))?.is_symlink();
            let name =
                entry.file_name().into_string().map_err(|_| self.bad(logical, "a file name is not valid UTF-8"))?;
            names.push((name, symlink));
        }
        names.sort();
        for (name, symlink) in names {
            let rel = join(logical, &name);
            let mut target = join(real, &name);
            // The directory itself is resolved already; only a link needs following.
            if symlink {
                target = match inside::resolve(self.root, &target) {
                    Ok(target) => target,
                    Err(Refusal::Absolute | Refusal::Outside(_)) if self.lenient => continue,
                    // Helm resolves a link, then passes over what .helmignore names. Where
                    // it points is out of reach, so only a link ignored as a file and as a
                    // directory alike is passed over here.
                    Err(Refusal::Absolute | Refusal::Outside(_))
                        if self.rules.ignored(&rel, false) && self.rules.ignored(&rel, true) =>
                    {
                        continue;
                    }
                    Err(refusal) => return Err(self.refused(&rel, &join(real, &name), refusal)),
                };
            }
            let path = self.root.join(&target);
            let meta = fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
            if meta.is_dir() {
                if !self.rules.ignored(&rel, true) {
                    let deeper = Depth { dirs: depth.dirs + 1, links: depth.links + usize::from(symlink) };
                    self.dir(&target, &rel, deeper)?;
                }
                continue;
            }
            if self.rules.ignored(&rel, false) {
                continue;
            }
            if !meta.is_file() {
                return Err(self.bad(&rel, "cannot load an irregular file (a device, socket or pipe)"));
            }
            if meta.len() > self.limits.file_size {
                let why = format!("chart file {name:?} is larger than the maximum file size {}", self.limits.file_size);
                return Err(self.bad(&rel, &why));
            }
            self.total += meta.len();
            if self.total > self.limits.chart_size && !self.lenient {
                return Err(
                    self.bad(&rel, &format!("the chart is larger than the maximum size {}", self.limits.chart_size))
                );
            }
            let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
            self.mtime = self.mtime.max(modified.map_or(0, |d| d.as_secs() as i64));
            self.files.push(File { name: rel, content: Content::Disk(path) });
        }
        Ok(())
    }

    fn bad(&self, what: &str, why: &str) -> Error {
        Error::invalid_chart(self.root.display().to_string(), format!("{what}: {why}"))
    }

    /// A symlink not followed, with its target as written where the host shows it.
    fn refused(&self, rel: &str, link: &str, refusal: Refusal) -> Error {
        let target = fs::read_link(self.root.join(link)).map(|t| t.display().to_string());
        let named = match &target {
            Ok(t) => format!("symlink {rel} -> {t}"),
            Err(_) => format!("symlink {rel}"),
        };
        let why = match refusal {
            Refusal::Absolute => {
                "it points to an absolute path, outside the chart directory, which helm-oci does not follow".into()
            }
            Refusal::Outside(via) if target.as_deref().is_ok_and(|t| *t == via) => {
                "it points outside the chart directory, which helm-oci does not follow".into()
            }
            Refusal::Outside(via) => {
                format!("it leads outside the chart directory (through {via}), which helm-oci does not follow")
            }
            Refusal::Loop => "it is part of a symlink loop".into(),
            Refusal::Missing => "its target does not exist".into(),
            Refusal::Io(e) => e,
        };
        self.bad(&named, &why)
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") }
}
