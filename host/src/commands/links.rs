//! A chart directory's symlinks, resolved. Helm's loader follows every symlink wherever it
//! leads (a monorepo's `charts/common -> ../../common`, say); the component reaches only
//! what it is granted, and by itself follows only links that stay inside the chart, step
//! by step. So the host resolves every link, grants the targets out of the chart
//! read-only, and names each to the component by the path Helm gives what it finds there.

use crate::component::exports::helm_oci::plugin::types::ChartLink;
use std::fs;
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

/// As the component's walk: symlinked directories nested deeper than this loop...
const MAX_LINKS: usize = 16;
/// ... and real ones this deep are beyond any chart.
const MAX_DEPTH: usize = 256;
/// Entries looked at, at most: a link to `/` (or one .helmignore passes over, which only
/// the component reads) is not walked whole here; the component's walk then meets a chart
/// too large, or a link it was not told of.
const MAX_ENTRIES: usize = 10_000;

/// What a command that loads the chart at `chart` (a directory, or an archive) reads, all
/// read-only: the directory, or the archive's (where Helm also looks for its .prov); and
/// for a directory, where its links lead.
pub fn to_read(chart: &Path, meta: &fs::Metadata) -> (Vec<(PathBuf, FsPerms)>, Vec<ChartLink>) {
    if !meta.is_dir() {
        let dir = chart.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        return (vec![(dir, FsPerms::ReadOnly)], Vec::new());
    }
    let resolved = resolve(chart);
    let dirs = std::iter::once(chart.to_path_buf()).chain(resolved.dirs).map(|dir| (dir, FsPerms::ReadOnly));
    (dirs.collect(), resolved.links)
}

/// A chart's links, and the directories their targets need granted.
#[derive(Default)]
pub struct Resolved {
    pub links: Vec<ChartLink>,
    pub dirs: Vec<PathBuf>,
}

/// The links in the chart directory `chart` and beyond it, wherever they lead. A link that
/// leads nowhere or loops is left out: the component names it for what it is. The targets
/// are resolved paths, so the chart's own resolved path is granted too.
pub fn resolve(chart: &Path) -> Resolved {
    let Ok(root) = fs::canonicalize(chart) else { return Resolved::default() };
    let mut walk = Walk { root: root.clone(), found: Resolved::default(), entries: 0 };
    walk.dir(&root, "", 0, 0);
    let mut found = walk.found;
    if !found.links.is_empty() {
        found.dirs.push(root);
    }
    found.links.sort_by(|a, b| a.path.cmp(&b.path));
    found.dirs.sort();
    found.dirs.dedup();
    found
}

struct Walk {
    root: PathBuf,
    found: Resolved,
    entries: usize,
}

impl Walk {
    /// Walks `dir` (resolved), naming what it holds under `logical`.
    fn dir(&mut self, dir: &Path, logical: &str, depth: usize, links: usize) {
        if depth > MAX_DEPTH || links > MAX_LINKS {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            self.entries += 1;
            if self.entries > MAX_ENTRIES {
                return;
            }
            let (Ok(name), Ok(kind)) = (entry.file_name().into_string(), entry.file_type()) else { continue };
            let logical = if logical.is_empty() { name } else { format!("{logical}/{name}") };
            if kind.is_dir() {
                self.dir(&entry.path(), &logical, depth + 1, links);
                continue;
            }
            if !kind.is_symlink() {
                continue;
            }
            let Ok(target) = fs::canonicalize(entry.path()) else { continue };
            let Some(text) = target.to_str() else { continue };
            self.found.links.push(ChartLink { path: logical.clone(), target: text.to_string() });
            let is_dir = target.is_dir();
            if !target.starts_with(&self.root) {
                // Directories alone can be granted: a file's comes with its siblings, read-only.
                let dir = if is_dir { Some(target.as_path()) } else { target.parent() };
                self.found.dirs.extend(dir.map(Path::to_path_buf));
            }
            if is_dir {
                self.dir(&target, &logical, depth + 1, links + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_are_resolved_by_the_path_helm_names_them() {
        let tmp = std::env::temp_dir().join(format!("helm-oci-links-{}", std::process::id()));
        let (chart, common, shared) = (tmp.join("mono/app"), tmp.join("mono/common"), tmp.join("shared"));
        for dir in [chart.join("charts"), chart.join("templates"), common.join("templates"), shared.clone()] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(shared.join("labels.tpl"), "x").unwrap();
        fs::write(chart.join("values.yaml"), "x").unwrap();
        symlink("../../common", chart.join("charts/common")).unwrap();
        symlink("../../../shared/labels.tpl", common.join("templates/labels.tpl")).unwrap();
        symlink("../../app/values.yaml", chart.join("templates/values.yaml")).unwrap();
        symlink("missing", chart.join("templates/dangling.yaml")).unwrap();

        let found = resolve(&chart);
        let [chart, common, shared] = [chart, common, shared].map(|dir| fs::canonicalize(dir).unwrap());
        let links: Vec<_> = found.links.iter().map(|l| (l.path.as_str(), PathBuf::from(&l.target))).collect();
        assert_eq!(
            links,
            [
                ("charts/common", common.clone()),
                ("charts/common/templates/labels.tpl", shared.join("labels.tpl")),
                ("templates/values.yaml", chart.join("values.yaml")),
            ],
            "a link to nothing is the component's to name"
        );
        let mut granted = vec![chart, common, shared];
        granted.sort();
        assert_eq!(found.dirs, granted, "targets out of the chart are granted, and the chart as resolved");
        fs::remove_dir_all(&tmp).unwrap();
    }
}
