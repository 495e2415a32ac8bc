//! A chart directory's symlinks that lead out of it. Helm's loader follows every symlink
//! wherever it leads (a monorepo's `charts/common -> ../../common`, say); the component
//! reaches only what it is granted. So the component names the links it meets that lead
//! out (as Helm's walk meets them: past what .helmignore names), and the host resolves
//! those alone, grants each linked directory read-only, and asks again, as a linked
//! directory may hold more links. A linked file is handed over as a copy, not with its
//! directory.

use super::temp::TempDir;
use crate::component::exports::helm_oci::plugin::types::{ChartLimits, ChartLink, LinkOut};
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

/// Linked directories within linked directories (each costs a round of asking) deeper than
/// this are refused.
const MAX_ROUNDS: usize = 8;

/// Where the chart given as `chart` is read from: an archive that is itself a symlink,
/// where it leads (the component follows no link out of what it is granted), with its
/// `.prov` looked for beside it there, where Helm looks beside the link; anything else as
/// given (a directory's own links are resolved by `chart_session`).
pub fn chart_path(chart: &Path, meta: &fs::Metadata) -> Result<PathBuf> {
    let link = fs::symlink_metadata(chart).is_ok_and(|m| m.file_type().is_symlink());
    if meta.is_dir() || !link {
        return Ok(chart.to_path_buf());
    }
    fs::canonicalize(chart).with_context(|| format!("resolving {}", chart.display()))
}

/// A session for a command that loads the chart at `chart` (a directory, or an archive),
/// with `grants` and, read-only, the directory, or the archive's (where Helm also looks for
/// its .prov). For a directory, its links out are resolved and granted (see the module's
/// comment); they are returned for the command's options, with the directory of copies of
/// linked files (made only for a first one), to keep until the command ends.
pub async fn chart_session(
    chart: &Path,
    meta: &fs::Metadata,
    mut grants: Grants,
    limits: &ChartLimits,
) -> Result<(Session, Vec<ChartLink>, Option<TempDir>)> {
    if !meta.is_dir() {
        let dir = chart.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        grants.dirs.push((dir, FsPerms::ReadOnly));
        return Ok((Session::start(grants).await?, Vec::new(), None));
    }
    grants.dirs.push((chart.to_path_buf(), FsPerms::ReadOnly));
    let (session, mut linked, _) = linked_session(&[chart.to_path_buf()], grants, &[], limits).await?;
    let Linked { links, copies } = linked.pop().expect("one directory asked of");
    Ok((session, links, copies))
}

/// One chart directory's links out, resolved, and the directory of copies of its linked
/// files (made only for a first one), to keep until the command ends.
pub struct Linked {
    pub links: Vec<ChartLink>,
    pub copies: Option<TempDir>,
}

/// A session with `grants` and, read-only, where the links out of each chart directory of
/// `dirs` lead (see the module's comment), with each directory's links, in the order of
/// `dirs`, and all it was granted. Only links in directories granted read-only are followed
/// (never one the component could have made), and none into or over a directory granted
/// writable or named in `writable`, which the command writes later.
pub async fn linked_session(
    dirs: &[PathBuf],
    mut grants: Grants,
    writable: &[PathBuf],
    limits: &ChartLimits,
) -> Result<(Session, Vec<Linked>, Grants)> {
    let resolved = || Resolved { copies: None, limits, writable, copied: HashMap::new(), bytes: 0, links: Vec::new() };
    let mut resolved: Vec<Resolved> = dirs.iter().map(|_| resolved()).collect();
    let mut session = Session::start(grants.clone()).await?;
    for round in 1.. {
        let mut grew = None;
        for (dir, resolved) in dirs.iter().zip(&mut resolved) {
            let found = session.chart_links(&super::utf8(dir)?, &resolved.links).await?;
            let before = resolved.links.len();
            for out in found {
                if let Some(target) = resolved.add(out, &grants)?
                    && !grants.dirs.iter().any(|(granted, _)| *granted == target)
                {
                    grants.dirs.push((target, FsPerms::ReadOnly));
                }
            }
            if resolved.links.len() > before {
                grew = grew.or(Some(dir));
            }
        }
        let Some(dir) = grew else { break };
        if round > MAX_ROUNDS {
            bail!("{}: its symlinks lead through more than {MAX_ROUNDS} linked directories in turn", dir.display());
        }
        session = Session::start(grants.clone()).await?;
    }
    let linked = resolved.into_iter().map(|r| Linked { links: r.links, copies: r.copies }).collect();
    Ok((session, linked, grants))
}

