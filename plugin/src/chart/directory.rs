//! A chart directory as Helm's directory loader sees it: `.helmignore` (with Helm's
//! defaults) applied, symlinks followed (out of the chart only where the host resolved
//! them), regular files only, and each file within Helm's size limit. Contents stay on
//! disk until the archive is written.

use super::ignore::Rules;
use super::load::{Content, File, Limits};
use crate::error::{Error, Result};
use crate::fs::inside::{self, Refusal};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Why a link out of the chart is not followed: its host resolved nothing there.
const UNRESOLVED: &str =
    "and its host resolved nothing there (a missing target, a symlink loop, or a host that follows no such link)";

/// Symlinked directories could loop: no chart follows this many on one path.
const MAX_LINKS: usize = 16;

/// Directories nested this deep are beyond any chart (and would take the walk's stack);
/// Helm's walk has no bound but the system's longest path.
const MAX_DEPTH: usize = 256;

/// Where a chart's symlinks out of it lead, by their path in the chart, as the host
/// resolved them (the component sees only what it was granted; the host grants the
/// targets); nowhere for one that leads to what the chart passes over there (a directory,
/// where .helmignore passes over directories alone), which the host does not grant.
pub type Links = HashMap<String, Option<String>>;

/// A symlink that leads out of what the component was granted, for the host to resolve.
#[derive(Debug, PartialEq)]
pub struct Found {
    /// Its path in the chart.
    pub path: String,
    /// The link itself (an absolute path if the chart's is).
    pub link: String,
    /// Whether the walk takes what it leads to if that is a file, and if it is a directory
    /// (.helmignore may pass over one kind alone: `dir/` rules).
    pub file: bool,
    pub dir: bool,
}

/// The chart's files, and the newest modification time among them. A symlink goes where
/// `links` says it leads; one it says nothing of, only if it stays inside the chart.
pub fn files(root: &Path, limits: &Limits, links: &Links) -> Result<(Vec<File>, i64)> {
    let walk = walk(root, limits, links, Mode::Package)?;
    Ok((walk.files, walk.mtime))
}

/// The files of the chart that can be seen here, for a check of what Helm's loader would
/// refuse: as `files`, but a symlink out of the chart (which Helm follows, and the sandbox
/// cannot) is passed over, and only each file's size is capped, as in Helm's loader.
pub fn seen(root: &Path, limits: &Limits) -> Result<Vec<File>> {
    Ok(walk(root, limits, &Links::new(), Mode::Check)?.files)
}

/// The symlinks of the chart that lead out of what the component can reach, beyond those
/// `links` resolves, as Helm's walk meets them: past what .helmignore names, and not into a
/// link's target until the host has resolved it. No size is checked: that is for `files`.
pub fn links_out(root: &Path, links: &Links) -> Result<Vec<Found>> {
    // Read before the walk, through a link the host may have to resolve first.
    let before: Vec<Found> =
        ["Chart.yaml", ".helmignore"].into_iter().filter_map(|name| leads_out(root, links, name)).collect();
    if !before.is_empty() {
        return Ok(before);
    }
    Ok(walk(root, &Limits::default(), links, Mode::Links)?.out)
}

/// What a walk is for.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The chart's files, each checked: links out of the chart only where `links` says.
    Package,
    /// See `seen`.
    Check,
    /// See `links_out`.
    Links,
}

/// A file read before the walk (`name` in the chart's top directory), if it is a link out
/// of the chart that `links` does not resolve.
fn leads_out(root: &Path, links: &Links, name: &str) -> Option<Found> {
    unresolved(root, links, name)?;
    Some(Found { path: name.to_string(), link: root.join(name).display().to_string(), file: true, dir: false })
}

/// Why a file read before the walk cannot be read, if it is a link out of the chart that
/// `links` does not resolve.
fn unresolved(root: &Path, links: &Links, name: &str) -> Option<Refusal> {
    if links.contains_key(name) || !fs::symlink_metadata(root.join(name)).ok()?.file_type().is_symlink() {
        return None;
    }
    match inside::resolve(root, name) {
        Err(refusal @ (Refusal::Absolute | Refusal::Outside(_))) => Some(refusal),
        _ => None,
    }
}

/// Where a file read before the walk is: through the link the host resolved, if it is one.
fn top(root: &Path, links: &Links, name: &str) -> PathBuf {
    links.get(name).and_then(Option::as_deref).map_or_else(|| root.join(name), PathBuf::from)
}

