//! Reading chart archives: validating a `.tgz` before it is pushed, and unpacking a pulled one
//! without letting any entry land outside its directory.

use super::metadata::Metadata;
use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Chart.yaml is small; a larger one is a sign of a hostile or broken archive.
const CHART_YAML_MAX: u64 = 1 << 20;

/// Reads an archive to its end (so truncation and CRC errors surface) and returns its validated Chart.yaml.
pub fn inspect(reader: impl Read, origin: &str) -> Result<Metadata> {
    let mut chart_yaml: Option<Vec<u8>> = None;
    walk(reader, origin, |parts, entry| {
        if parts.len() == 2 && parts[1] == "Chart.yaml" {
            let mut yaml = Vec::new();
            entry.take(CHART_YAML_MAX).read_to_end(&mut yaml)?;
            chart_yaml = Some(yaml);
        }
        Ok(())
    })?;
    let yaml = chart_yaml.ok_or_else(|| corrupt(origin, "Chart.yaml file is missing"))?;
    Metadata::from_yaml(&yaml, &format!("{origin}: Chart.yaml"))
}

/// Unpacks an archive into `dest` (an empty directory) and returns the chart's top-level directory.
pub fn unpack(reader: impl Read, dest: &Path, origin: &str) -> Result<PathBuf> {
    let root = walk(reader, origin, |parts, entry| {
        let target: PathBuf = parts.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)?;
                }
                io::copy(entry, &mut File::create(&target)?).map(drop)
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => Ok(()),
            other => Err(io::Error::other(format!("{} is a {other:?}, which charts may not contain", parts.join("/")))),
        }
    })?;
    Ok(dest.join(root))
}

fn corrupt(origin: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid_chart(format!("{origin} is not a valid chart archive"), why.to_string())
}

/// Visits every entry of a gzipped tar whose paths stay under one top-level directory,
/// then drains the gzip trailer; returns that directory's name.
fn walk<R: Read>(
    reader: R,
    origin: &str,
    mut visit: impl FnMut(&[String], &mut tar::Entry<GzDecoder<R>>) -> io::Result<()>,
) -> Result<String> {
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let mut root: Option<String> = None;
    for entry in archive.entries().map_err(|e| corrupt(origin, e))? {
        let mut entry = entry.map_err(|e| corrupt(origin, e))?;
        let path = entry.path().map_err(|e| corrupt(origin, e))?.into_owned();
        let parts =
            safe_parts(&path).ok_or_else(|| corrupt(origin, format!("entry {path:?} escapes the chart directory")))?;
        let Some(first) = parts.first() else { continue };
        match &root {
            None => root = Some(first.clone()),
            Some(r) if r != first => return Err(corrupt(origin, format!("entries under both {r}/ and {first}/"))),
            Some(_) => {}
        }
        visit(&parts, &mut entry).map_err(|e| corrupt(origin, e))?;
        io::copy(&mut entry, &mut io::sink()).map_err(|e| corrupt(origin, e))?;
    }
    // tar stops at its end marker; read on so gzip checks its trailer (CRC and length).
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| corrupt(origin, e))?;
    root.ok_or_else(|| corrupt(origin, "it is empty"))
}

/// The entry's path as plain components, or None if it is absolute or climbs with `..`.
fn safe_parts(path: &Path) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Write the name raw so hostile paths can be built.
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: app\nversion: 0.1.0\n";

    #[test]
    fn inspects_a_valid_archive() {
        let meta = inspect(&tgz(&[("app/Chart.yaml", CHART), ("app/values.yaml", b"a: 1")])[..], "x.tgz").unwrap();
        assert_eq!((meta.name.as_str(), meta.version.as_str()), ("app", "0.1.0"));
    }

    #[test]
    fn rejects_broken_archives() {
        let good = tgz(&[("app/Chart.yaml", CHART), ("app/values.yaml", &[7u8; 4096])]);
        for bad in [b"not gzip at all".to_vec(), good[..good.len() - 10].to_vec()] {
            let e = inspect(&bad[..], "x.tgz").unwrap_err();
            assert!(e.kind == crate::error::Kind::InvalidChart && e.to_string().contains("not a valid chart archive"));
        }
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 6] ^= 0xff; // inside the gzip CRC
        assert!(inspect(&flipped[..], "x.tgz").is_err());
        assert!(inspect(&tgz(&[("app/values.yaml", b"")])[..], "x.tgz").is_err());
        assert!(inspect(&tgz(&[("app/Chart.yaml", CHART), ("../evil", b"")])[..], "x.tgz").is_err());
        assert!(inspect(&tgz(&[("app/Chart.yaml", CHART), ("other/x", b"")])[..], "x.tgz").is_err());
    }

    #[test]
    fn paths_must_stay_inside() {
        assert!(safe_parts(Path::new("a/b")).is_some());
        assert!(safe_parts(Path::new("/etc/passwd")).is_none());
        assert!(safe_parts(Path::new("a/../../b")).is_none());
    }
}