/// The links resolved so far, and the copies made of linked files.
struct Resolved<'a> {
    copies: Option<TempDir>,
    limits: &'a ChartLimits,
    /// Directories the command writes later, granted no more than those granted writable.
    writable: &'a [PathBuf],
    /// Each linked file is copied once, however many links lead to it.
    copied: HashMap<PathBuf, String>,
    /// All copies together are cut one byte past the chart's size limit.
    bytes: u64,
    links: Vec<ChartLink>,
}

impl Resolved<'_> {
    /// Resolves a link the component named, and returns the directory to grant for it. A
    /// link is taken only if it is one, in a directory granted read-only (never one the
    /// component could have made); and only where it leads to what the chart takes there
    /// (.helmignore may pass over files or directories alone). One into a directory already
    /// granted needs no grant (a `file://` chart's template linked from the chart being
    /// updated); otherwise nowhere into or over a directory the command may write is
    /// granted. One that leads nowhere, loops, or to something else (a device) is left for
    /// the component to refuse.
    fn add(&mut self, out: LinkOut, grants: &Grants) -> Result<Option<PathBuf>> {
        let link = Path::new(&out.link);
        let is_link = fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink());
        let read_only = |dir: &Path| {
            grants.dirs.iter().any(|(granted, perms)| *perms == FsPerms::ReadOnly && dir.starts_with(granted))
        };
        if !is_link || !link.parent().is_some_and(read_only) {
            return Ok(None);
        }
        let Ok(target) = fs::canonicalize(link) else { return Ok(None) };
        let Ok(meta) = fs::metadata(&target) else { return Ok(None) };
        let taken = (meta.is_dir() && out.dir) || (meta.is_file() && out.file);
        if taken && let Some(reached) = reachable(&target, grants).as_deref().and_then(Path::to_str) {
            self.links.push(ChartLink { path: out.path, target: Some(reached.to_string()) });
            return Ok(None);
        }
        // Compared where each really is, as the target is.
        let writable = grants.dirs.iter().filter(|(_, perms)| *perms == FsPerms::ReadWrite).map(|(dir, _)| dir);
        let writable = writable.chain(self.writable).map(|dir| fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
        if writable.into_iter().any(|dir| target.starts_with(&dir) || dir.starts_with(&target)) {
            return Ok(None);
        }
        let (resolved, dir) = match () {
            () if meta.is_dir() && out.dir => match target.to_str() {
                Some(resolved) => (resolved.to_string(), target.clone()),
                None => return Ok(None),
            },
            () if meta.is_file() && out.file => self.copy(&target, &meta)?,
            // What the chart passes over: said so, and not granted.
            () if meta.is_dir() || meta.is_file() => {
                self.links.push(ChartLink { path: out.path, target: None });
                return Ok(None);
            }
            () => return Ok(None),
        };
        self.links.push(ChartLink { path: out.path, target: Some(resolved) });
        Ok(Some(dir))
    }

    /// A copy of the file at `target`, with its time, cut one byte past the file-size limit
    /// (and past what is left of the chart's) so that the component refuses it as too large,
    /// as it would the file; and the directory of copies, to grant.
    fn copy(&mut self, target: &Path, meta: &fs::Metadata) -> Result<(String, PathBuf)> {
        let copies = match &mut self.copies {
            Some(copies) => copies,
            none => none.insert(TempDir::create()?),
        };
        let dir = copies.path().to_path_buf();
        if let Some(copy) = self.copied.get(target) {
            return Ok((copy.clone(), dir));
        }
        let copy = dir.join(self.copied.len().to_string());
        let room = self.limits.file_size.min(self.limits.chart_size.saturating_sub(self.bytes)).saturating_add(1);
        let from = fs::File::open(target).with_context(|| format!("reading {}", target.display()))?;
        let mut to = fs::File::create(&copy).with_context(|| format!("writing {}", copy.display()))?;
        self.bytes +=
            io::copy(&mut from.take(room), &mut to).with_context(|| format!("copying {}", target.display()))?;
        if let Ok(modified) = meta.modified() {
            to.set_modified(modified)?;
        }
        let copy = copy.display().to_string();
        self.copied.insert(target.to_path_buf(), copy.clone());
        Ok((copy, dir))
    }
}