fn walk<'a>(root: &'a Path, limits: &'a Limits, links: &'a Links, mode: Mode) -> Result<Walk<'a>> {
    // Read before the walk, so refused as it would refuse them: a link out that the host
    // left unresolved (one that leads nowhere, say) cannot be read.
    for name in ["Chart.yaml", ".helmignore"] {
        if let Some(refusal) = unresolved(root, links, name) {
            return Err(refused(root, name, name, refusal));
        }
    }
    let chart_yaml = top(root, links, "Chart.yaml");
    match fs::metadata(&chart_yaml) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::invalid_chart(
                root.display().to_string(),
                "Chart.yaml file is missing; not a chart directory",
            ));
        }
        Err(e) => return Err(Error::io(&chart_yaml, e)),
    }
    let helmignore = top(root, links, ".helmignore");
    let text = match fs::read(&helmignore) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&helmignore, e)),
    };
    let rules = Rules::with_defaults(&text)
        .map_err(|why| Error::invalid_chart(root.display().to_string(), format!(".helmignore: {why}")))?;
    let mut walk = Walk { root, rules, limits, links, mode, files: Vec::new(), out: Vec::new(), mtime: 0, total: 0 };
    walk.dir("", "", Depth::default())?;
    Ok(walk)
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
    links: &'a Links,
    mode: Mode,
    files: Vec<File>,
    /// `Mode::Links`: what was found.
    out: Vec<Found>,
    mtime: i64,
    total: u64,
}

impl Walk<'_> {
    /// Walks the directory at `real` (relative to the root, or absolute beyond it), naming
    /// what it finds under `logical` (as a symlinked directory lends its name to what it holds).
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
                target = match self.links.get(&rel) {
                    Some(Some(resolved)) => resolved.clone(),
                    Some(None) => continue,
                    None => match self.inside(real, &target) {
                        Ok(target) => target,
                        Err(Refusal::Absolute | Refusal::Outside(_)) if self.mode == Mode::Check => continue,
                        // Helm resolves a link, then passes over what .helmignore names. Where
                        // it points is out of reach, so only a link ignored as a file and as a
                        // directory alike is passed over here.
                        Err(Refusal::Absolute | Refusal::Outside(_))
                            if self.rules.ignored(&rel, false) && self.rules.ignored(&rel, true) =>
                        {
                            continue;
                        }
                        Err(Refusal::Absolute | Refusal::Outside(_)) if self.mode == Mode::Links => {
                            let link = self.root.join(&target).display().to_string();
                            let (file, dir) = (!self.rules.ignored(&rel, false), !self.rules.ignored(&rel, true));
                            self.out.push(Found { path: rel, link, file, dir });
                            continue;
                        }
                        Err(refusal) => return Err(refused(self.root, &rel, &target, refusal)),
                    },
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
            // Helm's loader reads a backslash as a directory separator, so the file would
            // come back as another one (and the archive writer here takes it for one too).
            if rel.contains('\\') {
                return Err(self.bad(
                    &rel,
                    "its name holds a backslash, which Helm reads as a directory separator: rename it, or name it in .helmignore",
                ));
            }
            if !meta.is_file() {
                return Err(self.bad(&rel, "cannot load an irregular file (a device, socket or pipe)"));
            }
            if self.mode == Mode::Links {
                continue;
            }
            if meta.len() > self.limits.file_size {
                let limit = self.limits.file_size;
                let why = format!(
                    "chart file {name:?} is larger than the maximum file size {limit}{}",
                    self.limits.raise_file()
                );
                return Err(self.bad(&rel, &why));
            }
            self.total += meta.len();
            if self.total > self.limits.chart_size && self.mode == Mode::Package {
                return Err(self.bad(
                    &rel,
                    &format!(
                        "the chart is larger than the maximum size {}{}",
                        self.limits.chart_size,
                        self.limits.raise_chart()
                    ),
                ));
            }
            let modified = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
            self.mtime = self.mtime.max(modified.map_or(0, |d| d.as_secs() as i64));
            self.files.push(File { name: rel, content: Content::Disk(path) });
        }
        Ok(())
    }

    /// Resolves the link at `link` (under the directory at `real`) inside the chart; beyond
    /// it (where `real` is a target the host resolved), every link leads out, through where
    /// it points as written.
    fn inside(&self, real: &str, link: &str) -> std::result::Result<String, Refusal> {
        if Path::new(real).is_absolute() {
            let written = fs::read_link(link).map(|t| t.display().to_string()).unwrap_or_default();
            return Err(Refusal::Outside(written));
        }
        inside::resolve(self.root, link)
    }

    fn bad(&self, what: &str, why: &str) -> Error {
        Error::invalid_chart(self.root.display().to_string(), format!("{what}: {why}"))
    }
}

