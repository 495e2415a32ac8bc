//! A chart directory's symlinks that lead out of it. Helm's loader follows every symlink
//! wherever it leads (a monorepo's `charts/common -> ../../common`, say); the component
//! reaches only what it is granted. So the component names the links it meets that lead
//! out (as Helm's walk meets them: past what .helmignore names), and the host resolves
//! those alone, grants each target read-only, and asks again, as a linked directory may
//! hold more links. A linked file is handed over as a copy, not with its directory.

use super::temp::TempDir;
use crate::component::exports::helm_oci::plugin::types::ChartLink;
use crate::sandbox::{Grants, Session};
use anyhow::{Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use wasmtime_wasi::FsPerms;

/// Rounds of asking: links in linked directories nested deeper than this are not resolved
/// (and the component refuses them).
const MAX_ROUNDS: usize = 8;

/// What a command that loads the chart at `chart` (a directory, or an archive) reads, all
/// read-only besides what `grants` already holds: the directory, or the archive's (where
/// Helm also looks for its .prov). A directory's links out of it are resolved and granted
/// (see the module's comment), with copies of linked files in `copies`; the session that
/// has all of it granted is returned, with the links for the command's options.
pub async fn start(
    chart: &Path,
    meta: &fs::Metadata,
    mut grants: Grants,
    copies: &TempDir,
    file_size: u64,
) -> Result<(Session, Vec<ChartLink>)> {
    if !meta.is_dir() {
        let dir = chart.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
        grants.dirs.push((dir, FsPerms::ReadOnly));
        return Ok((Session::start(grants).await?, Vec::new()));
    }
    grants.dirs.push((chart.to_path_buf(), FsPerms::ReadOnly));
    let name = super::utf8(chart)?;
    let mut links = Vec::new();
    let mut session = Session::start(grants.clone()).await?;
    for _ in 0..MAX_ROUNDS {
        let found = session.chart_links(&name, &links).await?;
        let before = links.len();
        for out in found {
            let Some((target, dir)) = resolve(Path::new(&out.link), copies, file_size, links.len())? else { continue };
            links.push(ChartLink { path: out.path, target });
            if !grants.dirs.iter().any(|(granted, _)| *granted == dir) {
                grants.dirs.push((dir, FsPerms::ReadOnly));
            }
        }
        if links.len() == before {
            break;
        }
        session = Session::start(grants.clone()).await?;
    }
    Ok((session, links))
}

/// Where the link at `link` leads, and the directory to grant for it: a directory's own
/// path; for a file, a copy in `copies` (named by `n`), with its time, and cut one byte past
/// `file_size` so that the component refuses it as too large, as it would the file. `None`
/// for a link that leads nowhere, loops, or to something else (a device): the component
/// refuses it.
fn resolve(link: &Path, copies: &TempDir, file_size: u64, n: usize) -> Result<Option<(String, PathBuf)>> {
    let Ok(target) = fs::canonicalize(link) else { return Ok(None) };
    let Ok(meta) = fs::metadata(&target) else { return Ok(None) };
    if meta.is_dir() {
        return Ok(target.to_str().map(|text| (text.to_string(), target.clone())));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let copy = copies.path().join(n.to_string());
    let from = fs::File::open(&target).with_context(|| format!("reading {}", target.display()))?;
    let mut to =
        fs::File::create(&copy).with_context(|| format!("copying {} into {}", target.display(), copy.display()))?;
    let mut bytes = Vec::new();
    from.take(file_size.saturating_add(1)).read_to_end(&mut bytes)?;
    to.write_all(&bytes)?;
    if let Ok(modified) = meta.modified() {
        to.set_modified(modified)?;
    }
    Ok(copy.to_str().map(|text| (text.to_string(), copies.path().to_path_buf())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_linked_directory_is_granted_and_a_linked_file_is_copied_cut_past_the_limit() {
        let copies = TempDir::create().unwrap();
        let tmp = TempDir::create().unwrap();
        let (dir, file) = (tmp.path().join("common"), tmp.path().join("big.txt"));
        fs::create_dir(&dir).unwrap();
        fs::write(&file, "0123456789").unwrap();
        for (name, target) in [("to-dir", &dir), ("to-file", &file)] {
            symlink(target, tmp.path().join(name)).unwrap();
        }
        symlink("missing", tmp.path().join("dangling")).unwrap();

        let dir = fs::canonicalize(&dir).unwrap();
        let granted = resolve(&tmp.path().join("to-dir"), &copies, 4, 0).unwrap().unwrap();
        assert_eq!(granted, (dir.display().to_string(), dir.clone()), "a directory is granted itself");

        let (copy, granted) = resolve(&tmp.path().join("to-file"), &copies, 4, 1).unwrap().unwrap();
        assert_eq!(granted, copies.path(), "a file's directory is never granted");
        assert_eq!(fs::read(&copy).unwrap(), b"01234", "cut one byte past the limit");
        let modified = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();
        assert_eq!(modified(Path::new(&copy)), modified(&file));

        assert!(resolve(&tmp.path().join("dangling"), &copies, 4, 2).unwrap().is_none());
    }
}