/// `path` (a real one) as the component reaches it, if a granted directory holds it: by that
/// directory's path as granted, which may run through a symlink.
fn reachable(path: &Path, grants: &Grants) -> Option<PathBuf> {
    grants.dirs.iter().find_map(|(dir, _)| {
        let real = fs::canonicalize(dir).ok()?;
        let rest = path.strip_prefix(&real).ok()?;
        Some(if rest.as_os_str().is_empty() { dir.clone() } else { dir.join(rest) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_what_the_chart_takes_is_granted_and_linked_files_are_copied_once_and_cut() {
        let tmp = TempDir::create().unwrap();
        let (chart, dir, file) = (tmp.path().join("chart"), tmp.path().join("common"), tmp.path().join("big.txt"));
        fs::create_dir(&chart).unwrap();
        fs::create_dir(&dir).unwrap();
        fs::write(&file, "0123456789").unwrap();
        for (name, target) in [("to-dir", &dir), ("to-file", &file), ("again", &file)] {
            symlink(target, chart.join(name)).unwrap();
        }
        symlink("missing", chart.join("dangling")).unwrap();
        let grants = Grants { dirs: vec![(chart.clone(), FsPerms::ReadOnly)], ..Grants::default() };
        let limits = ChartLimits { chart_size: 100, file_size: 4 };
        let mut resolved =
            Resolved { copies: None, limits: &limits, writable: &[], copied: HashMap::new(), bytes: 0, links: vec![] };
        let out = |name: &str, file, dir| LinkOut {
            path: name.into(),
            link: chart.join(name).display().to_string(),
            file,
            dir,
        };

        let dir = fs::canonicalize(&dir).unwrap();
        assert_eq!(resolved.add(out("to-dir", true, true), &grants).unwrap(), Some(dir.clone()));
        assert_eq!(resolved.add(out("to-dir", true, false), &grants).unwrap(), None, "passed over as a directory");
        assert!(resolved.copies.is_none(), "made only for a linked file");
        let copies = resolved.add(out("to-file", true, true), &grants).unwrap();
        assert_eq!(copies.as_deref(), resolved.copies.as_ref().map(TempDir::path));
        resolved.add(out("again", true, true), &grants).unwrap();
        let [_, passed_over, to_file, again] = &resolved.links[..] else { panic!("{}", resolved.links.len()) };
        assert_eq!(passed_over.target, None, "said to lead to what the chart passes over");
        assert_eq!(to_file.target, again.target, "one copy");
        let copy = Path::new(to_file.target.as_deref().unwrap());
        assert_eq!(fs::read(copy).unwrap(), b"01234", "cut one byte past the limit");
        let modified = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
        assert_eq!(modified(copy), modified(&file));

        assert_eq!(resolved.add(out("dangling", true, true), &grants).unwrap(), None);
        let elsewhere = LinkOut { link: tmp.path().join("big.txt").display().to_string(), ..out("x", true, true) };
        assert_eq!(resolved.add(elsewhere, &grants).unwrap(), None, "not a link, nor in a granted directory");
        let writable =
            Grants { dirs: vec![(chart.clone(), FsPerms::ReadOnly), (dir.clone(), FsPerms::ReadWrite)], ..grants };
        let before = resolved.links.len();
        assert_eq!(resolved.add(out("to-dir", true, true), &writable).unwrap(), None, "granted already");
        assert_eq!(resolved.links[before].target.as_deref(), dir.to_str(), "reached where it is granted");
        let parent = Grants {
            dirs: vec![(chart.clone(), FsPerms::ReadOnly), (tmp.path().join("x"), FsPerms::ReadWrite)],
            ..writable
        };
        symlink("..", chart.join("up")).unwrap();
        assert_eq!(resolved.add(out("up", true, true), &parent).unwrap(), None, "over a writable directory");
        let made = Grants { dirs: vec![(chart.clone(), FsPerms::ReadWrite)], ..parent };
        let before = resolved.links.len();
        assert_eq!(resolved.add(out("to-dir", true, true), &made).unwrap(), None, "in a writable directory");
        assert_eq!(resolved.links.len(), before, "not followed");
    }
}