/// A symlink not followed (`rel` in the chart, at `link` below `root`), with its target as
/// written where the host shows it.
fn refused(root: &Path, rel: &str, link: &str, refusal: Refusal) -> Error {
    let target = fs::read_link(root.join(link)).map(|t| t.display().to_string());
    let named = match &target {
        Ok(t) => format!("symlink {rel} -> {t}"),
        Err(_) => format!("symlink {rel}"),
    };
    let why = match refusal {
        Refusal::Absolute => format!("it points to an absolute path, outside the chart directory, {UNRESOLVED}"),
        Refusal::Outside(via) if target.as_deref().is_ok_and(|t| *t == via) => {
            format!("it points outside the chart directory, {UNRESOLVED}")
        }
        Refusal::Outside(via) => format!("it leads outside the chart directory (through {via}), {UNRESOLVED}"),
        Refusal::Loop => "it is part of a symlink loop".into(),
        Refusal::Missing => "its target does not exist".into(),
        Refusal::Io(e) => e,
    };
    Error::invalid_chart(root.display().to_string(), format!("{named}: {why}"))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::scratch;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_out_are_named_past_helmignore_and_only_until_resolved() {
        let tmp = scratch::Dir::new();
        let chart = tmp.0.join("chart");
        fs::create_dir_all(chart.join("templates")).unwrap();
        fs::write(chart.join("Chart.yaml"), "name: c\n").unwrap();
        fs::write(chart.join(".helmignore"), "ignored\n").unwrap();
        fs::write(tmp.0.join("shared.yaml"), "x: 1\n").unwrap();
        symlink("../../shared.yaml", chart.join("templates/out.yaml")).unwrap();
        symlink("/etc", chart.join("ignored")).unwrap();
        symlink("../Chart.yaml", chart.join("templates/inside.yaml")).unwrap();

        let out = links_out(&chart, &Links::new()).unwrap();
        let link = chart.join("templates/out.yaml").display().to_string();
        let found = Found { path: "templates/out.yaml".into(), link, file: true, dir: true };
        assert_eq!(out, [found], "not what .helmignore names, nor a link inside");

        let target = tmp.0.join("shared.yaml").display().to_string();
        let links = Links::from([("templates/out.yaml".to_string(), Some(target.clone()))]);
        assert!(links_out(&chart, &links).unwrap().is_empty());
        let (found, _) = files(&chart, &Limits::default(), &links).unwrap();
        let shared = found.iter().find(|f| f.name == "templates/out.yaml").unwrap();
        assert!(matches!(&shared.content, Content::Disk(path) if *path == Path::new(&target)));
        let refused = files(&chart, &Limits::default(), &Links::new()).err().unwrap().to_string();
        assert!(refused.contains("symlink templates/out.yaml -> ../../shared.yaml: it points outside"), "{refused}");

        // .helmignore is read before the walk: a link of it out of the chart is named first.
        fs::rename(chart.join(".helmignore"), tmp.0.join("helmignore")).unwrap();
        symlink("../helmignore", chart.join(".helmignore")).unwrap();
        let out = links_out(&chart, &links).unwrap();
        let link = chart.join(".helmignore").display().to_string();
        assert_eq!(out, [Found { path: ".helmignore".into(), link, file: true, dir: false }]);

        // A link .helmignore passes over as a directory alone (`dir/`) is named as taken as a file only.
        fs::write(tmp.0.join("helmignore"), "ignored\nvscode/\n").unwrap();
        let helmignore = Some(tmp.0.join("helmignore").display().to_string());
        let out_yaml = Some(target.clone());
        let links = Links::from([
            (".helmignore".to_string(), helmignore),
            ("vscode".to_string(), None),
            ("templates/out.yaml".to_string(), out_yaml),
        ]);
        symlink("/etc", chart.join("vscode")).unwrap();
        let mut without = links.clone();
        without.remove("vscode");
        let out = links_out(&chart, &without).unwrap();
        let vscode = out.iter().find(|f| f.path == "vscode").unwrap();
        assert!(vscode.file && !vscode.dir);
        // Which the host then says leads to a directory: passed over.
        assert!(links_out(&chart, &links).unwrap().iter().all(|f| f.path != "vscode"));
        assert!(files(&chart, &Limits::default(), &links).is_ok());
    }
}
